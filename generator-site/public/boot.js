// Loads the page's WASM and hydrates its islands (adapted from Leptos 0.8's island loader,
// leptos/src/hydration/island_script.js, MIT). An external file, so that the
// Content-Security-Policy needs no inline script.
import init, * as mod from "/pkg/attio_auth_generator.js";

document.documentElement.classList.remove("no-js");

let childrenCallbacks = [];

async function hydrateIsland(el, id) {
	const islandFn = mod[id];
	if (!islandFn) {
		console.warn(`Could not find WASM function for the island ${id}.`);
		return;
	}
	const childrenCallback = childrenCallbacks[childrenCallbacks.length - 1];
	if (childrenCallback) {
		childrenCallback();
	}
	const res = islandFn(el);
	if (res && res.then) {
		await res;
	}
}

async function traverse(node) {
	if (node.nodeType !== Node.ELEMENT_NODE) {
		return;
	}
	const tag = node.tagName.toLowerCase();
	if (tag === "leptos-island") {
		await hydrateIsland(node, node.dataset.component || null);
		for (const child of node.children) {
			await traverse(child);
		}
	} else if (tag === "leptos-children") {
		childrenCallbacks.push(node.$$on_hydrate);
		for (const child of node.children) {
			await traverse(child);
		}
		childrenCallbacks.pop();
	} else {
		for (const child of node.children) {
			await traverse(child);
		}
	}
}

await init({ module_or_path: "/pkg/attio_auth_generator_bg.wasm" });
mod.hydrate();
await traverse(document.body);
document.documentElement.dataset.hydrated = "true";
