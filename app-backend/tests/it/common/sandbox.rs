//! Set-up against attio-sandbox (the local Attio simulator): a sandbox with a workspace, the
//! sandbox's API read as that workspace, and the two-tenant world of the fairness test and
//! benchmark. Shared by the suites and `benches/fairness.rs`.

use std::sync::Arc;
use std::time::Duration;

use attio_auth_backend::jobs::JobKind;
use attio_auth_shared::connection::Protocol;
use attio_sandbox::{
    Sandbox, SandboxConfig, SandboxHandle, WorkspaceCredentials, WorkspaceOptions,
};
use serde_json::{Value, json};

use super::{
    DbChoice, FakePlugin, TestApp, db_url, eventually, install_ok, spawn_app_with, spawn_plugin,
    test_config,
};

/// The objects the backend syncs: a workspace of the tests has them enabled unless a test
/// says otherwise.
pub const SYNCED_OBJECTS: &[&str] = &["users", "workspaces"];

/// A sandbox (test configuration) with one workspace that has `objects` enabled.
pub async fn sandbox_with(objects: &[&str]) -> (SandboxHandle, WorkspaceCredentials) {
    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
    let creds = workspace(&sandbox, objects);
    (sandbox, creds)
}

/// Another workspace in `sandbox`, with `objects` enabled.
pub fn workspace(sandbox: &SandboxHandle, objects: &[&str]) -> WorkspaceCredentials {
    sandbox.create_workspace(WorkspaceOptions {
        enable_objects: objects.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
}

/// The sandbox's API URL, as the backend's `ATTIO_API_URL`.
pub fn api_url(sandbox: &SandboxHandle) -> String {
    format!("{}/v2", sandbox.base_url())
}

/// `GET` a sandbox API path (`/v2/...`) as `token`: the JSON answer.
pub async fn attio_get(sandbox: &SandboxHandle, token: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", sandbox.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every record of `object` in `token`'s workspace (one unfiltered query).
pub async fn attio_records(sandbox: &SandboxHandle, token: &str, object: &str) -> Vec<Value> {
    let r: Value = reqwest::Client::new()
        .post(format!(
            "{}/v2/objects/{object}/records/query",
            sandbox.base_url()
        ))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["data"].as_array().cloned().unwrap_or_default()
}

/// The Attio object id of `slug` in `token`'s workspace.
pub async fn object_id(sandbox: &SandboxHandle, token: &str, slug: &str) -> String {
    let object = attio_get(sandbox, token, &format!("/v2/objects/{slug}")).await;
    object["data"]["id"]["object_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{object}"))
        .to_owned()
}

/// The plain value of attribute `slug` of an Attio record (JSON as the API answers it).
pub fn plain(record: &Value, slug: &str) -> Value {
    let rec: attio_auth_shared::sync::AttioRecord = serde_json::from_value(record.clone()).unwrap();
    rec.plain(slug)
}

/// One tenant of [`TwoTenants`]: its Attio workspace, its (fake) auth server, and its
/// installation.
pub struct Tenant {
    pub creds: WorkspaceCredentials,
    pub plugin: FakePlugin,
    pub installation_id: String,
}

/// Two installations on one backend (4 workers, the default cap of 2 running jobs each) and
/// one sandbox, with the install's backfills done: the fairness test's and benchmark's world.
pub struct TwoTenants {
    pub sandbox: SandboxHandle,
    pub app: TestApp,
    pub a: Tenant,
    pub b: Tenant,
}

pub async fn two_tenants(db: DbChoice) -> TwoTenants {
    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(dir.path(), db_url(db).await, &api_url(&sandbox));
    config.workers = 4;
    config.http_timeout = Duration::from_secs(60);
    let app = spawn_app_with(config, dir).await;
    let mut tenants = Vec::new();
    for _ in 0..2 {
        let creds = workspace(&sandbox, SYNCED_OBJECTS);
        let plugin = spawn_plugin(Protocol::SignedV1).await;
        let installation_id = install_ok(&app, &plugin.connection, &creds.token).await;
        tenants.push(Tenant {
            creds,
            plugin,
            installation_id,
        });
    }
    eventually("install backfills done", || async {
        app.state.queue.depth().await.unwrap() == 0
    })
    .await;
    let b = tenants.pop().unwrap();
    let a = tenants.pop().unwrap();
    TwoTenants { sandbox, app, a, b }
}

impl TwoTenants {
    /// Queue `n` Attio record deletions for tenant A, as its webhooks would.
    pub async fn flood_a(&self, n: usize) {
        let a = &self.a;
        let object_id = object_id(&self.sandbox, &a.creds.token, "users").await;
        for i in 0..n {
            let record_id = format!("00000000-0000-4000-8000-{i:012}");
            let event = json!({"webhook_id": "wh", "event": {"event_type": "record.deleted",
                "id": {"workspace_id": a.creds.workspace_id.to_string(), "object_id": object_id,
                       "record_id": record_id},
                "actor": {"type": "workspace-member", "id": "member-a"}}});
            self.app
                .state
                .queue
                .enqueue(
                    &a.installation_id,
                    JobKind::AttioWebhook,
                    Some(&format!("attio:{}:{record_id}", a.installation_id)),
                    Some(&format!("flood{i}")),
                    &event,
                )
                .await
                .unwrap();
        }
    }

    /// Tenant B's sign-up, posted by B's auth server to the backend's event route.
    pub async fn sign_up_b(&self) -> reqwest::StatusCode {
        let event = super::user_event("evt_b", "create", "user-b", "B User", "auth");
        let plugin = &self.b.plugin;
        super::post_signed_event(
            &self.app.http,
            &plugin.event_url(),
            &plugin.connection,
            &event,
        )
        .await
        .status()
    }

    /// How many users tenant B's Attio workspace has.
    pub async fn b_users(&self) -> usize {
        attio_records(&self.sandbox, &self.b.creds.token, "users")
            .await
            .len()
    }
}

/// A write to a sandbox API path (`/v2/...`) as `token`, standing in for a person editing
/// in Attio: the answer's status.
pub async fn attio_write(
    sandbox: &SandboxHandle,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> u16 {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", sandbox.base_url()))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.unwrap().status().as_u16()
}

/// The backend's Attio credentials for a sandbox workspace (its API token).
pub fn attio_auth(creds: &WorkspaceCredentials) -> attio_auth_backend::attio::AttioAuth {
    attio_auth_backend::attio::AttioAuth {
        workspace: creds.workspace_id.to_string(),
        token: secrecy::SecretString::from(creds.token.clone()),
    }
}
