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

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use attio_auth_backend::jobs::JobKind;
use attio_auth_shared::connection::Protocol;
use attio_auth_shared::signing::Signer;
use attio_sandbox::{Sandbox, SandboxConfig, WorkspaceCredentials, WorkspaceOptions};
use common::*;
use serde_json::{Value, json};

fn postgres() -> bool {
    std::env::var("BENCH_POSTGRES").is_ok_and(|v| v == "1")
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn install(app: &TestApp, plugin: &FakePlugin, creds: &WorkspaceCredentials) -> String {
    let r = app
        .http
        .post(app.url("/v1/installations"))
        .json(&json!({"connection": plugin.connection.encode(), "attioToken": creds.token}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    body["installation"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("install: {body}"))
        .to_owned()
}

async fn b_users(base: &str, creds: &WorkspaceCredentials) -> usize {
    let r: Value = reqwest::Client::new()
        .post(format!("{base}/v2/objects/users/records/query"))
        .bearer_auth(&creds.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["data"].as_array().map_or(0, Vec::len)
}

/// One row: (seconds until B's record is in Attio or None past the bound, A's calls made).
async fn run(flood: usize, delay: Duration, bound: Duration) -> (Option<f64>, usize) {
    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
    let opts = || WorkspaceOptions {
        enable_objects: vec!["users".into(), "workspaces".into()],
        ..Default::default()
    };
    let (creds_a, creds_b) = (
        sandbox.create_workspace(opts()),
        sandbox.create_workspace(opts()),
    );
    let plugin_a = spawn_plugin(Protocol::SignedV1).await;
    let plugin_b = spawn_plugin(Protocol::SignedV1).await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(
        dir.path(),
        if postgres() {
            Some(fresh_postgres_url().await)
        } else {
            None
        },
        &format!("{}/v2", sandbox.base_url()),
    );
    config.workers = 4;
    config.http_timeout = Duration::from_secs(60);
    let app = spawn_app_with(config, dir).await;
    let inst_a = install(&app, &plugin_a, &creds_a).await;
    install(&app, &plugin_b, &creds_b).await;
    while app.state.queue.depth().await.unwrap() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    plugin_a
        .state
        .lock()
        .unwrap()
        .delays
        .insert("webhook".into(), delay);
    let objects: Value = reqwest::Client::new()
        .get(format!("{}/v2/objects/users", sandbox.base_url()))
        .bearer_auth(&creds_a.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let object_id = objects["data"]["id"]["object_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..flood {
        let record_id = format!("00000000-0000-4000-8000-{i:012}");
        let event = json!({"webhook_id": "wh", "event": {"event_type": "record.deleted",
            "id": {"workspace_id": creds_a.workspace_id.to_string(), "object_id": object_id,
                   "record_id": record_id},
            "actor": {"type": "workspace-member", "id": "member-a"}}});
        app.state
            .queue
            .enqueue(
                &inst_a,
                JobKind::AttioWebhook,
                Some(&format!("attio:{inst_a}:{record_id}")),
                Some(&format!("flood{i}")),
                &event,
            )
            .await
            .unwrap();
    }
    // A's flood is being worked on (its calls in flight) before B signs up.
    while plugin_a.calls("webhook").is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let event_url = plugin_b.calls("link")[0].body["webhookUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = json!({
        "id": "evt_b", "event": "create",
        "data": {"record_id": null, "user_id": "user-b", "primary_email_address": "b@example.com",
                 "name": "B", "email_verified": false},
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "origin": "auth",
        "adapter": serde_json::to_value(attio_auth_shared::sync::AdapterInfo::default_user()).unwrap(),
    });
    let body = serde_json::to_vec(&event).unwrap();
    let now = chrono::Utc::now().timestamp();
    let started = Instant::now();
    let mut req = app
        .http
        .post(&event_url)
        .header("content-type", "application/json");
    for (k, v) in Signer::from_secret(plugin_b.connection.secret())
        .unwrap()
        .headers(&body, now)
        .unwrap()
        .pairs()
    {
        req = req.header(k, v);
    }
    assert!(req.body(body).send().await.unwrap().status().is_success());
    let base = sandbox.base_url();
    let mut took = None;
    while started.elapsed() < bound {
        if b_users(&base, &creds_b).await == 1 {
            took = Some(started.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let a_calls = plugin_a.calls("webhook").len();
    app.shutdown.cancel();
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
