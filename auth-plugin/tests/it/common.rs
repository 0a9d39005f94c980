//! Test harness: a fresh database per test (a SQLite file in a temp dir, or a new
//! PostgreSQL database made from TEST_POSTGRES_URL, or a new MariaDB database made from
//! TEST_MARIADB_URL), Better Auth's schema (or a variant of it) with seed data,
//! the plugin mounted under `/api/auth` in a real axum server on 127.0.0.1:0, and a client
//! that signs its requests like the backend does.

use attio_auth_plugin::store::{
    AuthStore, ColumnNaming, NewOrganization, NewSession, NewUser, SqlxStore,
};
use attio_auth_plugin::sync::{Adapters, SyncReporter};
use attio_auth_plugin::{AttioPlugin, MemoryMailer};
use attio_auth_shared::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, Signer};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The `whsec_` secret of the tests.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The legacy body secret (as the original's transcripts).
pub const LEGACY_SECRET: &str = "attio-test-secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// MariaDB (or MySQL) from TEST_MARIADB_URL (`source scripts/mariadb.sh`).
    MariaDb,
    /// SQLite with a snake_case schema whose `updated_at` columns of the organization
    /// tables are `text not null` (Better Auth writes null there on creation).
    SqliteUpdatedAtNotNull,
    /// PostgreSQL with Better Auth's camelCase schema plus nullable `updatedAt` columns
    /// on the organization tables.
    PostgresUpdatedAtNullable,
    /// SQLite shaped like Better Auth on Cloudflare D1 through Drizzle: snake_case, every
    /// date an integer of seconds, and `updated_at integer not null` on the organization
    /// tables.
    SqliteD1,
    /// The same with Drizzle's `mode: 'timestamp_ms'`: integers of milliseconds, told by
    /// the columns' default (`unixepoch('subsecond') * 1000`).
    SqliteD1Millis,
}

impl Backend {
    /// The database family under the variant.
    pub fn family(self) -> Backend {
        match self {
            Backend::Sqlite
            | Backend::SqliteUpdatedAtNotNull
            | Backend::SqliteD1
            | Backend::SqliteD1Millis => Backend::Sqlite,
            Backend::Postgres | Backend::PostgresUpdatedAtNullable => Backend::Postgres,
            Backend::MariaDb => Backend::MariaDb,
        }
    }

    /// The column naming the variant forces, if any.
    fn forced_naming(self) -> Option<ColumnNaming> {
        match self {
            Backend::SqliteUpdatedAtNotNull | Backend::SqliteD1 | Backend::SqliteD1Millis => {
                Some(ColumnNaming::SnakeCase)
            }
            _ => None,
        }
    }

    /// `(type, not null)` of the `updatedAt` column the variant adds to `organization`,
    /// `member` and `invitation`.
    fn org_updated_at(self) -> Option<(&'static str, bool)> {
        match self {
            Backend::SqliteUpdatedAtNotNull => Some(("text", true)),
            Backend::PostgresUpdatedAtNullable => Some(("timestamptz", false)),
            Backend::SqliteD1 => Some(("integer", true)),
            Backend::SqliteD1Millis => Some((
                "integer default (cast(unixepoch('subsecond') * 1000 as integer))",
                true,
            )),
            _ => None,
        }
    }
}

/// What a test server has.
#[derive(Debug, Clone)]
pub struct Opts {
    pub legacy: bool,
    pub naming: ColumnNaming,
    pub organizations: bool,
    pub mailer: bool,
    pub base_url: bool,
    pub sync: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            legacy: false,
            naming: ColumnNaming::CamelCase,
            organizations: true,
            mailer: true,
            base_url: true,
            sync: true,
        }
    }
}

/// Ids of the seed data.
#[derive(Debug, Clone)]
pub struct Seed {
    pub alice: String,
    pub bob: String,
    pub carol: String,
    pub org: String,
    pub bob_session_id: String,
    pub bob_session_token: String,
}

pub struct TestApp {
    pub backend: Backend,
    pub url: String,
    pub origin: String,
    pub store: SqlxStore,
    pub mailer: Arc<MemoryMailer>,
    pub client: reqwest::Client,
    pub signer: Signer,
    pub seed: Seed,
    pub plugin: AttioPlugin,
    _dir: Option<tempfile::TempDir>,
}

/// A response: status and JSON (Null for an empty body).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub raw: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("")
    }

    /// Asserts a refusal: `status`, the error `code`, and a message that contains `words`
    /// (`context` names the case in a failure).
    pub fn assert_refused(&self, status: u16, code: &str, words: &str, context: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "{context}: {}",
            self.raw
        );
        let message = self.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{context}: {}", self.raw);
    }
}

async fn sqlite_store(naming: ColumnNaming) -> (SqlxStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("auth.db"))
        .create_if_missing(true)
        .busy_timeout(std::time::Duration::from_secs(10))
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(opts)
        .await
        .unwrap();
    (SqlxStore::sqlite(pool).with_naming(naming), dir)
}

pub async fn pg_pool() -> sqlx::PgPool {
    let url = std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_POSTGRES_URL is not set: run scripts/test.sh (it starts a throwaway PostgreSQL and sets it), or `source scripts/postgres.sh`"
        )
    });
    let admin = sqlx::PgPool::connect(&url).await.unwrap_or_else(|e| {
        panic!("cannot connect to TEST_POSTGRES_URL ({e}): run scripts/test.sh")
    });
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("create database {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let mut opts: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    opts = opts.database(&name);
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(opts)
        .await
        .unwrap()
}

pub async fn mysql_pool() -> sqlx::MySqlPool {
    let url = std::env::var("TEST_MARIADB_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_MARIADB_URL is not set: run scripts/test.sh (it starts a throwaway MariaDB and sets it), or `source scripts/mariadb.sh`"
        )
    });
    let admin = sqlx::MySqlPool::connect(&url).await.unwrap_or_else(|e| {
        panic!("cannot connect to TEST_MARIADB_URL ({e}): run scripts/test.sh")
    });
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("create database {name} character set utf8mb4"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let opts: sqlx::mysql::MySqlConnectOptions = url.parse().unwrap();
    sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(4)
        .connect_with(opts.database(&name))
        .await
        .unwrap()
}

impl Backend {
    pub async fn store(self, naming: ColumnNaming) -> (SqlxStore, Option<tempfile::TempDir>) {
        match self.family() {
            Backend::Postgres => (
                SqlxStore::postgres(pg_pool().await).with_naming(naming),
                None,
            ),
            Backend::MariaDb => (
                SqlxStore::mysql(mysql_pool().await).with_naming(naming),
                None,
            ),
            _ => {
                let (s, d) = sqlite_store(naming).await;
                (s, Some(d))
            }
        }
    }
}

/// Installs Better Auth's schema as the variant `backend` has it: the store's own, or the
/// same text changed (here, with `updatedAt` columns on the organization tables).
async fn install_schema(store: &SqlxStore, backend: Backend, organizations: bool) {
    let Some((ty, not_null)) = backend.org_updated_at() else {
        store
            .install_better_auth_schema(organizations)
            .await
            .unwrap();
        return;
    };
    let text = match backend.family() {
        Backend::Postgres => include_str!("../../schema/better-auth.postgres.sql"),
        Backend::MariaDb => include_str!("../../schema/better-auth.mysql.sql"),
        _ => include_str!("../../schema/better-auth.sqlite.sql"),
    };
    let column = format!(
        r#", "updatedAt" {ty}{}"#,
        if not_null { " not null" } else { "" }
    );
    let mut org_only = false;
    for line in text.lines() {
        let line = line.trim();
        if line == "-- @organizations" {
            org_only = true;
        }
        if line.is_empty() || line.starts_with("--") {
            continue;
        }
        if std::mem::take(&mut org_only) && !organizations {
            continue;
        }
        let mut sql = line.trim_end_matches(';').to_owned();
        match backend {
            Backend::SqliteD1 => sql = sql.replace(" date", " integer"),
            Backend::SqliteD1Millis => {
                sql = sql.replace(
                    " date",
                    " integer default (cast(unixepoch('subsecond') * 1000 as integer))",
                )
            }
            _ => {}
        }
        for table in ["organization", "member", "invitation"] {
            let head = format!(r#"create table if not exists "{table}" ("#);
            if sql.starts_with(&head) {
                // before the table's closing parenthesis (MySQL: before its options)
                let close = sql.rfind(") character set").or_else(|| sql.rfind(')'));
                if let Some(close) = close {
                    sql.insert_str(close, &column);
                }
            }
        }
        if store.naming() == ColumnNaming::SnakeCase {
            sql = snake_quoted(&sql);
        }
        exec(store, &sql, &[]).await;
    }
}

/// Every `"quotedIdentifier"` in snake_case.
fn snake_quoted(sql: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in sql.chars() {
        if c == '"' {
            quoted = !quoted;
            out.push(c);
        } else if quoted && c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A `$n` timestamp parameter (ISO text) for `table.column` as the store's database
/// takes it.
pub fn ts_param(store: &SqlxStore, n: usize) -> String {
    let integer = store
        .date_storage()
        .into_iter()
        .find(|(k, _)| k == "member.createdAt")
        .map(|(_, s)| s);
    if integer == Some(attio_auth_plugin::store::DateStorage::Millis) {
        format!("cast(round((julianday(${n}) - 2440587.5) * 86400000.0) as integer)")
    } else if integer.is_some() && store.sqlite_pool().is_some() {
        format!("cast(strftime('%s', ${n}) as integer)")
    } else if store.is_postgres() {
        format!("${n}::timestamptz")
    } else if store.mysql_pool().is_some() {
        format!("cast(replace(replace(${n}, 'T', ' '), 'Z', '') as datetime(3))")
    } else {
        format!("${n}")
    }
}

/// A statement written for SQLite/PostgreSQL (`"quoted"` identifiers, `$n` in order) for
/// MySQL: backticks and `?`.
pub fn mysql_sql(sql: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_string = !in_string;
                out.push(c);
            }
            '"' if !in_string => out.push('`'),
            '$' if !in_string && chars.peek().is_some_and(char::is_ascii_digit) => {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                out.push('?');
            }
            _ => out.push(c),
        }
    }
    out
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, Opts::default()).await
}

/// [`spawn`] with the legacy body secret accepted.
pub async fn spawn_legacy(backend: Backend) -> TestApp {
    spawn_with(
        backend,
        Opts {
            legacy: true,
            ..Opts::default()
        },
    )
    .await
}

pub async fn spawn_with(backend: Backend, opts: Opts) -> TestApp {
    init_tracing();
    let mut opts = opts;
    if let Some(naming) = backend.forced_naming() {
        opts.naming = naming;
    }
    let (store, dir) = backend.store(opts.naming).await;
    install_schema(&store, backend, opts.organizations).await;
    store.migrate().await.unwrap();
    // migrate() twice is a no-op.
    store.migrate().await.unwrap();
    let seed = seed(
        &store,
        opts.organizations,
        backend
            .org_updated_at()
            .is_some_and(|(_, not_null)| not_null),
    )
    .await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let origin = format!("http://{addr}");
    let url = format!("{origin}/api/auth");
    let mailer = Arc::new(MemoryMailer::new());
    let mut b = AttioPlugin::builder()
        .secret(SECRET)
        .secret(LEGACY_SECRET)
        .store(store.clone())
        .accept_legacy_body_secret(opts.legacy);
    if opts.mailer {
        b = b.shared_mailer(mailer.clone());
    }
    if opts.base_url {
        b = b.base_url(url.clone());
    }
    if opts.sync {
        // A snake_case store gets a snake_case reporter from the builder (not said twice).
        b = b.sync(SyncReporter::new(Adapters::default()));
    }
    let plugin = b.build().unwrap();
    let app: axum::Router = axum::Router::new().nest("/api/auth", plugin.router());
    let plugin_handle = plugin.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestApp {
        backend,
        url,
        origin,
        store,
        mailer,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        signer: Signer::new(&[SECRET]).unwrap(),
        seed,
        plugin: plugin_handle,
        _dir: dir,
    }
}

pub fn iso(offset_secs: i64) -> String {
    let t = chrono::Utc::now() + chrono::TimeDelta::seconds(offset_secs);
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `updated_at_required`: the host's own member insert writes `updatedAt` (NOT NULL).
async fn seed(store: &SqlxStore, organizations: bool, updated_at_required: bool) -> Seed {
    let mk = |id: &str, name: &str, email: &str, role: &str| NewUser {
        id: id.to_owned(),
        name: name.to_owned(),
        email: email.to_owned(),
        email_verified: true,
        image: None,
        role: Some(role.to_owned()),
        attio_id: None,
        now: iso(-3600),
    };
    let alice = "aliceAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned();
    let bob = "bobBBBBBBBBBBBBBBBBBBBBBBBBBBBBB".to_owned();
    let carol = "carolCCCCCCCCCCCCCCCCCCCCCCCCCCC".to_owned();
    store
        .create_user(
            mk(&alice, "Alice Admin", "alice@example.com", "admin"),
            None,
        )
        .await
        .unwrap();
    store
        .create_user(mk(&bob, "Bob B. Member", "bob@example.com", "user"), None)
        .await
        .unwrap();
    store
        .create_user(mk(&carol, "Carol", "carol@example.com", "user"), None)
        .await
        .unwrap();
    let bob_session_id = "bobSession1xxxxxxxxxxxxxxxxxxxxx".to_owned();
    let bob_session_token = "bobToken1xxxxxxxxxxxxxxxxxxxxxxx".to_owned();
    for (i, (id, token)) in [
        (bob_session_id.clone(), bob_session_token.clone()),
        (
            "bobSession2xxxxxxxxxxxxxxxxxxxxx".to_owned(),
            "bobToken2xxxxxxxxxxxxxxxxxxxxxxx".to_owned(),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .create_session(NewSession {
                id,
                token,
                user_id: bob.clone(),
                expires_at: iso(7 * 24 * 3600),
                now: iso(-100 + i64::try_from(i).unwrap()),
                ip_address: (i == 0).then(|| "203.0.113.7".to_owned()),
                user_agent: None,
                impersonated_by: None,
            })
            .await
            .unwrap();
    }
    store
        .create_session(NewSession {
            id: "aliceSessionxxxxxxxxxxxxxxxxxxxx".to_owned(),
            token: "aliceTokenxxxxxxxxxxxxxxxxxxxxxx".to_owned(),
            user_id: alice.clone(),
            expires_at: iso(7 * 24 * 3600),
            now: iso(-50),
            ip_address: None,
            user_agent: Some("Browser".to_owned()),
            impersonated_by: None,
        })
        .await
        .unwrap();
    let org = "orgACMEXXXXXXXXXXXXXXXXXXXXXXXXX".to_owned();
    if organizations {
        store
            .create_organization(
                NewOrganization {
                    id: org.clone(),
                    name: "Acme Corporation".to_owned(),
                    slug: "acme".to_owned(),
                    logo: None,
                    attio_id: None,
                    owner: Some(("memberAliceXXXXXXXXXXXXXXXXXXXXX".to_owned(), alice.clone())),
                    now: iso(-3000),
                },
                None,
            )
            .await
            .unwrap();
        let ts = ts_param(store, 4);
        let (m, o, u, r, c) = match store.naming() {
            ColumnNaming::CamelCase => ("member", "organizationId", "userId", "role", "createdAt"),
            ColumnNaming::SnakeCase => {
                ("member", "organization_id", "user_id", "role", "created_at")
            }
        };
        let (extra_col, extra_val) = match (updated_at_required, store.naming()) {
            (false, _) => (String::new(), String::new()),
            (true, ColumnNaming::CamelCase) => (r#", "updatedAt""#.to_owned(), format!(", {ts}")),
            (true, ColumnNaming::SnakeCase) => (r#", "updated_at""#.to_owned(), format!(", {ts}")),
        };
        let sql = format!(
            r#"insert into "{m}" ("id", "{o}", "{u}", "{r}", "{c}"{extra_col}) values ($1, $2, $3, 'member', {ts}{extra_val})"#
        );
        exec(
            store,
            &sql,
            &["memberBobXXXXXXXXXXXXXXXXXXXXXXX", &org, &bob, &iso(-2000)],
        )
        .await;
    }
    Seed {
        alice,
        bob,
        carol,
        org,
        bob_session_id,
        bob_session_token,
    }
}

/// Runs SQL with text parameters on the store's pool.
pub async fn exec(store: &SqlxStore, sql: &str, params: &[&str]) {
    if let Some(p) = store.sqlite_pool() {
        let mut q = sqlx::query(sql);
        for v in params {
            q = q.bind(v.to_string());
        }
        q.execute(p).await.unwrap();
    } else if let Some(p) = store.postgres_pool() {
        let mut q = sqlx::query(sql);
        for v in params {
            q = q.bind(v.to_string());
        }
        q.execute(p).await.unwrap();
    } else if let Some(p) = store.mysql_pool() {
        let sql = mysql_sql(sql);
        let mut q = sqlx::query(&sql);
        for v in params {
            q = q.bind(v.to_string());
        }
        q.execute(p).await.unwrap();
    }
}

/// Every row of the Better Auth tables and the links, as JSON text: equal before and after
/// a refused request means it changed nothing.
pub async fn snapshot(app: &TestApp) -> Vec<String> {
    let mut tables = vec![
        "user",
        "session",
        "account",
        "verification",
        "attioIntegration",
    ];
    if app.store.features().organizations {
        tables.extend(["organization", "member", "invitation"]);
    }
    let mut out = Vec::new();
    for t in tables {
        let t = match app.store.naming() {
            ColumnNaming::CamelCase => t.to_owned(),
            ColumnNaming::SnakeCase => snake(t),
        };
        out.push(format!("-- {t}"));
        out.extend(table_rows(app, &t).await);
    }
    out.push("-- outbox".to_owned());
    out.extend(table_rows(app, "attio_outbox").await);
    out
}

fn snake(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            o.push('_');
            o.push(c.to_ascii_lowercase());
        } else {
            o.push(c);
        }
    }
    o
}

pub async fn table_rows(app: &TestApp, table: &str) -> Vec<String> {
    use sqlx::Row;
    let table = &match app.store.naming() {
        ColumnNaming::CamelCase => table.to_owned(),
        ColumnNaming::SnakeCase => snake(table),
    };
    if let Some(p) = app.store.mysql_pool() {
        let cols: Vec<String> = sqlx::query_scalar(
            "select cast(column_name as char) from information_schema.columns \
             where table_schema = database() and table_name = ? order by ordinal_position",
        )
        .bind(table)
        .fetch_all(p)
        .await
        .unwrap();
        let pairs: Vec<String> = cols.iter().map(|c| format!("'{c}', `{c}`")).collect();
        let sql = format!(
            "select cast(json_object({}) as char) from `{table}` order by 1",
            pairs.join(", ")
        );
        return sqlx::query(&sql)
            .fetch_all(p)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
    }
    if let Some(p) = app.store.sqlite_pool() {
        let cols: Vec<String> = sqlx::query_scalar("select name from pragma_table_info($1)")
            .bind(table)
            .fetch_all(p)
            .await
            .unwrap();
        let pairs: Vec<String> = cols.iter().map(|c| format!("'{c}', \"{c}\"")).collect();
        let sql = format!(
            "select json_object({}) from \"{table}\" order by 1",
            pairs.join(", ")
        );
        sqlx::query(&sql)
            .fetch_all(p)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect()
    } else {
        let p = app.store.postgres_pool().unwrap();
        let sql = format!("select row_to_json(t)::text from \"{table}\" t order by 1");
        sqlx::query(&sql)
            .fetch_all(p)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect()
    }
}

pub async fn count(app: &TestApp, table: &str) -> usize {
    table_rows(app, table).await.len()
}

impl TestApp {
    /// The signed body of `action` with `params`.
    pub fn signed_body(action: &str, params: Value) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("action".into(), json!(action));
        if let Value::Object(p) = params {
            m.extend(p);
        }
        serde_json::to_vec(&Value::Object(m)).unwrap()
    }

    /// POSTs raw bytes to `/attio/{route}` with the given headers.
    pub async fn post_raw(&self, route: &str, body: Vec<u8>, headers: &[(&str, String)]) -> Resp {
        let mut req = self
            .client
            .post(format!("{}/attio/{route}", self.url))
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.unwrap();
        to_resp(resp).await
    }

    /// Signed headers for `body` with an explicit id and timestamp.
    pub fn sign_headers(&self, id: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
        sign_headers(&self.signer, id, ts, body)
    }

    /// A signed call of `action` with `params` (fresh id, current time).
    pub async fn call(&self, action: &str, params: Value) -> Resp {
        let body = Self::signed_body(action, params);
        let id = message_id();
        let h = self.sign_headers(&id, now(), &body);
        self.post_raw(action, body, &h).await
    }

    /// A legacy call: `{"secret": ..., ...params}` without signature headers.
    pub async fn legacy(&self, action: &str, secret: &str, params: Value) -> Resp {
        let mut m = Map::new();
        m.insert("secret".into(), json!(secret));
        if let Value::Object(p) = params {
            m.extend(p);
        }
        self.post_raw(
            action,
            serde_json::to_vec(&Value::Object(m)).unwrap(),
            &[("content-type", "application/json".to_owned())],
        )
        .await
    }

    pub async fn get(&self, path_and_query: &str, headers: &[(&str, String)]) -> Resp {
        let mut req = self.client.get(format!("{}{path_and_query}", self.url));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        to_resp(req.send().await.unwrap()).await
    }
}

/// The headers of a call signed by `signer` as the backend signs it.
pub fn sign_headers(
    signer: &Signer,
    id: &str,
    ts: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".to_owned()),
        (HEADER_ID, id.to_owned()),
        (HEADER_TIMESTAMP, ts.to_string()),
        (HEADER_SIGNATURE, signer.sign(id, ts, body)),
    ]
}

/// A fresh message id.
pub fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

/// A caller of a plugin other than [`TestApp`]'s own (another configuration of it, or
/// another store): its base URL, a client that does not follow redirects, and the signer
/// of its calls (the tests' `whsec_` secret unless changed).
pub struct Caller {
    pub url: String,
    pub client: reqwest::Client,
    pub signer: Signer,
}

impl Caller {
    /// Calls the plugin served at `url` (its `/api/auth` base).
    pub fn at(url: String) -> Self {
        Self {
            url,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            signer: Signer::new(&[SECRET]).unwrap(),
        }
    }

    /// Serves `plugin` under `/api/auth` on its own port with the peer address known (as
    /// a host serving with connect info does), and calls it.
    pub async fn serve(plugin: AttioPlugin) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/auth", listener.local_addr().unwrap());
        let app: axum::Router = axum::Router::new().nest("/api/auth", plugin.router());
        tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await;
        });
        Self::at(url)
    }

    /// A signed call of `action` with `params` (fresh id, current time).
    pub async fn call(&self, action: &str, params: Value) -> Resp {
        self.call_with_id(&message_id(), action, params).await
    }

    /// A signed call with this message id (a replay sends the same one again).
    pub async fn call_with_id(&self, id: &str, action: &str, params: Value) -> Resp {
        let body = TestApp::signed_body(action, params);
        let mut req = self
            .client
            .post(format!("{}/attio/{action}", self.url))
            .body(body.clone());
        for (k, v) in sign_headers(&self.signer, id, now(), &body) {
            req = req.header(k, v);
        }
        to_resp(req.send().await.unwrap()).await
    }

    /// A legacy call: `{"secret": LEGACY_SECRET, ...params}` (`params` may name another
    /// secret) without signature headers.
    pub async fn legacy(&self, action: &str, params: Value) -> Resp {
        let mut body = json!({"secret": LEGACY_SECRET});
        if let (Some(m), Value::Object(p)) = (body.as_object_mut(), params) {
            m.extend(p);
        }
        let resp = self
            .client
            .post(format!("{}/attio/{action}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        to_resp(resp).await
    }

    /// A plain GET of `path_and_query` below the base URL.
    pub async fn get(&self, path_and_query: &str) -> Resp {
        let resp = self
            .client
            .get(format!("{}{path_and_query}", self.url))
            .send()
            .await
            .unwrap();
        to_resp(resp).await
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub async fn to_resp(resp: reqwest::Response) -> Resp {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let raw = resp.text().await.unwrap();
    let body = if raw.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&raw).unwrap_or(Value::String(raw.clone()))
    };
    Resp {
        status,
        body,
        raw,
        headers,
    }
}

/// Runs each named `async fn(Backend)` of the calling module as a test on one backend.
macro_rules! suite {
    ($backend:expr, $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::common::init_tracing();
                super::$name($backend).await;
            }
        )*
    };
}

/// The suite on both backends: `sqlite::name` and `postgres::name` for each named function.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            suite!(super::Backend::Sqlite, $($name),*);
        }
        mod postgres {
            suite!(super::Backend::Postgres, $($name),*);
        }
    };
}

/// The suite on each database family, in Better Auth's own schema: [`both!`] and MariaDB
/// (for suites about the plugin's own tables, where schema variants change nothing).
macro_rules! databases {
    ($($name:ident),* $(,)?) => {
        both!($($name),*);
        mod mariadb {
            suite!(super::Backend::MariaDb, $($name),*);
        }
    };
}

/// The suite on every backend and schema variant: [`both!`], MariaDB, Better Auth schemas
/// with `updatedAt` on the organization tables (NOT NULL on a snake_case SQLite one,
/// nullable on a camelCase PostgreSQL one), and a D1-shaped one (integer dates).
macro_rules! every {
    ($($name:ident),* $(,)?) => {
        both!($($name),*);
        mod mariadb {
            suite!(super::Backend::MariaDb, $($name),*);
        }
        mod sqlite_updated_at_not_null {
            suite!(super::Backend::SqliteUpdatedAtNotNull, $($name),*);
        }
        mod postgres_updated_at_nullable {
            suite!(super::Backend::PostgresUpdatedAtNullable, $($name),*);
        }
        mod sqlite_d1 {
            suite!(super::Backend::SqliteD1, $($name),*);
        }
        mod sqlite_d1_millis {
            suite!(super::Backend::SqliteD1Millis, $($name),*);
        }
    };
}

/// `TEST_LOG=1` shows the plugin's traces (filtered by `RUST_LOG`, `debug` by default) in
/// the test output; without it the tests stay quiet.
pub fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("debug"));
    // Several tests share the process: the first one installs the subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
