//! The backend against attio-sandbox (the local Attio simulator): installation and the
//! rate-aware Attio client under 429 and 5xx.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use attio_auth_backend::attio::{AttioAuth, AttioClient};
use attio_auth_shared::connection::Protocol;
use attio_sandbox::{Faults, RateLimits, Sandbox, SandboxConfig, WorkspaceOptions};
use common::*;
use serde_json::{Value, json};

async fn sandbox_with(
    objects: &[&str],
) -> (
    attio_sandbox::SandboxHandle,
    attio_sandbox::WorkspaceCredentials,
) {
    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
    let creds = sandbox.create_workspace(WorkspaceOptions {
        enable_objects: objects.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    });
    (sandbox, creds)
}

fn client(sandbox: &attio_sandbox::SandboxHandle, writes: u32, attempts: u32) -> AttioClient {
    AttioClient::new(
        reqwest::Client::new(),
        &format!("{}/v2", sandbox.base_url()),
        writes,
        1000,
        attempts,
    )
}

#[tokio::test]
async fn install_against_the_sandbox_creates_attributes_and_webhook() {
    let (sandbox, creds) = sandbox_with(&["users", "workspaces"]).await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let app = spawn_app(DbChoice::Sqlite, &format!("{}/v2", sandbox.base_url())).await;
    let r = app
        .http
        .post(app.url("/v1/installations"))
        .json(&json!({"connection": plugin.connection.encode(), "attioToken": creds.token}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["installation"]["workspaceId"],
        creds.workspace_id.to_string()
    );
    let id = body["installation"]["id"].as_str().unwrap();

    let http = reqwest::Client::new();
    for (object, wanted) in [
        (
            "users",
            vec!["user_id", "primary_email_address", "name", "email_verified"],
        ),
        (
            "workspaces",
            vec!["workspace_id", "name", "slug", "avatar_url", "users"],
        ),
    ] {
        let attrs: Value = http
            .get(format!(
                "{}/v2/objects/{object}/attributes",
                sandbox.base_url()
            ))
            .bearer_auth(&creds.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let slugs: Vec<&str> = attrs["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["api_slug"].as_str().unwrap())
            .collect();
        for w in wanted {
            assert!(slugs.contains(&w), "{object}.{w} missing: {slugs:?}");
        }
    }
    let hooks: Value = http
        .get(format!("{}/v2/webhooks", sandbox.base_url()))
        .bearer_auth(&creds.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hooks = hooks["data"].as_array().unwrap();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert!(
        hooks[0]["target_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v1/attio/webhooks/{id}"))
    );
    let types: Vec<&str> = hooks[0]["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "record.created",
            "record.updated",
            "record.deleted",
            "record.merged"
        ]
    );
    // Filtered on the synced objects (not every record event of the workspace).
    let mut object_ids = Vec::new();
    for slug in ["users", "workspaces"] {
        let o: Value = http
            .get(format!("{}/v2/objects/{slug}", sandbox.base_url()))
            .bearer_auth(&creds.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        object_ids.push(o["data"]["id"]["object_id"].clone());
    }
    for sub in hooks[0]["subscriptions"].as_array().unwrap() {
        let conds = sub["filter"]["$or"].as_array().unwrap();
        let values: Vec<Value> = conds.iter().map(|c| c["value"].clone()).collect();
        assert_eq!(values, object_ids, "{sub}");
        assert!(
            conds
                .iter()
                .all(|c| c["field"] == "id.object_id" && c["operator"] == "equals")
        );
    }
}

#[tokio::test]
async fn install_against_the_sandbox_with_disabled_objects_explains_how_to_enable() {
    let (sandbox, creds) = sandbox_with(&["users"]).await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let app = spawn_app(DbChoice::Sqlite, &format!("{}/v2", sandbox.base_url())).await;
    let r = app
        .http
        .post(app.url("/v1/installations"))
        .json(&json!({"connection": plugin.connection.encode(), "attioToken": creds.token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("workspaces") && !msg.contains("users and"),
        "{msg}"
    );
    assert!(plugin.calls("link").is_empty());
}

#[tokio::test]
async fn attio_client_waits_out_429_with_retry_after() {
    let (sandbox, creds) = sandbox_with(&["users", "workspaces"]).await;
    sandbox.set_rate_limits(RateLimits {
        enabled: true,
        reads_per_second: 100,
        writes_per_second: 4,
    });
    // Our budget is far above the sandbox's: the sandbox answers 429 and we must wait.
    let c = client(&sandbox, 1000, 10);
    let auth = AttioAuth {
        workspace: creds.workspace_id.to_string(),
        token: secrecy::SecretString::from(creds.token.clone()),
    };
    let started = Instant::now();
    for i in 0..10 {
        let body = json!({"data": {"values": {"user_id": format!("u{i}"),
            "primary_email_address": format!("u{i}@example.com")}}});
        let rec = c
            .assert_record(&auth, "users", "user_id", &body)
            .await
            .unwrap();
        assert_eq!(rec.plain("user_id"), json!(format!("u{i}")));
    }
    let rate_limited = c.stats.rate_limited.load(Ordering::Relaxed);
    assert!(rate_limited > 0, "expected 429s");
    // 10 writes at 4/s span at least two one-second windows.
    assert!(started.elapsed() >= Duration::from_millis(1000));
    let statuses: Vec<u16> = sandbox.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10);
    assert_eq!(
        u64::try_from(statuses.iter().filter(|s| **s == 429).count()).unwrap(),
        rate_limited
    );
}

#[tokio::test]
async fn attio_client_budget_spaces_writes_without_429() {
    let (sandbox, creds) = sandbox_with(&["users", "workspaces"]).await;
    sandbox.set_rate_limits(RateLimits {
        enabled: true,
        reads_per_second: 100,
        writes_per_second: 10,
    });
    let c = client(&sandbox, 8, 10);
    let auth = AttioAuth {
        workspace: creds.workspace_id.to_string(),
        token: secrecy::SecretString::from(creds.token.clone()),
    };
    for i in 0..12 {
        let body = json!({"data": {"values": {"user_id": format!("u{i}"),
            "primary_email_address": format!("u{i}@example.com")}}});
        c.assert_record(&auth, "users", "user_id", &body)
            .await
            .unwrap();
    }
    assert_eq!(c.stats.rate_limited.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn attio_client_retries_5xx_for_idempotent_calls_and_gives_up_cleanly() {
    let (sandbox, creds) = sandbox_with(&["users", "workspaces"]).await;
    let auth = AttioAuth {
        workspace: creds.workspace_id.to_string(),
        token: secrecy::SecretString::from(creds.token.clone()),
    };
    assert!(sandbox.set_faults(Faults {
        error_rate: 0.3,
        status: 503,
        latency_ms: 0,
    }));
    let c = client(&sandbox, 1000, 12);
    for _ in 0..8 {
        let users = c.get_object(&auth, "users").await.unwrap();
        assert!(users.is_some());
    }
    assert!(c.stats.retries.load(Ordering::Relaxed) > 0);
    // Always failing: a clear, transient error after the allowed attempts.
    assert!(sandbox.set_faults(Faults {
        error_rate: 1.0,
        status: 500,
        latency_ms: 0,
    }));
    let c = client(&sandbox, 1000, 3);
    let err = c.get_object(&auth, "users").await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(!err.to_string().contains(&creds.token));
}

#[tokio::test]
async fn install_through_oauth_against_the_sandbox() {
    let (sandbox, creds) = sandbox_with(&["users", "workspaces"]).await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    // Bind first to learn the redirect URI, then register the OAuth app with it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let redirect = format!("http://{addr}/v1/oauth/callback");
    let oauth = sandbox
        .register_oauth_client(creds.workspace_id, vec![redirect.clone()])
        .unwrap();
    let mut config = test_config(dir.path(), None, &format!("{}/v2", sandbox.base_url()));
    config.bind = addr;
    config.attio_oauth_url = sandbox.base_url();
    config.attio_client_id = Some(oauth.client_id.clone());
    config.attio_client_secret = Some(secrecy::SecretString::from(oauth.client_secret.clone()));
    let app = spawn_app_with(config, dir).await;

    let start: Value = app
        .http
        .post(app.url("/v1/oauth/start"))
        .json(&json!({"connection": plugin.connection.encode()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let authorize = start["authorizeUrl"].as_str().unwrap();
    assert!(authorize.contains(&format!("client_id={}", oauth.client_id)));
    assert!(!authorize.contains("whsec_"));
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect.get(authorize).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&redirect));
    let r = app.http.get(&location).send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["installation"]["authKind"], "oauth");
    assert_eq!(
        body["installation"]["workspaceId"],
        creds.workspace_id.to_string()
    );
    assert_eq!(plugin.calls("link").len(), 1);
    // The state is single use.
    let r = app.http.get(&location).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "OAUTH_UNKNOWN_STATE");
}
