//! Page weight and server speed: `cargo bench -p attio-auth-generator --bench page`
//! (after `cargo run -p xtask -- site`; fails without the WASM).
//!
//! Reports the gzip transfer size of everything a first visit loads (HTML, CSS, the loader,
//! the wasm-bindgen JS, the WASM, the icon), as served by the real server with
//! `Accept-Encoding: gzip`, against the 150 KB budget; then the median and p95 time to
//! answer `GET /` and the no-JS `POST /` over loopback.

use std::time::{Duration, Instant};

use attio_auth_generator::server::{AppState, Config, router};

const BUDGET_BYTES: u64 = 150 * 1024;
const ROUNDS: usize = 300;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let site_root = Config::default_site_root();
    let state = AppState::new(&site_root);
    anyhow::ensure!(
        state.scripts(),
        "no WASM under {}/pkg: run `cargo run -p xtask -- site` first",
        site_root.display()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = router(state, &site_root);
    tokio::spawn(async move { axum::serve(listener, app).await });
    // reqwest is built without its gzip feature: bodies arrive as sent, compressed.
    let client = reqwest::Client::new();

    println!("transfer size of a first visit (gzip as served):");
    let mut total = 0;
    for path in [
        "/",
        "/style.css",
        "/boot.js",
        "/pkg/attio_auth_generator.js",
        "/pkg/attio_auth_generator_bg.wasm",
        "/favicon.svg",
    ] {
        let res = client
            .get(format!("{base}{path}"))
            .header("accept-encoding", "gzip")
            .send()
            .await?;
        anyhow::ensure!(res.status() == 200, "{path}: {}", res.status());
        let encoding = res
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity")
            .to_owned();
        let len = res.bytes().await?.len() as u64;
        total += len;
        println!("  {path:<36} {:>8.1} KB  ({encoding})", len as f64 / 1024.0);
    }
    println!(
        "  {:<36} {:>8.1} KB  (budget {} KB: {})",
        "total",
        total as f64 / 1024.0,
        BUDGET_BYTES / 1024,
        if total <= BUDGET_BYTES { "ok" } else { "OVER" }
    );

    let get = time(ROUNDS, || client.get(format!("{base}/")).send()).await?;
    let post = time(ROUNDS, || {
        client
            .post(format!("{base}/"))
            .form(&[("uri", "https://app.example.com"), ("base", "/api/auth")])
            .send()
    })
    .await?;
    println!("server response time over loopback, {ROUNDS} sequential requests:");
    report("GET / (page)", &get);
    report("POST / (no-JS generate)", &post);
    anyhow::ensure!(
        total <= BUDGET_BYTES,
        "the page weighs more than the budget"
    );
    Ok(())
}

async fn time<F, Fut>(rounds: usize, mut request: F) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds + 20 {
        let start = Instant::now();
        let res = request().await?;
        let status = res.status();
        res.bytes().await?;
        anyhow::ensure!(status.is_success(), "status {status}");
        if i >= 20 {
            samples.push(start.elapsed());
        }
    }
    samples.sort();
    Ok(samples)
}

fn report(label: &str, samples: &[Duration]) {
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "  {label:<28} median {:>7.3} ms   p95 {:>7.3} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3
    );
}
