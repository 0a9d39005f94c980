//! The durable job queue, in the database: Attio webhooks to forward to the plugin and plugin
//! events to apply to Attio. A job survives a restart; a job is claimed by one worker at a
//! time (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so several instances share the queue; SQLite:
//! one process, its single writer makes the claim atomic); a claim is a lease, so a job of a
//! crashed worker is taken over when the lease ends; jobs with the same `ordering_key` (one
//! record) run one at a time in id order; failures retry with exponential backoff until
//! [`MAX_ATTEMPTS`], then the job is `dead` with its last error kept. Finished jobs are
//! deleted; their dedupe keys stay in `job_keys` for [`KEY_TTL_MS`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::Row as _;
use tokio::sync::Notify;

use crate::db::{Db, DbKind, now_ms};
use crate::error::{Error, Result};

/// Attempts before a job is given up (`dead`).
pub const MAX_ATTEMPTS: i64 = 12;
/// How long a claim holds before another worker may take the job over.
pub const LEASE_MS: i64 = 60_000;
/// How long a dedupe key is remembered (Attio redelivers for about 3 days).
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
}

impl JobKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::AttioWebhook => "attio-webhook",
            JobKind::PluginEvent => "plugin-event",
            JobKind::Backfill => "backfill",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "attio-webhook" => Some(JobKind::AttioWebhook),
            "plugin-event" => Some(JobKind::PluginEvent),
            "backfill" => Some(JobKind::Backfill),
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
}

impl Queue {
    /// A queue over `db`; this process's workers share one random worker id.
    pub fn new(db: Db) -> Self {
        Queue {
            db,
            worker_id: uuid::Uuid::new_v4().to_string().into(),
            notify: Arc::new(Notify::new()),
        }
    }

    /// Wait until something was enqueued here or `timeout` passed.
    pub async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.notify.notified()).await;
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
            if rand::random::<u8>() == 0 {
                sqlx::query("delete from job_keys where created_at < $1")
                    .bind(now - KEY_TTL_MS)
                    .execute(&mut *tx)
                    .await?;
            }
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
        tx.commit().await?;
        if inserted {
            self.notify.notify_waiters();
        }
        Ok(inserted)
    }

    /// Claim the next runnable job, if any.
    pub async fn claim(&self) -> Result<Option<Job>> {
        let now = now_ms();
        let lock = match self.db.kind {
            DbKind::Postgres => "for update skip locked",
            DbKind::Sqlite => "",
        };
        let sql = format!(
            "update jobs set status = 'running', locked_until = $1, locked_by = $2, \
             attempts = attempts + 1, updated_at = $3 \
             where id = (select j.id from jobs j \
                 where ((j.status = 'queued' and j.run_at <= $4) \
                        or (j.status = 'running' and j.locked_until < $5)) \
                   and not exists (select 1 from jobs e where e.ordering_key = j.ordering_key \
                        and e.id < j.id and e.status in ('queued', 'running')) \
                 order by j.id limit 1 {lock}) \
             returning id, installation_id, kind, payload, attempts"
        );
        let row = sqlx::query(&sql)
            .bind(now + LEASE_MS)
            .bind(self.worker_id.as_ref())
            .bind(now)
            .bind(now)
            .bind(now)
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
