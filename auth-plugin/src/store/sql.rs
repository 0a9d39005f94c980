//! [`SqlxStore`]: the [`AuthStore`] over Better Auth's tables, on SQLite or PostgreSQL,
//! with runtime SQL (the host needs no database at compile time).

use super::dialect::{Backend, ColumnNaming, Dialect};
use super::migrate::{self, MIGRATIONS, Statement};
use super::{
    AuthStore, BanUpdate, InboundOutcome, InvitationRow, Link, Member, NewOrganization, NewSession,
    NewUser, Organization, ReplayCheck, Report, Session, SessionRef, StoreError, StoreFeatures,
    StoreResult, StoredResponse, User,
};
use crate::sync::adapter::MEMBER_ATTIO_IDS;
use crate::sync::{EventKind, FieldSource, InboundPlan, ModelAdapter, RecordEvent};
use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteRow, SqliteSynchronous,
};
use sqlx::{Postgres, Row, Sqlite};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

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

macro_rules! params {
    ($($p:expr),* $(,)?) => { vec![$(P::from($p)),*] };
}

/// A row of either backend, read by column index.
pub(crate) enum DbRow {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

macro_rules! get {
    ($self:ident, $i:ident, $t:ty) => {
        match $self {
            DbRow::Sqlite(r) => r.try_get::<$t, _>($i),
            DbRow::Postgres(r) => r.try_get::<$t, _>($i),
        }
    };
}

impl DbRow {
    pub fn s(&self, i: usize) -> Result<String, sqlx::Error> {
        get!(self, i, String)
    }
    pub fn os(&self, i: usize) -> Result<Option<String>, sqlx::Error> {
        get!(self, i, Option<String>)
    }
    pub fn b(&self, i: usize) -> Result<bool, sqlx::Error> {
        get!(self, i, bool)
    }
    pub fn ob(&self, i: usize) -> Result<Option<bool>, sqlx::Error> {
        get!(self, i, Option<bool>)
    }
    pub fn oi(&self, i: usize) -> Result<Option<i64>, sqlx::Error> {
        get!(self, i, Option<i64>)
    }
}

fn bind_sqlite<'q>(
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

fn bind_pg<'q>(
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

/// The pool of either backend.
#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction of either backend. A SQLite one holds the store's write gate until
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
}

impl Tx {
    pub async fn all(&mut self, sql: &str, params: Vec<P>) -> Result<Vec<DbRow>, sqlx::Error> {
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
        })
    }

    pub async fn opt(&mut self, sql: &str, params: Vec<P>) -> Result<Option<DbRow>, sqlx::Error> {
        Ok(self.all(sql, params).await?.into_iter().next())
    }

    pub async fn exec(&mut self, sql: &str, params: Vec<P>) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(t, _) => bind_sqlite(sqlx::query(sql), params)
                .execute(&mut **t)
                .await?
                .rows_affected(),
            Tx::Postgres(t) => bind_pg(sqlx::query(sql), params)
                .execute(&mut **t)
                .await?
                .rows_affected(),
        })
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t, _) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
fn conflict(what: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
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
        _ => StoreError::Database(e),
    }
}

/// A value the database gave that does not decode.
fn decode(e: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(e.to_string().into())
}

/// `%`, `_` and `\` escaped for `like ... escape '\'`.
fn like_literal(text: &str) -> String {
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

/// The [`AuthStore`] over Better Auth's tables with sqlx, on SQLite or PostgreSQL.
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
    pool: Pool,
    dialect: Dialect,
    admin: Arc<AtomicBool>,
    organizations: Arc<AtomicBool>,
    /// SQLite has one writer at a time: writers that find the lock taken sleep in SQLite's
    /// busy handler (1, 2, 5, 10 ... 100 ms) and retry, which made the p99 of a write
    /// under load tens of milliseconds. The plugin's writes queue here instead (a fair
    /// async mutex), so the lock is handed straight to the next writer. None on PostgreSQL.
    write_gate: Option<Arc<Mutex<()>>>,
}

impl SqlxStore {
    /// A store over a SQLite pool (Better Auth's SQLite layout: ISO text dates, 0/1
    /// booleans). Call [`SqlxStore::migrate`] before use.
    pub fn sqlite(pool: SqlitePool) -> Self {
        Self::new(Pool::Sqlite(pool), Backend::Sqlite)
    }

    /// A store over a PostgreSQL pool (Better Auth's PostgreSQL layout: `timestamptz`
    /// dates, `boolean` flags). Call [`SqlxStore::migrate`] before use.
    pub fn postgres(pool: PgPool) -> Self {
        Self::new(Pool::Postgres(pool), Backend::Postgres)
    }

    fn new(pool: Pool, backend: Backend) -> Self {
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
        }
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
        self
    }

    /// The SQLite pool, when this store is on SQLite (for the host's own queries and the
    /// outbox written in the same transaction).
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Pool::Sqlite(p) => Some(p),
            Pool::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, when this store is on PostgreSQL.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(p) => Some(p),
            Pool::Sqlite(_) => None,
        }
    }

    /// Whether the store is on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// The column naming in use.
    pub fn naming(&self) -> ColumnNaming {
        self.dialect.naming
    }

    /// A query in this store's dialect and naming (camelCase identifiers, `$n`
    /// placeholders, `@ts($n)` / `@rts("col")` timestamp markers).
    pub(crate) fn q(&self, text: &str) -> String {
        self.dialect.sql(text)
    }

    pub(crate) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match &self.pool {
            // Every store transaction writes; taking the write lock up front avoids the
            // deadlock of two readers upgrading at once (SQLITE_BUSY, not retried).
            // The write turn comes first, so that no pooled connection is held while
            // waiting for it (readers keep them).
            Pool::Sqlite(p) => {
                let turn = self.write_turn().await;
                Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?, turn)
            }
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
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
            Pool::Sqlite(p) => bind_sqlite(sqlx::query(&sql), params)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(DbRow::Sqlite)
                .collect(),
            Pool::Postgres(p) => bind_pg(sqlx::query(&sql), params)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(DbRow::Postgres)
                .collect(),
        })
    }

    pub(crate) async fn opt(
        &self,
        text: &str,
        params: Vec<P>,
    ) -> Result<Option<DbRow>, sqlx::Error> {
        Ok(self.all(text, params).await?.into_iter().next())
    }

    /// One write statement outside a transaction (on SQLite, in the store's write turn).
    pub(crate) async fn exec(&self, text: &str, params: Vec<P>) -> Result<u64, sqlx::Error> {
        let sql = self.q(text);
        Ok(match &self.pool {
            Pool::Sqlite(p) => {
                let _turn = self.write_turn().await;
                bind_sqlite(sqlx::query(&sql), params)
                    .execute(p)
                    .await?
                    .rows_affected()
            }
            Pool::Postgres(p) => bind_pg(sqlx::query(&sql), params)
                .execute(p)
                .await?
                .rows_affected(),
        })
    }

    async fn table_exists_in(&self, tx: &mut Tx, camel: &str) -> Result<bool, sqlx::Error> {
        let name = self.dialect.ident(camel);
        let sql = match self.dialect.backend {
            Backend::Sqlite => "select name from sqlite_master where type = 'table' and name = $1",
            Backend::Postgres => {
                "select table_name::text from information_schema.tables where table_schema = current_schema() and table_name::text = $1"
            }
        };
        Ok(tx.opt(sql, params![name]).await?.is_some())
    }

    async fn column_exists_in(
        &self,
        tx: &mut Tx,
        table_camel: &str,
        column_camel: &str,
    ) -> Result<bool, sqlx::Error> {
        let table = self.dialect.ident(table_camel);
        let column = self.dialect.ident(column_camel);
        let sql = match self.dialect.backend {
            Backend::Sqlite => "select name from pragma_table_info($1) where name = $2",
            Backend::Postgres => {
                "select column_name::text from information_schema.columns where table_schema = current_schema() and table_name::text = $1 and column_name::text = $2"
            }
        };
        Ok(tx.opt(sql, params![table, column]).await?.is_some())
    }

    /// Looks at the database and records which optional Better Auth parts it has (the
    /// admin plugin's columns, the organization plugin's tables). [`SqlxStore::migrate`]
    /// calls it.
    pub async fn detect_features(&self) -> StoreResult<StoreFeatures> {
        let mut tx = self.begin().await?;
        let admin = self.column_exists_in(&mut tx, "user", "role").await?
            && self.column_exists_in(&mut tx, "user", "banned").await?
            && self
                .column_exists_in(&mut tx, "session", "impersonatedBy")
                .await?;
        let organizations = self.table_exists_in(&mut tx, "organization").await?
            && self.table_exists_in(&mut tx, "member").await?
            && self.table_exists_in(&mut tx, "invitation").await?;
        tx.commit().await?;
        self.admin.store(admin, Ordering::Relaxed);
        self.organizations.store(organizations, Ordering::Relaxed);
        Ok(StoreFeatures {
            admin,
            organizations,
        })
    }

    /// Creates Better Auth's own tables (core, admin columns and, when `organizations`,
    /// the organization plugin's) where they do not exist: for a Rust server that starts
    /// without a Better Auth database. Hosts on an existing Better Auth database skip it.
    pub async fn install_better_auth_schema(&self, organizations: bool) -> StoreResult<()> {
        let text = match self.dialect.backend {
            Backend::Sqlite => migrate::BETTER_AUTH_SQLITE,
            Backend::Postgres => migrate::BETTER_AUTH_POSTGRES,
        };
        let mut tx = self.begin().await?;
        for st in migrate::statements(text) {
            if st.organizations_only() && !organizations {
                continue;
            }
            tx.exec(&self.q(&st.sql), vec![]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies the plugin's migrations ([`MIGRATIONS`]) that are not applied yet, each in
    /// its own transaction, recorded in `attio_plugin_migrations`; then detects features.
    /// Safe to call at every start, from several instances (PostgreSQL takes an advisory
    /// lock). Fails when an applied migration was edited since.
    pub async fn migrate(&self) -> StoreResult<()> {
        let create = self.q(
            r#"create table if not exists "attio_plugin_migrations" ("version" bigint not null primary key, "name" text not null, "checksum" text not null, "appliedAt" text not null)"#,
        );
        for m in MIGRATIONS {
            let text = match self.dialect.backend {
                Backend::Sqlite => m.sqlite,
                Backend::Postgres => m.postgres,
            };
            let sum = migrate::checksum(text);
            let mut tx = self.begin().await?;
            if self.dialect.backend == Backend::Postgres {
                tx.exec("select pg_advisory_xact_lock(727384512)", vec![])
                    .await?;
            }
            tx.exec(&create, vec![]).await?;
            let applied = tx
                .opt(
                    &self.q(
                        r#"select "checksum" from "attio_plugin_migrations" where "version" = $1"#,
                    ),
                    params![m.version],
                )
                .await?;
            if let Some(row) = applied {
                if row.s(0)? != sum {
                    return Err(StoreError::Migration(format!(
                        "plugin migration {} ({}) was changed after it was applied",
                        m.version, m.name
                    )));
                }
                tx.commit().await?;
                continue;
            }
            for st in migrate::statements(text) {
                if !self.statement_applies(&mut tx, &st).await? {
                    continue;
                }
                tx.exec(&self.q(&st.sql), vec![]).await.map_err(|e| {
                    StoreError::Migration(format!(
                        "plugin migration {} ({}): {e}",
                        m.version, m.name
                    ))
                })?;
            }
            tx.exec(
                &self.q(r#"insert into "attio_plugin_migrations" ("version", "name", "checksum", "appliedAt") values ($1, $2, $3, $4)"#),
                params![m.version, m.name, sum, crate::time::now_iso()],
            )
            .await?;
            tx.commit().await?;
        }
        self.detect_features().await?;
        Ok(())
    }

    async fn statement_applies(&self, tx: &mut Tx, st: &Statement) -> Result<bool, sqlx::Error> {
        if let Some(table) = st.required_table()
            && !self.table_exists_in(tx, table).await?
        {
            return Ok(false);
        }
        if let Some((table, column)) = st.added_column()
            && self.column_exists_in(tx, &table, &column).await?
        {
            return Ok(false);
        }
        Ok(true)
    }

    fn user_cols(&self, prefix: &str) -> String {
        let p = prefix;
        if self.admin.load(Ordering::Relaxed) {
            format!(
                r#"{p}"id", {p}"name", {p}"email", {p}"emailVerified", {p}"image", @rts({p}"createdAt"), @rts({p}"updatedAt"), {p}"role", {p}"banned", {p}"banReason", @rts({p}"banExpires"), {p}"attioId""#
            )
        } else {
            format!(
                r#"{p}"id", {p}"name", {p}"email", {p}"emailVerified", {p}"image", @rts({p}"createdAt"), @rts({p}"updatedAt"), null, null, null, null, {p}"attioId""#
            )
        }
    }

    /// `search-users` on SQLite, answered as one row: the matches aggregated into a JSON
    /// array by SQLite. sqlx-sqlite hands every row from its connection thread to the async
    /// task through a channel, and that hand-off (thread wake-ups, one allocation per value)
    /// was most of the endpoint's CPU under load; the query and its order are unchanged.
    async fn search_users_sqlite(&self, text: &str, limit: u32) -> StoreResult<Vec<User>> {
        let sql = format!(
            r#"select json_group_array(json("j") order by "k1" desc, "k2" desc) from (select json_array({}) as "j", "createdAt" as "k1", "id" as "k2" from "user" where lower("email") like $1 escape '\' order by "createdAt" desc, "id" desc limit $2)"#,
            self.user_cols("")
        );
        let row = self
            .opt(
                &sql,
                params![like_literal(&text.to_lowercase()), i64::from(limit)],
            )
            .await?;
        let text = match row {
            Some(r) => r.s(0)?,
            None => return Ok(Vec::new()),
        };
        let rows: Vec<Vec<Value>> = serde_json::from_str(&text).map_err(decode)?;
        Ok(rows
            .iter()
            .map(|r| Self::user_from_json(r))
            .collect::<Result<_, _>>()?)
    }

    /// [`SqlxStore::user_from`] for a row of [`SqlxStore::user_cols`] read back as a JSON
    /// array (SQLite: text as strings, 0/1 flags as numbers, NULL as null).
    fn user_from_json(r: &[Value]) -> Result<User, sqlx::Error> {
        let os = |i: usize| match r.get(i) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Null) => Ok(None),
            other => Err(decode(format!(
                "column {i}: expected text, found {other:?}"
            ))),
        };
        let s = |i: usize| os(i)?.ok_or_else(|| decode(format!("column {i}: unexpected null")));
        let ob = |i: usize| match r.get(i) {
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) => Ok(Some(n.as_f64().is_some_and(|f| f != 0.0))),
            Some(Value::Null) => Ok(None),
            other => Err(decode(format!(
                "column {i}: expected a flag, found {other:?}"
            ))),
        };
        Ok(User {
            id: s(0)?,
            name: s(1)?,
            email: s(2)?,
            email_verified: ob(3)?.ok_or_else(|| decode("column 3: unexpected null"))?,
            image: os(4)?,
            created_at: s(5)?,
            updated_at: s(6)?,
            role: os(7)?,
            banned: ob(8)?,
            ban_reason: os(9)?,
            ban_expires: os(10)?,
            attio_id: os(11)?,
        })
    }

    fn user_from(r: &DbRow) -> Result<User, sqlx::Error> {
        Ok(User {
            id: r.s(0)?,
            name: r.s(1)?,
            email: r.s(2)?,
            email_verified: r.b(3)?,
            image: r.os(4)?,
            created_at: r.s(5)?,
            updated_at: r.s(6)?,
            role: r.os(7)?,
            banned: r.ob(8)?,
            ban_reason: r.os(9)?,
            ban_expires: r.os(10)?,
            attio_id: r.os(11)?,
        })
    }

    const ORG_COLS: &'static str =
        r#""id", "name", "slug", "logo", @rts("createdAt"), "metadata", "attioId""#;

    fn org_from(r: &DbRow) -> Result<Organization, sqlx::Error> {
        Ok(Organization {
            id: r.s(0)?,
            name: r.s(1)?,
            slug: r.s(2)?,
            logo: r.os(3)?,
            created_at: r.s(4)?,
            metadata: r.os(5)?,
            attio_id: r.os(6)?,
        })
    }

    const MEMBER_COLS: &'static str =
        r#""id", "organizationId", "userId", "role", @rts("createdAt")"#;

    fn member_from(r: &DbRow) -> Result<Member, sqlx::Error> {
        Ok(Member {
            id: r.s(0)?,
            organization_id: r.s(1)?,
            user_id: r.s(2)?,
            role: r.s(3)?,
            created_at: r.s(4)?,
        })
    }

    const INVITATION_COLS: &'static str = r#"i."id", i."organizationId", i."email", i."role", i."status", @rts(i."expiresAt"), @rts(i."createdAt"), i."inviterId""#;

    fn invitation_from(r: &DbRow, with_inviter: bool) -> Result<InvitationRow, sqlx::Error> {
        let inviter = if with_inviter {
            match (r.os(8)?, r.os(9)?, r.os(10)?) {
                (Some(id), Some(name), Some(email)) => Some((id, name, email)),
                _ => None,
            }
        } else {
            None
        };
        Ok(InvitationRow {
            id: r.s(0)?,
            organization_id: r.s(1)?,
            email: r.s(2)?,
            role: r.os(3)?,
            status: r.s(4)?,
            expires_at: r.s(5)?,
            created_at: r.s(6)?,
            inviter_id: r.s(7)?,
            inviter,
        })
    }

    fn session_sql(&self, filter: &str) -> String {
        let admin = self.admin.load(Ordering::Relaxed);
        let orgs = self.organizations.load(Ordering::Relaxed);
        let (imp, join) = if admin {
            (
                r#"s."impersonatedBy", a."name""#,
                r#" left join "user" a on a."id" = s."impersonatedBy""#,
            )
        } else {
            ("null, null", "")
        };
        let active = if orgs {
            r#"s."activeOrganizationId""#
        } else {
            "null"
        };
        format!(
            r#"select s."id", s."token", s."userId", @rts(s."expiresAt"), @rts(s."createdAt"), @rts(s."updatedAt"), s."ipAddress", s."userAgent", {imp}, {active} from "session" s{join} where {filter}"#
        )
    }

    fn session_from(r: &DbRow) -> Result<Session, sqlx::Error> {
        Ok(Session {
            id: r.s(0)?,
            token: r.s(1)?,
            user_id: r.s(2)?,
            expires_at: r.s(3)?,
            created_at: r.s(4)?,
            updated_at: r.s(5)?,
            ip_address: r.os(6)?,
            user_agent: r.os(7)?,
            impersonated_by: r.os(8)?,
            impersonator_name: r.os(9)?,
            active_organization_id: r.os(10)?,
        })
    }

    async fn user_in(&self, tx: &mut Tx, id: &str) -> Result<Option<User>, sqlx::Error> {
        let sql = self.q(&format!(
            r#"select {} from "user" where "id" = $1"#,
            self.user_cols("")
        ));
        tx.opt(&sql, params![id])
            .await?
            .map(|r| Self::user_from(&r))
            .transpose()
    }
}

/// The row id an Attio record carries in its id attribute, when it is a plain id.
fn adopted_id(event: &RecordEvent, adapter: &ModelAdapter) -> Option<String> {
    let values = event.values.as_ref()?;
    let plain = adapter.plain_values(values);
    let id = plain.get(&adapter.id_attribute)?.as_str()?.trim();
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then(|| id.to_owned())
}

/// The transaction as the outbox's connection type.
fn tx_conn(tx: &mut Tx) -> crate::sync::OutboxConn<'_> {
    match tx {
        Tx::Sqlite(t, _) => crate::sync::OutboxConn::Sqlite(t),
        Tx::Postgres(t) => crate::sync::OutboxConn::Postgres(t),
    }
}

/// Wakes the delivery worker after a commit that reported something.
fn notify(report: Option<Report<'_>>) {
    if let Some(r) = report {
        r.reporter.notify();
    }
}

/// `email_verified` -> `emailVerified`.
fn camel(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len());
    let mut upper = false;
    for c in ident.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A JSON value as a bound parameter.
fn json_param(v: &Value) -> P {
    match v {
        Value::Null => P::OS(None),
        Value::Bool(b) => P::B(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => P::I(i),
            None => P::S(n.to_string()),
        },
        Value::String(s) => P::S(s.clone()),
        other => P::S(other.to_string()),
    }
}

/// Only plain identifiers reach SQL text (model and field names come from adapters).
fn plain_ident(s: &str) -> Result<&str, StoreError> {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(s)
    } else {
        Err(StoreError::Rejected(format!(
            "not a plain identifier: {s:?}"
        )))
    }
}

impl SqlxStore {
    /// The columns of a table (camelCase names whatever the naming).
    async fn columns_in(&self, tx: &mut Tx, table: &str) -> Result<Vec<String>, sqlx::Error> {
        let name = self.dialect.ident(table);
        let sql = match self.dialect.backend {
            Backend::Sqlite => "select name from pragma_table_info($1)",
            Backend::Postgres => {
                "select column_name::text from information_schema.columns where table_schema = current_schema() and table_name::text = $1"
            }
        };
        let rows = tx.all(sql, params![name]).await?;
        rows.iter()
            .map(|r| {
                r.s(0).map(|c| match self.dialect.naming {
                    ColumnNaming::CamelCase => c,
                    ColumnNaming::SnakeCase => camel(&c),
                })
            })
            .collect()
    }

    /// One row of any table as a JSON object with Better Auth (camelCase) field names:
    /// what adapters read. Emails are matched case-insensitively.
    async fn row_json_in(
        &self,
        tx: &mut Tx,
        table: &str,
        key: &str,
        value: &Value,
    ) -> StoreResult<Option<Map<String, Value>>> {
        let table = plain_ident(table)?;
        let key = plain_ident(key)?;
        let cond = if key == "email" {
            r#"lower("email") = lower($1)"#.to_owned()
        } else {
            format!(r#""{key}" = $1"#)
        };
        let sql = match self.dialect.backend {
            Backend::Postgres => self.q(&format!(
                r#"select row_to_json(t)::text from "{table}" t where {cond} limit 1"#
            )),
            Backend::Sqlite => {
                let cols = self.columns_in(tx, table).await?;
                if cols.is_empty() {
                    return Ok(None);
                }
                let pairs: Vec<String> = cols.iter().map(|c| format!(r#"'{c}', "{c}""#)).collect();
                // json_object's keys are string literals, left alone by the identifier
                // rewrite: they stay camelCase whatever the naming.
                self.q(&format!(
                    r#"select json_object({}) from "{table}" where {cond} limit 1"#,
                    pairs.join(", ")
                ))
            }
        };
        let Some(row) = tx.opt(&sql, vec![json_param(value)]).await? else {
            return Ok(None);
        };
        let text = row.s(0)?;
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
            return Ok(None);
        };
        Ok(Some(match self.dialect.naming {
            ColumnNaming::CamelCase => map,
            ColumnNaming::SnakeCase => map.into_iter().map(|(k, v)| (camel(&k), v)).collect(),
        }))
    }

    /// Attio record ids of an organization's members (those linked to Attio).
    async fn member_attio_ids_in(&self, tx: &mut Tx, org_id: &str) -> StoreResult<Vec<String>> {
        let rows = tx
            .all(
                &self.q(r#"select u."attioId" from "member" m join "user" u on u."id" = m."userId" where m."organizationId" = $1 and u."attioId" is not null order by u."attioId""#),
                params![org_id],
            )
            .await?;
        Ok(rows.iter().map(|r| r.s(0)).collect::<Result<_, _>>()?)
    }

    /// Writes the outbox event about row `id` of `model`, as stored now, on `tx`.
    async fn report_in(
        &self,
        tx: &mut Tx,
        report: Option<Report<'_>>,
        model: &str,
        id: &str,
        kind: EventKind,
    ) -> StoreResult<Option<String>> {
        let Some(r) = report else {
            return Ok(None);
        };
        if r.reporter.adapters().for_model(model).is_none() {
            return Ok(None);
        }
        let row = match self
            .row_json_in(tx, model, "id", &Value::String(id.to_owned()))
            .await?
        {
            Some(row) => row,
            None if kind == EventKind::Delete => {
                let mut m = Map::new();
                m.insert("id".to_owned(), Value::String(id.to_owned()));
                m
            }
            None => return Ok(None),
        };
        Ok(r.reporter
            .report(tx_conn(tx), model, kind, &row, r.origin)
            .await?)
    }

    /// Inserts a row made from Attio: the plan's fields, the id, timestamps and the Better
    /// Auth defaults the table needs (a user gets the default role and is not banned).
    async fn insert_row_in(
        &self,
        tx: &mut Tx,
        table: &str,
        id: &str,
        mut fields: Map<String, Value>,
    ) -> StoreResult<()> {
        let table = plain_ident(table)?;
        let cols = self.columns_in(tx, table).await?;
        let has = |c: &str| cols.iter().any(|x| x == c);
        fields.insert("id".to_owned(), Value::String(id.to_owned()));
        if table == "user" {
            fields.entry("emailVerified").or_insert(Value::Bool(false));
            if has("role") {
                fields
                    .entry("role")
                    .or_insert(Value::String("user".to_owned()));
            }
            if has("banned") {
                fields.entry("banned").or_insert(Value::Bool(false));
            }
            if let Some(Value::String(e)) = fields.get_mut("email") {
                *e = e.trim().to_lowercase();
            }
        }
        if table == "organization"
            && !fields.contains_key("slug")
            && let Some(name) = fields.get("name").and_then(Value::as_str)
        {
            let slug = crate::sync::inbound::slugify(name);
            fields.insert("slug".to_owned(), Value::String(slug));
        }
        let now = crate::time::now_iso();
        let mut names = Vec::new();
        let mut values = Vec::new();
        let mut params = Vec::new();
        for (k, v) in &fields {
            let k = plain_ident(k)?;
            if !has(k) || k == "createdAt" || k == "updatedAt" {
                continue;
            }
            names.push(format!(r#""{k}""#));
            params.push(json_param(v));
            values.push(format!("${}", params.len()));
        }
        for ts in ["createdAt", "updatedAt"] {
            if has(ts) {
                names.push(format!(r#""{ts}""#));
                params.push(P::S(now.clone()));
                values.push(format!("@ts(${})", params.len()));
            }
        }
        let sql = self.q(&format!(
            r#"insert into "{table}" ({}) values ({})"#,
            names.join(", "),
            values.join(", ")
        ));
        tx.exec(&sql, params)
            .await
            .map_err(conflict("the record conflicts with an existing row"))?;
        Ok(())
    }

    /// Updates the plan's fields of row `id` (and `updatedAt` where the table has it).
    async fn update_row_in(
        &self,
        tx: &mut Tx,
        table: &str,
        id: &str,
        fields: Map<String, Value>,
    ) -> StoreResult<()> {
        let table = plain_ident(table)?;
        let cols = self.columns_in(tx, table).await?;
        let has = |c: &str| cols.iter().any(|x| x == c);
        let mut sets = Vec::new();
        let mut params = Vec::new();
        for (k, v) in &fields {
            let k = plain_ident(k)?;
            if !has(k) || k == "id" || k == "updatedAt" || k == "createdAt" {
                continue;
            }
            let v = if k == "email" {
                v.as_str()
                    .map(|e| Value::String(e.trim().to_lowercase()))
                    .unwrap_or_else(|| v.clone())
            } else {
                v.clone()
            };
            params.push(json_param(&v));
            sets.push(format!(r#""{k}" = ${}"#, params.len()));
        }
        if sets.is_empty() {
            return Ok(());
        }
        if has("updatedAt") {
            params.push(P::S(crate::time::now_iso()));
            sets.push(format!(r#""updatedAt" = @ts(${})"#, params.len()));
        }
        params.push(P::S(id.to_owned()));
        let sql = self.q(&format!(
            r#"update "{table}" set {} where "id" = ${}"#,
            sets.join(", "),
            params.len()
        ));
        tx.exec(&sql, params)
            .await
            .map_err(conflict("the record conflicts with an existing row"))?;
        Ok(())
    }

    /// Makes an organization's members the users linked to the Attio records in
    /// `references[memberAttioIds]` (unknown records are skipped; owners are never removed,
    /// so an organization cannot lose its last owner from a CRM edit).
    async fn reconcile_members_in(
        &self,
        tx: &mut Tx,
        table: &str,
        org_id: &str,
        references: &Map<String, Value>,
    ) -> StoreResult<()> {
        let Some(wanted) = references.get(MEMBER_ATTIO_IDS).and_then(Value::as_array) else {
            return Ok(());
        };
        if table != "organization" {
            return Ok(());
        }
        let wanted: Vec<String> = wanted
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        let current = self.member_attio_ids_in(tx, org_id).await?;
        let (add, remove) = crate::sync::inbound::reconcile(&current, &wanted);
        let now = crate::time::now_iso();
        for attio_id in add {
            let user = tx
                .opt(
                    &self.q(r#"select "id" from "user" where "attioId" = $1"#),
                    params![attio_id],
                )
                .await?;
            let Some(user) = user else { continue };
            tx.exec(
                &self.q(r#"insert into "member" ("id", "organizationId", "userId", "role", "createdAt") values ($1, $2, $3, 'member', @ts($4))"#),
                params![crate::ids::new_id(), org_id, user.s(0)?, &now],
            )
            .await?;
        }
        for attio_id in remove {
            tx.exec(
                &self.q(r#"delete from "member" where "organizationId" = $1 and "role" not like '%owner%' and "userId" in (select "id" from "user" where "attioId" = $2)"#),
                params![org_id, attio_id],
            )
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl AuthStore for SqlxStore {
    fn features(&self) -> StoreFeatures {
        StoreFeatures {
            admin: self.admin.load(Ordering::Relaxed),
            organizations: self.organizations.load(Ordering::Relaxed),
        }
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let sql = format!(
            r#"select {} from "user" where "id" = $1"#,
            self.user_cols("")
        );
        Ok(self
            .opt(&sql, params![id])
            .await?
            .map(|r| Self::user_from(&r))
            .transpose()?)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let sql = format!(
            r#"select {} from "user" where lower("email") = lower($1)"#,
            self.user_cols("")
        );
        Ok(self
            .opt(&sql, params![email])
            .await?
            .map(|r| Self::user_from(&r))
            .transpose()?)
    }

    async fn search_users(&self, text: &str, limit: u32) -> StoreResult<Vec<User>> {
        if self.dialect.backend == Backend::Sqlite {
            return self.search_users_sqlite(text, limit).await;
        }
        let sql = format!(
            r#"select {} from "user" where lower("email") like $1 escape '\' order by "createdAt" desc, "id" desc limit $2"#,
            self.user_cols("")
        );
        let rows = self
            .all(
                &sql,
                params![like_literal(&text.to_lowercase()), i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(Self::user_from).collect::<Result<_, _>>()?)
    }

    async fn create_user(&self, u: NewUser, report: Option<Report<'_>>) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let insert = if self.admin.load(Ordering::Relaxed) {
            r#"insert into "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "attioId", "role", "banned") values ($1, $2, $3, $4, $5, @ts($6), @ts($6), $7, $8, false)"#
        } else {
            r#"insert into "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "attioId") values ($1, $2, $3, $4, $5, @ts($6), @ts($6), $7)"#
        };
        let mut p = params![
            &u.id,
            &u.name,
            &u.email,
            u.email_verified,
            u.image.clone(),
            &u.now,
            u.attio_id.clone()
        ];
        if self.admin.load(Ordering::Relaxed) {
            p.push(P::OS(u.role.clone()));
        }
        tx.exec(&self.q(insert), p)
            .await
            .map_err(conflict("a user with this email or Attio record exists"))?;
        let user = self
            .user_in(&mut tx, &u.id)
            .await?
            .ok_or_else(|| StoreError::NotFound("created user".to_owned()))?;
        self.report_in(&mut tx, report, "user", &u.id, EventKind::Create)
            .await?;
        tx.commit().await?;
        notify(report);
        Ok(user)
    }

    async fn set_ban(
        &self,
        user_id: &str,
        ban: BanUpdate,
        report: Option<Report<'_>>,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.begin().await?;
        let (reason, expires) = if ban.banned {
            (ban.reason, ban.expires)
        } else {
            (None, None)
        };
        let n = tx
            .exec(
                &self.q(r#"update "user" set "banned" = $1, "banReason" = $2, "banExpires" = @ts($3), "updatedAt" = @ts($4) where "id" = $5"#),
                params![ban.banned, reason, expires, &ban.now, user_id],
            )
            .await?;
        if n == 0 {
            return Ok(None);
        }
        if ban.banned {
            tx.exec(
                &self.q(r#"delete from "session" where "userId" = $1"#),
                params![user_id],
            )
            .await?;
        }
        let user = self.user_in(&mut tx, user_id).await?;
        self.report_in(&mut tx, report, "user", user_id, EventKind::Update)
            .await?;
        tx.commit().await?;
        notify(report);
        Ok(user)
    }

    async fn lift_expired_ban(
        &self,
        user_id: &str,
        now: &str,
        report: Option<Report<'_>>,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.begin().await?;
        let n = tx
            .exec(
                &self.q(r#"update "user" set "banned" = false, "banReason" = null, "banExpires" = null, "updatedAt" = @ts($1) where "id" = $2 and "banned" = true and "banExpires" is not null and "banExpires" <= @ts($1)"#),
                params![now, user_id],
            )
            .await?;
        if n == 0 {
            return Ok(None);
        }
        let user = self.user_in(&mut tx, user_id).await?;
        self.report_in(&mut tx, report, "user", user_id, EventKind::Update)
            .await?;
        tx.commit().await?;
        notify(report);
        Ok(user)
    }

    async fn users_after(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        let rows = self
            .page_by_id("user", &self.user_cols(""), after, limit)
            .await?;
        Ok(rows.iter().map(Self::user_from).collect::<Result<_, _>>()?)
    }

    async fn sessions(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        let sql = self.session_sql(r#"s."userId" = $1 order by s."createdAt" desc, s."id" desc"#);
        let rows = self.all(&sql, params![user_id]).await?;
        Ok(rows
            .iter()
            .map(Self::session_from)
            .collect::<Result<_, _>>()?)
    }

    async fn session_by_token(&self, token: &str) -> StoreResult<Option<Session>> {
        let sql = self.session_sql(r#"s."token" = $1"#);
        Ok(self
            .opt(&sql, params![token])
            .await?
            .map(|r| Self::session_from(&r))
            .transpose()?)
    }

    async fn create_session(&self, s: NewSession) -> StoreResult<()> {
        let admin = self.admin.load(Ordering::Relaxed);
        let sql = if admin {
            r#"insert into "session" ("id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent", "impersonatedBy") values ($1, $2, $3, @ts($4), @ts($5), @ts($5), $6, $7, $8)"#
        } else {
            r#"insert into "session" ("id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent") values ($1, $2, $3, @ts($4), @ts($5), @ts($5), $6, $7)"#
        };
        let mut p = params![
            s.id,
            s.token,
            &s.user_id,
            s.expires_at,
            s.now,
            s.ip_address,
            s.user_agent
        ];
        if admin {
            p.push(P::OS(s.impersonated_by));
        }
        self.exec(sql, p).await.map_err(conflict("session"))?;
        Ok(())
    }

    async fn touch_session(
        &self,
        token: &str,
        ip_address: Option<&str>,
        user_agent: Option<&str>,
        now: &str,
    ) -> StoreResult<()> {
        self.exec(
            r#"update "session" set "ipAddress" = coalesce($1, "ipAddress"), "userAgent" = coalesce($2, "userAgent"), "updatedAt" = @ts($3) where "token" = $4"#,
            params![
                ip_address.map(str::to_owned),
                user_agent.map(str::to_owned),
                now,
                token
            ],
        )
        .await?;
        Ok(())
    }

    async fn delete_session(&self, which: SessionRef<'_>) -> StoreResult<bool> {
        let (sql, key) = match which {
            SessionRef::Id(id) => (r#"delete from "session" where "id" = $1"#, id),
            SessionRef::Token(t) => (r#"delete from "session" where "token" = $1"#, t),
        };
        Ok(self.exec(sql, params![key]).await? > 0)
    }

    async fn delete_user_sessions(&self, user_ids: &[String]) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let sql = self.q(r#"delete from "session" where "userId" = $1"#);
        let mut n = 0;
        for id in user_ids {
            n += tx.exec(&sql, params![id]).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn create_verification(
        &self,
        identifier: &str,
        value: &str,
        expires_at: &str,
        now: &str,
    ) -> StoreResult<()> {
        self.exec(
            r#"insert into "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt") values ($1, $2, $3, @ts($4), @ts($5), @ts($5))"#,
            params![crate::ids::new_id(), identifier, value, expires_at, now],
        )
        .await?;
        Ok(())
    }

    async fn consume_verification(
        &self,
        identifier: &str,
        now: &str,
    ) -> StoreResult<Option<String>> {
        let rows = self
            .all(
                r#"delete from "verification" where "identifier" = $1 returning "value", @rts("expiresAt")"#,
                params![identifier],
            )
            .await?;
        let now = crate::time::parse_iso(now);
        for r in rows {
            let expires = crate::time::parse_iso(&r.s(1)?);
            if let (Some(e), Some(n)) = (expires, now)
                && e > n
            {
                return Ok(Some(r.s(0)?));
            }
        }
        Ok(None)
    }

    async fn organization(&self, id: &str) -> StoreResult<Option<Organization>> {
        let sql = format!(
            r#"select {} from "organization" where "id" = $1"#,
            Self::ORG_COLS
        );
        Ok(self
            .opt(&sql, params![id])
            .await?
            .map(|r| Self::org_from(&r))
            .transpose()?)
    }

    async fn member(&self, organization_id: &str, user_id: &str) -> StoreResult<Option<Member>> {
        let sql = format!(
            r#"select {} from "member" where "organizationId" = $1 and "userId" = $2"#,
            Self::MEMBER_COLS
        );
        Ok(self
            .opt(&sql, params![organization_id, user_id])
            .await?
            .map(|r| Self::member_from(&r))
            .transpose()?)
    }

    async fn members(&self, organization_id: &str) -> StoreResult<Vec<Member>> {
        let sql = format!(
            r#"select {} from "member" where "organizationId" = $1 order by "createdAt", "id""#,
            Self::MEMBER_COLS
        );
        let rows = self.all(&sql, params![organization_id]).await?;
        Ok(rows
            .iter()
            .map(Self::member_from)
            .collect::<Result<_, _>>()?)
    }

    async fn create_organization(
        &self,
        o: NewOrganization,
        report: Option<Report<'_>>,
    ) -> StoreResult<Organization> {
        let mut tx = self.begin().await?;
        tx.exec(
            &self.q(r#"insert into "organization" ("id", "name", "slug", "logo", "createdAt", "attioId") values ($1, $2, $3, $4, @ts($5), $6)"#),
            params![&o.id, o.name, o.slug, o.logo, &o.now, o.attio_id],
        )
        .await
        .map_err(conflict("an organization with this slug or Attio record exists"))?;
        if let Some((member_id, user_id)) = o.owner {
            tx.exec(
                &self.q(r#"insert into "member" ("id", "organizationId", "userId", "role", "createdAt") values ($1, $2, $3, 'owner', @ts($4))"#),
                params![member_id, &o.id, user_id, &o.now],
            )
            .await
            .map_err(conflict("owner"))?;
        }
        let org = tx
            .opt(
                &self.q(&format!(
                    r#"select {} from "organization" where "id" = $1"#,
                    Self::ORG_COLS
                )),
                params![&o.id],
            )
            .await?
            .map(|r| Self::org_from(&r))
            .transpose()?
            .ok_or_else(|| StoreError::NotFound("created organization".to_owned()))?;
        self.report_in(&mut tx, report, "organization", &o.id, EventKind::Create)
            .await?;
        tx.commit().await?;
        notify(report);
        Ok(org)
    }

    async fn organizations_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Organization>> {
        let rows = self
            .page_by_id("organization", Self::ORG_COLS, after, limit)
            .await?;
        Ok(rows.iter().map(Self::org_from).collect::<Result<_, _>>()?)
    }

    async fn invitations(
        &self,
        organization_id: &str,
        now: &str,
    ) -> StoreResult<Vec<InvitationRow>> {
        let sql = format!(
            r#"select {}, u."id", u."name", u."email" from "invitation" i left join "user" u on u."id" = i."inviterId" where i."organizationId" = $1 and i."status" = 'pending' and i."expiresAt" > @ts($2) order by i."expiresAt" desc, i."id" desc"#,
            Self::INVITATION_COLS
        );
        let rows = self.all(&sql, params![organization_id, now]).await?;
        Ok(rows
            .iter()
            .map(|r| Self::invitation_from(r, true))
            .collect::<Result<_, _>>()?)
    }

    async fn pending_invitation(
        &self,
        organization_id: &str,
        email: &str,
        now: &str,
    ) -> StoreResult<Option<InvitationRow>> {
        let sql = format!(
            r#"select {} from "invitation" i where i."organizationId" = $1 and lower(i."email") = lower($2) and i."status" = 'pending' and i."expiresAt" > @ts($3) order by i."createdAt" desc limit 1"#,
            Self::INVITATION_COLS
        );
        Ok(self
            .opt(&sql, params![organization_id, email, now])
            .await?
            .map(|r| Self::invitation_from(&r, false))
            .transpose()?)
    }

    async fn create_invitation(&self, i: InvitationRow) -> StoreResult<()> {
        self.exec(
            r#"insert into "invitation" ("id", "organizationId", "email", "role", "status", "expiresAt", "createdAt", "inviterId") values ($1, $2, $3, $4, $5, @ts($6), @ts($7), $8)"#,
            params![i.id, i.organization_id, i.email, i.role, i.status, i.expires_at, i.created_at, i.inviter_id],
        )
        .await
        .map_err(conflict("invitation"))?;
        Ok(())
    }

    async fn renew_invitation(
        &self,
        id: &str,
        expires_at: &str,
        inviter_id: &str,
    ) -> StoreResult<()> {
        self.exec(
            r#"update "invitation" set "expiresAt" = @ts($1), "inviterId" = $2 where "id" = $3"#,
            params![expires_at, inviter_id, id],
        )
        .await?;
        Ok(())
    }

    async fn cancel_invitation(&self, id: &str) -> StoreResult<bool> {
        Ok(self
            .exec(
                r#"update "invitation" set "status" = 'canceled' where "id" = $1"#,
                params![id],
            )
            .await?
            > 0)
    }

    async fn report_change(
        &self,
        model: &str,
        id: &str,
        kind: EventKind,
        report: Report<'_>,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin().await?;
        let out = self
            .report_in(&mut tx, Some(report), model, id, kind)
            .await?;
        tx.commit().await?;
        notify(Some(report));
        Ok(out)
    }

    async fn apply_inbound(
        &self,
        event: &RecordEvent,
        adapter: &ModelAdapter,
        report: Option<Report<'_>>,
    ) -> StoreResult<InboundOutcome> {
        let table = adapter.better_auth_model.as_str();
        let mut tx = self.begin().await?;
        let mut stored = None;
        for (key, value) in adapter.lookup_keys(event) {
            if let Some(row) = self.row_json_in(&mut tx, table, &key, &value).await? {
                stored = Some(row);
                break;
            }
        }
        let wants_members = adapter.fields.iter().any(
            |f| matches!(&f.source, FieldSource::References { key, .. } if key == MEMBER_ATTIO_IDS),
        );
        if wants_members && let Some(row) = stored.as_mut() {
            let id = row
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let ids = self.member_attio_ids_in(&mut tx, &id).await?;
            row.insert(
                MEMBER_ATTIO_IDS.to_owned(),
                Value::Array(ids.into_iter().map(Value::String).collect()),
            );
        }
        let outcome = match adapter.plan_inbound(event, stored.as_ref()) {
            InboundPlan::Create { fields, references } => {
                // A record that already names its row id (a person typed the User ID) keeps
                // it, so both sides name the row alike; no row has it (the lookup by id
                // found none). Otherwise the row gets a fresh id, sent back in the event.
                let id = adopted_id(event, adapter).unwrap_or_else(crate::ids::new_id);
                self.insert_row_in(&mut tx, table, &id, fields).await?;
                self.reconcile_members_in(&mut tx, table, &id, &references)
                    .await?;
                self.report_in(&mut tx, report, table, &id, EventKind::Create)
                    .await?;
                InboundOutcome::Created(id)
            }
            InboundPlan::Update {
                id,
                fields,
                references,
            } => {
                self.update_row_in(&mut tx, table, &id, fields).await?;
                self.reconcile_members_in(&mut tx, table, &id, &references)
                    .await?;
                self.report_in(&mut tx, report, table, &id, EventKind::Update)
                    .await?;
                InboundOutcome::Updated(id)
            }
            InboundPlan::Delete { id } => {
                if let Some(r) = report {
                    let row = stored.clone().unwrap_or_default();
                    r.reporter
                        .report(tx_conn(&mut tx), table, EventKind::Delete, &row, r.origin)
                        .await?;
                }
                tx.exec(
                    &self.q(&format!(r#"delete from "{table}" where "id" = $1"#)),
                    params![&id],
                )
                .await?;
                InboundOutcome::Deleted(id)
            }
            InboundPlan::NoChange { id } => InboundOutcome::Unchanged(id),
            InboundPlan::Ignore { reason } => InboundOutcome::Ignored(reason),
        };
        tx.commit().await?;
        if matches!(
            outcome,
            InboundOutcome::Created(_) | InboundOutcome::Updated(_) | InboundOutcome::Deleted(_)
        ) {
            notify(report);
        }
        Ok(outcome)
    }

    async fn create_link(&self, id: &str, webhook_url: &str) -> StoreResult<Link> {
        self.exec(
            r#"insert into "attioIntegration" ("id", "webhookUrl") values ($1, $2) on conflict ("webhookUrl") do nothing"#,
            params![id, webhook_url],
        )
        .await?;
        let row = self
            .opt(
                r#"select "id", "webhookUrl" from "attioIntegration" where "webhookUrl" = $1"#,
                params![webhook_url],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound("link".to_owned()))?;
        Ok(Link {
            id: row.s(0)?,
            webhook_url: row.s(1)?,
        })
    }

    async fn delete_link(&self, id: &str) -> StoreResult<bool> {
        Ok(self
            .exec(
                r#"delete from "attioIntegration" where "id" = $1"#,
                params![id],
            )
            .await?
            > 0)
    }

    async fn links(&self) -> StoreResult<Vec<Link>> {
        let rows = self
            .all(
                r#"select "id", "webhookUrl" from "attioIntegration" order by "id""#,
                vec![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Link {
                    id: r.s(0)?,
                    webhook_url: r.s(1)?,
                })
            })
            .collect()
    }

    async fn replay_check(
        &self,
        id: &str,
        body_sha256: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<ReplayCheck> {
        let mut tx = self.begin().await?;
        tx.exec(
            &self.q(r#"delete from "attioReplay" where "expiresAt" <= $1"#),
            params![now],
        )
        .await?;
        let inserted = tx
            .exec(
                &self.q(r#"insert into "attioReplay" ("id", "bodyHash", "expiresAt") values ($1, $2, $3) on conflict ("id") do nothing"#),
                params![id, body_sha256, expires_at],
            )
            .await?;
        let out = if inserted > 0 {
            ReplayCheck::Fresh
        } else {
            let row = tx
                .opt(
                    &self.q(r#"select "bodyHash", "status", "response" from "attioReplay" where "id" = $1"#),
                    params![id],
                )
                .await?;
            match row {
                None => ReplayCheck::Fresh,
                Some(r) if r.s(0)? != body_sha256 => ReplayCheck::Conflict,
                Some(r) => match (r.oi(1)?, r.os(2)?) {
                    (Some(status), Some(body)) => ReplayCheck::Repeat(Some(StoredResponse {
                        status: u16::try_from(status).unwrap_or(500),
                        body,
                    })),
                    _ => ReplayCheck::Repeat(None),
                },
            }
        };
        tx.commit().await?;
        Ok(out)
    }

    async fn replay_store(&self, id: &str, response: &StoredResponse) -> StoreResult<()> {
        self.exec(
            r#"update "attioReplay" set "status" = $1, "response" = $2 where "id" = $3"#,
            params![i64::from(response.status), response.body.clone(), id],
        )
        .await?;
        Ok(())
    }

    async fn replay_forget(&self, id: &str) -> StoreResult<()> {
        self.exec(r#"delete from "attioReplay" where "id" = $1"#, params![id])
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::like_literal;
    use super::{AuthStore, NewSession, NewUser, SessionRef, SqlxStore};

    /// The aggregated SQLite search answers exactly what the row-by-row query does: same
    /// users, same order (ties on createdAt by id), same nulls, flags and text.
    #[tokio::test]
    async fn sqlite_search_matches_the_row_query() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = sqlx::sqlite::SqlitePool::connect_with(SqlxStore::sqlite_options(
            dir.path().join("auth.db"),
        ))
        .await
        .expect("pool");
        let store = SqlxStore::sqlite(pool);
        store
            .install_better_auth_schema(false)
            .await
            .expect("schema");
        store.migrate().await.expect("migrate");
        for (i, name) in ["Zoë \"Q\" O'Brien", "b\\c", "plain", "Ünïcode ✓", "x"]
            .iter()
            .enumerate()
        {
            store
                .create_user(
                    NewUser {
                        id: format!("u{i}"),
                        name: (*name).to_owned(),
                        email: format!("User{i}@Example.com"),
                        email_verified: i % 2 == 0,
                        image: (i % 3 == 0).then(|| format!("https://img/{i}")),
                        role: (i != 1).then(|| "user".to_owned()),
                        attio_id: (i == 2).then(|| "rec".to_owned()),
                        now: format!("2026-01-0{}T00:00:00.000Z", 1 + i % 2),
                    },
                    None,
                )
                .await
                .expect("user");
        }
        store
            .exec(
                r#"update "user" set "banned" = 1, "banReason" = 'r', "banExpires" = '2030-01-01T00:00:00.000Z' where "id" = 'u3'"#,
                vec![],
            )
            .await
            .expect("ban");
        for (text, limit) in [("example", 20), ("USER", 3), ("nobody", 20), ("1@", 20)] {
            let sql = format!(
                r#"select {} from "user" where lower("email") like $1 escape '\' order by "createdAt" desc, "id" desc limit $2"#,
                store.user_cols("")
            );
            let rows = store
                .all(
                    &sql,
                    vec![
                        super::P::S(super::like_literal(&text.to_lowercase())),
                        super::P::I(limit),
                    ],
                )
                .await
                .expect("row query");
            let expected: Vec<_> = rows
                .iter()
                .map(|r| format!("{:?}", SqlxStore::user_from(r).expect("row")))
                .collect();
            let got: Vec<_> = store
                .search_users(text, u32::try_from(limit).expect("limit"))
                .await
                .expect("search")
                .iter()
                .map(|u| format!("{u:?}"))
                .collect();
            assert_eq!(got, expected, "search {text:?}");
        }
    }

    /// Many concurrent writers through the write gate on a pool of several connections: every
    /// write lands, none fails with SQLITE_BUSY, and reads run beside them.
    #[tokio::test]
    async fn concurrent_sqlite_writes_queue_and_all_land() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(SqlxStore::sqlite_options(dir.path().join("auth.db")))
            .await
            .expect("pool");
        let store = SqlxStore::sqlite(pool);
        store
            .install_better_auth_schema(false)
            .await
            .expect("schema");
        store.migrate().await.expect("migrate");
        let now = "2026-01-01T00:00:00.000Z".to_owned();
        store
            .create_user(
                NewUser {
                    id: "u1".into(),
                    name: "U".into(),
                    email: "u1@example.com".into(),
                    email_verified: false,
                    image: None,
                    role: None,
                    attio_id: None,
                    now: now.clone(),
                },
                None,
            )
            .await
            .expect("user");
        let mut writers = tokio::task::JoinSet::new();
        for i in 0..64 {
            let (store, now) = (store.clone(), now.clone());
            writers.spawn(async move {
                store
                    .create_session(NewSession {
                        id: format!("s{i}"),
                        token: format!("t{i}"),
                        user_id: "u1".into(),
                        expires_at: "2099-01-01T00:00:00.000Z".into(),
                        now,
                        ip_address: None,
                        user_agent: None,
                        impersonated_by: None,
                    })
                    .await
                    .expect("create session");
                store.sessions("u1").await.expect("read beside writes");
                store
                    .delete_session(SessionRef::Token(&format!("t{i}")))
                    .await
                    .expect("delete session")
            });
        }
        while let Some(deleted) = writers.join_next().await {
            assert!(deleted.expect("writer task"));
        }
        assert!(store.sessions("u1").await.expect("sessions").is_empty());
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_literal("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }
}
