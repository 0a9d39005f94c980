//! Write throughput of the sandbox as its records grow: asserts `users` records (by
//! `user_id`, with a unique email too) into a fresh workspace with the rate limit off, 8
//! requests in flight, and prints writes/s overall and over the last 1000 writes for
//! 1 000, 10 000 and 20 000 records. With the unique-value index the last-1000 rate stays
//! flat as the workspace grows; a scan per write would fall roughly tenfold from 1k to 10k.
//!
//! `cargo bench -p attio-sandbox --bench writes` (`BENCH_SIZES=1000,10000,20000`,
//! `BENCH_IN_FLIGHT=8`, `BENCH_WEBHOOK=1` adds a webhook so every write is also delivered).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use attio_sandbox::{RateLimits, Sandbox, SandboxConfig, WorkspaceOptions};
use serde_json::json;

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

/// A webhook target that answers 200 to everything.
async fn sink() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sink");
    let addr = listener.local_addr().expect("sink address");
    let app = axum::Router::new().fallback(|| async { "ok" });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000,20000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let in_flight: usize = std::env::var("BENCH_IN_FLIGHT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let webhook = std::env::var("BENCH_WEBHOOK").is_ok();

    let sandbox = Sandbox::start(SandboxConfig::for_tests())
        .await
        .expect("start sandbox");
    sandbox.set_rate_limits(RateLimits {
        enabled: false,
        reads_per_second: 100,
        writes_per_second: 25,
    });
    let base = sandbox.base_url();
    let http = reqwest::Client::new();
    let target = if webhook { Some(sink().await) } else { None };
    println!(
        "attio-sandbox writes: asserts into users by user_id, rate limit off, {in_flight} in flight{}",
        if webhook {
            ", every write delivered to a webhook"
        } else {
            ""
        }
    );
    for n in sizes {
        let creds = sandbox.create_workspace(WorkspaceOptions {
            enable_objects: vec!["users".into(), "workspaces".into()],
            ..Default::default()
        });
        if let Some(target) = &target {
            let r = http
                .post(format!("{base}/v2/webhooks"))
                .bearer_auth(&creds.token)
                .json(&json!({"data": {"target_url": target, "subscriptions": [
                    {"event_type": "record.created", "filter": null},
                    {"event_type": "record.updated", "filter": null}]}}))
                .send()
                .await
                .expect("create webhook");
            assert!(r.status().is_success(), "webhook: {}", r.status());
        }
        let next = Arc::new(AtomicUsize::new(0));
        let tail_start = n.saturating_sub(1000);
        let tail_started: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..in_flight {
            let (next, http, token, tail_started) = (
                next.clone(),
                http.clone(),
                creds.token.clone(),
                tail_started.clone(),
            );
            let url = format!("{base}/v2/objects/users/records?matching_attribute=user_id");
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    if i == tail_start {
                        *tail_started.lock().expect("lock") = Some(Instant::now());
                    }
                    let body = json!({"data": {"values": {"user_id": format!("u{i}"),
                        "primary_email_address": format!("u{i}@example.com")}}});
                    let r = http
                        .put(&url)
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .expect("assert");
                    assert!(r.status().is_success(), "assert {i}: {}", r.status());
                    r.bytes().await.expect("answer");
                }
            }));
        }
        for t in tasks {
            t.await.expect("writer task");
        }
        let total = started.elapsed();
        let tail = tail_started
            .lock()
            .expect("lock")
            .map_or(Duration::ZERO, |t| t.elapsed());
        println!(
            "{n:>6} records: {:>7.0} writes/s overall, {:>7.0} writes/s over the last {} writes; peak memory {} MiB",
            n as f64 / total.as_secs_f64(),
            (n - tail_start) as f64 / tail.as_secs_f64(),
            n - tail_start,
            peak_rss_mib()
        );
    }
    let requests = sandbox.requests().len();
    let deliveries = sandbox.deliveries().len();
    println!(
        "logs kept: {requests} requests, {deliveries} deliveries (cap {} each)",
        attio_sandbox::DEFAULT_LOG_LIMIT
    );
}
