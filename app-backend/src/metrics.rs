//! `GET /metrics`: Prometheus text format. Queue depth by status, deliveries, retries, Attio
//! calls by outcome, action latency histogram.
//!
//! Not public: with `METRICS_TOKEN` set it needs `Authorization: Bearer <token>`; without
//! it only loopback clients (a scraper on the same host) are answered.
//!
//! The counters ([`Metrics`]) live here with their rendering; handlers and workers count
//! through [`crate::state::AppState::metrics`]. The route takes only the parts of the state it
//! reads, so this module does not depend on the state that holds it.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use secrecy::ExposeSecret as _;
use subtle::ConstantTimeEq as _;

use crate::attio::AttioClient;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::jobs::Queue;
use crate::peer::ClientIp;

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Add one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Add `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Service counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Attio webhook events forwarded to the plugin.
    pub webhooks_forwarded: Counter,
    /// Plugin events applied to Attio.
    pub events_applied: Counter,
    /// Changes not sent back where they came from (loop prevention).
    pub echoes_skipped: Counter,
    /// Queued Attio events answered by a newer read of the same record.
    pub webhooks_superseded: Counter,
    /// Job attempts that failed and will be retried.
    pub jobs_retried: Counter,
    /// Jobs given up.
    pub jobs_dead: Counter,
    /// Jobs completed.
    pub jobs_done: Counter,
    /// Jobs put back because their tenant's Attio budget was spent.
    pub jobs_deferred: Counter,
    /// Actions forwarded (any outcome).
    pub actions: Counter,
    /// Sum of action latencies, microseconds.
    pub action_micros_sum: Counter,
    /// Action latency histogram: counts of actions at or under each of [`LATENCY_BUCKETS_MS`].
    pub action_buckets: [Counter; 8],
}

/// Upper bounds (ms) of the action latency histogram buckets.
pub const LATENCY_BUCKETS_MS: [u64; 8] = [1, 5, 10, 50, 100, 500, 1000, 5000];

impl Metrics {
    /// Record one action's latency.
    pub fn observe_action(&self, took: Duration) {
        self.actions.inc();
        self.action_micros_sum
            .add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        let ms = took.as_secs_f64() * 1000.0;
        for (i, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
            if ms <= *bound as f64 {
                self.action_buckets[i].inc();
            }
        }
    }
}

/// Render every metric.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Prometheus text format", content_type = "text/plain"),
    (status = 401, description = "`METRICS_TOKEN` is set and the bearer token is missing or wrong", body = crate::error::ErrorResponse),
    (status = 403, description = "`METRICS_TOKEN` is unset and the client is not on loopback", body = crate::error::ErrorResponse)))]
pub async fn render(
    State(m): State<Arc<Metrics>>,
    State(queue): State<Queue>,
    State(attio): State<AttioClient>,
    State(config): State<Arc<Config>>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<impl IntoResponse> {
    allowed(&config, client, &headers)?;
    let mut out = String::new();
    let _ = writeln!(out, "# TYPE attio_auth_jobs gauge");
    for (status, n) in queue.counts().await? {
        let _ = writeln!(out, "attio_auth_jobs{{status=\"{status}\"}} {n}");
    }
    let counters = [
        (
            "attio_auth_webhooks_forwarded_total",
            m.webhooks_forwarded.get(),
        ),
        ("attio_auth_events_applied_total", m.events_applied.get()),
        ("attio_auth_echoes_skipped_total", m.echoes_skipped.get()),
        (
            "attio_auth_webhooks_superseded_total",
            m.webhooks_superseded.get(),
        ),
        ("attio_auth_job_retries_total", m.jobs_retried.get()),
        ("attio_auth_jobs_dead_total", m.jobs_dead.get()),
        ("attio_auth_jobs_deferred_total", m.jobs_deferred.get()),
        ("attio_auth_jobs_done_total", m.jobs_done.get()),
    ];
    for (name, v) in counters {
        let _ = writeln!(out, "# TYPE {name} counter\n{name} {v}");
    }
    let a = &attio.stats;
    let _ = writeln!(out, "# TYPE attio_auth_attio_calls_total counter");
    for (outcome, v) in [
        ("ok", a.ok.load(Ordering::Relaxed)),
        ("rate_limited", a.rate_limited.load(Ordering::Relaxed)),
        ("server_error", a.server_errors.load(Ordering::Relaxed)),
        ("client_error", a.client_errors.load(Ordering::Relaxed)),
    ] {
        let _ = writeln!(
            out,
            "attio_auth_attio_calls_total{{outcome=\"{outcome}\"}} {v}"
        );
    }
    let _ = writeln!(
        out,
        "# TYPE attio_auth_attio_retries_total counter\nattio_auth_attio_retries_total {}",
        a.retries.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "# TYPE attio_auth_action_seconds histogram");
    for (i, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
        let _ = writeln!(
            out,
            "attio_auth_action_seconds_bucket{{le=\"{}\"}} {}",
            *bound as f64 / 1000.0,
            m.action_buckets[i].get()
        );
    }
    let _ = writeln!(
        out,
        "attio_auth_action_seconds_bucket{{le=\"+Inf\"}} {}\nattio_auth_action_seconds_sum {}\nattio_auth_action_seconds_count {}",
        m.actions.get(),
        m.action_micros_sum.get() as f64 / 1_000_000.0,
        m.actions.get()
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}

/// Whether this caller may read the metrics (see the module doc).
fn allowed(config: &Config, client: ClientIp, headers: &HeaderMap) -> Result<()> {
    match &config.metrics_token {
        Some(expected) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            let expected = expected.expose_secret().as_bytes();
            if given.is_empty() || !bool::from(given.as_bytes().ct_eq(expected)) {
                return Err(Error::unauthorized(
                    "METRICS_UNAUTHORIZED",
                    "/metrics needs `Authorization: Bearer <METRICS_TOKEN>`.",
                ));
            }
            Ok(())
        }
        None if client.0.is_some_and(|ip| ip.is_loopback()) => Ok(()),
        None => Err(Error::Client {
            status: axum::http::StatusCode::FORBIDDEN,
            code: "METRICS_FORBIDDEN",
            message: "/metrics answers loopback clients only unless METRICS_TOKEN is set.".into(),
        }),
    }
}
