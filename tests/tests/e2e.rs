//! The whole chain, in-process on loopback: the Attio sandbox, an auth server with our
//! plugin (signed protocol, sync outbox), and app-backend on SQLite. A connection string
//! from the generator's codec installs the workspace; then every action goes through the
//! backend as the Attio app sends it, changes flow both ways, and at the end Attio and the
//! auth database agree. Faults: the auth server down for a while, Attio answering 429/5xx,
//! the backend restarted with events in its queue.

use attio_auth_demo::client::{AppClient, AttioReader, plain_value};
use attio_auth_plugin::store::User;
use attio_auth_shared::connection::Connection;
use attio_auth_shared::signing::Signer;
use attio_auth_tests::auth_host::AuthHost;
use attio_auth_tests::wait::eventually;
use attio_sandbox::{
    Sandbox, SandboxConfig, SandboxHandle, WorkspaceCredentials, WorkspaceOptions,
};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const ACTOR_EMAIL: &str = "alice@example.com";

type Backend = attio_auth_tests::backend::BackendServer;

/// Everything, wired and installed.
struct Stack {
    http: reqwest::Client,
    sandbox: SandboxHandle,
    creds: WorkspaceCredentials,
    auth: Option<AuthHost>,
    backend: Option<Backend>,
    signer: Signer,
    data_dir: PathBuf,
    database_url: Option<String>,
    _dir: tempfile::TempDir,
}

/// The secrets-at-rest key of backends that share a PostgreSQL database (test only).
const SHARED_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

impl Stack {
    async fn start() -> Stack {
        Self::start_with(None).await
    }

    /// With app-backend on `database_url` (PostgreSQL) instead of its SQLite file.
    async fn start_with(database_url: Option<String>) -> Stack {
        Self::start_full(database_url, false).await
    }

    /// With a connection string of the original generator (`{uri, base, secret}`, legacy
    /// protocol): an existing installation moving its auth server to our plugin.
    async fn start_legacy() -> Stack {
        Self::start_full(None, true).await
    }

    async fn start_full(database_url: Option<String>, legacy: bool) -> Stack {
        let dir = tempfile::tempdir().expect("temp dir");
        let http = reqwest::Client::new();
        let sandbox = Sandbox::start(SandboxConfig::for_tests())
            .await
            .expect("sandbox");
        let creds = sandbox.create_workspace(WorkspaceOptions {
            enable_objects: vec!["users".into(), "workspaces".into()],
            ..Default::default()
        });
        attio_auth_demo::client::add_demo_member(creds.workspace_id);
        // The auth server's address is known before the connection string is made, as a
        // customer knows their domain: bind first on port 0, then make the string.
        let probe = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("port");
        let auth_port = probe.local_addr().expect("addr").port();
        drop(probe);
        // The generator site, as a person uses it (its no-JavaScript form).
        let site_root = attio_auth_generator::server::Config::default_site_root();
        let site = attio_auth_generator::server::router(
            attio_auth_generator::server::AppState::new(&site_root),
            &site_root,
        );
        let site_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("site port");
        let site_url = format!("http://{}", site_listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(site_listener, site).await;
        });
        let encoded = if legacy {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(
                json!({"uri": format!("http://127.0.0.1:{auth_port}"), "base": "/api/auth",
                       "secret": "an-original-plugin-secret-1234"})
                .to_string(),
            )
        } else {
            attio_auth_tests::generator::generate_on_site(
                &http,
                &site_url,
                &format!("http://127.0.0.1:{auth_port}"),
                "/api/auth",
            )
            .await
            .expect("a connection string from the generator site")
        };
        let connection = Connection::decode(&encoded).expect("string round trip");
        let auth = AuthHost::start(
            &dir.path().join("auth.db"),
            secrecy::ExposeSecret::expose_secret(connection.secret()),
            auth_port,
        )
        .await
        .expect("auth host");
        assert_eq!(connection.url(), auth.auth_url());
        let data_dir = dir.path().join("backend");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let backend = Backend::start_with(
            &data_dir,
            &format!("{}/v2", sandbox.base_url()),
            0,
            database_url.as_deref(),
            database_url.as_ref().map(|_| SHARED_KEY),
        )
        .await
        .expect("backend");
        // The Attio app signs with the connection's secret, or for an original string with
        // whsec_ + base64(SHA-256(secret)).
        let signer = if legacy {
            use base64::Engine as _;
            use sha2::Digest as _;
            Signer::from_secret(&secrecy::SecretString::from(format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(
                    secrecy::ExposeSecret::expose_secret(connection.secret())
                ))
            )))
            .expect("signer")
        } else {
            Signer::from_secret(connection.secret()).expect("signer")
        };

        // Install with the string and an Attio token.
        let (status, body) =
            attio_auth_tests::backend::install(&http, &backend.url, &encoded, &creds.token)
                .await
                .expect("install");
        assert_eq!(status, 201, "install: {body}");

        Stack {
            http,
            sandbox,
            creds,
            auth: Some(auth),
            backend: Some(backend),
            signer,
            data_dir,
            database_url,
            _dir: dir,
        }
    }

    fn auth(&self) -> &AuthHost {
        self.auth.as_ref().expect("auth server running")
    }

    fn backend_url(&self) -> String {
        self.backend.as_ref().expect("backend running").url.clone()
    }

    /// The Attio app (the demo's client) calling the running backend.
    fn app(&self) -> AppClient {
        AppClient {
            http: self.http.clone(),
            backend_url: self.backend_url(),
            workspace_id: self.creds.workspace_id.to_string(),
            signer: self.signer.clone(),
        }
    }

    /// A record action as the Attio app sends it: signed, with the workspace header.
    async fn action(
        &self,
        action: &str,
        target: Option<(&str, &str)>,
        params: Value,
    ) -> (u16, Value) {
        self.app()
            .action(action, ACTOR_EMAIL, target, params)
            .await
            .expect("action call")
    }

    async fn signed_call(&self, action: &str, body: Value) -> (u16, Value) {
        self.app().call(action, &body).await.expect("action call")
    }

    /// Every record of an Attio object, from the sandbox's API.
    async fn records(&self, object: &str) -> Vec<Value> {
        AttioReader {
            http: self.http.clone(),
            api_url: format!("{}/v2", self.sandbox.base_url()),
            token: self.creds.token.clone(),
        }
        .records(object)
        .await
        .expect("query")
    }

    /// The `users` record whose `user_id` is `user_id`.
    async fn user_record(&self, user_id: &str) -> Option<Value> {
        self.records("users")
            .await
            .into_iter()
            .find(|r| plain_value(r, "user_id").as_deref() == Some(user_id))
    }

    /// Changes a record in Attio (as a person editing it would).
    async fn edit_record(&self, object: &str, record_id: &str, values: Value) {
        let res = self
            .http
            .patch(format!(
                "{}/v2/objects/{object}/records/{record_id}",
                self.sandbox.base_url()
            ))
            .bearer_auth(&self.creds.token)
            .json(&json!({"data": {"values": values}}))
            .send()
            .await
            .expect("patch");
        assert!(
            res.status().is_success(),
            "patch: {}",
            res.text().await.unwrap_or_default()
        );
    }
}

impl Stack {
    /// Creates a record in Attio (as a person adding one would).
    async fn create_record(&self, object: &str, values: Value) -> String {
        let res = self
            .http
            .post(format!(
                "{}/v2/objects/{object}/records",
                self.sandbox.base_url()
            ))
            .bearer_auth(&self.creds.token)
            .json(&json!({"data": {"values": values}}))
            .send()
            .await
            .expect("create record");
        let status = res.status();
        let body: Value = res.json().await.expect("record");
        assert!(status.is_success(), "create record: {body}");
        record_id(&body["data"])
    }
}

/// The plain value of a single-valued text-like attribute of a record.
fn record_id(record: &Value) -> String {
    record["id"]["record_id"]
        .as_str()
        .expect("record id")
        .to_owned()
}

/// Attio and the auth database agree: every user has exactly one `users` record with its
/// id, email and name, and every organization one `workspaces` record with its id and name.
async fn assert_agree(stack: &Stack) {
    let users: Vec<(String, String, String)> =
        sqlx::query_as(r#"select "id", "email", "name" from "user" order by "email""#)
            .fetch_all(&stack.auth().pool)
            .await
            .expect("users");
    let records = stack.records("users").await;
    for (id, email, name) in &users {
        let matching: Vec<&Value> = records
            .iter()
            .filter(|r| plain_value(r, "user_id").as_deref() == Some(id))
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "one Attio record for {email}: {matching:?}"
        );
        assert_eq!(
            plain_value(matching[0], "primary_email_address").as_deref(),
            Some(email.as_str())
        );
        assert_eq!(
            plain_value(matching[0], "name").as_deref(),
            Some(name.as_str()),
            "{email}"
        );
    }
    let orgs: Vec<(String, String)> =
        sqlx::query_as(r#"select "id", "name" from "organization" order by "name""#)
            .fetch_all(&stack.auth().pool)
            .await
            .expect("organizations");
    let workspaces = stack.records("workspaces").await;
    for (id, name) in &orgs {
        let matching: Vec<&Value> = workspaces
            .iter()
            .filter(|r| plain_value(r, "workspace_id").as_deref() == Some(id))
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "one Attio workspace for {name}: {matching:?}"
        );
        assert_eq!(
            plain_value(matching[0], "name").as_deref(),
            Some(name.as_str())
        );
    }
}

async fn wait_for_user_record(stack: &Stack, user_id: &str) -> String {
    record_id(
        &eventually("the user's Attio record", 30, || async {
            stack.user_record(user_id).await
        })
        .await,
    )
}

fn ok_data(what: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, 200, "{what}: {body}");
    assert_eq!(body["ok"], json!(true), "{what}: {body}");
    assert!(
        body["message"].is_string(),
        "{what}: a toast message: {body}"
    );
    body["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_sync_and_every_action_through_the_chain() {
    let stack = Stack::start().await;
    let auth = stack.auth();

    // auth -> Attio: sign-ups appear as `users` records.
    let (alice, bob) = sign_up_alice_and_bob(auth).await;
    let bob_rid = wait_for_user_record(&stack, &bob.id).await;
    let alice_rid = wait_for_user_record(&stack, &alice.id).await;
    let bob_target = Some(("users", bob_rid.as_str()));

    // user-details
    let data = ok_data(
        "user-details",
        stack.action("user-details", bob_target, json!({})).await,
    );
    assert_eq!(
        (&data["banned"], &data["role"]),
        (&json!(false), &json!("user"))
    );
    let data = ok_data(
        "user-details alice",
        stack
            .action("user-details", Some(("users", &alice_rid)), json!({}))
            .await,
    );
    assert_eq!(data["role"], json!("admin"));

    // sessions, revoke-session (by id: the signed protocol never shows tokens)
    let s1 = auth.sign_in(&bob.id).await.expect("session");
    let _s2 = auth.sign_in(&bob.id).await.expect("session");
    let data = ok_data(
        "sessions",
        stack.action("sessions", bob_target, json!({})).await,
    );
    assert_eq!(data["totalCount"], json!(2), "{data}");
    assert!(
        data["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .all(|s| s.get("token").is_none()),
        "no tokens for signed callers: {data}"
    );
    ok_data(
        "revoke-session",
        stack
            .action("revoke-session", None, json!({"sessionId": s1}))
            .await,
    );
    let data = ok_data(
        "sessions",
        stack.action("sessions", bob_target, json!({})).await,
    );
    assert_eq!(data["totalCount"], json!(1), "{data}");

    // update-ban-status: a ban ends the sessions; unban
    ok_data(
        "ban",
        stack
            .action(
                "update-ban-status",
                bob_target,
                json!({"banned": true, "banReason": "spam", "banExpiresIn": 3600}),
            )
            .await,
    );
    let data = ok_data(
        "user-details",
        stack.action("user-details", bob_target, json!({})).await,
    );
    assert_eq!(
        (&data["banned"], &data["banReason"]),
        (&json!(true), &json!("spam")),
        "{data}"
    );
    assert!(data["bannedUntil"].is_string(), "{data}");
    let data = ok_data(
        "sessions",
        stack.action("sessions", bob_target, json!({})).await,
    );
    assert_eq!(
        data["totalCount"],
        json!(0),
        "a ban ends the sessions: {data}"
    );
    ok_data(
        "unban",
        stack
            .action("update-ban-status", bob_target, json!({"banned": false}))
            .await,
    );
    let data = ok_data(
        "user-details",
        stack.action("user-details", bob_target, json!({})).await,
    );
    assert_eq!(data["banned"], json!(false));

    // send-password-reset: the auth server's mailer sends the link
    ok_data(
        "send-password-reset",
        stack
            .action("send-password-reset", bob_target, json!({}))
            .await,
    );
    assert!(
        auth.mailer.sent().iter().any(|m| matches!(m,
            attio_auth_plugin::SentMail::PasswordReset(r) if r.to == "bob@example.com")),
        "reset mail: {:?}",
        auth.mailer.sent()
    );

    // impersonate (the actor, an admin, impersonates Bob): a one-time link
    let data = ok_data(
        "impersonate",
        stack.action("impersonate", bob_target, json!({})).await,
    );
    let link = data["url"].as_str().expect("impersonation link").to_owned();
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(&link)
        .send()
        .await
        .expect("follow link");
    assert_eq!(res.status(), 302, "the link sets the session and redirects");
    let data = ok_data(
        "sessions",
        stack.action("sessions", bob_target, json!({})).await,
    );
    assert_eq!(
        data["sessions"][0]["impersonatedBy"],
        json!("Alice Admin"),
        "{data}"
    );

    // revoke-all-sessions, bulk over two records
    auth.sign_in(&alice.id).await.expect("session");
    let (status, body) = stack
        .signed_call(
            "revoke-all-sessions",
            json!({"action": "revoke-all-sessions", "actor": {"email": ACTOR_EMAIL, "workspaceMemberId": attio_auth_demo::client::DEMO_MEMBER},
                   "targets": [{"object": "users", "recordId": bob_rid}, {"object": "users", "recordId": alice_rid}],
                   "params": {}}),
        )
        .await;
    assert_eq!((status, &body["ok"]), (200, &json!(true)), "{body}");
    let left: i64 = sqlx::query_scalar(r#"select count(*) from "session""#)
        .fetch_one(&auth.pool)
        .await
        .expect("count");
    assert_eq!(left, 0);

    // A bulk action over a good and an unknown record: per-record results.
    let (status, body) = stack
        .signed_call(
            "update-ban-status",
            json!({"action": "update-ban-status", "actor": {"email": ACTOR_EMAIL, "workspaceMemberId": attio_auth_demo::client::DEMO_MEMBER},
                   "targets": [{"object": "users", "recordId": bob_rid},
                               {"object": "users", "recordId": "00000000-0000-4000-8000-000000000000"}],
                   "params": {"banned": false}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["ok"], json!(true), "{body}");
    assert_eq!(body["results"][1]["ok"], json!(false), "{body}");

    // A retried call (same webhook-id, same body) gets the stored answer; the same id with
    // another body is refused.
    let call = json!({"action": "get-org-roles", "actor": {"email": ACTOR_EMAIL, "workspaceMemberId": attio_auth_demo::client::DEMO_MEMBER}, "params": {}});
    let bytes = call.to_string().into_bytes();
    let now = chrono::Utc::now().timestamp();
    let h = stack.signer.headers(&bytes, now).expect("sign");
    let send = |bytes: Vec<u8>, signature: String| {
        stack
            .http
            .post(format!("{}/v1/actions/get-org-roles", stack.backend_url()))
            .header("content-type", "application/json")
            .header("attio-workspace-id", stack.creds.workspace_id.to_string())
            .header("webhook-id", h.id.clone())
            .header("webhook-timestamp", h.timestamp.to_string())
            .header("webhook-signature", signature)
            .body(bytes)
            .send()
    };
    let first = send(bytes.clone(), h.signature.clone())
        .await
        .expect("first");
    assert_eq!(first.status(), 200);
    let first = first.text().await.expect("body");
    let again = send(bytes.clone(), h.signature.clone())
        .await
        .expect("again");
    assert_eq!(again.status(), 200);
    assert_eq!(
        again.text().await.expect("body"),
        first,
        "a retry gets the stored answer"
    );
    let other =
        json!({"action": "get-org-roles", "actor": {"email": "mallory@example.com", "workspaceMemberId": attio_auth_demo::client::DEMO_MEMBER}, "params": {}})
            .to_string()
            .into_bytes();
    let other_signature = stack.signer.sign(&h.id, h.timestamp, &other);
    let conflict = send(other, other_signature).await.expect("conflict");
    assert!(
        conflict.status().is_client_error(),
        "the same id with another body: {}",
        conflict.status()
    );

    // search-users, get-org-roles (the dialog pickers)
    let data = ok_data(
        "search-users",
        stack
            .action("search-users", None, json!({"search": "EXAMPLE.com"}))
            .await,
    );
    assert_eq!(data["users"].as_array().map(Vec::len), Some(2), "{data}");
    let data = ok_data(
        "get-org-roles",
        stack.action("get-org-roles", None, json!({})).await,
    );
    assert_eq!(data["roles"], json!(["member", "admin", "owner"]));

    // create-user: a real user, synced to Attio
    let data = ok_data(
        "create-user",
        stack
            .action(
                "create-user",
                None,
                json!({"email": "Carol@Example.com", "name": "Carol New"}),
            )
            .await,
    );
    let carol_id = data["id"]
        .as_str()
        .or_else(|| data["user"]["id"].as_str())
        .expect("created user id")
        .to_owned();
    wait_for_user_record(&stack, &carol_id).await;

    // create-organization, synced to a `workspaces` record; invitations on that record
    let data = ok_data(
        "create-organization",
        stack
            .action(
                "create-organization",
                None,
                json!({"name": "Acme Inc", "slug": "acme", "ownerEmail": "alice@example.com"}),
            )
            .await,
    );
    let org_id = data["id"]
        .as_str()
        .or_else(|| data["organization"]["id"].as_str())
        .expect("created organization id")
        .to_owned();
    let org_rid = record_id(
        &eventually("the organization's Attio record", 30, || async {
            stack
                .records("workspaces")
                .await
                .into_iter()
                .find(|r| plain_value(r, "workspace_id").as_deref() == Some(org_id.as_str()))
        })
        .await,
    );
    let org_target = Some(("workspaces", org_rid.as_str()));
    let data = ok_data(
        "create-org-invitation",
        stack
            .action(
                "create-org-invitation",
                org_target,
                json!({"email": "dan@example.com", "role": "member"}),
            )
            .await,
    );
    let invitation = data["id"].as_str().expect("invitation id").to_owned();
    let data = ok_data(
        "list-org-invitations",
        stack
            .action("list-org-invitations", org_target, json!({}))
            .await,
    );
    assert_eq!(
        data["invitations"][0]["email"],
        json!("dan@example.com"),
        "{data}"
    );
    ok_data(
        "cancel-org-invitation",
        stack
            .action(
                "cancel-org-invitation",
                None,
                json!({"invitationId": invitation}),
            )
            .await,
    );
    let status: String = sqlx::query_scalar(r#"select "status" from "invitation" where "id" = $1"#)
        .bind(&invitation)
        .fetch_one(&auth.pool)
        .await
        .expect("invitation");
    assert_eq!(status, "canceled");

    // Attio -> auth: renaming the organization's record renames the organization.
    stack
        .edit_record("workspaces", &org_rid, json!({"name": "Acme Renamed"}))
        .await;
    eventually(
        "the organization renamed in the auth database",
        30,
        || async {
            let o = auth.store().organization(&org_id).await.ok()??;
            (o.name == "Acme Renamed").then_some(())
        },
    )
    .await;

    // Attio -> auth: renaming a record renames the user, and the change is not echoed back
    // to Attio (no sync loop).
    let writes_to_users = |stack: &Stack| {
        stack
            .sandbox
            .requests()
            .iter()
            .filter(|r| r.method != "GET" && r.path.starts_with("/v2/objects/users/records?"))
            .count()
    };
    let before = writes_to_users(&stack);
    assert!(
        before > 0,
        "the backend upserts users with assert: {:?}",
        stack
            .sandbox
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    let echoes_before = metric(&stack, "attio_auth_echoes_skipped_total").await;
    stack
        .edit_record("users", &bob_rid, json!({"name": "Robert Member"}))
        .await;
    eventually("bob renamed in the auth database", 30, || async {
        let u = auth.store().user(&bob.id).await.ok()??;
        (u.name == "Robert Member").then_some(())
    })
    .await;
    // The plugin's event for the rename came back to the backend, which dropped it as an
    // echo (a positive signal, rather than waiting and seeing nothing).
    eventually("the rename's event dropped as an echo", 30, || async {
        (metric(&stack, "attio_auth_echoes_skipped_total").await > echoes_before).then_some(())
    })
    .await;
    assert_eq!(
        writes_to_users(&stack),
        before,
        "a change that came from Attio is not written back to Attio"
    );
    // Every forwarded action left an audit entry.
    let installation = installation_id(&stack).await;
    // Signed like an action call, over an empty body.
    let now = chrono::Utc::now().timestamp();
    let h = stack.signer.headers(b"", now).expect("sign");
    let res = stack
        .http
        .get(format!(
            "{}/v1/installations/{installation}/audit?limit=500",
            stack.backend_url()
        ))
        .header("attio-workspace-id", stack.creds.workspace_id.to_string())
        .header("webhook-id", h.id)
        .header("webhook-timestamp", h.timestamp.to_string())
        .header("webhook-signature", h.signature)
        .send()
        .await
        .expect("audit");
    let audit: Value = res.json().await.expect("audit body");
    let entries = audit["entries"].as_array().expect("audit entries");
    assert!(entries.len() >= 20, "audit entries: {audit}");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == json!("update-ban-status") && e["ok"] == json!(true)),
        "{audit}"
    );

    assert_agree(&stack).await;

    // Lifecycle: connection-check pings the plugin; uninstall unlinks it, after which the
    // workspace's calls are refused.
    let data = ok_data(
        "connection-check",
        stack.action("connection-check", None, json!({})).await,
    );
    assert!(data["plugin"]["version"].is_string(), "{data}");
    ok_data(
        "uninstall",
        stack.action("uninstall", None, json!({})).await,
    );
    let links: i64 = sqlx::query_scalar(r#"select count(*) from "attioIntegration""#)
        .fetch_one(&auth.pool)
        .await
        .expect("links");
    assert_eq!(links, 0, "uninstall unlinks the plugin");
    let (status, body) = stack.action("user-details", bob_target, json!({})).await;
    assert_eq!(status, 404, "{body}");
}

/// The installation's id, from the backend's database.
async fn installation_id(stack: &Stack) -> String {
    let url = format!(
        "sqlite://{}",
        stack.data_dir.join("attio-auth.db").display()
    );
    let pool = sqlx::SqlitePool::connect(&url).await.expect("backend db");
    sqlx::query_scalar("select id from installations")
        .fetch_one(&pool)
        .await
        .expect("installation")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_made_in_attio_becomes_a_user_with_the_same_id() {
    let stack = Stack::start().await;
    let auth = stack.auth();
    stack
        .create_record(
            "users",
            // Attio requires a User ID on `users` records: the person types one.
            json!({"user_id": "erin-from-attio", "primary_email_address": "erin@example.com", "name": "Erin From Attio"}),
        )
        .await;
    let erin = eventually("erin created in the auth database", 30, || async {
        auth.store().user_by_email("erin@example.com").await.ok()?
    })
    .await;
    assert!(erin.attio_id.is_some());
    // Both sides must name her by one id: the plugin adopts the record's User ID, or
    // writes the id it gave her back to the record.
    wait_for_user_record(&stack, &erin.id).await;

    assert_agree(&stack).await;
}

/// Alice (an admin, the actor of the actions) and Bob (a member) sign up.
async fn sign_up_alice_and_bob(auth: &AuthHost) -> (User, User) {
    let alice = auth
        .sign_up("alice@example.com", "Alice Admin", "admin")
        .await
        .expect("alice");
    let bob = auth
        .sign_up("bob@example.com", "Bob Member", "user")
        .await
        .expect("bob");
    (alice, bob)
}

/// Signs up `n` users `{prefix}{i}@example.com` named `{name} {i}`; answers their ids.
async fn sign_up_users(stack: &Stack, prefix: &str, name: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let u = stack
            .auth()
            .sign_up(
                &format!("{prefix}{i}@example.com"),
                &format!("{name} {i}"),
                "user",
            )
            .await
            .expect("sign-up");
        ids.push(u.id);
    }
    ids
}

/// Attio answering every request with `status`.
fn failing(status: u16) -> attio_sandbox::Faults {
    attio_sandbox::Faults {
        error_rate: 1.0,
        status,
        latency_ms: 0,
    }
}

async fn wait_for_users(stack: &Stack, ids: &[String]) {
    for id in ids {
        wait_for_user_record(stack, id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_attio_errors_auth_server_down_backend_restart() {
    let mut stack = Stack::start().await;
    let alice = stack
        .auth()
        .sign_up("alice@example.com", "Alice Admin", "admin")
        .await
        .expect("alice");
    let alice_rid = wait_for_user_record(&stack, &alice.id).await;

    // Attio rate limits: one write a second; every sign-up still arrives (Retry-After).
    stack.sandbox.set_rate_limits(attio_sandbox::RateLimits {
        enabled: true,
        reads_per_second: 100,
        writes_per_second: 1,
    });
    let ids = sign_up_users(&stack, "limited", "Limited", 5).await;
    wait_for_users(&stack, &ids).await;
    assert!(
        stack.sandbox.requests().iter().any(|r| r.status == 429),
        "the backend met 429s"
    );
    stack
        .sandbox
        .set_rate_limits(attio_sandbox::RateLimits::default());

    // Attio 5xx: every write fails for a while, then Attio recovers.
    assert!(stack.sandbox.set_faults(failing(503)));
    let ids = sign_up_users(&stack, "outage", "Outage", 3).await;
    eventually("the backend meeting 503s", 20, || async {
        stack
            .sandbox
            .requests()
            .iter()
            .any(|r| r.status == 503)
            .then_some(())
    })
    .await;
    assert!(stack.sandbox.set_faults(attio_sandbox::Faults::default()));
    wait_for_users(&stack, &ids).await;

    // The auth server down: an action fails clearly; an edit made in Attio meanwhile is
    // applied once it is back.
    let auth = stack.auth.take().expect("auth");
    let (db, secret, port) = auth.stop().await;
    let (status, body) = stack
        .action("user-details", Some(("users", &alice_rid)), json!({}))
        .await;
    assert!(status >= 500, "{status} {body}");
    assert_eq!(body["ok"], json!(false), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    stack
        .edit_record("users", &alice_rid, json!({"name": "Alice While Down"}))
        .await;
    // The backend tried to forward the edit and failed (the auth server is down): its job
    // waits for a retry with the error recorded.
    let queue = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        stack.data_dir.join("attio-auth.db").display()
    ))
    .await
    .expect("the backend's database");
    eventually("the backend failing to forward the edit", 30, || async {
        let failed: i64 = sqlx::query_scalar(
            "select count(*) from jobs where kind = 'attio-webhook' and status = 'queued' \
             and attempts > 0 and last_error is not null",
        )
        .fetch_one(&queue)
        .await
        .ok()?;
        (failed > 0).then_some(())
    })
    .await;
    queue.close().await;
    stack.auth = Some(
        AuthHost::start(&db, &secret, port)
            .await
            .expect("auth again"),
    );
    eventually(
        "the edit made while the auth server was down",
        60,
        || async {
            let u = stack.auth().store().user(&alice.id).await.ok()??;
            (u.name == "Alice While Down").then_some(())
        },
    )
    .await;

    // The backend restarted with events in its queue: Attio is slow and failing, sign-ups
    // queue up, the backend stops and starts again on the same database and port.
    assert!(stack.sandbox.set_faults(failing(500)));
    let mut ids = sign_up_users(&stack, "queued", "Queued", 3).await;
    // Wait until the plugin delivered them to the backend (its outbox is empty).
    eventually("the plugin delivering to the backend", 30, || async {
        let pending = attio_auth_plugin::sync::OutboxDb::Sqlite(stack.auth().pool.clone())
            .pending_count()
            .await
            .ok()?;
        (pending == 0).then_some(())
    })
    .await;
    let backend = stack.backend.take().expect("backend");
    let port = backend.stop().await;
    assert!(stack.sandbox.set_faults(attio_sandbox::Faults::default()));
    // While the backend is down, the plugin keeps a new sign-up's event in its outbox.
    let late = stack
        .auth()
        .sign_up("while-down@example.com", "While Down", "user")
        .await
        .expect("sign-up");
    ids.push(late.id);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pending = attio_auth_plugin::sync::OutboxDb::Sqlite(stack.auth().pool.clone())
        .pending_count()
        .await
        .expect("outbox");
    assert!(pending > 0, "the event waits in the outbox");
    stack.backend = Some(
        Backend::start(
            &stack.data_dir,
            &format!("{}/v2", stack.sandbox.base_url()),
            port,
        )
        .await
        .expect("backend again"),
    );
    wait_for_users(&stack, &ids).await;

    assert_agree(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_backends_on_postgres_share_installations_and_the_queue() {
    let url = attio_auth_tests::backend::fresh_postgres_url()
        .await
        .expect("a PostgreSQL database");
    let mut stack = Stack::start_with(Some(url.clone())).await;
    // A second instance on the same database (another data dir, the same key).
    let other_dir = stack.data_dir.with_file_name("backend-2");
    std::fs::create_dir_all(&other_dir).expect("dir");
    let other = Backend::start_with(
        &other_dir,
        &format!("{}/v2", stack.sandbox.base_url()),
        0,
        stack.database_url.as_deref(),
        Some(SHARED_KEY),
    )
    .await
    .expect("second backend");

    let alice = stack
        .auth()
        .sign_up("alice@example.com", "Alice Admin", "admin")
        .await
        .expect("alice");
    let alice_rid = wait_for_user_record(&stack, &alice.id).await;

    // The installation made through the first instance serves calls on the second.
    let first = stack.backend.take().expect("first backend");
    stack.backend = Some(other);
    let data = ok_data(
        "user-details on the second instance",
        stack
            .action("user-details", Some(("users", &alice_rid)), json!({}))
            .await,
    );
    assert_eq!(data["role"], json!("admin"));

    // Jobs queued on the first instance (Attio failing) are finished by the second after
    // the first stops.
    let second = stack.backend.take().expect("second");
    stack.backend = Some(first);
    assert!(stack.sandbox.set_faults(failing(500)));
    let ids = sign_up_users(&stack, "shared", "Shared", 3).await;
    eventually(
        "the plugin delivering to the first instance",
        30,
        || async {
            let pending = attio_auth_plugin::sync::OutboxDb::Sqlite(stack.auth().pool.clone())
                .pending_count()
                .await
                .ok()?;
            (pending == 0).then_some(())
        },
    )
    .await;
    stack.backend.take().expect("first").stop().await;
    stack.backend = Some(second);
    assert!(stack.sandbox.set_faults(attio_sandbox::Faults::default()));
    wait_for_users(&stack, &ids).await;
    assert_agree(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_connection_string_drives_our_plugin() {
    let stack = Stack::start_legacy().await;
    let auth = stack.auth();
    let (alice, bob) = sign_up_alice_and_bob(auth).await;
    // Unsigned events (as the original sends) reach Attio.
    let bob_rid = wait_for_user_record(&stack, &bob.id).await;
    wait_for_user_record(&stack, &alice.id).await;
    let bob_target = Some(("users", bob_rid.as_str()));

    // Actions go to our plugin with the secret in the body.
    let data = ok_data(
        "user-details",
        stack.action("user-details", bob_target, json!({})).await,
    );
    assert_eq!(data["role"], json!("user"));
    let s1 = auth.sign_in(&bob.id).await.expect("session");
    let data = ok_data(
        "sessions",
        stack.action("sessions", bob_target, json!({})).await,
    );
    assert_eq!(data["totalCount"], json!(1));
    assert_eq!(data["sessions"][0]["id"], json!(s1));
    ok_data(
        "ban",
        stack
            .action(
                "update-ban-status",
                bob_target,
                json!({"banned": true, "banReason": "spam", "banExpiresIn": 3600}),
            )
            .await,
    );
    let data = ok_data(
        "user-details",
        stack.action("user-details", bob_target, json!({})).await,
    );
    assert_eq!(data["banned"], json!(true));
    assert!(data["bannedUntil"].is_string(), "{data}");
    // A banned user cannot be impersonated: the plugin's 403 and its code reach the app
    // (not a "wrong secret" 502).
    let (status, body) = stack.action("impersonate", bob_target, json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], json!("USER_BANNED"), "{body}");
    ok_data(
        "unban",
        stack
            .action("update-ban-status", bob_target, json!({"banned": false}))
            .await,
    );
    ok_data(
        "impersonate",
        stack.action("impersonate", bob_target, json!({})).await,
    );

    // Attio -> auth through the legacy webhook.
    stack
        .edit_record("users", &bob_rid, json!({"name": "Robert Legacy"}))
        .await;
    eventually("bob renamed", 30, || async {
        let u = auth.store().user(&bob.id).await.ok()??;
        (u.name == "Robert Legacy").then_some(())
    })
    .await;
    assert_agree(&stack).await;
}

/// A counter of the backend's `/metrics`.
async fn metric(stack: &Stack, name: &str) -> u64 {
    let text = stack
        .http
        .get(format!("{}/metrics", stack.backend_url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Events the backend dropped as unchanged (echoes) or answered by a later read.
async fn events_not_forwarded(stack: &Stack) -> u64 {
    metric(stack, "attio_auth_echoes_skipped_total").await
        + metric(stack, "attio_auth_webhooks_superseded_total").await
}

/// Writes to Attio records (create, assert, update, delete) in the sandbox's request log.
fn record_writes(stack: &Stack) -> usize {
    stack
        .sandbox
        .requests()
        .iter()
        .filter(|r| {
            r.path.contains("/records")
                && !r.path.ends_with("/query")
                && r.method != "GET"
                && r.token_id == Some(stack.creds.token_id)
        })
        .count()
}

/// Reads of a users record by id (the backend re-fetches the record of each event).
fn user_record_reads(stack: &Stack) -> usize {
    stack
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/v2/objects/users/records/"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrichment_noise_neither_loops_nor_stops_convergence() {
    let stack = Stack::start().await;
    let auth = stack.auth();
    // A workspace with CRM records besides ours: people get noise too.
    stack
        .create_record(
            "people",
            json!({"email_addresses": ["someone@example.org"]}),
        )
        .await;
    assert!(stack.sandbox.set_noise(attio_sandbox::Noise {
        events_per_second: 40.0
    }));
    let ids = sign_up_users(&stack, "noisy", "Noisy", 4).await;
    wait_for_users(&stack, &ids).await;
    let first = wait_for_user_record(&stack, &ids[0]).await;
    // Attio -> auth under noise.
    stack
        .edit_record("users", &first, json!({"name": "Renamed In Attio"}))
        .await;
    eventually("the rename reaches the auth server", 30, || async {
        let u = auth.store().user(&ids[0]).await.ok()??;
        (u.name == "Renamed In Attio").then_some(())
    })
    .await;
    assert_agree(&stack).await;

    // Settled: further noise makes the backend re-read records, never write them.
    let skipped = events_not_forwarded(&stack).await;
    let forwarded = metric(&stack, "attio_auth_webhooks_forwarded_total").await;
    let writes = record_writes(&stack);
    let reads = user_record_reads(&stack);
    let names: Vec<(String, String)> =
        sqlx::query_as(r#"select "id", "name" from "user" order by "id""#)
            .fetch_all(&auth.pool)
            .await
            .expect("users");
    eventually(
        "the backend has handled 20 more noise events",
        60,
        || async {
            (user_record_reads(&stack) >= reads + 20
                && events_not_forwarded(&stack).await >= skipped + 20)
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        record_writes(&stack),
        writes,
        "noise caused writes to Attio"
    );
    assert_eq!(
        metric(&stack, "attio_auth_webhooks_forwarded_total").await,
        forwarded,
        "noise was forwarded to the auth server"
    );
    let after: Vec<(String, String)> =
        sqlx::query_as(r#"select "id", "name" from "user" order by "id""#)
            .fetch_all(&auth.pool)
            .await
            .expect("users");
    assert_eq!(after, names, "noise changed the auth database");
    // The webhook is filtered on the synced objects: no people event reached the backend.
    let people = stack.records("people").await;
    let people_object = people[0]["id"]["object_id"].clone();
    assert!(
        stack
            .sandbox
            .deliveries()
            .iter()
            .all(|d| d.body["events"][0]["id"]["object_id"] != people_object),
        "people events were delivered"
    );
    assert!(stack.sandbox.set_noise(attio_sandbox::Noise::default()));
    assert_agree(&stack).await;
}
