//! `AttioPlugin::spawn_sync`: the worker the plugin starts itself delivers the plugin's own
//! events to a linked backend, signed with the plugin's secret, on both databases and both
//! namings; it stops when its token is cancelled; a plugin without sync refuses to start one.
//! A commit wakes the idle worker long before its poll would: one of the same process
//! (in-process notify), and on PostgreSQL one of another instance (`LISTEN/NOTIFY`).

use crate::common::{self, Backend, Opts, SECRET, TestApp, spawn_with};
use attio_auth_plugin::store::{ColumnNaming, MemoryStore, NewUser, Report};
use attio_auth_plugin::sync::{Adapters, CancellationToken, DeliveryConfig, Origin, SyncReporter};
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
    a_snake_case_store_needs_no_snake_case_reporter,
    a_commit_wakes_the_idle_worker
);

/// A worker that looks for due deliveries once a minute when idle: anything delivered
/// sooner was woken.
const SLOW_POLL: Duration = Duration::from_secs(60);

/// One plugin instance over the test's database, with its own reporter (so its own wake
/// handle) and a worker that polls every [`SLOW_POLL`].
fn instance(app: &TestApp) -> AttioPlugin {
    AttioPlugin::builder()
        .secret(SECRET)
        .store(app.store.clone())
        .sync(SyncReporter::new(Adapters::default()))
        .delivery(DeliveryConfig {
            poll_interval: SLOW_POLL,
            ..DeliveryConfig::default()
        })
        .build()
        .unwrap()
}

/// A sign-up through `plugin`'s store, reported in its transaction (no explicit notify: the
/// store's commit is what must wake the worker).
async fn sign_up(plugin: &AttioPlugin, email: &str) {
    plugin
        .store()
        .create_user(
            NewUser {
                id: format!("u{}", uuid::Uuid::new_v4().simple()),
                name: "Woken".into(),
                email: email.into(),
                email_verified: false,
                image: None,
                role: Some("user".into()),
                attio_id: None,
                now: common::iso(0),
            },
            Some(Report {
                reporter: plugin.reporter().unwrap(),
                origin: Origin::Auth,
            }),
        )
        .await
        .unwrap();
}

/// `worker`'s worker is started and left to go idle (its first pass finds nothing); then
/// `writer` signs a user up. The event must arrive within half the poll interval: the poll
/// cannot have run by then, so only a wake can have sent it.
async fn wakes(app: &TestApp, writer: &AttioPlugin, worker: &AttioPlugin) {
    let (url, mut events) = receiver().await;
    let r = app.call("link", json!({"webhookUrl": url})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let shutdown = CancellationToken::new();
    let task = worker.spawn_sync(shutdown.clone()).unwrap();
    // Not an assertion: time for the first pass to end, so that the event below is not
    // picked up by it (which would let the test pass without a wake).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    sign_up(writer, "woken@example.com").await;
    let (_, body) = tokio::time::timeout(SLOW_POLL / 2, events.recv())
        .await
        .expect("delivered before the worker's poll could run: the commit woke it")
        .expect("the receiver is running");
    assert!(started.elapsed() < SLOW_POLL);
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        event["data"]["primary_email_address"],
        json!("woken@example.com")
    );
    shutdown.cancel();
    task.await.unwrap();
}

pub async fn a_commit_wakes_the_idle_worker(b: Backend) {
    let app = spawn_with(b, Opts::default()).await;
    let plugin = instance(&app);
    wakes(&app, &plugin, &plugin).await;
}

/// Two instances on one PostgreSQL database: the writer's in-process notify cannot reach
/// the other's worker; its `NOTIFY` at commit does.
pub async fn a_commit_of_another_instance_wakes_the_worker(b: Backend) {
    let app = spawn_with(b, Opts::default()).await;
    let writer = instance(&app);
    let worker = instance(&app);
    wakes(&app, &writer, &worker).await;
}

mod across_instances {
    suite!(
        super::Backend::Postgres,
        a_commit_of_another_instance_wakes_the_worker
    );
}

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
