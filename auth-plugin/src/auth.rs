//! Authentication of every action call, and the one function that runs an action.
//!
//! Signed protocol (any `webhook-*` header present): headers well-formed, timestamp within
//! 300 s, signature by a configured `whsec_` secret (constant time), then the body: JSON,
//! the action's fields, `action` equal to the route, then the replay guard (a repeat of an
//! id with the same body gets the stored response without acting; another body 422). Nothing
//! is read or written before the signature verified.
//!
//! Legacy protocol (no `webhook-*` header; only with `accept_legacy_body_secret(true)`): the
//! original's order, as its transcripts show: 415 for a non-JSON content type, 400
//! `BAD_REQUEST` for bad JSON, 400 `VALIDATION_ERROR` for a body that does not match (even
//! with a wrong secret), then the body `secret`, compared in constant time with every
//! configured secret: 401 with an empty body when none matches.

use crate::error::{PluginError, PluginResult};
use crate::state::PluginState;
use crate::store::StoredResponse;
use attio_auth_shared::actions::{self, Action, Envelope, Legacy, Signed};
use attio_auth_shared::signing::ReplayStatus;
use attio_auth_shared::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SigningError};
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Which protocol a call came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Body `secret` (the original's).
    Legacy,
    /// Standard Webhooks headers.
    Signed,
}

/// What a handler gets besides its request.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub st: Arc<PluginState>,
    pub protocol: Protocol,
    pub headers: HeaderMap,
}

impl Ctx {
    pub(crate) fn legacy(&self) -> bool {
        self.protocol == Protocol::Legacy
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// The Standard Webhooks headers as header names: a lookup by `&str` parses the name on
/// every call.
static WEBHOOK_ID: HeaderName = HeaderName::from_static(HEADER_ID);
static WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static(HEADER_TIMESTAMP);
static WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static(HEADER_SIGNATURE);

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Some(true)` JSON, `Some(false)` another type, `None` no content type.
fn json_content_type(headers: &HeaderMap) -> Result<bool, PluginError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(false);
    };
    let ct = ct.to_str().unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" {
        Ok(true)
    } else {
        Err(PluginError::UnsupportedMediaType(mime))
    }
}

/// The body as the original's parser sees it: `None` when empty or without a JSON content
/// type ("received undefined"), else parsed JSON.
fn parse_body(is_json: bool, body: &[u8]) -> PluginResult<Option<Value>> {
    if !is_json || body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|_| PluginError::InvalidJson)
}

/// The original's CSRF check: a request that carries a cookie and an `Origin` that is not
/// the auth server's own is refused (server-to-server calls carry no cookie).
fn check_origin(st: &PluginState, headers: &HeaderMap) -> PluginResult<()> {
    let (Some(origin), Some(base)) = (header_str(headers, &header::ORIGIN), &st.config.base_url)
    else {
        return Ok(());
    };
    if headers.get(header::COOKIE).is_none() {
        return Ok(());
    }
    let own = url_origin(base);
    if own.as_deref() == Some(origin.trim_end_matches('/')) {
        Ok(())
    } else {
        Err(PluginError::InvalidOrigin)
    }
}

/// `scheme://host[:port]` of a URL.
fn url_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    Some(format!("{scheme}://{host}"))
}

fn legacy_secret_matches(st: &PluginState, given: &str) -> bool {
    let mut matched = subtle::Choice::from(0u8);
    for s in &st.config.legacy_secrets {
        matched |= s.expose_secret().as_bytes().ct_eq(given.as_bytes());
    }
    bool::from(matched) && !given.is_empty()
}

fn json_response<T: serde::Serialize>(value: &T) -> (StatusCode, String) {
    match serde_json::to_string(value) {
        Ok(body) => (StatusCode::OK, body),
        Err(e) => {
            tracing::error!(error = %e, "attio plugin: response did not serialize");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"message":"internal error","code":"INTERNAL_ERROR"}"#.to_owned(),
            )
        }
    }
}

fn raw_json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Authenticates a call to action `A` (from `peer`, when the host serves with connect
/// info), runs `f` once, answers JSON with the rate limit's headers. Sync events the call
/// enqueued are delivered after it when the plugin delivers without a worker.
#[tracing::instrument(name = "attio_plugin_action", skip_all, fields(action = A::NAME))]
pub(crate) async fn run<A, F, Fut>(
    st: Arc<PluginState>,
    headers: HeaderMap,
    peer: Option<std::net::IpAddr>,
    body: Bytes,
    f: F,
) -> Response
where
    A: Action + Send,
    F: FnOnce(Ctx, A) -> Fut,
    Fut: Future<Output = PluginResult<A::Response>>,
{
    let signed = [&WEBHOOK_ID, &WEBHOOK_TIMESTAMP, &WEBHOOK_SIGNATURE]
        .into_iter()
        .any(|h| headers.contains_key(h));
    let call = async {
        if signed {
            run_signed::<A, F, Fut>(st.clone(), headers, body, f).await
        } else {
            // Legacy calls are counted per client before anything else, as Better Auth
            // counts the original's: the body secret is what a guesser would try.
            let client = crate::limit::client_key(&st.config.trusted_proxies, peer, &headers);
            let verdict = match st.limiter.enforce(&route::<A>(), &client).await {
                Ok(v) => v,
                Err(e) => return e.into_response(),
            };
            let mut response = match run_legacy::<A, F, Fut>(st.clone(), headers, body, f).await {
                Ok(r) => r,
                Err(e) => e.into_response(),
            };
            if let Some(v) = verdict {
                v.apply(response.headers_mut());
            }
            response
        }
    };
    let Some(drain) = &st.drain else {
        return call.await;
    };
    let (response, events) = crate::sync::drain::collect(call).await;
    drain.after_request(events);
    response
}

/// The route of action `A` as rate-limit rules name it (relative to the auth base path).
fn route<A: Action>() -> String {
    format!("/attio/{}", A::NAME)
}

async fn run_legacy<A, F, Fut>(
    st: Arc<PluginState>,
    headers: HeaderMap,
    body: Bytes,
    f: F,
) -> PluginResult<Response>
where
    A: Action + Send,
    F: FnOnce(Ctx, A) -> Fut,
    Fut: Future<Output = PluginResult<A::Response>>,
{
    if !st.config.accept_legacy {
        return Err(PluginError::SignatureRequired);
    }
    check_origin(&st, &headers)?;
    let is_json = json_content_type(&headers)?;
    let value = parse_body(is_json, &body)?;
    actions::validate::<A>(value.as_ref(), Envelope::Legacy)
        .map_err(|e| PluginError::Validation(e.message))?;
    let value = value.unwrap_or(Value::Null);
    let given = value.get("secret").and_then(Value::as_str).unwrap_or("");
    if !legacy_secret_matches(&st, given) {
        return Err(PluginError::LegacyUnauthorized);
    }
    if let Some(tag) = value.get("action").and_then(Value::as_str)
        && tag != A::NAME
    {
        return Err(PluginError::ActionMismatch {
            route: A::NAME,
            found: tag.to_owned(),
        });
    }
    let req: Legacy<A> = serde_json::from_value(value)
        .map_err(|e| PluginError::Validation(format!("[body] {e}")))?;
    req.request
        .check()
        .map_err(|e| PluginError::Validation(e.message))?;
    let ctx = Ctx {
        st,
        protocol: Protocol::Legacy,
        headers,
    };
    let out = f(ctx, req.request).await?;
    let (status, body) = json_response(&out);
    Ok(raw_json(status, body))
}

async fn run_signed<A, F, Fut>(
    st: Arc<PluginState>,
    headers: HeaderMap,
    body: Bytes,
    f: F,
) -> Response
where
    A: Action + Send,
    F: FnOnce(Ctx, A) -> Fut,
    Fut: Future<Output = PluginResult<A::Response>>,
{
    let now = crate::time::now_unix();
    // 1. Signature and timestamp: nothing else happens before this passes.
    let Some(verifier) = &st.verifier else {
        return PluginError::SigningNotConfigured.into_response();
    };
    let id = header_str(&headers, &WEBHOOK_ID).unwrap_or("");
    let ts = header_str(&headers, &WEBHOOK_TIMESTAMP).unwrap_or("");
    let sig = header_str(&headers, &WEBHOOK_SIGNATURE).unwrap_or("");
    if let Err(e) = verifier.verify(id, ts, sig, &body, now) {
        return PluginError::Signature(e).into_response();
    }
    // The verified signer is counted (a forger cannot spend its budget); a refused call
    // is not remembered by the replay guard, so its retry acts.
    let signer = st.signer_key(id, ts, sig, &body, now);
    let verdict = match st.limiter.enforce(&route::<A>(), &signer).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let id = id.to_owned();
    let mut response = signed_after_limit::<A, F, Fut>(&st, headers, id, body, now, f).await;
    if let Some(v) = verdict {
        v.apply(response.headers_mut());
    }
    response
}

/// The signed call once authenticated and counted: its body, the replay guard, the action.
async fn signed_after_limit<A, F, Fut>(
    st: &Arc<PluginState>,
    headers: HeaderMap,
    id: String,
    body: Bytes,
    now: i64,
    f: F,
) -> Response
where
    A: Action + Send,
    F: FnOnce(Ctx, A) -> Fut,
    Fut: Future<Output = PluginResult<A::Response>>,
{
    // 2. The body: JSON, fields, bound to this route.
    let req = match signed_body::<A>(&headers, &body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    // 3. Replay guard: a repeat answers what the first call answered.
    let hash = hex::encode(Sha256::digest(&body));
    let expires = now.saturating_add(st.config.replay_ttl_secs);
    match st.store.replay_check(&id, &hash, now, expires).await {
        Ok(ReplayStatus::Fresh) => {}
        Ok(ReplayStatus::Repeat(Some(stored))) => {
            let status =
                StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return raw_json(status, stored.body);
        }
        Ok(ReplayStatus::Repeat(None)) => return PluginError::InProgress.into_response(),
        Ok(ReplayStatus::Conflict) => {
            return PluginError::Signature(SigningError::Conflict).into_response();
        }
        Err(e) => return PluginError::Store(e).into_response(),
    }
    let ctx = Ctx {
        st: st.clone(),
        protocol: Protocol::Signed,
        headers,
    };
    // A panic in the action is caught here (not only by the router's layer) so that the
    // replay guard forgets the id below and a retry can act.
    let outcome = std::panic::AssertUnwindSafe(f(ctx, req.request))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!(action = A::NAME, "attio plugin: an action panicked");
            Err(PluginError::Panicked)
        });
    let (status, text) = match outcome {
        Ok(out) => json_response(&out),
        Err(e) => {
            let status = e.status();
            let text = e
                .body()
                .and_then(|b| serde_json::to_string(&b).ok())
                .unwrap_or_default();
            // Logged and answered in one place.
            let _ = e.into_response();
            (status, text)
        }
    };
    // 4. Remember the answer; a failure on our side (5xx) is forgotten so a retry acts.
    let remembered = if status.is_server_error() {
        st.store.replay_forget(&id).await
    } else {
        st.store
            .replay_store(
                &id,
                &StoredResponse {
                    status: status.as_u16(),
                    body: text.clone(),
                },
            )
            .await
    };
    if let Err(e) = remembered {
        tracing::error!(error = %e, "attio plugin: replay guard could not record a response");
    }
    raw_json(status, text)
}

fn signed_body<A: Action>(headers: &HeaderMap, body: &[u8]) -> PluginResult<Signed<A>> {
    let is_json = json_content_type(headers)?;
    let value = parse_body(is_json, body)?;
    actions::validate::<A>(value.as_ref(), Envelope::Signed)
        .map_err(|e| PluginError::Validation(e.message))?;
    let value = value.unwrap_or(Value::Null);
    let req: Signed<A> = serde_json::from_value(value)
        .map_err(|e| PluginError::Validation(format!("[body] {e}")))?;
    if !req.matches_route() {
        return Err(PluginError::ActionMismatch {
            route: A::NAME,
            found: req.action,
        });
    }
    req.request
        .check()
        .map_err(|e| PluginError::Validation(e.message))?;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            url_origin("http://127.0.0.1:4100/api/auth").as_deref(),
            Some("http://127.0.0.1:4100")
        );
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert!(!json_content_type(&h).unwrap_or(true));
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().expect("hv"),
        );
        assert!(json_content_type(&h).unwrap_or(false));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().expect("hv"));
        assert!(matches!(
            json_content_type(&h),
            Err(PluginError::UnsupportedMediaType(m)) if m == "text/plain"
        ));
    }
}
