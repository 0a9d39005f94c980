//! The whole chain, in-process on loopback: the Attio sandbox, an auth server with our
//! plugin (signed protocol, sync outbox), and app-backend on SQLite. A connection string
//! from the generator's codec installs the workspace; then every action goes through the
//! backend as the Attio app sends it, changes flow both ways, and at the end Attio and the
//! auth database agree. Faults: the auth server down for a while, Attio answering 429/5xx,
//! the backend restarted with events in its queue.

use attio_auth_backend::{Application, Config};
use attio_auth_shared::connection::Connection;
use attio_auth_shared::signing::Signer;
use attio_auth_tests::auth_host::AuthHost;
use attio_sandbox::{
    Sandbox, SandboxConfig, SandboxHandle, WorkspaceCredentials, WorkspaceOptions,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const ACTOR_EMAIL: &str = "alice@example.com";

/// A running backend.
struct Backend {
    url: String,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    async fn start(data_dir: &std::path::Path, attio_api: &str, port: u16) -> Backend {
        let vars: HashMap<&str, String> = HashMap::from([
            ("BIND_ADDR", format!("127.0.0.1:{port}")),
            ("DATA_DIR", data_dir.display().to_string()),
            ("ATTIO_API_URL", attio_api.to_owned()),
            ("WORKERS", "2".to_owned()),
            ("HTTP_TIMEOUT_SECS", "5".to_owned()),
            ("SHUTDOWN_GRACE_SECS", "2".to_owned()),
        ]);
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("backend config");
        let app = Application::build(config).await.expect("backend builds");
        let url = format!("http://{}", app.local_addr());
        let cancel = app.shutdown_token();
        let task = tokio::spawn(async move {
            app.run_until_stopped().await.expect("backend runs");
        });
        Backend { url, cancel, task }
    }

    async fn stop(self) -> u16 {
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        self.cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        port
    }
}

/// Everything, wired and installed.
struct Stack {
    http: reqwest::Client,
    sandbox: SandboxHandle,
    creds: WorkspaceCredentials,
    auth: Option<AuthHost>,
    backend: Option<Backend>,
    connection: Connection,
    signer: Signer,
    data_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Stack {
    async fn start() -> Stack {
        let dir = tempfile::tempdir().expect("temp dir");
        let http = reqwest::Client::new();
        let sandbox = Sandbox::start(SandboxConfig::for_tests())
            .await
            .expect("sandbox");
        let creds = sandbox.create_workspace(WorkspaceOptions {
            enable_objects: vec!["users".into(), "workspaces".into()],
            ..Default::default()
        });
        // The auth server's address is known before the connection string is made, as a
        // customer knows their domain: bind first on port 0, then make the string.
        let probe = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("port");
        let auth_port = probe.local_addr().expect("addr").port();
        drop(probe);
        let connection = Connection::generate(&format!("http://127.0.0.1:{auth_port}"), None)
            .expect("generator");
        let encoded = connection.encode();
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
        let backend = Backend::start(&data_dir, &format!("{}/v2", sandbox.base_url()), 0).await;
        let signer = Signer::from_secret(connection.secret()).expect("signer");

        // Install with the string and an Attio token.
        let res = http
            .post(format!("{}/v1/installations", backend.url))
            .json(&json!({"connection": encoded, "attioToken": creds.token}))
            .send()
            .await
            .expect("install");
        let status = res.status();
        let body: Value = res.json().await.expect("install body");
        assert_eq!(status, 201, "install: {body}");

        Stack {
            http,
            sandbox,
            creds,
            auth: Some(auth),
            backend: Some(backend),
            connection,
            signer,
            data_dir,
            _dir: dir,
        }
    }

    fn auth(&self) -> &AuthHost {
        self.auth.as_ref().expect("auth server running")
    }

    fn backend_url(&self) -> String {
        self.backend.as_ref().expect("backend running").url.clone()
    }

    /// A record action as the Attio app sends it: signed, with the workspace header.
    async fn action(
        &self,
        action: &str,
        target: Option<(&str, &str)>,
        params: Value,
    ) -> (u16, Value) {
        let mut body = json!({
            "action": action,
            "actor": {"email": ACTOR_EMAIL, "workspaceMemberId": "50cf242c-7fa3-4cad-87d0-75b1af71c57b"},
            "params": params,
        });
        if let Some((object, record)) = target {
            body["target"] = json!({"object": object, "recordId": record});
        }
        self.signed_call(action, body).await
    }

    async fn signed_call(&self, action: &str, body: Value) -> (u16, Value) {
        let bytes = body.to_string().into_bytes();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let h = self.signer.headers(&bytes, now).expect("sign");
        let res = self
            .http
            .post(format!("{}/v1/actions/{action}", self.backend_url()))
            .header("content-type", "application/json")
            .header("attio-workspace-id", self.creds.workspace_id.to_string())
            .header("webhook-id", h.id)
            .header("webhook-timestamp", h.timestamp.to_string())
            .header("webhook-signature", h.signature)
            .body(bytes)
            .send()
            .await
            .expect("action call");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Every record of an Attio object, from the sandbox's API.
    async fn records(&self, object: &str) -> Vec<Value> {
        let res = self
            .http
            .post(format!(
                "{}/v2/objects/{object}/records/query",
                self.sandbox.base_url()
            ))
            .bearer_auth(&self.creds.token)
            .json(&json!({"limit": 500}))
            .send()
            .await
            .expect("query");
        let body: Value = res.json().await.expect("query body");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    /// The `users` record whose `user_id` is `user_id`.
    async fn user_record(&self, user_id: &str) -> Option<Value> {
        self.records("users")
            .await
            .into_iter()
            .find(|r| text_value(r, "user_id").as_deref() == Some(user_id))
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

/// The plain value of a single-valued text-like attribute of a record.
fn text_value(record: &Value, slug: &str) -> Option<String> {
    let v = record["values"][slug].as_array()?.first()?;
    v.get("value")
        .or_else(|| v.get("email_address"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn record_id(record: &Value) -> String {
    record["id"]["record_id"]
        .as_str()
        .expect("record id")
        .to_owned()
}

/// Polls `check` until it answers `Some`, for at most `secs`.
async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_sync_and_every_action_through_the_chain() {
    let stack = Stack::start().await;

    // auth -> Attio: sign-ups appear as `users` records.
    let alice = stack
        .auth()
        .sign_up("alice@example.com", "Alice Admin", "admin")
        .await
        .expect("alice");
    let bob = stack
        .auth()
        .sign_up("bob@example.com", "Bob Member", "user")
        .await
        .expect("bob");
    let bob_record = eventually("bob's Attio record", 30, || async {
        stack.user_record(&bob.id).await
    })
    .await;
    assert_eq!(
        text_value(&bob_record, "primary_email_address").as_deref(),
        Some("bob@example.com")
    );
    let bob_rid = record_id(&bob_record);
    let alice_rid = record_id(
        &eventually("alice's Attio record", 30, || async {
            stack.user_record(&alice.id).await
        })
        .await,
    );

    // user-details
    let (status, body) = stack
        .action("user-details", Some(("users", &bob_rid)), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], json!(true));
    assert_eq!(body["data"]["banned"], json!(false));
    assert_eq!(body["data"]["role"], json!("user"));
    let (status, body) = stack
        .action("user-details", Some(("users", &alice_rid)), json!({}))
        .await;
    assert_eq!(
        (status, &body["data"]["role"]),
        (200, &json!("admin")),
        "{body}"
    );

    // Attio -> auth: renaming the record renames the user.
    stack
        .edit_record("users", &bob_rid, json!({"name": "Robert Member"}))
        .await;
    eventually("bob renamed in the auth database", 30, || async {
        let u = stack.auth().store().user(&bob.id).await.ok()??;
        (u.name == "Robert Member").then_some(())
    })
    .await;
}
