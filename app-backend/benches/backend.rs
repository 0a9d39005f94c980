//! Benchmark binary (issues 5 and 18): in one run,
//!
//! 1. backfill throughput and the backend's memory, at each size of `BENCH_USERS` (a comma
//!    list, default `20000,100000`): N users exported by a fake auth plugin and asserted into
//!    attio-sandbox whose write limit is `BENCH_RATE` per second (default 500; Attio's real
//!    25/s would take 67 minutes for 100 000), reported as a share of that limit (target:
//!    at least 95%). Each size runs a fresh backend as a child process (the release binary,
//!    `attio-auth serve`, configured through its environment, its own SQLite file), so its
//!    peak RSS (VmHWM of `/proc/<pid>/status`) is the backend's alone: the sandbox, which
//!    keeps every record in memory, and the fake plugin stay in this process. Target: the
//!    backend's peak at the largest size no more than +10% over the smallest;
//! 2. action forwarding overhead: p50/p90/p99 of `user-details` called directly on the plugin
//!    (signed) versus through `POST /v1/actions/user-details` of the first size's backend
//!    (signed, verified, replay-checked, resolved, forwarded, audited), target <= 1 ms p50
//!    overhead;
//! 3. peak memory of this process (sandbox and fake plugin), for reference.
//!
//! Run: `cargo bench -p attio-auth-backend --bench backend`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

use attio_auth_shared::connection::Connection;
use attio_auth_shared::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, Signer, Verifier};
use attio_sandbox::{RateLimits, Sandbox, SandboxConfig, SandboxHandle, WorkspaceOptions};

/// The Attio workspace member the benchmark acts as.
const BENCH_MEMBER: &str = "b0000000-0000-4000-8000-00000000be0c";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct PluginState {
    conn: Connection,
    users: usize,
}

async fn plugin(
    State(st): State<Arc<PluginState>>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<Value> {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    Verifier::from_secret(st.conn.secret())
        .unwrap()
        .verify(
            &h(HEADER_ID),
            &h(HEADER_TIMESTAMP),
            &h(HEADER_SIGNATURE),
            &body,
            now(),
        )
        .expect("signed by the backend");
    let req: Value = serde_json::from_slice(&body).unwrap();
    axum::Json(match action.as_str() {
        "ping" => json!({"ok": true, "version": "bench", "features": {}}),
        "link" => json!({"webhookId": "bench-link"}),
        "user-details" => {
            json!({"banned": false, "bannedUntil": null, "banReason": null, "role": "user"})
        }
        "export" => {
            let start: usize = req["cursor"]
                .as_str()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let limit = req["limit"].as_u64().unwrap_or(100) as usize;
            let end = (start + limit).min(st.users);
            let users: Vec<Value> = (start..end)
                .map(|i| json!({"id": format!("user{i}"), "email": format!("user{i}@example.com"),
                    "name": format!("User {i}"), "emailVerified": true, "image": null, "role": "user",
                    "banned": false, "attioId": null, "createdAt": "2026-01-01T00:00:00.000Z",
                    "updatedAt": "2026-01-01T00:00:00.000Z"}))
                .collect();
            let next = (end < st.users).then(|| end.to_string());
            json!({"users": users, "organizations": [], "nextCursor": next})
        }
        _ => json!({"success": true}),
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// A `/proc/<pid>/status` figure in KiB (`VmHWM:` the peak resident set, `VmRSS:` now).
fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The fake auth plugin for `users` users, on its own port.
async fn start_plugin(users: usize) -> (SocketAddr, Connection) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conn = Connection::generate(&format!("http://{addr}"), None).unwrap();
    let pstate = Arc::new(PluginState {
        conn: conn.clone(),
        users,
    });
    let router = Router::new()
        .route("/api/auth/attio/{action}", post(plugin))
        .with_state(pstate);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, conn)
}

/// The backend as a child process (`attio-auth serve`, release build), killed on drop.
struct Backend {
    child: std::process::Child,
    addr: SocketAddr,
    /// Its DATA_DIR (the SQLite file), removed on drop.
    dir: tempfile::TempDir,
}

impl Backend {
    async fn start(attio_url: &str, rate: u32) -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_attio-auth"));
        cmd.arg("serve")
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("DATA_DIR", dir.path())
            .env(
                "ENCRYPTION_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )
            .env("ATTIO_API_URL", attio_url)
            .env("ATTIO_WRITES_PER_SEC", rate.to_string())
            .env("ATTIO_READS_PER_SEC", "10000")
            // The fake plugin is on loopback.
            .env("ALLOW_PRIVATE_PLUGIN_URLS", "true")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match std::env::var("BENCH_DATABASE_URL") {
            Ok(url) => cmd.env("DATABASE_URL", url),
            Err(_) => cmd.env_remove("DATABASE_URL"),
        };
        let child = cmd.spawn().expect("attio-auth serve");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("http://{addr}/readyz")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "the backend did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Backend { child, addr, dir }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Its database, to read what the backend stored.
    async fn db(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| {
            format!(
                "sqlite://{}?mode=ro",
                self.dir.path().join("attio-auth.db").display()
            )
        });
        sqlx::AnyPool::connect(&url).await.unwrap()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One backfill run's figures.
struct Backfill {
    users: usize,
    secs: f64,
    per_sec: f64,
    share: f64,
    rejected: usize,
    /// The backend's peak RSS, KiB, after the backfill.
    hwm_kib: u64,
    /// Its RSS at the end, KiB.
    rss_kib: u64,
}

/// Install a fresh workspace on a fresh backend and time its backfill of `users` users.
async fn backfill(sandbox: &SandboxHandle, rate: u32, users: usize) -> (Backfill, Backend, Run) {
    let creds = sandbox.create_workspace(WorkspaceOptions {
        enable_objects: vec!["users".into(), "workspaces".into()],
        ..Default::default()
    });
    // The acting member the app names (the backend resolves the actor through Attio).
    attio_sandbox::add_workspace_member(
        creds.workspace_id,
        attio_sandbox::WorkspaceMember::admin(
            uuid::Uuid::parse_str(BENCH_MEMBER).unwrap(),
            "bench@example.com",
        ),
    );
    let (plugin_addr, conn) = start_plugin(users).await;
    let backend = Backend::start(&format!("{}/v2", sandbox.base_url()), rate).await;
    let addr = backend.addr;
    let http = reqwest::Client::new();
    let rejected_before = sandbox
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();

    let r: Value = http
        .post(format!("http://{addr}/v1/installations"))
        .json(&json!({"connection": conn.encode(), "attioToken": creds.token}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let inst = r["installation"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("installed: {r}"))
        .to_owned();
    if std::env::var("BENCH_NO_WEBHOOK").is_ok() {
        // Diagnosis: remove the Attio webhook so our own writes do not come back.
        let hooks: Value = http
            .get(format!("{}/v2/webhooks", sandbox.base_url()))
            .bearer_auth(&creds.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for h in hooks["data"].as_array().unwrap() {
            let id = h["id"]["webhook_id"].as_str().unwrap();
            http.delete(format!("{}/v2/webhooks/{id}", sandbox.base_url()))
                .bearer_auth(&creds.token)
                .send()
                .await
                .unwrap();
        }
    }
    // Progress through the signed GET the Attio app uses.
    let app_signer =
        Signer::from_secret(&attio_auth_backend::app_auth::signing_secret(&conn)).unwrap();
    let started = Instant::now();
    loop {
        let h = app_signer.headers(b"", now()).unwrap();
        let mut req = http
            .get(format!("http://{addr}/v1/installations/{inst}/backfill"))
            .header("attio-workspace-id", creds.workspace_id.to_string());
        for (k, v) in h.pairs() {
            req = req.header(k, v);
        }
        let p: Value = req.send().await.unwrap().json().await.unwrap();
        match p["data"]["status"].as_str() {
            Some("done") => break,
            Some("failed") => panic!("backfill failed: {p}"),
            Some(_) => {}
            None => panic!("backfill progress: {p}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    // Let the last webhooks (our own writes coming back) be handled before reading memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let per_sec = users as f64 / secs;
    let rejected = sandbox
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count()
        .saturating_sub(rejected_before);
    let figures = Backfill {
        users,
        secs,
        per_sec,
        share: per_sec / f64::from(rate) * 100.0,
        rejected,
        hwm_kib: status_kib(&backend.pid(), "VmHWM:"),
        rss_kib: status_kib(&backend.pid(), "VmRSS:"),
    };
    let run = Run {
        plugin_addr,
        conn,
        workspace_id: creds.workspace_id.to_string(),
        installation_id: inst,
    };
    (figures, backend, run)
}

/// What the overhead measurement needs of a backfill run.
struct Run {
    plugin_addr: SocketAddr,
    conn: Connection,
    workspace_id: String,
    installation_id: String,
}

/// `user-details` directly on the plugin and through the backend, `calls` times each (after
/// 100 of warm-up).
async fn overhead(backend: &Backend, run: &Run, calls: usize) -> (Vec<Duration>, Vec<Duration>) {
    let http = reqwest::Client::new();
    let signer = Signer::from_secret(run.conn.secret()).unwrap();
    let app_signer =
        Signer::from_secret(&attio_auth_backend::app_auth::signing_secret(&run.conn)).unwrap();
    let record_id: String = {
        use sqlx::Row as _;
        let db = backend.db().await;
        let id = sqlx::query(
            "select record_id from record_links where installation_id = $1 and auth_id = 'user1'",
        )
        .bind(&run.installation_id)
        .fetch_one(&db)
        .await
        .unwrap()
        .get("record_id");
        db.close().await;
        id
    };
    let (plugin_addr, addr) = (run.plugin_addr, backend.addr);
    let mut direct = Vec::with_capacity(calls);
    let mut via = Vec::with_capacity(calls);
    for i in 0..calls + 100 {
        let body =
            serde_json::to_vec(&json!({"action": "user-details", "userId": "user1"})).unwrap();
        let h = signer.headers(&body, now()).unwrap();
        let t = Instant::now();
        let mut req = http.post(format!("http://{plugin_addr}/api/auth/attio/user-details"));
        for (k, v) in h.pairs() {
            req = req.header(k, v);
        }
        let r = req.body(body).send().await.unwrap();
        assert!(r.status().is_success());
        r.bytes().await.unwrap();
        let d1 = t.elapsed();

        let body = serde_json::to_vec(&json!({"action": "user-details",
            "actor": {"email": "bench@example.com", "workspaceMemberId": BENCH_MEMBER},
            "target": {"object": "users", "recordId": record_id}}))
        .unwrap();
        let h = app_signer.headers(&body, now()).unwrap();
        let t = Instant::now();
        let mut req = http
            .post(format!("http://{addr}/v1/actions/user-details"))
            .header("attio-workspace-id", &run.workspace_id);
        for (k, v) in h.pairs() {
            req = req.header(k, v);
        }
        let r = req.body(body).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        r.bytes().await.unwrap();
        let d2 = t.elapsed();
        if i >= 100 {
            direct.push(d1);
            via.push(d2);
        }
    }
    direct.sort();
    via.sort();
    (direct, via)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_USERS")
        .unwrap_or_else(|_| "20000,100000".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    assert!(
        !sizes.is_empty(),
        "BENCH_USERS: a comma list of user counts"
    );
    let rate = env_num("BENCH_RATE", 500) as u32;
    let calls = env_num("BENCH_CALLS", 2000) as usize;

    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
    sandbox.set_rate_limits(RateLimits {
        enabled: true,
        reads_per_second: 10_000,
        writes_per_second: rate,
    });

    // 0. The sandbox alone: the same asserts straight from the Attio client, 8 in flight, in
    //    another workspace (what the backfill could reach at best on this machine).
    let direct_ws = sandbox.create_workspace(WorkspaceOptions {
        enable_objects: vec!["users".into(), "workspaces".into()],
        ..Default::default()
    });
    let client = attio_auth_backend::attio::AttioClient::new(
        reqwest::Client::new(),
        &format!("{}/v2", sandbox.base_url()),
        rate,
        10_000,
        6,
    );
    let auth = attio_auth_backend::attio::AttioAuth {
        workspace: direct_ws.workspace_id.to_string(),
        token: secrecy::SecretString::from(direct_ws.token.clone()),
    };
    let direct_n = sizes[0].min(2000);
    let t = Instant::now();
    {
        use futures::StreamExt as _;
        let futs: Vec<_> = (0..direct_n)
            .map(|i| {
                let (client, auth) = (client.clone(), auth.clone());
                async move {
                    let body = json!({"data": {"values": {"user_id": format!("d{i}"),
                        "primary_email_address": format!("d{i}@example.com")}}});
                    client
                        .assert_record(&auth, "users", "user_id", &body)
                        .await
                        .unwrap();
                }
            })
            .collect();
        futures::stream::iter(futs)
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
    }
    let direct_rate = direct_n as f64 / t.elapsed().as_secs_f64();

    // 1. A backfill per size, each on a fresh backend; 2. the overhead on the first one.
    let mut runs = Vec::new();
    let mut timing = None;
    for (i, &users) in sizes.iter().enumerate() {
        let (figures, backend, run) = backfill(&sandbox, rate, users).await;
        eprintln!(
            "backfill of {users} users: {:.1} s, backend peak {} MiB",
            figures.secs,
            figures.hwm_kib / 1024
        );
        if i == 0 {
            timing = Some(overhead(&backend, &run, calls).await);
        }
        runs.push(figures);
        drop(backend);
    }
    let (direct, via) = timing.unwrap();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p50_over = ms(percentile(&via, 0.5)) - ms(percentile(&direct, 0.5));

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "attio-auth backend benchmark ({}; load average at the end: {})",
        if std::env::var("BENCH_DATABASE_URL").is_ok() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "sandbox alone (Attio client, 8 in flight, {direct_n} asserts): {direct_rate:.1} writes/s"
    );
    println!(
        "| users | backfill | writes/s | share of the {rate}/s limit | 429s | backend peak RSS (VmHWM) | backend RSS after |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for r in &runs {
        println!(
            "| {} | {:.1} s | {:.1} | {:.1}% | {} | {:.1} MiB | {:.1} MiB |",
            r.users,
            r.secs,
            r.per_sec,
            r.share,
            r.rejected,
            r.hwm_kib as f64 / 1024.0,
            r.rss_kib as f64 / 1024.0
        );
    }
    if let (Some(first), Some(last)) = (runs.first(), runs.last())
        && runs.len() > 1
    {
        let growth = (last.hwm_kib as f64 / first.hwm_kib as f64 - 1.0) * 100.0;
        println!(
            "backend peak RSS from {} to {} users: {growth:+.1}% (target <= +10%: {})",
            first.users,
            last.users,
            if growth <= 10.0 { "met" } else { "missed" }
        );
    }
    println!(
        "user-details direct: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms",
        ms(percentile(&direct, 0.5)),
        ms(percentile(&direct, 0.9)),
        ms(percentile(&direct, 0.99))
    );
    println!(
        "user-details via backend: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms",
        ms(percentile(&via, 0.5)),
        ms(percentile(&via, 0.9)),
        ms(percentile(&via, 0.99))
    );
    println!("forwarding overhead p50: {p50_over:.3} ms (target <= 1 ms) over {calls} calls");
    println!(
        "peak memory of this process (sandbox with every record, fake plugin; not the backend): {} MiB",
        status_kib("self", "VmHWM:") / 1024
    );
}
