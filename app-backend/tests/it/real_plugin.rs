//! The backend with the real Rust auth plugin (attio-auth-plugin, mounted in a small axum
//! server over its sqlx store on SQLite, with its outbox delivery worker) and attio-sandbox:
//! install, actions, and both sync directions end to end.

use std::time::Duration;

use crate::common::*;
use attio_auth_plugin::AttioPlugin;
use attio_auth_plugin::store::SqlxStore;
use attio_auth_plugin::sync::{Adapters, DeliveryConfig, OutboxDb, SyncReporter};
use attio_auth_shared::connection::Connection;
use attio_sandbox::RateLimits;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// The real plugin on a random port: its connection string's connection, and its outbox
/// (the events it has still to deliver).
async fn spawn_real_plugin(dir: &std::path::Path) -> (Connection, OutboxDb) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conn = Connection::generate(&format!("http://{addr}"), None).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("auth.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let store = SqlxStore::sqlite(pool.clone());
    store.install_better_auth_schema(true).await.unwrap();
    store.migrate().await.unwrap();
    // Wired as a customer wires it: `.sync()` and `.delivery()`, then `spawn_sync`.
    let plugin = AttioPlugin::builder()
        .secret(conn.secret().expose_secret())
        .store(store)
        .sync(SyncReporter::new(Adapters::default()))
        .delivery(DeliveryConfig {
            initial_backoff: Duration::from_millis(50),
            ..DeliveryConfig::default()
        })
        .base_url(format!("http://{addr}/api/auth"))
        .build()
        .unwrap();
    let router = axum::Router::new().nest("/api/auth", plugin.router());
    plugin
        .spawn_sync(tokio_util::sync::CancellationToken::new())
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (conn, OutboxDb::Sqlite(pool))
}

/// Nothing in flight between the three (checked twice in a row, as a change moves on from
/// one to the next): the plugin's outbox, the backend's queue and the sandbox's webhook
/// deliveries.
async fn settled(outbox: &OutboxDb, app: &TestApp, sandbox: &attio_sandbox::SandboxHandle) {
    let in_a_row = std::cell::Cell::new(0);
    eventually("the plugin, the backend and Attio settled", || async {
        let idle = outbox.pending_count().await.unwrap() == 0
            && app.state.queue.depth().await.unwrap() == 0
            && sandbox.deliveries_in_flight() == 0;
        in_a_row.set(if idle { in_a_row.get() + 1 } else { 0 });
        in_a_row.get() >= 2
    })
    .await;
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
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    sandbox.set_rate_limits(RateLimits {
        enabled: false,
        reads_per_second: 100,
        writes_per_second: 25,
    });
    add_sandbox_member(creds.workspace_id);
    let plugin_dir = tempfile::tempdir().unwrap();
    let (conn, outbox) = spawn_real_plugin(plugin_dir.path()).await;
    let app = spawn_app(db, &api_url(&sandbox)).await;
    let (status, body) = install(&app, &conn, &creds.token).await;
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
    let users = || attio_records(&sandbox, &creds.token, "users");

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

    // A change made in Attio reaches the auth server, and the auth server's event about it
    // (origin Attio) comes back to the backend, which does not write it to Attio again.
    settled(&outbox, &app, &sandbox).await;
    let echoes_skipped = app.state.metrics.echoes_skipped.get();
    assert_eq!(
        attio_write(
            &sandbox,
            &creds.token,
            reqwest::Method::PATCH,
            &format!("/v2/objects/users/records/{record_id}"),
            Some(&json!({"data": {"values": {"name": "Carol from Attio"}}}))
        )
        .await,
        200
    );
    eventually("the rename in the auth server", || async {
        let (_, found) = w(
            "search-users",
            json!({"action": "search-users", "params": {"search": "carol"}}),
        )
        .await;
        found.to_string().contains("Carol from Attio")
    })
    .await;
    eventually(
        "the auth server's event about the rename, skipped",
        || async { app.state.metrics.echoes_skipped.get() > echoes_skipped },
    )
    .await;
    settled(&outbox, &app, &sandbox).await;
    let log = sandbox.requests();
    let rename = log
        .iter()
        .rposition(|r| r.method == "PATCH" && r.path.contains(&record_id))
        .unwrap();
    let written_back: Vec<String> = log[rename + 1..]
        .iter()
        .filter(|r| r.method != "GET" && r.path.starts_with("/v2/objects/users/records"))
        .filter(|r| !r.path.ends_with("/query"))
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect();
    assert!(
        written_back.is_empty(),
        "the echo was written back to Attio: {written_back:?}"
    );
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
    assert_eq!(
        attio_write(
            &sandbox,
            &creds.token,
            reqwest::Method::DELETE,
            &format!("/v2/objects/users/records/{record_id}"),
            None
        )
        .await,
        200
    );
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
