//! The HTTP surface: Attio's REST API v2 under `/v2`, the OAuth app flow, and the sandbox's
//! own control API under `/_sandbox` (see `control.rs`). Shared extractors live here: the
//! bearer-token [`Auth`] (which also applies rate limits) and JSON/path/query/form wrappers
//! that answer bad input with Attio's error JSON.

pub(crate) mod members;
mod oauth;
mod objects;
mod records;
mod webhooks;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::{Actor, Workspace};
use crate::state::AppState;
use crate::write::Event;

/// JSON body; a malformed body is a 400 `validation_type`.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct ApiJson<T>(pub T);

/// A raw (possibly empty) body; rejections become Attio errors.
pub(crate) struct ApiBytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(axum::body::Bytes::from_request(request, state).await?))
    }
}

/// Largest body accepted: Attio allows text values up to 10 MB.
const BODY_LIMIT: usize = 12 * 1024 * 1024;

/// Path parameters; rejections become Attio errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct ApiPath<T>(pub T);

/// Query parameters; rejections become Attio errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub T);

/// Form body (OAuth token endpoint); rejections become OAuth `invalid_request`.
#[derive(FromRequest)]
#[from_request(via(axum::Form), rejection(ApiError))]
pub(crate) struct ApiForm<T>(pub T);

/// The token string of an `Authorization` header: `Bearer <token>`, or HTTP Basic with the
/// token as user name (Attio accepts both).
pub(crate) fn token_of(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(t) = value.strip_prefix("Bearer ") {
        return Some(t.trim().to_string());
    }
    let b64 = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split(':').next()?.to_string())
}

/// Requests that only read (GET, and the POST query/search endpoints, which Attio counts
/// as reads).
fn is_read(method: &Method, path: &str) -> bool {
    method == Method::GET
        || method == Method::HEAD
        || (method == Method::POST && (path.ends_with("/query") || path.ends_with("/search")))
}

/// A caller authenticated by token, within its rate limit.
pub(crate) struct Auth {
    pub token_id: Uuid,
    pub workspace_id: Uuid,
}

impl Auth {
    /// The actor recorded for this token's writes (`created_by_actor`, webhook `actor`).
    pub(crate) fn actor(&self) -> Actor {
        Actor {
            kind: "api-token",
            id: Some(self.token_id.to_string()),
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = token_of(parts).ok_or_else(|| {
            ApiError::Unauthorized(
                "The Authorization header was not provided. Please provide a valid access token as a Bearer token."
                    .into(),
            )
        })?;
        let found = state.store().tokens.get(&token).cloned();
        let token = found.ok_or_else(|| {
            ApiError::Unauthorized(
                "The access token provided is invalid or has been revoked.".into(),
            )
        })?;
        let missing = crate::scopes::missing(
            &token.scopes,
            crate::scopes::required(&parts.method, parts.uri.path()),
        );
        if !missing.is_empty() {
            return Err(ApiError::InsufficientScopes(format!(
                "The access token is missing the scope(s) required for this operation: {}.",
                missing.join(", ")
            )));
        }
        let limits = state.settings().rate_limits;
        let write = !is_read(&parts.method, parts.uri.path());
        crate::state::lock(&state.0.limiter).check(token.id, write, &limits)?;
        Ok(Self {
            token_id: token.id,
            workspace_id: token.workspace_id,
        })
    }
}

impl AppState {
    /// Run `f` on the caller's workspace under the store lock.
    pub(crate) fn read<T>(
        &self,
        auth: &Auth,
        f: impl FnOnce(&Workspace) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let store = self.store();
        let ws = store.workspaces.get(&auth.workspace_id).ok_or_else(|| {
            ApiError::Unauthorized("The workspace of this token no longer exists.".into())
        })?;
        f(ws)
    }

    /// Run `f` on the caller's workspace under the store lock, then deliver the events it
    /// returns to webhooks (after the lock is released).
    pub(crate) fn write<T>(
        &self,
        auth: &Auth,
        f: impl FnOnce(&mut Workspace) -> Result<(T, Vec<Event>), ApiError>,
    ) -> Result<T, ApiError> {
        let (out, events) = {
            let mut store = self.store();
            let ws = store
                .workspaces
                .get_mut(&auth.workspace_id)
                .ok_or_else(|| {
                    ApiError::Unauthorized("The workspace of this token no longer exists.".into())
                })?;
            f(ws)?
        };
        crate::delivery::dispatch(self, auth.workspace_id, events);
        Ok(out)
    }
}

/// `body.data` as an object, or a 400 naming what is missing.
pub(crate) fn data_of(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.get("data").and_then(Value::as_object).ok_or_else(|| {
        ApiError::Validation("Body payload validation error: \"data\" must be an object.".into())
    })
}

/// Added latency and injected 5xx answers for the Attio API routes.
async fn faults(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let faults = state.settings().faults;
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if let Some(status) = matching_rule(&state, request.method(), request.uri().path()) {
        return ApiError::InjectedFault { status }.into_response();
    }
    let tick = state.0.fault_tick.fetch_add(1, Ordering::Relaxed);
    if injects_fault(faults.error_rate, tick) {
        return ApiError::InjectedFault {
            status: faults.status,
        }
        .into_response();
    }
    next.run(request).await
}

/// Whether the `tick`-th request (from 0) since the faults were set fails: the failures are
/// spread evenly, `rate` of every run of requests, the same on every run (a random draw
/// made a test that needs "at least one failure in 8 calls" fail 6% of the time).
fn injects_fault(rate: f64, tick: u64) -> bool {
    let rate = rate.clamp(0.0, 1.0);
    rate > 0.0 && ((tick + 1) as f64 * rate).floor() > (tick as f64 * rate).floor()
}

/// The status of the first [`crate::FaultRule`] matching this request (its count used up).
fn matching_rule(state: &AppState, method: &Method, path: &str) -> Option<u16> {
    let mut rules = crate::state::lock(&state.0.fault_rules);
    let i = rules.iter().position(|r| {
        r.method.eq_ignore_ascii_case(method.as_str())
            && path.contains(&r.path_contains)
            && r.times != Some(0)
    })?;
    let rule = &mut rules[i];
    if let Some(n) = rule.times.as_mut() {
        *n -= 1;
    }
    Some(rule.status)
}

/// The request log: method, path, status and token id (never the token) of every API call.
async fn log_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_string(), |p| p.to_string());
    let (parts, body) = request.into_parts();
    let token_id = token_of(&parts).and_then(|t| state.store().tokens.get(&t).map(|t| t.id));
    let (body, kept) = if state.0.record_bodies && parts.uri.path().starts_with("/v2/") {
        match axum::body::to_bytes(body, BODY_LIMIT).await {
            Ok(bytes) => (
                axum::body::Body::from(bytes.clone()),
                (!bytes.is_empty()).then_some(bytes),
            ),
            Err(_) => {
                return ApiError::TooLarge("The request body is too large.".into()).into_response();
            }
        }
    } else {
        (body, None)
    };
    let response = next.run(Request::from_parts(parts, body)).await;
    state.log_request(method, path, response.status().as_u16(), token_id, kept);
    response
}

async fn not_found() -> ApiError {
    ApiError::NotFound("The requested route does not exist.".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::NotFound("The requested route does not exist for this HTTP method.".into())
}

/// Attio's routes (`/v2/...`, OAuth) with faults and the request log, plus the control API.
pub(crate) fn router(state: AppState) -> Router {
    let v2 = Router::new()
        .route("/v2/objects", get(objects::list_objects))
        .route("/v2/objects/{object}", get(objects::get_object))
        .route(
            "/v2/objects/{object}/attributes",
            get(objects::list_attributes).post(objects::create_attribute),
        )
        .route(
            "/v2/objects/{object}/attributes/{attribute}",
            get(objects::get_attribute).patch(objects::update_attribute),
        )
        .route(
            "/v2/objects/{object}/attributes/{attribute}/options",
            get(objects::list_options).post(objects::create_option),
        )
        .route(
            "/v2/objects/{object}/records",
            post(records::create).put(records::assert),
        )
        .route("/v2/objects/{object}/records/query", post(records::query))
        .route(
            "/v2/objects/{object}/records/{record_id}",
            get(records::get)
                .patch(records::append)
                .put(records::overwrite)
                .delete(records::delete),
        )
        .route("/v2/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/v2/webhooks/{webhook_id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/v2/workspace_members", get(members::list))
        .route("/v2/workspace_members/{id}", get(members::get))
        .route("/v2/self", get(oauth::identify))
        .layer(middleware::from_fn_with_state(state.clone(), faults));
    let oauth = Router::new()
        .route("/authorize", get(oauth::authorize))
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/introspect", post(oauth::introspect));
    let logged = v2
        .merge(oauth)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), log_requests));
    Router::new()
        .nest("/_sandbox", crate::control::router())
        .merge(logged)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::injects_fault;

    #[test]
    fn injected_faults_are_spread_evenly_and_the_same_every_run() {
        let failing = |rate| {
            (0..10)
                .filter(|&t| injects_fault(rate, t))
                .collect::<Vec<_>>()
        };
        assert_eq!(failing(0.3), vec![3, 6, 9]);
        assert_eq!(failing(0.5), vec![1, 3, 5, 7, 9]);
        assert_eq!(failing(1.0), (0..10).collect::<Vec<_>>());
        assert!(failing(0.0).is_empty());
    }
}
