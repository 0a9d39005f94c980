//! The backend with the real Rust auth plugin (attio-auth-plugin, mounted in a small axum
//! server over its sqlx store on SQLite, with its outbox delivery worker) and attio-sandbox:
//! install, actions, and both sync directions end to end.

use std::future::Future;
use std::time::{Duration, Instant};

use attio_auth_plugin::AttioPlugin;
use attio_auth_plugin::store::SqlxStore;
use attio_auth_plugin::sync::{
    Adapters, DeliveryConfig, DeliveryWorker, LinkTable, OutboxDb, SyncReporter,
};
use attio_auth_shared::connection::Connection;
use attio_auth_shared::signing::Signer;
use attio_sandbox::{RateLimits, Sandbox, SandboxConfig, WorkspaceOptions};
use crate::common::*;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// The real plugin on a random port; returns its connection string's connection.
async fn spawn_real_plugin(dir: &std::path::Path) -> Connection {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conn = Connection::generate(&format!("http://{addr}"), None).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("auth.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let store = SqlxStore::sqlite(pool.clone());
    store.install_better_auth_schema(true).await.unwrap();
    store.migrate().await.unwrap();
    let outbox = OutboxDb::Sqlite(pool);
    outbox.create_tables().await.unwrap();
    let signer = Signer::from_secret(conn.secret()).unwrap();
    let config = DeliveryConfig {
        initial_backoff: Duration::from_millis(50),
        ..DeliveryConfig::default()
    };
    let worker = DeliveryWorker::new(outbox, LinkTable::default(), Some(signer), config).unwrap();
    let reporter = SyncReporter::new(Adapters::default()).with_handle(worker.handle());
    let plugin = AttioPlugin::builder()
        .secret(conn.secret().expose_secret())
        .store(store)
        .sync(reporter)
        .base_url(format!("http://{addr}/api/auth"))
        .build()
        .unwrap();
    let router = axum::Router::new().nest("/api/auth", plugin.router());
    worker.spawn(tokio_util::sync::CancellationToken::new());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_plugin_install_actions_and_sync_both_ways_sqlite() {
    real_plugin_install_actions_and_sync_both_ways(DbChoice::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_plugin_install_actions_and_sync_both_ways_postgres() {
    real_plugin_install_actions_and_sync_both_ways(DbChoice::Postgres).await;
}

/// The backend on `db`; the plugin's own store on SQLite.
async fn real_plugin_install_actions_and_sync_both_ways(db: DbChoice) {
    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
    sandbox.set_rate_limits(RateLimits {
        enabled: false,
        reads_per_second: 100,
        writes_per_second: 25,
    });
    let creds = sandbox.create_workspace(WorkspaceOptions {
        enable_objects: vec!["users".into(), "workspaces".into()],
        ..Default::default()
    });
    add_sandbox_member(creds.workspace_id);
    let plugin_dir = tempfile::tempdir().unwrap();
    let conn = spawn_real_plugin(plugin_dir.path()).await;
    let app = spawn_app(db, &format!("{}/v2", sandbox.base_url())).await;
    let r = app
        .http
        .post(app.url("/v1/installations"))
        .json(&json!({"connection": conn.encode(), "attioToken": creds.token}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert!(body["plugin"]["version"].is_string(), "{body}");

    let workspace = creds.workspace_id.to_string();
    let w = |action: &'static str, body: Value| {
        let app = &app;
        let conn = &conn;
        let workspace = workspace.clone();
        async move {
            let bytes = serde_json::to_vec(&with_actor(body)).unwrap();
            let mut req = app
                .http
                .post(app.url(&format!("/v1/actions/{action}")))
                .header("content-type", "application/json");
            for (k, v) in app_headers_for(conn, &workspace, &bytes) {
                req = req.header(k, v);
            }
            let resp = req.body(bytes).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let users = || async {
        let r: Value = reqwest::Client::new()
            .post(format!(
                "{}/v2/objects/users/records/query",
                sandbox.base_url()
            ))
            .bearer_auth(&creds.token)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["data"].as_array().cloned().unwrap_or_default()
    };

    // create-user through the backend: the plugin creates the user, its event comes back to
    // the backend and lands in Attio.
    let (status, created) = w(
        "create-user",
        json!({"action": "create-user", "actor": {"email": "admin@acme.com"},
               "params": {"email": "Carol@Example.com", "name": "Carol"}}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    eventually("the new user in Attio", || async {
        !users().await.is_empty()
    })
    .await;
    let rec = users().await[0].clone();
    let record: attio_auth_shared::sync::AttioRecord = serde_json::from_value(rec).unwrap();
    assert_eq!(record.plain("primary_email_address"), "carol@example.com");
    assert_eq!(record.plain("name"), "Carol");
    let record_id = record.id.record_id.clone();
    let target = json!({"object": "users", "recordId": record_id});

    // Actions on the Attio record reach the right user.
    let (status, details) = w(
        "user-details",
        json!({"action": "user-details", "target": target}),
    )
    .await;
    assert_eq!(status, 200, "{details}");
    assert_eq!(details["data"]["banned"], false);
    let (status, banned) = w(
        "update-ban-status",
        json!({"action": "update-ban-status", "target": target, "params": {"banned": true, "banReason": "spam"}}),
    )
    .await;
    assert_eq!(status, 200, "{banned}");
    let (_, details) = w(
        "user-details",
        json!({"action": "user-details", "target": target}),
    )
    .await;
    assert_eq!(details["data"]["banned"], true, "{details}");
    assert_eq!(details["data"]["banReason"], "spam");

    // A change made in Attio reaches the auth server.
    let r = reqwest::Client::new()
        .patch(format!(
            "{}/v2/objects/users/records/{record_id}",
            sandbox.base_url()
        ))
        .bearer_auth(&creds.token)
        .json(&json!({"data": {"values": {"name": "Carol from Attio"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    eventually("the rename in the auth server", || async {
        let (_, found) = w(
            "search-users",
            json!({"action": "search-users", "params": {"search": "carol"}}),
        )
        .await;
        found.to_string().contains("Carol from Attio")
    })
    .await;
    // Nothing came back as a second Attio write loop: the record still has one name value.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rec = users().await[0].clone();
    let record: attio_auth_shared::sync::AttioRecord = serde_json::from_value(rec).unwrap();
    assert_eq!(record.plain("name"), "Carol from Attio");

    // A feature the auth server lacks (no mailer here) answers 501 with the plugin's code.
    let (status, reset) = w(
        "send-password-reset",
        json!({"action": "send-password-reset", "target": target}),
    )
    .await;
    assert_eq!(status, 501, "{reset}");
    assert_eq!(reset["ok"], false);

    // A delete in Attio reaches the auth server (the original could not do this).
    let (_, found) = w(
        "search-users",
        json!({"action": "search-users", "params": {"search": "carol"}}),
    )
    .await;
    assert!(found.to_string().contains("carol@example.com"), "{found}");
    let r = reqwest::Client::new()
        .delete(format!(
            "{}/v2/objects/users/records/{record_id}",
            sandbox.base_url()
        ))
        .bearer_auth(&creds.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    eventually("the user gone from the auth server", || async {
        let (_, found) = w(
            "search-users",
            json!({"action": "search-users", "params": {"search": "carol"}}),
        )
        .await;
        !found.to_string().contains("carol@example.com")
    })
    .await;
}
