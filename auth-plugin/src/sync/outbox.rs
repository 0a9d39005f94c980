//! The event outbox: sync events are written to the plugin's own tables in the same
//! transaction as the change they report, one delivery row per linked backend, and the
//! [`super::delivery::DeliveryWorker`] sends them later. So a change and its event commit or
//! roll back together, and nothing is lost when the backend is down or the server restarts.
//!
//! Tables: `attio_outbox` and `attio_outbox_delivery`, created by
//! `migrations/{sqlite,postgres}/0002_outbox.sql` of this crate (the plugin's `migrate()` applies
//! them; [`MIGRATION_SQLITE`] and [`MIGRATION_POSTGRES`] hold the same text). Links are read
//! from the integration links table that `link`/`unlink` fill ([`LinkTable`]).

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{MySqlConnection, PgConnection, Row, SqliteConnection};

use super::event::SyncEvent;
use crate::store::db::FitSql;

/// The outbox migration for SQLite.
pub const MIGRATION_SQLITE: &str = include_str!("../../migrations/sqlite/0002_outbox.sql");
/// The outbox migration for PostgreSQL.
pub const MIGRATION_POSTGRES: &str = include_str!("../../migrations/postgres/0002_outbox.sql");
/// Per-record delivery order (`attio_outbox.record_key`), SQLite.
pub const MIGRATION_RECORD_ORDER_SQLITE: &str =
    include_str!("../../migrations/sqlite/0003_outbox_record_order.sql");
/// Per-record delivery order (`attio_outbox.record_key`), PostgreSQL.
pub const MIGRATION_RECORD_ORDER_POSTGRES: &str =
    include_str!("../../migrations/postgres/0003_outbox_record_order.sql");
/// The outbox migration for MySQL/MariaDB.
pub const MIGRATION_MYSQL: &str = include_str!("../../migrations/mysql/0002_outbox.sql");
/// Per-record delivery order (`attio_outbox.record_key`), MySQL/MariaDB.
pub const MIGRATION_RECORD_ORDER_MYSQL: &str =
    include_str!("../../migrations/mysql/0003_outbox_record_order.sql");

/// Errors of the outbox and its delivery worker.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The database failed.
    #[error("outbox database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The event could not be serialized (never expected: events are plain JSON).
    #[error("outbox event serialization: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The OS random generator failed while making a message id.
    #[error("outbox message id: {0}")]
    MessageId(#[from] attio_auth_shared::signing::SigningError),
    /// The delivery worker's configuration is unusable.
    #[error("outbox configuration: {0}")]
    Config(String),
}

/// Where the integration links live: `attioIntegration ("id", "webhookUrl")` as Better Auth
/// names it (the default), or `attio_integration (id, webhook_url)` in a snake_case database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTable {
    /// Table name (unquoted).
    pub table: String,
    /// Id column.
    pub id: String,
    /// URL column.
    pub url: String,
}

impl Default for LinkTable {
    fn default() -> Self {
        Self::camel_case()
    }
}

impl LinkTable {
    /// Better Auth's default naming: `"attioIntegration"("id", "webhookUrl")`.
    pub fn camel_case() -> Self {
        Self {
            table: "attioIntegration".into(),
            id: "id".into(),
            url: "webhookUrl".into(),
        }
    }
    /// snake_case naming: `attio_integration(id, webhook_url)`.
    pub fn snake_case() -> Self {
        Self {
            table: "attio_integration".into(),
            id: "id".into(),
            url: "webhook_url".into(),
        }
    }
    fn select_ids(&self) -> String {
        format!("select \"{}\" from \"{}\"", self.id, self.table)
    }
}

/// A connection to enqueue on: the caller's transaction (`&mut *tx`) or connection.
pub enum OutboxConn<'c> {
    /// SQLite.
    Sqlite(&'c mut SqliteConnection),
    /// PostgreSQL.
    Postgres(&'c mut PgConnection),
    /// MySQL/MariaDB.
    MySql(&'c mut MySqlConnection),
}

impl OutboxConn<'_> {
    /// The same connection for a shorter borrow (to run several statements on it).
    pub fn reborrow(&mut self) -> OutboxConn<'_> {
        match self {
            OutboxConn::Sqlite(c) => OutboxConn::Sqlite(c),
            OutboxConn::Postgres(c) => OutboxConn::Postgres(c),
            OutboxConn::MySql(c) => OutboxConn::MySql(c),
        }
    }
}

impl<'c> From<&'c mut SqliteConnection> for OutboxConn<'c> {
    fn from(c: &'c mut SqliteConnection) -> Self {
        Self::Sqlite(c)
    }
}

impl<'c> From<&'c mut PgConnection> for OutboxConn<'c> {
    fn from(c: &'c mut PgConnection) -> Self {
        Self::Postgres(c)
    }
}

impl<'c> From<&'c mut MySqlConnection> for OutboxConn<'c> {
    fn from(c: &'c mut MySqlConnection) -> Self {
        Self::MySql(c)
    }
}

/// The database the outbox lives in: the auth database, the same [`DbPool`](crate::store::DbPool) as the store's
/// (the name stays for the hosts that use it).
pub use crate::store::DbPool as OutboxDb;

/// Runs the same sqlx code on whichever backend `$db` / `$conn` holds. Statements are
/// written for SQLite and PostgreSQL (`$n` in order); pass their text through
/// `$p.fit(sql)` so that MySQL gets its own ([`crate::store::db::mysql_sql`]).
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            OutboxConn::Sqlite($c) => $body,
            OutboxConn::Postgres($c) => $body,
            OutboxConn::MySql($c) => $body,
        }
    };
}
macro_rules! on_pool {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            OutboxDb::Sqlite($p) => $body,
            OutboxDb::Postgres($p) => $body,
            OutboxDb::MySql($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The PostgreSQL channel [`enqueue`] notifies (at commit) and every delivery worker on the
/// database listens on, so that an event written by any instance is sent at once.
pub const NOTIFY_CHANNEL: &str = "attio_auth_outbox";

/// Writes `event` to the outbox with one delivery per current link, on `conn` (pass the
/// transaction of the change it reports so both commit together). Returns the number of
/// deliveries; with no link nothing is written (a later link gets a backfill instead).
/// After the commit, [`super::delivery::DeliveryHandle::notify`] wakes the worker at once;
/// without it the worker finds the event at its next poll. On PostgreSQL the commit also
/// notifies [`NOTIFY_CHANNEL`], which wakes the workers of every instance (this one too).
///
/// SQLite: call it after the change's own writes, or begin the transaction with
/// `BEGIN IMMEDIATE`: a deferred transaction whose first statement is a read fails with
/// `SQLITE_BUSY` when another connection (the delivery worker) wrote in between.
pub async fn enqueue<'c>(
    conn: impl Into<OutboxConn<'c>>,
    links: &LinkTable,
    event: &SyncEvent,
) -> Result<usize, OutboxError> {
    // An event without id (one built by hand) gets one: the receiver's idempotency key.
    let (event_id, payload) = match &event.id {
        Some(id) => (id.clone(), serde_json::to_string(event)?),
        None => {
            let mut event = event.clone();
            let id = super::event::new_event_id();
            event.id = Some(id.clone());
            (id, serde_json::to_string(&event)?)
        }
    };
    let model = event.adapter.better_auth_model.clone();
    // Deliveries are ordered per record: one failing event holds back only its record.
    let record_key = event.ordering_key();
    let now = now_ms();
    let mut conn = conn.into();
    let link_ids: Vec<String> = on_conn!(conn.reborrow(), |c| sqlx::query_scalar(
        &c.fit(&links.select_ids())
    )
    .fetch_all(&mut *c)
    .await?);
    if link_ids.is_empty() {
        return Ok(0);
    }
    let insert = "insert into attio_outbox (event_id, model, payload, created_at, record_key) \
                  values ($1, $2, $3, $4, $5)";
    let seq: i64 = match conn.reborrow() {
        // MySQL has no `returning`: the connection's last insert id is the new seq.
        OutboxConn::MySql(c) => {
            let done = sqlx::query(&crate::store::db::mysql_sql(insert))
                .bind(&event_id)
                .bind(&model)
                .bind(&payload)
                .bind(now)
                .bind(&record_key)
                .execute(&mut *c)
                .await?;
            i64::try_from(done.last_insert_id())
                .map_err(|e| sqlx::Error::Decode(format!("outbox seq: {e}").into()))?
        }
        OutboxConn::Sqlite(c) => {
            sqlx::query_scalar(&format!("{insert} returning seq"))
                .bind(&event_id)
                .bind(&model)
                .bind(&payload)
                .bind(now)
                .bind(&record_key)
                .fetch_one(&mut *c)
                .await?
        }
        OutboxConn::Postgres(c) => {
            sqlx::query_scalar(&format!("{insert} returning seq"))
                .bind(&event_id)
                .bind(&model)
                .bind(&payload)
                .bind(now)
                .bind(&record_key)
                .fetch_one(&mut *c)
                .await?
        }
    };
    on_conn!(conn.reborrow(), |c| {
        for link in &link_ids {
            let message_id = attio_auth_shared::signing::new_message_id()?;
            sqlx::query(&c.fit(
                "insert into attio_outbox_delivery (seq, link_id, message_id, next_attempt_at) \
                 values ($1, $2, $3, $4)",
            ))
            .bind(seq)
            .bind(link)
            .bind(&message_id)
            .bind(now)
            .execute(&mut *c)
            .await?;
        }
    });
    if let OutboxConn::Postgres(c) = conn {
        // Sent when the transaction commits (never for a rollback), once per transaction
        // however many events it holds: every instance's worker wakes.
        sqlx::query("select pg_notify($1, '')")
            .bind(NOTIFY_CHANNEL)
            .execute(&mut *c)
            .await?;
    }
    Ok(link_ids.len())
}

/// State of one delivery, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    /// The event id.
    pub event_id: String,
    /// The link.
    pub link_id: String,
    /// The webhook-id used on every attempt.
    pub message_id: String,
    /// `pending`, `delivered`, `dead` (gave up after the maximum attempts) or `dropped`
    /// (the link was removed).
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// Last HTTP status received.
    pub last_status: Option<i64>,
    /// The last error (a dead delivery's reason: its dead letter).
    pub last_error: Option<String>,
}

impl OutboxDb {
    /// Creates the outbox tables when missing (the plugin's `migrate()` normally does, with
    /// the same SQL; this is for hosts and tests that use the outbox alone).
    pub async fn create_tables(&self) -> Result<(), OutboxError> {
        match self {
            OutboxDb::Sqlite(p) => {
                sqlx::raw_sql(MIGRATION_SQLITE).execute(p).await?;
                let has: i64 = sqlx::query_scalar(
                    "select count(*) from pragma_table_info('attio_outbox') \
                     where name = 'record_key'",
                )
                .fetch_one(p)
                .await?;
                if has == 0 {
                    sqlx::raw_sql(MIGRATION_RECORD_ORDER_SQLITE)
                        .execute(p)
                        .await?;
                }
            }
            OutboxDb::MySql(p) => {
                for st in crate::store::migrate::statements(MIGRATION_MYSQL) {
                    sqlx::raw_sql(&st.sql).execute(p).await?;
                }
                let has: i64 = sqlx::query_scalar(
                    "select count(*) from information_schema.columns \
                     where table_schema = database() and table_name = 'attio_outbox' \
                     and column_name = 'record_key'",
                )
                .fetch_one(p)
                .await?;
                if has == 0 {
                    for st in crate::store::migrate::statements(MIGRATION_RECORD_ORDER_MYSQL) {
                        sqlx::raw_sql(&st.sql).execute(p).await?;
                    }
                }
            }
            OutboxDb::Postgres(p) => {
                sqlx::raw_sql(MIGRATION_POSTGRES).execute(p).await?;
                let has: i64 = sqlx::query_scalar(
                    "select count(*) from information_schema.columns \
                     where table_schema = current_schema() and table_name = 'attio_outbox' \
                     and column_name = 'record_key'",
                )
                .fetch_one(p)
                .await?;
                if has == 0 {
                    sqlx::raw_sql(MIGRATION_RECORD_ORDER_POSTGRES)
                        .execute(p)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Deliveries not yet delivered, dead or dropped.
    pub async fn pending_count(&self) -> Result<i64, OutboxError> {
        let sql = "select count(*) from attio_outbox_delivery where status = 'pending'";
        Ok(on_pool!(self, |p| sqlx::query_scalar(&p.fit(sql))
            .fetch_one(p)
            .await?))
    }

    /// Every delivery, oldest event first.
    pub async fn deliveries(&self) -> Result<Vec<DeliveryState>, OutboxError> {
        let sql = "select o.event_id, d.link_id, d.message_id, d.status, \
                   cast(d.attempts as bigint) as attempts, \
                   cast(d.last_status as bigint) as last_status, d.last_error \
                   from attio_outbox_delivery d join attio_outbox o on o.seq = d.seq \
                   order by d.seq, d.link_id";
        on_pool!(self, |p| {
            let rows = sqlx::query(&p.fit(sql)).fetch_all(p).await?;
            rows.iter()
                .map(|r| {
                    Ok(DeliveryState {
                        event_id: r.try_get("event_id")?,
                        link_id: r.try_get("link_id")?,
                        message_id: r.try_get("message_id")?,
                        status: r.try_get("status")?,
                        attempts: r.try_get("attempts")?,
                        last_status: r.try_get("last_status")?,
                        last_error: r.try_get("last_error")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(OutboxError::from)
        })
    }

    /// Deletes delivered, dead and dropped deliveries finished before `before_ms`, and
    /// events left without deliveries. Returns the number of events deleted.
    pub async fn prune(&self, before_ms: i64) -> Result<u64, OutboxError> {
        on_pool!(self, |p| {
            sqlx::query(&p.fit(
                "delete from attio_outbox_delivery where status <> 'pending' \
                 and coalesce(delivered_at, next_attempt_at) < $1",
            ))
            .bind(before_ms)
            .execute(p)
            .await?;
            let done = sqlx::query(&p.fit(
                "delete from attio_outbox where created_at < $1 and not exists \
                 (select 1 from attio_outbox_delivery d where d.seq = attio_outbox.seq)",
            ))
            .bind(before_ms)
            .execute(p)
            .await?;
            Ok(done.rows_affected())
        })
    }
}
