//! The database counters ([`super::RateLimitStorage::Database`]): the `attio_rate_limit`
//! table (`migrations/{sqlite,postgres}/0004_rate_limit.sql`), one row per key, counted by
//! one atomic upsert so that instances sharing the database never lose a hit.

use crate::store::DbPool;
use std::sync::atomic::{AtomicI64, Ordering};

/// How often (seconds) an instance deletes the rows whose window ended.
const SWEEP_EVERY: i64 = 60;

/// Insert the key's first hit, or count one more: a window that ended (`reset_at <= now`)
/// starts anew at this hit. Both backends evaluate every `set` expression on the old row.
const UPSERT: &str = "insert into attio_rate_limit (rate_key, reset_at, hits) values ($1, $2, 1) \
     on conflict (rate_key) do update set \
     hits = case when attio_rate_limit.reset_at <= $3 then 1 else attio_rate_limit.hits + 1 end, \
     reset_at = case when attio_rate_limit.reset_at <= $3 then $2 else attio_rate_limit.reset_at end \
     returning hits, reset_at";

/// MySQL has no `on conflict` nor `returning`: the same upsert (its `set` runs left to
/// right, so `hits` is decided on the old `reset_at` first), then the row read back in the
/// same transaction, which holds the row's lock.
const UPSERT_MYSQL: &str = "insert into attio_rate_limit (rate_key, reset_at, hits) values (?, ?, 1) \
     on duplicate key update \
     hits = if(reset_at <= ?, 1, hits + 1), \
     reset_at = if(reset_at <= ?, values(reset_at), reset_at)";
const READ_MYSQL: &str = "select hits, reset_at from attio_rate_limit where rate_key = ?";

const SWEEP: &str = "delete from attio_rate_limit where reset_at <= $1";
const SWEEP_MYSQL: &str = "delete from attio_rate_limit where reset_at <= ?";

pub(super) struct DbCounter {
    pool: DbPool,
    last_sweep: AtomicI64,
}

impl DbCounter {
    pub(super) fn new(pool: DbPool) -> Self {
        Self {
            pool,
            last_sweep: AtomicI64::new(0),
        }
    }

    /// Counts a hit of `key` at `now` in windows of `window` seconds: the key's count in
    /// its window (this hit included) and when the window ends.
    pub(super) async fn hit(
        &self,
        key: &str,
        window: i64,
        now: i64,
    ) -> Result<(u64, i64), sqlx::Error> {
        self.sweep(now).await;
        let reset_at = now.saturating_add(window);
        let (hits, reset_at): (i64, i64) = match &self.pool {
            DbPool::Sqlite(p) => {
                sqlx::query_as(UPSERT)
                    .bind(key)
                    .bind(reset_at)
                    .bind(now)
                    .fetch_one(p)
                    .await?
            }
            DbPool::Postgres(p) => {
                sqlx::query_as(UPSERT)
                    .bind(key)
                    .bind(reset_at)
                    .bind(now)
                    .fetch_one(p)
                    .await?
            }
            DbPool::MySql(p) => {
                let mut tx = p.begin().await?;
                sqlx::query(UPSERT_MYSQL)
                    .bind(key)
                    .bind(reset_at)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let row = sqlx::query_as(READ_MYSQL)
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                row
            }
        };
        Ok((u64::try_from(hits).unwrap_or(0), reset_at))
    }

    /// Deletes ended windows, at most once per [`SWEEP_EVERY`] per instance (a failure is
    /// only logged: the rows are deleted at a later sweep).
    async fn sweep(&self, now: i64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < SWEEP_EVERY
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let done = match &self.pool {
            DbPool::Sqlite(p) => sqlx::query(SWEEP).bind(now).execute(p).await.map(|_| ()),
            DbPool::Postgres(p) => sqlx::query(SWEEP).bind(now).execute(p).await.map(|_| ()),
            DbPool::MySql(p) => sqlx::query(SWEEP_MYSQL)
                .bind(now)
                .execute(p)
                .await
                .map(|_| ()),
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "attio plugin: rate limit sweep failed");
        }
    }
}
