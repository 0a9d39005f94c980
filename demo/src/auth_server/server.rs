//! The server itself: [`App`] binds, opens the database, installs the schemas and builds the
//! plugin and the routes; [`DemoServer`] runs it in a task until shut down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use attio_auth_plugin::AttioPlugin;
use attio_auth_plugin::store::SqlxStore;
use attio_auth_plugin::sync::{Adapters, SyncReporter};
use axum::Router;
use axum::routing::{get, post};
use secrecy::ExposeSecret;
use sqlx::{PgPool, SqlitePool};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::account::{sign_up, update_user};
use super::admin::{remove_user, set_role};
use super::mail::{DemoMailer, dev_mailbox};
use super::orgs::{add_member, create_org, remove_member};
use super::passwords::{reset_password, reset_password_link};
use super::sessions::{get_session, sign_in, sign_out};
use super::state::AppState;
use super::store::Db;
use super::{DemoConfig, DemoError, ctx};

/// The demo server, built and bound but not yet serving.
pub(super) struct App {
    listener: tokio::net::TcpListener,
    router: Router,
    plugin: AttioPlugin,
    base_url: String,
}

impl App {
    pub(super) async fn build(config: DemoConfig) -> Result<Self, DemoError> {
        let secret = config.secret.clone();
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(config.host, config.port))
            .await
            .map_err(ctx(format!("bind {}:{}", config.host, config.port)))?;
        let addr = listener.local_addr().map_err(ctx("local address"))?;
        let base_url = config
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}/api/auth"));

        let (db, store) = if config.database_url.starts_with("postgres") {
            let pool = PgPool::connect(&config.database_url)
                .await
                .map_err(ctx("connect PostgreSQL"))?;
            (Db::Postgres(pool.clone()), SqlxStore::postgres(pool))
        } else {
            if let Some(dir) = sqlite_dir(&config.database_url) {
                std::fs::create_dir_all(dir).ok();
            }
            let pool = SqlitePool::connect(&config.database_url)
                .await
                .map_err(ctx("open SQLite"))?;
            (Db::Sqlite(pool.clone()), SqlxStore::sqlite(pool))
        };
        store
            .install_better_auth_schema(true)
            .await
            .map_err(ctx("Better Auth schema"))?;
        store.migrate().await.map_err(ctx("plugin migrations"))?;

        let mailer = Arc::new(DemoMailer::default());
        let plugin = AttioPlugin::builder()
            .secret(secret.expose_secret())
            .shared_mailer(mailer.clone())
            .store(store)
            // The plugin reports its own writes (webhook, create-user, ban) as sync events
            // in the same transactions; its worker (spawn_sync) delivers them, signed with
            // the secret (unsigned with a legacy one, as the original).
            .sync(SyncReporter::new(Adapters::default()))
            .delivery(config.delivery)
            .accept_legacy_body_secret(config.accept_legacy)
            .base_url(base_url.clone())
            .build()
            .map_err(ctx("plugin"))?;
        // The demo's own changes go through the plugin's reporter, which wakes its worker.
        let reporter = plugin
            .reporter()
            .cloned()
            .ok_or(attio_auth_plugin::ConfigError::NoSyncWorker)
            .map_err(ctx("plugin"))?;

        let state = AppState {
            db,
            reporter,
            admin_emails: Arc::new(
                config
                    .admin_emails
                    .iter()
                    .map(|e| e.trim().to_lowercase())
                    .collect(),
            ),
        };
        let auth = routes(state).merge(plugin.router());
        let auth = if config.dev_mailbox {
            auth.route("/dev/mailbox", get(dev_mailbox).with_state(mailer))
        } else {
            auth
        };
        let router = Router::new()
            .route("/health", get(|| async { "ok" }))
            .nest("/api/auth", auth);
        Ok(Self {
            listener,
            router,
            plugin,
            base_url,
        })
    }

    pub(super) fn addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `cancel` fires; the delivery worker runs beside it and gets up to 15 s
    /// to finish the delivery in flight.
    pub(super) async fn run(self, cancel: CancellationToken) -> std::io::Result<()> {
        let worker = self
            .plugin
            .spawn_sync(cancel.clone())
            .map_err(std::io::Error::other)?;
        let shutdown = cancel.clone();
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
        cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), worker).await;
        served
    }
}

/// A running demo auth server: serving on [`DemoServer::addr`] until
/// [`DemoServer::shutdown`] (or until dropped: the handle owns a cancellation token the
/// server task watches, and dropping it without shutdown leaves the task to the runtime).
#[derive(Debug)]
pub struct DemoServer {
    addr: SocketAddr,
    base_url: String,
    cancel: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl DemoServer {
    /// Binds, creates the Better Auth schema and the plugin's tables when missing, and
    /// starts serving (with the sync delivery worker) in a tokio task.
    pub async fn start(config: DemoConfig) -> Result<Self, DemoError> {
        let app = App::build(config).await?;
        let addr = app.addr().map_err(ctx("local address"))?;
        let base_url = app.base_url.clone();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(app.run(cancel.clone()));
        Ok(Self {
            addr,
            base_url,
            cancel,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`: the origin (a connection string's `uri`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The auth base URL (`{origin}/api/auth` unless configured otherwise).
    pub fn auth_url(&self) -> &str {
        &self.base_url
    }

    /// A token that stops the server when cancelled (for a caller's own Ctrl-C handling).
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops accepting, finishes the requests in flight, lets the delivery worker finish
    /// (up to 15 s), and answers how serving ended.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.cancel.cancel();
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// The demo's own routes under `/api/auth` (the plugin's are merged beside them).
fn routes(state: AppState) -> Router {
    Router::new()
        .route("/sign-up/email", post(sign_up))
        .route("/sign-in/email", post(sign_in))
        .route("/get-session", get(get_session))
        .route("/sign-out", post(sign_out))
        .route("/update-user", post(update_user))
        .route("/organization/create", post(create_org))
        .route("/organization/add-member", post(add_member))
        .route("/organization/remove-member", post(remove_member))
        .route("/admin/set-role", post(set_role))
        .route("/admin/remove-user", post(remove_user))
        .route("/reset-password/{token}", get(reset_password_link))
        .route("/reset-password", post(reset_password))
        .with_state(state)
}

/// The directory of a `sqlite://dir/file.db` URL, to create it.
fn sqlite_dir(url: &str) -> Option<&std::path::Path> {
    let path = url.strip_prefix("sqlite://")?.split('?').next()?;
    std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
}
