//! The durable job queue, in the database: Attio webhooks to forward to the plugin and plugin
//! events to apply to Attio. A job survives a restart; a job is claimed by one worker at a
//! time (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so several instances share the queue; SQLite:
//! one process, its single writer makes the claim atomic); a claim is a lease, so a job of a
//! crashed worker is taken over when the lease ends; jobs with the same `ordering_key` (one
//! record) run one at a time in id order; failures retry with exponential backoff until
//! [`MAX_ATTEMPTS`], then the job is `dead` with its last error kept (only that record's
//! later jobs wait behind a retrying job; a dead one holds nothing back). Finished jobs are
//! deleted; their dedupe keys stay in `job_keys` for the retention period (7 days).
//!
//! Fairness (every tenant is a possible attacker): a claim never takes a job of an
//! installation that already has `max_running` jobs running, and prefers the installation
//! with the fewest running jobs (then the oldest job). So one tenant's flood against a slow
//! plugin occupies at most `max_running` workers, and the others serve every other tenant.
//! On PostgreSQL two instances may claim at the same moment and overshoot the cap by one
//! each; it stays a bound.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::Row as _;
use tokio::sync::Notify;

use crate::clock::now_ms;
use crate::db::{Db, DbKind};
use crate::error::{Error, Result};

/// The PostgreSQL channel an enqueue notifies (in its transaction, so on commit), which the
/// workers of every instance listen on: a job is claimed at once, not at the next poll.
pub const NOTIFY_CHANNEL: &str = "attio_auth_jobs";
/// `NOTIFY` on [`NOTIFY_CHANNEL`] (a statement without rows: nothing for the `Any` driver
/// to decode).
const NOTIFY_SQL: &str = "notify attio_auth_jobs";

/// Attempts before a job is given up (`dead`).
pub const MAX_ATTEMPTS: i64 = 12;
/// How long a claim holds before another worker may take the job over.
pub const LEASE_MS: i64 = 60_000;
/// Default cap of running jobs per installation (`QUEUE_MAX_RUNNING_PER_INSTALLATION`).
pub const DEFAULT_MAX_RUNNING: i64 = 2;
/// Default of how long a dedupe key is remembered (Attio redelivers for about 3 days).
pub const KEY_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// One Attio webhook event, to enrich and forward to the plugin.
    AttioWebhook,
    /// One plugin sync event, to apply to Attio.
    PluginEvent,
    /// One page of a backfill.
    Backfill,
    /// A bulk action that continues after its request answered 202.
    BulkAction,
}

impl JobKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::AttioWebhook => "attio-webhook",
            JobKind::PluginEvent => "plugin-event",
            JobKind::Backfill => "backfill",
            JobKind::BulkAction => "bulk-action",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "attio-webhook" => Some(JobKind::AttioWebhook),
            "plugin-event" => Some(JobKind::PluginEvent),
            "backfill" => Some(JobKind::Backfill),
            "bulk-action" => Some(JobKind::BulkAction),
            _ => None,
        }
    }
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// Its installation.
    pub installation_id: String,
    /// What to do.
    pub kind: JobKind,
    /// The input.
    pub payload: Value,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// The queue handle: the database, this worker's id, and a wake-up for idle workers.
#[derive(Debug, Clone)]
pub struct Queue {
    db: Db,
    worker_id: Arc<str>,
    notify: Arc<Notify>,
    max_running: i64,
}

/// A dead job, as the installation's dead-letter list shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadJob {
    /// Row id.
    pub id: i64,
    /// `attio-webhook`, `plugin-event`, `backfill`, `bulk-action`.
    pub kind: String,
    /// The record it was about (its ordering key), if any.
    pub ordering_key: Option<String>,
    /// Attempts made.
    pub attempts: i64,
    /// The last error (never holds a secret).
    pub last_error: Option<String>,
    /// When it was queued, unix ms.
    pub created_at: i64,
    /// When it was given up, unix ms.
    pub died_at: i64,
}

impl Queue {
    /// A queue over `db`; this process's workers share one random worker id. At most
    /// [`DEFAULT_MAX_RUNNING`] jobs of one installation run at a time.
    pub fn new(db: Db) -> Self {
        Queue {
            db,
            worker_id: uuid::Uuid::new_v4().to_string().into(),
            notify: Arc::new(Notify::new()),
            max_running: DEFAULT_MAX_RUNNING,
        }
    }

    /// The same queue with at most `max_running` jobs of one installation running at a
    /// time (at least 1).
    pub fn with_max_running(mut self, max_running: usize) -> Self {
        self.max_running = i64::try_from(max_running.max(1)).unwrap_or(i64::MAX);
        self
    }

    /// Wait until something was enqueued (here, or by another instance when a listener
    /// calls [`Queue::wake`]) or `timeout` passed. A wake-up while no worker waits is kept
    /// for the next one, so an enqueue between a worker's empty claim and its wait is not
    /// lost.
    pub async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.notify.notified()).await;
    }

    /// Wake one idle worker: a job may be runnable.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// Add a job. `dedupe_key` makes enqueueing idempotent: `Ok(false)` when a job with
    /// that key exists already (a redelivery).
    pub async fn enqueue(
        &self,
        installation_id: &str,
        kind: JobKind,
        ordering_key: Option<&str>,
        dedupe_key: Option<&str>,
        payload: &Value,
    ) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.db.pool.begin().await?;
        if let Some(key) = dedupe_key {
            let fresh = sqlx::query(
                "insert into job_keys (key, created_at) values ($1, $2) on conflict (key) do nothing",
            )
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !fresh {
                tx.commit().await?;
                return Ok(false);
            }
        }
        let inserted = sqlx::query(
            "insert into jobs (installation_id, kind, ordering_key, dedupe_key, payload, status, \
             attempts, run_at, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $8) on conflict (dedupe_key) do nothing",
        )
        .bind(installation_id)
        .bind(kind.as_str())
        .bind(ordering_key)
        .bind(dedupe_key)
        .bind(payload.to_string())
        .bind(now)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted && self.db.kind == DbKind::Postgres {
            sqlx::query(NOTIFY_SQL).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        if inserted {
            self.wake();
        }
        Ok(inserted)
    }

    /// Claim the next runnable job, if any: the oldest runnable job of the installation with
    /// the fewest running jobs, among installations under the cap; a job waits for earlier
    /// jobs of its record (`ordering_key`) that are queued or running.
    ///
    /// The cost is one index probe per installation with queued jobs plus a few per
    /// candidate, not a scan of the queue ([`claim_sql`]); 100,000 queued jobs and a million
    /// dead ones are claimed from in about a millisecond (`benches/queue.rs`).
    pub async fn claim(&self) -> Result<Option<Job>> {
        let now = now_ms();
        let sql = claim_sql(self.db.kind);
        let row = sqlx::query(sql)
            .bind(now + LEASE_MS)
            .bind(self.worker_id.as_ref())
            .bind(now)
            .bind(self.max_running)
            .fetch_optional(&self.db.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let kind: String = row.try_get("kind")?;
        let payload: String = row.try_get("payload")?;
        Ok(Some(Job {
            id: row.try_get("id")?,
            installation_id: row.try_get("installation_id")?,
            kind: JobKind::parse(&kind)
                .ok_or_else(|| Error::Internal(format!("unknown job kind {kind}")))?,
            payload: serde_json::from_str(&payload)
                .map_err(|e| Error::Internal(format!("job payload: {e}")))?,
            attempts: row.try_get("attempts")?,
        }))
    }

    /// The job is done: it is deleted (its dedupe key stays in `job_keys`).
    pub async fn complete(&self, id: i64) -> Result<()> {
        sqlx::query("delete from jobs where id = $1")
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// The job failed: retry after a backoff when `transient` and attempts remain, else
    /// mark it dead. The error text is kept (it never holds a secret).
    pub async fn fail(&self, job: &Job, error: &str, transient: bool) -> Result<()> {
        let now = now_ms();
        if transient && job.attempts < MAX_ATTEMPTS {
            let exp = u32::try_from(job.attempts.clamp(1, 12) - 1).unwrap_or(0);
            let delay = (500i64 << exp).min(5 * 60_000);
            sqlx::query(
                "update jobs set status = 'queued', run_at = $1, locked_until = null, \
                 locked_by = null, last_error = $2, updated_at = $3 where id = $4",
            )
            .bind(now + delay)
            .bind(error)
            .bind(now)
            .bind(job.id)
            .execute(&self.db.pool)
            .await?;
        } else {
            sqlx::query(
                "update jobs set status = 'dead', locked_until = null, locked_by = null, \
                 last_error = $1, updated_at = $2 where id = $3",
            )
            .bind(error)
            .bind(now)
            .bind(job.id)
            .execute(&self.db.pool)
            .await?;
        }
        Ok(())
    }

    /// Put the job back for later without counting the attempt: its tenant's Attio budget
    /// is spent for `wait`, and a worker does not sleep on one tenant's budget while other
    /// tenants have work.
    pub async fn defer(&self, job: &Job, wait: Duration) -> Result<()> {
        let now = now_ms();
        let wait = i64::try_from(wait.as_millis())
            .unwrap_or(i64::MAX)
            .min(60_000);
        sqlx::query(
            "update jobs set status = 'queued', run_at = $1, locked_until = null, \
             locked_by = null, attempts = attempts - 1, updated_at = $2 where id = $3",
        )
        .bind(now.saturating_add(wait))
        .bind(now)
        .bind(job.id)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Extend the lease of a long job this worker holds (bulk actions), so that no other
    /// worker takes it over while it makes progress.
    pub async fn extend_lease(&self, id: i64) -> Result<()> {
        sqlx::query(
            "update jobs set locked_until = $1 where id = $2 and locked_by = $3 \
             and status = 'running'",
        )
        .bind(now_ms().saturating_add(LEASE_MS))
        .bind(id)
        .bind(self.worker_id.as_ref())
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// The installation's dead jobs (its dead letters), newest first, at most `limit`.
    pub async fn dead_jobs(&self, installation_id: &str, limit: i64) -> Result<Vec<DeadJob>> {
        let rows = sqlx::query(
            "select id, kind, ordering_key, attempts, last_error, created_at, updated_at \
             from jobs where installation_id = $1 and status = 'dead' order by id desc limit $2",
        )
        .bind(installation_id)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(DeadJob {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                ordering_key: r.try_get("ordering_key")?,
                attempts: r.try_get("attempts")?,
                last_error: r.try_get("last_error")?,
                created_at: r.try_get("created_at")?,
                died_at: r.try_get("updated_at")?,
            });
        }
        Ok(out)
    }

    /// Put this worker's running jobs back (graceful shutdown after the grace period).
    pub async fn requeue_mine(&self) -> Result<u64> {
        let n = sqlx::query(
            "update jobs set status = 'queued', locked_until = null, locked_by = null, \
             attempts = attempts - 1, updated_at = $1 where status = 'running' and locked_by = $2",
        )
        .bind(now_ms())
        .bind(self.worker_id.as_ref())
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n)
    }

    /// Jobs waiting or running (the queue depth), for `/metrics` and tests.
    pub async fn depth(&self) -> Result<i64> {
        let row =
            sqlx::query("select count(*) as n from jobs where status in ('queued', 'running')")
                .fetch_one(&self.db.pool)
                .await?;
        Ok(row.try_get("n")?)
    }

    /// Number of jobs per status: `queued`, `running` and `dead` (always all three).
    pub async fn counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("select status, count(*) as n from jobs group by status")
            .fetch_all(&self.db.pool)
            .await?;
        let mut out: Vec<(String, i64)> = ["queued", "running", "dead"]
            .iter()
            .map(|s| ((*s).to_owned(), 0))
            .collect();
        for r in &rows {
            let status: String = r.try_get("status")?;
            let n: i64 = r.try_get("n")?;
            match out.iter_mut().find(|(s, _)| *s == status) {
                Some(slot) => slot.1 = n,
                None => out.push((status, n)),
            }
        }
        Ok(out)
    }
}

/// Candidates per installation a PostgreSQL claim considers: when a concurrent claim holds
/// the first (`SKIP LOCKED`), the next one of the same installation is taken instead of
/// nothing.
const PG_CANDIDATES_PER_INSTALLATION: u32 = 4;

/// The claim statement (`$1` lease end, `$2` worker id, `$3` now, `$4` cap).
///
/// `inst` skips through the installations with queued jobs (one probe of the partial index
/// `jobs_queued_installation` each); `running` counts the running jobs per installation
/// (few rows); `cand` takes, per installation under the cap, its first queued jobs in id
/// order that no earlier job of the same record holds back (`jobs_active_ordering`), and
/// the running jobs whose lease ended. The outer query re-checks the row (a concurrent
/// claim may have taken it) and picks by (running jobs, id); `cross join` keeps SQLite's
/// planner from driving it from every queued job instead of the few candidates. SQLite has
/// no `LATERAL`: one candidate per installation through a scalar subquery (`indexed by`:
/// its planner would otherwise sort the installation's queued jobs), enough for its single
/// writer.
/// Public for the queue benchmark's `EXPLAIN`.
pub fn claim_sql(kind: DbKind) -> &'static str {
    static PG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static SQLITE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let build = |kind: DbKind| {
        let held_back = "not exists (select 1 from jobs e where e.ordering_key = j.ordering_key \
             and e.id < j.id and e.status in ('queued', 'running'))";
        let per_installation = match kind {
            DbKind::Postgres => format!(
                "select c.id, l.n from load l cross join lateral (select j.id from jobs j \
                 where j.status = 'queued' and j.installation_id = l.installation_id \
                 and j.run_at <= $3 and {held_back} order by j.id \
                 limit {PG_CANDIDATES_PER_INSTALLATION}) c where l.n < $4"
            ),
            DbKind::Sqlite => format!(
                "select (select j.id from jobs j indexed by jobs_queued_installation \
                 where j.status = 'queued' and j.installation_id = l.installation_id and j.run_at <= $3 and {held_back} \
                 order by j.id limit 1) as id, l.n from load l where l.n < $4"
            ),
        };
        let lock = match kind {
            DbKind::Postgres => "for update of j skip locked",
            DbKind::Sqlite => "",
        };
        format!(
            "with recursive inst(id) as ( \
                 select (select installation_id from jobs where status = 'queued' \
                     order by installation_id limit 1) \
                 union all \
                 select (select q.installation_id from jobs q where q.status = 'queued' \
                     and q.installation_id > inst.id order by q.installation_id limit 1) \
                 from inst where inst.id is not null), \
             running as (select installation_id, count(*) as n from jobs \
                 where status = 'running' and locked_until >= $3 group by installation_id), \
             load as (select inst.id as installation_id, coalesce(r.n, 0) as n from inst \
                 left join running r on r.installation_id = inst.id where inst.id is not null), \
             cand as ({per_installation} \
                 union all \
                 select j.id, coalesce(r.n, 0) as n from jobs j \
                 left join running r on r.installation_id = j.installation_id \
                 where j.status = 'running' and j.locked_until < $3 \
                 and coalesce(r.n, 0) < $4 and {held_back}) \
             update jobs set status = 'running', locked_until = $1, locked_by = $2, \
                 attempts = attempts + 1, updated_at = $3 \
             where id = (select j.id from cand cross join jobs j where j.id = cand.id \
                 and ((j.status = 'queued' and j.run_at <= $3) \
                    or (j.status = 'running' and j.locked_until < $3)) \
                 order by cand.n, j.id limit 1 {lock}) \
             returning id, installation_id, kind, payload, attempts"
        )
    };
    match kind {
        DbKind::Postgres => PG.get_or_init(|| build(DbKind::Postgres)),
        DbKind::Sqlite => SQLITE.get_or_init(|| build(DbKind::Sqlite)),
    }
}

/// Why a job step failed, and whether to try again later.
#[derive(Debug)]
pub struct Failure {
    /// What happened (no secrets).
    pub message: String,
    /// Retry with backoff (`true`) or give up (`false`).
    pub transient: bool,
    /// Not a failure: the tenant's Attio budget is spent for this long; run it later
    /// without counting the attempt.
    pub defer: Option<Duration>,
}

impl Failure {
    /// A failure that retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            transient: false,
            defer: None,
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let defer = match &e {
            Error::Attio(crate::attio::AttioError::Busy { wait }) => Some(*wait),
            _ => None,
        };
        let transient = match &e {
            Error::Attio(a) => a.is_transient(),
            Error::Plugin(p) => p.is_transient(),
            Error::Database(_) | Error::Io(_) => true,
            _ => false,
        };
        Failure {
            message: e.to_string(),
            transient,
            defer,
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

impl From<crate::plugin::PluginCallError> for Failure {
    fn from(e: crate::plugin::PluginCallError) -> Self {
        Error::from(e).into()
    }
}
