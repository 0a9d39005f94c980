//! Sync latency, end to end (issue 18, benchmark 2): how long after a sign-up the Attio
//! record appears.
//!
//! The whole chain runs in-process on loopback: an auth server with our plugin set up as the
//! demo's (its store writes the user and its outbox row in one transaction; the plugin's own
//! worker delivers), app-backend (its `/v1` events endpoint, its durable queue and the Attio
//! writer), and the Attio sandbox. Changes are issued open loop, on a fixed schedule (not
//! after the previous one completes); each one's latency runs from its scheduled instant to
//! the moment the sandbox tells a webhook of ours that the record exists (`record.created`,
//! sent after the write is stored, so the record is readable by then). The webhook carries
//! only the record id; the map to the auth user id is read from the sandbox after the run.
//!
//! Settings (environment variables):
//! - `SYNC_BENCH_SECS` (default 20): seconds of load per row;
//! - `SYNC_BENCH_RATES` (default `10,50`): changes per second;
//! - `SYNC_BENCH_DBS` (default `sqlite,postgres`): `postgres` needs `TEST_POSTGRES_URL`
//!   (`source scripts/postgres.sh`); the plugin's and the backend's databases are then both
//!   on PostgreSQL;
//! - `SYNC_BENCH_PLUGIN_POLL_MS` (default: the plugin's default, 2000): the delivery
//!   worker's idle poll;
//! - `SYNC_BENCH_QUEUE_POLL_MS` (default: app-backend's default, 500): the queue's poll;
//! - `SYNC_BENCH_WORKERS` (default: app-backend's default, 4): the backend's queue workers.
//!
//! Attio's limits are 25 writes and 100 reads per second per workspace. The sandbox's write
//! limit and app-backend's `ATTIO_WRITES_PER_SEC` budget are set to max(25, 2 × rate):
//! Attio's own 25/s at 10 changes/s, raised to 100/s for 50 changes/s, so the load stays under
//! the limit; reads (the sandbox's limit and `ATTIO_READS_PER_SEC`) are scaled with them at
//! Attio's ratio, 4 reads per write. A change costs two reads (the person lookup of a user's
//! first write, and the read that recognises Attio's webhook of our own write as an echo):
//! with app-backend's default read budget of 100/s, 50 changes/s would use all of it and a
//! queue would form in front of the budget (p50 156 ms measured so, no 429 and no retry).
//!
//! Run: `cargo bench -p attio-auth-tests --bench sync_latency`.

use anyhow::Context;
use attio_auth_shared::connection::{Connection, Protocol, new_secret};
use attio_auth_tests::auth_host::{AuthDb, PluginHost, new_id};
use attio_auth_tests::backend::{BackendServer, fresh_postgres_url, install};
use attio_sandbox::{RateLimits, Sandbox, SandboxConfig, WorkspaceOptions};
use axum::extract::State;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The targets.
const P50_TARGET: Duration = Duration::from_millis(100);
const P99_TARGET: Duration = Duration::from_secs(1);
/// Changes before the measured ones (the first event creates attributes and the webhook).
const WARMUP: usize = 5;
/// How long after the last scheduled change the bench waits for stragglers.
const DRAIN_SECS: u64 = 60;
/// The secrets-at-rest key of the PostgreSQL rows (bench only).
const BENCH_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// When the sandbox said each record was created (first notification wins).
#[derive(Default)]
struct Seen {
    at: Mutex<HashMap<String, Instant>>,
    more: Notify,
}

async fn hook(State(seen): State<Arc<Seen>>, body: axum::body::Bytes) -> &'static str {
    let now = Instant::now();
    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
        let events = v["events"].as_array().cloned().unwrap_or_default();
        let mut at = seen.at.lock().unwrap_or_else(|p| p.into_inner());
        for e in events {
            if let Some(id) = e["id"]["record_id"].as_str() {
                at.entry(id.to_owned()).or_insert(now);
            }
        }
    }
    seen.more.notify_waiters();
    "ok"
}

/// One row of the table.
struct Row {
    db: String,
    rate: u64,
    limit: u32,
    reads: u32,
    latencies: Vec<Duration>,
    issued: usize,
    failed: usize,
    load: String,
    /// The backend's counters after the row (`/metrics`).
    backend_did: String,
}

impl Row {
    fn pct(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1]
    }

    fn complete(&self) -> bool {
        self.latencies.len() == self.issued && self.failed == 0
    }

    fn met(&self) -> bool {
        self.complete() && self.pct(0.5) <= P50_TARGET && self.pct(0.99) <= P99_TARGET
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

async fn run(db: &str, rate: u64, secs: u64) -> anyhow::Result<Row> {
    let load_before = loadavg();
    let limit = u32::try_from((2 * rate).max(25)).unwrap_or(u32::MAX);
    let reads = limit.saturating_mul(4);
    let sandbox = Sandbox::start(SandboxConfig {
        rate_limits: RateLimits {
            enabled: true,
            reads_per_second: reads,
            writes_per_second: limit,
        },
        log_limit: 1000,
        ..SandboxConfig::for_tests()
    })
    .await?;
    let api = format!("{}/v2", sandbox.base_url());
    let creds = sandbox.create_workspace(WorkspaceOptions {
        enable_objects: vec!["users".into(), "workspaces".into()],
        ..Default::default()
    });
    let http = reqwest::Client::new();

    // Our notification: a webhook on the sandbox, on its own listener.
    let seen = Arc::new(Seen::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(seen.clone());
    let hook_task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let res = http
        .post(format!("{api}/webhooks"))
        .bearer_auth(&creds.token)
        .json(&json!({"data": {"target_url": hook_url,
            "subscriptions": [{"event_type": "record.created", "filter": null}]}}))
        .send()
        .await?;
    anyhow::ensure!(res.status().is_success(), "webhook: {}", res.text().await?);

    let dir = tempfile::tempdir()?;
    let (auth_db, backend_db) = match db {
        "sqlite" => (AuthDb::Sqlite(dir.path().join("auth.db")), None),
        "postgres" => (
            AuthDb::Postgres(fresh_postgres_url().await?),
            Some(fresh_postgres_url().await?),
        ),
        other => anyhow::bail!("unknown database {other} (sqlite or postgres)"),
    };
    let mut delivery = attio_auth_plugin::sync::DeliveryConfig::default();
    if let Ok(v) = std::env::var("SYNC_BENCH_PLUGIN_POLL_MS") {
        delivery.poll_interval = Duration::from_millis(v.parse()?);
    }
    let (listener, origin) = PluginHost::bind().await?;
    let secret = secrecy::ExposeSecret::expose_secret(&new_secret()?).to_owned();
    let connection = Connection::new(
        origin,
        "/api/auth",
        Protocol::SignedV1,
        secrecy::SecretString::from(secret.clone()),
    )?;
    let auth = PluginHost::start(listener, &auth_db, &secret, delivery).await?;
    anyhow::ensure!(connection.url() == auth.auth_url());

    let data_dir = dir.path().join("backend");
    std::fs::create_dir_all(&data_dir)?;
    let mut settings = vec![
        ("ATTIO_WRITES_PER_SEC", limit.to_string()),
        ("ATTIO_READS_PER_SEC", reads.to_string()),
    ];
    if let Ok(v) = std::env::var("SYNC_BENCH_QUEUE_POLL_MS") {
        settings.push(("QUEUE_POLL_INTERVAL_MS", v));
    }
    if let Ok(v) = std::env::var("SYNC_BENCH_MAX_RUNNING") {
        settings.push(("QUEUE_MAX_RUNNING_PER_INSTALLATION", v));
    }
    // The production default, not the test helper's 2.
    settings.push((
        "WORKERS",
        std::env::var("SYNC_BENCH_WORKERS").unwrap_or_else(|_| "4".into()),
    ));
    let backend = BackendServer::start_with_settings(
        &data_dir,
        &api,
        0,
        backend_db.as_deref(),
        backend_db.as_ref().map(|_| BENCH_KEY),
        &settings,
    )
    .await?;
    let (status, body) = install(&http, &backend.url, &connection.encode(), &creds.token).await?;
    anyhow::ensure!(status == 201, "install: {status} {body}");

    // Warm-up: attributes and the backend's webhook get ensured by the first event.
    for i in 0..WARMUP {
        let id = new_id();
        auth.sign_up(&id, &format!("warm{i}@example.com"), "Warm Up")
            .await?;
    }
    wait_for(&seen, WARMUP, Duration::from_secs(30)).await;
    let warm = seen.at.lock().unwrap_or_else(|p| p.into_inner()).len();
    anyhow::ensure!(
        warm == WARMUP,
        "warm-up: {warm} of {WARMUP} records appeared"
    );

    // Open loop: change i is issued at start + i / rate, whatever happened to the others.
    let n = usize::try_from(rate * secs)?;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let auth = Arc::new(auth);
    let start = Instant::now() + Duration::from_millis(50);
    let mut scheduled: HashMap<String, Instant> = HashMap::with_capacity(n);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let at = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(at).await;
        let id = new_id();
        scheduled.insert(id.clone(), at);
        let auth = auth.clone();
        tasks.spawn(async move {
            auth.sign_up(&id, &format!("u{i}-{id}@example.com"), &format!("User {i}"))
                .await
                .map(|_| ())
        });
    }
    let mut failed = 0;
    while let Some(done) = tasks.join_next().await {
        if !matches!(done, Ok(Ok(()))) {
            failed += 1;
        }
    }
    wait_for(&seen, WARMUP + n - failed, Duration::from_secs(DRAIN_SECS)).await;
    let load = format!("{load_before}→{}", loadavg());

    // Record id -> user id, read from the sandbox with a token of its own (its own budget).
    let (reader, _) = sandbox
        .create_token(
            creds.workspace_id,
            vec![
                "object_configuration:read-write".into(),
                "record_permission:read-write".into(),
            ],
        )
        .context("reader token")?;
    let mut user_of: HashMap<String, String> = HashMap::new();
    let mut offset = 0;
    loop {
        let page: Value = http
            .post(format!("{api}/objects/users/records/query"))
            .bearer_auth(&reader)
            .json(&json!({"limit": 500, "offset": offset}))
            .send()
            .await?
            .json()
            .await?;
        let records = page["data"].as_array().cloned().unwrap_or_default();
        for r in &records {
            let record = r["id"]["record_id"].as_str();
            let user = attio_auth_demo::client::plain_value(r, "user_id");
            if let (Some(record), Some(user)) = (record, user) {
                user_of.insert(user, record.to_owned());
            }
        }
        if records.len() < 500 {
            break;
        }
        offset += 500;
    }
    let at = seen.at.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut latencies: Vec<Duration> = scheduled
        .iter()
        .filter_map(|(user, sched)| {
            let seen_at = at.get(user_of.get(user)?)?;
            Some(seen_at.saturating_duration_since(*sched))
        })
        .collect();
    latencies.sort();

    if let Ok(auth) = Arc::try_unwrap(auth) {
        auth.stop().await;
    }
    // What the backend did for it: jobs, retries, deferrals, echoes, Attio calls.
    let metrics = http
        .get(format!("{}/metrics", backend.url))
        .send()
        .await?
        .text()
        .await?;
    let backend_did = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            [
                "jobs_done",
                "job_retries",
                "jobs_deferred",
                "echoes_skipped",
                "attio_calls",
                "attio_retries",
            ]
            .iter()
            .any(|k| l.contains(k))
        })
        .map(|l| l.trim_start_matches("attio_auth_").to_owned())
        .collect::<Vec<_>>()
        .join(", ");
    backend.stop().await;
    sandbox.shutdown().await;
    hook_task.abort();
    Ok(Row {
        db: db.to_owned(),
        rate,
        limit,
        reads,
        latencies,
        issued: n,
        failed,
        load,
        backend_did,
    })
}

/// Waits until `count` records were notified, or `max` passed.
async fn wait_for(seen: &Seen, count: usize, max: Duration) {
    let deadline = Instant::now() + max;
    loop {
        let more = seen.more.notified();
        if seen.at.lock().unwrap_or_else(|p| p.into_inner()).len() >= count {
            return;
        }
        if tokio::time::timeout_at(deadline, more).await.is_err() {
            return;
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let secs = env_num("SYNC_BENCH_SECS", 20).max(1);
    let rates: Vec<u64> = env_list("SYNC_BENCH_RATES", "10,50")
        .iter()
        .map(|r| r.parse::<u64>().context("SYNC_BENCH_RATES: numbers"))
        .collect::<anyhow::Result<_>>()?;
    let dbs = env_list("SYNC_BENCH_DBS", "sqlite,postgres");
    println!(
        "sync latency, end to end: {secs} s per row, open loop; plugin poll {}, queue poll {}, \
         backend workers {}",
        std::env::var("SYNC_BENCH_PLUGIN_POLL_MS").map_or("default".into(), |v| format!("{v} ms")),
        std::env::var("SYNC_BENCH_QUEUE_POLL_MS").map_or("default".into(), |v| format!("{v} ms")),
        std::env::var("SYNC_BENCH_WORKERS").unwrap_or_else(|_| "4".into()),
    );
    let mut rows = Vec::new();
    for db in &dbs {
        for &rate in &rates {
            let row = run(db, rate, secs)
                .await
                .with_context(|| format!("{db} at {rate}/s"))?;
            println!(
                "  {db} {rate}/s: {} of {} records seen (load {}); backend: {}",
                row.latencies.len(),
                row.issued,
                row.load,
                row.backend_did
            );
            rows.push(row);
        }
    }
    println!();
    println!(
        "| db | rate (/s) | Attio limits (writes / reads per s) | n | p50 (ms) | p99 (ms) | max (ms) | p50 / 100 ms | p99 / 1 s | target met |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let seen = if r.complete() {
            r.issued.to_string()
        } else {
            format!(
                "{} of {} ({} failed)",
                r.latencies.len(),
                r.issued,
                r.failed
            )
        };
        println!(
            "| {} | {} | {} / {} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {} |",
            r.db,
            r.rate,
            r.limit,
            r.reads,
            seen,
            ms(r.pct(0.5)),
            ms(r.pct(0.99)),
            ms(r.latencies.last().copied().unwrap_or_default()),
            r.pct(0.5).as_secs_f64() / P50_TARGET.as_secs_f64(),
            r.pct(0.99).as_secs_f64() / P99_TARGET.as_secs_f64(),
            if r.met() { "yes" } else { "no" },
        );
    }
    Ok(())
}
