//! `AttioPlugin::spawn_sync`: the worker the plugin starts itself delivers the plugin's own
//! events to a linked backend, signed with the plugin's secret, on both databases and both
//! namings; it stops when its token is cancelled; a plugin without sync refuses to start one.

use crate::common::{self, Backend, Opts, SECRET, spawn_with};
use attio_auth_plugin::store::{ColumnNaming, MemoryStore};
use attio_auth_plugin::sync::{Adapters, CancellationToken, SyncReporter};
use attio_auth_plugin::{AttioPlugin, ConfigError};
use attio_auth_shared::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, Verifier};
use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;

/// A backend's event endpoint on 127.0.0.1:0: every request's headers and body go to the
/// channel; it answers 204.
async fn receiver() -> (String, mpsc::UnboundedReceiver<(HeaderMap, Bytes)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, rx)
}

async fn delivers(backend: Backend, naming: ColumnNaming) {
    let app = spawn_with(
        backend,
        Opts {
            naming,
            ..Opts::default()
        },
    )
    .await;
    let (url, mut events) = receiver().await;
    let r = app.call("link", json!({"webhookUrl": url})).await;
    assert_eq!(r.status, 200, "{}", r.raw);

    let shutdown = CancellationToken::new();
    let worker = app.plugin.spawn_sync(shutdown.clone()).unwrap();
    let r = app
        .call(
            "create-user",
            json!({"email": "dora@example.com", "name": "Dora"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);

    // Bounded only so that a broken worker fails the test instead of hanging it.
    let (headers, body) = tokio::time::timeout(Duration::from_secs(60), events.recv())
        .await
        .expect("the worker delivered the event")
        .expect("the receiver is running");
    let h = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    Verifier::new(&[SECRET])
        .unwrap()
        .verify(
            &h(HEADER_ID),
            &h(HEADER_TIMESTAMP),
            &h(HEADER_SIGNATURE),
            &body,
            common::now(),
        )
        .expect("signed with the plugin's secret");
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["event"], json!("create"));
    assert_eq!(event["origin"], json!("auth"));
    assert_eq!(
        event["data"]["primary_email_address"],
        json!("dora@example.com")
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), worker)
        .await
        .expect("the worker stops when its token is cancelled")
        .unwrap();
    // Nothing else was sent.
    assert!(events.try_recv().is_err());
}

pub async fn the_plugin_delivers_its_events(b: Backend) {
    delivers(b, ColumnNaming::CamelCase).await;
}

pub async fn a_snake_case_store_needs_no_snake_case_reporter(b: Backend) {
    // The plugin gets a plain reporter (as `spawn_with` gives it too) and must still fan
    // out to `attio_integration`.
    let app = spawn_with(
        b,
        Opts {
            naming: ColumnNaming::SnakeCase,
            ..Opts::default()
        },
    )
    .await;
    let plugin = AttioPlugin::builder()
        .secret(SECRET)
        .store(app.store.clone())
        .sync(SyncReporter::new(Adapters::default()))
        .build()
        .unwrap();
    assert_eq!(
        plugin.reporter().unwrap().links(),
        &attio_auth_plugin::sync::LinkTable::snake_case()
    );
    delivers(b, ColumnNaming::SnakeCase).await;
}

both!(
    the_plugin_delivers_its_events,
    a_snake_case_store_needs_no_snake_case_reporter
);

#[tokio::test]
async fn no_worker_without_sync() {
    let plain = AttioPlugin::builder()
        .secret(SECRET)
        .store(MemoryStore::new())
        .build()
        .unwrap();
    assert!(matches!(
        plain.spawn_sync(CancellationToken::new()),
        Err(ConfigError::NoSyncWorker)
    ));
}

#[tokio::test]
async fn unusable_delivery_settings_are_refused_at_build() {
    let store = attio_auth_plugin::store::SqlxStore::sqlite(
        sqlx::SqlitePool::connect_lazy("sqlite::memory:").unwrap(),
    );
    let built = AttioPlugin::builder()
        .secret(SECRET)
        .store(store)
        .sync(SyncReporter::new(Adapters::default()))
        .delivery(attio_auth_plugin::sync::DeliveryConfig {
            lease: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
            ..Default::default()
        })
        .build();
    assert!(matches!(built, Err(ConfigError::Delivery(m)) if m.contains("lease")));
}
