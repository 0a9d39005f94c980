//! attio-auth-plugin: the Attio integration a customer mounts in their own axum auth server.
//!
//! [`AttioPlugin::builder`] -> [`AttioPlugin::router`], nested under the auth base path,
//! serves the original Better Auth plugin's endpoints (`{base}/attio/*`) with its JSON
//! shapes, authenticated by Standard Webhooks signatures (or, when enabled, the original's
//! body secret). Storage goes through [`store::AuthStore`]; [`store::SqlxStore`] implements
//! it over the Better Auth schema on SQLite and PostgreSQL. Sync events leave through the
//! outbox of [`sync`].
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod auth;
mod error;
mod handlers;
mod ids;
mod limit;
mod mailer;
mod plugin;
mod state;
pub mod store;
pub mod sync;
mod time;

pub use error::{Feature, PluginError};
pub use limit::{RateLimit, RateLimitRule, RateLimitStorage};
pub use mailer::{InvitationEmail, MailError, Mailer, MemoryMailer, PasswordResetEmail, SentMail};
pub use plugin::{AttioPlugin, AttioPluginBuilder, ConfigError};
