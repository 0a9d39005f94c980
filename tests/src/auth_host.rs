//! A minimal customer auth server for the end-to-end tests: our plugin (signed protocol,
//! sync events through the outbox and its delivery worker) over a Better Auth SQLite
//! database, mounted under [`crate::BASE_PATH`]. Users and sessions are made through the
//! plugin's store, reported in the same transaction as Better Auth hooks would.
//!
//! It can be stopped and started again on the same port and database, to test an auth
//! server that is down for a while.

use anyhow::Context;
use attio_auth_plugin::store::{AuthStore, NewSession, NewUser, Report, SqlxStore, User};
use attio_auth_plugin::sync::{Adapters, DeliveryConfig, Origin, SyncReporter};
use attio_auth_plugin::{AttioPlugin, MemoryMailer};
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running auth server.
pub struct AuthHost {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// The plugin (its store).
    pub plugin: AttioPlugin,
    /// The sync reporter the host reports its own changes with.
    pub reporter: SyncReporter,
    /// Mails sent.
    pub mailer: Arc<MemoryMailer>,
    /// The auth database.
    pub pool: SqlitePool,
    addr: SocketAddr,
    db_path: PathBuf,
    secret: String,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for AuthHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthHost")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Fast retries, so that the fault tests do not wait minutes.
pub fn delivery_config() -> DeliveryConfig {
    DeliveryConfig {
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
        poll_interval: Duration::from_millis(200),
        request_timeout: Duration::from_secs(5),
        ..DeliveryConfig::default()
    }
}

impl AuthHost {
    /// Starts on `127.0.0.1:port` (0: any) over the SQLite file `db_path` (created with
    /// Better Auth's tables when new), with the secret of the connection string (`whsec_`:
    /// signed protocol; otherwise the original's legacy protocol).
    pub async fn start(db_path: &Path, secret: &str, port: u16) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("bind 127.0.0.1:{port}"))?;
        let addr = listener.local_addr()?;
        let origin = format!("http://{addr}");
        let options = SqliteConnectOptions::new()
            .filename(db_path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        let store = SqlxStore::sqlite(pool.clone());
        store.install_better_auth_schema(true).await?;
        store.migrate().await?;
        // A `whsec_` secret: signed requests and signed events. Any other secret comes from
        // an original connection string: legacy body-secret requests and unsigned events,
        // as the original plugin.
        // The plugin's own wiring (`.sync()`, `.delivery()`, `spawn_sync`) signs events
        // with a `whsec_` secret and sends them unsigned with a legacy one.
        let legacy = !secret.starts_with(attio_auth_shared::signing::SECRET_PREFIX);
        let mailer = Arc::new(MemoryMailer::new());
        let plugin = AttioPlugin::builder()
            .secret(secret)
            .store(store)
            .sync(SyncReporter::new(Adapters::default()))
            .delivery(delivery_config())
            .accept_legacy_body_secret(legacy)
            .shared_mailer(mailer.clone())
            .base_url(format!("{origin}{}", crate::BASE_PATH))
            .build()?;
        let reporter = plugin
            .reporter()
            .cloned()
            .context("the plugin was built with .sync()")?;
        let demo = DemoState {
            store: plugin.store(),
            reporter: reporter.clone(),
        };
        let routes = plugin
            .router::<()>()
            .route("/sign-up/email", post(sign_up_route).with_state(demo));
        let router = Router::new().nest(crate::BASE_PATH, routes);
        let cancel = CancellationToken::new();
        let server = serve_until(listener, router, cancel.clone(), "auth host");
        let worker = plugin.spawn_sync(cancel.clone())?;
        Ok(Self {
            origin,
            plugin,
            reporter,
            mailer,
            pool,
            addr,
            db_path: db_path.to_owned(),
            secret: secret.to_owned(),
            cancel,
            tasks: vec![server, worker],
        })
    }

    /// The auth server URL a connection string names (`origin` + base path).
    pub fn auth_url(&self) -> String {
        format!("{}{}", self.origin, crate::BASE_PATH)
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn AuthStore> {
        self.plugin.store()
    }

    /// A sign-up: a user row (and its sync event, in one transaction).
    pub async fn sign_up(&self, email: &str, name: &str, role: &str) -> anyhow::Result<User> {
        Ok(sign_up(&self.store(), &self.reporter, email, name, role).await?)
    }

    /// A sign-in: a session of `user_id`; answers its id.
    pub async fn sign_in(&self, user_id: &str) -> anyhow::Result<String> {
        let id = new_id();
        let now = chrono::Utc::now();
        self.store()
            .create_session(NewSession {
                id: id.clone(),
                token: new_id(),
                user_id: user_id.to_owned(),
                expires_at: iso(now + chrono::TimeDelta::days(7)),
                now: iso(now),
                ip_address: Some("127.0.0.1".into()),
                user_agent: Some("e2e".into()),
                impersonated_by: None,
            })
            .await?;
        Ok(id)
    }

    /// Stops serving and delivering (the database stays).
    pub async fn stop(mut self) -> (PathBuf, String, u16) {
        self.cancel.cancel();
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
        self.pool.close().await;
        (self.db_path.clone(), self.secret.clone(), self.addr.port())
    }
}

impl Drop for AuthHost {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A sign-up through the store, reported in the same transaction (what a Better Auth
/// server's user hook does).
async fn sign_up(
    store: &Arc<dyn AuthStore>,
    reporter: &SyncReporter,
    email: &str,
    name: &str,
    role: &str,
) -> Result<User, attio_auth_plugin::store::StoreError> {
    let user = store
        .create_user(
            NewUser {
                id: new_id(),
                name: name.to_owned(),
                email: email.trim().to_lowercase(),
                email_verified: false,
                image: None,
                role: Some(role.to_owned()),
                attio_id: None,
                now: now_iso(),
            },
            Some(Report {
                reporter,
                origin: Origin::Auth,
            }),
        )
        .await?;
    reporter.notify();
    Ok(user)
}

#[derive(Clone)]
struct DemoState {
    store: Arc<dyn AuthStore>,
    reporter: SyncReporter,
}

#[derive(serde::Deserialize)]
struct SignUpBody {
    name: String,
    email: String,
}

/// `POST {base}/sign-up/email {name, email}`: the host's sign-up, without a password (a
/// demo and test host only): answers `{user: {id, email, name}}`.
async fn sign_up_route(
    State(st): State<DemoState>,
    body: Result<Json<SignUpBody>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "expected {name, email}", "code": "VALIDATION_ERROR"})),
        )
            .into_response();
    };
    match sign_up(&st.store, &st.reporter, &body.email, &body.name, "user").await {
        Ok(u) => {
            Json(json!({"user": {"id": u.id, "email": u.email, "name": u.name}})).into_response()
        }
        Err(attio_auth_plugin::store::StoreError::Conflict(_)) => (
            StatusCode::CONFLICT,
            Json(
                json!({"message": "a user with this email exists", "code": "USER_ALREADY_EXISTS"}),
            ),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "sign-up failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"message": "internal error", "code": "INTERNAL_ERROR"})),
            )
                .into_response()
        }
    }
}

/// 32 alphanumerics, like Better Auth's ids.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Now, as Better Auth writes dates.
pub fn now_iso() -> String {
    iso(chrono::Utc::now())
}

/// The auth database of a [`PluginHost`].
#[derive(Debug, Clone)]
pub enum AuthDb {
    /// A SQLite file (WAL), created when new.
    Sqlite(PathBuf),
    /// A PostgreSQL database URL.
    Postgres(String),
}

/// An auth server set up as the demo's: the plugin built with `.sync()` and `.delivery()`
/// and its own worker ([`AttioPlugin::spawn_sync`]), over SQLite or PostgreSQL. Users are
/// created through the plugin's store and reported in the same transaction; the store
/// wakes the worker after the commit (no explicit notify here, so that the benchmark
/// measures what the store does by itself).
pub struct PluginHost {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// The plugin.
    pub plugin: AttioPlugin,
    reporter: SyncReporter,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    /// Binds `127.0.0.1:0` first (the connection string needs the origin) and answers the
    /// listener; then [`PluginHost::start`] serves on it.
    pub async fn bind() -> anyhow::Result<(tokio::net::TcpListener, String)> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let origin = format!("http://{}", listener.local_addr()?);
        Ok((listener, origin))
    }

    /// Serves the plugin on `listener` over `db` (Better Auth's tables and the plugin's
    /// migrations applied), signing with `secret`, delivering with `delivery`.
    pub async fn start(
        listener: tokio::net::TcpListener,
        db: &AuthDb,
        secret: &str,
        delivery: DeliveryConfig,
    ) -> anyhow::Result<Self> {
        let origin = format!("http://{}", listener.local_addr()?);
        let store = match db {
            AuthDb::Sqlite(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await?;
                SqlxStore::sqlite(pool)
            }
            AuthDb::Postgres(url) => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(8)
                    .connect(url)
                    .await?;
                SqlxStore::postgres(pool)
            }
        };
        store.install_better_auth_schema(true).await?;
        store.migrate().await?;
        let plugin = AttioPlugin::builder()
            .secret(secret)
            .store(store)
            .sync(SyncReporter::new(Adapters::default()))
            .delivery(delivery)
            .base_url(format!("{origin}{}", crate::BASE_PATH))
            .build()?;
        let reporter = plugin
            .reporter()
            .cloned()
            .context("the plugin has a reporter")?;
        let router = Router::new().nest(crate::BASE_PATH, plugin.router::<()>());
        let cancel = CancellationToken::new();
        let server = serve_until(listener, router, cancel.clone(), "plugin host");
        let worker = plugin.spawn_sync(cancel.clone())?;
        Ok(Self {
            origin,
            plugin,
            reporter,
            cancel,
            tasks: vec![server, worker],
        })
    }

    /// The auth server URL a connection string names (`origin` + base path).
    pub fn auth_url(&self) -> String {
        format!("{}{}", self.origin, crate::BASE_PATH)
    }

    /// A sign-up with this id: the user row and its sync event in one transaction.
    pub async fn sign_up(&self, id: &str, email: &str, name: &str) -> anyhow::Result<User> {
        Ok(self
            .plugin
            .store()
            .create_user(
                NewUser {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    email: email.to_owned(),
                    email_verified: false,
                    image: None,
                    role: Some("user".to_owned()),
                    attio_id: None,
                    now: now_iso(),
                },
                Some(Report {
                    reporter: &self.reporter,
                    origin: Origin::Auth,
                }),
            )
            .await?)
    }

    /// Stops serving and delivering (the sends in flight finish first).
    pub async fn stop(mut self) {
        self.cancel.cancel();
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    }
}

impl Drop for PluginHost {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Serves `router` on `listener` until `cancel` fires (both hosts stop the same way).
fn serve_until(
    listener: tokio::net::TcpListener,
    router: Router,
    cancel: CancellationToken,
    what: &'static str,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, what, "host stopped");
        }
    })
}
