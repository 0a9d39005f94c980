//! The sandbox's control API under `/_sandbox` — not part of Attio's API. Tests and demos use
//! it (or the same operations on [`crate::SandboxHandle`]) to create workspaces and tokens,
//! enable objects, register OAuth apps, set rate limits and faults, read the logs, and reset.
//! It needs no token: the sandbox listens on loopback and holds no real data.

use axum::extract::State;
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use uuid::Uuid;

use crate::api::{ApiBytes, ApiJson, ApiPath};
use crate::config::{FaultRule, Faults, Noise, RateLimits};
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
    /// The token's scopes (e.g. `["webhook:read"]`); `None` = every scope at read-write.
    pub scopes: Option<Vec<String>>,
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
    check_scopes(opts.scopes.as_deref())?;
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
    let (token, token_id) = store.issue_token(workspace_id, opts.token, None, opts.scopes);
    Ok(WorkspaceCredentials {
        workspace_id,
        workspace_slug: slug,
        token,
        token_id,
    })
}

/// Every scope must be one the spec defines (`<name>:read` or `<name>:read-write`).
fn check_scopes(scopes: Option<&[String]>) -> Result<(), ApiError> {
    if let Some(bad) = scopes
        .unwrap_or_default()
        .iter()
        .find(|s| !crate::scopes::is_known(s))
    {
        return Err(ApiError::Validation(format!("Unknown scope \"{bad}\".")));
    }
    Ok(())
}

/// A new token for a workspace: `token` as given or random, `scopes` as given or all.
pub(crate) fn create_token(
    state: &AppState,
    workspace_id: Uuid,
    token: Option<String>,
    scopes: Option<Vec<String>>,
) -> Result<(String, Uuid), ApiError> {
    check_scopes(scopes.as_deref())?;
    let mut store = state.store();
    if !store.workspaces.contains_key(&workspace_id) {
        return Err(ApiError::NotFound(format!(
            "Workspace \"{workspace_id}\" not found."
        )));
    }
    if token.as_ref().is_some_and(|t| store.tokens.contains_key(t)) {
        return Err(ApiError::Validation("That token is already in use.".into()));
    }
    Ok(store.issue_token(workspace_id, token, None, scopes))
}

pub(crate) fn add_fault_rule(state: &AppState, rule: FaultRule) -> Result<(), ApiError> {
    check_rule(&rule)?;
    lock(&state.0.fault_rules).push(rule);
    Ok(())
}

fn check_rule(rule: &FaultRule) -> Result<(), ApiError> {
    if !(400..=599).contains(&rule.status) || rule.method.is_empty() {
        return Err(ApiError::Validation(
            "A fault rule needs a method and a status within 400..=599.".into(),
        ));
    }
    Ok(())
}

pub(crate) fn set_noise(state: &AppState, noise: Noise) -> Result<(), ApiError> {
    if !(0.0..=1000.0).contains(&noise.events_per_second) {
        return Err(ApiError::Validation(
            "events_per_second must be within 0..=1000.".into(),
        ));
    }
    lock(&state.0.settings).noise = noise;
    Ok(())
}

/// Merge two records of `object` (see [`crate::write::merge_records`]) as a workspace member
/// would, and deliver the events.
pub(crate) fn merge_records(
    state: &AppState,
    workspace_id: Uuid,
    object: &str,
    survivor: Uuid,
    duplicate: Uuid,
) -> Result<Value, ApiError> {
    let events = {
        let mut store = state.store();
        let ws = store.workspaces.get_mut(&workspace_id).ok_or_else(|| {
            ApiError::NotFound(format!("Workspace \"{workspace_id}\" not found."))
        })?;
        let object_id = ws.object(object)?.id;
        let actor = crate::model::Actor {
            kind: "workspace-member",
            id: Some(ws.member_id.to_string()),
        };
        crate::write::merge_records(ws, object_id, survivor, duplicate, &actor)?
    };
    crate::delivery::dispatch(state, workspace_id, events);
    Ok(json!({"record_id": survivor, "duplicate_record_id": duplicate}))
}

/// Change an attribute's archived flag or cardinality by hand (what a workspace admin may
/// do in Attio's settings).
fn edit_attribute(
    state: &AppState,
    workspace_id: Uuid,
    object: &str,
    attribute: &str,
    f: impl FnOnce(&mut crate::model::Attribute),
) -> Result<Value, ApiError> {
    let mut store = state.store();
    let ws = store
        .workspaces
        .get_mut(&workspace_id)
        .ok_or_else(|| ApiError::NotFound(format!("Workspace \"{workspace_id}\" not found.")))?;
    let object_id = ws
        .objects
        .iter()
        .find(|o| o.api_slug == object || o.id.to_string() == object)
        .map(|o| o.id)
        .ok_or_else(|| {
            ApiError::NotFound(format!("Object with slug/ID \"{object}\" not found."))
        })?;
    let attr = ws
        .attributes
        .iter_mut()
        .find(|a| {
            a.object_id == object_id && (a.api_slug == attribute || a.id.to_string() == attribute)
        })
        .ok_or_else(|| {
            ApiError::NotFound(format!("Attribute with slug/ID \"{attribute}\" not found."))
        })?;
    f(attr);
    Ok(
        json!({"api_slug": attr.api_slug, "is_archived": attr.is_archived, "is_multiselect": attr.is_multiselect}),
    )
}

pub(crate) fn set_attribute_archived(
    state: &AppState,
    workspace_id: Uuid,
    object: &str,
    attribute: &str,
    archived: bool,
) -> Result<Value, ApiError> {
    edit_attribute(state, workspace_id, object, attribute, |a| {
        a.is_archived = archived;
    })
}

pub(crate) fn set_attribute_multiselect(
    state: &AppState,
    workspace_id: Uuid,
    object: &str,
    attribute: &str,
    multiselect: bool,
) -> Result<Value, ApiError> {
    edit_attribute(state, workspace_id, object, attribute, |a| {
        a.is_multiselect = multiselect;
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
    lock(&state.0.fault_rules).clear();
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
    scopes: Option<Vec<String>>,
}

async fn post_token(
    State(state): State<AppState>,
    ApiPath(workspace_id): ApiPath<Uuid>,
    ApiBytes(body): ApiBytes,
) -> Result<Json<Value>, ApiError> {
    let body: TokenBody = optional_body(&body)?;
    let (token, token_id) = create_token(&state, workspace_id, body.token, body.scopes)?;
    Ok(Json(json!({"token": token, "token_id": token_id})))
}

#[derive(Deserialize)]
struct MergeBody {
    record_id: Uuid,
    duplicate_record_id: Uuid,
}

async fn post_merge(
    State(state): State<AppState>,
    ApiPath((workspace_id, object)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<MergeBody>,
) -> Result<Json<Value>, ApiError> {
    merge_records(
        &state,
        workspace_id,
        &object,
        body.record_id,
        body.duplicate_record_id,
    )
    .map(Json)
}

#[derive(Deserialize)]
struct AttributeEdit {
    is_archived: Option<bool>,
    is_multiselect: Option<bool>,
}

async fn patch_attribute(
    State(state): State<AppState>,
    ApiPath((workspace_id, object, attribute)): ApiPath<(Uuid, String, String)>,
    ApiJson(body): ApiJson<AttributeEdit>,
) -> Result<Json<Value>, ApiError> {
    edit_attribute(&state, workspace_id, &object, &attribute, |a| {
        if let Some(v) = body.is_archived {
            a.is_archived = v;
        }
        if let Some(v) = body.is_multiselect {
            a.is_multiselect = v;
        }
    })
    .map(Json)
}

async fn get_fault_rules(State(state): State<AppState>) -> Json<Value> {
    let rules = lock(&state.0.fault_rules).clone();
    Json(json!({"data": rules}))
}

/// `PUT /_sandbox/fault-rules`: `{data: [FaultRule]}` replaces the list.
async fn put_fault_rules(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let rules: Vec<FaultRule> =
        serde_json::from_value(body.get("data").cloned().unwrap_or(Value::Null))
            .map_err(|e| ApiError::Validation(format!("Body payload validation error: {e}")))?;
    for rule in &rules {
        check_rule(rule)?;
    }
    *lock(&state.0.fault_rules) = rules.clone();
    Ok(Json(json!({"data": rules})))
}

async fn get_noise(State(state): State<AppState>) -> Json<Noise> {
    Json(state.settings().noise)
}

async fn put_noise(
    State(state): State<AppState>,
    ApiJson(noise): ApiJson<Noise>,
) -> Result<Json<Noise>, ApiError> {
    set_noise(&state, noise)?;
    Ok(Json(noise))
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
        .route(
            "/workspaces/{workspace_id}/objects/{object}/merge",
            post(post_merge),
        )
        .route(
            "/workspaces/{workspace_id}/objects/{object}/attributes/{attribute}",
            patch(patch_attribute),
        )
        .route("/fault-rules", get(get_fault_rules).put(put_fault_rules))
        .route("/noise", get(get_noise).put(put_noise))
        .route("/rate-limits", get(get_rate_limits).put(put_rate_limits))
        .route("/faults", get(get_faults).put(put_faults))
        .route("/requests", get(get_requests))
        .route("/deliveries", get(get_deliveries))
        .route("/reset", post(post_reset))
}
