//! `attio-auth-demo`: the whole system on this machine in one command. It starts the Attio
//! sandbox, the demo auth server with the plugin ([`auth_server`]: email + password
//! sign-up, sessions, admin role, organizations), app-backend on SQLite and the generator
//! site, all on 127.0.0.1; makes a fresh connection string and installs the demo workspace
//! with it; seeds three users and an organization through the chain; prints what to open
//! and what to try, then a line starting with [`READY`]; and runs until Ctrl-C (SIGINT) or
//! SIGTERM, then stops everything.
//!
//! `attio-auth-demo act <action> --email <user>` is the "try it" half: a record action
//! signed as the Attio app signs it, sent to the running demo (read from its `demo.json`).
//!
//! Its own crate so that the shipped backend (`attio-auth`) and the plugin carry none of
//! it: no sandbox, no generator site, no password hashing. The command is not a library
//! API: its errors are `anyhow` chains printed once. [`client`] is the Attio app's side
//! (signed record actions, reads of Attio records), which the end-to-end tests use too.

#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod auth_server;
pub mod client;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use attio_auth_backend::{Application, Config};
use attio_auth_plugin::sync::DeliveryConfig;
use attio_auth_shared::connection::Connection;
use attio_auth_shared::signing::Signer;
use attio_sandbox::{Sandbox, SandboxConfig, WorkspaceOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use auth_server::{DemoConfig, DemoServer};
use client::{AppClient, AttioReader, record_id};

/// The start of the line printed once everything is up (tests wait for it).
pub const READY: &str = "attio-auth-demo ready";

/// Default ports; a default that is taken is replaced by a free one (the guide prints
/// every address), a port given with a flag must be free.
const DEFAULT_SANDBOX_PORT: u16 = 4010;
const DEFAULT_AUTH_PORT: u16 = 4100;
const DEFAULT_BACKEND_PORT: u16 = 8080;
const DEFAULT_GENERATOR_PORT: u16 = 3000;

/// The seeded users' password (a local, throwaway demo).
pub const DEMO_PASSWORD: &str = "demo-password-1";

/// attio-auth-demo: the whole system on this machine (Attio sandbox, demo auth server with
/// the plugin, app-backend on SQLite, generator site); seeds users and an organization,
/// prints what to try and a "ready" line, stops on Ctrl-C. `act <action>` sends a record
/// action to it, signed as the Attio app signs it.
#[derive(Debug, clap::Parser)]
#[command(name = "attio-auth-demo", version, about)]
pub struct DemoArgs {
    /// The demo's files (databases, demo.json); the demo's own files in it are replaced at
    /// each start.
    #[arg(
        long,
        env = "DEMO_DATA_DIR",
        default_value = "data/demo",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Attio sandbox port (default 4010, or a free one if taken; 0: any).
    #[arg(long)]
    pub sandbox_port: Option<u16>,
    /// Auth server port (default 4100, or a free one if taken; 0: any).
    #[arg(long)]
    pub auth_port: Option<u16>,
    /// app-backend port (default 8080, or a free one if taken; 0: any).
    #[arg(long)]
    pub backend_port: Option<u16>,
    /// Generator site port (default 3000, or a free one if taken; 0: any).
    #[arg(long)]
    pub generator_port: Option<u16>,
    #[command(subcommand)]
    command: Option<DemoCommand>,
}

#[derive(Debug, clap::Subcommand)]
enum DemoCommand {
    /// Send a record action to the running demo, signed as the Attio app signs it (e.g.
    /// user-details, update-ban-status, sessions, impersonate, search-users).
    Act {
        /// The action (a plugin action name).
        action: String,
        /// The user whose Attio record the action is on.
        #[arg(long)]
        email: Option<String>,
        /// Action parameters, JSON (e.g. '{"banned":true}').
        #[arg(long, default_value = "{}")]
        params: String,
    },
}

/// Where the demo listens and keeps its files.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Databases and `demo.json` (the demo's own files in it are replaced each run).
    pub data_dir: PathBuf,
    /// Attio sandbox port (`None`: 4010 or a free one).
    pub sandbox_port: Option<u16>,
    /// Auth server port (`None`: 4100 or a free one).
    pub auth_port: Option<u16>,
    /// app-backend port (`None`: 8080 or a free one).
    pub backend_port: Option<u16>,
    /// Generator site port (`None`: 3000 or a free one).
    pub generator_port: Option<u16>,
    /// How the guide tells people to run `act` (e.g. `attio-auth-demo`).
    pub command: String,
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

/// Runs `attio-auth-demo` (its own tokio runtime); Ctrl-C or SIGTERM stops it.
pub fn main(args: DemoArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                // The backend's generated-key notice is expected here: the demo's
                // files are throwaway.
                "warn,sqlx=error,attio_auth_backend::crypto=error".into()
            }),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("attio-auth-demo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match args.command {
            None => {
                let cancel = CancellationToken::new();
                stop_on_signals(&cancel);
                let command = command_line(&args.data_dir);
                let options = DemoOptions {
                    data_dir: args.data_dir,
                    sandbox_port: args.sandbox_port,
                    auth_port: args.auth_port,
                    backend_port: args.backend_port,
                    generator_port: args.generator_port,
                    command,
                };
                run(options, cancel).await
            }
            Some(DemoCommand::Act {
                action,
                email,
                params,
            }) => {
                let params: Value =
                    serde_json::from_str(&params).context("--params is not JSON")?;
                let (status, body) = act(&args.data_dir, &action, email.as_deref(), params).await?;
                // A closed pipe (`| head`) is not an error worth a panic.
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "{status} {}",
                    serde_json::to_string_pretty(&body).unwrap_or_default()
                );
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attio-auth-demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Cancels on Ctrl-C (SIGINT) and, on Unix, SIGTERM.
fn stop_on_signals(cancel: &CancellationToken) {
    let stop = cancel.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    #[cfg(unix)]
    {
        let stop = cancel.clone();
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::spawn(async move {
                term.recv().await;
                stop.cancel();
            });
        }
    }
}

/// How to run this binary again from the current directory (for the printed guide).
fn command_line(data_dir: &Path) -> String {
    let exe = match (std::env::current_exe(), std::env::current_dir()) {
        (Ok(exe), Ok(cwd)) => match exe.strip_prefix(&cwd) {
            Ok(rel) => format!("./{}", rel.display()),
            Err(_) => exe.display().to_string(),
        },
        _ => "attio-auth-demo".to_owned(),
    };
    if data_dir == Path::new("data/demo") {
        exe
    } else {
        format!("{exe} --data-dir {}", data_dir.display())
    }
}

fn demo_json(data_dir: &Path) -> PathBuf {
    data_dir.join("demo.json")
}

/// Removes the files a previous demo run left (the sandbox is in memory, so its
/// installation and users would point nowhere).
fn clear_previous(data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    for name in ["auth.db", "auth.db-wal", "auth.db-shm", "demo.json"] {
        let path = data_dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let backend = data_dir.join("backend");
    if backend.exists() {
        std::fs::remove_dir_all(&backend)
            .with_context(|| format!("removing {}", backend.display()))?;
    }
    std::fs::create_dir_all(&backend)?;
    Ok(())
}

/// The port to use: the one asked for (which must be free), else the default if free,
/// else any free one.
async fn pick_port(asked: Option<u16>, default: u16, what: &str) -> anyhow::Result<u16> {
    if let Some(port) = asked {
        let probe = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("{what} port {port} is taken (choose another)"))?;
        return Ok(probe.local_addr()?.port());
    }
    let probe = match tokio::net::TcpListener::bind(("127.0.0.1", default)).await {
        Ok(probe) => probe,
        Err(_) => tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
    };
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

/// Signs a user up on the demo auth server; answers the user's id.
async fn sign_up(
    http: &reqwest::Client,
    auth_url: &str,
    name: &str,
    email: &str,
) -> anyhow::Result<String> {
    let res = http
        .post(format!("{auth_url}/sign-up/email"))
        .json(&json!({"name": name, "email": email, "password": DEMO_PASSWORD}))
        .send()
        .await
        .with_context(|| format!("signing up {email}"))?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("signing up {email} failed ({status}): {body}");
    }
    body["user"]["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no user id in the sign-up answer: {body}"))
}

/// Runs the demo until `cancel` fires.
pub async fn run(options: DemoOptions, cancel: CancellationToken) -> anyhow::Result<()> {
    let data_dir = options.data_dir.clone();
    clear_previous(&data_dir)?;
    let http = reqwest::Client::new();

    // Attio (the sandbox), with a workspace whose users and workspaces objects are on.
    let sandbox_port = pick_port(options.sandbox_port, DEFAULT_SANDBOX_PORT, "sandbox").await?;
    let sandbox = Sandbox::start(SandboxConfig {
        port: sandbox_port,
        // The demo's backend listens on plain http on loopback.
        allow_http_webhooks: true,
        ..SandboxConfig::default()
    })
    .await
    .with_context(|| format!("starting the Attio sandbox on port {sandbox_port}"))?;
    let creds = sandbox.create_workspace(WorkspaceOptions {
        enable_objects: vec!["users".into(), "workspaces".into()],
        ..Default::default()
    });
    client::add_demo_member(creds.workspace_id);
    let sandbox_url = sandbox.base_url();
    let attio_api_url = format!("{sandbox_url}/v2");

    // A fresh connection string for the auth server's address, then the server with it.
    let auth_port = pick_port(options.auth_port, DEFAULT_AUTH_PORT, "auth server").await?;
    let connection = Connection::generate(&format!("http://127.0.0.1:{auth_port}"), None)
        .context("making the connection string")?;
    let encoded = connection.encode();
    let auth_db = data_dir.join("auth.db");
    let auth = DemoServer::start(DemoConfig {
        port: auth_port,
        dev_mailbox: true,
        delivery: DeliveryConfig {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            poll_interval: Duration::from_millis(250),
            ..DeliveryConfig::default()
        },
        ..DemoConfig::new(
            format!("sqlite://{}?mode=rwc", auth_db.display()),
            connection.secret().clone(),
        )
    })
    .await
    .context("starting the demo auth server")?;
    let auth_url = auth.auth_url().to_owned();

    // app-backend on SQLite.
    let backend_port = pick_port(options.backend_port, DEFAULT_BACKEND_PORT, "app-backend").await?;
    // The console's "Sign in with Attio" goes through the sandbox's OAuth app flow.
    let oauth = sandbox
        .register_oauth_client(
            creds.workspace_id,
            vec![
                format!("http://127.0.0.1:{backend_port}/console/login/callback"),
                format!("http://127.0.0.1:{backend_port}/v1/oauth/callback"),
            ],
        )
        .context("registering the demo's OAuth app in the sandbox")?;
    let vars: HashMap<&str, String> = HashMap::from([
        ("BIND_ADDR", format!("127.0.0.1:{backend_port}")),
        ("DATA_DIR", data_dir.join("backend").display().to_string()),
        ("ATTIO_API_URL", attio_api_url.clone()),
        ("ATTIO_OAUTH_URL", sandbox_url.clone()),
        ("ATTIO_CLIENT_ID", oauth.client_id.clone()),
        ("ATTIO_CLIENT_SECRET", oauth.client_secret.clone()),
        // The demo auth server is on loopback over http.
        ("ALLOW_PRIVATE_PLUGIN_URLS", "true".to_owned()),
    ]);
    let config = Config::from_lookup(|k| vars.get(k).cloned())?;
    let backend = Application::build(config)
        .await
        .context("starting app-backend")?;
    let backend_url = format!("http://{}", backend.local_addr());
    let backend_stop = backend.shutdown_token();
    let backend_task = tokio::spawn(backend.run_until_stopped());

    // The generator site.
    let generator_port = pick_port(
        options.generator_port,
        DEFAULT_GENERATOR_PORT,
        "generator site",
    )
    .await?;
    let site_root = attio_auth_generator::server::Config::default_site_root();
    let site = attio_auth_generator::server::router(
        attio_auth_generator::server::AppState::new(&site_root),
        &site_root,
    );
    let site_listener = tokio::net::TcpListener::bind(("127.0.0.1", generator_port))
        .await
        .with_context(|| format!("generator site port {generator_port}"))?;
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

    // Seed: three users (Alice, the first, is an admin) and an organization, through the
    // chain (sign-ups reach Attio as events; the organization is made by an Attio action).
    let attio = AttioReader {
        http: http.clone(),
        api_url: attio_api_url.clone(),
        token: creds.token.clone(),
    };
    for (name, email) in [
        ("Alice Admin", "alice@example.com"),
        ("Bob Builder", "bob@example.com"),
        ("Carol Customer", "carol@example.com"),
    ] {
        sign_up(&http, &auth_url, name, email).await?;
    }
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
            "alice@example.com",
            None,
            json!({"name": "Acme Inc", "slug": "acme", "ownerEmail": "alice@example.com"}),
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
        auth_url,
        backend_url: backend_url.clone(),
        generator_url,
        connection: encoded,
    };
    // Written whole then renamed: `act` (and tests) may read it as soon as it exists.
    let partial = data_dir.join("demo.json.partial");
    std::fs::write(&partial, serde_json::to_vec_pretty(&info)?)?;
    std::fs::rename(&partial, demo_json(&data_dir))?;
    print_guide(&info, &data_dir, &options.command);
    println!("{READY}: backend {backend_url}");

    cancel.cancelled().await;
    println!("stopping ...");
    backend_stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(25), backend_task).await;
    if let Err(e) = auth.shutdown().await {
        eprintln!("attio-auth-demo: the auth server stopped with an error: {e}");
    }
    let _ = site_task.await;
    sandbox.shutdown().await;
    println!("stopped");
    Ok(())
}

fn print_guide(info: &DemoInfo, data_dir: &Path, command: &str) {
    let token = &info.attio_token;
    let api = &info.attio_api_url;
    let auth = &info.auth_url;
    let dir = data_dir.display();
    println!(
        r#"
attio-auth-demo: everything runs on this machine (127.0.0.1).

  Attio (sandbox)   {api}   token {token}
  auth server       {auth}   (the plugin is under /attio/*)
  app-backend       {backend}   (its API: {backend}/openapi.json)
  console           {backend}/console   (the demo workspace is installed: sign in with Attio)
  generator site    {generator}   (open it to make a connection string)
  connection string {conn}
  details           {dir}/demo.json
  users             alice@example.com (admin), bob@example.com, carol@example.com;
                    password {DEMO_PASSWORD}; organization "Acme Inc"

Try:
  0. Open the console, {backend}/console: "Sign in with Attio" (the sandbox approves at
     once), then the installation's health, audit log and backfill.
  1. Sign up a user and watch the Attio record appear:
     curl -s -X POST {auth}/sign-up/email -H 'content-type: application/json' \
       -d '{{"name":"Dana Demo","email":"dana@example.com","password":"dana-password-1"}}'
     curl -s -X POST {api}/objects/users/records/query -H 'authorization: Bearer {token}' \
       -H 'content-type: application/json' -d '{{}}'
  2. Edit the record in Attio and watch the auth database change (name):
     curl -s -X PATCH {api}/objects/users/records/<record id> -H 'authorization: Bearer {token}' \
       -H 'content-type: application/json' -d '{{"data":{{"values":{{"name":"Dana Renamed"}}}}}}'
     then: {command} act search-users --params '{{"search":"dana"}}'   (shows the new name)
  3. Record actions through app-backend, signed as the Attio app signs them:
     {command} act user-details --email bob@example.com
     {command} act update-ban-status --email bob@example.com --params '{{"banned":true,"banReason":"demo"}}'
     {command} act send-password-reset --email bob@example.com   (mail: curl -s {auth}/dev/mailbox)
     {command} act sessions --email bob@example.com
     {command} act revoke-all-sessions --email bob@example.com
     {command} act impersonate --email carol@example.com
     {command} act search-users --params '{{"search":"example.com"}}'
Ctrl-C stops everything.
"#,
        backend = info.backend_url,
        generator = info.generator_url,
        conn = info.connection,
    );
}

/// Sends one record action to the running demo's backend, as the Attio app would, on the
/// `users` record of `email` (or, for organization invitations, the first `workspaces`
/// record), acting as Alice (the admin). Answers the backend's status and JSON.
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
        signer: Signer::from_secret(connection.secret())?,
    };
    if action == "revoke-all-sessions" {
        let (object, record) = target.context("revoke-all-sessions needs --email")?;
        let body = json!({"action": action, "actor": {"email": "alice@example.com", "workspaceMemberId": client::DEMO_MEMBER},
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// In-process: everything starts on free ports, `act` answers through the chain, and
    /// the demo stops when cancelled.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn demo_runs_in_process_and_acts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("demo");
        let cancel = CancellationToken::new();
        let options = DemoOptions {
            data_dir: data_dir.clone(),
            sandbox_port: Some(0),
            auth_port: Some(0),
            backend_port: Some(0),
            generator_port: Some(0),
            command: "attio-auth-demo".into(),
        };
        let demo = tokio::spawn(run(options, cancel.clone()));
        wait_for("demo.json", 120, || async {
            demo_json(&data_dir).is_file().then_some(())
        })
        .await
        .expect("the demo is up");
        let (status, body) = act(
            &data_dir,
            "search-users",
            None,
            json!({"search": "example.com"}),
        )
        .await
        .expect("act");
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["data"]["users"].as_array().map(Vec::len),
            Some(3),
            "{body}"
        );
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(40), demo)
            .await
            .expect("stops within 40 s")
            .expect("task")
            .expect("the demo ran cleanly");
    }
}
