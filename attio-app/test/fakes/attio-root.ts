/** Test stand-in for the `attio` root module (types only in the package). */
export const Settings = {
    defineWorkspaceSchema<T>(fields: T): {scope: "workspace"; fields: T} {
        return {scope: "workspace", fields}
    },
    Schema: {
        string: () => ({type: "string"}),
        number: () => ({type: "number"}),
        boolean: () => ({type: "boolean"}),
    },
}
