//! `rust-peer`: our plugin (legacy body secret on) over a Better Auth SQLite file, as its
//! own process so that the comparison benchmark can read its peak RSS.
//!
//! Environment: `DATABASE_PATH` (required), `PORT` (default 0: any), `ATTIO_SECRET`
//! (default [`attio_auth_tests::LEGACY_SECRET`]). Prints `rust-peer listening on URL`.
//! Knobs to reproduce the benchmark's diagnosis (defaults: the plugin's recommended set-up):
//! `PEER_SYNCHRONOUS` (SQLite `synchronous`, default `normal`), `PEER_CONNECTIONS` (pool
//! size, default 8), `PEER_WRITE_GATE=0` (turn the store's write queue off),
//! `PEER_JOURNAL_MODE` (SQLite `journal_mode`, default `wal`), `PEER_RATE_LIMIT` (`off`,
//! as the benchmark runs it and the original harness runs Better Auth, or a max per
//! minute; default the plugin's 600).
//! `PEER_MODE=ceiling` serves the benchmark's ceiling instead of the plugin: bare axum
//! routes over the same pool and queries ([`attio_auth_tests::ceiling`]).
//! Prints `rust-peer pragmas journal_mode=... synchronous=...` as read back from the pool.

use anyhow::Context;
use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db_path = PathBuf::from(std::env::var("DATABASE_PATH").context("DATABASE_PATH")?);
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()
        .context("PORT")?
        .unwrap_or(0);
    let secret =
        std::env::var("ATTIO_SECRET").unwrap_or_else(|_| attio_auth_tests::LEGACY_SECRET.into());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    // The database is set up the same way in both modes (the plugin's migrations).
    let app = attio_auth_tests::rust_peer::app(&db_path, &secret, &url).await?;
    let pragmas = attio_auth_tests::rust_peer::pragmas(&app.pool).await?;
    let router = match std::env::var("PEER_MODE").as_deref() {
        Ok("ceiling") => {
            attio_auth_tests::ceiling::check_layout(&app.pool).await?;
            attio_auth_tests::ceiling::router(
                app.pool.clone(),
                &secret,
                attio_auth_tests::BASE_PATH,
            )
        }
        Ok("plugin") | Err(_) => app.router,
        Ok(other) => anyhow::bail!("PEER_MODE={other}: expected plugin or ceiling"),
    };
    // The benchmark's database has no links: nothing to deliver, so no delivery worker
    // (the configuration the README's table was measured with).
    println!("rust-peer pragmas {pragmas}");
    println!("rust-peer listening on {url}");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
