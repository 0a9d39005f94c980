//! The delivery worker the plugin starts itself: [`AttioPlugin::spawn_sync`].
//!
//! Everything the worker needs is already in the plugin: the store's pool and link table
//! (from [`AuthStore::outbox`](crate::store::AuthStore::outbox)), the `whsec_` secrets it
//! signs with, and the reporter whose [`notify`](super::SyncReporter::notify) wakes it. So the
//! host passes each once, to the builder, and starts the worker with one call:
//!
//! ```no_run
//! # async fn f(plugin: attio_auth_plugin::AttioPlugin) -> Result<(), Box<dyn std::error::Error>> {
//! use attio_auth_plugin::sync::CancellationToken;
//! let shutdown = CancellationToken::new();
//! let sync = plugin.spawn_sync(shutdown.clone())?;
//! // ... serve until shutdown.cancel() ...
//! sync.await?; // the sends in flight finish first
//! # Ok(()) }
//! ```

use std::sync::Arc;

use attio_auth_shared::signing::Signer;
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::delivery::{DeliveryConfig, DeliveryWorker};
use super::report::SyncReporter;
use crate::plugin::{AttioPlugin, ConfigError};
use crate::store::AuthStore;

impl AttioPlugin {
    /// Starts the sync delivery worker on the current tokio runtime: it sends the outbox's
    /// events to every linked backend, signed with the plugin's `whsec_` secrets (unsigned
    /// with legacy secrets only, as the original did), retrying with backoff
    /// ([`DeliveryConfig`], set with [`AttioPluginBuilder::delivery`](crate::AttioPluginBuilder::delivery)),
    /// and prunes finished deliveries. It runs until `shutdown` is cancelled, then finishes
    /// the sends in flight and the returned task ends: await it after stopping the server.
    ///
    /// Several instances may each run one on a shared database (deliveries are leased).
    /// Errors with [`ConfigError::NoSyncWorker`] when the plugin was built without
    /// [`.sync()`](crate::AttioPluginBuilder::sync) or its store has no outbox.
    pub fn spawn_sync(&self, shutdown: CancellationToken) -> Result<JoinHandle<()>, ConfigError> {
        let worker = self.state.worker.clone().ok_or(ConfigError::NoSyncWorker)?;
        Ok(worker.spawn(shutdown))
    }
}

/// At build time: the reporter aligned with the store's link table, and the worker that
/// delivers what it enqueues (none without a reporter or without an outbox in the store).
pub(crate) fn sync_parts(
    store: &Arc<dyn AuthStore>,
    reporter: Option<SyncReporter>,
    secrets: &[SecretString],
    config: DeliveryConfig,
) -> Result<(Option<SyncReporter>, Option<DeliveryWorker>), ConfigError> {
    let Some(mut reporter) = reporter else {
        return Ok((None, None));
    };
    let Some((db, links)) = store.outbox() else {
        return Ok((Some(reporter), None));
    };
    // The store knows the host's naming: a snake_case store fans events out to
    // `attio_integration`, so its reporter must too (the host says it once, to the store).
    if &links != reporter.links() && links == super::LinkTable::snake_case() {
        reporter = reporter.snake_case();
    }
    let signing: Vec<&str> = secrets
        .iter()
        .map(|s| s.expose_secret())
        .filter(|s| s.starts_with(attio_auth_shared::signing::SECRET_PREFIX))
        .collect();
    let signer = if signing.is_empty() {
        None
    } else {
        Some(Signer::new(&signing).map_err(|e| ConfigError::InvalidSecret(e.to_string()))?)
    };
    let handle = reporter.handle().cloned().unwrap_or_default();
    let worker = DeliveryWorker::new(db, reporter.links().clone(), signer, config)
        .map_err(|e| ConfigError::Delivery(e.to_string()))?
        .with_handle(handle.clone());
    Ok((Some(reporter.with_handle(handle)), Some(worker)))
}
