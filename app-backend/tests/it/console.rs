//! The console (issue 14) over HTTP, as a browser without JavaScript uses it: a cookie jar,
//! redirects followed by hand (to see each one), forms posted with the page's CSRF token.
//! Against attio-sandbox (its OAuth app flow too) and the fake auth plugin.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::*;
use attio_auth_shared::connection::{Connection, Protocol};
use attio_sandbox::{Sandbox, SandboxConfig, WorkspaceOptions};
use serde_json::{Value, json};

const COOKIE: &str = "attio_auth_console";

/// A browser: one cookie jar (the console's cookie), no JavaScript, redirects seen one by one.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    /// The attributes of the last `Set-Cookie` of the console's cookie.
    last_set_cookie: Option<String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Page {
    /// Asserts the page shows `text` (the page in the failure).
    fn assert_has(&self, text: &str) {
        assert!(self.body.contains(text), "{}", self.body);
    }

    fn csrf(&self) -> String {
        let key = "name=\"csrf\" value=\"";
        let at = self
            .body
            .find(key)
            .unwrap_or_else(|| panic!("no csrf field in {}", self.body))
            + key.len();
        self.body[at..].split('"').next().unwrap().to_owned()
    }
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{}", app.addr),
            cookie: None,
            last_set_cookie: None,
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder, url: &str) -> Page {
        let req = match (&self.cookie, url.starts_with(&self.base)) {
            (Some(c), true) => req.header("cookie", c),
            _ => req,
        };
        let r = req.send().await.unwrap();
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            if let Some(rest) = v.strip_prefix(&format!("{COOKIE}=")) {
                let value = rest.split(';').next().unwrap();
                self.last_set_cookie = Some(v.to_owned());
                self.cookie = if value.is_empty() || v.contains("Max-Age=0") {
                    None
                } else {
                    Some(format!("{COOKIE}={value}"))
                };
            }
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let body = r.text().await.unwrap();
        Page {
            status,
            location,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let url = self.url(path);
        let req = self.http.get(&url);
        self.send(req, &url).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let url = self.url(path);
        let req = self.http.post(&url).form(form);
        self.send(req, &url).await
    }

    /// Follow redirects from `page` until a page that is not a redirect.
    async fn follow(&mut self, mut page: Page) -> Page {
        for _ in 0..10 {
            match (page.status, page.location.clone()) {
                (301..=308, Some(loc)) => page = self.get(&loc).await,
                _ => return page,
            }
        }
        panic!("too many redirects");
    }
}

/// The sandbox (one workspace with `objects`), the fake plugin and the backend; with
/// `oauth`, the backend signs in through the sandbox's OAuth app. Also the browser test's.
pub(crate) struct ConsoleWorld {
    pub sandbox: attio_sandbox::SandboxHandle,
    pub creds: attio_sandbox::WorkspaceCredentials,
    pub plugin: FakePlugin,
    pub app: TestApp,
}

pub(crate) async fn world(db: DbChoice, objects: &[&str], oauth: bool) -> ConsoleWorld {
    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
    let creds = sandbox.create_workspace(WorkspaceOptions {
        enable_objects: objects.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    });
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let db_url = match db {
        DbChoice::Sqlite => None,
        DbChoice::Postgres => Some(fresh_postgres_url().await),
    };
    let mut config = test_config(dir.path(), db_url, &format!("{}/v2", sandbox.base_url()));
    config.bind = addr;
    if oauth {
        let client = sandbox
            .register_oauth_client(
                creds.workspace_id,
                vec![format!("http://{addr}/console/login/callback")],
            )
            .unwrap();
        config.attio_oauth_url = sandbox.base_url();
        config.attio_client_id = Some(client.client_id.clone());
        config.attio_client_secret = Some(secrecy::SecretString::from(client.client_secret));
    }
    let app = spawn_app_with(config, dir).await;
    ConsoleWorld {
        sandbox,
        creds,
        plugin,
        app,
    }
}

/// Sign in with an API token; returns the browser.
async fn signed_in(w: &ConsoleWorld, token: &str) -> Browser {
    let mut b = Browser::new(&w.app);
    let login = b.get("/console/login").await;
    assert_eq!(login.status, 200);
    let page = b
        .post(
            "/console/login/token",
            &[("csrf", &login.csrf()), ("token", token)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    b
}

fn passes(body: &str) -> usize {
    body.matches("✔ pass").count()
}

fn fails(body: &str) -> usize {
    body.matches("✘ fail").count()
}

async fn journey(db: DbChoice) {
    let w = world(db, &["users", "workspaces"], false).await;
    w.plugin.state.lock().unwrap().export_users = (0..250)
        .map(|i| {
            json!({"id": format!("u{i}"), "email": format!("u{i}@example.com"), "name": format!("U {i}"),
                "emailVerified": true, "image": null, "role": "user", "banned": false, "attioId": null,
                "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"})
        })
        .collect();
    let mut b = Browser::new(&w.app);

    // Not signed in: to the sign-in page, which (no OAuth configured) asks for a token and
    // names the scopes.
    let home = b.get("/console").await;
    assert_eq!(home.status, 303);
    assert_eq!(home.location.as_deref(), Some("/console/login"));
    let login = b.get("/console/login").await;
    assert_eq!(login.status, 200);
    login.assert_has("Workspace settings → Developers");
    assert!(login.body.contains("object_configuration:read-write"));
    assert!(login.body.contains("webhook:read-write"));
    let set = b.last_set_cookie.clone().expect("a session cookie");
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    assert!(set.contains("Path=/console"), "{set}");
    assert!(!set.contains("Secure"), "loopback: not Secure: {set}");
    let before = b.cookie.clone().unwrap();

    // Sign in: a new session id.
    let signed = b
        .post(
            "/console/login/token",
            &[("csrf", &login.csrf()), ("token", &w.creds.token)],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_ne!(
        b.cookie.clone().unwrap(),
        before,
        "the session id is rotated at sign-in"
    );
    let install = b.follow(signed).await;
    assert_eq!(install.status, 200);
    assert!(install.body.contains("Paste the connection string"));

    // The checks: all pass; nothing changed yet.
    let checked = b
        .post(
            "/console/install",
            &[
                ("csrf", &install.csrf()),
                ("connection", &w.plugin.connection.encode()),
            ],
        )
        .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert_eq!(fails(&checked.body), 0, "{}", checked.body);
    assert_eq!(passes(&checked.body), 5, "{}", checked.body);
    assert!(checked.body.contains("signed-v1"));
    checked.assert_has("users: will create");
    assert!(
        w.plugin.calls("link").is_empty(),
        "nothing linked before the confirmation"
    );
    assert!(
        attio_auth_backend::installations::Installation::find_by_workspace(
            &w.app.state,
            &w.creds.workspace_id.to_string()
        )
        .await
        .unwrap()
        .is_none()
    );

    // Confirm: progress until the backfill is done.
    let confirmed = b
        .post("/console/install/confirm", &[("csrf", &checked.csrf())])
        .await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    assert_eq!(
        confirmed.location.as_deref(),
        Some("/console/install/progress")
    );
    let mut progress = b.get("/console/install/progress").await;
    // Bounded (2 min on a loaded machine), not a timing assert.
    for _ in 0..1200 {
        if progress.body.contains("Next: connect the Attio app") {
            break;
        }
        progress.assert_has("http-equiv=\"refresh\"");
        tokio::time::sleep(Duration::from_millis(100)).await;
        progress = b.get("/console/install/progress").await;
    }
    progress.assert_has("100% — done");
    progress.assert_has(">250<");
    assert!(!progress.body.contains("http-equiv=\"refresh\""));
    let inst = attio_auth_backend::installations::Installation::find_by_workspace(
        &w.app.state,
        &w.creds.workspace_id.to_string(),
    )
    .await
    .unwrap()
    .expect("installed");
    assert_eq!(inst.auth_kind, "api-token");

    // Finish: waiting for the app, then connected once its connection-check arrives.
    let finish_url = format!("/console/installations/{}/finish", inst.id);
    let finish = b.get(&finish_url).await;
    finish.assert_has("Waiting for the Attio app");
    assert!(finish.body.contains("http-equiv=\"refresh\""));
    let body = serde_json::to_vec(&json!({"action": "connection-check"})).unwrap();
    let mut req = w
        .app
        .http
        .post(w.app.url("/v1/actions/connection-check"))
        .header("content-type", "application/json");
    for (k, v) in app_headers_for(
        &w.plugin.connection,
        &w.creds.workspace_id.to_string(),
        &body,
    ) {
        req = req.header(k, v);
    }
    assert_eq!(req.body(body).send().await.unwrap().status(), 200);
    let finish = b.get(&finish_url).await;
    finish.assert_has("The Attio app is connected");

    // The installation page: health, and the console's own backfill re-run in the audit log.
    let page_url = format!("/console/installations/{}", inst.id);
    let page = b.get(&page_url).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Health"));
    page.assert_has("answered: attio-auth plugin");
    let rerun = b
        .post(
            &format!("/console/installations/{}/backfill", inst.id),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(rerun.status, 303);
    let page = b.get(&page_url).await;
    page.assert_has("console.backfill");
    let csv = b
        .get(&format!(
            "/console/installations/{}/audit.csv?action=console.backfill",
            inst.id
        ))
        .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.body
            .starts_with("id,time,actor,action,target,reason,result\n")
    );
    assert_eq!(csv.body.lines().count(), 2, "{}", csv.body);
    let filtered = b.get(&format!("{page_url}?action=update-ban-status")).await;
    assert!(!filtered.body.contains("<code>console.backfill</code>"));

    // Uninstall: says what goes and what stays, then removes it.
    let confirm = b
        .get(&format!("/console/installations/{}/uninstall", inst.id))
        .await;
    assert!(confirm.body.contains("Kept:"));
    let done = b
        .post(
            &format!("/console/installations/{}/uninstall", inst.id),
            &[("csrf", &confirm.csrf())],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Uninstalled."));
    assert!(
        attio_auth_backend::installations::Installation::find(&w.app.state, &inst.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(w.plugin.calls("unlink").len(), 1);

    // Sign out: the session is gone.
    let page = b.get("/console/install").await;
    let out = b.post("/console/logout", &[("csrf", &page.csrf())]).await;
    assert_eq!(out.status, 303);
    assert_eq!(b.get("/console/install").await.status, 303);
}

#[tokio::test]
async fn console_journey_with_an_api_token_sqlite() {
    journey(DbChoice::Sqlite).await;
}

#[tokio::test]
async fn console_journey_with_an_api_token_postgres() {
    journey(DbChoice::Postgres).await;
}

#[tokio::test]
async fn console_oauth_sign_in_is_bound_to_the_browser() {
    let w = world(DbChoice::Sqlite, &["users", "workspaces"], true).await;
    let mut b = Browser::new(&w.app);
    let login = b.get("/console/login").await;
    assert!(login.body.contains("Sign in with Attio"));
    assert!(
        !login.body.contains("name=\"token\""),
        "OAuth configured: no token form"
    );
    let go = b
        .post("/console/login/oauth", &[("csrf", &login.csrf())])
        .await;
    assert_eq!(go.status, 303, "{}", go.body);
    let authorize = go.location.unwrap();
    assert!(authorize.starts_with(&w.sandbox.base_url()));
    let back = b.get(&authorize).await;
    let callback = back.location.expect("Attio redirects back");
    assert!(callback.contains("/console/login/callback"));

    // Another browser with this link gets nowhere.
    let mut other = Browser::new(&w.app);
    assert_eq!(other.get(&callback).await.status, 403);

    // The browser that started it is signed in, with a new session id, once.
    let before = b.cookie.clone();
    let done = b.get(&callback).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_ne!(b.cookie, before);
    let install = b.follow(done).await;
    assert_eq!(install.status, 200);
    assert!(install.body.contains("Paste the connection string"));
    assert!(install.body.contains("Sign out"));
    assert_eq!(b.get(&callback).await.status, 403, "single use");

    // Installing uses the OAuth token.
    let checked = b
        .post(
            "/console/install",
            &[
                ("csrf", &install.csrf()),
                ("connection", &w.plugin.connection.encode()),
            ],
        )
        .await;
    assert_eq!(fails(&checked.body), 0, "{}", checked.body);
    let confirmed = b
        .post("/console/install/confirm", &[("csrf", &checked.csrf())])
        .await;
    assert_eq!(confirmed.status, 303);
    let mut inst = None;
    for _ in 0..1200 {
        inst = attio_auth_backend::installations::Installation::find_by_workspace(
            &w.app.state,
            &w.creds.workspace_id.to_string(),
        )
        .await
        .unwrap()
        .filter(|i| i.status == "active");
        if inst.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(inst.expect("installed").auth_kind, "oauth");
}

#[tokio::test]
async fn console_forms_refuse_a_missing_or_wrong_csrf_token() {
    let w = world(DbChoice::Sqlite, &["users", "workspaces"], false).await;
    let mut b = Browser::new(&w.app);
    let login = b.get("/console/login").await;
    let no_token = b
        .post("/console/login/token", &[("token", &w.creds.token)])
        .await;
    assert_eq!(no_token.status, 403);
    no_token.assert_has("CSRF_MISMATCH");
    let wrong = b
        .post(
            "/console/login/token",
            &[("csrf", "0123"), ("token", &w.creds.token)],
        )
        .await;
    assert_eq!(wrong.status, 403);
    assert!(
        b.get("/console/install").await.status == 303,
        "still signed out"
    );

    // Signed in: the token of before sign-in is gone, and forms need the current one.
    let ok = b
        .post(
            "/console/login/token",
            &[("csrf", &login.csrf()), ("token", &w.creds.token)],
        )
        .await;
    assert_eq!(ok.status, 303);
    let install = b.get("/console/install").await;
    assert_ne!(install.csrf(), login.csrf(), "a new token at sign-in");
    let stale = b
        .post(
            "/console/install",
            &[
                ("csrf", &login.csrf()),
                ("connection", &w.plugin.connection.encode()),
            ],
        )
        .await;
    assert_eq!(stale.status, 403);
    let no_confirm = b.post("/console/install/confirm", &[]).await;
    assert_eq!(no_confirm.status, 403);
    let logout = b.post("/console/logout", &[("csrf", "nope")]).await;
    assert_eq!(logout.status, 403);
}

/// The checks' page for `connection`.
async fn check_page(b: &mut Browser, connection: &str) -> Page {
    let install = b.get("/console/install").await;
    b.post(
        "/console/install",
        &[("csrf", &install.csrf()), ("connection", connection)],
    )
    .await
}

#[tokio::test]
async fn console_checks_name_each_failure() {
    let w = world(DbChoice::Sqlite, &["users", "workspaces"], false).await;
    let mut b = signed_in(&w, &w.creds.token).await;
    let url = format!("http://{}", w.plugin.addr);
    let secret = w.plugin.connection.secret().clone();

    // Wrong base path: 404.
    let wrong_base = Connection::new(url.clone(), "/auth", Protocol::SignedV1, secret.clone())
        .unwrap()
        .encode();
    let p = check_page(&mut b, &wrong_base).await;
    assert_eq!(p.status, 422);
    p.assert_has("wrong base path");
    assert_eq!(fails(&p.body), 1, "{}", p.body);

    // Wrong secret: 401.
    let wrong_secret = Connection::generate(&url, None).unwrap().encode();
    let p = check_page(&mut b, &wrong_secret).await;
    p.assert_has("wrong secret");
    assert!(p.body.contains("ATTIO_SECRET"));

    // Unreachable: nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let refused = Connection::generate(&format!("http://127.0.0.1:{port}"), None)
        .unwrap()
        .encode();
    let p = check_page(&mut b, &refused).await;
    p.assert_has("Connection refused");

    // TLS: https to a port that speaks plain http.
    let tls = Connection::generate(&format!("https://{}", w.plugin.addr), None)
        .unwrap()
        .encode();
    let p = check_page(&mut b, &tls).await;
    p.assert_has("TLS failure");

    // 501: the plugin answers, a Better Auth plugin it needs is missing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/api/auth/attio/ping",
        axum::routing::post(|| async {
            (
                axum::http::StatusCode::NOT_IMPLEMENTED,
                axum::Json(json!({"code": "FEATURE_DISABLED", "message": "the admin plugin is not enabled"})),
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let missing = Connection::generate(&format!("http://{addr}"), None)
        .unwrap()
        .encode();
    let p = check_page(&mut b, &missing).await;
    p.assert_has("a Better Auth plugin is missing");
    p.assert_has("the admin plugin is not enabled");

    // Not a string at all.
    let p = check_page(&mut b, "not a connection string").await;
    p.assert_has("It does not decode");
    assert!(
        !p.body.contains("/console/install/confirm"),
        "no confirmation offered"
    );

    // Objects not enabled: another workspace without them.
    let bare = w.sandbox.create_workspace(WorkspaceOptions::default());
    let mut b2 = signed_in(&w, &bare.token).await;
    let p = check_page(&mut b2, &w.plugin.connection.encode()).await;
    p.assert_has("Not enabled: users and workspaces");
    p.assert_has("Workspace settings → Objects");
}

#[tokio::test]
async fn another_workspace_gets_404() {
    let w = world(DbChoice::Sqlite, &["users", "workspaces"], false).await;
    let id = install_ok(&w.app, &w.plugin.connection, &w.creds.token).await;

    let mut member = signed_in(&w, &w.creds.token).await;
    let page = member.get(&format!("/console/installations/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let home = member.get("/console").await;
    assert_eq!(home.location, Some(format!("/console/installations/{id}")));

    let other_ws = w.sandbox.create_workspace(WorkspaceOptions {
        enable_objects: vec!["users".into(), "workspaces".into()],
        ..Default::default()
    });
    let mut stranger = signed_in(&w, &other_ws.token).await;
    for path in [
        format!("/console/installations/{id}"),
        format!("/console/installations/{id}/finish"),
        format!("/console/installations/{id}/audit.csv"),
        format!("/console/installations/{id}/backfill"),
        format!("/console/installations/{id}/uninstall"),
    ] {
        assert_eq!(stranger.get(&path).await.status, 404, "{path}");
    }
    let own = stranger.get("/console/install").await;
    let post = stranger
        .post(
            &format!("/console/installations/{id}/uninstall"),
            &[("csrf", &own.csrf())],
        )
        .await;
    assert_eq!(post.status, 404);
    assert!(
        attio_auth_backend::installations::Installation::find(&w.app.state, &id)
            .await
            .unwrap()
            .is_some()
    );
    // Unknown ids look the same.
    assert_eq!(
        stranger
            .get("/console/installations/00000000-0000-0000-0000-000000000000")
            .await
            .status,
        404
    );
}

/// The textarea `id`'s text.
fn textarea(body: &str, id: &str) -> String {
    let start = body.find(&format!("id=\"{id}\"")).unwrap();
    let open = start + body[start..].find('>').unwrap() + 1;
    let end = open + body[open..].find("</textarea>").unwrap();
    body[open..end].to_owned()
}

async fn audit_status(w: &ConsoleWorld, id: &str, conn: &Connection) -> u16 {
    let mut req = w
        .app
        .http
        .get(w.app.url(&format!("/v1/installations/{id}/audit")));
    for (k, v) in app_headers_for(conn, &w.creds.workspace_id.to_string(), b"") {
        req = req.header(k, v);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn console_rotation_accepts_old_and_new_until_the_plugin_has_the_new_one() {
    let w = world(DbChoice::Sqlite, &["users", "workspaces"], false).await;
    let id = install_ok(&w.app, &w.plugin.connection, &w.creds.token).await;
    let mut b = signed_in(&w, &w.creds.token).await;
    let page = b.get(&format!("/console/installations/{id}")).await;
    assert!(page.body.contains("Rotate the secret"));
    let rotated = b
        .post(
            &format!("/console/installations/{id}/rotate"),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let next = Connection::decode(&textarea(&rotated.body, "new-connection")).unwrap();
    assert_eq!(next.url(), w.plugin.connection.url());
    assert_ne!(
        secrecy::ExposeSecret::expose_secret(next.secret()),
        secrecy::ExposeSecret::expose_secret(w.plugin.connection.secret())
    );
    assert!(textarea(&rotated.body, "new-secret").starts_with("ATTIO_SECRET=whsec_"));

    // Both secrets are accepted; another one is not.
    assert_eq!(audit_status(&w, &id, &next).await, 200);
    assert_eq!(audit_status(&w, &id, &w.plugin.connection).await, 200);
    let stranger = Connection::generate("http://127.0.0.1:1", None).unwrap();
    assert_eq!(audit_status(&w, &id, &stranger).await, 401);

    // The plugin still has the old secret: the rotation stays open.
    let page = b.get(&format!("/console/installations/{id}")).await;
    page.assert_has("A rotation is running");
    let check = b
        .post(
            &format!("/console/installations/{id}/rotate/check"),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert!(
        check
            .body
            .contains("does not answer with the new secret yet"),
        "{}",
        check.body
    );
    assert_eq!(audit_status(&w, &id, &w.plugin.connection).await, 200);
    // The rotation is in the audit log.
    let page = b
        .get(&format!(
            "/console/installations/{id}?action=console.rotate-secret"
        ))
        .await;
    page.assert_has("Secret rotation started.");

    // The auth server moves to the new secret: an action signed with the new secret goes
    // through, the backend's call to the plugin signed with the new secret too (the plugin
    // refuses the old one, so the rotation finishes on the way), and the old secret is done.
    add_sandbox_member(w.creds.workspace_id);
    w.plugin.state.lock().unwrap().moved_to = Some(next.clone());
    let body = serde_json::to_vec(&with_actor(json!({"action": "create-user",
        "params": {"email": "rotated@example.com", "name": "Rotated"}})))
    .unwrap();
    let mut req = w
        .app
        .http
        .post(w.app.url("/v1/actions/create-user"))
        .header("content-type", "application/json");
    for (k, v) in app_headers_for(&next, &w.creds.workspace_id.to_string(), &body) {
        req = req.header(k, v);
    }
    let r = req.body(body).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let created = w.plugin.calls("create-user");
    assert_eq!(
        created.len(),
        2,
        "refused with the old secret, then sent with the new"
    );
    assert_eq!(created[1].body["email"], "rotated@example.com");
    assert_eq!(audit_status(&w, &id, &next).await, 200);
    assert_eq!(audit_status(&w, &id, &w.plugin.connection).await, 401);
    let page = b.get(&format!("/console/installations/{id}")).await;
    assert!(
        !page.body.contains("A rotation is running"),
        "{}",
        page.body
    );
}

/// `attio-auth install` and `attio-auth backfill`: the same API as the console, from a
/// script.
#[tokio::test]
async fn cli_install_and_backfill_through_the_api() {
    let w = world(DbChoice::Sqlite, &["users", "workspaces"], false).await;
    w.plugin.state.lock().unwrap().export_users = (0..30)
        .map(|i| {
            json!({"id": format!("c{i}"), "email": format!("c{i}@example.com"), "name": format!("C {i}"),
                "emailVerified": true, "image": null, "role": "user", "banned": false, "attioId": null,
                "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"})
        })
        .collect();
    let backend = format!("http://{}", w.app.addr);
    let run = |args: Vec<String>, envs: Vec<(&'static str, String)>| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_attio-auth"))
            .args(args)
            .envs(envs)
            .output()
            .await
            .unwrap()
    };
    let out = run(
        vec!["install".into(), "--backend".into(), backend.clone()],
        vec![
            ("ATTIO_AUTH_CONNECTION", w.plugin.connection.encode()),
            ("ATTIO_TOKEN", w.creds.token.clone()),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let mut lines = stdout.lines();
    let installed: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let id = installed["installation"]["id"].as_str().unwrap().to_owned();
    let done: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(done["status"], "done", "{stdout}");
    assert_eq!(done["usersDone"], 30, "{stdout}");
    assert!(
        !stdout.contains("whsec_") && !stderr.contains("whsec_"),
        "no secret printed"
    );

    // Again, as its own command.
    let out = run(
        vec![
            "backfill".into(),
            "--backend".into(),
            backend.clone(),
            "--installation".into(),
            id.clone(),
            "--workspace".into(),
            w.creds.workspace_id.to_string(),
        ],
        vec![("ATTIO_AUTH_CONNECTION", w.plugin.connection.encode())],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(done["status"], "done");
    assert_eq!(done["usersDone"], 30);

    // A refusal: exit 1 with the backend's reason.
    let out = run(
        vec!["install".into(), "--backend".into(), backend],
        vec![
            ("ATTIO_AUTH_CONNECTION", w.plugin.connection.encode()),
            ("ATTIO_TOKEN", w.creds.token.clone()),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ALREADY_INSTALLED"));
}
