//! Test harness: a fresh database per test (a SQLite file in a temp dir, or a new
//! PostgreSQL database made from TEST_POSTGRES_URL), Better Auth's schema with seed data,
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

impl Backend {
    pub async fn store(self, naming: ColumnNaming) -> (SqlxStore, Option<tempfile::TempDir>) {
        match self {
            Backend::Sqlite => {
                let (s, d) = sqlite_store(naming).await;
                (s, Some(d))
            }
            Backend::Postgres => (
                SqlxStore::postgres(pg_pool().await).with_naming(naming),
                None,
            ),
        }
    }
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, Opts::default()).await
}

pub async fn spawn_with(backend: Backend, opts: Opts) -> TestApp {
    init_tracing();
    let (store, dir) = backend.store(opts.naming).await;
    store
        .install_better_auth_schema(opts.organizations)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    // migrate() twice is a no-op.
    store.migrate().await.unwrap();
    let seed = seed(&store, opts.organizations).await;

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
        let mut reporter = SyncReporter::new(Adapters::default());
        if opts.naming == ColumnNaming::SnakeCase {
            reporter = reporter.snake_case();
        }
        b = b.sync(reporter);
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

async fn seed(store: &SqlxStore, organizations: bool) -> Seed {
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
        let pg = store.is_postgres();
        let ts = if pg { "$4::timestamptz" } else { "$4" };
        let (m, o, u, r, c) = match store.naming() {
            ColumnNaming::CamelCase => ("member", "organizationId", "userId", "role", "createdAt"),
            ColumnNaming::SnakeCase => {
                ("member", "organization_id", "user_id", "role", "created_at")
            }
        };
        let sql = format!(
            r#"insert into "{m}" ("id", "{o}", "{u}", "{r}", "{c}") values ($1, $2, $3, 'member', {ts})"#
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
        vec![
            ("content-type", "application/json".to_owned()),
            (HEADER_ID, id.to_owned()),
            (HEADER_TIMESTAMP, ts.to_string()),
            (HEADER_SIGNATURE, self.signer.sign(id, ts, body)),
        ]
    }

    /// A signed call of `action` with `params` (fresh id, current time).
    pub async fn call(&self, action: &str, params: Value) -> Resp {
        let body = Self::signed_body(action, params);
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
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

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn to_resp(resp: reqwest::Response) -> Resp {
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
