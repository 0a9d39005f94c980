//! [`AppState`]: what every request handler and worker shares. Its own module so that
//! handlers depend on the state, not on the wiring that builds it ([`crate::startup`]).

use std::sync::Arc;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;

use crate::attio::AttioClient;
use crate::caches::Caches;
use crate::config::Config;
use crate::crypto::SecretBox;
use crate::db::Db;
use crate::jobs::Queue;
use crate::metrics::Metrics;
use crate::peer::Limits;
use crate::plugin::PluginClient;

/// Shared handles of every request handler. Cheap to clone.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    /// Database.
    pub db: Db,
    /// Configuration.
    pub config: Arc<Config>,
    /// Secrets at rest.
    pub secrets: SecretBox,
    /// Attio API client (rate-aware).
    pub attio: AttioClient,
    /// Auth plugin client.
    pub plugin: PluginClient,
    /// Base URL Attio and the plugin reach us at (no trailing slash).
    pub public_url: PublicUrl,
    /// Cancelled on shutdown.
    pub shutdown: CancellationToken,
    /// The durable job queue.
    pub queue: Queue,
    /// In-process caches (Attio objects, ensured schemas).
    pub caches: Arc<Caches>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Per-client limits of the unauthenticated routes.
    pub limits: Arc<Limits>,
}

/// The public base URL, as its own type so handlers can extract it.
#[derive(Debug, Clone)]
pub struct PublicUrl(pub Arc<str>);

impl PublicUrl {
    /// `{public}{path}`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }
}
