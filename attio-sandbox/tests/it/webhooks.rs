//! Webhooks: CRUD shapes against Attio's schemas, and deliveries signed as Attio signs them
//! (hex HMAC-SHA256 of the raw body with the webhook secret), one event each, retried with the
//! same Idempotency-Key.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{Env, assert_error, assert_schema, env};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// One request received by the test's webhook target.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Answer 500 to this many requests before answering 200.
    fail_first: Arc<Mutex<u32>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.got.lock().expect("lock").push(Received { headers, body });
    let mut fail = r.fail_first.lock().expect("lock");
    if *fail > 0 {
        *fail -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// A webhook target on a random loopback port; returns its URL.
async fn receiver(fail_first: u32) -> (Receiver, String) {
    let r = Receiver {
        fail_first: Arc::new(Mutex::new(fail_first)),
        ..Default::default()
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, url)
}

async fn wait_for(r: &Receiver, n: usize) -> Vec<Received> {
    for _ in 0..200 {
        let got = r.got.lock().expect("lock").clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "expected {n} deliveries, got {}",
        r.got.lock().expect("lock").len()
    );
}

/// The delivery log once it has `n` entries (each is written after the target answers).
async fn wait_log(e: &Env, n: usize) -> Vec<attio_sandbox::DeliveryRecord> {
    for _ in 0..200 {
        let log = e.sandbox.deliveries();
        if log.len() >= n {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    e.sandbox.deliveries()
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn create_hook(e: &Env, url: &str, subscriptions: Value) -> Value {
    let a = e
        .post(
            "/v2/webhooks",
            json!({"data": {"target_url": url, "subscriptions": subscriptions}}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

fn subs(types: &[&str]) -> Value {
    Value::Array(
        types
            .iter()
            .map(|t| json!({"event_type": t, "filter": null}))
            .collect(),
    )
}

#[tokio::test]
async fn webhook_create_list_get_update_delete_shapes() {
    let e = env().await;
    let created = create_hook(&e, "https://example.com/hook", subs(&["record.created"])).await;
    assert_schema("POST /v2/webhooks", 200, &created);
    let secret = created["data"]["secret"].as_str().expect("secret");
    assert_eq!(secret.len(), 64);
    assert_eq!(created["data"]["status"], "active");
    let id = created["data"]["id"]["webhook_id"]
        .as_str()
        .expect("id")
        .to_string();

    let got = e.get(&format!("/v2/webhooks/{id}")).await;
    assert_schema("GET /v2/webhooks/{webhook_id}", 200, &got.body);
    assert!(
        got.body["data"].get("secret").is_none(),
        "secret is shown only at creation"
    );
    let list = e.get("/v2/webhooks").await;
    assert_schema("GET /v2/webhooks", 200, &list.body);
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1));

    let filter =
        json!({"$and": [{"field": "actor.type", "operator": "not_equals", "value": "api-token"}]});
    let patched = e
        .call(
            "PATCH",
            &format!("/v2/webhooks/{id}"),
            Some(json!({"data": {"subscriptions": [{"event_type": "record.updated", "filter": filter}]}})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_schema("PATCH /v2/webhooks/{webhook_id}", 200, &patched.body);
    assert_eq!(patched.body["data"]["subscriptions"][0]["filter"], filter);
    assert_eq!(
        patched.body["data"]["target_url"],
        "https://example.com/hook"
    );

    let deleted = e.call("DELETE", &format!("/v2/webhooks/{id}"), None).await;
    assert_schema("DELETE /v2/webhooks/{webhook_id}", 200, &deleted.body);
    let gone = e.get(&format!("/v2/webhooks/{id}")).await;
    assert_error(&gone, 404, "not_found");
    assert_schema("GET /v2/webhooks/{webhook_id}", 404, &gone.body);
    let gone = e.call("DELETE", &format!("/v2/webhooks/{id}"), None).await;
    assert_schema("DELETE /v2/webhooks/{webhook_id}", 404, &gone.body);
    let gone = e
        .call(
            "PATCH",
            &format!("/v2/webhooks/{id}"),
            Some(json!({"data": {}})),
        )
        .await;
    assert_schema("PATCH /v2/webhooks/{webhook_id}", 404, &gone.body);

    for bad in [
        json!({"data": {"target_url": "http://example.com/hook", "subscriptions": []}}),
        json!({"data": {"target_url": "https://example.com/hook", "subscriptions": [{"event_type": "record.created"}]}}),
        json!({"data": {"target_url": "https://example.com/hook", "subscriptions": [{"event_type": "record.exploded", "filter": null}]}}),
        json!({"data": {"target_url": "https://example.com/hook", "subscriptions": [{"event_type": "record.created", "filter": {"$xor": []}}]}}),
        json!({"data": {"subscriptions": []}}),
    ] {
        let a = e.post("/v2/webhooks", bad.clone()).await;
        assert_error(&a, 400, "validation_type");
        assert_schema("POST /v2/webhooks", 400, &a.body);
    }
    let a = e.get("/v2/webhooks?limit=500").await;
    assert_error(&a, 400, "validation_type");
}

#[tokio::test]
async fn deliveries_are_signed_with_the_webhook_secret_one_event_each() {
    let e = env().await;
    let (r, url) = receiver(0).await;
    let hook = create_hook(
        &e,
        &url,
        subs(&["record.created", "record.updated", "record.deleted"]),
    )
    .await;
    let secret = hook["data"]["secret"].as_str().expect("secret").to_string();
    let webhook_id = hook["data"]["id"]["webhook_id"].clone();

    let created = e
        .post(
            "/v2/objects/users/records",
            json!({"data": {"values": {"user_id": "u-1", "primary_email_address": "a@x.io"}}}),
        )
        .await;
    let id = created.body["data"]["id"].clone();
    let got = wait_for(&r, 1).await;
    let first = &got[0];
    let sig = first.headers["attio-signature"].to_str().expect("header");
    assert_eq!(
        sig,
        hmac_hex(&secret, &first.body),
        "Attio-Signature verifies"
    );
    assert_eq!(
        first.headers["x-attio-signature"].to_str().expect("header"),
        sig
    );
    assert!(!first.headers["idempotency-key"].is_empty());
    assert_eq!(first.headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&first.body).expect("json");
    assert_eq!(
        body,
        json!({"webhook_id": webhook_id, "events": [{
            "event_type": "record.created",
            "id": id,
            "actor": {"type": "api-token", "id": e.creds.token_id}
        }]})
    );

    // One record.updated per changed attribute, with attribute_id; no values in payloads.
    let rid = id["record_id"].as_str().expect("id");
    e.call(
        "PATCH",
        &format!("/v2/objects/users/records/{rid}"),
        Some(json!({"data": {"values": {"user_id": "u-2", "primary_email_address": "b@x.io"}}})),
    )
    .await;
    let got = wait_for(&r, 3).await;
    let attrs = e.get("/v2/objects/users/attributes").await;
    let attr_id = |slug: &str| {
        attrs.body["data"]
            .as_array()
            .expect("array")
            .iter()
            .find(|a| a["api_slug"] == slug)
            .map(|a| a["id"]["attribute_id"].clone())
            .expect("attribute")
    };
    let mut updated: Vec<Value> = got[1..]
        .iter()
        .map(|g| {
            assert_eq!(
                g.headers["attio-signature"].to_str().expect("header"),
                hmac_hex(&secret, &g.body)
            );
            let b: Value = serde_json::from_slice(&g.body).expect("json");
            assert_eq!(b["events"].as_array().map(Vec::len), Some(1));
            assert_eq!(b["events"][0]["event_type"], "record.updated");
            assert!(b["events"][0].get("values").is_none());
            b["events"][0]["id"]["attribute_id"].clone()
        })
        .collect();
    updated.sort_by_key(|v| v.to_string());
    let mut want = vec![attr_id("user_id"), attr_id("primary_email_address")];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(updated, want);
    // Keys differ between events.
    assert_ne!(
        got[1].headers["idempotency-key"],
        got[2].headers["idempotency-key"]
    );

    e.call("DELETE", &format!("/v2/objects/users/records/{rid}"), None)
        .await;
    let got = wait_for(&r, 4).await;
    let b: Value = serde_json::from_slice(&got[3].body).expect("json");
    assert_eq!(b["events"][0]["event_type"], "record.deleted");
    assert_eq!(b["events"][0]["id"], id);

    let log = wait_log(&e, 4).await;
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|d| d.delivered && d.attempt == 1));
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_the_same_idempotency_key() {
    let e = env().await;
    let (r, url) = receiver(2).await;
    create_hook(&e, &url, subs(&["record.created"])).await;
    e.post(
        "/v2/objects/people/records",
        json!({"data": {"values": {}}}),
    )
    .await;
    let got = wait_for(&r, 3).await;
    let keys: Vec<_> = got
        .iter()
        .map(|g| g.headers["idempotency-key"].clone())
        .collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    assert_eq!(got[0].body, got[2].body);
    let log = wait_log(&e, 3).await;
    let attempts: Vec<(u32, Option<u16>, bool)> = log
        .iter()
        .map(|d| (d.attempt, d.status, d.delivered))
        .collect();
    assert_eq!(
        attempts,
        [
            (1, Some(500), false),
            (2, Some(500), false),
            (3, Some(200), true)
        ]
    );
    assert_eq!(got.len(), 3, "no delivery after success");
}

#[tokio::test]
async fn a_webhook_whose_retries_run_out_becomes_degraded() {
    let e = env().await;
    let (r, url) = receiver(100).await;
    let hook = create_hook(&e, &url, subs(&["record.created"])).await;
    let id = hook["data"]["id"]["webhook_id"]
        .as_str()
        .expect("id")
        .to_string();
    e.post(
        "/v2/objects/people/records",
        json!({"data": {"values": {}}}),
    )
    .await;
    // for_tests(): 4 attempts, 20 + 40 + 80 ms apart.
    wait_for(&r, 4).await;
    for _ in 0..100 {
        if e.get(&format!("/v2/webhooks/{id}")).await.body["data"]["status"] == "degraded" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("webhook not degraded");
}

#[tokio::test]
async fn subscription_filters_select_events_by_their_fields() {
    let e = env().await;
    let (r, url) = receiver(0).await;
    let users = e.get("/v2/objects/users").await;
    let users_id = users.body["data"]["id"]["object_id"]
        .as_str()
        .expect("id")
        .to_string();
    let only_users = json!([{"event_type": "record.created", "filter": {"$and": [
        {"field": "id.object_id", "operator": "equals", "value": users_id}
    ]}}]);
    create_hook(&e, &url, only_users).await;
    // A second hook that ignores this token's own writes (echo suppression).
    let (r2, url2) = receiver(0).await;
    let not_mine = json!([{"event_type": "record.created", "filter": {"$or": [
        {"field": "actor.type", "operator": "not_equals", "value": "api-token"}
    ]}}]);
    create_hook(&e, &url2, not_mine).await;

    e.post(
        "/v2/objects/people/records",
        json!({"data": {"values": {}}}),
    )
    .await;
    e.post(
        "/v2/objects/users/records",
        json!({"data": {"values": {"user_id": "u", "primary_email_address": "u@x.io"}}}),
    )
    .await;
    let got = wait_for(&r, 1).await;
    // Every delivery the two writes caused has finished (the writes dispatched them before
    // answering): a filtered-out event that had been sent would be in `r` or `r2` by now.
    for _ in 0..500 {
        if e.sandbox.deliveries_in_flight() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(e.sandbox.deliveries_in_flight(), 0);
    assert_eq!(r.got.lock().expect("lock").len(), 1);
    let b: Value = serde_json::from_slice(&got[0].body).expect("json");
    assert_eq!(b["events"][0]["id"]["object_id"], json!(users_id));
    assert!(r2.got.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn relationship_changes_notify_the_other_side_too() {
    let e = env().await;
    let ws = e
        .post(
            "/v2/objects/workspaces/records",
            json!({"data": {"values": {"workspace_id": "acme"}}}),
        )
        .await;
    let ws_id = ws.body["data"]["id"].clone();
    let (r, url) = receiver(0).await;
    create_hook(&e, &url, subs(&["record.created", "record.updated"])).await;
    e.post(
        "/v2/objects/users/records",
        json!({"data": {"values": {"user_id": "u", "primary_email_address": "u@x.io", "workspace": ["acme"]}}}),
    )
    .await;
    let got = wait_for(&r, 2).await;
    let mut events: Vec<(String, Value)> = got
        .iter()
        .map(|g| {
            let b: Value = serde_json::from_slice(&g.body).expect("json");
            (
                b["events"][0]["event_type"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                b["events"][0]["id"]["record_id"].clone(),
            )
        })
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(events[0].0, "record.created");
    assert_eq!(
        events[1],
        ("record.updated".to_string(), ws_id["record_id"].clone())
    );
}
