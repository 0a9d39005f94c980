//! The generator site as a Vercel function (Vercel's Rust runtime, `vercel_runtime` with its
//! axum adapter). Vercel serves the static files (`generator-site/public`, WASM included)
//! itself, and `vercel.json` rewrites every other path here. Vercel builds it exactly as
//! `cargo build --release --bin generator` from the repository root: the `generator` binary
//! of the small package `api/Cargo.toml`, whose default features are the ones it needs.

use attio_auth_generator::server::{AppState, page_router};
use tower::ServiceBuilder;
use vercel_runtime::axum::VercelLayer;

#[tokio::main]
async fn main() -> Result<(), vercel_runtime::Error> {
    // The build command (`cargo run -p xtask -- site`) put the WASM in the static output.
    let app = page_router(AppState::with_scripts(true));
    let service = ServiceBuilder::new().layer(VercelLayer::new()).service(app);
    vercel_runtime::run(service).await
}
