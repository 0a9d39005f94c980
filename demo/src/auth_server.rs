//! A small, real auth server with the Attio plugin mounted: what a customer's Rust auth
//! server looks like, and what `attio-auth-demo` runs. [`DemoServer::start`] binds,
//! migrates and serves it until [`DemoServer::shutdown`]; `examples/demo_auth_server.rs` is
//! the same as a command.
//!
//! - Email + password sign-up and sign-in (argon2id), sessions in the database, a session
//!   cookie (`better-auth.session_token`, the bare token, as the plugin expects by default);
//! - an admin role (the first user, and [`DemoConfig::admin_emails`]), organizations and
//!   members;
//! - the Better Auth schema on SQLite or PostgreSQL, so the plugin's sqlx store works on it;
//! - every change reported through the plugin's [`SyncReporter`] in the transaction that
//!   makes it, and delivered to linked backends by the plugin's delivery worker.
//!
//! Routes (under `/api/auth`, Better Auth's paths and JSON shapes where it has them):
//! `POST sign-up/email {name,email,password}`, `POST sign-in/email {email,password}`,
//! `GET get-session`, `POST sign-out`, `POST update-user {name?,image?}`,
//! `POST organization/create {name,slug?}`, `POST organization/add-member
//! {organizationId,email,role?}`, `POST organization/remove-member {organizationId,userId}`,
//! `POST admin/set-role {userId,role}`, `POST admin/remove-user {userId}`,
//! `GET reset-password/{token}?callbackURL=/path` (the reset email's link),
//! `POST reset-password {token,newPassword}`, `GET dev/mailbox` (with
//! [`DemoConfig::dev_mailbox`]), and the plugin's `attio/*`. `GET /health` answers ok.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use attio_auth_plugin::store::SqlxStore;
use attio_auth_plugin::sync::{
    Adapters, DeliveryConfig, EventKind, Origin, OutboxConn, SyncReporter,
};
use attio_auth_plugin::{
    AttioPlugin, InvitationEmail, MailError, Mailer, MemoryMailer, PasswordResetEmail, SentMail,
};
use axum::extract::{FromRequestParts, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng;
use rand::distributions::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::{PgPool, Row, SqlitePool};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How the demo auth server runs: [`DemoConfig::new`] has the defaults of the example's
/// flags (127.0.0.1:4100, no admins besides the first user, no dev mailbox, signed
/// requests only).
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Interface to listen on.
    pub host: IpAddr,
    /// Port (0 picks a free one; [`DemoServer::addr`] names it).
    pub port: u16,
    /// `sqlite://path?mode=rwc` or `postgres://...`.
    pub database_url: String,
    /// The connection string's secret (`whsec_...`: signed protocol; anything else is a
    /// legacy secret: events go unsigned and `accept_legacy` must be on).
    pub secret: SecretString,
    /// Public URL of the auth base path (default `http://<addr>/api/auth`).
    pub base_url: Option<String>,
    /// Emails that become admins at sign-up (the first user always does).
    pub admin_emails: Vec<String>,
    /// Serve `GET /api/auth/dev/mailbox` (every mail sent, reset tokens included): for
    /// end-to-end tests and demos only.
    pub dev_mailbox: bool,
    /// Also accept the original Attio app's body-secret requests.
    pub accept_legacy: bool,
    /// The delivery worker's retries and polling.
    pub delivery: DeliveryConfig,
}

impl DemoConfig {
    /// The defaults, with this database and secret.
    pub fn new(database_url: impl Into<String>, secret: SecretString) -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 4100,
            database_url: database_url.into(),
            secret,
            base_url: None,
            admin_emails: Vec::new(),
            dev_mailbox: false,
            accept_legacy: false,
            delivery: DeliveryConfig::default(),
        }
    }
}

/// Why the demo auth server did not start (what it was doing, and the cause).
#[derive(Debug, thiserror::Error)]
#[error("demo auth server: {context}")]
pub struct DemoError {
    context: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Wraps a cause with what was being done.
fn ctx<E: std::error::Error + Send + Sync + 'static>(
    context: impl Into<String>,
) -> impl FnOnce(E) -> DemoError {
    let context = context.into();
    move |e| DemoError {
        context,
        source: Box::new(e),
    }
}

const COOKIE_NAME: &str = "better-auth.session_token";
const SESSION_DAYS: i64 = 7;

#[derive(Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    /// `@ts($n)` marks a timestamp parameter (ISO text): PostgreSQL needs a cast.
    fn sql(&self, text: &str) -> String {
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

/// Runs sqlx code on whichever pool or transaction the enum holds.
macro_rules! on_db {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            Db::Sqlite($p) => $body,
            Db::Postgres($p) => $body,
        }
    };
}

enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    fn conn(&mut self) -> OutboxConn<'_> {
        match self {
            Tx::Sqlite(t) => OutboxConn::Sqlite(t),
            Tx::Postgres(t) => OutboxConn::Postgres(t),
        }
    }
    async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

/// Binds string/bool/null parameters and runs a statement on a transaction.
enum P {
    S(String),
    O(Option<String>),
    B(bool),
}

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
    async fn exec(&mut self, sql: &str, params: Vec<P>) -> Result<u64, sqlx::Error> {
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
}

#[derive(Clone)]
struct AppState {
    db: Db,
    reporter: SyncReporter,
    admin_emails: Arc<Vec<String>>,
}

impl AppState {
    async fn begin(&self) -> Result<Tx, ApiError> {
        Ok(match &self.db {
            // IMMEDIATE takes SQLite's write lock up front: a deferred transaction that reads
            // first fails with SQLITE_BUSY when another connection (the delivery worker)
            // wrote in between.
            Db::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }
}

/// The demo's errors, answered as Better Auth does: `{message, code}`.
#[derive(Debug)]
enum ApiError {
    Status(StatusCode, &'static str, String),
    Internal(String),
}

impl ApiError {
    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::Status(StatusCode::BAD_REQUEST, code, message.into())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return Self::Status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "CONFLICT",
                "already exists".into(),
            );
        }
        Self::Internal(e.to_string())
    }
}

impl From<attio_auth_plugin::sync::OutboxError> for ApiError {
    fn from(e: attio_auth_plugin::sync::OutboxError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Status(status, code, message) => {
                (status, Json(json!({"message": message, "code": code}))).into_response()
            }
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "demo auth server error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"message": "internal error", "code": "INTERNAL_SERVER_ERROR"})),
                )
                    .into_response()
            }
        }
    }
}

fn random_id() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Better Auth's timestamp form: `2026-11-23T08:49:05.810Z` (milliseconds, truncated).
fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn now_iso() -> String {
    iso(chrono::Utc::now())
}

/// A user as Better Auth answers it.
#[derive(Debug, Clone)]
struct UserRow {
    id: String,
    name: String,
    email: String,
    email_verified: bool,
    image: Option<String>,
    role: Option<String>,
    attio_id: Option<String>,
}

impl UserRow {
    fn json(&self) -> Map<String, Value> {
        let v = json!({
            "id": self.id, "name": self.name, "email": self.email,
            "emailVerified": self.email_verified, "image": self.image, "role": self.role,
            "banned": false, "attioId": self.attio_id,
        });
        v.as_object().cloned().unwrap_or_default()
    }
}

const USER_COLUMNS: &str = "u.\"id\", u.\"name\", u.\"email\", u.\"emailVerified\", u.\"image\", u.\"role\", u.\"attioId\"";

fn user_from<R: Row>(r: &R) -> Result<UserRow, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(UserRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        email: r.try_get(2)?,
        email_verified: r.try_get(3)?,
        image: r.try_get(4)?,
        role: r.try_get(5)?,
        attio_id: r.try_get(6)?,
    })
}

async fn fetch_user(db: &Db, sql: &str, key: &str) -> Result<Option<UserRow>, ApiError> {
    let sql = db.sql(sql);
    Ok(on_db!(db, |p| sqlx::query(&sql)
        .bind(key)
        .fetch_optional(p)
        .await?
        .map(|r| user_from(&r))
        .transpose()?))
}

/// The signed-in user, from the session cookie (or `Authorization: Bearer <token>`).
struct CurrentUser {
    user: UserRow,
    token: String,
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        // A Better Auth signed cookie is `token.signature`: the token is the first part.
        .map(|(_, v)| v.split('.').next().unwrap_or(v).to_owned())
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        current_user(state, &parts.headers).await?.ok_or_else(|| {
            ApiError::Status(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "not signed in".into(),
            )
        })
    }
}

/// The user of the request's session, if it is valid.
async fn current_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<CurrentUser>, ApiError> {
    {
        let Some(token) = session_token(headers) else {
            return Ok(None);
        };
        let sql = format!(
            "select {USER_COLUMNS} from \"session\" s join \"user\" u on u.\"id\" = s.\"userId\" \
             where s.\"token\" = $1 and s.\"expiresAt\" > @ts($2) \
             and (u.\"banned\" is null or u.\"banned\" = $3)"
        );
        let sql = state.db.sql(&sql);
        let now = now_iso();
        let user = on_db!(&state.db, |p| sqlx::query(&sql)
            .bind(&token)
            .bind(&now)
            .bind(false)
            .fetch_optional(p)
            .await?
            .map(|r| user_from(&r))
            .transpose()?);
        Ok(user.map(|user| CurrentUser { user, token }))
    }
}

fn session_cookie(token: &str, max_age_secs: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

async fn new_session(
    tx: &mut Tx,
    db: &Db,
    user_id: &str,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let token = random_id();
    let now = chrono::Utc::now();
    let expires = now + chrono::TimeDelta::days(SESSION_DAYS);
    let ua = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    tx.exec(
        &db.sql(
            "insert into \"session\" (\"id\", \"expiresAt\", \"token\", \"createdAt\", \"updatedAt\", \
             \"ipAddress\", \"userAgent\", \"userId\") \
             values ($1, @ts($2), $3, @ts($4), @ts($4), $5, $6, $7)",
        ),
        vec![
            P::S(random_id()),
            P::S(iso(expires)),
            P::S(token.clone()),
            P::S(iso(now)),
            P::O(Some("127.0.0.1".into())),
            P::O(ua),
            P::S(user_id.to_owned()),
        ],
    )
    .await?;
    Ok(token)
}

fn with_cookie(token: &str, body: Value) -> Response {
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(SET_COOKIE, session_cookie(token, SESSION_DAYS * 86400));
    resp
}

#[derive(Deserialize)]
struct SignUp {
    name: String,
    email: String,
    password: String,
    image: Option<String>,
}

fn normalize_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') => Ok(email),
        _ => Err(ApiError::bad("INVALID_EMAIL", "Invalid email")),
    }
}

fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
}

async fn sign_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<SignUp>,
) -> Result<Response, ApiError> {
    let email = normalize_email(&body.email)?;
    let name = body.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::bad("INVALID_NAME", "Name is required"));
    }
    if body.password.len() < 8 || body.password.len() > 128 {
        return Err(ApiError::bad(
            "PASSWORD_TOO_SHORT",
            "Password must be 8 to 128 characters",
        ));
    }
    if fetch_user(
        &state.db,
        &format!("select {USER_COLUMNS} from \"user\" u where u.\"email\" = $1"),
        &email,
    )
    .await?
    .is_some()
    {
        return Err(ApiError::Status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "USER_ALREADY_EXISTS",
            "User already exists".into(),
        ));
    }
    let hash = hash_password(&body.password)?;
    let mut tx = state.begin().await?;
    let user_count: i64 = match &mut tx {
        Tx::Sqlite(t) => {
            sqlx::query_scalar("select count(*) from \"user\"")
                .fetch_one(&mut **t)
                .await?
        }
        Tx::Postgres(t) => {
            sqlx::query_scalar("select count(*) from \"user\"")
                .fetch_one(&mut **t)
                .await?
        }
    };
    let admin = user_count == 0
        || state
            .admin_emails
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&email));
    let user = UserRow {
        id: random_id(),
        name,
        email,
        email_verified: false,
        image: body.image,
        role: Some(if admin { "admin" } else { "user" }.to_owned()),
        attio_id: None,
    };
    let now = now_iso();
    tx.exec(
        &state.db.sql(
            "insert into \"user\" (\"id\", \"name\", \"email\", \"emailVerified\", \"image\", \
             \"createdAt\", \"updatedAt\", \"role\", \"banned\") \
             values ($1, $2, $3, $4, $5, @ts($6), @ts($6), $7, $8)",
        ),
        vec![
            P::S(user.id.clone()),
            P::S(user.name.clone()),
            P::S(user.email.clone()),
            P::B(false),
            P::O(user.image.clone()),
            P::S(now.clone()),
            P::O(user.role.clone()),
            P::B(false),
        ],
    )
    .await?;
    tx.exec(
        &state.db.sql(
            "insert into \"account\" (\"id\", \"accountId\", \"providerId\", \"userId\", \"password\", \
             \"createdAt\", \"updatedAt\") values ($1, $2, 'credential', $2, $3, @ts($4), @ts($4))",
        ),
        vec![P::S(random_id()), P::S(user.id.clone()), P::S(hash), P::S(now)],
    )
    .await?;
    let token = new_session(&mut tx, &state.db, &user.id, &headers).await?;
    state
        .reporter
        .report(
            tx.conn(),
            "user",
            EventKind::Create,
            &user.json(),
            Origin::Auth,
        )
        .await?;
    tx.commit().await?;
    state.reporter.notify();
    Ok(with_cookie(
        &token,
        json!({"token": token, "user": user.json()}),
    ))
}

#[derive(Deserialize)]
struct SignIn {
    email: String,
    password: String,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<SignIn>,
) -> Result<Response, ApiError> {
    let invalid = || {
        ApiError::Status(
            StatusCode::UNAUTHORIZED,
            "INVALID_EMAIL_OR_PASSWORD",
            "Invalid email or password".into(),
        )
    };
    let email = body.email.trim().to_lowercase();
    let sql = state.db.sql(&format!(
        "select {USER_COLUMNS}, a.\"password\", u.\"banned\" from \"user\" u \
         join \"account\" a on a.\"userId\" = u.\"id\" and a.\"providerId\" = 'credential' \
         where u.\"email\" = $1"
    ));
    let found = on_db!(&state.db, |p| {
        match sqlx::query(&sql).bind(&email).fetch_optional(p).await? {
            Some(r) => Some((
                user_from(&r)?,
                r.try_get::<Option<String>, _>(7)?,
                r.try_get::<Option<bool>, _>(8)?,
            )),
            None => None,
        }
    });
    let Some((user, Some(hash), banned)) = found else {
        // Same work as a real check, so timing does not tell which emails exist.
        let _ = hash_password(&body.password);
        return Err(invalid());
    };
    let parsed = PasswordHash::new(&hash).map_err(|_| invalid())?;
    if Argon2::default()
        .verify_password(body.password.as_bytes(), &parsed)
        .is_err()
    {
        return Err(invalid());
    }
    if banned == Some(true) {
        return Err(ApiError::Status(
            StatusCode::FORBIDDEN,
            "BANNED_USER",
            "You have been banned from this application".into(),
        ));
    }
    let mut tx = state.begin().await?;
    let token = new_session(&mut tx, &state.db, &user.id, &headers).await?;
    tx.commit().await?;
    Ok(with_cookie(
        &token,
        json!({"redirect": false, "token": token, "user": user.json()}),
    ))
}

async fn get_session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(match current_user(&state, &headers).await? {
        Some(me) => {
            json!({"session": {"token": me.token, "userId": me.user.id}, "user": me.user.json()})
        }
        None => Value::Null,
    }))
}

async fn sign_out(State(state): State<AppState>, me: CurrentUser) -> Result<Response, ApiError> {
    let sql = "delete from \"session\" where \"token\" = $1";
    on_db!(&state.db, |p| sqlx::query(sql)
        .bind(&me.token)
        .execute(p)
        .await
        .map(|_| ()))?;
    let mut resp = Json(json!({"success": true})).into_response();
    resp.headers_mut().insert(SET_COOKIE, session_cookie("", 0));
    Ok(resp)
}

#[derive(Deserialize)]
struct UpdateUser {
    name: Option<String>,
    image: Option<String>,
}

async fn update_user(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<UpdateUser>,
) -> Result<Json<Value>, ApiError> {
    let mut user = me.user;
    if let Some(name) = body.name.map(|n| n.trim().to_owned()) {
        if name.is_empty() {
            return Err(ApiError::bad("INVALID_NAME", "Name is required"));
        }
        user.name = name;
    }
    if let Some(image) = body.image {
        user.image = Some(image);
    }
    let mut tx = state.begin().await?;
    tx.exec(
        &state.db.sql(
            "update \"user\" set \"name\" = $1, \"image\" = $2, \"updatedAt\" = @ts($3) where \"id\" = $4",
        ),
        vec![
            P::S(user.name.clone()),
            P::O(user.image.clone()),
            P::S(now_iso()),
            P::S(user.id.clone()),
        ],
    )
    .await?;
    state
        .reporter
        .report(
            tx.conn(),
            "user",
            EventKind::Update,
            &user.json(),
            Origin::Auth,
        )
        .await?;
    tx.commit().await?;
    state.reporter.notify();
    Ok(Json(json!({"status": true})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateOrg {
    name: String,
    slug: Option<String>,
    logo: Option<String>,
}

fn slugify(name: &str) -> String {
    attio_auth_plugin::sync::inbound::slugify(name)
}

async fn create_org(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<CreateOrg>,
) -> Result<Json<Value>, ApiError> {
    let name = body.name.trim().to_owned();
    let slug = body.slug.unwrap_or_else(|| slugify(&name));
    if name.is_empty() || slug.is_empty() {
        return Err(ApiError::bad(
            "INVALID_ORGANIZATION",
            "Name and slug are required",
        ));
    }
    let id = random_id();
    let now = now_iso();
    let mut tx = state.begin().await?;
    tx.exec(
        &state.db.sql(
            "insert into \"organization\" (\"id\", \"name\", \"slug\", \"logo\", \"createdAt\") \
             values ($1, $2, $3, $4, @ts($5))",
        ),
        vec![
            P::S(id.clone()),
            P::S(name.clone()),
            P::S(slug.clone()),
            P::O(body.logo.clone()),
            P::S(now.clone()),
        ],
    )
    .await?;
    tx.exec(
        &state.db.sql(
            "insert into \"member\" (\"id\", \"organizationId\", \"userId\", \"role\", \"createdAt\") \
             values ($1, $2, $3, 'owner', @ts($4))",
        ),
        vec![P::S(random_id()), P::S(id.clone()), P::S(me.user.id.clone()), P::S(now)],
    )
    .await?;
    let row = json!({"id": id, "name": name, "slug": slug, "logo": body.logo, "attioId": null});
    let row = row.as_object().cloned().unwrap_or_default();
    state
        .reporter
        .report(
            tx.conn(),
            "organization",
            EventKind::Create,
            &row,
            Origin::Auth,
        )
        .await?;
    tx.commit().await?;
    state.reporter.notify();
    Ok(Json(Value::Object(row)))
}

/// The caller's role in an organization, when a member.
async fn member_role(
    db: &Db,
    organization_id: &str,
    user_id: &str,
) -> Result<Option<String>, ApiError> {
    let sql = "select \"role\" from \"member\" where \"organizationId\" = $1 and \"userId\" = $2";
    Ok(on_db!(db, |p| sqlx::query_scalar(sql)
        .bind(organization_id)
        .bind(user_id)
        .fetch_optional(p)
        .await?))
}

async fn require_org_admin(
    state: &AppState,
    me: &CurrentUser,
    organization_id: &str,
) -> Result<(), ApiError> {
    let role = member_role(&state.db, organization_id, &me.user.id).await?;
    let site_admin = me.user.role.as_deref() == Some("admin");
    if site_admin || matches!(role.as_deref(), Some("owner" | "admin")) {
        Ok(())
    } else {
        Err(ApiError::Status(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "You are not allowed to change this organization's members".into(),
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddMember {
    organization_id: String,
    email: String,
    role: Option<String>,
}

async fn add_member(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<AddMember>,
) -> Result<Json<Value>, ApiError> {
    require_org_admin(&state, &me, &body.organization_id).await?;
    let email = normalize_email(&body.email)?;
    let user = fetch_user(
        &state.db,
        &format!("select {USER_COLUMNS} from \"user\" u where u.\"email\" = $1"),
        &email,
    )
    .await?
    .ok_or_else(|| {
        ApiError::Status(
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
            "User not found".into(),
        )
    })?;
    let role = body.role.unwrap_or_else(|| "member".into());
    if !matches!(role.as_str(), "member" | "admin" | "owner") {
        return Err(ApiError::bad(
            "INVALID_ROLE",
            "Role must be member, admin or owner",
        ));
    }
    let mut tx = state.begin().await?;
    tx.exec(
        &state.db.sql(
            "insert into \"member\" (\"id\", \"organizationId\", \"userId\", \"role\", \"createdAt\") \
             values ($1, $2, $3, $4, @ts($5))",
        ),
        vec![
            P::S(random_id()),
            P::S(body.organization_id.clone()),
            P::S(user.id.clone()),
            P::S(role.clone()),
            P::S(now_iso()),
        ],
    )
    .await?;
    state
        .reporter
        .report_organization(tx.conn(), &body.organization_id, Origin::Auth)
        .await?;
    tx.commit().await?;
    state.reporter.notify();
    Ok(Json(
        json!({"organizationId": body.organization_id, "userId": user.id, "role": role}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoveMember {
    organization_id: String,
    user_id: String,
}

async fn remove_member(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<RemoveMember>,
) -> Result<Json<Value>, ApiError> {
    require_org_admin(&state, &me, &body.organization_id).await?;
    let mut tx = state.begin().await?;
    let removed = tx
        .exec(
            "delete from \"member\" where \"organizationId\" = $1 and \"userId\" = $2",
            vec![
                P::S(body.organization_id.clone()),
                P::S(body.user_id.clone()),
            ],
        )
        .await?;
    if removed == 0 {
        return Err(ApiError::Status(
            StatusCode::NOT_FOUND,
            "MEMBER_NOT_FOUND",
            "Member not found".into(),
        ));
    }
    state
        .reporter
        .report_organization(tx.conn(), &body.organization_id, Origin::Auth)
        .await?;
    tx.commit().await?;
    state.reporter.notify();
    Ok(Json(json!({"success": true})))
}

/// The demo's admin routes are for the `admin` role only (403 otherwise).
fn require_admin(me: &CurrentUser) -> Result<(), ApiError> {
    if me.user.role.as_deref() == Some("admin") {
        Ok(())
    } else {
        Err(ApiError::Status(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "Admins only".into(),
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetRole {
    user_id: String,
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<SetRole>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&me)?;
    if !matches!(body.role.as_str(), "user" | "admin") {
        return Err(ApiError::bad("INVALID_ROLE", "Role must be user or admin"));
    }
    let mut tx = state.begin().await?;
    let changed = tx
        .exec(
            &state.db.sql(
                "update \"user\" set \"role\" = $1, \"updatedAt\" = @ts($2) where \"id\" = $3",
            ),
            vec![
                P::S(body.role.clone()),
                P::S(now_iso()),
                P::S(body.user_id.clone()),
            ],
        )
        .await?;
    if changed == 0 {
        return Err(ApiError::Status(
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
            "User not found".into(),
        ));
    }
    tx.commit().await?;
    Ok(Json(json!({"userId": body.user_id, "role": body.role})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoveUser {
    user_id: String,
}

/// Deletes a user (sessions, accounts and memberships go with it): a `user delete` event,
/// and an `organization update` for each organization that lost a member.
async fn remove_user(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<RemoveUser>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&me)?;
    let mut tx = state.begin().await?;
    let sql = "select \"organizationId\" from \"member\" where \"userId\" = $1";
    let orgs: Vec<String> = match &mut tx {
        Tx::Sqlite(t) => {
            sqlx::query_scalar(sql)
                .bind(&body.user_id)
                .fetch_all(&mut **t)
                .await?
        }
        Tx::Postgres(t) => {
            sqlx::query_scalar(sql)
                .bind(&body.user_id)
                .fetch_all(&mut **t)
                .await?
        }
    };
    for table in ["session", "account", "member"] {
        tx.exec(
            &format!("delete from \"{table}\" where \"userId\" = $1"),
            vec![P::S(body.user_id.clone())],
        )
        .await?;
    }
    let removed = tx
        .exec(
            "delete from \"user\" where \"id\" = $1",
            vec![P::S(body.user_id.clone())],
        )
        .await?;
    if removed == 0 {
        return Err(ApiError::Status(
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
            "User not found".into(),
        ));
    }
    let row = json!({"id": body.user_id})
        .as_object()
        .cloned()
        .unwrap_or_default();
    state
        .reporter
        .report(tx.conn(), "user", EventKind::Delete, &row, Origin::Auth)
        .await?;
    for org in orgs {
        state
            .reporter
            .report_organization(tx.conn(), &org, Origin::Auth)
            .await?;
    }
    tx.commit().await?;
    state.reporter.notify();
    Ok(Json(json!({"success": true})))
}

/// The demo's mail system: logs who gets what (never the link: it holds a token) and
/// keeps every mail for `GET /api/auth/dev/mailbox` when enabled.
#[derive(Default)]
struct DemoMailer {
    kept: MemoryMailer,
}

#[async_trait::async_trait]
impl Mailer for DemoMailer {
    async fn send_password_reset(&self, email: PasswordResetEmail) -> Result<(), MailError> {
        tracing::info!(to = %email.to, "password reset email");
        self.kept.send_password_reset(email).await
    }
    async fn send_invitation(&self, email: InvitationEmail) -> Result<(), MailError> {
        tracing::info!(to = %email.to, organization = %email.organization_name, "invitation email");
        self.kept.send_invitation(email).await
    }
}

async fn dev_mailbox(State(mailer): State<Arc<DemoMailer>>) -> Json<Value> {
    let mails = mailer
        .kept
        .sent()
        .into_iter()
        .map(|m| match m {
            SentMail::PasswordReset(e) => json!({"kind": "reset-password", "to": e.to,
                "userId": e.user_id, "url": e.url, "token": e.token}),
            SentMail::Invitation(e) => json!({"kind": "invitation", "to": e.to,
                "invitationId": e.invitation_id, "organizationId": e.organization_id,
                "role": e.role, "resent": e.resent}),
        })
        .collect();
    Json(Value::Array(mails))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResetLink {
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

/// The link of the reset email (Better Auth's route): redirects to the app's reset page
/// with the token, or with `error=INVALID_TOKEN`. Only same-site paths are followed.
async fn reset_password_link(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<ResetLink>,
) -> Result<Response, ApiError> {
    let callback = q
        .callback_url
        .filter(|c| c.starts_with('/') && !c.starts_with("//") && !c.contains('\\'))
        .unwrap_or_else(|| "/".to_owned());
    let sep = if callback.contains('?') { '&' } else { '?' };
    let sql = state.db.sql(
        "select count(*) from \"verification\" where \"identifier\" = $1 and \"expiresAt\" > @ts($2)",
    );
    let identifier = format!("reset-password:{token}");
    let now = now_iso();
    let valid: i64 = on_db!(&state.db, |p| sqlx::query_scalar(&sql)
        .bind(&identifier)
        .bind(&now)
        .fetch_one(p)
        .await?);
    let location = if valid > 0 && token.chars().all(|c| c.is_ascii_alphanumeric()) {
        format!("{callback}{sep}token={token}")
    } else {
        format!("{callback}{sep}error=INVALID_TOKEN")
    };
    Ok((
        StatusCode::FOUND,
        [(axum::http::header::LOCATION, location)],
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResetPassword {
    token: String,
    new_password: String,
}

/// Sets a new password with a reset token; the token works once.
async fn reset_password(
    State(state): State<AppState>,
    Json(body): Json<ResetPassword>,
) -> Result<Json<Value>, ApiError> {
    if body.new_password.len() < 8 || body.new_password.len() > 128 {
        return Err(ApiError::bad(
            "PASSWORD_TOO_SHORT",
            "Password must be 8 to 128 characters",
        ));
    }
    let hash = hash_password(&body.new_password)?;
    let identifier = format!("reset-password:{}", body.token);
    let now = now_iso();
    let mut tx = state.begin().await?;
    let sql = state.db.sql(
        "select \"value\" from \"verification\" where \"identifier\" = $1 and \"expiresAt\" > @ts($2)",
    );
    let user_id: Option<String> = match &mut tx {
        Tx::Sqlite(t) => {
            sqlx::query_scalar(&sql)
                .bind(&identifier)
                .bind(&now)
                .fetch_optional(&mut **t)
                .await?
        }
        Tx::Postgres(t) => {
            sqlx::query_scalar(&sql)
                .bind(&identifier)
                .bind(&now)
                .fetch_optional(&mut **t)
                .await?
        }
    };
    let Some(user_id) = user_id else {
        return Err(ApiError::bad("INVALID_TOKEN", "Invalid token"));
    };
    tx.exec(
        "delete from \"verification\" where \"identifier\" = $1",
        vec![P::S(identifier)],
    )
    .await?;
    let changed = tx
        .exec(
            &state.db.sql(
                "update \"account\" set \"password\" = $1, \"updatedAt\" = @ts($2) \
                 where \"userId\" = $3 and \"providerId\" = 'credential'",
            ),
            vec![P::S(hash.clone()), P::S(now.clone()), P::S(user_id.clone())],
        )
        .await?;
    if changed == 0 {
        // A user made from Attio has no password yet: the reset gives them one.
        tx.exec(
            &state.db.sql(
                "insert into \"account\" (\"id\", \"accountId\", \"providerId\", \"userId\", \"password\", \
                 \"createdAt\", \"updatedAt\") values ($1, $2, 'credential', $2, $3, @ts($4), @ts($4))",
            ),
            vec![P::S(random_id()), P::S(user_id), P::S(hash), P::S(now)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Json(json!({"status": true})))
}

/// The demo server, built and bound but not yet serving.
struct App {
    listener: tokio::net::TcpListener,
    router: Router,
    plugin: AttioPlugin,
    base_url: String,
}

impl App {
    async fn build(config: DemoConfig) -> Result<Self, DemoError> {
        let secret = config.secret.clone();
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(config.host, config.port))
            .await
            .map_err(ctx(format!("bind {}:{}", config.host, config.port)))?;
        let addr = listener.local_addr().map_err(ctx("local address"))?;
        let base_url = config
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}/api/auth"));

        let (db, store) = if config.database_url.starts_with("postgres") {
            let pool = PgPool::connect(&config.database_url)
                .await
                .map_err(ctx("connect PostgreSQL"))?;
            (Db::Postgres(pool.clone()), SqlxStore::postgres(pool))
        } else {
            if let Some(dir) = sqlite_dir(&config.database_url) {
                std::fs::create_dir_all(dir).ok();
            }
            let pool = SqlitePool::connect(&config.database_url)
                .await
                .map_err(ctx("open SQLite"))?;
            (Db::Sqlite(pool.clone()), SqlxStore::sqlite(pool))
        };
        store
            .install_better_auth_schema(true)
            .await
            .map_err(ctx("Better Auth schema"))?;
        store.migrate().await.map_err(ctx("plugin migrations"))?;

        let mailer = Arc::new(DemoMailer::default());
        let plugin = AttioPlugin::builder()
            .secret(secret.expose_secret())
            .shared_mailer(mailer.clone())
            .store(store)
            // The plugin reports its own writes (webhook, create-user, ban) as sync events
            // in the same transactions; its worker (spawn_sync) delivers them, signed with
            // the secret (unsigned with a legacy one, as the original).
            .sync(SyncReporter::new(Adapters::default()))
            .delivery(config.delivery)
            .accept_legacy_body_secret(config.accept_legacy)
            .base_url(base_url.clone())
            .build()
            .map_err(ctx("plugin"))?;
        // The demo's own changes go through the plugin's reporter, which wakes its worker.
        let reporter = plugin
            .reporter()
            .cloned()
            .ok_or(attio_auth_plugin::ConfigError::NoSyncWorker)
            .map_err(ctx("plugin"))?;

        let state = AppState {
            db,
            reporter,
            admin_emails: Arc::new(
                config
                    .admin_emails
                    .iter()
                    .map(|e| e.trim().to_lowercase())
                    .collect(),
            ),
        };
        let auth = Router::new()
            .route("/sign-up/email", post(sign_up))
            .route("/sign-in/email", post(sign_in))
            .route("/get-session", get(get_session))
            .route("/sign-out", post(sign_out))
            .route("/update-user", post(update_user))
            .route("/organization/create", post(create_org))
            .route("/organization/add-member", post(add_member))
            .route("/organization/remove-member", post(remove_member))
            .route("/admin/set-role", post(set_role))
            .route("/admin/remove-user", post(remove_user))
            .route("/reset-password/{token}", get(reset_password_link))
            .route("/reset-password", post(reset_password))
            .with_state(state)
            .merge(plugin.router());
        let auth = if config.dev_mailbox {
            auth.route("/dev/mailbox", get(dev_mailbox).with_state(mailer))
        } else {
            auth
        };
        let router = Router::new()
            .route("/health", get(|| async { "ok" }))
            .nest("/api/auth", auth);
        Ok(Self {
            listener,
            router,
            plugin,
            base_url,
        })
    }

    fn addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `cancel` fires; the delivery worker runs beside it and gets up to 15 s
    /// to finish the delivery in flight.
    async fn run(self, cancel: CancellationToken) -> std::io::Result<()> {
        let worker = self
            .plugin
            .spawn_sync(cancel.clone())
            .map_err(std::io::Error::other)?;
        let shutdown = cancel.clone();
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
        cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), worker).await;
        served
    }
}

/// A running demo auth server: serving on [`DemoServer::addr`] until
/// [`DemoServer::shutdown`] (or until dropped: the handle owns a cancellation token the
/// server task watches, and dropping it without shutdown leaves the task to the runtime).
#[derive(Debug)]
pub struct DemoServer {
    addr: SocketAddr,
    base_url: String,
    cancel: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl DemoServer {
    /// Binds, creates the Better Auth schema and the plugin's tables when missing, and
    /// starts serving (with the sync delivery worker) in a tokio task.
    pub async fn start(config: DemoConfig) -> Result<Self, DemoError> {
        let app = App::build(config).await?;
        let addr = app.addr().map_err(ctx("local address"))?;
        let base_url = app.base_url.clone();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(app.run(cancel.clone()));
        Ok(Self {
            addr,
            base_url,
            cancel,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`: the origin (a connection string's `uri`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The auth base URL (`{origin}/api/auth` unless configured otherwise).
    pub fn auth_url(&self) -> &str {
        &self.base_url
    }

    /// A token that stops the server when cancelled (for a caller's own Ctrl-C handling).
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops accepting, finishes the requests in flight, lets the delivery worker finish
    /// (up to 15 s), and answers how serving ended.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.cancel.cancel();
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// The directory of a `sqlite://dir/file.db` URL, to create it.
fn sqlite_dir(url: &str) -> Option<&std::path::Path> {
    let path = url.strip_prefix("sqlite://")?.split('?').next()?;
    std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use attio_auth_shared::signing::{Signer, Verifier};
    use std::sync::Mutex;

    /// The demo writes the bytes Better Auth writes: three fraction digits, truncated.
    #[test]
    fn timestamps_are_better_auths() {
        let t = chrono::DateTime::from_timestamp(1_795_423_745, 810_999_999).unwrap();
        assert_eq!(iso(t), "2026-11-23T08:49:05.810Z");
        assert_eq!(now_iso().len(), "2026-11-23T08:49:05.810Z".len());
    }

    /// A backend stand-in that keeps the events whose signature verifies.
    async fn start_receiver(secret: &str) -> (String, Arc<Mutex<Vec<Value>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let verifier = Arc::new(Verifier::new(&[secret]).unwrap());
        let (ev, ver) = (events.clone(), verifier.clone());
        let app = Router::new().route(
            "/events",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (ev, ver) = (ev.clone(), ver.clone());
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    let now = chrono::Utc::now().timestamp();
                    if ver
                        .verify(
                            &h("webhook-id"),
                            &h("webhook-timestamp"),
                            &h("webhook-signature"),
                            &body,
                            now,
                        )
                        .is_err()
                    {
                        return StatusCode::UNAUTHORIZED;
                    }
                    ev.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, events)
    }

    /// `POST {url}` with a JSON body and the session cookie; answers the status.
    async fn post_with_cookie(
        http: &reqwest::Client,
        url: String,
        cookie: &str,
        body: Value,
    ) -> reqwest::StatusCode {
        http.post(url)
            .header(COOKIE, cookie)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// `POST {url}` signed with `secret` as a backend signs (Standard Webhooks headers over
    /// the body bytes); the plugin must answer 200.
    async fn post_signed_ok(http: &reqwest::Client, url: String, secret: &str, body: String) {
        let now = chrono::Utc::now().timestamp();
        let signed = Signer::new(&[secret])
            .unwrap()
            .headers(body.as_bytes(), now)
            .unwrap();
        let mut req = http.post(url).header("content-type", "application/json");
        for (k, v) in signed.pairs() {
            req = req.header(k, v);
        }
        let resp = req.body(body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    }

    /// Waits (at most 10 s) until the receiver holds `n` events; `what` names them when
    /// they do not come.
    async fn wait_for_events(events: &Mutex<Vec<Value>>, n: usize, what: &str) {
        let start = std::time::Instant::now();
        while events.lock().unwrap().len() < n {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{what} did not arrive"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn config(db: &str) -> DemoConfig {
        DemoConfig {
            port: 0,
            dev_mailbox: true,
            ..DemoConfig::new(db, attio_auth_shared::connection::new_secret().unwrap())
        }
    }

    #[tokio::test]
    async fn demo_sqlite() {
        let path = std::env::temp_dir().join(format!("demo-auth-{}.db", random_id()));
        sign_up_sign_in_session_and_organization(&format!("sqlite://{}?mode=rwc", path.display()))
            .await;
        let _ = std::fs::remove_file(path);
    }

    #[tokio::test]
    async fn demo_postgres() {
        let base = std::env::var("TEST_POSTGRES_URL").expect(
            "TEST_POSTGRES_URL is not set: run scripts/test.sh (or `source scripts/postgres.sh`)",
        );
        let admin = PgPool::connect(&base).await.unwrap();
        let name = format!("t_{}", random_id().to_lowercase());
        sqlx::query(&format!("create database {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let (server, _) = base.split('?').next().unwrap().rsplit_once('/').unwrap();
        sign_up_sign_in_session_and_organization(&format!("{server}/{name}")).await;
    }

    /// Signs up (the first user is an admin), refuses a duplicate and a bad password,
    /// signs in, reads the session, creates an organization, links a backend through the
    /// plugin and sees signed events of the next changes arrive, signs out.
    async fn sign_up_sign_in_session_and_organization(database_url: &str) {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let config = config(database_url);
        let secret = config.secret.expose_secret().to_owned();
        let app = App::build(config).await.unwrap();
        let base = format!("http://{}", app.addr().unwrap());
        let cancel = CancellationToken::new();
        let server = tokio::spawn(app.run(cancel.clone()));
        let http = reqwest::Client::new();

        let resp = http
            .post(format!("{base}/api/auth/sign-up/email"))
            .json(&json!({"name": "Alice Admin", "email": "Alice@Example.com", "password": "correct horse"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let cookie = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        assert!(cookie.starts_with("better-auth.session_token=") && cookie.contains("HttpOnly"));
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["user"]["email"], "alice@example.com");
        assert_eq!(body["user"]["role"], "admin", "the first user is an admin");

        // The same email again is refused; a bad password does not sign in.
        let again = http
            .post(format!("{base}/api/auth/sign-up/email"))
            .json(&json!({"name": "A", "email": "alice@example.com", "password": "whatever1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 422);
        let wrong = http
            .post(format!("{base}/api/auth/sign-in/email"))
            .json(&json!({"email": "alice@example.com", "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);

        let signin = http
            .post(format!("{base}/api/auth/sign-in/email"))
            .json(&json!({"email": "alice@example.com", "password": "correct horse"}))
            .send()
            .await
            .unwrap();
        assert_eq!(signin.status(), 200);
        let token = signin.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let cookie = format!("{COOKIE_NAME}={token}");
        let session: Value = http
            .get(format!("{base}/api/auth/get-session"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(session["user"]["name"], "Alice Admin");

        let org: Value = http
            .post(format!("{base}/api/auth/organization/create"))
            .header(COOKIE, &cookie)
            .json(&json!({"name": "Acme Corporation"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(org["slug"], "acme-corporation");

        // The plugin is mounted: its routes answer (here: a signed route without signature).
        let plugin = http
            .post(format!("{base}/api/auth/attio/ping"))
            .json(&json!({"action": "ping"}))
            .send()
            .await
            .unwrap();
        assert!(plugin.status().is_client_error(), "{}", plugin.status());

        // Link a backend through the plugin (signed), then changes reach it as signed events.
        let (events_url, events) = start_receiver(&secret).await;
        let link_body = json!({"action": "link", "webhookUrl": events_url}).to_string();
        post_signed_ok(
            &http,
            format!("{base}/api/auth/attio/link"),
            &secret,
            link_body,
        )
        .await;
        let bob = http
            .post(format!("{base}/api/auth/sign-up/email"))
            .json(&json!({"name": "Bob Member", "email": "bob@example.com", "password": "hunter2hunter2"}))
            .send()
            .await
            .unwrap();
        assert_eq!(bob.status(), 200);
        assert_eq!(bob.json::<Value>().await.unwrap()["user"]["role"], "user");
        assert_eq!(
            post_with_cookie(
                &http,
                format!("{base}/api/auth/organization/add-member"),
                &cookie,
                json!({"organizationId": org["id"], "email": "bob@example.com"})
            )
            .await,
            200
        );
        wait_for_events(&events, 2, "events").await;
        {
            let events = events.lock().unwrap();
            assert_eq!(events[0]["event"], "create");
            assert_eq!(
                events[0]["data"]["primary_email_address"],
                "bob@example.com"
            );
            assert_eq!(events[0]["origin"], "auth");
            assert_eq!(events[1]["adapter"]["attioObject"], "workspaces");
            assert_eq!(events[1]["data"]["workspace_id"], org["id"]);
        }

        // Attio renames Bob: the plugin applies it and reports it with origin "attio"; the
        // same values again change nothing and send nothing (no sync loop).
        let bob_id = events.lock().unwrap()[0]["data"]["user_id"].clone();
        let rename = |name: &str| {
            json!({"action": "webhook", "webhook_id": "wh-1", "events": [{
                "event_type": "record.updated",
                "id": {"workspace_id": "w", "object_id": "o", "record_id": "rec-bob"},
                "object": {"api_slug": "users"},
                "record": {"id": {"workspace_id": "w", "object_id": "o", "record_id": "rec-bob"},
                    "values": {
                        "user_id": [{"value": bob_id, "attribute_type": "text", "active_until": null}],
                        "name": [{"value": name, "attribute_type": "text", "active_until": null}],
                        "email_verified": [{"value": true, "attribute_type": "checkbox", "active_until": null}]
                    }}
            }]})
            .to_string()
        };
        for body in [rename("Bob From Attio"), rename("Bob From Attio")] {
            post_signed_ok(
                &http,
                format!("{base}/api/auth/attio/webhook"),
                &secret,
                body,
            )
            .await;
        }
        wait_for_events(&events, 3, "webhook event").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        {
            let events = events.lock().unwrap();
            assert_eq!(events.len(), 3, "the identical second webhook sent nothing");
            assert_eq!(events[2]["origin"], "attio");
            assert_eq!(events[2]["data"]["name"], "Bob From Attio");
            assert_eq!(events[2]["data"]["record_id"], "rec-bob");
            assert_eq!(
                events[2]["data"]["email_verified"], false,
                "never verified from Attio"
            );
        }

        // Password reset: the plugin mails a link (signed send-password-reset), the link
        // redirects with the token, the token sets a new password once.
        let body = json!({"action": "send-password-reset", "userId": bob_id}).to_string();
        post_signed_ok(
            &http,
            format!("{base}/api/auth/attio/send-password-reset"),
            &secret,
            body,
        )
        .await;
        let mailbox: Value = http
            .get(format!("{base}/api/auth/dev/mailbox"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mail = &mailbox.as_array().unwrap()[0];
        assert_eq!(mail["to"], "bob@example.com");
        let token = mail["token"].as_str().unwrap().to_owned();
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let link = no_redirects
            .get(mail["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(link.status(), 302);
        assert!(
            link.headers()["location"]
                .to_str()
                .unwrap()
                .ends_with(&format!("?token={token}"))
        );
        for (attempt, status) in [(1, 200), (2, 400)] {
            let reset = http
                .post(format!("{base}/api/auth/reset-password"))
                .json(&json!({"token": token, "newPassword": "bob-new-password-456"}))
                .send()
                .await
                .unwrap();
            assert_eq!(reset.status(), status, "reset attempt {attempt}");
        }
        for (password, status) in [("hunter2hunter2", 401), ("bob-new-password-456", 200)] {
            let signin = http
                .post(format!("{base}/api/auth/sign-in/email"))
                .json(&json!({"email": "bob@example.com", "password": password}))
                .send()
                .await
                .unwrap();
            assert_eq!(signin.status(), status, "{password}");
        }

        // Removing Bob: a user delete event and his organization's update (members).
        assert_eq!(
            post_with_cookie(
                &http,
                format!("{base}/api/auth/admin/remove-user"),
                &cookie,
                json!({"userId": bob_id})
            )
            .await,
            200
        );
        wait_for_events(&events, 5, "delete events").await;
        {
            let events = events.lock().unwrap();
            assert_eq!(events[3]["event"], "delete");
            assert_eq!(
                events[3]["data"],
                json!({"_deleted": true, "user_id": bob_id})
            );
            assert_eq!(events[4]["data"]["users"], json!([]));
        }

        let signed_out = http
            .post(format!("{base}/api/auth/sign-out"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(signed_out.status(), 200);
        let after: Value = http
            .get(format!("{base}/api/auth/get-session"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(after, Value::Null);

        cancel.cancel();
        server.await.unwrap().unwrap();
    }
}
