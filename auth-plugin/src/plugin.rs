//! [`AttioPlugin`]: configuration (the builder), the shared state of every request, and the
//! router the host nests under its auth base path.

use crate::auth::Ctx;
use crate::error::PluginResult;
use crate::handlers;
use crate::limit::{RateLimit, RateLimitRule};
use crate::mailer::Mailer;
use crate::state::{Config, PluginState};
use crate::store::AuthStore;
use crate::sync::{Adapters, DeliveryConfig, Origin, SyncReporter};
use attio_auth_shared::actions::{self, Action};
use attio_auth_shared::signing::{SECRET_PREFIX, Verifier};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{MethodRouter, get, post};
use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use std::sync::Arc;

/// Why a plugin could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No [`AuthStore`] was given.
    #[error("AttioPlugin needs a store (AttioPluginBuilder::store)")]
    MissingStore,
    /// No secret was given.
    #[error("AttioPlugin needs at least one secret (AttioPluginBuilder::secret)")]
    MissingSecret,
    /// A `whsec_` secret is unusable (too short, not base64); never contains the secret.
    #[error("invalid secret: {0}")]
    InvalidSecret(String),
    /// A sync reporter was given for a store without an outbox.
    #[error("this store cannot write sync events (no outbox): remove .sync() or use SqlxStore")]
    SyncUnsupported,
    /// Only legacy (non-`whsec_`) secrets, but legacy bodies are not accepted: nothing
    /// could ever authenticate.
    #[error(
        "no whsec_ secret for signed requests and legacy body secrets are off: enable accept_legacy_body_secret or give a whsec_ secret"
    )]
    NoUsableSecret,
    /// A trusted proxy that is neither an address nor a network (`10.0.0.0/8`).
    #[error("invalid trusted proxy {0:?}: expected an IP address or a network like 10.0.0.0/8")]
    InvalidTrustedProxy(String),
    /// The delivery settings are unusable (a lease not longer than the request timeout, no
    /// attempts).
    #[error("invalid delivery settings: {0}")]
    Delivery(String),
    /// [`AttioPlugin::spawn_sync`] on a plugin without sync: built without `.sync()`, or
    /// over a store with no outbox.
    #[error(
        "no sync worker: build the plugin with .sync(SyncReporter::new(...)) over a store with an outbox (SqlxStore)"
    )]
    NoSyncWorker,
}

/// The Attio integration of an auth server. Build it with [`AttioPlugin::builder`], then
/// nest [`AttioPlugin::router`] under the auth base path:
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use attio_auth_plugin::{AttioPlugin, store::SqlxStore};
/// let pool = sqlx::SqlitePool::connect("sqlite://auth.db").await?;
/// let store = SqlxStore::sqlite(pool);
/// store.migrate().await?;
/// let plugin = AttioPlugin::builder()
///     .secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
///     .store(store)
///     .base_url("https://auth.example.com/api/auth")
///     .build()?;
/// let app: axum::Router = axum::Router::new().nest("/api/auth", plugin.router());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AttioPlugin {
    pub(crate) state: Arc<PluginState>,
}

impl std::fmt::Debug for AttioPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttioPlugin").finish_non_exhaustive()
    }
}

/// Options of [`AttioPlugin`]; every one has a documented default.
pub struct AttioPluginBuilder {
    secrets: Vec<SecretString>,
    store: Option<Arc<dyn AuthStore>>,
    mailer: Option<Arc<dyn Mailer>>,
    adapters: Adapters,
    reporter: Option<SyncReporter>,
    delivery: DeliveryConfig,
    accept_legacy: bool,
    base_url: Option<String>,
    password_reset_redirect: String,
    password_reset_ttl_secs: i64,
    impersonation_duration_secs: i64,
    impersonation_redirect: String,
    allow_impersonating_admins: bool,
    invitation_ttl_secs: i64,
    admin_roles: Vec<String>,
    org_roles: Vec<String>,
    session_cookie_name: String,
    cookie_secret: Option<SecretString>,
    trusted_proxies: Vec<String>,
    rate_limit: RateLimit,
    impersonation_limit: Option<RateLimitRule>,
    drain: Option<crate::sync::DeliveryWorker>,
    wait_until: Option<crate::sync::WaitUntil>,
}

impl AttioPlugin {
    /// A builder with the defaults: no legacy bodies, impersonation sessions of 1 h that
    /// cannot target admins, reset links valid 1 h, invitations 7 days.
    pub fn builder() -> AttioPluginBuilder {
        AttioPluginBuilder {
            secrets: Vec::new(),
            store: None,
            mailer: None,
            adapters: Adapters::default(),
            reporter: None,
            delivery: DeliveryConfig::default(),
            accept_legacy: false,
            base_url: None,
            password_reset_redirect: "/reset-password".to_owned(),
            password_reset_ttl_secs: 3600,
            impersonation_duration_secs: 3600,
            impersonation_redirect: "/".to_owned(),
            allow_impersonating_admins: false,
            invitation_ttl_secs: 7 * 24 * 3600,
            admin_roles: vec!["admin".to_owned()],
            org_roles: vec!["member".to_owned(), "admin".to_owned(), "owner".to_owned()],
            session_cookie_name: "better-auth.session_token".to_owned(),
            cookie_secret: None,
            trusted_proxies: Vec::new(),
            rate_limit: RateLimit::default(),
            impersonation_limit: None,
            drain: None,
            wait_until: None,
        }
    }

    /// The plugin's routes (`/attio/*`), to nest under the auth base path. Generic over the
    /// host's state: the plugin carries its own.
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        /// One route of the shared list: `POST /attio/<name>` authenticates, then runs `handler`.
        fn action<A, F, Fut>(handler: F) -> (String, MethodRouter<Arc<PluginState>>)
        where
            A: Action + Send + 'static,
            A::Response: Send,
            F: FnOnce(Ctx, A) -> Fut + Copy + Send + Sync + 'static,
            Fut: Future<Output = PluginResult<A::Response>> + Send + 'static,
        {
            // The request is taken apart rather than through the `HeaderMap` and
            // `Extensions` extractors, which clone both on every call.
            let endpoint = move |State(st): State<Arc<PluginState>>,
                                 req: axum::extract::Request| async move {
                let (mut parts, body) = req.into_parts();
                let headers = std::mem::take(&mut parts.headers);
                let peer = crate::limit::peer(&parts.extensions);
                // `Bytes` keeps axum's body limit (`DefaultBodyLimit`, read from the parts).
                let req = axum::extract::Request::from_parts(parts, body);
                let body =
                    match <Bytes as axum::extract::FromRequest<()>>::from_request(req, &()).await {
                        Ok(body) => body,
                        Err(rejection) => {
                            return axum::response::IntoResponse::into_response(rejection);
                        }
                    };
                crate::auth::run::<A, F, Fut>(st, headers, peer, body, handler).await
            };
            // The original answers 404 (not 405) to other methods.
            (
                format!("/attio/{}", A::NAME),
                post(endpoint).fallback(handlers::not_found),
            )
        }
        /// The route table, from the one list of actions.
        macro_rules! routes {
            ($($group:ident: $request:ident => $handler:ident),* $(,)?) => {
                [$(action::<actions::$request, _, _>(handlers::$group::$handler)),*]
            };
        }
        let routes = attio_auth_shared::for_each_action!(routes);
        let mut router = Router::new();
        for (path, method_router) in routes {
            router = router.route(&path, method_router);
        }
        router
            .route(
                &format!("/attio/{}", actions::IMPERSONATION_SESSION),
                get(handlers::impersonation::impersonation_session).fallback(handlers::not_found),
            )
            // A panic in a handler answers 500 JSON and is logged: the host keeps its
            // process (and its connection), even when built with panic=abort elsewhere.
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                panic_response,
            ))
            .with_state(self.state.clone())
    }

    /// For a Rust host's reset-password endpoint: the user id of a password reset token
    /// that `send-password-reset` issued, consumed (it works once) and only while it has
    /// not expired. Better Auth hosts do this in their own `/reset-password`.
    pub async fn consume_password_reset(
        &self,
        token: &str,
    ) -> Result<Option<String>, crate::store::StoreError> {
        self.state
            .store
            .consume_verification(&format!("reset-password:{token}"), &crate::time::now_iso())
            .await
    }

    /// Reports a change the host made to row `id` of `model` (`user`, `organization`, or a
    /// custom adapter's) as a sync event with origin `auth`, through the store in one
    /// transaction with reading the row. `None` without a reporter, adapter or link. Hosts
    /// on sqlx can instead report inside their own transaction with
    /// [`SyncReporter::report`].
    pub async fn report_change(
        &self,
        model: &str,
        id: &str,
        kind: crate::sync::EventKind,
    ) -> Result<Option<String>, crate::store::StoreError> {
        let Some(report) = self.state.report(Origin::Auth) else {
            return Ok(None);
        };
        self.state
            .store
            .report_change(model, id, kind, report)
            .await
    }

    /// The store the plugin uses (the host reports changes through it).
    pub fn store(&self) -> Arc<dyn AuthStore> {
        self.state.store.clone()
    }

    /// The sync reporter, when one is configured (the host reports its own changes with
    /// it: [`SyncReporter::report`] on its transaction, or [`AuthStore::report_change`]).
    pub fn reporter(&self) -> Option<&SyncReporter> {
        self.state.reporter.as_ref()
    }

    /// The model adapters in use.
    pub fn adapters(&self) -> &Adapters {
        &self.state.adapters
    }

    /// How many requests the rate limiter let through uncounted since start because its
    /// database counter failed: the limiter fails open (each one is also logged at warn
    /// level). A host exports it as a metric and alerts when it grows.
    pub fn rate_limit_failures(&self) -> u64 {
        self.state.limiter.failures()
    }

    /// Delivers every due outbox event now and returns what it did: for a scheduled call
    /// (a cron job) on hosts without a long-running worker, which also retries what an
    /// after-request delivery could not send. Safe to run from several places at once:
    /// each delivery is claimed atomically and sent once. Needs
    /// [`AttioPluginBuilder::deliver_after_request`] (the worker it uses).
    pub async fn drain_outbox(
        &self,
    ) -> Result<crate::sync::delivery::PassStats, crate::sync::OutboxError> {
        match &self.state.drain {
            Some(drain) => drain.drain_outbox().await,
            None => Err(crate::sync::OutboxError::Config(
                "drain_outbox needs AttioPluginBuilder::deliver_after_request(worker)".into(),
            )),
        }
    }

    /// Waits until the after-request deliveries this instance spawned have finished (none
    /// with a [`wait_until`](AttioPluginBuilder::wait_until) hook: the host holds those).
    /// For a host that must not freeze or exit with sends in flight.
    pub async fn wait_for_deliveries(&self) {
        if let Some(drain) = &self.state.drain {
            drain.wait().await;
        }
    }
}

/// The answer to a handler's panic: logged with its message, answered as an opaque 500.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    tracing::error!(panic = %what, "attio plugin: a request handler panicked");
    (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(attio_auth_shared::actions::ErrorBody::new(
            "INTERNAL_ERROR",
            "internal error",
        )),
    )
        .into_response()
}

impl AttioPluginBuilder {
    /// A secret the callers use: a `whsec_` secret verifies signed requests (several for a
    /// rotation); any secret, `whsec_` or not, is also accepted as a legacy body `secret`
    /// when [`accept_legacy_body_secret`](Self::accept_legacy_body_secret) is on.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secrets.push(SecretString::from(secret.into()));
        self
    }

    /// The storage (required).
    pub fn store(mut self, store: impl AuthStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The storage, already shared.
    pub fn shared_store(mut self, store: Arc<dyn AuthStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The host's mailer (password reset and invitation emails). Default none:
    /// `send-password-reset` answers 501.
    pub fn mailer(mut self, mailer: impl Mailer) -> Self {
        self.mailer = Some(Arc::new(mailer));
        self
    }

    /// The mailer, already shared.
    pub fn shared_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Model adapters (default: `user` -> `users`, `organization` -> `workspaces`).
    pub fn adapters(mut self, adapters: Adapters) -> Self {
        self.adapters = adapters;
        self
    }

    /// Report the plugin's own changes (ban, create-user, create-organization, webhook) as
    /// sync events through this reporter, in the same transaction as the change. Its
    /// adapters also map inbound Attio records (they replace [`adapters`](Self::adapters)).
    /// Default none: no events are written. [`AttioPlugin::spawn_sync`] starts the worker
    /// that delivers them, and [`AttioPlugin::reporter`] is this reporter as the plugin
    /// uses it (on a snake_case [`SqlxStore`](crate::store::SqlxStore) it fans out to
    /// `attio_integration`; [`notify`](SyncReporter::notify) wakes that worker), for the
    /// host's own changes.
    pub fn sync(mut self, reporter: SyncReporter) -> Self {
        self.adapters = reporter.adapters().clone();
        self.reporter = Some(reporter);
        self
    }

    /// How the delivery worker of [`AttioPlugin::spawn_sync`] sends and retries (default
    /// [`DeliveryConfig::default`]: retries with backoff for about 3 days).
    pub fn delivery(mut self, config: DeliveryConfig) -> Self {
        self.delivery = config;
        self
    }

    /// Accept the original protocol's body `secret` (default false), so an unmodified
    /// original Attio app can drive this server. Compared in constant time.
    pub fn accept_legacy_body_secret(mut self, accept: bool) -> Self {
        self.accept_legacy = accept;
        self
    }

    /// The public URL of the auth base path (`https://auth.example.com/api/auth`), used in
    /// reset and impersonation links and for the origin check. Default none: links are
    /// relative to the base path.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Where the reset link sends the browser after Better Auth checked the token
    /// (`callbackURL`, default `/reset-password`).
    pub fn password_reset_redirect(mut self, path: impl Into<String>) -> Self {
        self.password_reset_redirect = path.into();
        self
    }

    /// How long a reset token works (default 3600 s).
    pub fn password_reset_ttl(mut self, secs: i64) -> Self {
        self.password_reset_ttl_secs = secs.max(1);
        self
    }

    /// Length of an impersonation session (default 3600 s).
    pub fn impersonation_duration(mut self, secs: i64) -> Self {
        self.impersonation_duration_secs = secs.max(1);
        self
    }

    /// Where `impersonation-session` redirects (default `/`).
    pub fn impersonation_redirect(mut self, path: impl Into<String>) -> Self {
        self.impersonation_redirect = path.into();
        self
    }

    /// Whether admins may be impersonated (default false).
    pub fn allow_impersonating_admins(mut self, allow: bool) -> Self {
        self.allow_impersonating_admins = allow;
        self
    }

    /// How long invitations stay valid (default 7 days).
    pub fn invitation_ttl(mut self, secs: i64) -> Self {
        self.invitation_ttl_secs = secs.max(1);
        self
    }

    /// Admin roles of the admin plugin (default `["admin"]`).
    pub fn admin_roles(mut self, roles: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.admin_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Organization roles (default `["member", "admin", "owner"]`).
    pub fn organization_roles(
        mut self,
        roles: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.org_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// The session cookie's name (default `better-auth.session_token`).
    pub fn session_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.session_cookie_name = name.into();
        self
    }

    /// Sign the session cookie the way Better Auth does (`token.base64(HMAC-SHA256)`) with
    /// the auth server's secret. Default: the cookie holds the bare token.
    pub fn cookie_secret(mut self, secret: impl Into<String>) -> Self {
        self.cookie_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// Proxies in front of the auth server (addresses or networks, `10.0.0.0/8`): when a
    /// request comes from one of them, the `impersonation-session` limiter keys on the
    /// client its `X-Forwarded-For` names (the nearest address that is not a trusted
    /// proxy). Default none: the limiter keys on the peer address, which only the network
    /// can set. The peer address needs the host to serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`; without it every client
    /// shares one budget.
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.trusted_proxies = proxies.into_iter().map(Into::into).collect();
        self
    }

    /// How many `impersonation-session` requests one client may make per window (default
    /// 30 per 60 s); more answer 429 with `Retry-After`. The same as a custom rule for
    /// `/attio/impersonation-session` given before those of [`rate_limit`](Self::rate_limit).
    pub fn impersonation_rate_limit(mut self, max: u32, window_secs: i64) -> Self {
        let window = u32::try_from(window_secs.max(1)).unwrap_or(u32::MAX);
        self.impersonation_limit = Some(RateLimitRule::new(window, max));
        self
    }

    /// Rate limits per endpoint, as Better Auth's `rateLimit` option: a default window and
    /// max, custom rules by path (`/attio/*` wildcards), storage in memory or in the
    /// database. Default [`RateLimit::default`]: 600 requests per 60 s per caller and path
    /// (the signer of signed calls, the client address otherwise), 30 per 60 s on
    /// `impersonation-session`, in memory. Over the limit: 429 `RATE_LIMITED` with
    /// `Retry-After` and `X-RateLimit-Limit/Remaining/Reset`.
    pub fn rate_limit(mut self, limits: RateLimit) -> Self {
        self.rate_limit = limits;
        self
    }

    /// For hosts without a long-running process (serverless functions, Lambda): after each
    /// request that enqueued sync events, `worker` delivers that request's events (and the
    /// earlier pending ones of the same records, to keep their order), through the
    /// [`wait_until`](Self::wait_until) hook or else a spawned task
    /// ([`AttioPlugin::wait_for_deliveries`] awaits those). Events that failed are retried by
    /// the next [`AttioPlugin::drain_outbox`], which a scheduled call (cron) should make.
    /// No delivery worker needs to run; one may still run: deliveries are claimed
    /// atomically, so each is sent once.
    pub fn deliver_after_request(mut self, worker: crate::sync::DeliveryWorker) -> Self {
        self.drain = Some(worker);
        self
    }

    /// The host's `waitUntil` (Vercel's `waitUntil`, Cloudflare's `ctx.waitUntil`, a Lambda
    /// extension...): it receives each after-request delivery and keeps the function alive
    /// until it completes. Without it, deliveries run on a spawned tokio task.
    pub fn wait_until(
        mut self,
        hook: impl Fn(futures::future::BoxFuture<'static, ()>) + Send + Sync + 'static,
    ) -> Self {
        self.wait_until = Some(Arc::new(hook));
        self
    }

    /// Checks the options and builds the plugin.
    pub fn build(self) -> Result<AttioPlugin, ConfigError> {
        let store = self.store.ok_or(ConfigError::MissingStore)?;
        if self.secrets.is_empty() {
            return Err(ConfigError::MissingSecret);
        }
        if self.reporter.is_some() && !store.supports_sync() {
            return Err(ConfigError::SyncUnsupported);
        }
        let signing: Vec<&str> = self
            .secrets
            .iter()
            .map(|s| s.expose_secret())
            .filter(|s| s.starts_with(SECRET_PREFIX))
            .collect();
        let verifier = if signing.is_empty() {
            None
        } else {
            Some(Verifier::new(&signing).map_err(|e| ConfigError::InvalidSecret(e.to_string()))?)
        };
        if verifier.is_none() && !self.accept_legacy {
            return Err(ConfigError::NoUsableSecret);
        }
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|p| {
                let p = p.trim();
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| ConfigError::InvalidTrustedProxy(p.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (reporter, worker) =
            crate::sync::worker::sync_parts(&store, self.reporter, &self.secrets, self.delivery)?;
        let mut signers = Vec::new();
        for secret in &signing {
            let verifier =
                Verifier::new(&[*secret]).map_err(|e| ConfigError::InvalidSecret(e.to_string()))?;
            signers.push((verifier, crate::limit::signer_key(secret)));
        }
        let mut limits = self.rate_limit;
        if let Some(rule) = self.impersonation_limit {
            limits =
                limits.with_first_rule(format!("/attio/{}", actions::IMPERSONATION_SESSION), rule);
        }
        let drain = self
            .drain
            .map(|worker| crate::sync::drain::Drainer::new(worker, self.wait_until));
        let config = Config {
            legacy_secrets: self.secrets,
            accept_legacy: self.accept_legacy,
            base_url: self.base_url,
            password_reset_redirect: self.password_reset_redirect,
            password_reset_ttl_secs: self.password_reset_ttl_secs,
            impersonation_duration_secs: self.impersonation_duration_secs,
            impersonation_link_ttl_secs: 300,
            impersonation_redirect: self.impersonation_redirect,
            allow_impersonating_admins: self.allow_impersonating_admins,
            invitation_ttl_secs: self.invitation_ttl_secs,
            admin_roles: self.admin_roles,
            org_roles: self.org_roles,
            session_cookie_name: self.session_cookie_name,
            cookie_secret: self.cookie_secret,
            replay_ttl_secs: attio_auth_shared::signing::DEFAULT_REPLAY_TTL_SECS,
            trusted_proxies,
        };
        Ok(AttioPlugin {
            state: Arc::new(PluginState {
                config,
                verifier,
                store,
                mailer: self.mailer,
                adapters: self.adapters,
                reporter,
                worker,
                limiter: crate::limit::Limiter::new(limits),
                signers,
                drain,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqlxStore;

    fn store() -> SqlxStore {
        SqlxStore::sqlite(
            sqlx::SqlitePool::connect_lazy("sqlite::memory:")
                .unwrap_or_else(|e| unreachable!("an in-memory SQLite URL always parses: {e}")),
        )
    }

    #[tokio::test]
    async fn build_checks_its_options() {
        assert!(matches!(
            AttioPlugin::builder()
                .secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .build(),
            Err(ConfigError::MissingStore)
        ));
        assert!(matches!(
            AttioPlugin::builder().store(store()).build(),
            Err(ConfigError::MissingSecret)
        ));
        // a legacy secret alone cannot authenticate anything unless legacy bodies are on
        assert!(matches!(
            AttioPlugin::builder()
                .store(store())
                .secret("plain")
                .build(),
            Err(ConfigError::NoUsableSecret)
        ));
        assert!(
            AttioPlugin::builder()
                .store(store())
                .secret("plain")
                .accept_legacy_body_secret(true)
                .build()
                .is_ok()
        );
        let err = AttioPlugin::builder()
            .store(store())
            .secret("whsec_c2hvcnQ=")
            .build()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("invalid secret"), "{err}");
        assert!(
            !err.contains("c2hvcnQ"),
            "errors never show the secret: {err}"
        );
        let b = || {
            AttioPlugin::builder()
                .store(store())
                .secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        };
        assert!(
            b().trusted_proxies(["10.0.0.0/8", "127.0.0.1", "::1"])
                .build()
                .is_ok()
        );
        assert!(matches!(
            b().trusted_proxies(["proxy.local"]).build(),
            Err(ConfigError::InvalidTrustedProxy(p)) if p == "proxy.local"
        ));
    }
}
