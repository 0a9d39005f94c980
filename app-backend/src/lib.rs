//! attio-auth-backend: the service behind the Attio app (DESIGN.md, issue 5).
//!
//! It keeps installations (one per Attio workspace), verifies and forwards the Attio app's
//! record actions to the auth plugin, keeps an audit log, and talks to Attio's REST API
//! under its rate limits. Start it with [`startup::Application::build`] and
//! [`startup::Application::run_until_stopped`] (the `attio-auth serve` command).
#![deny(missing_docs)]
#![warn(unreachable_pub)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod actions;
pub mod app_auth;
pub mod attio;
pub mod backfill;
pub mod browser_sessions;
pub mod caches;
pub mod clock;
pub mod config;
pub mod console;
pub mod crypto;
pub mod db;
pub mod egress;
pub mod error;
pub mod events;
pub mod health;
pub mod installations;
pub mod jobs;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod peer;
pub mod plugin;
pub mod production;
pub mod record_links;
pub mod serve;
pub mod settings;
pub mod startup;
pub mod state;
pub mod webhooks;
pub mod worker;

pub use config::Config;
pub use error::{Error, Result};
pub use startup::Application;
pub use state::AppState;
