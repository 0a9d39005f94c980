//! `attio-auth demo`: the whole system on loopback in one command. It starts the Attio
//! sandbox, an auth server with the plugin, app-backend on SQLite and the generator site;
//! makes a fresh connection string, installs the demo workspace with it, seeds a few users
//! and an organization through the chain, prints what to open and what to try, and runs
//! until Ctrl-C (or the cancellation token), then stops everything.
//!
//! [`act`] is the "try it" half: a record action signed as the Attio app signs it, on a
//! user picked by email, using the running demo's `demo.json`.
//!
//! (This module is written to move into app-backend's `attio-auth demo` subcommand as is;
//! until then the `attio-auth-demo` binary of this package runs it.)

use crate::app_client::{AppClient, AttioReader, record_id};
use crate::auth_host::AuthHost;
use anyhow::{Context, bail};
use attio_auth_backend::{Application, Config};
use attio_auth_shared::connection::Connection;
use attio_auth_shared::signing::Signer;
use attio_sandbox::{Sandbox, SandboxConfig, WorkspaceOptions};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The line printed when everything is up (tests wait for it).
pub const READY: &str = "attio-auth demo ready";

/// Where the demo listens and keeps its files; port 0 picks a free port.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Databases, keys and `demo.json` (the demo's own files in it are replaced each run).
    pub data_dir: PathBuf,
    /// Attio sandbox port (default 4010).
    pub sandbox_port: u16,
    /// Auth server port (default 4100).
    pub auth_port: u16,
    /// app-backend port (default 8080).
    pub backend_port: u16,
    /// Generator site port (default 3000).
    pub generator_port: u16,
    /// How the guide tells people to run `act` (default `attio-auth-demo`).
    pub command: String,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data/demo"),
            sandbox_port: 4010,
            auth_port: 4100,
            backend_port: 8080,
            generator_port: 3000,
            command: "attio-auth-demo".to_owned(),
        }
    }
}

/// What a running demo is: written to `<data_dir>/demo.json` (it holds the demo's own
/// secret and token: local, throwaway values).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoInfo {
    /// Attio sandbox base URL.
    pub sandbox_url: String,
    /// Attio API base (`{sandbox}/v2`).
    pub attio_api_url: String,
    /// The demo workspace's API token.
    pub attio_token: String,
    /// The demo workspace id.
    pub workspace_id: String,
    /// The auth server (`{origin}/api/auth`).
    pub auth_url: String,
    /// app-backend.
    pub backend_url: String,
    /// The generator site.
    pub generator_url: String,
    /// The connection string the workspace was installed with.
    pub connection: String,
}

fn demo_json(data_dir: &Path) -> PathBuf {
    data_dir.join("demo.json")
}

/// Removes the files a previous demo run left (the sandbox is in memory, so its
/// installation and users would point nowhere).
fn clear_previous(data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    for name in ["auth.db", "auth.db-wal", "auth.db-shm", "demo.json"] {
        let path = data_dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let backend = data_dir.join("backend");
    if backend.exists() {
        std::fs::remove_dir_all(&backend)?;
    }
    std::fs::create_dir_all(&backend)?;
    Ok(())
}

async fn free_port(port: u16) -> anyhow::Result<u16> {
    let probe = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("port {port} is taken (choose another with the flags)"))?;
    Ok(probe.local_addr()?.port())
}

async fn wait_for<T, F, Fut>(what: &str, secs: u64, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the demo until `cancel` fires.
pub async fn run(options: DemoOptions, cancel: CancellationToken) -> anyhow::Result<()> {
    let data_dir = options.data_dir.clone();
    clear_previous(&data_dir)?;
    let http = reqwest::Client::new();

    // Attio (the sandbox), with a workspace whose users and workspaces objects are on.
    let sandbox = Sandbox::start(SandboxConfig {
        port: options.sandbox_port,
        ..SandboxConfig::default()
    })
    .await
    .with_context(|| {
        format!(
            "starting the Attio sandbox on port {}",
            options.sandbox_port
        )
    })?;
    let creds = sandbox.create_workspace(WorkspaceOptions {
        enable_objects: vec!["users".into(), "workspaces".into()],
        ..Default::default()
    });
    let sandbox_url = sandbox.base_url();
    let attio_api_url = format!("{sandbox_url}/v2");

    // A fresh connection string for the auth server's address.
    let auth_port = free_port(options.auth_port).await?;
    let connection = Connection::generate(&format!("http://127.0.0.1:{auth_port}"), None)
        .context("making the connection string")?;
    let encoded = connection.encode();
    let auth = AuthHost::start(
        &data_dir.join("auth.db"),
        connection.secret().expose_secret(),
        auth_port,
    )
    .await
    .context("starting the auth server")?;

    // app-backend on SQLite.
    let vars: HashMap<&str, String> = HashMap::from([
        ("BIND_ADDR", format!("127.0.0.1:{}", options.backend_port)),
        ("DATA_DIR", data_dir.join("backend").display().to_string()),
        ("ATTIO_API_URL", attio_api_url.clone()),
    ]);
    let config = Config::from_lookup(|k| vars.get(k).cloned())?;
    let backend = Application::build(config)
        .await
        .context("starting app-backend")?;
    let backend_url = format!("http://{}", backend.local_addr());
    let backend_stop = backend.shutdown_token();
    let backend_task = tokio::spawn(backend.run_until_stopped());

    // The generator site.
    let site_root = attio_auth_generator::server::Config::default_site_root();
    let site = attio_auth_generator::server::router(
        attio_auth_generator::server::AppState::new(&site_root),
        &site_root,
    );
    let site_listener = tokio::net::TcpListener::bind(("127.0.0.1", options.generator_port))
        .await
        .with_context(|| format!("generator site port {}", options.generator_port))?;
    let generator_url = format!("http://{}", site_listener.local_addr()?);
    let site_stop = cancel.clone();
    let site_task = tokio::spawn(async move {
        let _ = axum::serve(site_listener, site)
            .with_graceful_shutdown(async move { site_stop.cancelled().await })
            .await;
    });

    // Install the workspace with the string and the Attio token.
    let res = http
        .post(format!("{backend_url}/v1/installations"))
        .json(&json!({"connection": encoded, "attioToken": creds.token}))
        .send()
        .await?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("installing the demo workspace failed ({status}): {body}");
    }

    // Seed: three users (Alice is an admin) and an organization, through the chain.
    let attio = AttioReader {
        http: http.clone(),
        api_url: attio_api_url.clone(),
        token: creds.token.clone(),
    };
    let alice = auth
        .sign_up("alice@example.com", "Alice Admin", "admin")
        .await?;
    auth.sign_up("bob@example.com", "Bob Builder", "user")
        .await?;
    auth.sign_up("carol@example.com", "Carol Customer", "user")
        .await?;
    wait_for("the seeded users in Attio", 60, || async {
        let n = attio.records("users").await.ok()?.len();
        (n >= 3).then_some(())
    })
    .await?;
    let client = AppClient {
        http: http.clone(),
        backend_url: backend_url.clone(),
        workspace_id: creds.workspace_id.to_string(),
        signer: Signer::from_secret(connection.secret())?,
    };
    let (status, body) = client
        .action(
            "create-organization",
            &alice.email,
            None,
            json!({"name": "Acme Inc", "slug": "acme", "ownerEmail": alice.email}),
        )
        .await?;
    if status != 200 {
        bail!("seeding the organization failed ({status}): {body}");
    }

    let info = DemoInfo {
        sandbox_url: sandbox_url.clone(),
        attio_api_url: attio_api_url.clone(),
        attio_token: creds.token.clone(),
        workspace_id: creds.workspace_id.to_string(),
        auth_url: auth.auth_url(),
        backend_url: backend_url.clone(),
        generator_url: generator_url.clone(),
        connection: encoded.clone(),
    };
    std::fs::write(demo_json(&data_dir), serde_json::to_vec_pretty(&info)?)?;
    print_guide(&info, &data_dir, &options.command);
    println!("{READY}: backend {backend_url}");

    cancel.cancelled().await;
    println!("stopping ...");
    backend_stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(25), backend_task).await;
    auth.stop().await;
    let _ = site_task.await;
    sandbox.shutdown().await;
    println!("stopped");
    Ok(())
}

fn print_guide(info: &DemoInfo, data_dir: &Path, command: &str) {
    let token = &info.attio_token;
    let api = &info.attio_api_url;
    let dir = data_dir.display();
    println!(
        r#"
attio-auth demo: everything runs on this machine.

  Attio (sandbox)   {api}      token {token}
  auth server       {auth}   (the plugin is under /attio/*)
  app-backend       {backend}
  generator site    {generator}   (make a connection string)
  connection string {conn}
  details           {dir}/demo.json

Try:
  1. Sign up a user and watch the Attio record appear:
     curl -s -X POST {auth}/sign-up/email -H 'content-type: application/json' \
       -d '{{"name":"Dana Demo","email":"dana@example.com"}}'
     curl -s -X POST {api}/objects/users/records/query -H 'authorization: Bearer {token}' \
       -H 'content-type: application/json' -d '{{}}'
  2. Edit the record in Attio and watch the auth database change (name):
     curl -s -X PATCH {api}/objects/users/records/<record id> -H 'authorization: Bearer {token}' \
       -H 'content-type: application/json' -d '{{"data":{{"values":{{"name":"Dana Renamed"}}}}}}'
     then: {command} act search-users --params '{{"search":"dana"}}'   (shows the new name)
  3. Record actions through app-backend, signed as the Attio app signs them:
     {command} act update-ban-status --email bob@example.com --params '{{"banned":true,"banReason":"demo"}}'
     {command} act send-password-reset --email bob@example.com
     {command} act sessions --email bob@example.com
     {command} act revoke-all-sessions --email bob@example.com
     {command} act impersonate --email bob@example.com
     {command} act search-users --params '{{"search":"example.com"}}'
Ctrl-C stops everything.
"#,
        auth = info.auth_url,
        backend = info.backend_url,
        generator = info.generator_url,
        conn = info.connection,
    );
}

/// Sends one record action to the running demo's backend, as the Attio app would, on the
/// `users` record of `email` (or, for organization actions, the first `workspaces`
/// record), acting as Alice (the admin). Answers the backend's JSON.
pub async fn act(
    data_dir: &Path,
    action: &str,
    email: Option<&str>,
    params: Value,
) -> anyhow::Result<(u16, Value)> {
    let path = demo_json(data_dir);
    let info: DemoInfo = serde_json::from_slice(
        &std::fs::read(&path)
            .with_context(|| format!("reading {} (is the demo running?)", path.display()))?,
    )?;
    let connection = Connection::decode(&info.connection)?;
    let http = reqwest::Client::new();
    let attio = AttioReader {
        http: http.clone(),
        api_url: info.attio_api_url.clone(),
        token: info.attio_token.clone(),
    };
    let org_action = matches!(action, "list-org-invitations" | "create-org-invitation");
    let target = if org_action {
        let records = attio.records("workspaces").await?;
        let record = records.first().context("no workspaces record yet")?;
        Some((
            "workspaces".to_owned(),
            record_id(record).context("record id")?,
        ))
    } else if let Some(email) = email {
        let record = attio
            .find("users", "primary_email_address", &email.to_lowercase())
            .await?
            .with_context(|| format!("no Attio users record with the email {email}"))?;
        Some(("users".to_owned(), record_id(&record).context("record id")?))
    } else {
        None
    };
    let client = AppClient {
        http,
        backend_url: info.backend_url.clone(),
        workspace_id: info.workspace_id.clone(),
        signer: Signer::from_secret(&SecretString::from(
            connection.secret().expose_secret().to_owned(),
        ))?,
    };
    if action == "revoke-all-sessions" {
        let (object, record) = target.context("revoke-all-sessions needs --email")?;
        let body = json!({"action": action, "actor": {"email": "alice@example.com"},
            "targets": [{"object": object, "recordId": record}], "params": params});
        return client.call(action, &body).await;
    }
    client
        .action(
            action,
            "alice@example.com",
            target.as_ref().map(|(o, r)| (o.as_str(), r.as_str())),
            params,
        )
        .await
}
