//! The backend against attio-sandbox (the local Attio simulator): installation and the
//! rate-aware Attio client under 429 and 5xx.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common::*;
use attio_auth_backend::attio::AttioClient;
use attio_auth_shared::connection::Protocol;
use attio_sandbox::{Faults, RateLimits};
use serde_json::{Value, json};

fn client(sandbox: &attio_sandbox::SandboxHandle, writes: u32, attempts: u32) -> AttioClient {
    AttioClient::new(
        reqwest::Client::new(),
        &api_url(sandbox),
        writes,
        1000,
        attempts,
    )
}

#[tokio::test]
async fn install_against_the_sandbox_creates_attributes_and_webhook() {
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let app = spawn_app(DbChoice::Sqlite, &api_url(&sandbox)).await;
    let (status, body) = install(&app, &plugin.connection, &creds.token).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["installation"]["workspaceId"],
        creds.workspace_id.to_string()
    );
    let id = body["installation"]["id"].as_str().unwrap();

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
        let attrs = attio_get(
            &sandbox,
            &creds.token,
            &format!("/v2/objects/{object}/attributes"),
        )
        .await;
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
    let hooks = attio_get(&sandbox, &creds.token, "/v2/webhooks").await;
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
        let o = attio_get(&sandbox, &creds.token, &format!("/v2/objects/{slug}")).await;
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
    let app = spawn_app(DbChoice::Sqlite, &api_url(&sandbox)).await;
    let (status, body) = install(&app, &plugin.connection, &creds.token).await;
    assert_eq!(status, 422, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("workspaces") && !msg.contains("users and"),
        "{msg}"
    );
    assert!(plugin.calls("link").is_empty());
}

#[tokio::test]
async fn attio_client_waits_out_429_with_retry_after() {
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    sandbox.set_rate_limits(RateLimits {
        enabled: true,
        reads_per_second: 100,
        writes_per_second: 4,
    });
    // Our budget is far above the sandbox's: the sandbox answers 429 and we must wait.
    let c = client(&sandbox, 1000, 10);
    let auth = attio_auth(&creds);
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
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    sandbox.set_rate_limits(RateLimits {
        enabled: true,
        reads_per_second: 100,
        writes_per_second: 10,
    });
    let c = client(&sandbox, 8, 10);
    let auth = attio_auth(&creds);
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
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    let auth = attio_auth(&creds);
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

/// The session cookie (`name=value`) a response sets, if any.
fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("attio_auth_oauth="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// The hidden `csrf` value of the confirmation page.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_owned()
}

struct OAuthWorld {
    sandbox: attio_sandbox::SandboxHandle,
    creds: attio_sandbox::WorkspaceCredentials,
    plugin: FakePlugin,
    app: TestApp,
    redirect: String,
}

async fn oauth_world(db: DbChoice) -> OAuthWorld {
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
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
    let mut config = test_config(dir.path(), db_url(db).await, &api_url(&sandbox));
    config.bind = addr;
    config.attio_oauth_url = sandbox.base_url();
    config.attio_client_id = Some(oauth.client_id.clone());
    config.attio_client_secret = Some(secrecy::SecretString::from(oauth.client_secret.clone()));
    let app = spawn_app_with(config, dir).await;
    OAuthWorld {
        sandbox,
        creds,
        plugin,
        app,
        redirect,
    }
}

impl OAuthWorld {
    /// `POST /v1/oauth/start` from a browser with `cookie` (or none): the session cookie set
    /// and the callback URL Attio redirects that browser to after approval.
    async fn start(&self, cookie: Option<&str>) -> (String, String) {
        let mut req = self
            .app
            .http
            .post(self.app.url("/v1/oauth/start"))
            .json(&json!({"connection": self.plugin.connection.encode()}));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200);
        let set = r
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(set.contains("HttpOnly"), "{set}");
        assert!(set.contains("SameSite=Lax"), "{set}");
        assert!(set.contains("Path=/v1/oauth"), "{set}");
        assert!(!set.contains("Secure"), "loopback: not Secure: {set}");
        let cookie = set.split(';').next().unwrap().to_owned();
        let start: Value = r.json().await.unwrap();
        let authorize = start["authorizeUrl"].as_str().unwrap();
        assert!(!authorize.contains("whsec_"));
        let no_redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = no_redirect.get(authorize).send().await.unwrap();
        assert_eq!(r.status(), 302);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(&self.redirect));
        (cookie, location)
    }

    async fn get(&self, url: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.app.http.get(url);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    async fn confirm(&self, cookie: Option<&str>, form: &str) -> reqwest::Response {
        let mut req = self
            .app
            .http
            .post(self.app.url("/v1/oauth/confirm"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    async fn installed(&self) -> bool {
        attio_auth_backend::installations::Installation::find_by_workspace(
            &self.app.state,
            &self.creds.workspace_id.to_string(),
        )
        .await
        .unwrap()
        .is_some()
    }
}

async fn assert_refused(r: reqwest::Response, status: u16, code: &str) {
    assert_eq!(r.status(), status);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
}

/// Issue 13, item 2: the OAuth state is bound to the browser that started the flow, and
/// nothing is linked before the admin confirms in that browser with the page's CSRF token.
async fn oauth_install_is_bound_to_the_browser_and_confirmed(db: DbChoice) {
    let w = oauth_world(db).await;

    // The attacker starts a flow with their own connection string and sends the authorize
    // link to the victim's admin, whose browser has no session, or another one of its own.
    let (_attacker, location) = w.start(None).await;
    let r = w.get(&location, None).await;
    assert_refused(r, 403, "OAUTH_STATE_MISMATCH").await;
    let (victim, _) = w.start(None).await;
    let (_attacker, location) = w.start(None).await;
    let r = w.get(&location, Some(&victim)).await;
    assert_refused(r, 403, "OAUTH_STATE_MISMATCH").await;
    assert!(!w.installed().await, "nothing may be installed");
    assert!(w.plugin.calls("link").is_empty());

    // The admin's own flow, in one browser: a confirmation page, nothing linked yet.
    let (cookie, location) = w.start(None).await;
    let r = w.get(&location, Some(&cookie)).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    // The session id is rotated at this step.
    let before = cookie;
    let cookie = session_cookie(&r).unwrap();
    assert_ne!(cookie, before);
    let page = r.text().await.unwrap();
    assert!(page.contains("Sandbox"), "workspace name: {page}");
    assert!(page.contains(&w.creds.workspace_id.to_string()), "{page}");
    assert!(
        page.contains(&w.plugin.connection.url()),
        "auth server URL: {page}"
    );
    assert!(!page.contains("whsec_"));
    let csrf = csrf_of(&page);
    assert!(csrf.len() >= 32);
    assert!(
        !w.installed().await,
        "nothing is linked before the confirmation"
    );
    assert!(w.plugin.calls("link").is_empty());
    // The state was single use.
    let r = w.get(&location, Some(&cookie)).await;
    assert_refused(r, 403, "OAUTH_STATE_MISMATCH").await;

    // Confirmation without, or with a wrong, CSRF token; or the right token from another
    // browser: refused, nothing linked.
    assert_refused(w.confirm(Some(&cookie), "").await, 403, "CSRF_MISMATCH").await;
    let wrong = format!("csrf={}", "0".repeat(csrf.len()));
    assert_refused(w.confirm(Some(&cookie), &wrong).await, 403, "CSRF_MISMATCH").await;
    let right = format!("csrf={csrf}");
    assert_refused(w.confirm(None, &right).await, 403, "OAUTH_STATE_MISMATCH").await;
    assert_refused(
        w.confirm(Some(&victim), &right).await,
        403,
        "OAUTH_STATE_MISMATCH",
    )
    .await;
    // The session id from before the rotation is worth nothing.
    assert_refused(
        w.confirm(Some(&before), &right).await,
        403,
        "OAUTH_STATE_MISMATCH",
    )
    .await;
    assert!(!w.installed().await);
    assert!(w.plugin.calls("link").is_empty());

    // The right token in the same session installs.
    let r = w.confirm(Some(&cookie), &right).await;
    assert_eq!(r.status(), 201);
    let page = r.text().await.unwrap();
    assert!(page.contains(&w.plugin.connection.url()), "{page}");
    let inst = attio_auth_backend::installations::Installation::find_by_workspace(
        &w.app.state,
        &w.creds.workspace_id.to_string(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(inst.auth_kind, "oauth");
    assert_eq!(w.plugin.calls("link").len(), 1);
    // The confirmation is single use too.
    assert_refused(
        w.confirm(Some(&cookie), &right).await,
        403,
        "OAUTH_STATE_MISMATCH",
    )
    .await;
    assert_eq!(w.plugin.calls("link").len(), 1);
    drop(w.sandbox);
}

#[tokio::test]
async fn oauth_install_is_bound_to_the_browser_and_confirmed_sqlite() {
    oauth_install_is_bound_to_the_browser_and_confirmed(DbChoice::Sqlite).await;
}

#[tokio::test]
async fn oauth_install_is_bound_to_the_browser_and_confirmed_postgres() {
    oauth_install_is_bound_to_the_browser_and_confirmed(DbChoice::Postgres).await;
}
