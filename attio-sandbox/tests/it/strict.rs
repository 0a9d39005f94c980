//! The sandbox is as strict as Attio's spec and docs say Attio is (each rule cited in the
//! README's "Strictness" table): https-only webhook targets, per-token scopes, no unique select
//! attributes, no null checkbox, 401 for an unknown token on /v2/self, archived attributes,
//! `record.merged`, enrichment noise, and deterministic fault rules.

use std::time::Duration;

use crate::common::{Env, assert_error, assert_schema, env, env_with};
use attio_sandbox::{FaultRule, Noise, SandboxConfig};
use serde_json::{Value, json};

/// A loopback target that answers 200 to everything; deliveries are read from the log.
async fn target() -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async { axum::http::StatusCode::OK }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Bodies of delivered events once `pred` holds for one of them (polls the delivery log).
async fn wait_event(e: &Env, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..500 {
        if let Some(d) = e
            .sandbox
            .deliveries()
            .into_iter()
            .find(|d| pred(&d.body["events"][0]))
        {
            return d.body["events"][0].clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no such event delivered: {:?}", e.sandbox.deliveries());
}

fn hook_body(url: &str, subs: Value) -> Value {
    json!({"data": {"target_url": url, "subscriptions": subs}})
}

#[tokio::test]
async fn webhook_targets_must_be_https_unless_http_is_allowed() {
    let strict = env_with(SandboxConfig::default(), &["users"]).await;
    let subs = json!([{"event_type": "record.created", "filter": null}]);
    let a = strict
        .post(
            "/v2/webhooks",
            hook_body("http://127.0.0.1:9/hook", subs.clone()),
        )
        .await;
    assert_error(&a, 400, "validation_type");
    assert_schema("POST /v2/webhooks", 400, &a.body);
    let ok = strict
        .post(
            "/v2/webhooks",
            hook_body("https://example.com/hook", subs.clone()),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let id = ok.body["data"]["id"]["webhook_id"].as_str().expect("id");
    let patched = strict
        .call(
            "PATCH",
            &format!("/v2/webhooks/{id}"),
            Some(json!({"data": {"target_url": "http://localhost:9/hook"}})),
        )
        .await;
    assert_error(&patched, 400, "validation_type");

    // `--allow-http-webhooks` (for_tests sets it): loopback http only.
    let lenient = env().await;
    let a = lenient
        .post(
            "/v2/webhooks",
            hook_body("http://127.0.0.1:9/hook", subs.clone()),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = lenient
        .post("/v2/webhooks", hook_body("http://example.com/hook", subs))
        .await;
    assert_error(&a, 400, "validation_type");
}

#[tokio::test]
async fn a_token_without_a_scope_gets_403_insufficient_scopes() {
    let e = env().await;
    // Through the control API, as tests over HTTP would.
    let made = e
        .http
        .post(e.url(&format!(
            "/_sandbox/workspaces/{}/tokens",
            e.creds.workspace_id
        )))
        .json(&json!({"scopes": ["object_configuration:read", "record_permission:read-write"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(made.status(), 200);
    let made: Value = made.json().await.expect("json");
    let token = made["token"].as_str().expect("token");

    let me = e.call_as(token, "GET", "/v2/self", None).await;
    assert_schema("GET /v2/self", 200, &me.body);
    assert_eq!(
        me.body["scope"],
        "object_configuration:read record_permission:read-write"
    );
    assert_eq!(
        e.call_as(token, "GET", "/v2/objects", None).await.status,
        200
    );
    let q = e
        .call_as(
            token,
            "POST",
            "/v2/objects/users/records/query",
            Some(json!({})),
        )
        .await;
    assert_eq!(q.status, 200, "{}", q.body);

    let hook = e
        .call_as(
            token,
            "POST",
            "/v2/webhooks",
            Some(hook_body(
                "https://example.com/h",
                json!([{"event_type": "record.created", "filter": null}]),
            )),
        )
        .await;
    assert_error(&hook, 403, "insufficient_scopes");
    assert_eq!(hook.body["type"], "auth_error");
    assert!(
        hook.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("webhook:read-write")),
        "{}",
        hook.body
    );
    let attr = e
        .call_as(
            token,
            "POST",
            "/v2/objects/users/attributes",
            Some(
                json!({"data": {"title": "X", "description": null, "api_slug": "x", "type": "text",
                "is_required": false, "is_unique": false, "is_multiselect": false, "config": {}}}),
            ),
        )
        .await;
    assert_error(&attr, 403, "insufficient_scopes");
    assert!(
        attr.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("object_configuration:read-write")),
        "{}",
        attr.body
    );
    // Nothing was created.
    let list = e.get("/v2/objects/users/attributes").await;
    assert!(
        !list.body["data"]
            .as_array()
            .expect("list")
            .iter()
            .any(|a| a["api_slug"] == "x")
    );

    // A default token keeps every scope.
    let all = e.get("/v2/self").await.body["scope"]
        .as_str()
        .expect("scope")
        .to_string();
    for s in [
        "object_configuration:read-write",
        "record_permission:read-write",
        "webhook:read-write",
    ] {
        assert!(all.split(' ').any(|x| x == s), "{all}");
    }
    // An unknown scope is refused by the control API.
    let (_, bad) = (
        (),
        e.http
            .post(e.url(&format!(
                "/_sandbox/workspaces/{}/tokens",
                e.creds.workspace_id
            )))
            .json(&json!({"scopes": ["webhook:write"]}))
            .send()
            .await
            .expect("send"),
    );
    assert_eq!(bad.status(), 400);
}

fn attribute(slug: &str, kind: &str, unique: bool) -> Value {
    json!({"data": {"title": slug, "description": null, "api_slug": slug, "type": kind,
        "is_required": false, "is_unique": unique, "is_multiselect": false, "config": {}}})
}

#[tokio::test]
async fn select_attributes_cannot_be_unique() {
    let e = env().await;
    let a = e
        .post(
            "/v2/objects/users/attributes",
            attribute("plan", "select", true),
        )
        .await;
    assert_error(&a, 400, "validation_type");
    assert_schema("POST /v2/{target}/{identifier}/attributes", 400, &a.body);
    let ok = e
        .post(
            "/v2/objects/users/attributes",
            attribute("plan", "select", false),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let patched = e
        .call(
            "PATCH",
            "/v2/objects/users/attributes/plan",
            Some(json!({"data": {"is_unique": true}})),
        )
        .await;
    assert_error(&patched, 400, "validation_type");
}

#[tokio::test]
async fn checkbox_values_refuse_null() {
    let e = env().await;
    let a = e
        .post(
            "/v2/objects/users/attributes",
            attribute("verified", "checkbox", false),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let user = |verified: Value| json!({"data": {"values": {"user_id": "u1", "primary_email_address": "u1@example.com", "verified": verified}}});
    for bad in [Value::Null, json!([])] {
        let r = e.post("/v2/objects/users/records", user(bad)).await;
        assert_error(&r, 400, "validation_type");
    }
    let r = e
        .post("/v2/objects/users/records", user(json!(false)))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["data"]["id"]["record_id"].as_str().expect("id");
    let r = e
        .call(
            "PATCH",
            &format!("/v2/objects/users/records/{id}"),
            Some(json!({"data": {"values": {"verified": null}}})),
        )
        .await;
    assert_error(&r, 400, "validation_type");
    let got = e.get(&format!("/v2/objects/users/records/{id}")).await;
    assert_eq!(got.body["data"]["values"]["verified"][0]["value"], false);
}

#[tokio::test]
async fn archived_attributes_are_listed_only_with_show_archived_and_refuse_writes() {
    let e = env().await;
    let a = e
        .post(
            "/v2/objects/users/attributes",
            attribute("nickname", "text", false),
        )
        .await;
    assert_eq!(a.status, 200);
    let archived = e
        .call(
            "PATCH",
            "/v2/objects/users/attributes/nickname",
            Some(json!({"data": {"is_archived": true}})),
        )
        .await;
    assert_eq!(archived.status, 200, "{}", archived.body);
    assert_eq!(archived.body["data"]["is_archived"], true);
    let slugs = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|a| a["api_slug"].as_str().map(str::to_string))
            .collect()
    };
    let plain = e.get("/v2/objects/users/attributes").await;
    assert!(!slugs(&plain.body).contains(&"nickname".to_string()));
    let all = e
        .get("/v2/objects/users/attributes?show_archived=true")
        .await;
    assert_schema("GET /v2/{target}/{identifier}/attributes", 200, &all.body);
    assert!(slugs(&all.body).contains(&"nickname".to_string()));
    // The slug stays taken, writes are refused.
    let again = e
        .post(
            "/v2/objects/users/attributes",
            attribute("nickname", "text", false),
        )
        .await;
    assert_error(&again, 409, "slug_conflict");
    let user = json!({"data": {"values": {"user_id": "u1", "primary_email_address": "u1@example.com", "nickname": "Al"}}});
    let w = e.post("/v2/objects/users/records", user.clone()).await;
    assert_error(&w, 400, "validation_type");
    // Unarchived, it works again.
    let back = e
        .call(
            "PATCH",
            "/v2/objects/users/attributes/nickname",
            Some(json!({"data": {"is_archived": false}})),
        )
        .await;
    assert_eq!(back.status, 200);
    let w = e.post("/v2/objects/users/records", user).await;
    assert_eq!(w.status, 200, "{}", w.body);
}

#[tokio::test]
async fn merging_records_fires_record_merged_and_moves_references() {
    let e = env().await;
    let url = target().await;
    let hook = e
        .post(
            "/v2/webhooks",
            hook_body(
                &url,
                json!([{"event_type": "record.merged", "filter": null}]),
            ),
        )
        .await;
    assert_eq!(hook.status, 200);
    let ws = |id: &str| json!({"data": {"values": {"workspace_id": id, "name": id}}});
    for w in ["w1", "w2"] {
        let r = e
            .call(
                "PUT",
                "/v2/objects/workspaces/records?matching_attribute=workspace_id",
                Some(ws(w)),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let user = |id: &str, w: &str| json!({"data": {"values": {"user_id": id, "primary_email_address": format!("{id}@example.com"), "workspace": [w]}}});
    let s = e
        .post("/v2/objects/users/records", user("keep", "w1"))
        .await;
    let d = e.post("/v2/objects/users/records", user("dup", "w2")).await;
    let sid = s.body["data"]["id"]["record_id"]
        .as_str()
        .expect("id")
        .to_string();
    let did = d.body["data"]["id"]["record_id"]
        .as_str()
        .expect("id")
        .to_string();
    let merged = e
        .http
        .post(e.url(&format!(
            "/_sandbox/workspaces/{}/objects/users/merge",
            e.creds.workspace_id
        )))
        .json(&json!({"record_id": sid, "duplicate_record_id": did}))
        .send()
        .await
        .expect("send");
    assert_eq!(merged.status(), 200);
    let event = wait_event(&e, |ev| ev["event_type"] == "record.merged").await;
    assert_eq!(event["id"]["record_id"], json!(sid));
    assert_eq!(event["duplicate_record_id"], json!(did));
    assert_eq!(event["duplicate_object_id"], event["id"]["object_id"]);
    assert_eq!(event["actor"]["type"], "workspace-member");
    assert_error(
        &e.get(&format!("/v2/objects/users/records/{did}")).await,
        404,
        "not_found",
    );
    let survivor = e.get(&format!("/v2/objects/users/records/{sid}")).await;
    assert_eq!(
        survivor.body["data"]["values"]["user_id"][0]["value"],
        "keep"
    );
    assert_eq!(
        survivor.body["data"]["values"]["workspace"]
            .as_array()
            .expect("refs")
            .len(),
        2
    );
    let w2 = e
        .post(
            "/v2/objects/workspaces/records/query",
            json!({"filter": {"workspace_id": "w2"}}),
        )
        .await;
    let users = &w2.body["data"][0]["values"]["users"];
    assert_eq!(users.as_array().expect("users").len(), 1, "{users}");
    assert_eq!(users[0]["target_record_id"], json!(sid));
}

#[tokio::test]
async fn enrichment_noise_sends_system_record_updated_events_without_changing_values() {
    let e = env().await;
    let url = target().await;
    let users_object = e.get("/v2/objects/users").await.body["data"]["id"]["object_id"].clone();
    let r = e
        .post(
            "/v2/objects/users/records",
            json!({"data": {"values": {"user_id": "u1", "primary_email_address": "u1@example.com"}}}),
        )
        .await;
    let id = r.body["data"]["id"]["record_id"]
        .as_str()
        .expect("id")
        .to_string();
    let p = e
        .post(
            "/v2/objects/people/records",
            json!({"data": {"values": {"email_addresses": ["p@example.com"]}}}),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let before = e.get(&format!("/v2/objects/users/records/{id}")).await.body;
    let hook = e
        .post(
            "/v2/webhooks",
            hook_body(
                &url,
                json!([{"event_type": "record.updated", "filter": null}]),
            ),
        )
        .await;
    assert_eq!(hook.status, 200);
    let noise = e
        .http
        .put(e.url("/_sandbox/noise"))
        .json(&json!({"events_per_second": 200.0}))
        .send()
        .await
        .expect("send");
    assert_eq!(noise.status(), 200);
    let users_event = wait_event(&e, |ev| ev["id"]["object_id"] == users_object).await;
    assert_eq!(users_event["event_type"], "record.updated");
    assert!(users_event["id"]["attribute_id"].is_string());
    let other = wait_event(&e, |ev| ev["id"]["object_id"] != users_object).await;
    assert_eq!(other["event_type"], "record.updated");
    wait_event(&e, |ev| {
        ev["actor"]["type"] == "system" && ev["actor"]["id"].is_null()
    })
    .await;
    assert!(e.sandbox.set_noise(Noise::default()));
    let after = e.get(&format!("/v2/objects/users/records/{id}")).await.body;
    assert_eq!(before, after, "noise must not change values");
    assert!(!e.sandbox.set_noise(Noise {
        events_per_second: -1.0
    }));
}

#[tokio::test]
async fn fault_rules_fail_exactly_the_matching_requests() {
    let e = env().await;
    let put = e
        .http
        .put(e.url("/_sandbox/fault-rules"))
        .json(&json!({"data": [{"method": "POST", "path_contains": "/v2/webhooks", "status": 503, "times": 1}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(put.status(), 200);
    let body = hook_body(
        "https://example.com/h",
        json!([{"event_type": "record.created", "filter": null}]),
    );
    assert_eq!(
        e.get("/v2/webhooks").await.status,
        200,
        "GET does not match"
    );
    assert_error(
        &e.post("/v2/webhooks", body.clone()).await,
        503,
        "internal_server_error",
    );
    assert_eq!(e.post("/v2/webhooks", body).await.status, 200);
    assert!(e.sandbox.add_fault_rule(FaultRule {
        method: "GET".into(),
        path_contains: "/v2/objects/users".into(),
        status: 404,
        times: None,
    }));
    assert_error(
        &e.get("/v2/objects/users").await,
        404,
        "internal_server_error",
    );
    assert_error(
        &e.get("/v2/objects/users").await,
        404,
        "internal_server_error",
    );
    e.sandbox.clear_fault_rules();
    assert_eq!(e.get("/v2/objects/users").await.status, 200);
}
