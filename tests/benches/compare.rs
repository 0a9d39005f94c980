//! The comparison benchmark: the original plugin (better-auth-attio-plugin 0.3.4 on Better
//! Auth, Node, SQLite) against ours (the `rust-peer` binary: the plugin in a bare axum
//! server, release build, SQLite), in one run on one machine, over the same seeded
//! database (the original's, copied). For `sessions`, `user-details`, `search-users` and
//! `revoke-session` at 1 and 32 concurrent clients: requests per second and p50/p99
//! latency; then each server's peak RSS (`VmHWM`). Prints Markdown tables with ratios.
//!
//! Equal durability: the headline runs both at WAL + `synchronous = NORMAL` (the original
//! through better-sqlite3's pragma, `SQLITE_JOURNAL_MODE` / `SQLITE_SYNCHRONOUS` of
//! `compat/server.mjs`); the pragmas each side actually runs with are read back and
//! printed. One extra, labelled row pair runs `revoke-session` on a second original at
//! better-sqlite3's defaults (rollback journal, `synchronous = FULL`): unequal, for the
//! record only.
//!
//! The ceiling: the same `rust-peer` binary with `PEER_MODE=ceiling` serves `user-details`,
//! `sessions` and `search-users` from bare axum routes over the same queries and pool, no
//! plugin around them (`attio_auth_tests::ceiling`); ours is printed as a fraction of it.
//!
//! Run: `cd tests/compat && npm ci` once, then `cargo bench -p attio-auth-tests --bench
//! compare`. Loopback only; every run is bounded in requests and time
//! (`COMPARE_REQUESTS_1`, `COMPARE_REQUESTS_32`, `COMPARE_MAX_SECS` override the defaults;
//! `COMPARE_ENDPOINTS=user-details,sessions` runs only those). The load average is printed
//! at the start and the end: the machine may be shared.

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

/// A `rust-peer` process: its URL and the pragmas it read back from its pool.
struct Peer {
    child: Child,
    url: String,
    pragmas: String,
}

/// Starts the `rust-peer` binary (built by cargo with this bench's profile) on `db`, in
/// `mode` (`plugin` or `ceiling`).
async fn start_rust_peer(db: &std::path::Path, mode: &str) -> anyhow::Result<Peer> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rust-peer"))
        .env("PEER_MODE", mode)
        // The original harness runs Better Auth with `rateLimit: { enabled: false }`.
        .env("PEER_RATE_LIMIT", "off")
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
    let mut pragmas = String::new();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(p) = line.strip_prefix("rust-peer pragmas ") {
                pragmas = p.trim().to_owned();
            }
            if let Some(url) = line.strip_prefix("rust-peer listening on ") {
                return Ok::<_, std::io::Error>(Some(url.trim().to_owned()));
            }
        }
        Ok(None)
    })
    .await;
    let Ok(Ok(Some(url))) = url else {
        bail!("rust-peer ({mode}) did not start");
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Peer {
        child,
        url,
        pragmas,
    })
}

/// `/proc/loadavg`'s first three fields.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".to_owned())
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

/// One measured run.
async fn measure(
    http: &reqwest::Client,
    url: &str,
    endpoint: &'static str,
    clients: usize,
    total: usize,
    max_time: Duration,
    offset: usize,
) -> Stats {
    let target = format!("{url}{BASE_PATH}/attio/{endpoint}");
    // Warm-up (JIT, connection pools, SQLite caches), then the measured run.
    load::run(
        http,
        &target,
        clients,
        WARMUP,
        max_time,
        200,
        body(endpoint, offset),
    )
    .await;
    let stats = load::run(
        http,
        &target,
        clients,
        total,
        max_time,
        200,
        body(endpoint, offset + WARMUP),
    )
    .await;
    eprintln!(
        "{endpoint:>15} x{clients:<2} {url}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors (load {})",
        stats.rps(),
        stats.quantile_ms(0.5),
        stats.quantile_ms(0.99),
        stats.errors,
        load_average()
    );
    stats
}

/// The figures of one endpoint at one concurrency.
struct Row {
    endpoint: &'static str,
    clients: usize,
    node: Stats,
    rust: Stats,
    /// The bare route (read endpoints only).
    ceiling: Option<Stats>,
    /// The original at better-sqlite3's defaults (revoke-session only).
    node_default: Option<Stats>,
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.1}x", a / b)
    } else {
        "-".to_owned()
    }
}

fn comparison_row(label: &str, clients: usize, node: &Stats, rust: &Stats) -> String {
    format!(
        "| {label} | {clients} | {:.0} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.2} | 1/{:.1} | {}/{} |",
        node.rps(),
        rust.rps(),
        ratio(rust.rps(), node.rps()),
        node.quantile_ms(0.5),
        rust.quantile_ms(0.5),
        node.quantile_ms(0.99),
        rust.quantile_ms(0.99),
        node.quantile_ms(0.99) / rust.quantile_ms(0.99).max(1e-9),
        node.errors,
        rust.errors,
    )
}

const WAL_NORMAL: [(&str, &str); 2] = [
    ("SQLITE_JOURNAL_MODE", "WAL"),
    ("SQLITE_SYNCHRONOUS", "NORMAL"),
];
const DEFAULTS: [(&str, &str); 2] = [
    ("SQLITE_JOURNAL_MODE", "DELETE"),
    ("SQLITE_SYNCHRONOUS", "FULL"),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let requests_1 = env_usize("COMPARE_REQUESTS_1", 1000);
    let requests_32 = env_usize("COMPARE_REQUESTS_32", 5000);
    let max_time = Duration::from_secs(env_usize("COMPARE_MAX_SECS", 20) as u64);
    let only = std::env::var("COMPARE_ENDPOINTS").ok();
    let load_start = load_average();
    let dir = tempfile::tempdir()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;

    eprintln!("starting the original plugin (WAL, synchronous NORMAL) and seeding it ...");
    let node = NodePeer::start_with_env(&dir.path().join("node.db"), LEGACY_SECRET, 0, &WAL_NORMAL)
        .await?;
    seed::seed(&http, &node).await?;
    seed::add_users(&http, &node, USERS, SESSIONS_PER_USER).await?;
    let copies = ["rust.db", "ceiling.db", "node-default.db"].map(|f| dir.path().join(f));
    for copy in &copies {
        seed::snapshot(&http, &node, copy).await?;
    }
    let [rust_db, ceiling_db, node_default_db] = copies;
    let node_default =
        NodePeer::start_with_env(&node_default_db, LEGACY_SECRET, 0, &DEFAULTS).await?;
    let mut rust = start_rust_peer(&rust_db, "plugin").await?;
    let mut ceiling = start_rust_peer(&ceiling_db, "ceiling").await?;
    let node_pid = node.pid().context("node pid")?;
    let rust_pid = rust.child.id().context("rust pid")?;
    let ceiling_pid = ceiling.child.id().context("ceiling pid")?;
    let node_pragmas = node.pragmas(&http).await?;
    let node_default_pragmas = node_default.pragmas(&http).await?;
    eprintln!(
        "original on {} (pid {node_pid}; {node_pragmas}), original at defaults on {} ({node_default_pragmas}), ours on {} (pid {rust_pid}; {}), ceiling on {} ({})",
        node.url, node_default.url, rust.url, rust.pragmas, ceiling.url, ceiling.pragmas
    );

    let mut rows = Vec::new();
    let mut offset = 0;
    for endpoint in ["sessions", "user-details", "search-users", "revoke-session"] {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|e| e.trim() == endpoint))
        {
            continue;
        }
        for (clients, total) in [(1, requests_1), (32, requests_32)] {
            let m = |url: String| {
                let http = http.clone();
                async move { measure(&http, &url, endpoint, clients, total, max_time, offset).await }
            };
            let node_stats = m(node.url.clone()).await;
            let rust_stats = m(rust.url.clone()).await;
            let (ceiling_stats, node_default_stats) = if endpoint == "revoke-session" {
                (None, Some(m(node_default.url.clone()).await))
            } else {
                (Some(m(ceiling.url.clone()).await), None)
            };
            offset += WARMUP + total;
            rows.push(Row {
                endpoint,
                clients,
                node: node_stats,
                rust: rust_stats,
                ceiling: ceiling_stats,
                node_default: node_default_stats,
            });
        }
    }
    let node_rss = peak_rss_kib(node_pid).context("node VmHWM")?;
    let rust_rss = peak_rss_kib(rust_pid).context("rust VmHWM")?;
    let ceiling_rss = peak_rss_kib(ceiling_pid).context("ceiling VmHWM")?;
    let load_end = load_average();

    println!(
        "Pragmas as read back: original {node_pragmas}; ours {}; ceiling {}; extra row's original {node_default_pragmas}.",
        rust.pragmas, ceiling.pragmas
    );
    println!();
    println!(
        "| endpoint | clients | original req/s | ours req/s | throughput | original p50 ms | ours p50 ms | original p99 ms | ours p99 ms | p99 ours/original | errors (orig/ours) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "{}",
            comparison_row(r.endpoint, r.clients, &r.node, &r.rust)
        );
    }
    for r in &rows {
        if let Some(d) = &r.node_default {
            let label = format!(
                "{} (extra, unequal: original at better-sqlite3's defaults, {node_default_pragmas})",
                r.endpoint
            );
            println!("{}", comparison_row(&label, r.clients, d, &r.rust));
        }
    }
    println!();
    println!(
        "| endpoint | clients | ceiling req/s | ours req/s | ours / ceiling | ceiling p50 ms | ours p50 ms | ceiling p99 ms | ours p99 ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        if let Some(c) = &r.ceiling {
            println!(
                "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                r.endpoint,
                r.clients,
                c.rps(),
                r.rust.rps(),
                r.rust.rps() / c.rps().max(1e-9),
                c.quantile_ms(0.5),
                r.rust.quantile_ms(0.5),
                c.quantile_ms(0.99),
                r.rust.quantile_ms(0.99),
            );
        }
    }
    println!();
    println!(
        "Peak RSS (VmHWM): original {:.1} MiB, ours {:.1} MiB: ours is 1/{:.1} (ceiling server {:.1} MiB).",
        node_rss as f64 / 1024.0,
        rust_rss as f64 / 1024.0,
        node_rss as f64 / rust_rss.max(1) as f64,
        ceiling_rss as f64 / 1024.0,
    );
    println!(
        "Requests per run: {requests_1} at 1 client, {requests_32} at 32 (after {WARMUP} warm-up), at most {} s; {USERS} users x {SESSIONS_PER_USER} sessions; loopback; load generator in the same machine.",
        max_time.as_secs()
    );
    println!("Load average (1, 5, 15 min): {load_start} at the start, {load_end} at the end.");
    let errors: usize = rows
        .iter()
        .map(|r| {
            r.node.errors
                + r.rust.errors
                + r.ceiling.as_ref().map_or(0, |c| c.errors)
                + r.node_default.as_ref().map_or(0, |c| c.errors)
        })
        .sum();
    for peer in [&mut rust, &mut ceiling] {
        peer.child.start_kill()?;
        peer.child.wait().await?;
    }
    node.stop().await?;
    node_default.stop().await?;
    if errors > 0 {
        bail!("{errors} requests failed: the figures above are not comparable");
    }
    Ok(())
}
