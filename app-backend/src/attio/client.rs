//! The client and its one call loop: the workspace's budget, retries of 429 and 5xx, the
//! capped read of the answer and the mapping of errors.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::Rng as _;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::egress::{ReadError, read_capped};

use super::members::{MEMBER_CACHE_CAPACITY, MEMBER_CACHE_TTL_DEFAULT, MemberCache};
use super::{AttioAuth, AttioError, DEFAULT_MAX_RESPONSE_BYTES, budget_wait_max};

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
    pub(super) link_people: bool,
    /// Create the person when none has the email.
    pub(super) create_people: bool,
    /// Call counters.
    pub stats: Arc<AttioStats>,
    /// Recently resolved workspace members.
    pub(super) members: Arc<MemberCache>,
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
pub(super) enum Budget {
    Read,
    Write,
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

    /// Link each new `users` record to the `person` with its email (`link`), creating the
    /// person when none exists (`create`, only with `link`). See
    /// [`AttioClient::assert_user_record`].
    pub fn with_people(mut self, link: bool, create: bool) -> Self {
        self.link_people = link;
        self.create_people = link && create;
        self
    }

    /// Forget the budgets of workspaces that have been idle long enough for their budget to
    /// be full again (forgetting them changes nothing), and give the memory back: the keyed
    /// limiters otherwise keep one entry per workspace ever called. How many budgets remain.
    pub fn prune_budgets(&self) -> usize {
        for limiter in [&self.writes, &self.reads] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.writes.len() + self.reads.len()
    }

    /// Whether this client talks to Attio itself (`https://api.attio.com`), not a sandbox:
    /// Attio delivers webhooks only to `https://` targets.
    pub fn is_attio_cloud(&self) -> bool {
        self.base == "https://api.attio.com" || self.base.starts_with("https://api.attio.com/")
    }

    /// One call with budget, retries and error mapping. `Ok(None)` for an empty body. Its
    /// span names the workspace, method and path (no query, no body, never the token).
    #[tracing::instrument(
        name = "attio_call",
        skip_all,
        fields(
            workspace = %auth.workspace,
            method = %method,
            path = path.split('?').next().unwrap_or(""),
            write = matches!(budget, Budget::Write),
        )
    )]
    pub(super) async fn call(
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

    pub(super) fn data<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, AttioError> {
        let data = match v {
            Value::Object(mut o) => o.remove("data").unwrap_or(Value::Null),
            _ => Value::Null,
        };
        serde_json::from_value(data).map_err(|e| AttioError::Decode(e.to_string()))
    }

    /// A `GET` of one item at `path` (a read: retried); `None` when Attio answers 404.
    pub(super) async fn get_optional<T: serde::de::DeserializeOwned>(
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
    pub(super) async fn delete_if_present(
        &self,
        auth: &AttioAuth,
        path: &str,
    ) -> Result<bool, AttioError> {
        match self
            .call(auth, Method::DELETE, path, None, Budget::Write, true)
            .await
        {
            Ok(_) => Ok(true),
            Err(AttioError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Percent-encode one path segment or query value.
pub(super) fn seg(s: &str) -> String {
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
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= Duration::from_millis(200));
        assert!(backoff(1) <= Duration::from_millis(250));
        assert!(backoff(3) >= Duration::from_millis(800));
        assert!(backoff(30) <= Duration::from_millis(12_500));
    }

    #[test]
    fn idle_budgets_are_forgotten_and_busy_ones_kept() {
        // Writes refill once a second, reads every millisecond.
        let client = AttioClient::new(reqwest::Client::new(), "http://127.0.0.1:9", 1, 1000, 1);
        for n in 0..200 {
            let workspace = format!("ws-{n}");
            assert!(client.writes.check_key(&workspace).is_ok());
            assert!(client.reads.check_key(&workspace).is_ok());
        }
        std::thread::sleep(Duration::from_millis(20));
        // The read budgets are full again: forgetting them loses nothing. The write budgets
        // were spent less than a second ago: forgetting them would allow a second write.
        assert_eq!(client.prune_budgets(), 200);
        assert_eq!(client.reads.len(), 0);
        assert!(client.writes.check_key(&"ws-7".to_owned()).is_err());
    }
}
