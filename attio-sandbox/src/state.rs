//! Shared state behind the server: the store of workspaces and tokens (one lock), settings
//! that tests change at run time, the rate limiter, and the logs the control API reads.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::RngCore;
use serde::Serialize;
use uuid::Uuid;

use crate::config::{DeliveryConfig, FaultRule, Faults, Noise, RateLimits};
use crate::error::ApiError;
use axum::body::Bytes;
use axum::http::Method;
use chrono::{DateTime, Utc};

use crate::model::{Workspace, attio_time};

/// Lock a mutex, recovering the data if a previous holder panicked (the sandbox state stays
/// usable; no request path panics on a poisoned lock).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A random hex string of `bytes` bytes (tokens, secrets, codes).
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// An access token: a workspace API key or an OAuth access token.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// The OAuth app that obtained it (`None` for API keys).
    pub client_id: Option<String>,
    pub issued_at: i64,
    /// Granted scopes (`webhook:read-write`, ...); [`crate::scopes::ALL`] by default.
    pub scopes: Vec<String>,
}

/// An OAuth app registered through the control API.
#[derive(Debug, Clone)]
pub(crate) struct OAuthClient {
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    /// The workspace `/authorize` installs the app into.
    pub workspace_id: Uuid,
}

/// An authorization code waiting to be exchanged.
#[derive(Debug, Clone)]
pub(crate) struct OAuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub workspace_id: Uuid,
}

/// One API request as seen by the sandbox (no headers, no bodies: tokens stay out of logs).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct RequestRecord {
    /// When it arrived (Attio timestamp format).
    pub at: String,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Status answered.
    pub status: u16,
    /// Id of the token used, if it was valid.
    pub token_id: Option<Uuid>,
    /// The JSON body sent, with [`crate::SandboxConfig::record_bodies`] (`/v2` routes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// One attempt to deliver a webhook event.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct DeliveryRecord {
    /// The `Idempotency-Key` header: the same for every attempt of one event.
    pub idempotency_key: String,
    /// Webhook the event was for.
    pub webhook_id: Uuid,
    /// `record.created`, `record.updated`, ...
    pub event_type: String,
    /// Where it was sent.
    pub target_url: String,
    /// 1 for the first try.
    pub attempt: u32,
    /// Status answered by the target, if it answered.
    pub status: Option<u16>,
    /// Transport error, if it did not.
    pub error: Option<String>,
    /// Whether the target answered 2xx.
    pub delivered: bool,
    /// When the attempt finished.
    pub at: String,
    /// The exact JSON body sent.
    pub body: serde_json::Value,
}

/// A [`RequestRecord`] as the log keeps it: the time and method unformatted.
#[derive(Debug, Clone)]
pub(crate) struct RequestEntry {
    pub at: DateTime<Utc>,
    pub method: Method,
    pub path: String,
    pub status: u16,
    pub token_id: Option<Uuid>,
    pub body: Option<Bytes>,
}

impl RequestEntry {
    pub fn record(&self) -> RequestRecord {
        RequestRecord {
            at: attio_time(self.at),
            method: self.method.to_string(),
            path: self.path.clone(),
            status: self.status,
            token_id: self.token_id,
            body: self
                .body
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok()),
        }
    }
}

/// A [`DeliveryRecord`] as the log keeps it: the body as the bytes sent (shared with the
/// delivery task, parsed only when the log is read), ids and time unformatted.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryEntry {
    pub idempotency_key: Uuid,
    pub webhook_id: Uuid,
    pub event_type: &'static str,
    pub target_url: Arc<str>,
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub delivered: bool,
    pub at: DateTime<Utc>,
    pub body: Bytes,
}

impl DeliveryEntry {
    pub fn record(&self) -> DeliveryRecord {
        DeliveryRecord {
            idempotency_key: self.idempotency_key.to_string(),
            webhook_id: self.webhook_id,
            event_type: self.event_type.to_string(),
            target_url: self.target_url.to_string(),
            attempt: self.attempt,
            status: self.status,
            error: self.error.clone(),
            delivered: self.delivered,
            at: attio_time(self.at),
            // The sandbox wrote these bytes from a JSON value, so they parse.
            body: serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Append to a log of at most `limit` entries, dropping the oldest first.
pub(crate) fn push_capped<T>(log: &mut VecDeque<T>, entry: T, limit: usize) {
    if limit == 0 {
        return;
    }
    while log.len() >= limit {
        log.pop_front();
    }
    log.push_back(entry);
}

/// Everything behind the one data lock.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub workspaces: HashMap<Uuid, Workspace>,
    /// Token string -> token.
    pub tokens: HashMap<String, Token>,
    pub oauth_clients: HashMap<String, OAuthClient>,
    pub oauth_codes: HashMap<String, OAuthCode>,
    /// The newest `log_limit` API requests, oldest first.
    pub requests: VecDeque<RequestEntry>,
    /// The newest `log_limit` delivery attempts, oldest first.
    pub deliveries: VecDeque<DeliveryEntry>,
    /// Bumped by reset so that pending webhook retries of a previous life stop.
    pub generation: u64,
}

impl Store {
    pub fn issue_token(
        &mut self,
        workspace_id: Uuid,
        token: Option<String>,
        client_id: Option<String>,
        scopes: Option<Vec<String>>,
    ) -> (String, Uuid) {
        let token = token.unwrap_or_else(|| random_hex(32));
        let id = Uuid::new_v4();
        let issued_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.tokens.insert(
            token.clone(),
            Token {
                id,
                workspace_id,
                client_id,
                issued_at,
                scopes: scopes.unwrap_or_else(|| {
                    crate::scopes::ALL
                        .iter()
                        .map(|s| (*s).to_string())
                        .collect()
                }),
            },
        );
        (token, id)
    }
}

/// Settings tests change while the server runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub rate_limits: RateLimits,
    pub faults: Faults,
    pub noise: Noise,
}

/// Fixed one-second windows per (token, read|write), aligned to wall-clock seconds, so that
/// `Retry-After` (an HTTP date, whole seconds) is exactly when the budget resets.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    windows: HashMap<(Uuid, bool), (u64, u32)>,
}

impl Limiter {
    pub fn check(&mut self, token: Uuid, write: bool, limits: &RateLimits) -> Result<(), ApiError> {
        if !limits.enabled {
            return Ok(());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let budget = if write {
            limits.writes_per_second
        } else {
            limits.reads_per_second
        };
        let entry = self.windows.entry((token, write)).or_insert((now, 0));
        if entry.0 != now {
            *entry = (now, 0);
        }
        if entry.1 >= budget {
            return Err(ApiError::RateLimited {
                retry_after: UNIX_EPOCH + Duration::from_secs(now + 1),
            });
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Cheap handle to the shared state (State, never Extension).
#[derive(Clone)]
pub(crate) struct AppState(pub Arc<Inner>);

pub(crate) struct Inner {
    pub store: Mutex<Store>,
    pub settings: Mutex<Settings>,
    pub limiter: Mutex<Limiter>,
    /// API requests seen since the faults were last set: injected failures are spread
    /// evenly over this count, so a test sees the same failures on every run.
    pub fault_tick: AtomicU64,
    /// Webhook deliveries dispatched and not yet finished (delivered, given up or dropped),
    /// so a test can wait for "every delivery is done" instead of sleeping.
    pub deliveries_in_flight: AtomicU64,
    /// Deterministic faults ([`FaultRule`]), checked in order.
    pub fault_rules: Mutex<Vec<FaultRule>>,
    /// `http://` loopback webhook targets accepted ([`crate::SandboxConfig::allow_http_webhooks`]).
    pub allow_http_webhooks: bool,
    /// Request bodies kept in the log ([`crate::SandboxConfig::record_bodies`]).
    pub record_bodies: bool,
    pub delivery: DeliveryConfig,
    /// Entries each log keeps ([`crate::SandboxConfig::log_limit`]).
    pub log_limit: usize,
    pub http: reqwest::Client,
}

impl AppState {
    pub fn new(config: &crate::SandboxConfig) -> std::io::Result<Self> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Self(Arc::new(Inner {
            store: Mutex::new(Store::default()),
            settings: Mutex::new(Settings {
                rate_limits: config.rate_limits,
                faults: Faults::default(),
                noise: config.noise,
            }),
            limiter: Mutex::new(Limiter::default()),
            fault_tick: AtomicU64::new(0),
            deliveries_in_flight: AtomicU64::new(0),
            fault_rules: Mutex::new(Vec::new()),
            allow_http_webhooks: config.allow_http_webhooks,
            record_bodies: config.record_bodies,
            delivery: config.delivery,
            log_limit: config.log_limit,
            http,
        })))
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.0.store)
    }

    pub fn settings(&self) -> Settings {
        *lock(&self.0.settings)
    }

    /// Record one API request in the log the control API serves (the newest `log_limit`
    /// entries are kept).
    pub fn log_request(
        &self,
        method: Method,
        path: String,
        status: u16,
        token_id: Option<Uuid>,
        body: Option<Bytes>,
    ) {
        let entry = RequestEntry {
            at: Utc::now(),
            method,
            path,
            status,
            token_id,
            body,
        };
        let limit = self.0.log_limit;
        push_capped(&mut self.store().requests, entry, limit);
    }

    /// Record one delivery attempt (the newest `log_limit` entries are kept).
    pub fn log_delivery(&self, entry: DeliveryEntry) {
        let limit = self.0.log_limit;
        push_capped(&mut self.store().deliveries, entry, limit);
    }
}
