//! Calls to the auth plugin (`{url}/attio/<action>`), in the protocol the connection string
//! names: signed (Standard Webhooks headers, `"action"` in the body) or legacy (the shared
//! secret in the body, as the original Attio app does, so an unmodified TypeScript plugin
//! can be driven).

use axum::http::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use attio_auth_shared::actions::{Action, ErrorBody};
use attio_auth_shared::connection::{Connection, Protocol};
use attio_auth_shared::signing::{Signer, SigningError};

use crate::clock::now_secs;
use crate::egress::{self, EgressPolicy, ReadError};

/// Why a plugin call failed. Never contains the secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginCallError {
    /// No answer (refused connection, timeout).
    #[error("the auth server at {url} could not be reached ({reason})")]
    Unreachable {
        /// The plugin base URL (no secret in it).
        url: String,
        /// What happened.
        reason: String,
    },
    /// The plugin answered an error.
    #[error("the auth server answered {status}: {message}")]
    Refused {
        /// Its HTTP status.
        status: u16,
        /// Its `code`, when given.
        code: Option<String>,
        /// Its `message`.
        message: String,
    },
    /// The answer is not JSON of the expected shape.
    #[error("unexpected answer from the auth server: {0}")]
    Decode(String),
    /// Our side could not sign (unusable secret).
    #[error("could not sign the request: {0}")]
    Signing(#[from] SigningError),
    /// The URL is one this backend does not call (`ALLOW_PRIVATE_PLUGIN_URLS`); nothing was
    /// sent.
    #[error("{0}")]
    UrlNotAllowed(String),
    /// The plugin answered a redirect; it is not followed and its body is not read.
    #[error("the auth server answered a redirect ({status}), which is not followed")]
    Redirect {
        /// Its HTTP status (3xx).
        status: u16,
    },
    /// The answer is larger than `PLUGIN_MAX_RESPONSE_BYTES`; reading stopped there.
    #[error("the auth server's answer is larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
}

impl PluginCallError {
    /// Status, code and message for our own JSON answer. The plugin's 4xx pass through
    /// (403 banned or not allowed, 404 user not found, 501 feature missing..); an
    /// authentication refusal (401: bad signature or secret) becomes 502 because it is the
    /// connection that is wrong, not the caller.
    pub fn parts(&self) -> (StatusCode, String, String) {
        match self {
            PluginCallError::Unreachable { .. } => (
                StatusCode::BAD_GATEWAY,
                "PLUGIN_UNREACHABLE".into(),
                self.to_string(),
            ),
            PluginCallError::Refused { status: 401, .. } => (
                StatusCode::BAD_GATEWAY,
                "PLUGIN_UNAUTHORIZED".into(),
                "The auth server refused our request: the connection string's secret does not \
                 match the auth server's."
                    .into(),
            ),
            PluginCallError::Refused {
                status,
                code,
                message,
            } => {
                let s = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY);
                let s = if s.is_server_error() && s != StatusCode::NOT_IMPLEMENTED {
                    StatusCode::BAD_GATEWAY
                } else {
                    s
                };
                (
                    s,
                    code.clone().unwrap_or_else(|| "PLUGIN_ERROR".into()),
                    message.clone(),
                )
            }
            PluginCallError::Decode(_) => (
                StatusCode::BAD_GATEWAY,
                "PLUGIN_BAD_RESPONSE".into(),
                self.to_string(),
            ),
            PluginCallError::Signing(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "CONNECTION_SECRET_UNUSABLE".into(),
                "The connection string's secret cannot sign requests.".into(),
            ),
            PluginCallError::UrlNotAllowed(_) => (
                StatusCode::BAD_REQUEST,
                "PLUGIN_URL_NOT_ALLOWED".into(),
                self.to_string(),
            ),
            PluginCallError::Redirect { .. } => (
                StatusCode::BAD_GATEWAY,
                "PLUGIN_REDIRECT".into(),
                self.to_string(),
            ),
            PluginCallError::TooLarge { .. } => (
                StatusCode::BAD_GATEWAY,
                "PLUGIN_RESPONSE_TOO_LARGE".into(),
                self.to_string(),
            ),
        }
    }

    /// Whether a later attempt may succeed (the queue retries these).
    pub fn is_transient(&self) -> bool {
        match self {
            PluginCallError::Unreachable { .. } => true,
            PluginCallError::Refused { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// The original TypeScript plugin reads only `banExpires` (an ISO date) and ignores
/// `banExpiresIn` (seconds, what the Attio app sends), so a ban with an expiry would
/// silently become permanent there: for legacy connections turn the duration into the date.
fn legacy_ban_expiry(fields: &mut Map<String, Value>, now: i64) {
    if fields.contains_key("banExpires") {
        return;
    }
    let Some(seconds) = fields.get("banExpiresIn").and_then(Value::as_i64) else {
        return;
    };
    // RFC 3339 in whole seconds (`2023-11-14T23:13:20Z`), four-digit years only: a date
    // past year 9999 has no RFC 3339 form, and the duration is left as it came.
    let at = chrono::DateTime::from_timestamp(now.saturating_add(seconds), 0)
        .filter(|t| (0..=9999).contains(&chrono::Datelike::year(t)))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    if let Some(at) = at {
        fields.remove("banExpiresIn");
        fields.insert("banExpires".into(), Value::String(at));
    }
}

/// [`PluginCallError::Unreachable`] reason: the name did not resolve.
pub const REASON_DNS: &str = "DNS lookup failed";
/// [`PluginCallError::Unreachable`] reason: the TLS handshake failed (certificate, or not
/// TLS at all on that port).
pub const REASON_TLS: &str = "TLS handshake failed";
/// [`PluginCallError::Unreachable`] reason: nothing listens there.
pub const REASON_REFUSED: &str = "connection refused";
/// [`PluginCallError::Unreachable`] reason: no answer in time.
pub const REASON_TIMEOUT: &str = "timed out";

/// Why a request got no answer, told apart so a person knows what to fix (the console's
/// install checks show each differently). reqwest does not type these; its source chain
/// does (an `io::Error` kind, or hyper-util's and rustls' messages).
fn unreachable_reason(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        return REASON_TIMEOUT;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut text = String::new();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return REASON_REFUSED,
                std::io::ErrorKind::TimedOut => return REASON_TIMEOUT,
                _ => {}
            }
        }
        text.push_str(&err.to_string().to_ascii_lowercase());
        text.push('\n');
        source = err.source();
    }
    if text.contains("dns error")
        || text.contains("failed to lookup address")
        || text.contains("name or service not known")
        || text.contains("no address")
    {
        REASON_DNS
    } else if text.contains("certificate")
        || text.contains("tls")
        || text.contains("handshake")
        || text.contains("corrupt message")
        || text.contains("invalidcontenttype")
    {
        REASON_TLS
    } else if e.is_connect() {
        REASON_REFUSED
    } else {
        "request failed"
    }
}

/// The plugin client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PluginClient {
    http: reqwest::Client,
    policy: EgressPolicy,
    max_response_bytes: usize,
}

impl PluginClient {
    /// A client over `http` (from [`egress::plugin_http_client`]: no redirects, and the
    /// address policy at connect time), checking `policy` before each call and reading at
    /// most `max_response_bytes` of an answer.
    pub fn new(http: reqwest::Client, policy: EgressPolicy, max_response_bytes: usize) -> Self {
        PluginClient {
            http,
            policy,
            max_response_bytes,
        }
    }

    /// The policy for plugin URLs.
    pub fn policy(&self) -> EgressPolicy {
        self.policy
    }

    /// The full check of a connection's URL, DNS included, before a flow that would call
    /// it (install, OAuth start, `connection-check`): refused before anything is sent.
    pub async fn check_url(&self, conn: &Connection) -> Result<(), PluginCallError> {
        self.policy
            .check(&conn.url())
            .await
            .map_err(|e| PluginCallError::UrlNotAllowed(e.0))
    }

    /// The exact body bytes of `action` with `fields` in the connection's protocol.
    pub fn body(conn: &Connection, action: &str, mut fields: Map<String, Value>) -> Vec<u8> {
        match conn.protocol {
            Protocol::SignedV1 => {
                fields.insert("action".into(), Value::String(action.to_owned()));
            }
            Protocol::Legacy => {
                legacy_ban_expiry(&mut fields, now_secs());
                fields.insert(
                    "secret".into(),
                    Value::String(conn.secret().expose_secret().to_owned()),
                );
            }
        }
        Value::Object(fields).to_string().into_bytes()
    }

    /// POST `action` with `fields`; the 2xx JSON answer (null when empty).
    pub async fn call_raw(
        &self,
        conn: &Connection,
        action: &str,
        fields: Map<String, Value>,
    ) -> Result<Value, PluginCallError> {
        let base = conn.url();
        let url = format!("{base}/attio/{action}");
        // IP literals never reach the resolver that enforces the policy at connect time.
        self.policy
            .check_static(&url)
            .map_err(|e| PluginCallError::UrlNotAllowed(e.0))?;
        let body = Self::body(conn, action, fields);
        let mut req = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if conn.protocol == Protocol::SignedV1 {
            let signer = Signer::from_secret(conn.secret())?;
            let headers = signer.headers(&body, now_secs())?;
            for (name, value) in headers.pairs() {
                req = req.header(name, value);
            }
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| match egress::refusal_in(&e) {
                Some(refused) => PluginCallError::UrlNotAllowed(refused.0),
                None => PluginCallError::Unreachable {
                    url: base.clone(),
                    reason: unreachable_reason(&e).into(),
                },
            })?;
        let status = resp.status();
        if status.is_redirection() {
            // Dropped unread: nothing of a redirect's body or target reaches the caller.
            return Err(PluginCallError::Redirect {
                status: status.as_u16(),
            });
        }
        let bytes = egress::read_capped(resp, self.max_response_bytes)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge { limit } => PluginCallError::TooLarge { limit },
                ReadError::Transport(_) => PluginCallError::Unreachable {
                    url: base.clone(),
                    reason: "answer cut off".into(),
                },
            })?;
        if !status.is_success() {
            let parsed: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
            let (code, message) = match parsed {
                Some(b) => (b.code, b.message),
                None => (
                    None,
                    status.canonical_reason().unwrap_or("error").to_owned(),
                ),
            };
            return Err(PluginCallError::Refused {
                status: status.as_u16(),
                code,
                message,
            });
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| PluginCallError::Decode(e.to_string()))
    }

    /// A typed call of one [`Action`].
    pub async fn call<A: Action>(
        &self,
        conn: &Connection,
        request: &A,
    ) -> Result<A::Response, PluginCallError> {
        let fields = match serde_json::to_value(request) {
            Ok(Value::Object(m)) => m,
            Ok(_) => Map::new(),
            Err(e) => return Err(PluginCallError::Decode(e.to_string())),
        };
        let v = self.call_raw(conn, A::NAME, fields).await?;
        serde_json::from_value(v).map_err(|e| PluginCallError::Decode(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_ban_expiry_becomes_a_date_the_original_reads() {
        let mut fields = Map::new();
        fields.insert("userId".into(), Value::from("u1"));
        fields.insert("banExpiresIn".into(), Value::from(3600));
        legacy_ban_expiry(&mut fields, 1_700_000_000);
        assert_eq!(fields.get("banExpiresIn"), None);
        assert_eq!(
            fields.get("banExpires"),
            Some(&Value::from("2023-11-14T23:13:20Z"))
        );

        // An explicit date wins, and a ban without expiry stays without one.
        let mut explicit = Map::new();
        explicit.insert("banExpires".into(), Value::from("2030-01-01T00:00:00Z"));
        explicit.insert("banExpiresIn".into(), Value::from(60));
        legacy_ban_expiry(&mut explicit, 0);
        assert_eq!(explicit.get("banExpiresIn"), Some(&Value::from(60)));
        let mut none = Map::new();
        legacy_ban_expiry(&mut none, 0);
        assert!(none.is_empty());

        // Beyond year 9999 there is no date to write: the duration stays as it came.
        for seconds in [i64::MAX, 253_402_300_800] {
            let mut far = Map::new();
            far.insert("banExpiresIn".into(), Value::from(seconds));
            legacy_ban_expiry(&mut far, 0);
            assert_eq!(far.get("banExpiresIn"), Some(&Value::from(seconds)));
            assert_eq!(far.get("banExpires"), None);
        }
        let mut last = Map::new();
        last.insert("banExpiresIn".into(), Value::from(253_402_300_799_i64));
        legacy_ban_expiry(&mut last, 0);
        assert_eq!(
            last.get("banExpires"),
            Some(&Value::from("9999-12-31T23:59:59Z"))
        );
    }
}
