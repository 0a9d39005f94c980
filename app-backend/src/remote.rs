//! `attio-auth install` and `attio-auth backfill`: the console's install and backfill for
//! scripts, through the same HTTP API (`POST /v1/installations`, the signed
//! `POST`/`GET /v1/installations/{id}/backfill`), with a progress bar on the terminal.
//!
//! Output contract as the other tools: the backend's JSON answer on stdout, reasons on
//! stderr; exit 0 on success, 1 when the backend refused or the backfill failed, 2 for
//! unusable arguments. Secrets come from flags or the environment and are never printed.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attio_auth_shared::connection::Connection;
use attio_auth_shared::signing::Signer;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

const REFUSED: u8 = 1;
const UNUSABLE: u8 = 2;

/// Arguments of `install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The backend's base URL, e.g. `https://auth-sync.example.com`.
    #[arg(long, value_name = "URL")]
    backend: String,
    /// The connection string (also `ATTIO_AUTH_CONNECTION`, which keeps it out of the
    /// process list).
    #[arg(
        long,
        value_name = "STRING",
        env = "ATTIO_AUTH_CONNECTION",
        hide_env_values = true
    )]
    connection: String,
    /// An Attio access token of the workspace (also `ATTIO_TOKEN`).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "ATTIO_TOKEN",
        hide_env_values = true
    )]
    attio_token: String,
    /// Do not follow the backfill the install starts.
    #[arg(long)]
    no_wait: bool,
}

/// Arguments of `backfill`.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The backend's base URL.
    #[arg(long, value_name = "URL")]
    backend: String,
    /// The installation id (`installation.id` of the install's answer).
    #[arg(long, value_name = "ID")]
    installation: String,
    /// The Attio workspace id of the installation.
    #[arg(long, value_name = "ID", env = "ATTIO_WORKSPACE_ID")]
    workspace: String,
    /// The connection string the installation uses: its secret signs the calls, as the
    /// Attio app signs them (also `ATTIO_AUTH_CONNECTION`).
    #[arg(
        long,
        value_name = "STRING",
        env = "ATTIO_AUTH_CONNECTION",
        hide_env_values = true
    )]
    connection: String,
    /// Only show the current progress; start nothing.
    #[arg(long)]
    status: bool,
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("attio-auth: {message}");
    ExitCode::from(code)
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(UNUSABLE, &format!("cannot start the runtime: {e}")))
}

fn base(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

/// The backend's error message, or the status.
fn refusal(status: reqwest::StatusCode, body: &Value) -> String {
    match body.pointer("/error/message").and_then(Value::as_str) {
        Some(m) => format!(
            "{m} ({})",
            body.pointer("/error/code")
                .and_then(Value::as_str)
                .unwrap_or("")
        ),
        None => format!("the backend answered {status}"),
    }
}

/// Runs `install`.
pub fn install(args: InstallArgs) -> ExitCode {
    let connection = match Connection::decode(args.connection.trim()) {
        Ok(c) => c,
        Err(e) => return fail(UNUSABLE, &format!("the connection string: {e}")),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let http = reqwest::Client::new();
        let backend = base(&args.backend);
        let res = http
            .post(format!("{backend}/v1/installations"))
            .json(&json!({"connection": args.connection.trim(), "attioToken": args.attio_token.trim()}))
            .send()
            .await;
        let res = match res {
            Ok(r) => r,
            Err(e) => return fail(REFUSED, &format!("the backend could not be reached: {e}")),
        };
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        println!("{body}");
        if !status.is_success() {
            return fail(REFUSED, &refusal(status, &body));
        }
        if args.no_wait {
            return ExitCode::SUCCESS;
        }
        let (Some(id), Some(workspace)) = (
            body.pointer("/installation/id").and_then(Value::as_str),
            body.pointer("/installation/workspaceId").and_then(Value::as_str),
        ) else {
            return fail(REFUSED, "the install answer names no installation");
        };
        follow(&http, &backend, id, workspace, &connection).await
    })
}

/// Runs `backfill`.
pub fn backfill(args: BackfillArgs) -> ExitCode {
    let connection = match Connection::decode(args.connection.trim()) {
        Ok(c) => c,
        Err(e) => return fail(UNUSABLE, &format!("the connection string: {e}")),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let http = reqwest::Client::new();
        let backend = base(&args.backend);
        if !args.status {
            let body = br#"{"action":"backfill"}"#;
            let url = format!("{backend}/v1/installations/{}/backfill", args.installation);
            let req = match signed(http.post(&url), &connection, &args.workspace, body) {
                Ok(r) => r,
                Err(e) => return fail(UNUSABLE, &e),
            };
            let res = match req
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => return fail(REFUSED, &format!("the backend could not be reached: {e}")),
            };
            let status = res.status();
            let answer: Value = res.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                println!("{answer}");
                return fail(REFUSED, &refusal(status, &answer));
            }
        }
        follow(
            &http,
            &backend,
            &args.installation,
            &args.workspace,
            &connection,
        )
        .await
    })
}

/// `req` with the Standard Webhooks headers of `body`, signed as the Attio app signs.
fn signed(
    req: reqwest::RequestBuilder,
    connection: &Connection,
    workspace: &str,
    body: &[u8],
) -> Result<reqwest::RequestBuilder, String> {
    let secret = attio_auth_backend::app_auth::signing_secret(connection);
    let signer = Signer::from_secret(&secret).map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let headers = signer.headers(body, now).map_err(|e| e.to_string())?;
    let mut req = req.header("attio-workspace-id", workspace);
    for (name, value) in headers.pairs() {
        req = req.header(name, value);
    }
    Ok(req)
}

/// Poll the backfill until it is no longer running, with a progress bar on stderr; print
/// the last progress on stdout.
async fn follow(
    http: &reqwest::Client,
    backend: &str,
    id: &str,
    workspace: &str,
    connection: &Connection,
) -> ExitCode {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} backfill {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let url = format!("{backend}/v1/installations/{id}/backfill");
    loop {
        let req = match signed(http.get(&url), connection, workspace, b"") {
            Ok(r) => r,
            Err(e) => return fail(UNUSABLE, &e),
        };
        let res = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                bar.abandon();
                return fail(REFUSED, &format!("the backend could not be reached: {e}"));
            }
        };
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bar.abandon();
            return fail(REFUSED, &refusal(status, &body));
        }
        let data = body.get("data").cloned().unwrap_or(Value::Null);
        let users = data.get("usersDone").and_then(Value::as_i64).unwrap_or(0);
        let orgs = data
            .get("organizationsDone")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let started = data.get("startedAt").and_then(Value::as_i64).unwrap_or(0);
        let updated = data.get("updatedAt").and_then(Value::as_i64).unwrap_or(0);
        #[allow(clippy::cast_precision_loss)]
        let rate = (users + orgs) as f64 / ((updated - started).max(1) as f64 / 1000.0);
        bar.set_message(format!(
            "{users} users, {orgs} organizations · {rate:.1} records/s"
        ));
        match data.get("status").and_then(Value::as_str) {
            Some("running") => tokio::time::sleep(Duration::from_millis(500)).await,
            Some("done") => {
                bar.finish_with_message(format!(
                    "done: {users} users, {orgs} organizations · {rate:.1} records/s"
                ));
                println!("{data}");
                return ExitCode::SUCCESS;
            }
            other => {
                bar.abandon();
                println!("{data}");
                return fail(
                    REFUSED,
                    &format!(
                        "the backfill {}: {}",
                        other.unwrap_or("is unknown"),
                        data.get("lastError")
                            .and_then(Value::as_str)
                            .unwrap_or("no error recorded")
                    ),
                );
            }
        }
    }
}
