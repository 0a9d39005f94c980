//! Wiring: [`Application::build`] connects the database (running migrations), loads the
//! secrets key, binds the listener (port 0 in tests) and assembles the router;
//! [`Application::run_until_stopped`] serves until the shutdown token is cancelled (SIGINT /
//! SIGTERM in the binary), letting in-flight requests finish.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::attio::AttioClient;
use crate::caches::Caches;
use crate::config::Config;
use crate::crypto::SecretBox;
use crate::db::Db;
use crate::egress::{self, EgressPolicy};
use crate::error::Result;
use crate::jobs::Queue;
use crate::metrics::Metrics;
use crate::peer::Limits;
use crate::plugin::PluginClient;
use crate::state::{AppState, PublicUrl};
use crate::{
    actions, backfill, events, health, installations, metrics, oauth, openapi, webhooks, worker,
};

/// A built, bound, not yet running service.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connect, migrate, load keys, bind. Nothing is served until
    /// [`Application::run_until_stopped`].
    pub async fn build(config: Config) -> Result<Self> {
        let db = Db::connect(&config.effective_database_url(), config.max_connections).await?;
        let hashed = events::hash_plain_event_tokens(&db).await?;
        if hashed > 0 {
            tracing::info!(installations = hashed, "event tokens now stored as hashes");
        }
        let secrets = SecretBox::load(&config)?;
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .connect_timeout(config.http_timeout.min(std::time::Duration::from_secs(5)))
            .user_agent(concat!("attio-auth-backend/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::error::Error::Internal(format!("http client: {e}")))?;
        let attio = AttioClient::new(
            http,
            &config.attio_api_url,
            config.attio_writes_per_sec,
            config.attio_reads_per_sec,
            config.attio_max_attempts,
        )
        .with_max_response_bytes(config.attio_max_response_bytes)
        .with_member_cache_ttl(config.member_cache)
        .with_people(config.attio_link_people, config.attio_create_people);
        let policy = EgressPolicy {
            allow_private: config.allow_private_plugin_urls,
        };
        let plugin = PluginClient::new(
            egress::plugin_http_client(policy, config.http_timeout)
                .map_err(|e| crate::error::Error::Internal(format!("http client: {e}")))?,
            policy,
            config.plugin_max_response_bytes,
        );
        let queue =
            Queue::new(db.clone()).with_max_running(config.queue_max_running_per_installation);
        let state = AppState {
            queue,
            caches: Arc::new(Caches::default()),
            metrics: Arc::new(Metrics::default()),
            limits: Arc::new(Limits::new(&config)),
            db,
            config: Arc::new(config),
            secrets,
            attio,
            plugin,
            public_url: PublicUrl(public_url.into()),
            shutdown: CancellationToken::new(),
        };
        let oauth_routes = oauth::routes(&state.config, &state.db, state.shutdown.clone());
        let router = router(state.clone(), oauth_routes);
        Ok(Application {
            listener,
            router,
            state,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// The state (tests use it to drive workers and inspect the database).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Serve and run the queue workers until the shutdown token is cancelled. In-flight
    /// requests finish; workers finish the job in hand within the grace period, and any job
    /// this process still holds afterwards is put back in the queue for another instance or
    /// the next start.
    pub async fn run_until_stopped(self) -> Result<()> {
        let token = self.state.shutdown.clone();
        let mut workers = worker::spawn(&self.state, self.state.config.workers);
        // Peer addresses for [`crate::peer::ClientIp`] (rate limits, `/metrics`).
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, service)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await;
        self.state.shutdown.cancel();
        let grace = self.state.config.shutdown_grace;
        if tokio::time::timeout(grace, async {
            while workers.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            workers.abort_all();
        }
        match self.state.queue.requeue_mine().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "requeued unfinished jobs"),
            Err(e) => tracing::error!(error = %e, "could not requeue unfinished jobs"),
        }
        served?;
        Ok(())
    }
}

/// The HTTP routes. `oauth` holds the OAuth install routes with their session layer
/// ([`oauth::routes`]).
pub fn router(state: AppState, oauth: Router<AppState>) -> Router {
    let body_limit = state.config.body_limit;
    let timeout = state.config.request_timeout;
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/v1/installations", post(installations::create))
        .route(
            "/v1/installations/{id}/audit",
            get(actions::audit::audit_list),
        )
        .route("/v1/installations/{id}/jobs", get(actions::bulk::jobs_list))
        .route(
            "/v1/installations/{id}/jobs/{job_id}",
            get(actions::bulk::bulk_status),
        )
        .route(
            "/v1/installations/{id}/backfill",
            get(backfill::get).post(backfill::post),
        )
        .route("/v1/actions/{action}", post(actions::handle))
        .route("/v1/attio/webhooks/{id}", post(webhooks::receive))
        .route("/v1/events/{id}/{token}", post(events::receive))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(openapi::document))
        .merge(oauth)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                tracing::debug_span!(
                    "request",
                    method = %req.method(),
                    path = %redacted_path(req.uri().path()),
                    version = ?req.version(),
                )
            }),
        )
        .with_state(state)
}

/// The request path as logged: the plugin's event token (a credential in the path) is
/// replaced, and the query (OAuth `code` and `state`) is never passed here.
pub fn redacted_path(path: &str) -> String {
    match path.strip_prefix("/v1/events/") {
        Some(rest) => match rest.split_once('/') {
            Some((id, _token)) => format!("/v1/events/{id}/[redacted]"),
            None => path.to_owned(),
        },
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted_path;

    #[test]
    fn event_tokens_are_not_logged() {
        assert_eq!(
            redacted_path("/v1/events/inst-1/0123456789abcdef"),
            "/v1/events/inst-1/[redacted]"
        );
        assert_eq!(
            redacted_path("/v1/events/inst-1/tok/extra"),
            "/v1/events/inst-1/[redacted]"
        );
        assert_eq!(redacted_path("/v1/installations"), "/v1/installations");
    }
}
