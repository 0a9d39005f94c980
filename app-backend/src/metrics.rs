//! `GET /metrics`: Prometheus text format. Queue depth by status, deliveries, retries, Attio
//! calls by outcome, action latency histogram.
//!
//! Not public: with `METRICS_TOKEN` set it needs `Authorization: Bearer <token>`; without
//! it only loopback clients (a scraper on the same host) are answered.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use secrecy::ExposeSecret as _;
use subtle::ConstantTimeEq as _;

use crate::error::{Error, Result};
use crate::peer::ClientIp;
use crate::state::AppState;
use crate::worker::LATENCY_BUCKETS_MS;

/// Render every metric.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Prometheus text format", content_type = "text/plain"),
    (status = 401, description = "`METRICS_TOKEN` is set and the bearer token is missing or wrong", body = crate::error::ErrorResponse),
    (status = 403, description = "`METRICS_TOKEN` is unset and the client is not on loopback", body = crate::error::ErrorResponse)))]
pub async fn render(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<impl IntoResponse> {
    allowed(&state, client, &headers)?;
    let mut out = String::new();
    let m = &state.metrics;
    let _ = writeln!(out, "# TYPE attio_auth_jobs gauge");
    for (status, n) in state.queue.counts().await? {
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
    let a = &state.attio.stats;
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
fn allowed(state: &AppState, client: ClientIp, headers: &HeaderMap) -> Result<()> {
    match &state.config.metrics_token {
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
