//! Rate limits (429 with Retry-After as an HTTP date), the OAuth app flow and `/v2/self`,
//! and the control API under `/_sandbox`.

use std::time::{Duration, SystemTime};

use crate::common::{assert_error, assert_schema, env, env_with};
use attio_sandbox::{Faults, RateLimits, SandboxConfig};
use serde_json::{Value, json};

const WRITE: &str = "/v2/objects/people/records";

#[tokio::test]
async fn exceeding_the_write_budget_gives_429_and_waiting_retry_after_succeeds() {
    let e = env().await;
    // Attio's budget: 25 writes per second per token. Bursts of 40 concurrent writes exceed
    // it however slow the machine is.
    let mut refused = None;
    for _ in 0..5 {
        let mut burst = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let (http, url, token) = (e.http.clone(), e.url(WRITE), e.creds.token.clone());
            burst.spawn(async move {
                let r = http
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"data": {"values": {}}}))
                    .send()
                    .await
                    .expect("send");
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().expect("ascii").to_string());
                let body: Value = r.json().await.expect("json");
                (status, retry_after, body)
            });
        }
        while let Some(done) = burst.join_next().await {
            let (status, retry_after, body) = done.expect("task");
            assert!(status == 200 || status == 429, "{status}: {body}");
            if status == 429 {
                refused = Some((retry_after, body));
            }
        }
        if refused.is_some() {
            break;
        }
    }
    let (retry_after, body) = refused.expect("a 429 within 200 writes");
    assert_eq!(
        body,
        json!({"status_code": 429, "type": "rate_limit_error", "code": "rate_limit_exceeded",
               "message": "Rate limit exceeded, please try again later"})
    );
    let retry_after = retry_after.expect("Retry-After header");
    let at = httpdate::parse_http_date(&retry_after).expect("Retry-After is an HTTP date");
    // Reads have their own budget.
    assert_eq!(e.get("/v2/objects").await.status, 200);
    // Waiting until the date given is enough.
    let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        wait <= Duration::from_secs(1),
        "resets within the second: {wait:?}"
    );
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    let after = e.post(WRITE, json!({"data": {"values": {}}})).await;
    assert_eq!(after.status, 200, "{}", after.body);
    // Refused writes changed nothing and are in the request log as 429.
    let log = e.sandbox.requests();
    let (ok, limited) = (
        log.iter()
            .filter(|r| r.status == 200 && r.method == "POST")
            .count(),
        log.iter().filter(|r| r.status == 429).count(),
    );
    assert!(limited > 0);
    let people = e
        .post("/v2/objects/people/records/query", json!({"limit": 1000}))
        .await;
    assert_eq!(people.body["data"].as_array().map(Vec::len), Some(ok));
}

#[tokio::test]
async fn query_counts_as_a_read_and_limits_are_per_token() {
    let e = env().await;
    e.sandbox.set_rate_limits(RateLimits {
        enabled: true,
        reads_per_second: 1000,
        writes_per_second: 1,
    });
    for _ in 0..5 {
        let q = e.post("/v2/objects/people/records/query", json!({})).await;
        assert_eq!(q.status, 200);
    }
    // Exhaust one token's write budget; another token of the workspace still writes.
    let mut saw_429 = false;
    for _ in 0..5 {
        saw_429 |= e.post(WRITE, json!({"data": {"values": {}}})).await.status == 429;
    }
    assert!(saw_429);
    let other = e
        .http
        .post(e.url(&format!(
            "/_sandbox/workspaces/{}/tokens",
            e.creds.workspace_id
        )))
        .send()
        .await
        .expect("send");
    let other: Value = other.json().await.expect("json");
    let token = other["token"].as_str().expect("token");
    let a = e
        .call_as(token, "POST", WRITE, Some(json!({"data": {"values": {}}})))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn rate_limits_can_be_switched_off() {
    let mut config = SandboxConfig::for_tests();
    config.rate_limits.enabled = false;
    let e = env_with(config, &[]).await;
    for _ in 0..60 {
        assert_eq!(
            e.post(WRITE, json!({"data": {"values": {}}})).await.status,
            200
        );
    }
}

#[tokio::test]
async fn oauth_authorize_token_and_self() {
    let e = env().await;
    let redirect = "http://127.0.0.1:9/callback";
    let client = e
        .sandbox
        .register_oauth_client(e.creds.workspace_id, vec![redirect.to_string()])
        .expect("client");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let authorize = http
        .get(e.url("/authorize"))
        .query(&[
            ("client_id", client.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("state", "xyz"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(authorize.status(), 302);
    let location =
        url::Url::parse(authorize.headers()["location"].to_str().expect("location")).expect("url");
    assert!(location.as_str().starts_with(redirect));
    let param = |k: &str| {
        location
            .query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.to_string())
    };
    assert_eq!(param("state").as_deref(), Some("xyz"));
    let code = param("code").expect("code");

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", client.client_id.as_str()),
        ("client_secret", client.client_secret.as_str()),
        ("redirect_uri", redirect),
    ];
    let token = http
        .post(e.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .expect("send");
    assert_eq!(token.status(), 200);
    let token: Value = token.json().await.expect("json");
    assert_eq!(token["token_type"], "Bearer");
    let access = token["access_token"].as_str().expect("access_token");

    let me = e.call_as(access, "GET", "/v2/self", None).await;
    assert_eq!(me.status, 200);
    assert_schema("GET /v2/self", 200, &me.body);
    assert_eq!(me.body["active"], true);
    assert_eq!(me.body["client_id"], json!(client.client_id));
    assert_eq!(me.body["workspace_id"], json!(e.creds.workspace_id));
    assert_eq!(me.body["iss"], "attio.com");
    // The OAuth token works on the API.
    assert_eq!(
        e.call_as(access, "GET", "/v2/objects", None).await.status,
        200
    );

    // Codes are single use; wrong secrets and redirect URIs are refused.
    let again = http
        .post(e.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .expect("send");
    assert_eq!(again.status(), 400);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["code"], "invalid_grant");
    let bad_redirect = http
        .get(e.url("/authorize"))
        .query(&[
            ("client_id", client.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", "https://evil.example/cb"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(bad_redirect.status(), 400);
    let wrong_secret = http
        .post(e.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", client.client_id.as_str()),
            ("client_secret", "nope"),
        ])
        .send()
        .await
        .expect("send");
    let wrong_secret: Value = wrong_secret.json().await.expect("json");
    assert_eq!(wrong_secret["code"], "invalid_client");

    let api_key = e.get("/v2/self").await;
    assert_schema("GET /v2/self", 200, &api_key.body);
    assert_eq!(
        api_key.body["workspace_slug"],
        json!(e.creds.workspace_slug)
    );
    // An unknown token is refused on /v2/self as on every /v2 route; introspection still
    // answers `{active: false}`.
    let unknown = e.call_as("nope", "GET", "/v2/self", None).await;
    assert_error(&unknown, 401, "unauthorized");
    let inactive = e.call_as("nope", "POST", "/oauth/introspect", None).await;
    assert_eq!(inactive.body, json!({"active": false}));
    let introspect = e.call_as(access, "POST", "/oauth/introspect", None).await;
    assert_eq!(introspect.body, me.body);
}

#[tokio::test]
async fn control_api_creates_workspaces_and_tokens_and_enables_objects() {
    let e = env().await;
    let http = &e.http;
    let created: Value = http
        .post(e.url("/_sandbox/workspaces"))
        .json(&json!({"name": "Demo", "slug": "demo", "token": "fixed-demo-token"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(created["token"], "fixed-demo-token");
    assert_eq!(created["workspace_slug"], "demo");
    let ws = created["workspace_id"].as_str().expect("id").to_string();
    let me = e.call_as("fixed-demo-token", "GET", "/v2/self", None).await;
    assert_eq!(me.body["workspace_name"], "Demo");
    assert_eq!(
        e.call_as("fixed-demo-token", "GET", "/v2/objects/users", None)
            .await
            .status,
        404
    );
    let enabled = http
        .put(e.url(&format!("/_sandbox/workspaces/{ws}/objects/users")))
        .json(&json!({"enabled": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(enabled.status(), 200);
    assert_eq!(
        e.call_as("fixed-demo-token", "GET", "/v2/objects/users", None)
            .await
            .status,
        200
    );
    // Workspaces are isolated from each other.
    let mine = e.post(WRITE, json!({"data": {"values": {}}})).await;
    let rid = mine.body["data"]["id"]["record_id"].as_str().expect("id");
    let other = e
        .call_as(
            "fixed-demo-token",
            "GET",
            &format!("/v2/objects/people/records/{rid}"),
            None,
        )
        .await;
    assert_error(&other, 404, "not_found");

    let dup = http
        .post(e.url("/_sandbox/workspaces"))
        .json(&json!({"token": "fixed-demo-token"}))
        .send()
        .await
        .expect("send");
    assert_eq!(dup.status(), 400);
    let unknown = http
        .put(e.url(&format!("/_sandbox/workspaces/{ws}/objects/deals")))
        .json(&json!({"enabled": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(unknown.status(), 404);
    let limits: Value = http
        .put(e.url("/_sandbox/rate-limits"))
        .json(&json!({"enabled": false, "reads_per_second": 1, "writes_per_second": 1}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(limits["enabled"], false);
    for _ in 0..5 {
        assert_eq!(
            e.post(WRITE, json!({"data": {"values": {}}})).await.status,
            200
        );
    }
}

#[tokio::test]
async fn injected_faults_answer_5xx_with_attio_error_json_and_add_latency() {
    let e = env().await;
    let set = e
        .http
        .put(e.url("/_sandbox/faults"))
        .json(&json!({"error_rate": 1.0, "status": 503, "latency_ms": 0}))
        .send()
        .await
        .expect("send");
    assert_eq!(set.status(), 200);
    let a = e.get("/v2/objects").await;
    assert_error(&a, 503, "internal_server_error");
    let bad = e
        .http
        .put(e.url("/_sandbox/faults"))
        .json(&json!({"error_rate": 2.0, "status": 503, "latency_ms": 0}))
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 400);

    assert!(e.sandbox.set_faults(Faults {
        error_rate: 0.0,
        status: 500,
        latency_ms: 150,
    }));
    let start = std::time::Instant::now();
    assert_eq!(e.get("/v2/objects").await.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn request_and_delivery_logs_and_reset() {
    let e = env().await;
    e.get("/v2/objects").await;
    e.call_as("nope", "GET", "/v2/objects/people", None).await;
    let log: Value = e
        .http
        .get(e.url("/_sandbox/requests"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let entries = log["data"].as_array().expect("array");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["method"], "GET");
    assert_eq!(entries[0]["path"], "/v2/objects");
    assert_eq!(entries[0]["status"], 200);
    assert_eq!(entries[0]["token_id"], json!(e.creds.token_id));
    assert_eq!(entries[1]["status"], 401);
    assert_eq!(entries[1]["token_id"], Value::Null);
    assert!(
        !log.to_string().contains(&e.creds.token),
        "tokens stay out of logs"
    );
    assert_eq!(e.sandbox.requests().len(), 2);

    let deliveries: Value = e
        .http
        .get(e.url("/_sandbox/deliveries"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(deliveries["data"], json!([]));

    let reset = e
        .http
        .post(e.url("/_sandbox/reset"))
        .send()
        .await
        .expect("send");
    assert_eq!(reset.status(), 200);
    assert_error(&e.get("/v2/objects").await, 401, "unauthorized");
    assert!(e.sandbox.requests().len() == 1);
}

#[tokio::test]
async fn unknown_routes_answer_attio_error_json() {
    let e = env().await;
    assert_error(&e.get("/v2/nothing-here").await, 404, "not_found");
    assert_error(
        &e.call("DELETE", "/v2/objects", None).await,
        404,
        "not_found",
    );
}
