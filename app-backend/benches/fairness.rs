//! Fairness benchmark (issue 13, item 5): tenant A has 2,000 queued Attio events whose auth
//! server answers slowly; how long until tenant B's sign-up (a plugin event posted to the
//! backend) is a record in B's Attio workspace (attio-sandbox)? Target: <= 5 s.
//!
//! Loopback only, bounded in time (each row stops after `BENCH_FAIR_BOUND_SECS`, default
//! 30 s). Rows: A's auth server taking 1 s and 10 s per call, with the default cap of 2
//! running jobs per installation and 4 workers. `BENCH_POSTGRES=1` runs it on PostgreSQL (a
//! fresh database per row, made from `TEST_POSTGRES_URL`).
//!
//! Run: `cargo bench -p attio-auth-backend --bench fairness`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;

fn postgres() -> bool {
    std::env::var("BENCH_POSTGRES").is_ok_and(|v| v == "1")
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One row: (seconds until B's record is in Attio or None past the bound, A's calls made).
async fn run(flood: usize, delay: Duration, bound: Duration) -> (Option<f64>, usize) {
    let db = if postgres() {
        DbChoice::Postgres
    } else {
        DbChoice::Sqlite
    };
    let w = two_tenants(db).await;
    let plugin_a = &w.a.plugin;
    plugin_a
        .state
        .lock()
        .unwrap()
        .delays
        .insert("webhook".into(), delay);
    w.flood_a(flood).await;
    // A's flood is being worked on (its calls in flight) before B signs up.
    while plugin_a.calls("webhook").is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    assert!(w.sign_up_b().await.is_success());
    let mut took = None;
    while started.elapsed() < bound {
        if w.b_users().await == 1 {
            took = Some(started.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let a_calls = plugin_a.calls("webhook").len();
    w.app.shutdown.cancel();
    (took, a_calls)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let flood = env_num("BENCH_FAIR_EVENTS", 2000) as usize;
    let bound = Duration::from_secs(env_num("BENCH_FAIR_BOUND_SECS", 30));
    println!(
        "fairness benchmark ({}, 4 workers, cap 2 running jobs per installation)",
        if postgres() { "PostgreSQL" } else { "SQLite" }
    );
    println!(
        "| tenant A queued events | A's auth server per call | tenant B's event in Attio after | A's calls meanwhile | target |"
    );
    println!("|---|---|---|---|---|");
    for delay_ms in [1000u64, 10_000] {
        let (took, a_calls) = run(flood, Duration::from_millis(delay_ms), bound).await;
        let took = match took {
            Some(s) => format!("{s:.2} s"),
            None => format!("not within {} s", bound.as_secs()),
        };
        println!(
            "| {flood} | {:.0} s | {took} | {a_calls} | <= 5 s |",
            delay_ms as f64 / 1000.0
        );
    }
}
