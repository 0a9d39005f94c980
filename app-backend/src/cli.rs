//! The scriptable protocol tools: `connection new|inspect`, `sign`, `verify`.
//!
//! Output contract (issue 2): one line or one JSON object on stdout; reasons on stderr;
//! exit status 0 on success, 1 when `verify` finds the signature invalid, 2 when the
//! arguments or input cannot be used. Secrets are printed only by `connection new`, whose
//! job it is to make one; errors never contain them.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use attio_auth_shared::connection::Connection;
use attio_auth_shared::signing::{
    HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, Signer, Verifier, new_message_id,
};
use clap::{Args, Subcommand};
use secrecy::ExposeSecret as _;
use serde_json::json;

/// Exit status for "the signature is invalid".
const INVALID: u8 = 1;
/// Exit status for unusable arguments or input.
const UNUSABLE: u8 = 2;

/// `attio-auth connection ...`
#[derive(Debug, Subcommand)]
pub enum ConnectionCommand {
    /// Make a new signed-v1 connection string with a fresh secret; prints it on one line.
    New(NewArgs),
    /// Show what a connection string holds (never its secret) as JSON
    /// `{"uri","base","url","protocol"}`.
    Inspect(InspectArgs),
}

/// Arguments of `connection new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The auth server's origin, e.g. `https://app.example.com` (`https://` is added when
    /// no scheme is given).
    #[arg(long, value_name = "URL")]
    uri: String,
    /// Better Auth's base path.
    #[arg(long, value_name = "PATH", default_value = attio_auth_shared::connection::DEFAULT_BASE)]
    base: String,
    /// Print JSON `{"connection","uri","base","url","secret"}` instead of the bare string.
    #[arg(long)]
    json: bool,
}

/// Arguments of `connection inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The connection string (base64).
    #[arg(value_name = "STRING")]
    connection: String,
}

/// Arguments of `sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The `whsec_` secret; repeat it to sign with several keys (rotation). Also read from
    /// `ATTIO_AUTH_SECRET`, which keeps it out of the process list.
    #[arg(
        long,
        value_name = "S",
        env = "ATTIO_AUTH_SECRET",
        hide_env_values = true,
        required = true
    )]
    secret: Vec<String>,
    /// Message id (default: a fresh `msg_<random>`).
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// Unix seconds (default: now).
    #[arg(long, value_name = "UNIX")]
    timestamp: Option<i64>,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// An accepted `whsec_` secret; repeat it to accept several (rotation). Also read from
    /// `ATTIO_AUTH_SECRET`.
    #[arg(
        long,
        value_name = "S",
        env = "ATTIO_AUTH_SECRET",
        hide_env_values = true,
        required = true
    )]
    secret: Vec<String>,
    /// The `webhook-id` header.
    #[arg(long, value_name = "ID")]
    id: String,
    /// The `webhook-timestamp` header, unix seconds exactly as received.
    #[arg(long, value_name = "UNIX", value_parser = unix_seconds)]
    timestamp: String,
    /// The `webhook-signature` header (space-separated `v1,<base64>` entries).
    #[arg(long, value_name = "SIG")]
    signature: String,
    /// The verifier's clock, unix seconds (default: now).
    #[arg(long, value_name = "UNIX")]
    now: Option<i64>,
}

/// Keeps the timestamp's text as given (it is part of what was signed) but refuses what
/// is not unix seconds at parse time, so it counts as an unusable argument.
fn unix_seconds(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err("expected unix seconds (decimal digits)".to_owned())
    }
}

/// Runs `connection new` or `connection inspect`.
pub fn connection(command: ConnectionCommand) -> ExitCode {
    match command {
        ConnectionCommand::New(args) => connection_new(args),
        ConnectionCommand::Inspect(args) => connection_inspect(args),
    }
}

fn connection_new(args: NewArgs) -> ExitCode {
    let connection = match Connection::generate(&args.uri, Some(&args.base)) {
        Ok(c) => c,
        Err(e) => return fail(UNUSABLE, &e),
    };
    let encoded = connection.encode();
    if args.json {
        print_json(&json!({
            "connection": encoded,
            "uri": connection.uri,
            "base": connection.base,
            "url": connection.url(),
            "secret": connection.secret().expose_secret(),
        }))
    } else {
        print_line(&encoded)
    }
}

fn connection_inspect(args: InspectArgs) -> ExitCode {
    match Connection::decode(&args.connection) {
        Ok(c) => print_json(&json!({
            "uri": c.uri,
            "base": c.base,
            "url": c.url(),
            "protocol": c.protocol.as_str(),
        })),
        Err(e) => fail(UNUSABLE, &e),
    }
}

/// Runs `sign`.
pub fn sign(args: SignArgs) -> ExitCode {
    let signer = match Signer::new(&args.secret) {
        Ok(s) => s,
        Err(e) => return fail(UNUSABLE, &e),
    };
    let body = match read_stdin() {
        Ok(b) => b,
        Err(code) => return code,
    };
    let id = match args.id {
        Some(id) if id.is_empty() => return fail(UNUSABLE, &"--id must not be empty"),
        Some(id) => id,
        None => match new_message_id() {
            Ok(id) => id,
            Err(e) => return fail(UNUSABLE, &e),
        },
    };
    let timestamp = match args.timestamp {
        Some(ts) if ts < 0 => return fail(UNUSABLE, &"--timestamp must not be negative"),
        Some(ts) => ts,
        None => match unix_now() {
            Ok(ts) => ts,
            Err(code) => return code,
        },
    };
    let signature = signer.sign(&id, timestamp, &body);
    print_json(&json!({
        HEADER_ID: id,
        HEADER_TIMESTAMP: timestamp.to_string(),
        HEADER_SIGNATURE: signature,
    }))
}

/// Runs `verify`.
pub fn verify(args: VerifyArgs) -> ExitCode {
    let verifier = match Verifier::new(&args.secret) {
        Ok(v) => v,
        Err(e) => return fail(UNUSABLE, &e),
    };
    let body = match read_stdin() {
        Ok(b) => b,
        Err(code) => return code,
    };
    let now = match args.now {
        Some(now) => now,
        None => match unix_now() {
            Ok(now) => now,
            Err(code) => return code,
        },
    };
    match verifier.verify(&args.id, &args.timestamp, &args.signature, &body, now) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(INVALID, &format!("invalid: {e}")),
    }
}

fn read_stdin() -> Result<Vec<u8>, ExitCode> {
    let mut body = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut body)
        .map_err(|e| fail(UNUSABLE, &format!("cannot read the body from stdin: {e}")))?;
    Ok(body)
}

fn unix_now() -> Result<i64, ExitCode> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .ok_or_else(|| fail(UNUSABLE, &"the system clock is before 1970"))
}

fn print_json(value: &serde_json::Value) -> ExitCode {
    print_line(&value.to_string())
}

/// Writes one line to stdout; a closed pipe is reported, not a panic (as `println!` would).
fn print_line(line: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(UNUSABLE, &format!("cannot write to stdout: {e}")),
    }
}

/// Reports on stderr and gives the exit status.
fn fail(code: u8, reason: &dyn std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "attio-auth: {reason}");
    ExitCode::from(code)
}
