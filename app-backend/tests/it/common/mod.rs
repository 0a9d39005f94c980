//! Test harness: the real backend on 127.0.0.1:0 with a fresh database (SQLite in a temp dir,
//! or a fresh PostgreSQL database from TEST_POSTGRES_URL), a small fake of the Attio API and a
//! small fake auth plugin, each on its own random port. The benchmarks include this file too.
#![allow(
    dead_code,
    unused_macros,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

/// Each named scenario (`async fn name(db: DbChoice)` in the calling module) as two tests,
/// `sqlite::name` and `postgres::name`. A leading attribute picks the test runtime
/// (`#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`); the default is
/// `#[tokio::test]`.
macro_rules! both {
    (#[$test:meta] $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[$test]
                async fn $name() {
                    super::$name($crate::common::DbChoice::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[$test]
                async fn $name() {
                    super::$name($crate::common::DbChoice::Postgres).await;
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        both!(#[tokio::test] $($name),*);
    };
}

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use attio_auth_backend::{Application, Config};
use attio_auth_shared::connection::{Connection, Protocol};
use attio_auth_shared::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, Signer, Verifier};

mod sandbox;
pub use sandbox::*;

pub const WORKSPACE_ID: &str = "9a0b5c1e-0000-4000-8000-00000000a771";
pub const ATTIO_TOKEN: &str = "attio-test-token";
/// The acting Attio workspace member of the tests (fake Attio and sandbox workspaces).
pub const MEMBER_ID: &str = "5e0a1c2d-0000-4000-8000-0000000000a1";
/// Their email, as Attio knows it.
pub const MEMBER_EMAIL: &str = "admin@acme.com";

/// `body` with `actor.workspaceMemberId` set to [`MEMBER_ID`] unless it names one.
pub fn with_actor(mut body: Value) -> Value {
    if body
        .get("actor")
        .and_then(|a| a.get("workspaceMemberId"))
        .is_none()
    {
        if !body["actor"].is_object() {
            body["actor"] = json!({});
        }
        body["actor"]["workspaceMemberId"] = json!(MEMBER_ID);
    }
    body
}

/// Make [`MEMBER_ID`] ([`MEMBER_EMAIL`]) an admin member of a sandbox workspace.
pub fn add_sandbox_member(workspace_id: uuid::Uuid) {
    let id = uuid::Uuid::parse_str(MEMBER_ID).unwrap();
    assert!(attio_sandbox::add_workspace_member(
        workspace_id,
        attio_sandbox::WorkspaceMember::admin(id, MEMBER_EMAIL)
    ));
}

/// Serve `router` on a random loopback port.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    addr
}

// ------------------------------------------------------------------------------------------
// Fake Attio
// ------------------------------------------------------------------------------------------

#[derive(Default)]
pub struct AttioFakeState {
    pub enabled_objects: Vec<String>,
    /// object -> attribute slugs
    pub attributes: HashMap<String, Vec<String>>,
    /// object -> record id -> record JSON
    pub records: HashMap<String, HashMap<String, Value>>,
    pub webhooks: HashMap<String, Value>,
    pub created_attributes: Vec<(String, Value)>,
    /// Workspace member id -> email.
    pub members: HashMap<String, String>,
    /// Answer this many 429s before serving (any route).
    pub fail_429: u32,
    /// Answer this many 500s before serving (any route).
    pub fail_500: u32,
    pub calls: Vec<String>,
}

#[derive(Clone)]
pub struct FakeAttio {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<AttioFakeState>>,
}

impl FakeAttio {
    pub fn url(&self) -> String {
        format!("http://{}/v2", self.addr)
    }

    pub fn seed_user(&self, record_id: &str, user_id: &str, email: &str) {
        let record = json!({
            "id": {"workspace_id": WORKSPACE_ID, "object_id": "obj-users", "record_id": record_id},
            "created_at": "2026-01-01T00:00:00.000000000Z",
            "web_url": format!("https://app.attio.com/x/{record_id}"),
            "values": {
                "user_id": [{"active_from": "2026-01-01T00:00:00.000000000Z", "active_until": null,
                    "created_by_actor": {"type": "api-token", "id": "t"}, "attribute_type": "text", "value": user_id}],
                "primary_email_address": [{"active_from": "2026-01-01T00:00:00.000000000Z", "active_until": null,
                    "created_by_actor": {"type": "api-token", "id": "t"}, "attribute_type": "email-address",
                    "original_email_address": email, "email_address": email, "email_domain": "example.com",
                    "email_root_domain": "example.com", "email_local_specifier": "x"}]
            }
        });
        self.state
            .lock()
            .unwrap()
            .records
            .entry("users".into())
            .or_default()
            .insert(record_id.into(), record);
    }

    pub fn seed_workspace(&self, record_id: &str, workspace_id: &str) {
        let record = json!({
            "id": {"workspace_id": WORKSPACE_ID, "object_id": "obj-workspaces", "record_id": record_id},
            "created_at": "2026-01-01T00:00:00.000000000Z",
            "web_url": "https://app.attio.com/x",
            "values": {
                "workspace_id": [{"active_from": "2026-01-01T00:00:00.000000000Z", "active_until": null,
                    "created_by_actor": {"type": "api-token", "id": "t"}, "attribute_type": "text", "value": workspace_id}]
            }
        });
        self.state
            .lock()
            .unwrap()
            .records
            .entry("workspaces".into())
            .or_default()
            .insert(record_id.into(), record);
    }
}

fn attio_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"status_code": status.as_u16(), "type": "invalid_request_error", "code": code, "message": message})),
    )
        .into_response()
}

/// Common checks of every fake Attio route: token, injected failures, call log.
fn gate(s: &Arc<Mutex<AttioFakeState>>, headers: &HeaderMap, what: String) -> Option<Response> {
    let mut st = s.lock().unwrap();
    st.calls.push(what);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {ATTIO_TOKEN}") {
        return Some(attio_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Invalid token",
        ));
    }
    if st.fail_429 > 0 {
        st.fail_429 -= 1;
        let at = httpdate::fmt_http_date(
            std::time::SystemTime::now() + std::time::Duration::from_secs(1),
        );
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", at)],
                Json(json!({"status_code": 429, "type": "rate_limit_error", "code": "rate_limit_exceeded", "message": "Rate limit exceeded, please try again later"})),
            )
                .into_response(),
        );
    }
    if st.fail_500 > 0 {
        st.fail_500 -= 1;
        return Some(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    None
}

type AS = State<Arc<Mutex<AttioFakeState>>>;

async fn a_self(State(s): AS, h: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &h, "GET /self".into()) {
        return r;
    }
    Json(json!({"active": true, "workspace_id": WORKSPACE_ID, "workspace_name": "Acme", "scope": "object_configuration:read-write record_permission:read-write webhook:read-write"})).into_response()
}

async fn a_object(State(s): AS, Path(slug): Path<String>, h: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &h, format!("GET /objects/{slug}")) {
        return r;
    }
    let st = s.lock().unwrap();
    if !st.enabled_objects.contains(&slug) {
        return attio_error(StatusCode::NOT_FOUND, "not_found", "Object not found");
    }
    Json(json!({"data": {"id": {"workspace_id": WORKSPACE_ID, "object_id": format!("obj-{slug}")}, "api_slug": slug, "singular_noun": slug, "plural_noun": slug, "created_at": "2025-01-01T00:00:00Z"}})).into_response()
}

async fn a_list_attributes(State(s): AS, Path(slug): Path<String>, h: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &h, format!("GET /objects/{slug}/attributes")) {
        return r;
    }
    let st = s.lock().unwrap();
    let attrs: Vec<Value> = st
        .attributes
        .get(&slug)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|a| json!({"api_slug": a, "type": "text", "is_unique": false, "is_archived": false, "is_multiselect": a == "users" || a == "workspace"}))
        .collect();
    Json(json!({"data": attrs})).into_response()
}

async fn a_create_attribute(
    State(s): AS,
    Path(slug): Path<String>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = gate(&s, &h, format!("POST /objects/{slug}/attributes")) {
        return r;
    }
    let mut st = s.lock().unwrap();
    let api_slug = body["data"]["api_slug"].as_str().unwrap_or("").to_owned();
    let list = st.attributes.entry(slug.clone()).or_default();
    if list.contains(&api_slug) {
        return attio_error(StatusCode::CONFLICT, "slug_conflict", "Slug taken");
    }
    list.push(api_slug);
    st.created_attributes.push((slug, body.clone()));
    Json(json!({"data": body["data"]})).into_response()
}

async fn a_get_record(
    State(s): AS,
    Path((object, id)): Path<(String, String)>,
    h: HeaderMap,
) -> Response {
    if let Some(r) = gate(&s, &h, format!("GET /objects/{object}/records/{id}")) {
        return r;
    }
    let st = s.lock().unwrap();
    match st.records.get(&object).and_then(|m| m.get(&id)) {
        Some(r) => Json(json!({"data": r})).into_response(),
        None => attio_error(StatusCode::NOT_FOUND, "not_found", "Record not found"),
    }
}

async fn a_get_member(State(s): AS, Path(id): Path<String>, h: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &h, format!("GET /workspace_members/{id}")) {
        return r;
    }
    let st = s.lock().unwrap();
    match st.members.get(&id) {
        Some(email) => Json(json!({"data": {
            "id": {"workspace_id": WORKSPACE_ID, "workspace_member_id": id},
            "first_name": "A", "last_name": "B", "avatar_url": null, "email_address": email,
            "created_at": "2026-01-01T00:00:00.000000000Z", "access_level": "admin"}}))
        .into_response(),
        None => attio_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("Workspace member with ID \"{id}\" not found."),
        ),
    }
}

async fn a_query(State(s): AS, Path(slug): Path<String>, h: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &h, format!("POST /objects/{slug}/records/query")) {
        return r;
    }
    Json(json!({"data": []})).into_response()
}

async fn a_create_webhook(State(s): AS, h: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(r) = gate(&s, &h, "POST /webhooks".into()) {
        return r;
    }
    let mut st = s.lock().unwrap();
    let id = format!("wh-{}", st.webhooks.len() + 1);
    st.webhooks.insert(id.clone(), body["data"].clone());
    Json(json!({"data": {"target_url": body["data"]["target_url"], "subscriptions": body["data"]["subscriptions"],
        "id": {"workspace_id": WORKSPACE_ID, "webhook_id": id}, "status": "active", "created_at": "2026-01-01T00:00:00Z",
        "secret": "attio-webhook-secret"}})).into_response()
}

async fn a_delete_webhook(State(s): AS, Path(id): Path<String>, h: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &h, format!("DELETE /webhooks/{id}")) {
        return r;
    }
    let mut st = s.lock().unwrap();
    match st.webhooks.remove(&id) {
        Some(_) => Json(json!({})).into_response(),
        None => attio_error(StatusCode::NOT_FOUND, "not_found", "Webhook not found"),
    }
}

pub async fn spawn_attio() -> FakeAttio {
    let state = Arc::new(Mutex::new(AttioFakeState {
        enabled_objects: vec!["users".into(), "workspaces".into(), "people".into()],
        attributes: HashMap::from([
            (
                "users".to_owned(),
                vec!["user_id".to_owned(), "primary_email_address".to_owned()],
            ),
            (
                "workspaces".to_owned(),
                vec![
                    "workspace_id".to_owned(),
                    "name".to_owned(),
                    "users".to_owned(),
                ],
            ),
        ]),
        members: HashMap::from([
            (MEMBER_ID.to_owned(), MEMBER_EMAIL.to_owned()),
            ("wm-1".to_owned(), "support@acme.com".to_owned()),
        ]),
        ..Default::default()
    }));
    let router = Router::new()
        .route("/v2/self", get(a_self))
        .route("/v2/objects/{slug}", get(a_object))
        .route(
            "/v2/objects/{slug}/attributes",
            get(a_list_attributes).post(a_create_attribute),
        )
        .route("/v2/objects/{slug}/records/query", post(a_query))
        .route("/v2/objects/{object}/records/{id}", get(a_get_record))
        .route("/v2/workspace_members/{id}", get(a_get_member))
        .route("/v2/webhooks", post(a_create_webhook))
        .route("/v2/webhooks/{id}", axum::routing::delete(a_delete_webhook))
        .with_state(state.clone());
    let addr = serve(router).await;
    FakeAttio { addr, state }
}

// ------------------------------------------------------------------------------------------
// Fake plugin
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct PluginCall {
    pub action: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

#[derive(Default)]
pub struct PluginFakeState {
    pub calls: Vec<PluginCall>,
    /// When true, `ping` answers 404 (the original TypeScript plugin has none).
    pub no_ping: bool,
    /// Answer 503 to everything.
    pub down: bool,
    /// Answer 503 to these actions only (e.g. `link`, to fail one install step).
    pub failing_actions: Vec<String>,
    /// What `export` pages through: users, then organizations.
    pub export_users: Vec<Value>,
    /// Organizations for `export` (all on the page after the last users).
    pub export_orgs: Vec<Value>,
    /// Action -> gate: a call of that action is recorded, then waits for a permit before it
    /// is answered (a slow auth server, released by the test).
    pub gates: HashMap<String, Arc<tokio::sync::Semaphore>>,
    /// Action -> how long each of its calls takes (a slow auth server, for benchmarks).
    pub delays: HashMap<String, std::time::Duration>,
    /// The connection whose secret the plugin has moved to (its operator set the rotated
    /// `ATTIO_SECRET`): only that secret is accepted from then on.
    pub moved_to: Option<Connection>,
}

#[derive(Clone)]
pub struct FakePlugin {
    pub addr: SocketAddr,
    pub connection: Connection,
    pub state: Arc<Mutex<PluginFakeState>>,
}

impl FakePlugin {
    /// Hold every call of `action` until the test adds permits to the returned gate.
    pub fn gate(&self, action: &str) -> Arc<tokio::sync::Semaphore> {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        self.state
            .lock()
            .unwrap()
            .gates
            .insert(action.to_owned(), gate.clone());
        gate
    }

    /// The event URL the backend gave this plugin when it linked it.
    pub fn event_url(&self) -> String {
        self.calls("link")[0].body["webhookUrl"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn calls(&self, action: &str) -> Vec<PluginCall> {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.action == action)
            .cloned()
            .collect()
    }
}

async fn plugin_route(
    State((s, conn)): State<(Arc<Mutex<PluginFakeState>>, Connection)>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let hdr = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    {
        let mut st = s.lock().unwrap();
        st.calls.push(PluginCall {
            action: action.clone(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: parsed.clone(),
        });
        if st.down || st.failing_actions.contains(&action) {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        if action == "ping" && st.no_ping {
            return StatusCode::NOT_FOUND.into_response();
        }
    }
    let (gate, delay) = {
        let st = s.lock().unwrap();
        (
            st.gates.get(&action).cloned(),
            st.delays.get(&action).copied(),
        )
    };
    if let Some(gate) = gate {
        gate.acquire().await.unwrap().forget();
    }
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let conn = s.lock().unwrap().moved_to.clone().unwrap_or(conn);
    match conn.protocol {
        Protocol::SignedV1 => {
            let v = Verifier::from_secret(conn.secret()).unwrap();
            if let Err(e) = v.verify(
                &hdr(HEADER_ID),
                &hdr(HEADER_TIMESTAMP),
                &hdr(HEADER_SIGNATURE),
                &body,
                now_secs(),
            ) {
                return (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"message": e.to_string(), "code": e.code()})),
                )
                    .into_response();
            }
            if parsed["action"] != Value::String(action.clone()) {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"message": "action mismatch", "code": "ACTION_MISMATCH"})),
                )
                    .into_response();
            }
        }
        Protocol::Legacy => {
            if parsed["secret"].as_str() != Some(conn.secret().expose_secret()) {
                return StatusCode::UNAUTHORIZED.into_response();
            }
        }
    }
    let answer = match action.as_str() {
        "ping" => {
            json!({"ok": true, "version": "0.1.0-fake", "features": {"admin": true, "organizations": true, "mailer": true, "impersonation": true, "sync": true, "legacyProtocol": false}})
        }
        "link" => json!({"webhookId": "link-1"}),
        "user-details" => {
            if parsed["userId"] == "missing-user" {
                return (
                    StatusCode::NOT_FOUND,
                    Json(json!({"message": "User not found", "code": "USER_NOT_FOUND"})),
                )
                    .into_response();
            }
            json!({"banned": false, "bannedUntil": null, "banReason": null, "role": "user"})
        }
        "sessions" => json!({"sessions": [], "total": 0}),
        "export" => {
            let st = s.lock().unwrap();
            let start: usize = parsed["cursor"]
                .as_str()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let limit = parsed["limit"].as_u64().unwrap_or(100) as usize;
            if start < st.export_users.len() {
                let end = (start + limit).min(st.export_users.len());
                json!({"users": st.export_users[start..end], "organizations": [],
                       "nextCursor": end.to_string()})
            } else {
                json!({"users": [], "organizations": st.export_orgs, "nextCursor": null})
            }
        }
        _ => json!({"success": true}),
    };
    Json(answer).into_response()
}

pub async fn spawn_plugin(protocol: Protocol) -> FakePlugin {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connection = match protocol {
        Protocol::SignedV1 => Connection::generate(&format!("http://{addr}"), None).unwrap(),
        Protocol::Legacy => Connection::new(
            format!("http://{addr}"),
            "/api/auth",
            Protocol::Legacy,
            secrecy::SecretString::from("attio-test-secret".to_owned()),
        )
        .unwrap(),
    };
    let state = Arc::new(Mutex::new(PluginFakeState::default()));
    let router = Router::new()
        .route("/api/auth/attio/{action}", post(plugin_route))
        .with_state((state.clone(), connection.clone()));
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    FakePlugin {
        addr,
        connection,
        state,
    }
}

// ------------------------------------------------------------------------------------------
// The backend
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbChoice {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub state: attio_auth_backend::AppState,
    pub shutdown: tokio_util::sync::CancellationToken,
    pub config: Config,
    pub _dir: Arc<tempfile::TempDir>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// A fresh PostgreSQL database from TEST_POSTGRES_URL; fails loudly without it.
pub async fn fresh_postgres_url() -> String {
    let base = std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_POSTGRES_URL is not set: PostgreSQL tests need it. Run scripts/test.sh, or \
             `source scripts/postgres.sh` first (it starts a throwaway server)."
        )
    });
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::Executor::execute(&mut conn, format!("create database {name}").as_str())
        .await
        .unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

pub fn test_config(dir: &std::path::Path, db: Option<String>, attio_url: &str) -> Config {
    let mut c = Config::defaults();
    c.bind = "127.0.0.1:0".parse().unwrap();
    c.data_dir = dir.to_path_buf();
    c.database_url = db;
    c.encryption_key = Some(secrecy::SecretString::from(
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned(),
    ));
    c.attio_api_url = attio_url.to_owned();
    c.attio_max_attempts = 4;
    c.http_timeout = std::time::Duration::from_secs(5);
    // Every fake and real plugin of the tests listens on loopback over http.
    c.allow_private_plugin_urls = true;
    c
}

/// `TEST_LOG=1` shows the backend's traces (filtered by `RUST_LOG`, `debug` by default) in
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

pub async fn spawn_app_with(config: Config, dir: Arc<tempfile::TempDir>) -> TestApp {
    init_tracing();
    let app = Application::build(config.clone()).await.unwrap();
    let addr = app.local_addr();
    let state = app.state().clone();
    let shutdown = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        http: reqwest::Client::new(),
        state,
        shutdown,
        config,
        _dir: dir,
    }
}

/// The `DATABASE_URL` of a test on `db`: none for SQLite (a file under the data dir), a
/// fresh database for PostgreSQL.
pub async fn db_url(db: DbChoice) -> Option<String> {
    match db {
        DbChoice::Sqlite => None,
        DbChoice::Postgres => Some(fresh_postgres_url().await),
    }
}

pub async fn spawn_app(db: DbChoice, attio_url: &str) -> TestApp {
    spawn_app_tweaked(db, attio_url, |_| {}).await
}

/// A backend on `db` with `tweak` applied to the test configuration.
pub async fn spawn_app_tweaked(
    db: DbChoice,
    attio_url: &str,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(dir.path(), db_url(db).await, attio_url);
    tweak(&mut config);
    spawn_app_with(config, dir).await
}

/// `POST /v1/installations` with `connection` and an Attio API token: status and body.
pub async fn install(app: &TestApp, connection: &Connection, token: &str) -> (u16, Value) {
    let r = app
        .http
        .post(app.url("/v1/installations"))
        .json(&json!({"connection": connection.encode(), "attioToken": token}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// [`install`], which must succeed: the installation's id.
pub async fn install_ok(app: &TestApp, connection: &Connection, token: &str) -> String {
    let (status, body) = install(app, connection, token).await;
    assert_eq!(status, 201, "{body}");
    body["installation"]["id"].as_str().unwrap().to_owned()
}

/// Wait for a positive signal; the bound only turns a hang into a failure. Checks come 50 ms
/// apart: many read attio-sandbox, whose read budget the backend's token shares.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Now as an RFC 3339 timestamp (a plugin event's `timestamp`).
pub fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Now in Unix seconds (a signature's timestamp).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A plugin sync event about user `user_id` (`kind`: create, update or delete), as the
/// plugin's outbox sends it.
pub fn user_event(id: &str, kind: &str, user_id: &str, name: &str, origin: &str) -> Value {
    let data = if kind == "delete" {
        json!({"_deleted": true, "user_id": user_id})
    } else {
        json!({"record_id": null, "user_id": user_id, "primary_email_address": format!("{user_id}@example.com"),
               "name": name, "email_verified": false})
    };
    json!({
        "id": id, "event": kind, "data": data, "timestamp": now_iso(), "origin": origin,
        "adapter": serde_json::to_value(attio_auth_shared::sync::AdapterInfo::default_user()).unwrap(),
    })
}

/// POST `event` to the backend's event `url`, signed with `connection`'s secret as the
/// plugin signs it.
pub async fn post_signed_event(
    http: &reqwest::Client,
    url: &str,
    connection: &Connection,
    event: &Value,
) -> reqwest::Response {
    let body = serde_json::to_vec(event).unwrap();
    let signer = Signer::from_secret(connection.secret()).unwrap();
    let mut req = http.post(url).header("content-type", "application/json");
    for (k, v) in signer.headers(&body, now_secs()).unwrap().pairs() {
        req = req.header(k, v);
    }
    req.body(body).send().await.unwrap()
}

/// Everything for an action test: an installed workspace.
pub struct World {
    pub app: TestApp,
    pub attio: FakeAttio,
    pub plugin: FakePlugin,
    pub installation_id: String,
}

pub async fn installed(db: DbChoice, protocol: Protocol) -> World {
    installed_with(db, protocol, |_| {}).await
}

/// [`installed`] on a backend with `tweak` applied to the test configuration.
pub async fn installed_with(
    db: DbChoice,
    protocol: Protocol,
    tweak: impl FnOnce(&mut Config),
) -> World {
    let attio = spawn_attio().await;
    let plugin = spawn_plugin(protocol).await;
    let app = spawn_app_tweaked(db, &attio.url(), tweak).await;
    let installation_id = install_ok(&app, &plugin.connection, ATTIO_TOKEN).await;
    World {
        app,
        attio,
        plugin,
        installation_id,
    }
}

/// Sign `body` as the Attio app does for this connection.
pub fn app_headers(conn: &Connection, body: &[u8]) -> Vec<(String, String)> {
    app_headers_for(conn, WORKSPACE_ID, body)
}

/// Sign `body` as the Attio app does, naming `workspace`.
pub fn app_headers_for(conn: &Connection, workspace: &str, body: &[u8]) -> Vec<(String, String)> {
    let secret = attio_auth_backend::app_auth::signing_secret(conn);
    let signer = Signer::from_secret(&secret).unwrap();
    let h = signer.headers(body, now_secs()).unwrap();
    let mut out: Vec<(String, String)> = h
        .pairs()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    out.push(("attio-workspace-id".into(), workspace.into()));
    out
}

/// GET `path` signed as the app (an empty body); returns status and JSON.
pub async fn signed_get(w: &World, path: &str) -> (u16, Value) {
    let mut req = w.app.http.get(w.app.url(path));
    for (k, v) in app_headers(&w.plugin.connection, b"") {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// POST an action signed as the app; returns status and JSON.
pub async fn call_action(w: &World, action: &str, body: Value) -> (u16, Value) {
    call_action_raw(w, action, with_actor(body)).await
}

/// A lifecycle action (`connection-check`, `uninstall`) signed as the app.
pub async fn lifecycle(w: &World, action: &str) -> (u16, Value) {
    call_action(w, action, json!({ "action": action })).await
}

/// POST an action signed as the app, with exactly this body (no actor added).
pub async fn call_action_raw(w: &World, action: &str, body: Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(&body).unwrap();
    let mut req = w
        .app
        .http
        .post(w.app.url(&format!("/v1/actions/{action}")))
        .header("content-type", "application/json");
    for (k, v) in app_headers(&w.plugin.connection, &bytes) {
        req = req.header(k, v);
    }
    let resp = req.body(bytes).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}
