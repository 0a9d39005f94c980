//! The connection string generator: one Leptos page, rendered by an axum server (`ssr`
//! feature), with two islands (the generator form and the inspector) compiled to WASM
//! (`hydrate` feature, built by `cargo run -p xtask -- site`). The two features are never
//! built together.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod form;
pub mod lite;
pub mod model;
// The #[island] macro generates prop structs that cannot carry docs.
#[allow(missing_docs)]
pub mod page;
#[cfg(feature = "ssr")]
pub mod server;

/// Entry point called by `public/boot.js` once the WASM is loaded: starts the reactive
/// runtime; the loader then hydrates each `<leptos-island>` in place.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    leptos::mount::hydrate_islands();
}
