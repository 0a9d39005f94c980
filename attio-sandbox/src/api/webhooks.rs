//! Webhooks (`/v2/webhooks...`): create (the only answer that carries the secret), list, get,
//! update and delete, with subscriptions and their filters validated as the OpenAPI document
//! describes them.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ApiJson, ApiPath, ApiQuery, Auth, data_of};
use crate::error::ApiError;
use crate::model::{Subscription, Webhook, now_string};
use crate::state::{AppState, random_hex};

/// Event types a subscription may name (OpenAPI enum, 2026-03). The sandbox emits the
/// `record.*` and `object-attribute.created` ones.
const EVENT_TYPES: &[&str] = &[
    "call-recording.created",
    "comment.created",
    "comment.resolved",
    "comment.unresolved",
    "comment.deleted",
    "list.created",
    "list.updated",
    "list.deleted",
    "list-attribute.created",
    "list-attribute.updated",
    "list-entry.created",
    "list-entry.updated",
    "list-entry.deleted",
    "object-attribute.created",
    "object-attribute.updated",
    "note.created",
    "note-content.updated",
    "note.updated",
    "note.deleted",
    "record.created",
    "record.merged",
    "record.updated",
    "record.deleted",
    "task.created",
    "task.updated",
    "task.deleted",
    "workspace-member.created",
];

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::Validation(msg.into())
}

/// Attio requires `https://` targets (OpenAPI: `target_url` has the pattern `^https://`).
/// Only with [`crate::SandboxConfig::allow_http_webhooks`] does the sandbox also accept
/// `http://` to a loopback host, since tests and local demos receive webhooks there.
fn check_target(url: &str, allow_http: bool) -> Result<String, ApiError> {
    let parsed =
        url::Url::parse(url).map_err(|_| invalid(format!("target_url \"{url}\" is not a URL.")))?;
    let loopback = matches!(
        parsed.host_str(),
        Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
    );
    match parsed.scheme() {
        "https" => Ok(url.to_string()),
        "http" if loopback && allow_http => Ok(url.to_string()),
        _ => Err(invalid(
            "Body payload validation error: \"data.target_url\" must match the pattern ^https://",
        )),
    }
}

fn check_filter(filter: &Value) -> Result<(), ApiError> {
    let bad = || {
        invalid(
            "A subscription filter must be null or {\"$and\"|\"$or\": [{field, operator: \"equals\"|\"not_equals\", value}]}.",
        )
    };
    match filter {
        Value::Null => Ok(()),
        Value::Object(m) if m.len() == 1 => {
            let conds = m
                .get("$and")
                .or_else(|| m.get("$or"))
                .and_then(Value::as_array)
                .ok_or_else(bad)?;
            for c in conds {
                let ok = c.get("field").is_some_and(Value::is_string)
                    && c.get("value").is_some_and(Value::is_string)
                    && matches!(
                        c.get("operator").and_then(Value::as_str),
                        Some("equals" | "not_equals")
                    );
                if !ok {
                    return Err(bad());
                }
            }
            Ok(())
        }
        _ => Err(bad()),
    }
}

fn parse_subscriptions(raw: &Value) -> Result<Vec<Subscription>, ApiError> {
    let items = raw
        .as_array()
        .ok_or_else(|| invalid("\"data.subscriptions\" must be an array."))?;
    items
        .iter()
        .map(|s| {
            let event_type = s
                .get("event_type")
                .and_then(Value::as_str)
                .filter(|e| EVENT_TYPES.contains(e))
                .ok_or_else(|| invalid(format!("Invalid subscription event_type in {s}.")))?;
            // `filter` is required; null means "no filter".
            let filter = s
                .get("filter")
                .ok_or_else(|| invalid("Each subscription requires \"filter\" (null for none)."))?;
            check_filter(filter)?;
            Ok(Subscription {
                event_type: event_type.to_string(),
                filter: filter.clone(),
            })
        })
        .collect()
}

pub(crate) async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let data = data_of(&body)?;
    let target = data
        .get("target_url")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("\"data.target_url\" is required."))?;
    let target_url = check_target(target, state.0.allow_http_webhooks)?;
    let subscriptions = parse_subscriptions(
        data.get("subscriptions")
            .ok_or_else(|| invalid("\"data.subscriptions\" is required."))?,
    )?;
    state.write(&auth, |ws| {
        let hook = Webhook {
            id: Uuid::new_v4(),
            target_url,
            subscriptions,
            status: "active",
            created_at: now_string(),
            secret: random_hex(32),
        };
        let json = hook.json(ws.id, true);
        ws.webhooks.push(hook);
        Ok((Json(json!({"data": json})), Vec::new()))
    })
}

#[derive(Deserialize)]
pub(crate) struct Page {
    limit: Option<usize>,
    offset: Option<usize>,
}

/// `GET /v2/webhooks?limit=&offset=` (limit 10..=100, default 10).
pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Value>, ApiError> {
    let limit = page.limit.unwrap_or(10);
    if !(10..=100).contains(&limit) {
        return Err(invalid("limit must be between 10 and 100."));
    }
    state.read(&auth, |ws| {
        let data: Vec<Value> = ws
            .webhooks
            .iter()
            .skip(page.offset.unwrap_or(0))
            .take(limit)
            .map(|h| h.json(ws.id, false))
            .collect();
        Ok(Json(json!({"data": data})))
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Webhook with ID \"{id}\" was not found."))
}

fn position(ws: &crate::model::Workspace, id: &str) -> Result<usize, ApiError> {
    let parsed = Uuid::parse_str(id).map_err(|_| not_found(id))?;
    ws.webhooks
        .iter()
        .position(|h| h.id == parsed)
        .ok_or_else(|| not_found(id))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    state.read(&auth, |ws| {
        let i = position(ws, &id)?;
        Ok(Json(json!({"data": ws.webhooks[i].json(ws.id, false)})))
    })
}

/// `PATCH /v2/webhooks/{id}`: `data.target_url` and `data.subscriptions` both optional.
pub(crate) async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let data = data_of(&body)?;
    let target_url = match data.get("target_url") {
        None => None,
        Some(v) => Some(check_target(
            v.as_str()
                .ok_or_else(|| invalid("\"data.target_url\" must be a string."))?,
            state.0.allow_http_webhooks,
        )?),
    };
    let subscriptions = data
        .get("subscriptions")
        .map(parse_subscriptions)
        .transpose()?;
    state.write(&auth, |ws| {
        let i = position(ws, &id)?;
        let ws_id = ws.id;
        let hook = &mut ws.webhooks[i];
        if let Some(url) = target_url {
            hook.target_url = url;
        }
        if let Some(subs) = subscriptions {
            hook.subscriptions = subs;
        }
        Ok((Json(json!({"data": hook.json(ws_id, false)})), Vec::new()))
    })
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    state.write(&auth, |ws| {
        let i = position(ws, &id)?;
        ws.webhooks.remove(i);
        Ok((Json(json!({})), Vec::new()))
    })
}
