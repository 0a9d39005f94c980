//! A host that is not on Better Auth's schema: its users live in its own `accounts` table
//! (integer keys, other column names), its logins in `logins`, and it has no admin roles
//! and no organizations. It implements [`AuthStore`] over those tables, and the plugin
//! serves the Attio app from them: the endpoints that need what the host lacks answer 501.
//!
//! `cargo run -p attio-auth-plugin --example custom_store` starts it on an in-memory SQLite
//! database, makes a few signed calls as the backend would, and stops; `cargo test` runs the
//! same as a test (the file is also a module of `tests/it`). `MemoryStore`
//! (src/store/memory.rs) is the reference implementation of every method, organizations
//! included.
//!
//! Sync: this store keeps no outbox (`supports_sync` is false), so the builder refuses
//! `.sync()` with it. A host that wants sync events adds the plugin's outbox tables
//! (`OutboxDb::create_tables`), writes events with `SyncReporter::report` in the
//! transactions of its changes, and returns the pool from `AuthStore::outbox`.

use std::net::SocketAddr;

use async_trait::async_trait;
use attio_auth_plugin::AttioPlugin;
use attio_auth_plugin::store::{
    AuthStore, BanUpdate, InboundOutcome, InvitationRow, Link, Member, NewOrganization, NewSession,
    NewUser, Organization, Report, Session, SessionRef, StoreError, StoreFeatures, StoreResult,
    StoredResponse, User,
};
use attio_auth_plugin::sync::{
    CancellationToken, EventKind, InboundPlan, ModelAdapter, RecordEvent,
};
use attio_auth_shared::signing::{ReplayStatus, Signer};
use serde_json::{Map, Value, json};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqliteConnection};

/// The host's own tables. Dates are ISO-8601 UTC text, as the plugin passes them.
const SCHEMA: &str = r#"
create table accounts (
    account_no integer primary key autoincrement,
    login_email text not null unique,
    full_name text not null,
    email_confirmed integer not null default 0,
    avatar_url text,
    attio_record text unique,
    created text not null,
    updated text not null
);
create table logins (
    login_id text primary key,
    secret_token text not null unique,
    account_no integer not null references accounts(account_no) on delete cascade,
    valid_until text not null,
    created text not null,
    updated text not null,
    from_ip text,
    from_agent text
);
create table one_time_codes (purpose text not null, code text not null, valid_until text not null);
create table attio_links (link_id text primary key, url text not null unique);
create table attio_replay (
    message_id text primary key,
    body_sha256 text not null,
    status integer,
    body text,
    forget_after integer not null
);
"#;

/// [`AuthStore`] over the host's tables.
#[derive(Debug, Clone)]
pub struct AcmeStore {
    pool: SqlitePool,
}

const ACCOUNT_COLUMNS: &str = "account_no, login_email, full_name, email_confirmed, \
     avatar_url, attio_record, created, updated";

/// An `accounts` row as the plugin's [`User`]: the integer key becomes the user id.
fn user(r: &SqliteRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: r.try_get::<i64, _>("account_no")?.to_string(),
        name: r.try_get("full_name")?,
        email: r.try_get("login_email")?,
        email_verified: r.try_get("email_confirmed")?,
        image: r.try_get("avatar_url")?,
        created_at: r.try_get("created")?,
        updated_at: r.try_get("updated")?,
        // No admin roles, no bans: the plugin answers 501 to what needs them.
        role: None,
        banned: None,
        ban_reason: None,
        ban_expires: None,
        attio_id: r.try_get("attio_record")?,
    })
}

/// A user id the plugin hands back: one of our integer keys, or none of ours.
fn account_no(id: &str) -> Option<i64> {
    id.parse().ok()
}

/// A unique index refused the write: the plugin answers 409.
fn conflict(e: sqlx::Error, what: &str) -> StoreError {
    match e.as_database_error() {
        Some(d) if d.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => StoreError::Database(e),
    }
}

/// What this host does not have (`features()` says so; the plugin never gets here).
fn no_organizations<T>() -> StoreResult<T> {
    Err(StoreError::Rejected(
        "this host has no organizations".to_owned(),
    ))
}

impl AcmeStore {
    async fn account(&self, no: i64) -> StoreResult<Option<User>> {
        let sql = format!("select {ACCOUNT_COLUMNS} from accounts where account_no = ?");
        let row = sqlx::query(&sql)
            .bind(no)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user).transpose()?)
    }

    /// The account an Attio event is about, as the adapter's lookup keys say (`attioId`,
    /// `id`, `email`), with Better Auth's field names.
    async fn find(
        &self,
        conn: &mut SqliteConnection,
        key: &str,
        value: &Value,
    ) -> StoreResult<Option<User>> {
        let Some(value) = value.as_str() else {
            return Ok(None);
        };
        let column = match key {
            "attioId" => "attio_record",
            "id" => "account_no",
            "email" => "login_email",
            _ => return Ok(None),
        };
        let sql =
            format!("select {ACCOUNT_COLUMNS} from accounts where {column} = ? collate nocase");
        let row = sqlx::query(&sql).bind(value).fetch_optional(conn).await?;
        Ok(row.as_ref().map(user).transpose()?)
    }
}

/// A [`User`] with Better Auth's field names, as the adapters read rows.
fn user_fields(u: &User) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(u.id));
    m.insert("name".into(), json!(u.name));
    m.insert("email".into(), json!(u.email));
    m.insert("emailVerified".into(), json!(u.email_verified));
    m.insert("image".into(), json!(u.image));
    m.insert("attioId".into(), json!(u.attio_id));
    m
}

#[async_trait]
impl AuthStore for AcmeStore {
    fn features(&self) -> StoreFeatures {
        StoreFeatures {
            admin: false,
            organizations: false,
        }
    }

    fn supports_sync(&self) -> bool {
        false
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        match account_no(id) {
            Some(no) => self.account(no).await,
            None => Ok(None),
        }
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let sql = format!(
            "select {ACCOUNT_COLUMNS} from accounts where login_email = ? collate nocase \
             order by login_email = ? desc limit 1"
        );
        let email = email.trim();
        let row = sqlx::query(&sql)
            .bind(email)
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user).transpose()?)
    }

    async fn search_users(&self, text: &str, limit: u32) -> StoreResult<Vec<User>> {
        // instr: a literal match, no LIKE wildcards to escape.
        let sql = format!(
            "select {ACCOUNT_COLUMNS} from accounts where instr(lower(login_email), lower(?)) > 0 \
             order by created desc, account_no desc limit ?"
        );
        let rows = sqlx::query(&sql)
            .bind(text)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(user).collect::<Result<Vec<_>, _>>()?)
    }

    async fn create_user(&self, u: NewUser, report: Option<Report<'_>>) -> StoreResult<User> {
        if report.is_some() {
            return Err(StoreError::Rejected("no sync outbox".to_owned()));
        }
        // Our own keys: the plugin's proposed id (`u.id`) is not used, the answer carries ours.
        let no: i64 = sqlx::query_scalar(
            "insert into accounts (login_email, full_name, email_confirmed, avatar_url, \
             attio_record, created, updated) values (?, ?, ?, ?, ?, ?, ?) returning account_no",
        )
        .bind(&u.email)
        .bind(&u.name)
        .bind(u.email_verified)
        .bind(&u.image)
        .bind(&u.attio_id)
        .bind(&u.now)
        .bind(&u.now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| conflict(e, "an account with this email or Attio record exists"))?;
        self.account(no)
            .await?
            .ok_or_else(|| StoreError::NotFound("the account just created".to_owned()))
    }

    async fn set_ban(
        &self,
        _user_id: &str,
        _ban: BanUpdate,
        _report: Option<Report<'_>>,
    ) -> StoreResult<Option<User>> {
        Err(StoreError::Rejected("this host has no bans".to_owned()))
    }

    async fn lift_expired_ban(
        &self,
        _user_id: &str,
        _now: &str,
        _report: Option<Report<'_>>,
    ) -> StoreResult<Option<User>> {
        Ok(None) // nobody is ever banned here
    }

    async fn users_after(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        // The export pages by id; ours are integers, so the cursor is one too.
        let after = after.and_then(account_no).unwrap_or(0);
        let sql = format!(
            "select {ACCOUNT_COLUMNS} from accounts where account_no > ? order by account_no limit ?"
        );
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(user).collect::<Result<Vec<_>, _>>()?)
    }

    async fn sessions(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        let Some(no) = account_no(user_id) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "select login_id, secret_token, account_no, valid_until, created, updated, from_ip, \
             from_agent from logins where account_no = ? order by created desc, login_id desc",
        )
        .bind(no)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(session).collect::<Result<Vec<_>, _>>()?)
    }

    async fn session_by_token(&self, token: &str) -> StoreResult<Option<Session>> {
        let row = sqlx::query(
            "select login_id, secret_token, account_no, valid_until, created, updated, from_ip, \
             from_agent from logins where secret_token = ?",
        )
        .bind(token)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(session).transpose()?)
    }

    async fn create_session(&self, s: NewSession) -> StoreResult<()> {
        let no = account_no(&s.user_id).ok_or_else(|| StoreError::NotFound("user".into()))?;
        sqlx::query(
            "insert into logins (login_id, secret_token, account_no, valid_until, created, \
             updated, from_ip, from_agent) values (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(&s.token)
        .bind(no)
        .bind(&s.expires_at)
        .bind(&s.now)
        .bind(&s.now)
        .bind(&s.ip_address)
        .bind(&s.user_agent)
        .execute(&self.pool)
        .await
        .map_err(|e| conflict(e, "session"))?;
        Ok(())
    }

    async fn touch_session(
        &self,
        token: &str,
        ip_address: Option<&str>,
        user_agent: Option<&str>,
        now: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "update logins set from_ip = coalesce(?, from_ip), \
             from_agent = coalesce(?, from_agent), updated = ? where secret_token = ?",
        )
        .bind(ip_address)
        .bind(user_agent)
        .bind(now)
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_session(&self, which: SessionRef<'_>) -> StoreResult<bool> {
        let (sql, key) = match which {
            SessionRef::Id(id) => ("delete from logins where login_id = ?", id),
            SessionRef::Token(t) => ("delete from logins where secret_token = ?", t),
        };
        let done = sqlx::query(sql).bind(key).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user_sessions(&self, user_ids: &[String]) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let mut n = 0;
        for no in user_ids.iter().filter_map(|id| account_no(id)) {
            n += sqlx::query("delete from logins where account_no = ?")
                .bind(no)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn create_verification(
        &self,
        identifier: &str,
        value: &str,
        expires_at: &str,
        _now: &str,
    ) -> StoreResult<()> {
        sqlx::query("insert into one_time_codes (purpose, code, valid_until) values (?, ?, ?)")
            .bind(identifier)
            .bind(value)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn consume_verification(
        &self,
        identifier: &str,
        now: &str,
    ) -> StoreResult<Option<String>> {
        // ISO-8601 UTC text with fixed digits compares like the instants it names.
        let mut tx = self.pool.begin().await?;
        let code: Option<String> = sqlx::query_scalar(
            "select code from one_time_codes where purpose = ? and valid_until > ? limit 1",
        )
        .bind(identifier)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query("delete from one_time_codes where purpose = ?")
            .bind(identifier)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(code)
    }

    async fn organization(&self, _id: &str) -> StoreResult<Option<Organization>> {
        Ok(None)
    }

    async fn member(&self, _organization_id: &str, _user_id: &str) -> StoreResult<Option<Member>> {
        Ok(None)
    }

    async fn members(&self, _organization_id: &str) -> StoreResult<Vec<Member>> {
        Ok(Vec::new())
    }

    async fn create_organization(
        &self,
        _org: NewOrganization,
        _report: Option<Report<'_>>,
    ) -> StoreResult<Organization> {
        no_organizations()
    }

    async fn organizations_after(
        &self,
        _after: Option<&str>,
        _limit: u32,
    ) -> StoreResult<Vec<Organization>> {
        Ok(Vec::new())
    }

    async fn invitations(&self, _org: &str, _now: &str) -> StoreResult<Vec<InvitationRow>> {
        Ok(Vec::new())
    }

    async fn pending_invitation(
        &self,
        _org: &str,
        _email: &str,
        _now: &str,
    ) -> StoreResult<Option<InvitationRow>> {
        Ok(None)
    }

    async fn create_invitation(&self, _invitation: InvitationRow) -> StoreResult<()> {
        no_organizations()
    }

    async fn renew_invitation(&self, _id: &str, _expires: &str, _inviter: &str) -> StoreResult<()> {
        no_organizations()
    }

    async fn cancel_invitation(&self, _id: &str) -> StoreResult<bool> {
        Ok(false)
    }

    async fn report_change(
        &self,
        _model: &str,
        _id: &str,
        _kind: EventKind,
        _report: Report<'_>,
    ) -> StoreResult<Option<String>> {
        Err(StoreError::Rejected("no sync outbox".to_owned()))
    }

    /// Attio record events for users, through the adapter's plan, in one transaction.
    async fn apply_inbound(
        &self,
        event: &RecordEvent,
        adapter: &ModelAdapter,
        report: Option<Report<'_>>,
    ) -> StoreResult<InboundOutcome> {
        if report.is_some() {
            return Err(StoreError::Rejected("no sync outbox".to_owned()));
        }
        if adapter.better_auth_model != "user" {
            return Ok(InboundOutcome::Ignored(
                "this host keeps users only".to_owned(),
            ));
        }
        let mut tx = self.pool.begin().await?;
        let mut stored = None;
        for (key, value) in adapter.lookup_keys(event) {
            stored = self.find(&mut tx, &key, &value).await?;
            if stored.is_some() {
                break;
            }
        }
        let stored = stored.as_ref().map(user_fields);
        let text =
            |f: &Map<String, Value>, k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
        let now = now_iso(&mut tx).await?;
        let outcome =
            match adapter.plan_inbound(event, stored.as_ref()) {
                InboundPlan::Create { fields, .. } => {
                    let no: i64 = sqlx::query_scalar(
                    "insert into accounts (login_email, full_name, email_confirmed, avatar_url, \
                     attio_record, created, updated) values (lower(?), ?, ?, ?, ?, ?, ?) \
                     returning account_no",
                )
                .bind(text(&fields, "email").unwrap_or_default())
                .bind(text(&fields, "name").unwrap_or_default())
                .bind(fields.get("emailVerified").and_then(Value::as_bool).unwrap_or(false))
                .bind(text(&fields, "image"))
                .bind(text(&fields, "attioId"))
                .bind(&now)
                .bind(&now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| conflict(e, "account"))?;
                    InboundOutcome::Created(no.to_string())
                }
                InboundPlan::Update { id, fields, .. } => {
                    let no = account_no(&id).ok_or_else(|| StoreError::NotFound(id.clone()))?;
                    for (field, value) in &fields {
                        let column = match field.as_str() {
                            "name" => "full_name",
                            "email" => "login_email",
                            "emailVerified" => "email_confirmed",
                            "image" => "avatar_url",
                            "attioId" => "attio_record",
                            _ => continue, // a field this host does not keep
                        };
                        let sql = format!(
                            "update accounts set {column} = ?, updated = ? where account_no = ?"
                        );
                        let q = sqlx::query(&sql);
                        let q = match value {
                            Value::Bool(b) => q.bind(*b),
                            Value::String(s) if column == "login_email" => q.bind(s.to_lowercase()),
                            Value::String(s) => q.bind(s.clone()),
                            _ => q.bind(None::<String>),
                        };
                        q.bind(&now)
                            .bind(no)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| conflict(e, "account"))?;
                    }
                    InboundOutcome::Updated(id)
                }
                InboundPlan::Delete { id } => {
                    if let Some(no) = account_no(&id) {
                        sqlx::query("delete from accounts where account_no = ?")
                            .bind(no)
                            .execute(&mut *tx)
                            .await?;
                    }
                    InboundOutcome::Deleted(id)
                }
                InboundPlan::NoChange { id } => InboundOutcome::Unchanged(id),
                InboundPlan::Ignore { reason } => InboundOutcome::Ignored(reason),
                InboundPlan::Reject { reason } => return Err(StoreError::Rejected(reason)),
            };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn create_link(&self, id: &str, webhook_url: &str) -> StoreResult<Link> {
        sqlx::query(
            "insert into attio_links (link_id, url) values (?, ?) on conflict (url) do nothing",
        )
        .bind(id)
        .bind(webhook_url)
        .execute(&self.pool)
        .await?;
        let id: String = sqlx::query_scalar("select link_id from attio_links where url = ?")
            .bind(webhook_url)
            .fetch_one(&self.pool)
            .await?;
        Ok(Link {
            id,
            webhook_url: webhook_url.to_owned(),
        })
    }

    async fn delete_link(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("delete from attio_links where link_id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn links(&self) -> StoreResult<Vec<Link>> {
        let rows = sqlx::query("select link_id, url from attio_links order by link_id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(Link {
                    id: r.try_get("link_id")?,
                    webhook_url: r.try_get("url")?,
                })
            })
            .collect::<Result<Vec<Link>, sqlx::Error>>()?)
    }

    async fn replay_check(
        &self,
        id: &str,
        body_sha256: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<ReplayStatus<StoredResponse>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("delete from attio_replay where forget_after <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "insert into attio_replay (message_id, body_sha256, forget_after) values (?, ?, ?) \
             on conflict (message_id) do nothing",
        )
        .bind(id)
        .bind(body_sha256)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let status = if inserted == 1 {
            ReplayStatus::Fresh
        } else {
            let row = sqlx::query(
                "select body_sha256, status, body from attio_replay where message_id = ?",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if row.try_get::<String, _>("body_sha256")? != body_sha256 {
                ReplayStatus::Conflict
            } else {
                let status: Option<i64> = row.try_get("status")?;
                let body: Option<String> = row.try_get("body")?;
                ReplayStatus::Repeat(status.zip(body).map(|(status, body)| StoredResponse {
                    status: u16::try_from(status).unwrap_or(500),
                    body,
                }))
            }
        };
        tx.commit().await?;
        Ok(status)
    }

    async fn replay_store(&self, id: &str, response: &StoredResponse) -> StoreResult<()> {
        sqlx::query("update attio_replay set status = ?, body = ? where message_id = ?")
            .bind(i64::from(response.status))
            .bind(&response.body)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn replay_forget(&self, id: &str) -> StoreResult<()> {
        sqlx::query("delete from attio_replay where message_id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn session(r: &SqliteRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: r.try_get("login_id")?,
        token: r.try_get("secret_token")?,
        user_id: r.try_get::<i64, _>("account_no")?.to_string(),
        expires_at: r.try_get("valid_until")?,
        created_at: r.try_get("created")?,
        updated_at: r.try_get("updated")?,
        ip_address: r.try_get("from_ip")?,
        user_agent: r.try_get("from_agent")?,
        impersonated_by: None,
        impersonator_name: None,
        active_organization_id: None,
    })
}

/// The time now as the plugin writes it (`2026-11-23T08:49:06.382Z`), from the database's
/// clock: the example needs no date crate of its own.
async fn now_iso(conn: &mut SqliteConnection) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("select strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
        .fetch_one(conn)
        .await
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A signed call as the backend makes it; answers the status and the JSON.
async fn call(
    addr: SocketAddr,
    action: &str,
    mut params: Value,
) -> Result<(u16, Value), Box<dyn std::error::Error>> {
    params["action"] = json!(action);
    let body = params.to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let signed = Signer::new(&[SECRET])?.headers(body.as_bytes(), i64::try_from(now)?)?;
    let mut req = reqwest::Client::new()
        .post(format!("http://{addr}/api/auth/attio/{action}"))
        .header("content-type", "application/json");
    for (name, value) in signed.pairs() {
        req = req.header(name, value);
    }
    let resp = req.body(body).send().await?;
    Ok((resp.status().as_u16(), resp.json().await?))
}

/// Starts the host with its store, makes the calls the Attio app would, and stops.
async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1) // one in-memory database
        .connect("sqlite::memory:")
        .await?;
    sqlx::raw_sql(SCHEMA).execute(&pool).await?;
    sqlx::query(
        "insert into accounts (login_email, full_name, email_confirmed, created, updated) \
         values ('ada@example.com', 'Ada', 1, '2026-01-05T10:00:00.000Z', '2026-01-05T10:00:00.000Z')",
    )
    .execute(&pool)
    .await?;

    let plugin = AttioPlugin::builder()
        .secret(SECRET)
        .store(AcmeStore { pool: pool.clone() })
        .build()?;
    let app = axum::Router::new().nest("/api/auth", plugin.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let server = tokio::spawn(async move { server.await });

    let (status, ping) = call(addr, "ping", json!({})).await?;
    println!("ping: {status} {ping}");
    assert_eq!(ping["features"]["admin"], json!(false));

    let (status, found) = call(addr, "search-users", json!({"search": "ada"})).await?;
    println!("search-users: {status} {found}");
    assert_eq!(status, 200);
    assert_eq!(
        found["users"][0]["id"],
        json!("1"),
        "our integer key, as the user id"
    );

    let (status, created) = call(
        addr,
        "create-user",
        json!({"email": "Grace@Example.com", "name": "Grace", "attioId": "rec-grace"}),
    )
    .await?;
    println!("create-user: {status} {created}");
    assert_eq!(status, 200);
    assert_eq!(created["user"]["id"], json!("2"));
    let stored: String =
        sqlx::query_scalar("select login_email from accounts where attio_record = 'rec-grace'")
            .fetch_one(&pool)
            .await?;
    assert_eq!(stored, "grace@example.com");

    // What needs admin roles answers 501: the Attio app says the host lacks it.
    let (status, refused) = call(
        addr,
        "update-ban-status",
        json!({"userId": "1", "banned": true}),
    )
    .await?;
    println!("update-ban-status: {status} {refused}");
    assert_eq!(status, 501);

    shutdown.cancel();
    server.await??;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    run().await
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_plugin_serves_from_the_hosts_own_tables() {
        if let Err(e) = super::run().await {
            panic!("{e}");
        }
    }
}
