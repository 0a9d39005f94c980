//! The database layer the store, the outbox and the migrations share: the pool of any
//! backend, a transaction over it, bound parameters and rows read by position.

use super::StoreError;
use sqlx::mysql::{MySqlPool, MySqlRow};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{MySql, Postgres, Row, Sqlite};
use tokio::sync::OwnedMutexGuard;

/// A bound parameter. Timestamps travel as ISO-8601 text (see the dialect's `@ts`).
#[derive(Debug, Clone)]
pub(crate) enum P {
    S(String),
    OS(Option<String>),
    B(bool),
    I(i64),
}

impl From<&str> for P {
    fn from(s: &str) -> Self {
        P::S(s.to_owned())
    }
}
impl From<String> for P {
    fn from(s: String) -> Self {
        P::S(s)
    }
}
impl From<&String> for P {
    fn from(s: &String) -> Self {
        P::S(s.clone())
    }
}
impl From<Option<String>> for P {
    fn from(s: Option<String>) -> Self {
        P::OS(s)
    }
}
impl From<bool> for P {
    fn from(b: bool) -> Self {
        P::B(b)
    }
}
impl From<i64> for P {
    fn from(i: i64) -> Self {
        P::I(i)
    }
}

/// `params![a, b]`: the bound parameters of a query, each converted to [`P`].
macro_rules! params {
    ($($p:expr),* $(,)?) => { vec![$(P::from($p)),*] };
}
pub(crate) use params;

/// A row of any backend, read by column index.
pub(crate) enum DbRow {
    Sqlite(SqliteRow),
    Postgres(PgRow),
    MySql(MySqlRow),
}

macro_rules! get {
    ($self:ident, $i:ident, $t:ty) => {
        match $self {
            DbRow::Sqlite(r) => r.try_get::<$t, _>($i),
            DbRow::Postgres(r) => r.try_get::<$t, _>($i),
            DbRow::MySql(r) => r.try_get::<$t, _>($i),
        }
    };
}

impl DbRow {
    pub(crate) fn s(&self, i: usize) -> Result<String, sqlx::Error> {
        self.os(i)?
            .ok_or_else(|| decode(format!("column {i}: unexpected null")))
    }
    pub(crate) fn os(&self, i: usize) -> Result<Option<String>, sqlx::Error> {
        match self {
            // MySQL marks some computed text (information_schema, functions over dates)
            // binary: read it as UTF-8 bytes.
            DbRow::MySql(r) => match r.try_get::<Option<String>, _>(i) {
                Ok(s) => Ok(s),
                Err(sqlx::Error::ColumnDecode { .. }) => r
                    .try_get::<Option<Vec<u8>>, _>(i)?
                    .map(|b| String::from_utf8(b).map_err(decode))
                    .transpose(),
                Err(e) => Err(e),
            },
            _ => get!(self, i, Option<String>),
        }
    }
    pub(crate) fn b(&self, i: usize) -> Result<bool, sqlx::Error> {
        get!(self, i, bool)
    }
    pub(crate) fn ob(&self, i: usize) -> Result<Option<bool>, sqlx::Error> {
        get!(self, i, Option<bool>)
    }
    pub(crate) fn oi(&self, i: usize) -> Result<Option<i64>, sqlx::Error> {
        get!(self, i, Option<i64>)
    }
}

pub(crate) fn bind_sqlite<'q>(
    mut q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    params: Vec<P>,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    for p in params {
        q = match p {
            P::S(s) => q.bind(s),
            P::OS(s) => q.bind(s),
            P::B(b) => q.bind(b),
            P::I(i) => q.bind(i),
        };
    }
    q
}

/// A query in the marker-free form (`"quoted"` identifiers, `$n` placeholders) rewritten
/// for MySQL: backtick-quoted identifiers, `?` placeholders, `cast(x as signed)` for
/// `cast(x as bigint)`. Returns the text and, for each `?`, the 1-based index of the
/// parameter it takes (a `$n` may appear several times or out of order).
pub(crate) fn mysql_text(sql: &str) -> (String, Vec<usize>) {
    let sql = sql.replace(" as bigint)", " as signed)");
    let mut out = String::with_capacity(sql.len() + 8);
    let mut order = Vec::new();
    let mut chars = sql.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                '\'' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '\'' => {
                in_string = true;
                out.push(c);
            }
            '"' => out.push('`'),
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                order.push(n);
                out.push('?');
            }
            _ => out.push(c),
        }
    }
    (out, order)
}

/// [`mysql_text`] for statements whose `$n` come in order, once each (the outbox's): the
/// same parameters bind in the same order.
pub(crate) fn mysql_sql(sql: &str) -> String {
    let (text, order) = mysql_text(sql);
    debug_assert!(
        order.iter().enumerate().all(|(i, n)| *n == i + 1),
        "placeholders out of order: {sql}"
    );
    text
}

/// A statement's text as the backend of `self` wants it: MySQL's rewritten
/// ([`mysql_sql`]), the others' unchanged. Used by the outbox's statements, which run on
/// whichever connection the host hands over.
pub(crate) trait FitSql {
    fn fit<'a>(&self, sql: &'a str) -> std::borrow::Cow<'a, str> {
        std::borrow::Cow::Borrowed(sql)
    }
}
impl FitSql for SqlitePool {}
impl FitSql for PgPool {}
impl FitSql for sqlx::SqliteConnection {}
impl FitSql for sqlx::PgConnection {}
impl FitSql for MySqlPool {
    fn fit<'a>(&self, sql: &'a str) -> std::borrow::Cow<'a, str> {
        std::borrow::Cow::Owned(mysql_sql(sql))
    }
}
impl FitSql for sqlx::MySqlConnection {
    fn fit<'a>(&self, sql: &'a str) -> std::borrow::Cow<'a, str> {
        std::borrow::Cow::Owned(mysql_sql(sql))
    }
}

/// A MySQL query: the text rewritten by [`mysql_text`] and the parameters in its order.
pub(crate) fn mysql_query(sql: &str, params: Vec<P>) -> (String, Vec<P>) {
    let (text, order) = mysql_text(sql);
    let params = order
        .iter()
        .filter_map(|n| n.checked_sub(1).and_then(|i| params.get(i)).cloned())
        .collect();
    (text, params)
}

pub(crate) fn bind_mysql<'q>(
    mut q: sqlx::query::Query<'q, MySql, sqlx::mysql::MySqlArguments>,
    params: Vec<P>,
) -> sqlx::query::Query<'q, MySql, sqlx::mysql::MySqlArguments> {
    for p in params {
        q = match p {
            P::S(s) => q.bind(s),
            P::OS(s) => q.bind(s),
            P::B(b) => q.bind(b),
            P::I(i) => q.bind(i),
        };
    }
    q
}

pub(crate) fn bind_pg<'q>(
    mut q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    params: Vec<P>,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    for p in params {
        q = match p {
            P::S(s) => q.bind(s),
            P::OS(s) => q.bind(s),
            P::B(b) => q.bind(b),
            P::I(i) => q.bind(i),
        };
    }
    q
}

/// The pool of any backend: the auth database that the store, its migrations and the
/// sync outbox all use (one type, so a host hands the same pool to each).
#[derive(Debug, Clone)]
pub enum DbPool {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
    /// MySQL 8 or MariaDB 10.5+.
    MySql(MySqlPool),
}

/// An open transaction of any backend. A SQLite one holds the store's write gate until
/// it ends (see [`SqlxStore::with_sqlite_write_gate`]).
pub(crate) enum Tx {
    Sqlite(
        sqlx::Transaction<'static, Sqlite>,
        #[expect(
            dead_code,
            reason = "held, never read: released when the transaction ends"
        )]
        Option<OwnedMutexGuard<()>>,
    ),
    Postgres(sqlx::Transaction<'static, Postgres>),
    MySql(sqlx::Transaction<'static, MySql>),
}

impl Tx {
    pub(crate) async fn all(
        &mut self,
        sql: &str,
        params: Vec<P>,
    ) -> Result<Vec<DbRow>, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(t, _) => bind_sqlite(sqlx::query(sql), params)
                .fetch_all(&mut **t)
                .await?
                .into_iter()
                .map(DbRow::Sqlite)
                .collect(),
            Tx::Postgres(t) => bind_pg(sqlx::query(sql), params)
                .fetch_all(&mut **t)
                .await?
                .into_iter()
                .map(DbRow::Postgres)
                .collect(),
            Tx::MySql(t) => {
                let (sql, params) = mysql_query(sql, params);
                bind_mysql(sqlx::query(&sql), params)
                    .fetch_all(&mut **t)
                    .await?
                    .into_iter()
                    .map(DbRow::MySql)
                    .collect()
            }
        })
    }

    pub(crate) async fn opt(
        &mut self,
        sql: &str,
        params: Vec<P>,
    ) -> Result<Option<DbRow>, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(t, _) => bind_sqlite(sqlx::query(sql), params)
                .fetch_optional(&mut **t)
                .await?
                .map(DbRow::Sqlite),
            Tx::Postgres(t) => bind_pg(sqlx::query(sql), params)
                .fetch_optional(&mut **t)
                .await?
                .map(DbRow::Postgres),
            Tx::MySql(t) => {
                let (sql, params) = mysql_query(sql, params);
                bind_mysql(sqlx::query(&sql), params)
                    .fetch_optional(&mut **t)
                    .await?
                    .map(DbRow::MySql)
            }
        })
    }

    pub(crate) async fn exec(&mut self, sql: &str, params: Vec<P>) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(t, _) => bind_sqlite(sqlx::query(sql), params)
                .execute(&mut **t)
                .await?
                .rows_affected(),
            Tx::Postgres(t) => bind_pg(sqlx::query(sql), params)
                .execute(&mut **t)
                .await?
                .rows_affected(),
            Tx::MySql(t) => {
                let (sql, params) = mysql_query(sql, params);
                bind_mysql(sqlx::query(&sql), params)
                    .execute(&mut **t)
                    .await?
                    .rows_affected()
            }
        })
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t, _) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
            Tx::MySql(t) => t.commit().await,
        }
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`], a missing referenced
/// row to [`StoreError::NotFound`], and a refused value to [`StoreError::Rejected`].
pub(crate) fn conflict(what: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(what.to_owned())
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::NotFound(what.to_owned())
        }
        sqlx::Error::Database(db)
            if matches!(
                db.kind(),
                sqlx::error::ErrorKind::NotNullViolation | sqlx::error::ErrorKind::CheckViolation
            ) =>
        {
            StoreError::Rejected(format!("{what}: {}", db.message()))
        }
        // PostgreSQL's data exceptions (class 22: a NUL in text, a value out of its type's
        // range, a malformed date): the caller's value, not a failing database. SQLSTATEs
        // have five characters; SQLite's numeric codes never look like one of these.
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|c| c.len() == 5 && c.starts_with("22")) =>
        {
            StoreError::Rejected(format!("{what}: {}", db.message()))
        }
        _ => StoreError::Database(e),
    }
}

/// A value the database gave that does not decode.
pub(crate) fn decode(e: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(e.to_string().into())
}

/// `%`, `_` and `\` escaped for `like ... escape '\'`.
pub(crate) fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
