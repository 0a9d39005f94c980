//! The generator site as a Vercel function (Vercel's Rust runtime, `vercel_runtime` with its
//! axum adapter). Vercel serves the static files (`generator-site/public`, WASM included)
//! itself, and `vercel.json` rewrites every other path here. Built by Vercel from the
//! `generator` binary of `attio-auth-generator` (feature `vercel`); locally:
//! `cargo build -p attio-auth-generator --features vercel --bin generator`.

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
