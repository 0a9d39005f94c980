//! attio-auth-plugin: the Attio integration a customer mounts in their own axum auth server.
//!
//! [`AttioPlugin::builder`] -> [`AttioPlugin::router`], nested under the auth base path,
//! serves the original Better Auth plugin's endpoints (`{base}/attio/*`) with its JSON
//! shapes, authenticated by Standard Webhooks signatures (or, when enabled, the original's
//! body secret). Storage goes through [`store::AuthStore`]; [`store::SqlxStore`] implements
//! it over the Better Auth schema on SQLite, PostgreSQL and MySQL/MariaDB,
//! [`store::MemoryStore`] in memory
//! (the reference for a store over other tables). Sync events leave through the outbox of
//! [`sync`], delivered by the worker [`AttioPlugin::spawn_sync`] starts.
//!
//! # A whole auth server
//!
//! Mount, migrate, start the sync worker, shut down gracefully (this example runs as a
//! test: an in-memory database, a server on a free port that stops at once):
//!
//! ```
//! use std::net::SocketAddr;
//! use attio_auth_plugin::AttioPlugin;
//! use attio_auth_plugin::store::SqlxStore;
//! use attio_auth_plugin::sync::{Adapters, CancellationToken, SyncReporter};
//!
//! # const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The auth server's database: Better Auth's tables, plus the plugin's own.
//!     let pool = sqlx::sqlite::SqlitePoolOptions::new()
//!         .max_connections(1) // one in-memory database; a file: SqlxStore::sqlite_options
//!         .connect("sqlite::memory:")
//!         .await?;
//!     let store = SqlxStore::sqlite(pool); // or SqlxStore::postgres(pg_pool)
//!     store.install_better_auth_schema(true).await?; // only when Better Auth did not
//!     store.migrate().await?; // the plugin's tables, tracked apart from the host's
//!
//!     let plugin = AttioPlugin::builder()
//!         .secret(SECRET) // the connection string's whsec_ secret
//!         .store(store)
//!         .sync(SyncReporter::new(Adapters::default())) // users and organizations to Attio
//!         .base_url("https://auth.example.com/api/auth")
//!         .build()?;
//!     let app = axum::Router::new().nest("/api/auth", plugin.router());
//!
//!     let shutdown = CancellationToken::new();
//!     let sync = plugin.spawn_sync(shutdown.clone())?; // delivers sync events, with retries
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! #   let addr = listener.local_addr()?;
//!     let server = axum::serve(
//!         listener,
//!         // the peer address keys the impersonation-session rate limit
//!         app.into_make_service_with_connect_info::<SocketAddr>(),
//!     )
//!     .with_graceful_shutdown(shutdown.clone().cancelled_owned());
//!     let server = tokio::spawn(async move { server.await });
//! #   ping(addr).await?;
//!
//!     // A real server waits for a signal here: tokio::signal::ctrl_c().await?;
//!     shutdown.cancel();
//!     server.await??; // requests in flight finish
//!     sync.await?; // so do the deliveries in flight
//!     Ok(())
//! }
//! # /// The server answers a signed `ping`, as the backend sends it.
//! # async fn ping(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
//! #     let body = br#"{"action":"ping"}"#;
//! #     let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
//! #     let signed = attio_auth_shared::signing::Signer::new(&[SECRET])?.headers(body, now as i64)?;
//! #     let mut req = reqwest::Client::new()
//! #         .post(format!("http://{addr}/api/auth/attio/ping"))
//! #         .header("content-type", "application/json");
//! #     for (name, value) in signed.pairs() {
//! #         req = req.header(name, value);
//! #     }
//! #     let resp = req.body(&body[..]).send().await?;
//! #     assert_eq!(resp.status(), 200);
//! #     let pong: serde_json::Value = resp.json().await?;
//! #     assert_eq!(pong["ok"], true);
//! #     assert_eq!(pong["features"]["admin"], true);
//! #     Ok(())
//! # }
//! ```
//!
//! The host reports its own changes (sign-up, profile edits) with
//! [`AttioPlugin::reporter`] in the transaction that makes them
//! ([`SyncReporter::report`](sync::SyncReporter::report)). A host whose users live in its own
//! tables implements [`store::AuthStore`] over them: see `examples/custom_store.rs`.
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
pub use mailer::{InvitationEmail, MailError, Mailer, MemoryMailer, PasswordResetEmail, SentMail};
pub use plugin::{AttioPlugin, AttioPluginBuilder, ConfigError};
