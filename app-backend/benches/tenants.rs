//! Many-tenants benchmark (issue 18, item 3): up to 1,000 installations on one backend
//! instance (PostgreSQL), each with its own attio-sandbox workspace, token and (fake) auth
//! server, under a mixed load across all tenants:
//!
//! - actions: signed `POST /v1/actions/user-details` as the Attio app sends them;
//! - plugin events: signed `POST /v1/events/{id}/{token}` as the plugin's outbox sends them
//!   (each a queued Attio write);
//! - Attio webhooks: a record edited in the tenant's sandbox workspace, which the sandbox
//!   delivers, signed, to the backend (each a queued call of the plugin's `webhook`).
//!
//! The backend is the release binary (`attio-auth serve`) run as a child process with its
//! settings in the environment, so its RSS (`/proc/<pid>/status`) counts neither the sandbox
//! nor the fake plugin nor the load generator, which live in this process.
//!
//! Figures: the backend's RSS idle after installing 0, 100, 500 and `BENCH_TENANTS` (default
//! 1000) tenants and after every tenant was active once (the slope in KiB per installation,
//! target <= 50); p99 action latency under the same offered load at 1 tenant (its own
//! backend instance and database) and at all tenants (target: unchanged within noise);
//! throughput of a closed-loop mixed load; and the fairness figure of `benches/fairness.rs`
//! at this scale (a quiet tenant's sign-up reaches Attio while one tenant's slow auth server
//! has a flood of webhooks queued).
//!
//! Bounded: `BENCH_TENANTS` (1000), `BENCH_TENANTS_SECS` (15, each load phase),
//! `BENCH_TENANTS_RATE` (60 requests/s offered in the latency phases), `BENCH_TENANTS_CLIENTS`
//! (8, closed-loop clients), `BENCH_TENANTS_FLOOD` (2000 queued webhooks of the flooding
//! tenant), `BENCH_TENANTS_INSTALL_CONCURRENCY` (4). Needs `TEST_POSTGRES_URL` (`source
//! scripts/postgres.sh`); each backend instance gets a fresh database.
//!
//! Run: `cargo bench -p attio-auth-backend --bench tenants`.
//!
//! Over 800 lines: one self-contained bench binary (fake auth server, backend child, load,
//! fairness, report); split, it would only scatter one run's steps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt as _;
use serde_json::{Value, json};
use sqlx::Row as _;

use attio_auth_shared::connection::Connection;
use attio_auth_shared::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, Verifier};
use attio_sandbox::{RateLimits, Sandbox, SandboxConfig, SandboxHandle, WorkspaceCredentials};

use common::{
    MEMBER_ID, SYNCED_OBJECTS, add_sandbox_member, api_url, app_headers_for, attio_records,
    fresh_postgres_url, now_secs, post_signed_event, user_event, workspace,
};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ------------------------------------------------------------------------------------------
// One fake auth server for every tenant: tenant n is served under `/{n}/api/auth`, with its
// own `whsec_` secret.
// ------------------------------------------------------------------------------------------

struct PluginTenant {
    conn: Connection,
    /// The event URL the backend gave at `link`.
    event_url: Mutex<Option<String>>,
    /// `webhook` calls answered.
    webhooks: AtomicU64,
}

struct Plugins {
    tenants: Vec<PluginTenant>,
    /// The tenant whose `webhook` calls take `slow_delay` (the flooding tenant), or MAX.
    slow: AtomicUsize,
    slow_delay: Duration,
}

async fn plugin_route(
    State(p): State<Arc<Plugins>>,
    Path((n, action)): Path<(usize, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(t) = p.tenants.get(n) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    if Verifier::from_secret(t.conn.secret())
        .unwrap()
        .verify(
            &h(HEADER_ID),
            &h(HEADER_TIMESTAMP),
            &h(HEADER_SIGNATURE),
            &body,
            now_secs(),
        )
        .is_err()
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let answer = match action.as_str() {
        "ping" => json!({"ok": true, "version": "bench", "features": {"sync": true}}),
        "link" => {
            *t.event_url.lock().unwrap() = req["webhookUrl"].as_str().map(str::to_owned);
            json!({"webhookId": format!("link-{n}")})
        }
        "user-details" => {
            json!({"banned": false, "bannedUntil": null, "banReason": null, "role": "user"})
        }
        "export" => {
            // One user per tenant: the record the actions and the Attio edits are about.
            let users = if req["cursor"].is_null() {
                vec![
                    json!({"id": format!("u{n}"), "email": format!("u{n}@example.com"),
                    "name": format!("User {n}"), "emailVerified": true, "image": null,
                    "role": "user", "banned": false, "attioId": null,
                    "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"}),
                ]
            } else {
                vec![]
            };
            json!({"users": users, "organizations": [], "nextCursor": null})
        }
        "webhook" => {
            if p.slow.load(Ordering::Relaxed) == n {
                tokio::time::sleep(p.slow_delay).await;
            }
            t.webhooks.fetch_add(1, Ordering::Relaxed);
            json!({"success": true})
        }
        _ => json!({"success": true}),
    };
    axum::Json(answer).into_response()
}

// ------------------------------------------------------------------------------------------
// The backend as a child process.
// ------------------------------------------------------------------------------------------

struct Backend {
    child: tokio::process::Child,
    url: String,
    db: sqlx::PgPool,
}

impl Backend {
    async fn start(sandbox: &SandboxHandle, dir: &std::path::Path) -> Backend {
        let db_url = fresh_postgres_url().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join(format!("backend-{port}.log"))).unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_attio-auth"))
            .arg("serve")
            .env_clear()
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &db_url)
            .env("DATA_DIR", dir)
            .env(
                "ENCRYPTION_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )
            .env("ATTIO_API_URL", api_url(sandbox))
            // Budgets well above the load: the figures are about the backend, not pacing.
            .env("ATTIO_WRITES_PER_SEC", "1000")
            .env("ATTIO_READS_PER_SEC", "1000")
            .env("ALLOW_PRIVATE_PLUGIN_URLS", "true")
            .env("INSTALL_ATTEMPTS_PER_MINUTE", "1000000")
            .env("HTTP_TIMEOUT_SECS", "60")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("the attio-auth binary starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{url}/readyz")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "backend not ready within 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let db = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&db_url)
            .await
            .unwrap();
        Backend { child, url, db }
    }

    fn status_kib(&self, field: &str) -> u64 {
        let pid = self.child.id().expect("backend running");
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// RSS in KiB after the backend has been idle for a moment.
    async fn idle_rss(&self, sandbox: &SandboxHandle) -> u64 {
        self.drain(sandbox).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.status_kib("VmRSS:")
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query(sql)
            .fetch_one(&self.db)
            .await
            .unwrap()
            .get::<i64, _>(0)
    }

    /// Jobs done or given up so far (`/metrics`: finished jobs leave the table).
    async fn jobs_finished(&self) -> i64 {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with("attio_auth_jobs_done_total ")
                    || l.starts_with("attio_auth_jobs_dead_total ")
            })
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .sum::<f64>() as i64
    }

    /// Wait until no webhook delivery is in flight and no job is queued or running.
    async fn drain(&self, sandbox: &SandboxHandle) -> Duration {
        let started = Instant::now();
        let mut quiet = 0;
        while quiet < 3 {
            let pending = self
                .count("select count(*) from jobs where status in ('queued', 'running')")
                .await;
            if pending == 0 && sandbox.deliveries_in_flight() == 0 {
                quiet += 1;
            } else {
                quiet = 0;
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "queue not drained in 10 minutes"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        started.elapsed()
    }

    async fn stop(mut self) {
        self.child.kill().await.ok();
    }
}

// ------------------------------------------------------------------------------------------
// Tenants and the load.
// ------------------------------------------------------------------------------------------

struct Tenant {
    n: usize,
    creds: WorkspaceCredentials,
    record_id: String,
    event_url: String,
}

struct World {
    sandbox: SandboxHandle,
    plugins: Arc<Plugins>,
    http: reqwest::Client,
    seq: AtomicU64,
}

impl World {
    /// Install tenants `range` on `backend` (through `POST /v1/installations`), wait for their
    /// backfills, and return them with their users' record ids.
    async fn install(
        &self,
        backend: &Backend,
        range: std::ops::Range<usize>,
        concurrency: usize,
    ) -> Vec<Tenant> {
        let installed: Vec<(usize, WorkspaceCredentials, String)> =
            futures::stream::iter(range.map(|n| async move {
                let creds = workspace(&self.sandbox, SYNCED_OBJECTS);
                add_sandbox_member(creds.workspace_id);
                let conn = &self.plugins.tenants[n].conn;
                let r = self
                    .http
                    .post(format!("{}/v1/installations", backend.url))
                    .json(&json!({"connection": conn.encode(), "attioToken": creds.token}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let body: Value = r.json().await.unwrap();
                assert_eq!(status, 201, "install of tenant {n}: {body}");
                let id = body["installation"]["id"].as_str().unwrap().to_owned();
                (n, creds, id)
            }))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        backend.drain(&self.sandbox).await;
        let mut out = Vec::new();
        for (n, creds, id) in installed {
            let record_id: String = sqlx::query(
                "select record_id from record_links where installation_id = $1 and auth_id = $2",
            )
            .bind(&id)
            .bind(format!("u{n}"))
            .fetch_one(&backend.db)
            .await
            .unwrap()
            .get("record_id");
            let event_url = self.plugins.tenants[n]
                .event_url
                .lock()
                .unwrap()
                .clone()
                .unwrap();
            out.push(Tenant {
                n,
                creds,
                record_id,
                event_url,
            });
        }
        out.sort_by_key(|t| t.n);
        out
    }

    /// A signed `user-details` action for the tenant's user: its latency.
    async fn action(&self, backend: &Backend, t: &Tenant) -> Duration {
        let body = serde_json::to_vec(&json!({"action": "user-details",
            "actor": {"workspaceMemberId": MEMBER_ID},
            "target": {"object": "users", "recordId": t.record_id}}))
        .unwrap();
        let conn = &self.plugins.tenants[t.n].conn;
        let mut req = self
            .http
            .post(format!("{}/v1/actions/user-details", backend.url))
            .header("content-type", "application/json");
        for (k, v) in app_headers_for(conn, &t.creds.workspace_id.to_string(), &body) {
            req = req.header(k, v);
        }
        let started = Instant::now();
        let r = req.body(body).send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        let took = started.elapsed();
        assert!(status.is_success(), "action of tenant {}: {text}", t.n);
        took
    }

    /// A signed plugin event: one of four users of the tenant created or updated.
    async fn event(&self, t: &Tenant) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let user = format!("u{}e{}", t.n, seq % 4);
        let event = user_event(
            &format!("ev{seq}"),
            "update",
            &user,
            &format!("Name {seq}"),
            "auth",
        );
        let conn = &self.plugins.tenants[t.n].conn;
        let r = post_signed_event(&self.http, &t.event_url, conn, &event).await;
        assert!(r.status().is_success(), "event of tenant {}", t.n);
    }

    /// An edit of the tenant's user in Attio: the sandbox delivers the webhook.
    async fn attio_edit(&self, t: &Tenant) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let r = self
            .http
            .patch(format!(
                "{}/v2/objects/users/records/{}",
                self.sandbox.base_url(),
                t.record_id
            ))
            .bearer_auth(&t.creds.token)
            .json(&json!({"data": {"values": {"name": format!("Edited {seq}")}}}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(
            status.is_success(),
            "edit: {status} {}",
            r.text().await.unwrap()
        );
    }

    /// Operation `i` of the mixed load: action, event, Attio edit in turn, over the tenants.
    async fn op(&self, backend: &Backend, tenants: &[Tenant], i: usize) -> Option<Duration> {
        let t = &tenants[(i / 3) % tenants.len()];
        match i % 3 {
            0 => Some(self.action(backend, t).await),
            1 => {
                self.event(t).await;
                None
            }
            _ => {
                self.attio_edit(t).await;
                None
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// The latency phase: `rate` operations per second offered (open loop) for `secs`.
struct Latency {
    p50: f64,
    p99: f64,
    actions: usize,
}

async fn latency_phase(
    world: &Arc<World>,
    backend: &Arc<Backend>,
    tenants: &Arc<Vec<Tenant>>,
    rate: u64,
    secs: u64,
) -> Latency {
    let lat = Arc::new(Mutex::new(Vec::new()));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut tasks = tokio::task::JoinSet::new();
    let until = Instant::now() + Duration::from_secs(secs);
    let mut i = 0;
    while Instant::now() < until {
        tick.tick().await;
        let (world, backend, tenants, lat) =
            (world.clone(), backend.clone(), tenants.clone(), lat.clone());
        tasks.spawn(async move {
            if let Some(d) = world.op(&backend, &tenants, i).await {
                lat.lock().unwrap().push(d);
            }
        });
        i += 1;
    }
    while tasks.join_next().await.is_some() {}
    let mut lat = lat.lock().unwrap().clone();
    lat.sort();
    Latency {
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        actions: lat.len(),
    }
}

/// The throughput phase: `clients` closed-loop clients for `secs`, then until the queue is
/// drained.
struct Throughput {
    requests_per_sec: f64,
    jobs_per_sec: f64,
    drain_secs: f64,
    p99: f64,
}

async fn throughput_phase(
    world: &Arc<World>,
    backend: &Arc<Backend>,
    tenants: &Arc<Vec<Tenant>>,
    clients: usize,
    secs: u64,
) -> Throughput {
    let jobs_before = backend.jobs_finished().await;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (world, backend, tenants, next) = (
            world.clone(),
            backend.clone(),
            tenants.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < until {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if let Some(d) = world.op(&backend, &tenants, i).await {
                    lat.push(d);
                }
            }
            lat
        });
    }
    let mut lat = Vec::new();
    while let Some(l) = tasks.join_next().await {
        lat.extend(l.unwrap());
    }
    let load = started.elapsed();
    let requests = next.load(Ordering::Relaxed);
    let drain = backend.drain(&world.sandbox).await;
    let jobs = backend.jobs_finished().await - jobs_before;
    lat.sort();
    Throughput {
        requests_per_sec: requests as f64 / load.as_secs_f64(),
        jobs_per_sec: jobs as f64 / (load + drain).as_secs_f64(),
        drain_secs: drain.as_secs_f64(),
        p99: percentile(&lat, 0.99),
    }
}

/// Fairness at scale: tenant `flooder`'s auth server takes 1 s per `webhook` call and
/// `flood` Attio records are created in its workspace (each a delivered webhook, a queued
/// job); then each quiet tenant signs a user up, and the time until that user is a record
/// in its Attio workspace is measured.
async fn fairness(
    world: &Arc<World>,
    backend: &Backend,
    tenants: &[Tenant],
    flood: usize,
) -> Vec<Option<f64>> {
    let a = &tenants[0];
    world.plugins.slow.store(a.n, Ordering::Relaxed);
    let http = &world.http;
    let base_url = world.sandbox.base_url();
    let base = &base_url;
    futures::stream::iter((0..flood).map(|i| async move {
        let r = http
            .post(format!("{base}/v2/objects/users/records"))
            .bearer_auth(&a.creds.token)
            .json(&json!({"data": {"values": {"user_id": format!("flood{i}"),
                "primary_email_address": format!("flood{i}@example.com")}}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }))
    .buffer_unordered(16)
    .collect::<Vec<()>>()
    .await;
    // The flood is queued and being worked on before the quiet tenants sign up.
    let started = Instant::now();
    while world.plugins.tenants[a.n].webhooks.load(Ordering::Relaxed) == 0
        || backend
            .count("select count(*) from jobs where status = 'queued'")
            .await
            < (flood / 2) as i64
    {
        assert!(started.elapsed() < Duration::from_secs(120), "no flood");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut out = Vec::new();
    let quiet = [1, tenants.len() / 2, tenants.len() - 1];
    for (k, &q) in quiet.iter().enumerate() {
        let t = &tenants[q.max(1).min(tenants.len() - 1)];
        let user = format!("quiet{k}");
        let event = user_event(&format!("quiet-ev{k}"), "create", &user, "Quiet", "auth");
        let conn = &world.plugins.tenants[t.n].conn;
        let started = Instant::now();
        let r = post_signed_event(http, &t.event_url, conn, &event).await;
        assert!(r.status().is_success());
        let mut took = None;
        while started.elapsed() < Duration::from_secs(30) {
            let records = attio_records(&world.sandbox, &t.creds.token, "users").await;
            if records
                .iter()
                .any(|r| common::plain(r, "user_id") == json!(user))
            {
                took = Some(started.elapsed().as_secs_f64());
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        out.push(took);
    }
    out
}

/// Least-squares slope of (x, y).
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let num: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let den: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    num / den
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n_tenants = env_num("BENCH_TENANTS", 1000).max(2) as usize;
    let secs = env_num("BENCH_TENANTS_SECS", 15);
    let rate = env_num("BENCH_TENANTS_RATE", 60).max(1);
    let clients = env_num("BENCH_TENANTS_CLIENTS", 8) as usize;
    let flood = env_num("BENCH_TENANTS_FLOOD", 2000) as usize;
    let install_conc = env_num("BENCH_TENANTS_INSTALL_CONCURRENCY", 4) as usize;
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    let sandbox = Sandbox::start(SandboxConfig {
        log_limit: 1000,
        ..SandboxConfig::for_tests()
    })
    .await
    .unwrap();
    sandbox.set_rate_limits(RateLimits {
        enabled: true,
        reads_per_second: 100_000,
        writes_per_second: 100_000,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plugin_addr = listener.local_addr().unwrap();
    let plugins = Arc::new(Plugins {
        tenants: (0..n_tenants + 1)
            .map(|n| PluginTenant {
                conn: Connection::generate(
                    &format!("http://{plugin_addr}"),
                    Some(&format!("/{n}/api/auth")),
                )
                .unwrap(),
                event_url: Mutex::new(None),
                webhooks: AtomicU64::new(0),
            })
            .collect(),
        slow: AtomicUsize::new(usize::MAX),
        slow_delay: Duration::from_secs(1),
    });
    let router = Router::new()
        .route("/{n}/api/auth/attio/{action}", post(plugin_route))
        .with_state(plugins.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let world = Arc::new(World {
        sandbox,
        plugins,
        http: reqwest::Client::new(),
        seq: AtomicU64::new(0),
    });
    let dir = tempfile::tempdir().unwrap();

    // 1. One tenant on its own backend and database: the baseline.
    let one = Arc::new(Backend::start(&world.sandbox, dir.path()).await);
    let rss_one_0 = one.idle_rss(&world.sandbox).await;
    let t1 = Arc::new(world.install(&one, n_tenants..n_tenants + 1, 1).await);
    let rss_one_1 = one.idle_rss(&world.sandbox).await;
    let lat1 = latency_phase(&world, &one, &t1, rate, secs).await;
    one.drain(&world.sandbox).await;
    let thr1 = throughput_phase(&world, &one, &t1, clients, secs).await;
    Arc::into_inner(one).unwrap().stop().await;

    // 2. Many tenants on a fresh backend and database.
    let many = Arc::new(Backend::start(&world.sandbox, dir.path()).await);
    let mut rss = vec![(0usize, many.idle_rss(&world.sandbox).await)];
    let mut tenants = Vec::new();
    let install_started = Instant::now();
    for step in [100, 500, n_tenants] {
        let step = step.min(n_tenants);
        if step <= tenants.len() {
            continue;
        }
        tenants.extend(
            world
                .install(&many, tenants.len()..step, install_conc)
                .await,
        );
        rss.push((step, many.idle_rss(&world.sandbox).await));
    }
    let install_secs = install_started.elapsed().as_secs_f64();
    let tenants = Arc::new(tenants);
    // Every tenant active once: an action, an event, an Attio edit each.
    futures::stream::iter((0..tenants.len() * 3).map(|i| {
        let (world, many, tenants) = (&world, &many, &tenants);
        async move {
            world.op(many, tenants, i).await;
        }
    }))
    .buffer_unordered(clients)
    .collect::<Vec<()>>()
    .await;
    let rss_warm = many.idle_rss(&world.sandbox).await;
    let lat_n = latency_phase(&world, &many, &tenants, rate, secs).await;
    many.drain(&world.sandbox).await;
    let thr_n = throughput_phase(&world, &many, &tenants, clients, secs).await;
    let rss_after_load = many.idle_rss(&world.sandbox).await;
    let hwm = many.status_kib("VmHWM:");
    let fair = fairness(&world, &many, &tenants, flood).await;
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    Arc::into_inner(many).unwrap().stop().await;

    // Report.
    let n = tenants.len();
    let points: Vec<(f64, f64)> = rss.iter().map(|&(k, r)| (k as f64, r as f64)).collect();
    let per_inst = slope(&points);
    let base = rss[0].1 as f64;
    let warm_per_inst = (rss_warm as f64 - base) / n as f64;
    println!(
        "many-tenants benchmark (PostgreSQL, backend = release `attio-auth serve` child process, 4 workers)"
    );
    println!("load average before: {}", load_before.trim());
    println!("load average after:  {}", load_after.trim());
    println!();
    println!("| backend state | installations | VmRSS |");
    println!("|---|---|---|");
    println!(
        "| idle, own instance | 0 | {:.1} MiB |",
        rss_one_0 as f64 / 1024.0
    );
    println!(
        "| idle, own instance | 1 | {:.1} MiB |",
        rss_one_1 as f64 / 1024.0
    );
    for (k, r) in &rss {
        println!("| idle | {k} | {:.1} MiB |", *r as f64 / 1024.0);
    }
    println!(
        "| idle, every tenant active once (caches warm) | {n} | {:.1} MiB |",
        rss_warm as f64 / 1024.0
    );
    println!(
        "| idle, after the load phases | {n} | {:.1} MiB (VmHWM {:.1} MiB) |",
        rss_after_load as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!();
    println!(
        "installing {} tenants took {install_secs:.1} s ({:.1} installs/s, {install_conc} at a time, backfills included)",
        n,
        n as f64 / install_secs
    );
    println!(
        "memory per idle installation (least-squares slope over 0..{n}): {:.1} KiB = {:.2} x the 50 KiB target",
        per_inst,
        per_inst / 50.0
    );
    println!(
        "memory per installation with caches warm ((warm - 0) / {n}): {:.1} KiB = {:.2} x the 50 KiB target",
        warm_per_inst,
        warm_per_inst / 50.0
    );
    println!();
    println!("| tenants | offered load | actions | action p50 | action p99 |");
    println!("|---|---|---|---|---|");
    println!(
        "| 1 | {rate}/s mixed, {secs} s | {} | {:.2} ms | {:.2} ms |",
        lat1.actions, lat1.p50, lat1.p99
    );
    println!(
        "| {n} | {rate}/s mixed, {secs} s | {} | {:.2} ms | {:.2} ms |",
        lat_n.actions, lat_n.p50, lat_n.p99
    );
    println!(
        "p99 action latency at {n} / at 1 tenant: {:.2} (p50: {:.2})",
        lat_n.p99 / lat1.p99,
        lat_n.p50 / lat1.p50
    );
    println!();
    println!(
        "| tenants | closed loop | requests/s (1/3 each kind) | jobs finished/s (load + drain) | drain after | action p99 |"
    );
    println!("|---|---|---|---|---|---|");
    for (k, t) in [(1, &thr1), (n, &thr_n)] {
        println!(
            "| {k} | {clients} clients, {secs} s | {:.0} | {:.0} | {:.1} s | {:.2} ms |",
            t.requests_per_sec, t.jobs_per_sec, t.drain_secs, t.p99
        );
    }
    println!(
        "throughput at {n} / at 1 tenant: requests {:.2}, jobs {:.2}",
        thr_n.requests_per_sec / thr1.requests_per_sec,
        thr_n.jobs_per_sec / thr1.jobs_per_sec
    );
    println!();
    println!(
        "fairness at {n} tenants: tenant 0 has {flood} Attio webhooks queued, its auth server takes 1 s per call;"
    );
    let shown: Vec<String> = fair
        .iter()
        .map(|f| match f {
            Some(s) => format!("{s:.2} s"),
            None => "not within 30 s".into(),
        })
        .collect();
    println!(
        "a quiet tenant's sign-up is in its Attio workspace after: {} (target <= 5 s)",
        shown.join(", ")
    );
}
