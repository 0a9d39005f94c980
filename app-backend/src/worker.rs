//! Queue workers: each claims one job at a time ([`run_one`], which tests call directly to
//! drain the queue deterministically), runs it, and records the outcome. On shutdown the
//! workers stop claiming, finish the job in hand, and anything still marked running by this
//! process is put back in the queue.
//!
//! An idle worker sleeps until an enqueue wakes it (in process; on PostgreSQL also from any
//! instance, through `LISTEN/NOTIFY`, see [`listen`]), or until `QUEUE_POLL_INTERVAL_MS`
//! passed: the poll only catches retries that came due and notifications lost with a
//! connection.
//!
//! A job whose tenant's Attio budget is spent is put back for later (not counted as an
//! attempt) rather than holding the worker ([`crate::attio::with_budget_wait_max`]). The
//! workers also prune old rows and bound the in-memory caches ([`prune`], every
//! `PRUNE_INTERVAL_SECS`), so nothing grows without bound.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::db::DbKind;
use crate::error::Result;
use crate::jobs::{Failure, Job, JobKind};
use crate::state::AppState;
use crate::{actions, attio, backfill, events, webhooks};

/// What one [`prune`] deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Audit entries older than the audit retention.
    pub audit: u64,
    /// Dead jobs older than the dead-job retention.
    pub dead_jobs: u64,
    /// Finished bulk jobs older than the dead-job retention.
    pub bulk_jobs: u64,
    /// Dedupe keys older than their retention.
    pub dedupe_keys: u64,
    /// Expired OAuth states.
    pub oauth_states: u64,
    /// Expired replay ids.
    pub replay_ids: u64,
    /// In-memory cache entries.
    pub cache_entries: u64,
    /// Per-workspace Attio budgets still held (idle ones are forgotten at each pass).
    pub budgets_left: u64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Delete what the retention settings say is old, as of `now` (unix ms; the workers pass
/// the wall clock, tests a chosen instant). Each step runs on its own: one failing (a table
/// another component replaced) does not stop the others.
pub async fn prune(state: &AppState, now: i64) -> Pruned {
    let r = state.config.retention;
    let pool = &state.db.pool;
    let step = |name: &'static str, res: std::result::Result<u64, sqlx::Error>| match res {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, step = name, "prune step failed");
            0
        }
    };
    let audit = step(
        "audit",
        delete_batched(
            pool,
            "audit_log",
            "id",
            "at < $1",
            now.saturating_sub(ms(r.audit)),
        )
        .await,
    );
    let dead_jobs = step(
        "dead jobs",
        delete_batched(
            pool,
            "jobs",
            "id",
            "status = 'dead' and updated_at < $1",
            now.saturating_sub(ms(r.dead_jobs)),
        )
        .await,
    );
    let bulk_jobs = step(
        "bulk jobs",
        delete_batched(
            pool,
            "bulk_jobs",
            "id",
            "status = 'done' and updated_at < $1",
            now.saturating_sub(ms(r.dead_jobs)),
        )
        .await,
    );
    let dedupe_keys = step(
        "dedupe keys",
        delete_batched(
            pool,
            "job_keys",
            "key",
            "created_at < $1",
            now.saturating_sub(ms(r.dedupe_keys)),
        )
        .await,
    );
    let oauth_states = step(
        "oauth states",
        sqlx::query("delete from oauth_states where expires_at < $1")
            .bind(now)
            .execute(pool)
            .await
            .map(|d| d.rows_affected()),
    );
    let replay_ids = step(
        "replay ids",
        sqlx::query("delete from replay_ids where expires_at < $1")
            .bind(now)
            .execute(pool)
            .await
            .map(|d| d.rows_affected()),
    );
    Pruned {
        audit,
        dead_jobs,
        bulk_jobs,
        dedupe_keys,
        oauth_states,
        replay_ids,
        cache_entries: u64::try_from(state.caches.prune(r.cache_max_entries)).unwrap_or(0),
        budgets_left: u64::try_from(state.attio.prune_budgets()).unwrap_or(u64::MAX),
    }
}

/// Rows one pruning statement deletes at most: a million old rows go in short statements,
/// so claims and requests get the connection between them (SQLite has one) instead of
/// waiting behind one long delete.
pub const PRUNE_BATCH: i64 = 2000;

/// Delete the rows of `table` matching `cond` (its `$1` is `bound`), [`PRUNE_BATCH`] at a
/// time through the key column `key`; how many were deleted.
async fn delete_batched(
    pool: &sqlx::AnyPool,
    table: &str,
    key: &str,
    cond: &str,
    bound: i64,
) -> std::result::Result<u64, sqlx::Error> {
    let sql = format!(
        "delete from {table} where {key} in \
         (select {key} from {table} where {cond} limit {PRUNE_BATCH})"
    );
    let mut total = 0;
    loop {
        let n = sqlx::query(&sql)
            .bind(bound)
            .execute(pool)
            .await?
            .rows_affected();
        total += n;
        if n < u64::try_from(PRUNE_BATCH).unwrap_or(u64::MAX) {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// Claim and run one job. `Ok(false)` when the queue had nothing runnable.
pub async fn run_one(state: &AppState) -> Result<bool> {
    let Some(job) = state.queue.claim().await? else {
        return Ok(false);
    };
    run_job(state, job).await?;
    Ok(true)
}

/// Run a claimed job and record its outcome. The span names the job, not its payload (a
/// record's values).
#[tracing::instrument(
    name = "job",
    skip_all,
    fields(
        job_id = job.id,
        kind = job.kind.as_str(),
        installation = %job.installation_id,
        attempt = job.attempts,
    )
)]
async fn run_job(state: &AppState, job: Job) -> Result<()> {
    let wait_max = state.config.queue_budget_wait_max;
    let outcome = match job.kind {
        JobKind::AttioWebhook => {
            attio::with_budget_wait_max(wait_max, webhooks::process(state, &job)).await
        }
        JobKind::PluginEvent => {
            attio::with_budget_wait_max(wait_max, events::apply(state, &job)).await
        }
        JobKind::Backfill => {
            attio::with_budget_wait_max(wait_max, backfill::run_page(state, &job)).await
        }
        // Per-record results are written as it goes; it waits on budgets like a request.
        JobKind::BulkAction => actions::bulk::run_bulk(state, &job).await,
    };
    match outcome {
        Ok(()) => {
            state.queue.complete(job.id).await?;
            state.metrics.jobs_done.inc();
        }
        Err(Failure {
            defer: Some(wait), ..
        }) => {
            state.metrics.jobs_deferred.inc();
            state.queue.defer(&job, wait).await?;
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
    Ok(())
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
    if count > 0 {
        let state = state.clone();
        set.spawn(async move {
            let interval = state.config.retention.interval;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = state.shutdown.cancelled() => break,
                }
                let p = prune(&state, crate::clock::now_ms()).await;
                tracing::info!(?p, "pruned old rows");
            }
        });
    }
    if count > 0
        && state.db.kind == DbKind::Postgres
        && let Some(url) = state.config.database_url.clone()
    {
        set.spawn(listen(url, state.queue.clone(), state.shutdown.clone()));
    }
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
                            _ = state.queue.wait(state.config.queue_poll_interval) => {}
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

/// Wakes this instance's workers when any instance enqueues (PostgreSQL `LISTEN` on
/// [`crate::jobs::NOTIFY_CHANNEL`]). A lost connection is retried every few seconds; the
/// workers' poll covers the gap.
async fn listen(url: String, queue: crate::jobs::Queue, shutdown: CancellationToken) {
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(crate::jobs::NOTIFY_CHANNEL).await {
                Ok(()) => {
                    // Jobs enqueued while no listener heard: look once.
                    queue.wake();
                    loop {
                        tokio::select! {
                            n = listener.recv() => match n {
                                Ok(_) => queue.wake(),
                                Err(e) => {
                                    tracing::warn!(error = %e, "job queue listener lost");
                                    break;
                                }
                            },
                            _ = shutdown.cancelled() => return,
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "job queue listen failed"),
            },
            Err(e) => tracing::warn!(error = %e, "job queue listener could not connect"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
