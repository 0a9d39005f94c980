//! `GET /metrics`: Prometheus text format. Queue depth by status, deliveries, retries, Attio
//! calls by outcome, action latency histogram.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::error::Result;
use crate::startup::AppState;
use crate::worker::LATENCY_BUCKETS_MS;

/// Render every metric.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn render(State(state): State<AppState>) -> Result<impl IntoResponse> {
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
