//! The demo auth server ([`attio_auth_demo::auth_server`]) as a command: a small, real auth
//! server with the Attio plugin mounted under `/api/auth` (email + password sign-up and
//! sign-in, sessions, an admin role, organizations; see the module and
//! examples/README.md for its routes).
//!
//! Run: `ATTIO_AUTH_SECRET=whsec_... cargo run -p attio-auth-demo --example
//! demo_auth_server -- --port 4100` (see `--help`; every flag has an env
//! variable). It prints one `listening on http://<addr>` line, and stops on Ctrl-C.

use std::net::IpAddr;

use anyhow::Context;
use attio_auth_demo::auth_server::{DemoConfig, DemoServer};
use clap::Parser;
use secrecy::SecretString;

/// Configuration, from flags or the environment.
#[derive(Debug, Clone, Parser)]
#[command(about = "Demo auth server with the attio-auth plugin mounted under /api/auth")]
struct Args {
    /// Interface to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port (0 picks a free one; the "listening on" line names it).
    #[arg(long, env = "PORT", default_value_t = 4100)]
    port: u16,
    /// `sqlite://path?mode=rwc` or `postgres://...`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/demo-auth.db?mode=rwc"
    )]
    database_url: String,
    /// The connection string's secret (`whsec_...`), shared with app-backend.
    /// Prefer the environment: a flag shows in the process list.
    #[arg(long, env = "ATTIO_AUTH_SECRET", hide_env_values = true, value_parser = parse_secret)]
    secret: SecretString,
    /// Public URL of the auth base path (default `http://<host>:<port>/api/auth`).
    #[arg(long, env = "BASE_URL")]
    base_url: Option<String>,
    /// Emails that become admins at sign-up (the first user always does).
    #[arg(long, env = "ADMIN_EMAILS", value_delimiter = ',')]
    admin_emails: Vec<String>,
    /// Serve `GET /api/auth/dev/mailbox` (every mail sent, reset tokens included): for
    /// end-to-end tests and demos only.
    #[arg(long, env = "DEV_MAILBOX", default_value_t = false)]
    dev_mailbox: bool,
    /// Also accept the original Attio app's body-secret requests.
    #[arg(long, env = "ACCEPT_LEGACY", default_value_t = false)]
    accept_legacy: bool,
}

fn parse_secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s.to_owned()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let args = Args::parse();
    let server = DemoServer::start(DemoConfig {
        host: args.host,
        port: args.port,
        base_url: args.base_url,
        admin_emails: args.admin_emails,
        dev_mailbox: args.dev_mailbox,
        accept_legacy: args.accept_legacy,
        ..DemoConfig::new(args.database_url, args.secret)
    })
    .await?;
    println!("listening on {}", server.url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    server.shutdown().await.context("serving")?;
    Ok(())
}
