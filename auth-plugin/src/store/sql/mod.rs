//! [`SqlxStore`]: the [`AuthStore`] over Better Auth's tables, on SQLite, PostgreSQL or
//! MySQL/MariaDB, with runtime SQL (the host needs no database at compile time).

use crate::store::db::*;
use crate::store::dialect::{Backend, ColumnNaming, DateColumns, DateStorage, Dialect};
use crate::store::migrate::{self, MIGRATIONS, Statement};
use crate::store::{
    AuthStore, BanUpdate, InboundOutcome, InvitationRow, Link, Member, NewOrganization, NewSession,
    NewUser, Organization, Report, Session, SessionRef, StoreError, StoreFeatures, StoreResult,
    StoredResponse, User,
};
use crate::sync::adapter::MEMBER_ATTIO_IDS;
use crate::sync::{EventKind, FieldSource, InboundPlan, ModelAdapter, RecordEvent};
use async_trait::async_trait;
use attio_auth_shared::signing::ReplayStatus;
use serde_json::{Map, Value};
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

mod migrations;
mod queries;
mod rows;
mod sync;

use self::sync::*;
#[cfg(test)]
mod tests;

/// The [`AuthStore`] over Better Auth's tables with sqlx, on SQLite, PostgreSQL or
/// MySQL/MariaDB.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use attio_auth_plugin::store::{ColumnNaming, SqlxStore};
/// let pool = sqlx::SqlitePool::connect("sqlite://auth.db").await?;
/// let store = SqlxStore::sqlite(pool).with_naming(ColumnNaming::CamelCase);
/// store.migrate().await?; // the plugin's own tables and columns, tracked apart
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqlxStore {
    pool: DbPool,
    dialect: Dialect,
    admin: Arc<AtomicBool>,
    organizations: Arc<AtomicBool>,
    /// The unit of integer date columns that hold no value yet to tell it by.
    integer_dates: DateStorage,
    /// What [`SqlxStore::detect_features`] found about the host's columns.
    detected: Arc<RwLock<Detected>>,
    /// SQLite has one writer at a time: writers that find the lock taken sleep in SQLite's
    /// busy handler (1, 2, 5, 10 ... 100 ms) and retry, which made the p99 of a write
    /// under load tens of milliseconds. The plugin's writes queue here instead (a fair
    /// async mutex), so the lock is handed straight to the next writer. None on PostgreSQL.
    write_gate: Option<Arc<Mutex<()>>>,
}

/// What the store found out about the host's columns at start-up.
#[derive(Debug, Default)]
struct Detected {
    /// Tables (camelCase) whose `updatedAt` is NOT NULL.
    updated_at_required: Vec<&'static str>,
    /// Date columns stored as integers.
    dates: DateColumns,
    /// The rewritten SQL of each query text seen (see [`SqlxStore::q`]); emptied whenever
    /// what the rewrite depends on changes.
    sql: HashMap<String, Arc<str>>,
}

/// How many rewritten query texts a store keeps. The texts are the store's own (values are
/// bound, never written into the text), a few dozen; the bound only keeps a mistake from
/// growing without end.
const SQL_CACHE_MAX: usize = 512;

impl SqlxStore {
    /// A store over a SQLite pool (Better Auth's SQLite layout: ISO text dates, 0/1
    /// booleans). Call [`SqlxStore::migrate`] before use.
    pub fn sqlite(pool: SqlitePool) -> Self {
        Self::new(DbPool::Sqlite(pool), Backend::Sqlite)
    }

    /// A store over a PostgreSQL pool (Better Auth's PostgreSQL layout: `timestamptz`
    /// dates, `boolean` flags). Call [`SqlxStore::migrate`] before use.
    pub fn postgres(pool: PgPool) -> Self {
        Self::new(DbPool::Postgres(pool), Backend::Postgres)
    }

    /// A store over a MySQL 8 or MariaDB 10.5+ pool (Better Auth's MySQL layout:
    /// `datetime(3)` dates in UTC, `boolean` (tinyint) flags). The pool's connections keep
    /// sqlx's defaults (time zone `+00:00`). Call [`SqlxStore::migrate`] before use.
    pub fn mysql(pool: MySqlPool) -> Self {
        Self::new(DbPool::MySql(pool), Backend::MySql)
    }

    fn new(pool: DbPool, backend: Backend) -> Self {
        let write_gate = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Self {
            write_gate,
            pool,
            dialect: Dialect {
                backend,
                naming: ColumnNaming::CamelCase,
            },
            admin: Arc::new(AtomicBool::new(true)),
            organizations: Arc::new(AtomicBool::new(true)),
            detected: Arc::default(),
            integer_dates: DateStorage::Seconds,
        }
    }

    /// The unit of integer date columns (Cloudflare D1 with Drizzle) that
    /// [`SqlxStore::detect_features`] cannot tell from their values or default, because
    /// their tables are empty: [`DateStorage::Seconds`] (Drizzle's `mode: 'timestamp'`,
    /// the default) or [`DateStorage::Millis`] (`mode: 'timestamp_ms'`).
    pub fn with_integer_dates(mut self, unit: DateStorage) -> Self {
        if unit != DateStorage::Native {
            self.integer_dates = unit;
        }
        self
    }

    fn set_dates(&self, dates: DateColumns) {
        let mut d = self
            .detected
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        d.dates = dates;
        d.sql.clear();
    }

    /// The columns of `table` (camelCase) that hold integer dates.
    pub(crate) fn integer_date_columns(&self, table: &str) -> Vec<String> {
        let d = self.detected.read().unwrap_or_else(PoisonError::into_inner);
        let prefix = format!("{table}.");
        d.dates
            .0
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }

    /// The storage of each date column that is not the backend's native one (integer
    /// seconds or milliseconds), by `table.column`, as detected at start-up.
    pub fn date_storage(&self) -> Vec<(String, DateStorage)> {
        let d = self.detected.read().unwrap_or_else(PoisonError::into_inner);
        d.dates.0.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    fn set_updated_at_required(&self, tables: Vec<&'static str>) {
        let mut d = self
            .detected
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        d.updated_at_required = tables;
    }

    /// The `updatedAt` column and value (timestamp parameter `$n`) an insert into `table`
    /// adds, when the column refuses null; empty otherwise.
    pub(crate) fn updated_at_column(&self, table: &str, n: usize) -> (&'static str, String) {
        if self.updated_at_required(table) {
            (
                r#", "updatedAt""#,
                format!(", @ts({table}.updatedAt, ${n})"),
            )
        } else {
            ("", String::new())
        }
    }

    /// Whether `table` has an `updatedAt` column that refuses null: a new row then gets
    /// its creation time there (Better Auth writes null).
    pub(crate) fn updated_at_required(&self, table: &str) -> bool {
        self.detected
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .updated_at_required
            .contains(&table)
    }

    /// The SQLite connection options this store is meant for: WAL (readers never wait for
    /// the writer), `synchronous = NORMAL` (with WAL: no fsync per commit, only at
    /// checkpoints; a power cut may lose the last commits, never corrupts the database),
    /// a 5 s busy timeout for writers outside the store (the host, the outbox worker),
    /// foreign keys on (sqlx's default, Better Auth's cascades). sqlx caches prepared
    /// statements per connection (100 by default), which the store's fixed query texts
    /// reuse. Hosts may change anything before connecting.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use attio_auth_plugin::store::SqlxStore;
    /// let pool = sqlx::sqlite::SqlitePoolOptions::new()
    ///     .max_connections(4)
    ///     .connect_with(SqlxStore::sqlite_options("auth.db"))
    ///     .await?;
    /// let store = SqlxStore::sqlite(pool);
    /// # Ok(()) }
    /// ```
    pub fn sqlite_options(path: impl AsRef<Path>) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
    }

    /// Whether the store's SQLite writes queue in the process before taking SQLite's write
    /// lock (default on; no effect on PostgreSQL). Turn it off only to measure without it.
    pub fn with_sqlite_write_gate(mut self, on: bool) -> Self {
        self.write_gate = match (on, self.dialect.backend) {
            (true, Backend::Sqlite) => Some(Arc::new(Mutex::new(()))),
            _ => None,
        };
        self
    }

    /// Waits for this store's SQLite write turn (None: no gate).
    async fn write_turn(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        }
    }

    /// The column naming of the host's tables (default camelCase, Better Auth's default).
    pub fn with_naming(mut self, naming: ColumnNaming) -> Self {
        self.dialect.naming = naming;
        self.detected
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .sql
            .clear();
        self
    }

    /// The SQLite pool, when this store is on SQLite (for the host's own queries and the
    /// outbox written in the same transaction).
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            DbPool::Sqlite(p) => Some(p),
            _ => None,
        }
    }

    /// The PostgreSQL pool, when this store is on PostgreSQL.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            DbPool::Postgres(p) => Some(p),
            _ => None,
        }
    }

    /// The MySQL pool, when this store is on MySQL or MariaDB.
    pub fn mysql_pool(&self) -> Option<&MySqlPool> {
        match &self.pool {
            DbPool::MySql(p) => Some(p),
            _ => None,
        }
    }

    /// The pool, whatever the backend (for the outbox, which lives in the same database).
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Whether the store is on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.pool, DbPool::Postgres(_))
    }

    /// The column naming in use.
    pub fn naming(&self) -> ColumnNaming {
        self.dialect.naming
    }

    /// A query in this store's dialect and naming (camelCase identifiers, `$n`
    /// placeholders, `@ts(table.column, $n)` / `@rts(table.column, "column")` timestamp
    /// markers, which convert to and from the column's storage).
    /// `text` (camelCase, with date markers) as this database runs it. The rewrite scans
    /// and copies the text; a profile of `user-details` showed it on every call, so each
    /// text's result is kept.
    pub(crate) fn q(&self, text: &str) -> Arc<str> {
        if let Some(sql) = self
            .detected
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .sql
            .get(text)
        {
            return sql.clone();
        }
        let mut detected = self
            .detected
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let sql: Arc<str> = self.dialect.sql_with(text, &detected.dates).into();
        if detected.sql.len() < SQL_CACHE_MAX {
            detected.sql.insert(text.to_owned(), sql.clone());
        }
        sql
    }

    pub(crate) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match &self.pool {
            // Every store transaction writes; taking the write lock up front avoids the
            // deadlock of two readers upgrading at once (SQLITE_BUSY, not retried).
            // The write turn comes first, so that no pooled connection is held while
            // waiting for it (readers keep them).
            DbPool::Sqlite(p) => {
                let turn = self.write_turn().await;
                Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?, turn)
            }
            DbPool::Postgres(p) => Tx::Postgres(p.begin().await?),
            // READ COMMITTED: InnoDB's default REPEATABLE READ takes gap locks on every
            // range a statement scans (the replay guard's expiry delete, lookups by email),
            // and concurrent requests then deadlock (error 1213) instead of queueing.
            DbPool::MySql(p) => Tx::MySql(
                p.begin_with("set transaction isolation level read committed; start transaction")
                    .await?,
            ),
        })
    }

    /// One page of `table` in id order after the cursor `after` (keyset paging, so the
    /// export's backfill pages stay stable while rows are added).
    async fn page_by_id(
        &self,
        table: &str,
        cols: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DbRow>, sqlx::Error> {
        match after {
            Some(a) => {
                let sql = format!(
                    r#"select {cols} from "{table}" where "id" > $1 order by "id" limit $2"#
                );
                self.all(&sql, params![a, i64::from(limit)]).await
            }
            None => {
                let sql = format!(r#"select {cols} from "{table}" order by "id" limit $1"#);
                self.all(&sql, params![i64::from(limit)]).await
            }
        }
    }

    pub(crate) async fn all(&self, text: &str, params: Vec<P>) -> Result<Vec<DbRow>, sqlx::Error> {
        let sql = self.q(text);
        Ok(match &self.pool {
            DbPool::Sqlite(p) => bind_sqlite(sqlx::query(&sql), params)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(DbRow::Sqlite)
                .collect(),
            DbPool::Postgres(p) => bind_pg(sqlx::query(&sql), params)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(DbRow::Postgres)
                .collect(),
            DbPool::MySql(p) => {
                let (sql, params) = mysql_query(&sql, params);
                bind_mysql(sqlx::query(&sql), params)
                    .fetch_all(p)
                    .await?
                    .into_iter()
                    .map(DbRow::MySql)
                    .collect()
            }
        })
    }

    pub(crate) async fn opt(
        &self,
        text: &str,
        params: Vec<P>,
    ) -> Result<Option<DbRow>, sqlx::Error> {
        let sql = self.q(text);
        Ok(match &self.pool {
            DbPool::Sqlite(p) => bind_sqlite(sqlx::query(&sql), params)
                .fetch_optional(p)
                .await?
                .map(DbRow::Sqlite),
            DbPool::Postgres(p) => bind_pg(sqlx::query(&sql), params)
                .fetch_optional(p)
                .await?
                .map(DbRow::Postgres),
            DbPool::MySql(p) => {
                let (sql, params) = mysql_query(&sql, params);
                bind_mysql(sqlx::query(&sql), params)
                    .fetch_optional(p)
                    .await?
                    .map(DbRow::MySql)
            }
        })
    }

    /// One write statement outside a transaction (on SQLite, in the store's write turn).
    pub(crate) async fn exec(&self, text: &str, params: Vec<P>) -> Result<u64, sqlx::Error> {
        let sql = self.q(text);
        Ok(match &self.pool {
            DbPool::Sqlite(p) => {
                let _turn = self.write_turn().await;
                bind_sqlite(sqlx::query(&sql), params)
                    .execute(p)
                    .await?
                    .rows_affected()
            }
            DbPool::Postgres(p) => bind_pg(sqlx::query(&sql), params)
                .execute(p)
                .await?
                .rows_affected(),
            DbPool::MySql(p) => {
                let (sql, params) = mysql_query(&sql, params);
                bind_mysql(sqlx::query(&sql), params)
                    .execute(p)
                    .await?
                    .rows_affected()
            }
        })
    }
}
