//! A local, in-memory simulator of the part of Attio's REST API v2 that attio-auth uses:
//! objects, attributes, records (create, assert, append/overwrite, query), webhooks with
//! signed deliveries, per-token rate limits, and the OAuth app flow. It follows Attio's
//! documented JSON shapes (shared/attio/NOTES.md and the OpenAPI document), not our own.
//!
//! Tests start it in-process on a random loopback port:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use attio_sandbox::{Sandbox, SandboxConfig, WorkspaceOptions};
//! let sandbox = Sandbox::start(SandboxConfig::for_tests()).await?;
//! let creds = sandbox.create_workspace(WorkspaceOptions {
//!     enable_objects: vec!["users".into(), "workspaces".into()],
//!     ..Default::default()
//! });
//! // GET {sandbox.base_url()}/v2/objects with `Authorization: Bearer {creds.token}` ...
//! # Ok(()) }
//! ```
//!
//! The control API under `/_sandbox` offers the same operations over HTTP (see README.md).
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod api;
mod config;
mod control;
mod delivery;
mod error;
mod filter;
mod index;
mod model;
mod noise;
mod scopes;
mod standard;
mod state;
mod values;
mod write;

pub use api::members::{MAX_MEMBERS, WorkspaceMember, add_workspace_member};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use config::{
    DEFAULT_LOG_LIMIT, DeliveryConfig, FaultRule, Faults, Noise, RateLimits, SandboxConfig,
};
pub use control::{OAuthClientCredentials, WorkspaceCredentials, WorkspaceOptions};
pub use state::{DeliveryRecord, RequestRecord};

use state::AppState;

/// Entry point: [`Sandbox::start`] binds and serves, returning a [`SandboxHandle`].
pub struct Sandbox;

impl Sandbox {
    /// Bind `127.0.0.1:{config.port}` (0 = any free port) and serve until the handle is
    /// dropped or [`SandboxHandle::shutdown`] is called.
    pub async fn start(config: SandboxConfig) -> std::io::Result<SandboxHandle> {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), config).await
    }

    /// Like [`Sandbox::start`] on another address (the binary's `--host`).
    pub async fn start_on(host: IpAddr, config: SandboxConfig) -> std::io::Result<SandboxHandle> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(host, config.port)).await?;
        let addr = listener.local_addr()?;
        let state = AppState::new(&config)?;
        let noise_task = tokio::spawn(noise::run(state.clone()));
        let app = api::router(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "attio-sandbox server stopped");
            }
        });
        Ok(SandboxHandle {
            addr,
            state,
            shutdown: Some(tx),
            task: Some(task),
            noise_task,
        })
    }
}

/// A running sandbox. Dropping it stops the server.
pub struct SandboxHandle {
    addr: SocketAddr,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    noise_task: JoinHandle<()>,
}

impl SandboxHandle {
    /// `http://127.0.0.1:{port}`: use it where a client would use `https://api.attio.com`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Create a workspace (standard objects as in a new Attio workspace) and a token for it.
    /// Panics only if `opts` names an unknown object or a token already in use.
    pub fn create_workspace(&self, opts: WorkspaceOptions) -> WorkspaceCredentials {
        match control::create_workspace(&self.state, opts) {
            Ok(creds) => creds,
            Err(e) => panic!("create_workspace: {e}"),
        }
    }

    /// Enable or disable an object (e.g. `users`, `workspaces`); false if unknown.
    pub fn set_object_enabled(&self, workspace_id: Uuid, object: &str, enabled: bool) -> bool {
        control::set_object_enabled(&self.state, workspace_id, object, enabled).is_ok()
    }

    /// A new token for `workspace_id` with exactly `scopes` (e.g.
    /// `["object_configuration:read-write", "record_permission:read-write"]`); `None` if the
    /// workspace or a scope is unknown. Returns `(token, token_id)`.
    pub fn create_token(&self, workspace_id: Uuid, scopes: Vec<String>) -> Option<(String, Uuid)> {
        control::create_token(&self.state, workspace_id, None, Some(scopes)).ok()
    }

    /// Add a deterministic fault ([`FaultRule`]); false if its status is out of range.
    pub fn add_fault_rule(&self, rule: FaultRule) -> bool {
        control::add_fault_rule(&self.state, rule).is_ok()
    }

    /// Remove every [`FaultRule`].
    pub fn clear_fault_rules(&self) {
        state::lock(&self.state.0.fault_rules).clear();
    }

    /// Change the enrichment-noise rate ([`Noise`]); false if out of range.
    pub fn set_noise(&self, noise: Noise) -> bool {
        control::set_noise(&self.state, noise).is_ok()
    }

    /// Merge `duplicate` into `survivor` (both records of `object` in `workspace_id`), as a
    /// workspace member does in Attio's UI, firing `record.merged`. False if either is unknown.
    pub fn merge_records(
        &self,
        workspace_id: Uuid,
        object: &str,
        survivor: Uuid,
        duplicate: Uuid,
    ) -> bool {
        control::merge_records(&self.state, workspace_id, object, survivor, duplicate).is_ok()
    }

    /// Archive or unarchive an attribute (as `PATCH .../attributes/{slug}` with
    /// `is_archived` does); false if unknown.
    pub fn set_attribute_archived(
        &self,
        workspace_id: Uuid,
        object: &str,
        attribute: &str,
        archived: bool,
    ) -> bool {
        control::set_attribute_archived(&self.state, workspace_id, object, attribute, archived)
            .is_ok()
    }

    /// Make an attribute single- or multi-select (e.g. `users.workspace`, whose cardinality
    /// Attio's docs do not state); false if unknown.
    pub fn set_attribute_multiselect(
        &self,
        workspace_id: Uuid,
        object: &str,
        attribute: &str,
        multiselect: bool,
    ) -> bool {
        control::set_attribute_multiselect(
            &self.state,
            workspace_id,
            object,
            attribute,
            multiselect,
        )
        .is_ok()
    }

    /// Register an OAuth app that installs into `workspace_id`.
    pub fn register_oauth_client(
        &self,
        workspace_id: Uuid,
        redirect_uris: Vec<String>,
    ) -> Option<OAuthClientCredentials> {
        control::register_oauth_client(&self.state, workspace_id, redirect_uris).ok()
    }

    /// Change the rate limits (e.g. `enabled: false`).
    pub fn set_rate_limits(&self, limits: RateLimits) {
        state::lock(&self.state.0.settings).rate_limits = limits;
    }

    /// Inject faults into Attio API answers; false if out of range.
    pub fn set_faults(&self, faults: Faults) -> bool {
        control::set_faults(&self.state, faults).is_ok()
    }

    /// The API requests so far, oldest first (method, path, status, token id): the newest
    /// [`SandboxConfig::log_limit`] of them.
    pub fn requests(&self) -> Vec<RequestRecord> {
        let store = self.state.store();
        store.requests.iter().map(|e| e.record()).collect()
    }

    /// The webhook delivery attempts so far, oldest first: the newest
    /// [`SandboxConfig::log_limit`] of them.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        let store = self.state.store();
        store.deliveries.iter().map(|e| e.record()).collect()
    }

    /// Webhook deliveries dispatched and not finished yet (delivered, given up, or dropped
    /// by a reset). Zero after a write means every event it caused has been handled, which
    /// lets a test show that a filtered-out event was never sent without sleeping.
    pub fn deliveries_in_flight(&self) -> u64 {
        self.state
            .0
            .deliveries_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Forget all workspaces, tokens, logs and faults; pending webhook retries stop.
    pub fn reset(&self) {
        control::reset(&self.state);
    }

    /// Stop serving and wait for the server task to end.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serve until the process is stopped (the binary's main loop).
    pub async fn run_until_stopped(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn stop(&mut self) {
        self.noise_task.abort();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
