//! Attio REST API v2 client (`shared/attio/NOTES.md`), rate-aware:
//!
//! - a per-workspace budget of writes and reads per second (Attio documents 25 writes and
//!   100 reads per second), so one busy workspace does not starve the others and we stay
//!   under the limit instead of bouncing off it;
//! - 429 is retried after `Retry-After` (an HTTP date, "usually the following second"; a
//!   number of seconds is accepted too), 5xx and connection failures with exponential
//!   backoff and jitter, up to `max_attempts`. A 429 was not processed, so every method may
//!   retry it; 5xx is retried only for idempotent calls (GET, PUT, DELETE, query).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::Rng as _;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use attio_auth_shared::sync::{AttioObject, AttioRecord, AttributeType};

use crate::egress::{ReadError, read_capped};

/// `ATTIO_MAX_RESPONSE_BYTES`' default, for clients made without a configuration.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Why an Attio call failed. Never contains the token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AttioError {
    /// 401/403: the token is refused or lacks a scope.
    #[error("Attio refused the access token ({status}): {message}")]
    Unauthorized {
        /// HTTP status.
        status: u16,
        /// Attio's message.
        message: String,
    },
    /// 404.
    #[error("Attio says not found: {message}")]
    NotFound {
        /// Attio's message.
        message: String,
    },
    /// Another 4xx: Attio's code and message.
    #[error("Attio refused the request ({status} {code}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Attio's `code` (`slug_conflict`, `value_not_found`..).
        code: String,
        /// Attio's message.
        message: String,
    },
    /// Still 429 after every attempt.
    #[error("Attio kept answering 429 (rate limited) after {attempts} attempts")]
    RateLimited {
        /// Attempts made.
        attempts: u32,
    },
    /// 5xx or no answer after every attempt allowed.
    #[error("Attio is unavailable: {message}")]
    Unavailable {
        /// Last status, if any.
        status: Option<u16>,
        /// What happened.
        message: String,
    },
    /// The answer is not the JSON we expect.
    #[error("unexpected answer from Attio: {0}")]
    Decode(String),
    /// The answer is larger than `ATTIO_MAX_RESPONSE_BYTES`; reading stopped there.
    #[error("Attio's answer is larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// (Queue workers only) this workspace's budget is spent for `wait`: the job is put
    /// back for later rather than holding a worker.
    #[error("this workspace's Attio budget is spent for {wait:?}")]
    Busy {
        /// How long until the budget allows the call.
        wait: Duration,
    },
}

tokio::task_local! {
    /// Set around a queue job: the longest a call may wait on the budget or a 429.
    static BUDGET_WAIT_MAX: Duration;
}

/// Run `f` (a queue job) so that its Attio calls answer [`AttioError::Busy`] instead of
/// waiting longer than `max` on the workspace's budget.
pub async fn with_budget_wait_max<F: std::future::Future>(max: Duration, f: F) -> F::Output {
    BUDGET_WAIT_MAX.scope(max, f).await
}

fn budget_wait_max() -> Option<Duration> {
    BUDGET_WAIT_MAX.try_with(|d| *d).ok()
}

impl AttioError {
    /// Status, code and message for our own JSON answer.
    pub fn parts(&self) -> (axum::http::StatusCode, String, String) {
        use axum::http::StatusCode as S;
        let (status, code) = match self {
            AttioError::Unauthorized { .. } => (S::BAD_GATEWAY, "ATTIO_UNAUTHORIZED"),
            AttioError::NotFound { .. } => (S::BAD_GATEWAY, "ATTIO_NOT_FOUND"),
            AttioError::Api { .. } => (S::BAD_GATEWAY, "ATTIO_ERROR"),
            AttioError::RateLimited { .. } => (S::SERVICE_UNAVAILABLE, "ATTIO_RATE_LIMITED"),
            AttioError::Unavailable { .. } => (S::BAD_GATEWAY, "ATTIO_UNAVAILABLE"),
            AttioError::Decode(_) => (S::BAD_GATEWAY, "ATTIO_BAD_RESPONSE"),
            AttioError::TooLarge { .. } => (S::BAD_GATEWAY, "ATTIO_RESPONSE_TOO_LARGE"),
            AttioError::Busy { .. } => (S::SERVICE_UNAVAILABLE, "ATTIO_RATE_LIMITED"),
        };
        (status, code.to_owned(), self.to_string())
    }

    /// Whether a later attempt may succeed (queue jobs retry these).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AttioError::RateLimited { .. }
                | AttioError::Unavailable { .. }
                | AttioError::Busy { .. }
        )
    }
}

/// Whose budget and which token a call uses.
#[derive(Clone)]
pub struct AttioAuth {
    /// The budget key: the Attio workspace id (or the installation id before it is known).
    pub workspace: String,
    /// The bearer token.
    pub token: SecretString,
}

impl std::fmt::Debug for AttioAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttioAuth")
            .field("workspace", &self.workspace)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// Counters of Attio calls, for `/metrics`.
#[derive(Debug, Default)]
pub struct AttioStats {
    /// Answers 2xx.
    pub ok: AtomicU64,
    /// Answers 429.
    pub rate_limited: AtomicU64,
    /// Answers 5xx or transport errors.
    pub server_errors: AtomicU64,
    /// Other 4xx.
    pub client_errors: AtomicU64,
    /// Retries made.
    pub retries: AtomicU64,
}

/// The client. Cheap to clone (shared budgets and connection pool).
#[derive(Clone)]
pub struct AttioClient {
    http: reqwest::Client,
    base: String,
    writes: Arc<DefaultKeyedRateLimiter<String>>,
    reads: Arc<DefaultKeyedRateLimiter<String>>,
    max_attempts: u32,
    max_response_bytes: usize,
    /// Link new `users` records to their `person` by email ([`AttioClient::with_people`]).
    link_people: bool,
    /// Create the person when none has the email.
    create_people: bool,
    /// Call counters.
    pub stats: Arc<AttioStats>,
    /// Recently resolved workspace members.
    members: Arc<MemberCache>,
}

impl std::fmt::Debug for AttioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttioClient")
            .field("base", &self.base)
            .finish()
    }
}

/// Read or write: which budget a call spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    Read,
    Write,
}

/// An attribute as `GET .../attributes` lists it (the fields we use).
#[derive(Debug, Clone, Deserialize)]
pub struct AttributeInfo {
    /// Slug.
    pub api_slug: String,
    /// Type.
    #[serde(rename = "type")]
    pub attribute_type: AttributeType,
    /// Unique?
    #[serde(default)]
    pub is_unique: bool,
    /// Archived?
    #[serde(default)]
    pub is_archived: bool,
    /// Several values? (`users.workspace`: Attio's docs leave its cardinality open.)
    #[serde(default)]
    pub is_multiselect: bool,
}

/// A webhook as Attio answers its creation: the secret is only shown then.
#[derive(Clone)]
pub struct CreatedWebhook {
    /// `id.webhook_id`.
    pub webhook_id: String,
    /// The signing secret of deliveries.
    pub secret: SecretString,
}

/// A workspace member as `GET /v2/workspace_members/{id}` answers (the fields we use).
#[derive(Debug, Clone, Deserialize)]
pub struct WorkspaceMember {
    /// `{workspace_id, workspace_member_id}`.
    pub id: WorkspaceMemberId,
    /// Their email address.
    pub email_address: String,
    /// `admin`, `member` or `suspended`.
    #[serde(default)]
    pub access_level: String,
}

/// The `id` of a [`WorkspaceMember`].
#[derive(Debug, Clone, Deserialize)]
pub struct WorkspaceMemberId {
    /// The workspace.
    pub workspace_id: String,
    /// The member.
    pub workspace_member_id: String,
}

/// Default time a resolved member is kept (`MEMBER_CACHE_SECS`).
pub const MEMBER_CACHE_TTL_DEFAULT: Duration = Duration::from_secs(60);
/// Most members kept at once, over every workspace (memory bound).
pub const MEMBER_CACHE_CAPACITY: usize = 10_000;

type MemberKey = (String, String);

/// A small TTL cache of resolved members, bounded in entries: when full, expired entries go,
/// and if none had expired, everything goes (a refill costs one Attio read per member).
#[derive(Debug)]
struct MemberCache {
    ttl: Duration,
    capacity: usize,
    map: std::sync::Mutex<
        std::collections::HashMap<MemberKey, (std::time::Instant, WorkspaceMember)>,
    >,
}

impl MemberCache {
    fn new(ttl: Duration, capacity: usize) -> Self {
        MemberCache {
            ttl,
            capacity,
            map: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn get(&self, key: &MemberKey) -> Option<WorkspaceMember> {
        let map = self.map.lock().ok()?;
        map.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, m)| m.clone())
    }

    fn put(&self, key: MemberKey, member: WorkspaceMember) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        if map.len() >= self.capacity {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| at.elapsed() < ttl);
            if map.len() >= self.capacity {
                map.clear();
            }
        }
        map.insert(key, (std::time::Instant::now(), member));
    }
}

/// `GET /v2/self`: which workspace a token belongs to.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenInfo {
    /// Whether the token is active.
    #[serde(default)]
    pub active: bool,
    /// The workspace id.
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// The workspace name.
    #[serde(default)]
    pub workspace_name: Option<String>,
    /// Granted scopes, space separated.
    #[serde(default)]
    pub scope: Option<String>,
    /// The workspace member who authorized an OAuth token (who signed in to the console).
    #[serde(default)]
    pub authorized_by_workspace_member_id: Option<String>,
}

impl AttioClient {
    /// A client for `base` (`https://api.attio.com/v2`) with per-workspace budgets.
    pub fn new(
        http: reqwest::Client,
        base: &str,
        writes_per_sec: u32,
        reads_per_sec: u32,
        max_attempts: u32,
    ) -> Self {
        // Evenly spaced (burst 1): Attio counts per second, so a burst at the end of one
        // second followed by the steady rate would overrun that second's budget.
        let quota = |n: u32| {
            Quota::per_second(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::MIN)
        };
        AttioClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            writes: Arc::new(RateLimiter::keyed(quota(writes_per_sec))),
            reads: Arc::new(RateLimiter::keyed(quota(reads_per_sec))),
            max_attempts: max_attempts.max(1),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            link_people: false,
            create_people: false,
            stats: Arc::new(AttioStats::default()),
            members: Arc::new(MemberCache::new(
                MEMBER_CACHE_TTL_DEFAULT,
                MEMBER_CACHE_CAPACITY,
            )),
        }
    }

    /// Read at most `bytes` of any answer (`ATTIO_MAX_RESPONSE_BYTES`).
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Keep resolved workspace members for `ttl` (`MEMBER_CACHE_SECS`; zero: no cache).
    pub fn with_member_cache_ttl(mut self, ttl: Duration) -> Self {
        self.members = Arc::new(MemberCache::new(ttl, MEMBER_CACHE_CAPACITY));
        self
    }

    /// `GET /v2/workspace_members/{id}` (scope `user_management:read`): who a workspace
    /// member is, from Attio itself, so that the acting person's email is never taken from
    /// the caller. `None` when Attio does not know the id. Answers are kept briefly (bounded
    /// cache keyed by workspace and member).
    pub async fn get_workspace_member(
        &self,
        auth: &AttioAuth,
        member_id: &str,
    ) -> Result<Option<WorkspaceMember>, AttioError> {
        let key = (auth.workspace.clone(), member_id.to_owned());
        if let Some(m) = self.members.get(&key) {
            return Ok(Some(m));
        }
        let found: Option<WorkspaceMember> = self
            .get_optional(auth, &format!("/workspace_members/{}", seg(member_id)))
            .await?;
        if let Some(m) = &found {
            self.members.put(key, m.clone());
        }
        Ok(found)
    }

    /// Link each new `users` record to the `person` with its email (`link`), creating the
    /// person when none exists (`create`, only with `link`). See
    /// [`AttioClient::assert_user_record`].
    pub fn with_people(mut self, link: bool, create: bool) -> Self {
        self.link_people = link;
        self.create_people = link && create;
        self
    }

    /// Whether this client talks to Attio itself (`https://api.attio.com`), not a sandbox:
    /// Attio delivers webhooks only to `https://` targets.
    pub fn is_attio_cloud(&self) -> bool {
        self.base == "https://api.attio.com" || self.base.starts_with("https://api.attio.com/")
    }

    /// One call with budget, retries and error mapping. `Ok(None)` for an empty body.
    async fn call(
        &self,
        auth: &AttioAuth,
        method: Method,
        path: &str,
        body: Option<&Value>,
        budget: Budget,
        idempotent: bool,
    ) -> Result<Value, AttioError> {
        let url = format!("{}{}", self.base, path);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let limiter = match budget {
                Budget::Read => &self.reads,
                Budget::Write => &self.writes,
            };
            match budget_wait_max() {
                // A queue worker: wait at most `max` on this tenant's budget, else give the
                // job back (other tenants may have work) instead of sleeping on it.
                Some(max) => {
                    if let Err(not_until) = limiter.check_key(&auth.workspace) {
                        use governor::clock::Clock as _;
                        let wait = not_until.wait_time_from(limiter.clock().now());
                        if wait > max {
                            return Err(AttioError::Busy { wait });
                        }
                        limiter.until_key_ready(&auth.workspace).await;
                    }
                }
                None => limiter.until_key_ready(&auth.workspace).await,
            }
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(auth.token.expose_secret());
            if let Some(b) = body {
                req = req.json(b);
            }
            let outcome = req.send().await;
            let last = attempt >= self.max_attempts;
            let resp = match outcome {
                Ok(r) => r,
                Err(e) => {
                    self.stats.server_errors.fetch_add(1, Ordering::Relaxed);
                    // A connect error means nothing was sent: safe to retry any method.
                    if !last && (idempotent || e.is_connect()) {
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(backoff(attempt)).await;
                        continue;
                    }
                    return Err(AttioError::Unavailable {
                        status: None,
                        message: without_url(&e),
                    });
                }
            };
            let status = resp.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                if last {
                    return Err(AttioError::RateLimited { attempts: attempt });
                }
                let wait = retry_after(resp.headers(), SystemTime::now())
                    .unwrap_or_else(|| backoff(attempt));
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                if budget_wait_max().is_some_and(|max| wait > max) {
                    return Err(AttioError::Busy { wait });
                }
                tracing::debug!(?wait, path, "Attio 429, waiting");
                tokio::time::sleep(wait).await;
                continue;
            }
            if status.is_server_error() {
                self.stats.server_errors.fetch_add(1, Ordering::Relaxed);
                if idempotent && !last {
                    let wait = retry_after(resp.headers(), SystemTime::now())
                        .unwrap_or_else(|| backoff(attempt));
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                    continue;
                }
                let (_, message) = error_fields(resp, self.max_response_bytes).await;
                return Err(AttioError::Unavailable {
                    status: Some(status.as_u16()),
                    message,
                });
            }
            if !status.is_success() {
                self.stats.client_errors.fetch_add(1, Ordering::Relaxed);
                let (code, message) = error_fields(resp, self.max_response_bytes).await;
                return Err(match status.as_u16() {
                    401 | 403 => AttioError::Unauthorized {
                        status: status.as_u16(),
                        message,
                    },
                    404 => AttioError::NotFound { message },
                    s => AttioError::Api {
                        status: s,
                        code,
                        message,
                    },
                });
            }
            self.stats.ok.fetch_add(1, Ordering::Relaxed);
            let bytes = read_capped(resp, self.max_response_bytes)
                .await
                .map_err(|e| match e {
                    ReadError::TooLarge { limit } => AttioError::TooLarge { limit },
                    ReadError::Transport(e) => AttioError::Decode(without_url(&e)),
                })?;
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes).map_err(|e| AttioError::Decode(e.to_string()));
        }
    }

    fn data<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, AttioError> {
        let data = match v {
            Value::Object(mut o) => o.remove("data").unwrap_or(Value::Null),
            _ => Value::Null,
        };
        serde_json::from_value(data).map_err(|e| AttioError::Decode(e.to_string()))
    }

    /// A `GET` of one item at `path` (a read: retried); `None` when Attio answers 404.
    async fn get_optional<T: serde::de::DeserializeOwned>(
        &self,
        auth: &AttioAuth,
        path: &str,
    ) -> Result<Option<T>, AttioError> {
        match self
            .call(auth, Method::GET, path, None, Budget::Read, true)
            .await
        {
            Ok(v) => Self::data(v).map(Some),
            Err(AttioError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A `DELETE` of `path` (idempotent: retried); `Ok(false)` when it was already gone (404).
    async fn delete_if_present(&self, auth: &AttioAuth, path: &str) -> Result<bool, AttioError> {
        match self
            .call(auth, Method::DELETE, path, None, Budget::Write, true)
            .await
        {
            Ok(_) => Ok(true),
            Err(AttioError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET /v2/self`: the token's workspace (Identify).
    pub async fn identify(&self, auth: &AttioAuth) -> Result<TokenInfo, AttioError> {
        let v = self
            .call(auth, Method::GET, "/self", None, Budget::Read, true)
            .await?;
        serde_json::from_value(v).map_err(|e| AttioError::Decode(e.to_string()))
    }

    /// `GET /v2/objects`.
    pub async fn list_objects(&self, auth: &AttioAuth) -> Result<Vec<AttioObject>, AttioError> {
        let v = self
            .call(auth, Method::GET, "/objects", None, Budget::Read, true)
            .await?;
        Self::data(v)
    }

    /// `GET /v2/objects/{slug}`; `None` when it does not exist or is disabled.
    pub async fn get_object(
        &self,
        auth: &AttioAuth,
        slug: &str,
    ) -> Result<Option<AttioObject>, AttioError> {
        self.get_optional(auth, &format!("/objects/{}", seg(slug)))
            .await
    }

    /// `GET /v2/objects/{slug}/attributes` (archived ones too, so we do not try to create a
    /// slug that exists archived).
    pub async fn list_attributes(
        &self,
        auth: &AttioAuth,
        object: &str,
    ) -> Result<Vec<AttributeInfo>, AttioError> {
        let v = self
            .call(
                auth,
                Method::GET,
                &format!("/objects/{}/attributes?show_archived=true", seg(object)),
                None,
                Budget::Read,
                true,
            )
            .await?;
        Self::data(v)
    }

    /// `POST /v2/objects/{slug}/attributes` with a body from
    /// [`FieldSchema::create_attribute_body`](attio_auth_shared::sync::FieldSchema::create_attribute_body).
    /// `Ok(false)` when the slug exists already (409 `slug_conflict`).
    pub async fn create_attribute(
        &self,
        auth: &AttioAuth,
        object: &str,
        body: &Value,
    ) -> Result<bool, AttioError> {
        match self
            .call(
                auth,
                Method::POST,
                &format!("/objects/{}/attributes", seg(object)),
                Some(body),
                Budget::Write,
                false,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(AttioError::Api { status: 409, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `PUT /v2/objects/{object}/records?matching_attribute=..` (assert: upsert). Every
    /// value is sent as an array (the request schema's `values` are arrays; a single value
    /// `v` becomes `[v]`, a clear `null` becomes `[]`).
    pub async fn assert_record(
        &self,
        auth: &AttioAuth,
        object: &str,
        matching_attribute: &str,
        body: &Value,
    ) -> Result<AttioRecord, AttioError> {
        let body = &values_as_arrays(body);
        let v = self
            .call(
                auth,
                Method::PUT,
                &format!(
                    "/objects/{}/records?matching_attribute={}",
                    seg(object),
                    seg(matching_attribute)
                ),
                Some(body),
                Budget::Write,
                true,
            )
            .await?;
        Self::data(v)
    }

    /// An assert of a `users` record made for the first time (`first_write`): with people
    /// linking on, `person` is written as a record reference matched by email
    /// (`{"target_object": "people", "email_addresses": [email]}`, docs: attribute types →
    /// record reference, "linking referenced records"), so Attio itself finds the person.
    /// Attio refuses such a reference when no person has the email (400 `value_not_found`),
    /// so a one-record query (a read: its own, larger budget) first tells whether one does;
    /// if not, the person is created when configured (`ATTIO_CREATE_PEOPLE`), else the user
    /// is written without it. Later writes leave `person` alone (someone may have relinked
    /// it by hand). Other objects and writes are plain asserts.
    pub async fn assert_user_record(
        &self,
        auth: &AttioAuth,
        object: &str,
        matching_attribute: &str,
        body: &Value,
        first_write: bool,
    ) -> Result<AttioRecord, AttioError> {
        let email = body
            .pointer("/data/values/primary_email_address")
            .and_then(|v| match v {
                Value::Array(a) => a.first(),
                other => Some(other),
            })
            .and_then(|v| v.as_str().or_else(|| v.get("email_address")?.as_str()))
            .map(str::to_owned);
        let wanted = self.link_people
            && first_write
            && object == "users"
            && body.pointer("/data/values/person").is_none();
        let Some(email) = email.filter(|_| wanted) else {
            return self
                .assert_record(auth, object, matching_attribute, body)
                .await;
        };
        let found = !self
            .query_records(auth, "people", json!({"email_addresses": email}), 1, 0)
            .await?
            .is_empty();
        if !found {
            if !self.create_people {
                return self
                    .assert_record(auth, object, matching_attribute, body)
                    .await;
            }
            let person = json!({"data": {"values": {"email_addresses": [email]}}});
            self.assert_record(auth, "people", "email_addresses", &person)
                .await?;
        }
        let mut linked = body.clone();
        if let Some(values) = linked
            .pointer_mut("/data/values")
            .and_then(Value::as_object_mut)
        {
            values.insert(
                "person".into(),
                json!([{"target_object": "people", "email_addresses": [email]}]),
            );
        }
        match self
            .assert_record(auth, object, matching_attribute, &linked)
            .await
        {
            // The person went away since the query: write the user without it.
            Err(AttioError::Api {
                status: 400, code, ..
            }) if code == "value_not_found" => {
                self.assert_record(auth, object, matching_attribute, body)
                    .await
            }
            other => other,
        }
    }

    /// `GET /v2/objects/{object}/records/{id}`; `None` when it does not exist.
    pub async fn get_record(
        &self,
        auth: &AttioAuth,
        object: &str,
        record_id: &str,
    ) -> Result<Option<AttioRecord>, AttioError> {
        self.get_optional(
            auth,
            &format!("/objects/{}/records/{}", seg(object), seg(record_id)),
        )
        .await
    }

    /// `DELETE /v2/objects/{object}/records/{id}`; `Ok(false)` when it was already gone.
    pub async fn delete_record(
        &self,
        auth: &AttioAuth,
        object: &str,
        record_id: &str,
    ) -> Result<bool, AttioError> {
        self.delete_if_present(
            auth,
            &format!("/objects/{}/records/{}", seg(object), seg(record_id)),
        )
        .await
    }

    /// `POST /v2/objects/{object}/records/query` (a read: safe to retry).
    pub async fn query_records(
        &self,
        auth: &AttioAuth,
        object: &str,
        filter: Value,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<AttioRecord>, AttioError> {
        let body = json!({"filter": filter, "limit": limit, "offset": offset});
        let v = self
            .call(
                auth,
                Method::POST,
                &format!("/objects/{}/records/query", seg(object)),
                Some(&body),
                Budget::Read,
                true,
            )
            .await?;
        Self::data(v)
    }

    /// `PATCH /v2/objects/{object}/attributes/{attribute}` with `{is_archived}`: archive an
    /// attribute (Attio has no attribute delete) or restore an archived one.
    pub async fn set_attribute_archived(
        &self,
        auth: &AttioAuth,
        object: &str,
        attribute: &str,
        archived: bool,
    ) -> Result<(), AttioError> {
        let body = json!({"data": {"is_archived": archived}});
        self.call(
            auth,
            Method::PATCH,
            &format!("/objects/{}/attributes/{}", seg(object), seg(attribute)),
            Some(&body),
            Budget::Write,
            true,
        )
        .await
        .map(|_| ())
    }

    /// `POST /v2/objects/{object}/attributes/{attribute}/options` with `{title}`;
    /// `Ok(false)` when the option exists already (409).
    pub async fn create_select_option(
        &self,
        auth: &AttioAuth,
        object: &str,
        attribute: &str,
        title: &str,
    ) -> Result<bool, AttioError> {
        let body = json!({"data": {"title": title}});
        match self
            .call(
                auth,
                Method::POST,
                &format!(
                    "/objects/{}/attributes/{}/options",
                    seg(object),
                    seg(attribute)
                ),
                Some(&body),
                Budget::Write,
                false,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(AttioError::Api { status: 409, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The subscriptions of our webhook: record events of the synced objects only (a `null`
    /// filter would subscribe to every record event of the workspace: people, companies,
    /// deals, and their enrichment noise, queued ahead of ours at 25 deliveries/s).
    pub fn webhook_subscriptions(object_ids: &[String]) -> Vec<Value> {
        let filter = json!({"$or": object_ids
            .iter()
            .map(|id| json!({"field": "id.object_id", "operator": "equals", "value": id}))
            .collect::<Vec<_>>()});
        [
            "record.created",
            "record.updated",
            "record.deleted",
            "record.merged",
        ]
        .iter()
        .map(|t| json!({"event_type": t, "filter": filter}))
        .collect()
    }

    /// `PATCH /v2/webhooks/{id}`: subscribe to the record events of `object_ids` (when the
    /// synced objects change).
    pub async fn update_webhook_objects(
        &self,
        auth: &AttioAuth,
        webhook_id: &str,
        object_ids: &[String],
    ) -> Result<(), AttioError> {
        let body = json!({"data": {"subscriptions": Self::webhook_subscriptions(object_ids)}});
        self.call(
            auth,
            Method::PATCH,
            &format!("/webhooks/{}", seg(webhook_id)),
            Some(&body),
            Budget::Write,
            true,
        )
        .await
        .map(|_| ())
    }

    /// `POST /v2/webhooks` for record created/updated/deleted/merged of the objects
    /// `object_ids`, delivered to `target_url`.
    pub async fn create_webhook(
        &self,
        auth: &AttioAuth,
        target_url: &str,
        object_ids: &[String],
    ) -> Result<CreatedWebhook, AttioError> {
        let subscriptions = Self::webhook_subscriptions(object_ids);
        let body = json!({"data": {"target_url": target_url, "subscriptions": subscriptions}});
        let v = self
            .call(
                auth,
                Method::POST,
                "/webhooks",
                Some(&body),
                Budget::Write,
                false,
            )
            .await?;
        #[derive(Deserialize)]
        struct WebhookIdPart {
            webhook_id: String,
        }
        #[derive(Deserialize)]
        struct Created {
            id: WebhookIdPart,
            secret: String,
        }
        let created: Created = Self::data(v)?;
        Ok(CreatedWebhook {
            webhook_id: created.id.webhook_id,
            secret: SecretString::from(created.secret),
        })
    }

    /// `DELETE /v2/webhooks/{id}`; `Ok(false)` when it was already gone.
    pub async fn delete_webhook(
        &self,
        auth: &AttioAuth,
        webhook_id: &str,
    ) -> Result<bool, AttioError> {
        self.delete_if_present(auth, &format!("/webhooks/{}", seg(webhook_id)))
            .await
    }
}

/// `{data: {values: {slug: v}}}` with every `v` an array, as the OpenAPI request schema of
/// record writes has it (`values.additionalProperties: {type: array}`).
pub fn values_as_arrays(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(values) = body
        .pointer_mut("/data/values")
        .and_then(Value::as_object_mut)
    {
        for v in values.values_mut() {
            *v = match v.take() {
                Value::Array(a) => Value::Array(a),
                Value::Null => Value::Array(Vec::new()),
                other => Value::Array(vec![other]),
            };
        }
    }
    body
}

/// Percent-encode one path segment or query value.
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A reqwest error without its URL (URLs may carry query values we do not want in logs).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_decode() {
        "could not read the answer"
    } else {
        "request failed"
    };
    kind.to_owned()
}

/// Attio's error body `{status_code, type, code, message}`, leniently (an unreadable or
/// oversized body gives the status's reason).
async fn error_fields(resp: reqwest::Response, limit: usize) -> (String, String) {
    let status = resp.status();
    let bytes = read_capped(resp, limit).await.unwrap_or_default();
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) => (
            v.get("code")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned(),
            v.get("message")
                .and_then(Value::as_str)
                .unwrap_or(status.canonical_reason().unwrap_or("error"))
                .to_owned(),
        ),
        Err(_) => (
            "unknown".into(),
            status.canonical_reason().unwrap_or("error").to_owned(),
        ),
    }
}

/// Exponential backoff with jitter: 200 ms, 400 ms, 800 ms.. capped at 10 s.
pub fn backoff(attempt: u32) -> Duration {
    let base = 200u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(10));
    let capped = base.min(10_000);
    let jitter = rand::thread_rng().gen_range(0..=capped / 4);
    Duration::from_millis(capped + jitter)
}

/// How long `Retry-After` asks us to wait: an HTTP date (Attio's form) or seconds. Capped at
/// 60 s; a date in the past means "now" (a small floor keeps us from spinning).
pub fn retry_after(headers: &reqwest::header::HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        // HTTP dates have whole seconds: the limit resets within the named second, so
        // waiting until its end is never early.
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.clamp(Duration::from_millis(50), Duration::from_secs(60)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn retry_after_http_date_and_seconds() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_684_852_920);
        let mut h = HeaderMap::new();
        // 1684852921 = Tue, 23 May 2023 14:42:01 GMT (NOTES.md's example).
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Tue, 23 May 2023 14:42:01 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(1)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Tue, 23 May 2000 14:42:01 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(50)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn record_values_are_sent_as_arrays() {
        let body = json!({"data": {"values": {"a": "x", "b": ["y"], "c": null, "d": true}}});
        assert_eq!(
            values_as_arrays(&body),
            json!({"data": {"values": {"a": ["x"], "b": ["y"], "c": [], "d": [true]}}})
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= Duration::from_millis(200));
        assert!(backoff(1) <= Duration::from_millis(250));
        assert!(backoff(3) >= Duration::from_millis(800));
        assert!(backoff(30) <= Duration::from_millis(12_500));
    }
}
