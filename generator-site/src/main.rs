//! Serves the generator site: `GENERATOR_ADDR` (default 127.0.0.1:3000),
//! `GENERATOR_SITE_ROOT` (default this crate's `public/`).

use attio_auth_generator::server::{self, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let state = server::AppState::new(&config.site_root);
    // Only the address and whether the WASM is there: requests are never logged.
    eprintln!(
        "attio-auth-generator listening on http://{} (WASM islands: {})",
        listener.local_addr()?,
        if state.scripts() {
            "on"
        } else {
            "missing: run `cargo run -p xtask -- site`"
        }
    );
    server::serve(listener, &config).await?;
    Ok(())
}
