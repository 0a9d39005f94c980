//! The comparison benchmark: the original plugin (better-auth-attio-plugin 0.3.4 on Better
//! Auth, Node, SQLite) against ours (the `rust-peer` binary: the plugin in a bare axum
//! server, release build, SQLite), in one run on one machine, over the same seeded
//! database (the original's, copied). For `sessions`, `user-details`, `search-users` and
//! `revoke-session` at 1 and 32 concurrent clients: requests per second and p50/p99
//! latency; then each server's peak RSS (`VmHWM`). Prints a Markdown table with ratios.
//!
//! Run: `cd tests/compat && npm ci` once, then `cargo bench -p attio-auth-tests --bench
//! compare`. Loopback only; every run is bounded in requests and time
//! (`COMPARE_REQUESTS_1`, `COMPARE_REQUESTS_32`, `COMPARE_MAX_SECS` override the defaults).

use anyhow::{Context, bail};
use attio_auth_tests::load::{self, Stats};
use attio_auth_tests::node_peer::NodePeer;
use attio_auth_tests::{BASE_PATH, LEGACY_SECRET, peak_rss_kib, seed};
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const USERS: u32 = 200;
const SESSIONS_PER_USER: u32 = 25;
const WARMUP: usize = 100;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Starts the `rust-peer` binary (built by cargo with this bench's profile) on `db`.
async fn start_rust_peer(db: &std::path::Path) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rust-peer"))
        .env("DATABASE_PATH", db)
        .env("PORT", "0")
        .env("ATTIO_SECRET", LEGACY_SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting rust-peer")?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("rust-peer listening on ") {
                return Ok::<_, std::io::Error>(Some(url.trim().to_owned()));
            }
        }
        Ok(None)
    })
    .await;
    let Ok(Ok(Some(url))) = url else {
        bail!("rust-peer did not start");
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

fn user(i: usize) -> String {
    format!("benchuser{:05}", i % USERS as usize + 1)
}

/// The body of request `i` of an endpoint's run; `offset` keeps revoked tokens distinct
/// between runs.
fn body(endpoint: &'static str, offset: usize) -> impl Fn(usize) -> String + Send + Sync + 'static {
    move |i| {
        let i = i + offset;
        match endpoint {
            "sessions" | "user-details" => {
                json!({"secret": LEGACY_SECRET, "userId": user(i)}).to_string()
            }
            "search-users" => {
                json!({"secret": LEGACY_SECRET, "search": format!("bench{}", i % 20 + 1)})
                    .to_string()
            }
            _ => {
                let u = i % USERS as usize + 1;
                let s = i / USERS as usize % SESSIONS_PER_USER as usize + 1;
                json!({"secret": LEGACY_SECRET, "sessionToken": format!("benchtoken{u:05}x{s:03}")})
                    .to_string()
            }
        }
    }
}

struct Row {
    endpoint: &'static str,
    clients: usize,
    node: Stats,
    rust: Stats,
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.1}x", a / b)
    } else {
        "-".to_owned()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let requests_1 = env_usize("COMPARE_REQUESTS_1", 1000);
    let requests_32 = env_usize("COMPARE_REQUESTS_32", 5000);
    let max_time = Duration::from_secs(env_usize("COMPARE_MAX_SECS", 20) as u64);
    let dir = tempfile::tempdir()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;

    eprintln!("starting the original plugin and seeding it ...");
    let node = NodePeer::start(&dir.path().join("node.db"), LEGACY_SECRET).await?;
    seed::seed(&http, &node).await?;
    seed::add_users(&http, &node, USERS, SESSIONS_PER_USER).await?;
    let copy = dir.path().join("rust.db");
    seed::snapshot(&http, &node, &copy).await?;
    let (mut rust, rust_url) = start_rust_peer(&copy).await?;
    let node_pid = node.pid().context("node pid")?;
    let rust_pid = rust.id().context("rust pid")?;
    eprintln!(
        "original on {} (pid {node_pid}), ours on {rust_url} (pid {rust_pid})",
        node.url
    );

    let mut rows = Vec::new();
    let mut offset = 0;
    for endpoint in ["sessions", "user-details", "search-users", "revoke-session"] {
        for (clients, total) in [(1, requests_1), (32, requests_32)] {
            let mut pair = Vec::new();
            for url in [&node.url, &rust_url] {
                let target = format!("{url}{BASE_PATH}/attio/{endpoint}");
                // Warm-up (JIT, connection pools, SQLite caches), then the measured run.
                load::run(
                    &http,
                    &target,
                    clients,
                    WARMUP,
                    max_time,
                    200,
                    body(endpoint, offset),
                )
                .await;
                let stats = load::run(
                    &http,
                    &target,
                    clients,
                    total,
                    max_time,
                    200,
                    body(endpoint, offset + WARMUP),
                )
                .await;
                eprintln!(
                    "{endpoint:>15} x{clients:<2} {url}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                    stats.rps(),
                    stats.quantile_ms(0.5),
                    stats.quantile_ms(0.99),
                    stats.errors
                );
                pair.push(stats);
            }
            offset += WARMUP + total;
            let rust_stats = pair.pop().context("rust stats")?;
            let node_stats = pair.pop().context("node stats")?;
            rows.push(Row {
                endpoint,
                clients,
                node: node_stats,
                rust: rust_stats,
            });
        }
    }
    let node_rss = peak_rss_kib(node_pid).context("node VmHWM")?;
    let rust_rss = peak_rss_kib(rust_pid).context("rust VmHWM")?;

    println!(
        "| endpoint | clients | original req/s | ours req/s | throughput | original p50 ms | ours p50 ms | original p99 ms | ours p99 ms | p99 ours/original | errors (orig/ours) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.2} | 1/{:.1} | {}/{} |",
            r.endpoint,
            r.clients,
            r.node.rps(),
            r.rust.rps(),
            ratio(r.rust.rps(), r.node.rps()),
            r.node.quantile_ms(0.5),
            r.rust.quantile_ms(0.5),
            r.node.quantile_ms(0.99),
            r.rust.quantile_ms(0.99),
            r.node.quantile_ms(0.99) / r.rust.quantile_ms(0.99).max(1e-9),
            r.node.errors,
            r.rust.errors,
        );
    }
    println!();
    println!(
        "Peak RSS (VmHWM): original {:.1} MiB, ours {:.1} MiB: ours is 1/{:.1}.",
        node_rss as f64 / 1024.0,
        rust_rss as f64 / 1024.0,
        node_rss as f64 / rust_rss.max(1) as f64
    );
    println!(
        "Requests per run: {requests_1} at 1 client, {requests_32} at 32 (after {WARMUP} warm-up), at most {} s; {USERS} users x {SESSIONS_PER_USER} sessions; loopback; load generator in the same machine.",
        max_time.as_secs()
    );
    let errors: usize = rows.iter().map(|r| r.node.errors + r.rust.errors).sum();
    rust.start_kill()?;
    rust.wait().await?;
    node.stop().await?;
    if errors > 0 {
        bail!("{errors} requests failed: the figures above are not comparable");
    }
    Ok(())
}
