//! Hosts without a long-running process (issue 17 item 10), on SQLite, PostgreSQL and
//! MariaDB: no delivery worker runs, yet the events a request enqueued reach the backend (a
//! test receiver on 127.0.0.1) right after it, through a spawned task or the host's
//! `wait_until` hook, and `drain_outbox()` (the cron call) delivers what is left; each
//! event arrives exactly once, also when drains race each other.

use crate::common::{self, Backend, Caller, TestApp, spawn};
use attio_auth_plugin::AttioPlugin;
use attio_auth_plugin::store::DbPool;
use attio_auth_plugin::sync::{Adapters, DeliveryConfig, DeliveryWorker, LinkTable, SyncReporter};
use attio_auth_shared::signing::Signer;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What the backend received: `(webhook-id, event id)` per POST.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    /// Serves on 127.0.0.1 and answers 200 after a short pause (so that drains that race
    /// overlap while a send is in flight); its events URL.
    async fn start(&self) -> String {
        let got = self.got.clone();
        let app = axum::Router::new().route(
            "/events",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let got = got.clone();
                async move {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                    let id = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let event: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let event_id = event["id"].as_str().unwrap_or("").to_owned();
                    got.lock().unwrap().push((id, event_id));
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        url
    }

    fn received(&self) -> Vec<(String, String)> {
        self.got.lock().unwrap().clone()
    }

    /// Every message arrived once: no webhook-id and no event id twice.
    fn assert_each_once(&self) {
        let got = self.received();
        let mut by_message = BTreeMap::new();
        let mut by_event = BTreeMap::new();
        for (message, event) in &got {
            *by_message.entry(message.clone()).or_insert(0) += 1;
            *by_event.entry(event.clone()).or_insert(0) += 1;
        }
        assert!(by_message.values().all(|n| *n == 1), "{got:?}");
        assert!(by_event.values().all(|n| *n == 1), "{got:?}");
        assert!(!by_event.contains_key(""), "{got:?}");
    }
}

fn pool(app: &TestApp) -> DbPool {
    app.store.pool().clone()
}

fn worker(app: &TestApp) -> DeliveryWorker {
    DeliveryWorker::new(
        pool(app),
        LinkTable::camel_case(),
        Some(Signer::new(&[common::SECRET]).unwrap()),
        DeliveryConfig::default(),
    )
    .unwrap()
}

/// A plugin in the no-worker mode over `app`'s database, served; `hook` as its
/// `wait_until` when given. Its signed caller.
async fn serverless(
    app: &TestApp,
    hook: Option<Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>>,
) -> (AttioPlugin, Caller) {
    let mut b = AttioPlugin::builder()
        .secret(common::SECRET)
        .store(app.store.clone())
        .sync(SyncReporter::new(Adapters::default()))
        .deliver_after_request(worker(app));
    if let Some(hook) = hook {
        b = b.wait_until(move |f| hook(f));
    }
    let plugin = b.build().unwrap();
    let caller = Caller::serve(plugin.clone()).await;
    (plugin, caller)
}

async fn statuses(app: &TestApp) -> Vec<String> {
    let db = pool(app);
    db.deliveries()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.status)
        .collect()
}

/// Default mode: a spawned task delivers the request's events; no worker runs.
pub async fn a_requests_events_arrive_without_a_worker(b: Backend) {
    let app = spawn(b).await;
    let receiver = Receiver::default();
    let events_url = receiver.start().await;
    let (plugin, caller) = serverless(&app, None).await;
    let r = caller.call("link", json!({"webhookUrl": events_url})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = caller
        .call(
            "update-ban-status",
            json!({"userId": app.seed.bob, "banned": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = caller
        .call(
            "create-user",
            json!({"email": "eve@example.com", "name": "Eve"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    plugin.wait_for_deliveries().await;
    assert_eq!(receiver.received().len(), 2, "{:?}", receiver.received());
    receiver.assert_each_once();
    assert_eq!(statuses(&app).await, ["delivered", "delivered"]);
    // a request that enqueues nothing delivers nothing; a drain finds nothing left
    let r = caller.call("ping", json!({})).await;
    assert_eq!(r.status, 200);
    plugin.wait_for_deliveries().await;
    let stats = plugin.drain_outbox().await.unwrap();
    assert_eq!(stats.delivered, 0, "{stats:?}");
    assert_eq!(receiver.received().len(), 2);
}

/// With the host's `wait_until`, the delivery is handed over (not run by the plugin) and
/// arrives when the host runs it.
pub async fn wait_until_receives_the_delivery(b: Backend) {
    let app = spawn(b).await;
    let receiver = Receiver::default();
    let events_url = receiver.start().await;
    let held: Arc<Mutex<Vec<BoxFuture<'static, ()>>>> = Arc::default();
    let keep = held.clone();
    let hook: Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync> =
        Arc::new(move |f| keep.lock().unwrap().push(f));
    let (_plugin, caller) = serverless(&app, Some(hook)).await;
    assert_eq!(
        caller
            .call("link", json!({"webhookUrl": events_url}))
            .await
            .status,
        200
    );
    assert!(held.lock().unwrap().is_empty(), "link enqueues nothing");
    let r = caller
        .call(
            "create-user",
            json!({"email": "eve@example.com", "name": "Eve"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let futures: Vec<_> = std::mem::take(&mut *held.lock().unwrap());
    assert_eq!(futures.len(), 1, "one delivery per request that enqueued");
    assert!(
        receiver.received().is_empty(),
        "nothing is sent before the host runs it"
    );
    futures::future::join_all(futures).await;
    assert_eq!(receiver.received().len(), 1);
    receiver.assert_each_once();
    assert_eq!(statuses(&app).await, ["delivered"]);
}

/// The host froze before it ran the deliveries (its hook dropped them): the cron's
/// `drain_outbox()` sends everything, and drains that race (two instances' cron calls, a
/// late after-request delivery, a stray worker pass) send each event exactly once.
pub async fn racing_drains_send_each_event_once(b: Backend) {
    let app = spawn(b).await;
    let receiver = Receiver::default();
    let events_url = receiver.start().await;
    let held: Arc<Mutex<Vec<BoxFuture<'static, ()>>>> = Arc::default();
    let keep = held.clone();
    let hook: Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync> =
        Arc::new(move |f| keep.lock().unwrap().push(f));
    let (one, caller) = serverless(&app, Some(hook.clone())).await;
    let (two, _) = serverless(&app, Some(hook)).await;
    assert_eq!(
        caller
            .call("link", json!({"webhookUrl": events_url}))
            .await
            .status,
        200
    );
    for i in 0..6 {
        let r = caller
            .call(
                "create-user",
                json!({"email": format!("user{i}@example.com"), "name": format!("User {i}")}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    // the same record changed twice: its events must arrive in order
    for banned in [true, false] {
        let r = caller
            .call(
                "update-ban-status",
                json!({"userId": app.seed.bob, "banned": banned}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    let late: Vec<_> = std::mem::take(&mut *held.lock().unwrap());
    assert_eq!(late.len(), 8);
    assert!(receiver.received().is_empty());
    let stray = worker(&app);
    let (a, b2, c, _) = tokio::join!(
        one.drain_outbox(),
        two.drain_outbox(),
        stray.run_once(),
        futures::future::join_all(late),
    );
    let sent = a.unwrap().delivered + b2.unwrap().delivered + c.unwrap().delivered;
    assert!(sent <= 8, "{sent}");
    // what a pass left behind (a record's later event waits for the earlier one) goes at
    // the next cron call
    one.drain_outbox().await.unwrap();
    let got = receiver.received();
    assert_eq!(got.len(), 8, "{got:?}");
    receiver.assert_each_once();
    assert!(statuses(&app).await.iter().all(|s| s == "delivered"));
    // bob's ban arrived before his unban
    let db = pool(&app);
    let deliveries = db.deliveries().await.unwrap();
    let bob_events: Vec<&str> = deliveries
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(|d| d.event_id.as_str())
        .collect();
    let order: Vec<&str> = got
        .iter()
        .map(|(_, e)| e.as_str())
        .filter(|e| bob_events.contains(e))
        .collect();
    assert_eq!(order, bob_events, "one record's events in order");
}

/// Without the no-worker mode, `drain_outbox()` says what it needs.
pub async fn drain_outbox_needs_the_mode(b: Backend) {
    let app = spawn(b).await;
    let err = app.plugin.drain_outbox().await.unwrap_err().to_string();
    assert!(err.contains("deliver_after_request"), "{err}");
}

databases!(
    a_requests_events_arrive_without_a_worker,
    wait_until_receives_the_delivery,
    racing_drains_send_each_event_once,
    drain_outbox_needs_the_mode,
);
