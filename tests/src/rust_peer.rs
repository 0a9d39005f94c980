//! Our plugin over a Better Auth SQLite database, legacy body secret enabled, mounted under
//! [`crate::BASE_PATH`] in a bare axum server on 127.0.0.1.

use anyhow::Context;
use attio_auth_plugin::store::SqlxStore;
use attio_auth_plugin::sync::{Adapters, DeliveryConfig, SyncReporter};
use attio_auth_plugin::{AttioPlugin, MemoryMailer, RateLimit};
use axum::Router;
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A served plugin: its URL, its mailbox, and the server and delivery tasks (aborted when
/// dropped).
#[derive(Debug)]
pub struct RustPeer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The mails the plugin sent.
    pub mailer: Arc<MemoryMailer>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for RustPeer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The plugin as an app: its router, its mailbox, and the plugin, whose
/// [`spawn_sync`](AttioPlugin::spawn_sync) runs the delivery worker beside it (unsigned
/// events, as the original sends, when the secret is a legacy one).
pub struct PeerApp {
    /// The plugin under the base path.
    pub router: Router,
    /// The mails the plugin sent.
    pub mailer: Arc<MemoryMailer>,
    /// The plugin (for its delivery worker).
    pub plugin: AttioPlugin,
    /// The store's pool (the benchmark's ceiling routes read through it; the pragmas are
    /// read back from it).
    pub pool: SqlitePool,
}

/// The `journal_mode` and `synchronous` a pooled connection actually runs with (read back
/// with `PRAGMA`), e.g. `journal_mode=wal synchronous=NORMAL`.
pub async fn pragmas(pool: &SqlitePool) -> anyhow::Result<String> {
    let mut conn = pool.acquire().await?;
    let mode: String = sqlx::query_scalar("pragma journal_mode")
        .fetch_one(&mut *conn)
        .await?;
    let sync: i64 = sqlx::query_scalar("pragma synchronous")
        .fetch_one(&mut *conn)
        .await?;
    Ok(format!(
        "journal_mode={mode} synchronous={}",
        crate::synchronous_name(sync)
    ))
}

/// Opens (or creates) the SQLite file, applies the plugin's migrations (which adopt a
/// database the original plugin used), and builds the app: the plugin under the base path.
pub async fn app(db_path: &Path, secret: &str, public_url: &str) -> anyhow::Result<PeerApp> {
    let knob = |name: &str| std::env::var(name).ok();
    let mut options = SqlxStore::sqlite_options(db_path);
    if let Some(s) = knob("PEER_SYNCHRONOUS") {
        options = options.synchronous(s.parse().map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    if let Some(m) = knob("PEER_JOURNAL_MODE") {
        options = options.journal_mode(m.parse().map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    let connections = knob("PEER_CONNECTIONS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let pool = SqlitePoolOptions::new()
        .max_connections(connections)
        .connect_with(options)
        .await
        .with_context(|| format!("opening {}", db_path.display()))?;
    let gate = knob("PEER_WRITE_GATE").is_none_or(|v| v != "0");
    let store = SqlxStore::sqlite(pool.clone()).with_sqlite_write_gate(gate);
    if !store
        .detect_features()
        .await
        .context("looking at the database")?
        .admin
    {
        store
            .install_better_auth_schema(true)
            .await
            .context("creating the Better Auth tables")?;
    }
    store.migrate().await.context("plugin migrations")?;
    let mailer = Arc::new(MemoryMailer::new());
    // `PEER_RATE_LIMIT`: `off` (as the original harness runs Better Auth, `rateLimit:
    // { enabled: false }`: the benchmark's setting) or a max per minute; default the
    // plugin's default.
    let rate_limit = match knob("PEER_RATE_LIMIT").as_deref() {
        None => RateLimit::default(),
        Some("off") => RateLimit::disabled(),
        Some(max) => RateLimit::default().max(
            max.parse()
                .map_err(|e| anyhow::anyhow!("PEER_RATE_LIMIT={max}: {e}"))?,
        ),
    };
    let plugin = AttioPlugin::builder()
        .rate_limit(rate_limit)
        .secret(secret)
        .accept_legacy_body_secret(true)
        .store(store)
        .shared_mailer(mailer.clone())
        .sync(SyncReporter::new(Adapters::default()))
        .delivery(DeliveryConfig {
            poll_interval: Duration::from_millis(200),
            ..DeliveryConfig::default()
        })
        .base_url(format!("{public_url}{}", crate::BASE_PATH))
        .build()
        .context("building the plugin")?;
    let router = Router::new().nest(crate::BASE_PATH, plugin.router());
    Ok(PeerApp {
        router,
        mailer,
        plugin,
        pool,
    })
}

/// Serves the plugin in this process on 127.0.0.1 (any port).
pub async fn start(db_path: &Path, secret: &str) -> anyhow::Result<RustPeer> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = app(db_path, secret, &url).await?;
    let router = app.router;
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        {
            tracing::error!(error = %e, "rust peer stopped");
        }
    });
    let worker = app
        .plugin
        .spawn_sync(tokio_util::sync::CancellationToken::new())?;
    Ok(RustPeer {
        url,
        mailer: app.mailer,
        tasks: vec![server, worker],
    })
}
