//! A small, real auth server with the Attio plugin mounted: what a customer's Rust auth
//! server looks like, and what `attio-auth-demo` runs. [`DemoServer::start`] binds,
//! migrates and serves it until [`DemoServer::shutdown`]; `examples/demo_auth_server.rs` is
//! the same as a command.
//!
//! - Email + password sign-up and sign-in (argon2id), sessions in the database, a session
//!   cookie (`better-auth.session_token`, the bare token, as the plugin expects by default);
//! - an admin role (the first user, and [`DemoConfig::admin_emails`]), organizations and
//!   members;
//! - the Better Auth schema on SQLite or PostgreSQL, so the plugin's sqlx store works on it;
//! - every change reported through the plugin's
//!   [`SyncReporter`](attio_auth_plugin::sync::SyncReporter) in the transaction that makes
//!   it, and delivered to linked backends by the plugin's delivery worker.
//!
//! Routes (under `/api/auth`, Better Auth's paths and JSON shapes where it has them):
//! `POST sign-up/email {name,email,password}`, `POST sign-in/email {email,password}`,
//! `GET get-session`, `POST sign-out`, `POST update-user {name?,image?}`,
//! `POST organization/create {name,slug?}`, `POST organization/add-member
//! {organizationId,email,role?}`, `POST organization/remove-member {organizationId,userId}`,
//! `POST admin/set-role {userId,role}`, `POST admin/remove-user {userId}`,
//! `GET reset-password/{token}?callbackURL=/path` (the reset email's link),
//! `POST reset-password {token,newPassword}`, `GET dev/mailbox` (with
//! [`DemoConfig::dev_mailbox`]), and the plugin's `attio/*`. `GET /health` answers ok.
//!
//! Modules: `server` (binding and the routes), `state` (what routes share), `store` (the
//! SQLite/PostgreSQL layer), `users` (the user row), `sessions`, `account` (sign-up,
//! profile), `admin`, `orgs`, `passwords` (hashes and the reset flow), `mail` (the dev
//! mailbox) and `error` (Better Auth's error shape).

mod account;
mod admin;
mod error;
mod mail;
mod orgs;
mod passwords;
mod server;
mod sessions;
mod state;
mod store;
#[cfg(test)]
mod tests;
mod users;

use std::net::{IpAddr, Ipv4Addr};

use attio_auth_plugin::sync::DeliveryConfig;
use secrecy::SecretString;

pub use server::DemoServer;

/// How the demo auth server runs: [`DemoConfig::new`] has the defaults of the example's
/// flags (127.0.0.1:4100, no admins besides the first user, no dev mailbox, signed
/// requests only).
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Interface to listen on.
    pub host: IpAddr,
    /// Port (0 picks a free one; [`DemoServer::addr`] names it).
    pub port: u16,
    /// `sqlite://path?mode=rwc` or `postgres://...`.
    pub database_url: String,
    /// The connection string's secret (`whsec_...`: signed protocol; anything else is a
    /// legacy secret: events go unsigned and `accept_legacy` must be on).
    pub secret: SecretString,
    /// Public URL of the auth base path (default `http://<addr>/api/auth`).
    pub base_url: Option<String>,
    /// Emails that become admins at sign-up (the first user always does).
    pub admin_emails: Vec<String>,
    /// Serve `GET /api/auth/dev/mailbox` (every mail sent, reset tokens included): for
    /// end-to-end tests and demos only.
    pub dev_mailbox: bool,
    /// Also accept the original Attio app's body-secret requests.
    pub accept_legacy: bool,
    /// The delivery worker's retries and polling.
    pub delivery: DeliveryConfig,
}

impl DemoConfig {
    /// The defaults, with this database and secret.
    pub fn new(database_url: impl Into<String>, secret: SecretString) -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 4100,
            database_url: database_url.into(),
            secret,
            base_url: None,
            admin_emails: Vec::new(),
            dev_mailbox: false,
            accept_legacy: false,
            delivery: DeliveryConfig::default(),
        }
    }
}

/// Why the demo auth server did not start (what it was doing, and the cause).
#[derive(Debug, thiserror::Error)]
#[error("demo auth server: {context}")]
pub struct DemoError {
    context: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Wraps a cause with what was being done.
fn ctx<E: std::error::Error + Send + Sync + 'static>(
    context: impl Into<String>,
) -> impl FnOnce(E) -> DemoError {
    let context = context.into();
    move |e| DemoError {
        context,
        source: Box::new(e),
    }
}
