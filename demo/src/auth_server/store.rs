//! The demo server's database layer: one enum over the SQLite and PostgreSQL pools, a
//! transaction over either, and the ids and timestamps rows are written with. The demo keeps
//! its own small layer (not the plugin's store) because it writes the tables a customer's
//! auth server owns (user, session, account, organization, member), as Better Auth would.

use attio_auth_plugin::sync::OutboxConn;
use rand::Rng;
use rand::distributions::Alphanumeric;
use sqlx::{PgPool, SqlitePool};

/// The database the server runs on.
#[derive(Clone)]
pub(super) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    /// `@ts($n)` marks a timestamp parameter (ISO text): PostgreSQL needs a cast.
    pub(super) fn sql(&self, text: &str) -> String {
        let mut out = text.to_owned();
        while let Some(start) = out.find("@ts(") {
            let Some(len) = out[start..].find(')') else {
                break;
            };
            let param = out[start + 4..start + len].to_owned();
            let replacement = match self {
                Db::Sqlite(_) => param,
                Db::Postgres(_) => format!("{param}::timestamptz"),
            };
            out.replace_range(start..=start + len, &replacement);
        }
        out
    }
}

/// Runs sqlx code on whichever pool the [`Db`] holds.
macro_rules! on_db {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::auth_server::store::Db::Sqlite($p) => $body,
            $crate::auth_server::store::Db::Postgres($p) => $body,
        }
    };
}
pub(super) use on_db;

/// A transaction on either database: a change and the sync event that reports it are
/// written in one.
pub(super) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// A statement parameter: string, optional string or bool (all the demo's columns bind as
/// one of these).
pub(super) enum P {
    S(String),
    O(Option<String>),
    B(bool),
}

/// Binds the parameters in order.
macro_rules! bind_all {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                P::S(s) => q.bind(s),
                P::O(s) => q.bind(s),
                P::B(b) => q.bind(b),
            };
        }
        q
    }};
}

impl Tx {
    /// Starts a transaction. On SQLite it is IMMEDIATE: that takes the write lock up front,
    /// since a deferred transaction that reads first fails with SQLITE_BUSY when another
    /// connection (the delivery worker) wrote in between.
    pub(super) async fn begin(db: &Db) -> Result<Self, sqlx::Error> {
        Ok(match db {
            Db::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// The transaction as the plugin's outbox takes it.
    pub(super) fn conn(&mut self) -> OutboxConn<'_> {
        match self {
            Tx::Sqlite(t) => OutboxConn::Sqlite(t),
            Tx::Postgres(t) => OutboxConn::Postgres(t),
        }
    }

    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }

    /// Runs a statement; how many rows it changed.
    pub(super) async fn exec(&mut self, sql: &str, params: Vec<P>) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(t) => bind_all!(sqlx::query(sql), params)
                .execute(&mut **t)
                .await?
                .rows_affected(),
            Tx::Postgres(t) => bind_all!(sqlx::query(sql), params)
                .execute(&mut **t)
                .await?
                .rows_affected(),
        })
    }

    /// Runs a query of one column; its values, row by row.
    pub(super) async fn column<T>(
        &mut self,
        sql: &str,
        params: Vec<P>,
    ) -> Result<Vec<T>, sqlx::Error>
    where
        T: Send
            + Unpin
            + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'r> sqlx::Decode<'r, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>,
    {
        Ok(match self {
            Tx::Sqlite(t) => {
                bind_all!(sqlx::query_scalar(sql), params)
                    .fetch_all(&mut **t)
                    .await?
            }
            Tx::Postgres(t) => {
                bind_all!(sqlx::query_scalar(sql), params)
                    .fetch_all(&mut **t)
                    .await?
            }
        })
    }
}

/// A fresh id or token: 32 alphanumeric characters.
pub(super) fn random_id() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Better Auth's timestamp form: `2026-11-23T08:49:05.810Z` (milliseconds, truncated).
pub(super) fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub(super) fn now_iso() -> String {
    iso(chrono::Utc::now())
}
