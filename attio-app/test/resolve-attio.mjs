// Module resolve hook: `attio/client`, `attio/server` and `attio` ship only type definitions
// (Attio's runtime provides them), so tests point them at small fakes under test/fakes/.
const FAKES = {
    "attio/client": new URL("./fakes/attio-client.tsx", import.meta.url).href,
    "attio/server": new URL("./fakes/attio-server.ts", import.meta.url).href,
    attio: new URL("./fakes/attio-root.ts", import.meta.url).href,
}

export async function resolve(specifier, context, nextResolve) {
    if (Object.hasOwn(FAKES, specifier)) return nextResolve(FAKES[specifier], context)
    return nextResolve(specifier, context)
}
