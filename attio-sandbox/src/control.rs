//! The sandbox's control API under `/_sandbox` — not part of Attio's API. Tests and demos use
//! it (or the same operations on [`crate::SandboxHandle`]) to create workspaces and tokens,
//! enable objects, register OAuth apps, set rate limits and faults, read the logs, and reset.
//! It needs no token: the sandbox listens on loopback and holds no real data.

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use uuid::Uuid;

use crate::api::{ApiBytes, ApiJson, ApiPath};
use crate::config::{Faults, RateLimits};
use crate::error::ApiError;
use crate::model::Workspace;
use crate::state::{AppState, OAuthClient, lock, random_hex};

/// What to create with [`crate::SandboxHandle::create_workspace`] or
/// `POST /_sandbox/workspaces`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WorkspaceOptions {
    /// Workspace name (default "Sandbox").
    pub name: Option<String>,
    /// Workspace slug (default derived from a random id).
    pub slug: Option<String>,
    /// Standard objects to enable besides `people` and `companies`, e.g. `["users",
    /// "workspaces"]`; in a new Attio workspace they are disabled.
    pub enable_objects: Vec<String>,
    /// Use this exact token string instead of a random one (for demos with a fixed token).
    pub token: Option<String>,
}

/// A workspace and a token for it.
#[derive(Clone, Serialize, Deserialize)]
pub struct WorkspaceCredentials {
    /// The workspace id (`id.workspace_id` in every answer).
    pub workspace_id: Uuid,
    /// The workspace slug.
    pub workspace_slug: String,
    /// Bearer token for the Attio API.
    pub token: String,
    /// The token's id (the `actor.id` of its writes).
    pub token_id: Uuid,
}

impl std::fmt::Debug for WorkspaceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceCredentials")
            .field("workspace_id", &self.workspace_id)
            .field("workspace_slug", &self.workspace_slug)
            .field("token", &"[redacted]")
            .field("token_id", &self.token_id)
            .finish()
    }
}

/// An OAuth app registered in the sandbox.
#[derive(Clone, Serialize, Deserialize)]
pub struct OAuthClientCredentials {
    /// `client_id` for `/authorize` and `/oauth/token`.
    pub client_id: String,
    /// `client_secret` for `/oauth/token`.
    pub client_secret: String,
}

impl std::fmt::Debug for OAuthClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

pub(crate) fn create_workspace(
    state: &AppState,
    opts: WorkspaceOptions,
) -> Result<WorkspaceCredentials, ApiError> {
    let known = ["people", "companies", "users", "workspaces"];
    if let Some(bad) = opts
        .enable_objects
        .iter()
        .find(|o| !known.contains(&o.as_str()))
    {
        return Err(ApiError::NotFound(format!(
            "Object with slug/ID \"{bad}\" not found."
        )));
    }
    let mut store = state.store();
    if opts
        .token
        .as_ref()
        .is_some_and(|t| store.tokens.contains_key(t))
    {
        return Err(ApiError::Validation("That token is already in use.".into()));
    }
    let slug = opts
        .slug
        .unwrap_or_else(|| format!("sandbox-{}", &random_hex(4)));
    let ws = Workspace::new(
        opts.name.as_deref().unwrap_or("Sandbox"),
        &slug,
        &opts.enable_objects,
    );
    let workspace_id = ws.id;
    store.workspaces.insert(workspace_id, ws);
    let (token, token_id) = store.issue_token(workspace_id, opts.token, None);
    Ok(WorkspaceCredentials {
        workspace_id,
        workspace_slug: slug,
        token,
        token_id,
    })
}

pub(crate) fn set_object_enabled(
    state: &AppState,
    workspace_id: Uuid,
    slug: &str,
    enabled: bool,
) -> Result<Value, ApiError> {
    let mut store = state.store();
    let ws = store
        .workspaces
        .get_mut(&workspace_id)
        .ok_or_else(|| ApiError::NotFound(format!("Workspace \"{workspace_id}\" not found.")))?;
    let object = ws
        .objects
        .iter_mut()
        .find(|o| o.api_slug == slug || o.id.to_string() == slug)
        .ok_or_else(|| ApiError::NotFound(format!("Object with slug/ID \"{slug}\" not found.")))?;
    object.enabled = enabled;
    Ok(json!({"api_slug": object.api_slug, "object_id": object.id, "enabled": enabled}))
}

pub(crate) fn register_oauth_client(
    state: &AppState,
    workspace_id: Uuid,
    redirect_uris: Vec<String>,
) -> Result<OAuthClientCredentials, ApiError> {
    let mut store = state.store();
    if !store.workspaces.contains_key(&workspace_id) {
        return Err(ApiError::NotFound(format!(
            "Workspace \"{workspace_id}\" not found."
        )));
    }
    if redirect_uris.is_empty() {
        return Err(ApiError::Validation(
            "redirect_uris must not be empty.".into(),
        ));
    }
    let creds = OAuthClientCredentials {
        client_id: Uuid::new_v4().to_string(),
        client_secret: random_hex(32),
    };
    store.oauth_clients.insert(
        creds.client_id.clone(),
        OAuthClient {
            client_secret: creds.client_secret.clone(),
            redirect_uris,
            workspace_id,
        },
    );
    Ok(creds)
}

pub(crate) fn reset(state: &AppState) {
    let mut store = state.store();
    let generation = store.generation + 1;
    *store = crate::state::Store {
        generation,
        ..Default::default()
    };
    drop(store);
    *lock(&state.0.limiter) = Default::default();
    lock(&state.0.settings).faults = Faults::default();
    state.0.fault_tick.store(0, Ordering::Relaxed);
}

pub(crate) fn set_faults(state: &AppState, faults: Faults) -> Result<(), ApiError> {
    if !(0.0..=1.0).contains(&faults.error_rate) || !(500..=599).contains(&faults.status) {
        return Err(ApiError::Validation(
            "error_rate must be within 0..=1 and status within 500..=599.".into(),
        ));
    }
    lock(&state.0.settings).faults = faults;
    state.0.fault_tick.store(0, Ordering::Relaxed);
    Ok(())
}

/// An optional JSON body: empty means `T::default()`.
fn optional_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Validation(format!("Body payload validation error: {e}")))
}

async fn post_workspace(
    State(state): State<AppState>,
    ApiBytes(body): ApiBytes,
) -> Result<Json<WorkspaceCredentials>, ApiError> {
    create_workspace(&state, optional_body(&body)?).map(Json)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenBody {
    token: Option<String>,
}

async fn post_token(
    State(state): State<AppState>,
    ApiPath(workspace_id): ApiPath<Uuid>,
    ApiBytes(body): ApiBytes,
) -> Result<Json<Value>, ApiError> {
    let body: TokenBody = optional_body(&body)?;
    let mut store = state.store();
    if !store.workspaces.contains_key(&workspace_id) {
        return Err(ApiError::NotFound(format!(
            "Workspace \"{workspace_id}\" not found."
        )));
    }
    if body
        .token
        .as_ref()
        .is_some_and(|t| store.tokens.contains_key(t))
    {
        return Err(ApiError::Validation("That token is already in use.".into()));
    }
    let (token, token_id) = store.issue_token(workspace_id, body.token, None);
    Ok(Json(json!({"token": token, "token_id": token_id})))
}

#[derive(Deserialize)]
struct Enabled {
    enabled: bool,
}

async fn put_object(
    State(state): State<AppState>,
    ApiPath((workspace_id, slug)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<Enabled>,
) -> Result<Json<Value>, ApiError> {
    set_object_enabled(&state, workspace_id, &slug, body.enabled).map(Json)
}

#[derive(Deserialize)]
struct RedirectUris {
    redirect_uris: Vec<String>,
}

async fn post_oauth_client(
    State(state): State<AppState>,
    ApiPath(workspace_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RedirectUris>,
) -> Result<Json<OAuthClientCredentials>, ApiError> {
    register_oauth_client(&state, workspace_id, body.redirect_uris).map(Json)
}

async fn get_rate_limits(State(state): State<AppState>) -> Json<RateLimits> {
    Json(state.settings().rate_limits)
}

async fn put_rate_limits(
    State(state): State<AppState>,
    ApiJson(limits): ApiJson<RateLimits>,
) -> Json<RateLimits> {
    lock(&state.0.settings).rate_limits = limits;
    Json(limits)
}

async fn get_faults(State(state): State<AppState>) -> Json<Faults> {
    Json(state.settings().faults)
}

async fn put_faults(
    State(state): State<AppState>,
    ApiJson(faults): ApiJson<Faults>,
) -> Result<Json<Faults>, ApiError> {
    set_faults(&state, faults)?;
    Ok(Json(faults))
}

async fn get_requests(State(state): State<AppState>) -> Json<Value> {
    let log: Vec<_> = state.store().requests.iter().map(|e| e.record()).collect();
    Json(json!({"data": log}))
}

async fn get_deliveries(State(state): State<AppState>) -> Json<Value> {
    let log: Vec<_> = state
        .store()
        .deliveries
        .iter()
        .map(|e| e.record())
        .collect();
    Json(json!({"data": log}))
}

async fn post_reset(State(state): State<AppState>) -> Json<Value> {
    reset(&state);
    Json(json!({}))
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/workspaces", post(post_workspace))
        .route("/workspaces/{workspace_id}/tokens", post(post_token))
        .route(
            "/workspaces/{workspace_id}/objects/{object}",
            put(put_object),
        )
        .route(
            "/workspaces/{workspace_id}/oauth-clients",
            post(post_oauth_client),
        )
        .route("/rate-limits", get(get_rate_limits).put(put_rate_limits))
        .route("/faults", get(get_faults).put(put_faults))
        .route("/requests", get(get_requests))
        .route("/deliveries", get(get_deliveries))
        .route("/reset", post(post_reset))
}
