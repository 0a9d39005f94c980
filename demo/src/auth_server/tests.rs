//! The demo server end to end, on SQLite and PostgreSQL: sign-up, sessions, organizations,
//! a linked backend receiving signed events, a webhook from Attio, password reset, removal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use attio_auth_shared::signing::{Signer, Verifier};
use axum::Router;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::DemoConfig;
use super::server::App;
use super::sessions::COOKIE_NAME;
use super::store::{iso, now_iso, random_id};

/// The demo writes the bytes Better Auth writes: three fraction digits, truncated.
#[test]
fn timestamps_are_better_auths() {
    let t = chrono::DateTime::from_timestamp(1_795_423_745, 810_999_999).unwrap();
    assert_eq!(iso(t), "2026-11-23T08:49:05.810Z");
    assert_eq!(now_iso().len(), "2026-11-23T08:49:05.810Z".len());
}

/// A backend stand-in that keeps the events whose signature verifies.
async fn start_receiver(secret: &str) -> (String, Arc<Mutex<Vec<Value>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let verifier = Arc::new(Verifier::new(&[secret]).unwrap());
    let (ev, ver) = (events.clone(), verifier.clone());
    let app = Router::new().route(
        "/events",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (ev, ver) = (ev.clone(), ver.clone());
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                let now = chrono::Utc::now().timestamp();
                if ver
                    .verify(
                        &h("webhook-id"),
                        &h("webhook-timestamp"),
                        &h("webhook-signature"),
                        &body,
                        now,
                    )
                    .is_err()
                {
                    return StatusCode::UNAUTHORIZED;
                }
                ev.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, events)
}

/// `POST {url}` with a JSON body.
async fn post_json(http: &reqwest::Client, url: String, body: Value) -> reqwest::Response {
    http.post(url).json(&body).send().await.unwrap()
}

/// `GET {url}` with the session cookie; the JSON answer.
async fn get_json(http: &reqwest::Client, url: String, cookie: &str) -> Value {
    http.get(url)
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `POST {url}` with a JSON body and the session cookie; answers the status.
async fn post_with_cookie(
    http: &reqwest::Client,
    url: String,
    cookie: &str,
    body: Value,
) -> reqwest::StatusCode {
    http.post(url)
        .header(COOKIE, cookie)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

/// `POST {url}` signed with `secret` as a backend signs (Standard Webhooks headers over
/// the body bytes); the plugin must answer 200.
async fn post_signed_ok(http: &reqwest::Client, url: String, secret: &str, body: String) {
    let now = chrono::Utc::now().timestamp();
    let signed = Signer::new(&[secret])
        .unwrap()
        .headers(body.as_bytes(), now)
        .unwrap();
    let mut req = http.post(url).header("content-type", "application/json");
    for (k, v) in signed.pairs() {
        req = req.header(k, v);
    }
    let resp = req.body(body).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
}

/// Waits (at most 10 s) until the receiver holds `n` events; `what` names them when
/// they do not come.
async fn wait_for_events(events: &Mutex<Vec<Value>>, n: usize, what: &str) {
    let start = std::time::Instant::now();
    while events.lock().unwrap().len() < n {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what} did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn config(db: &str) -> DemoConfig {
    DemoConfig {
        port: 0,
        dev_mailbox: true,
        ..DemoConfig::new(db, attio_auth_shared::connection::new_secret().unwrap())
    }
}

#[tokio::test]
async fn demo_sqlite() {
    let path = std::env::temp_dir().join(format!("demo-auth-{}.db", random_id()));
    sign_up_sign_in_session_and_organization(&format!("sqlite://{}?mode=rwc", path.display()))
        .await;
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn demo_postgres() {
    let base = std::env::var("TEST_POSTGRES_URL").expect(
        "TEST_POSTGRES_URL is not set: run scripts/test.sh (or `source scripts/postgres.sh`)",
    );
    let admin = PgPool::connect(&base).await.unwrap();
    let name = format!("t_{}", random_id().to_lowercase());
    sqlx::query(&format!("create database {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (server, _) = base.split('?').next().unwrap().rsplit_once('/').unwrap();
    sign_up_sign_in_session_and_organization(&format!("{server}/{name}")).await;
}

/// Signs up (the first user is an admin), refuses a duplicate and a bad password,
/// signs in, reads the session, creates an organization, links a backend through the
/// plugin and sees signed events of the next changes arrive, signs out.
async fn sign_up_sign_in_session_and_organization(database_url: &str) {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let config = config(database_url);
    let secret = config.secret.expose_secret().to_owned();
    let app = App::build(config).await.unwrap();
    let base = format!("http://{}", app.addr().unwrap());
    let cancel = CancellationToken::new();
    let server = tokio::spawn(app.run(cancel.clone()));
    let http = reqwest::Client::new();

    let resp = post_json(
        &http,
        format!("{base}/api/auth/sign-up/email"),
        json!({"name": "Alice Admin", "email": "Alice@Example.com", "password": "correct horse"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("better-auth.session_token=") && cookie.contains("HttpOnly"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(body["user"]["role"], "admin", "the first user is an admin");

    // The same email again is refused; a bad password does not sign in.
    let again = post_json(
        &http,
        format!("{base}/api/auth/sign-up/email"),
        json!({"name": "A", "email": "alice@example.com", "password": "whatever1"}),
    )
    .await;
    assert_eq!(again.status(), 422);
    let wrong = post_json(
        &http,
        format!("{base}/api/auth/sign-in/email"),
        json!({"email": "alice@example.com", "password": "wrong password"}),
    )
    .await;
    assert_eq!(wrong.status(), 401);

    let signin = post_json(
        &http,
        format!("{base}/api/auth/sign-in/email"),
        json!({"email": "alice@example.com", "password": "correct horse"}),
    )
    .await;
    assert_eq!(signin.status(), 200);
    let token = signin.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = format!("{COOKIE_NAME}={token}");
    let session: Value = get_json(&http, format!("{base}/api/auth/get-session"), &cookie).await;
    assert_eq!(session["user"]["name"], "Alice Admin");

    let org: Value = http
        .post(format!("{base}/api/auth/organization/create"))
        .header(COOKIE, &cookie)
        .json(&json!({"name": "Acme Corporation"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["slug"], "acme-corporation");

    // The plugin is mounted: its routes answer (here: a signed route without signature).
    let plugin = post_json(
        &http,
        format!("{base}/api/auth/attio/ping"),
        json!({"action": "ping"}),
    )
    .await;
    assert!(plugin.status().is_client_error(), "{}", plugin.status());

    // Link a backend through the plugin (signed), then changes reach it as signed events.
    let (events_url, events) = start_receiver(&secret).await;
    let link_body = json!({"action": "link", "webhookUrl": events_url}).to_string();
    post_signed_ok(
        &http,
        format!("{base}/api/auth/attio/link"),
        &secret,
        link_body,
    )
    .await;
    let bob = post_json(
        &http,
        format!("{base}/api/auth/sign-up/email"),
        json!({"name": "Bob Member", "email": "bob@example.com", "password": "hunter2hunter2"}),
    )
    .await;
    assert_eq!(bob.status(), 200);
    assert_eq!(bob.json::<Value>().await.unwrap()["user"]["role"], "user");
    assert_eq!(
        post_with_cookie(
            &http,
            format!("{base}/api/auth/organization/add-member"),
            &cookie,
            json!({"organizationId": org["id"], "email": "bob@example.com"})
        )
        .await,
        200
    );
    wait_for_events(&events, 2, "events").await;
    // Events of distinct records may arrive in either order (sent side by side).
    let is_org = |e: &Value| e["adapter"]["attioObject"] == "workspaces";
    let bob_id = {
        let events = events.lock().unwrap();
        let (orgs, users): (Vec<&Value>, Vec<&Value>) = events[..2].iter().partition(|e| is_org(e));
        assert_eq!((users.len(), orgs.len()), (1, 1), "{events:?}");
        assert_eq!(users[0]["event"], "create");
        assert_eq!(users[0]["data"]["primary_email_address"], "bob@example.com");
        assert_eq!(users[0]["origin"], "auth");
        assert_eq!(orgs[0]["data"]["workspace_id"], org["id"]);
        users[0]["data"]["user_id"].clone()
    };

    // Attio renames Bob: the plugin applies it and reports it with origin "attio"; the
    // same values again change nothing and send nothing (no sync loop).
    let rename = |name: &str| {
        json!({"action": "webhook", "webhook_id": "wh-1", "events": [{
            "event_type": "record.updated",
            "id": {"workspace_id": "w", "object_id": "o", "record_id": "rec-bob"},
            "object": {"api_slug": "users"},
            "record": {"id": {"workspace_id": "w", "object_id": "o", "record_id": "rec-bob"},
                "values": {
                    "user_id": [{"value": bob_id, "attribute_type": "text", "active_until": null}],
                    "name": [{"value": name, "attribute_type": "text", "active_until": null}],
                    "email_verified": [{"value": true, "attribute_type": "checkbox", "active_until": null}]
                }}
        }]})
        .to_string()
    };
    for body in [rename("Bob From Attio"), rename("Bob From Attio")] {
        post_signed_ok(
            &http,
            format!("{base}/api/auth/attio/webhook"),
            &secret,
            body,
        )
        .await;
    }
    wait_for_events(&events, 3, "webhook event").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    {
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 3, "the identical second webhook sent nothing");
        assert_eq!(events[2]["origin"], "attio");
        assert_eq!(events[2]["data"]["name"], "Bob From Attio");
        assert_eq!(events[2]["data"]["record_id"], "rec-bob");
        assert_eq!(
            events[2]["data"]["email_verified"], false,
            "never verified from Attio"
        );
    }

    // Password reset: the plugin mails a link (signed send-password-reset), the link
    // redirects with the token, the token sets a new password once.
    let body = json!({"action": "send-password-reset", "userId": bob_id}).to_string();
    post_signed_ok(
        &http,
        format!("{base}/api/auth/attio/send-password-reset"),
        &secret,
        body,
    )
    .await;
    let mailbox: Value = http
        .get(format!("{base}/api/auth/dev/mailbox"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mail = &mailbox.as_array().unwrap()[0];
    assert_eq!(mail["to"], "bob@example.com");
    let token = mail["token"].as_str().unwrap().to_owned();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let link = no_redirects
        .get(mail["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), 302);
    assert!(
        link.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("?token={token}"))
    );
    for (attempt, status) in [(1, 200), (2, 400)] {
        let reset = post_json(
            &http,
            format!("{base}/api/auth/reset-password"),
            json!({"token": token, "newPassword": "bob-new-password-456"}),
        )
        .await;
        assert_eq!(reset.status(), status, "reset attempt {attempt}");
    }
    for (password, status) in [("hunter2hunter2", 401), ("bob-new-password-456", 200)] {
        let signin = post_json(
            &http,
            format!("{base}/api/auth/sign-in/email"),
            json!({"email": "bob@example.com", "password": password}),
        )
        .await;
        assert_eq!(signin.status(), status, "{password}");
    }

    // Removing Bob: a user delete event and his organization's update (members).
    assert_eq!(
        post_with_cookie(
            &http,
            format!("{base}/api/auth/admin/remove-user"),
            &cookie,
            json!({"userId": bob_id})
        )
        .await,
        200
    );
    wait_for_events(&events, 5, "delete events").await;
    {
        let events = events.lock().unwrap();
        let (orgs, users): (Vec<&Value>, Vec<&Value>) =
            events[3..5].iter().partition(|e| is_org(e));
        assert_eq!((users.len(), orgs.len()), (1, 1), "{events:?}");
        assert_eq!(users[0]["event"], "delete");
        assert_eq!(
            users[0]["data"],
            json!({"_deleted": true, "user_id": bob_id})
        );
        assert_eq!(orgs[0]["data"]["users"], json!([]));
    }

    let signed_out = http
        .post(format!("{base}/api/auth/sign-out"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 200);
    let after: Value = get_json(&http, format!("{base}/api/auth/get-session"), &cookie).await;
    assert_eq!(after, Value::Null);

    cancel.cancel();
    server.await.unwrap().unwrap();
}
