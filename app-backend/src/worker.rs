//! Queue workers: each claims one job at a time ([`run_one`], which tests call directly to
//! drain the queue deterministically), runs it, and records the outcome. On shutdown the
//! workers stop claiming, finish the job in hand, and anything still marked running by this
//! process is put back in the queue.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use attio_auth_shared::sync::AttioObject;

use crate::error::{Error, Result};
use crate::jobs::JobKind;
use crate::startup::AppState;
use crate::{backfill, events, webhooks};

/// Why a job step failed, and whether to try again later.
#[derive(Debug)]
pub struct Failure {
    /// What happened (no secrets).
    pub message: String,
    /// Retry with backoff (`true`) or give up (`false`).
    pub transient: bool,
}

impl Failure {
    /// A failure that retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            transient: false,
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let transient = match &e {
            Error::Attio(a) => a.is_transient(),
            Error::Plugin(p) => p.is_transient(),
            Error::Database(_) | Error::Io(_) => true,
            _ => false,
        };
        Failure {
            message: e.to_string(),
            transient,
        }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Error::from(e).into()
    }
}

impl From<crate::attio::AttioError> for Failure {
    fn from(e: crate::attio::AttioError) -> Self {
        Error::from(e).into()
    }
}

impl From<crate::plugin::PluginError> for Failure {
    fn from(e: crate::plugin::PluginError) -> Self {
        Error::from(e).into()
    }
}

/// In-process caches of the workers.
#[derive(Debug, Default)]
pub struct Caches {
    /// Installation id -> (fetched at, Attio objects).
    pub objects: Mutex<HashMap<String, (Instant, Vec<AttioObject>)>>,
    /// Installation/object/schema keys whose attributes were ensured.
    pub ensured: Mutex<HashSet<String>>,
}

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

/// Claim and run one job. `Ok(false)` when the queue had nothing runnable.
pub async fn run_one(state: &AppState) -> Result<bool> {
    let Some(job) = state.queue.claim().await? else {
        return Ok(false);
    };
    let outcome = match job.kind {
        JobKind::AttioWebhook => webhooks::process(state, &job).await,
        JobKind::PluginEvent => events::apply(state, &job).await,
        JobKind::Backfill => backfill::run_page(state, &job).await,
    };
    match outcome {
        Ok(()) => {
            state.queue.complete(job.id).await?;
            state.metrics.jobs_done.inc();
        }
        Err(f) => {
            tracing::warn!(job = job.id, kind = job.kind.as_str(), attempts = job.attempts,
                transient = f.transient, error = %f.message, "job failed");
            state.queue.fail(&job, &f.message, f.transient).await?;
            if f.transient && job.attempts < crate::jobs::MAX_ATTEMPTS {
                state.metrics.jobs_retried.inc();
            } else {
                state.metrics.jobs_dead.inc();
            }
        }
    }
    Ok(true)
}

/// Run every job that is runnable now (tests).
pub async fn drain(state: &AppState) -> Result<usize> {
    let mut n = 0;
    while run_one(state).await? {
        n += 1;
    }
    Ok(n)
}

/// Start `count` workers; they stop when the shutdown token is cancelled.
pub fn spawn(state: &AppState, count: usize) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for _ in 0..count {
        let state = state.clone();
        set.spawn(async move {
            loop {
                if state.shutdown.is_cancelled() {
                    break;
                }
                match run_one(&state).await {
                    Ok(true) => continue,
                    Ok(false) => {
                        tokio::select! {
                            _ = state.queue.wait(Duration::from_millis(500)) => {}
                            _ = state.shutdown.cancelled() => break,
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "worker step failed");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = state.shutdown.cancelled() => break,
                        }
                    }
                }
            }
        });
    }
    set
}
