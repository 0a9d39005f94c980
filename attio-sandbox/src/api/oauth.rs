//! Attio's OAuth 2.0 app flow (docs.attio.com/docs/oauth/*, NOTES.md §1.1): `/authorize`
//! approves at once and redirects with `code` and `state`; `/oauth/token` exchanges the code
//! (form-encoded) for `{access_token, token_type: "Bearer"}`; `/oauth/introspect` and
//! `GET /v2/self` describe a token.

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ApiForm, ApiQuery, token_of};
use crate::error::ApiError;
use crate::state::{AppState, OAuthCode, random_hex};

fn oauth_err(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::OAuth {
        code,
        message: message.into(),
    }
}

#[derive(Deserialize)]
pub(crate) struct AuthorizeQuery {
    client_id: Option<String>,
    response_type: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    /// Sandbox extension: install into this workspace instead of the app's own.
    workspace_id: Option<Uuid>,
}

/// `GET /authorize`: the workspace admin "approves" at once; answers 302 to
/// `redirect_uri?code=...&state=...`. Bad client or redirect URI is a 400 JSON answer, never a
/// redirect to an unregistered URI.
pub(crate) async fn authorize(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuthorizeQuery>,
) -> Result<Response, ApiError> {
    let client_id = q
        .client_id
        .ok_or_else(|| oauth_err("invalid_request", "client_id is required."))?;
    let redirect_uri = q
        .redirect_uri
        .ok_or_else(|| oauth_err("invalid_request", "redirect_uri is required."))?;
    if q.response_type.as_deref() != Some("code") {
        return Err(oauth_err(
            "unsupported_response_type",
            "response_type must be \"code\".",
        ));
    }
    let mut store = state.store();
    let client = store
        .oauth_clients
        .get(&client_id)
        .cloned()
        .ok_or_else(|| oauth_err("invalid_client", "Unknown client_id."))?;
    if !client.redirect_uris.contains(&redirect_uri) {
        return Err(oauth_err(
            "invalid_request",
            "redirect_uri does not exactly match a registered redirect URI.",
        ));
    }
    let workspace_id = q.workspace_id.unwrap_or(client.workspace_id);
    if !store.workspaces.contains_key(&workspace_id) {
        return Err(oauth_err("invalid_request", "Unknown workspace_id."));
    }
    let code = random_hex(24);
    store.oauth_codes.insert(
        code.clone(),
        OAuthCode {
            client_id,
            redirect_uri: redirect_uri.clone(),
            workspace_id,
        },
    );
    drop(store);
    let mut url = url::Url::parse(&redirect_uri)
        .map_err(|_| oauth_err("invalid_request", "redirect_uri is not a URL."))?;
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(s) = &q.state {
            pairs.append_pair("state", s);
        }
    }
    let location = HeaderValue::from_str(url.as_str()).map_err(|_| {
        oauth_err(
            "invalid_request",
            "redirect_uri is not a valid header value.",
        )
    })?;
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    redirect_uri: Option<String>,
}

/// `POST /oauth/token` (form-encoded): one-time code -> access token.
pub(crate) async fn token(
    State(state): State<AppState>,
    ApiForm(form): ApiForm<TokenForm>,
) -> Result<Json<Value>, ApiError> {
    if form.grant_type.as_deref() != Some("authorization_code") {
        return Err(oauth_err(
            "unsupported_grant_type",
            "grant_type must be \"authorization_code\".",
        ));
    }
    let mut store = state.store();
    let client_id = form.client_id.unwrap_or_default();
    let client_ok = store.oauth_clients.get(&client_id).is_some_and(|c| {
        form.client_secret
            .as_deref()
            .is_some_and(|s| subtle_eq(s.as_bytes(), c.client_secret.as_bytes()))
    });
    if !client_ok {
        return Err(oauth_err(
            "invalid_client",
            "Client authentication failed (client_id or client_secret).",
        ));
    }
    let code = form.code.unwrap_or_default();
    let grant = store
        .oauth_codes
        .get(&code)
        .filter(|g| g.client_id == client_id)
        .cloned()
        .ok_or_else(|| {
            oauth_err(
                "invalid_grant",
                "The authorization code is invalid or was already used.",
            )
        })?;
    if form
        .redirect_uri
        .as_ref()
        .is_some_and(|r| r != &grant.redirect_uri)
    {
        return Err(oauth_err(
            "invalid_grant",
            "redirect_uri does not match the one used to authorize.",
        ));
    }
    store.oauth_codes.remove(&code);
    let (token, _) = store.issue_token(grant.workspace_id, None, Some(client_id), None);
    Ok(Json(json!({"access_token": token, "token_type": "Bearer"})))
}

/// Constant-time comparison of secrets.
fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The introspection shape of a token (`{active: false}` when unknown).
fn describe(state: &AppState, token: &str) -> Value {
    let store = state.store();
    let Some(t) = store.tokens.get(token) else {
        return json!({"active": false});
    };
    let Some(ws) = store.workspaces.get(&t.workspace_id) else {
        return json!({"active": false});
    };
    // API keys have no OAuth app: the token id stands in for the client id.
    let client_id = t.client_id.clone().unwrap_or_else(|| t.id.to_string());
    json!({
        "active": true,
        "scope": t.scopes.join(" "),
        "client_id": client_id,
        "token_type": "Bearer",
        "exp": null,
        "iat": t.issued_at,
        "sub": ws.id,
        "aud": client_id,
        "iss": "attio.com",
        "authorized_by_workspace_member_id": ws.member_id,
        "workspace_id": ws.id,
        "workspace_name": ws.name,
        "workspace_slug": ws.slug,
        "workspace_logo_url": null,
    })
}

fn missing_header() -> ApiError {
    ApiError::Unauthorized(
        "The Authorization header was not provided. Please provide a valid access token as a Bearer token."
            .into(),
    )
}

/// `GET /v2/self`: identify the token (counts as a read for rate limits). An unknown or
/// revoked token is refused with 401 like on every other `/v2` route (the spec's global
/// `security` requirement applies to it too); `{active: false}` is the answer of
/// `/oauth/introspect`, whose caller may hold any token.
pub(crate) async fn identify(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let token = token_of(&parts).ok_or_else(missing_header)?;
    let token_id = state.store().tokens.get(&token).map(|t| t.id);
    let Some(id) = token_id else {
        return Err(ApiError::Unauthorized(
            "The access token provided is invalid or has been revoked.".into(),
        ));
    };
    let limits = state.settings().rate_limits;
    crate::state::lock(&state.0.limiter).check(id, false, &limits)?;
    Ok(Json(describe(&state, &token)))
}

/// `POST /oauth/introspect` with the token as bearer.
pub(crate) async fn introspect(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let token = token_of(&parts).ok_or_else(missing_header)?;
    Ok(Json(describe(&state, &token)))
}
