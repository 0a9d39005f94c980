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
    /// Call counters.
    pub stats: Arc<AttioStats>,
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
}

/// A webhook as Attio answers its creation: the secret is only shown then.
#[derive(Clone)]
pub struct CreatedWebhook {
    /// `id.webhook_id`.
    pub webhook_id: String,
    /// The signing secret of deliveries.
    pub secret: SecretString,
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
            stats: Arc::new(AttioStats::default()),
        }
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
                let (_, message) = error_fields(resp).await;
                return Err(AttioError::Unavailable {
                    status: Some(status.as_u16()),
                    message,
                });
            }
            if !status.is_success() {
                self.stats.client_errors.fetch_add(1, Ordering::Relaxed);
                let (code, message) = error_fields(resp).await;
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
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| AttioError::Decode(without_url(&e)))?;
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

    /// `PUT /v2/objects/{object}/records?matching_attribute=..` (assert: upsert).
    pub async fn assert_record(
        &self,
        auth: &AttioAuth,
        object: &str,
        matching_attribute: &str,
        body: &Value,
    ) -> Result<AttioRecord, AttioError> {
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

    /// `POST /v2/webhooks` for record created/updated/deleted, delivered to `target_url`.
    pub async fn create_webhook(
        &self,
        auth: &AttioAuth,
        target_url: &str,
    ) -> Result<CreatedWebhook, AttioError> {
        let subscriptions: Vec<Value> = ["record.created", "record.updated", "record.deleted"]
            .iter()
            .map(|t| json!({"event_type": t, "filter": null}))
            .collect();
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

/// Attio's error body `{status_code, type, code, message}`, leniently.
async fn error_fields(resp: reqwest::Response) -> (String, String) {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    match serde_json::from_str::<Value>(&text) {
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
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= Duration::from_millis(200));
        assert!(backoff(1) <= Duration::from_millis(250));
        assert!(backoff(3) >= Duration::from_millis(800));
        assert!(backoff(30) <= Duration::from_millis(12_500));
    }
}
