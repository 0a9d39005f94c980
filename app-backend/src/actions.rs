//! `POST /v1/actions/{action}`: record actions from the Attio app (PLAN.md's contract).
//!
//! The call is verified ([`crate::app_auth`]), the Attio record(s) resolved to auth ids
//! (`user_id` of a `users` record, `workspace_id` of a `workspaces` record; cached in
//! `record_links`), the plugin request built from the resolved ids and the `params`, checked
//! against the action's fields, and forwarded in the connection's protocol. Each forwarded
//! call leaves an audit entry; `GET /v1/installations/{id}/audit` lists them.

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::Row as _;

use attio_auth_shared::actions::{
    self as wire, Action, ActionInfo, AppCall, Envelope, validate_fields,
};
use attio_auth_shared::connection::Protocol;

use crate::app_auth;
use crate::attio::AttioError;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::installations::{self, Installation};
use crate::jobs::Failure;
use crate::jobs::{Job, JobKind};
use crate::record_links::{RecordRef, resolve};
use crate::state::AppState;
use attio_auth_shared::signing::{ReplayStatus, SigningError};

/// Lifecycle actions handled by the backend itself.
pub const LIFECYCLE_ACTIONS: [&str; 2] = ["connection-check", "uninstall"];

/// The plugin action the Attio app may call by this name, from the shared list of actions
/// ([`wire::ACTIONS`]): its fields and how its records are resolved ([`AppCall`]).
pub fn app_action(action: &str) -> Option<&'static ActionInfo> {
    wire::action_info(action).filter(|i| i.from_app())
}

/// Request fields that take the acting member's email: the resolved actor's email is put
/// there, whatever `params` claim (`adminEmail` of `impersonate`, `inviterEmail` of
/// `create-org-invitation`).
const ACTOR_EMAIL_FIELDS: [&str; 2] = ["adminEmail", "inviterEmail"];

/// The acting Attio user.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActorInfo {
    /// Their email. What a caller sends here is ignored: the email forwarded and audited is
    /// the one Attio gives for the member id ([`resolve_actor`]).
    #[serde(default)]
    pub email: Option<String>,
    /// Their workspace member id, resolved through Attio's workspace members API.
    #[serde(default)]
    pub workspace_member_id: Option<String>,
}

/// An Attio record the action is about.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Object slug (`users`, `workspaces`).
    pub object: String,
    /// Attio record id.
    pub record_id: String,
}

/// The body of an action call.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionCall {
    /// Must equal the route's action.
    pub action: String,
    /// Who clicked.
    #[serde(default)]
    pub actor: ActorInfo,
    /// One record.
    #[serde(default)]
    pub target: Option<Target>,
    /// Several records (bulk).
    #[serde(default)]
    pub targets: Option<Vec<Target>>,
    /// Action-specific parameters, original field names.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    /// Why the person acts (the ban dialog's reason): recorded in the audit log only, never
    /// forwarded; trimmed and cut to [`AUDIT_REASON_MAX_CHARS`].
    #[serde(default)]
    pub reason: Option<String>,
}

/// Longest audit reason kept: free text from the client, bounded like everything stored.
pub const AUDIT_REASON_MAX_CHARS: usize = 500;

/// The reason as stored: trimmed, cut to [`AUDIT_REASON_MAX_CHARS`] characters, none when empty.
fn audit_reason(reason: Option<&str>) -> Option<String> {
    let r = reason?.trim();
    (!r.is_empty()).then(|| r.chars().take(AUDIT_REASON_MAX_CHARS).collect())
}

/// `POST /v1/actions/{action}`.
#[utoipa::path(post, path = "/v1/actions/{action}", tag = "actions",
    params(
        ("action" = String, Path, description = "A plugin action (`user-details`, `update-ban-status`, `send-password-reset`, `sessions`, `revoke-session`, `revoke-all-sessions`, `impersonate`, `list-org-invitations`, `create-org-invitation`, `cancel-org-invitation`, `search-users`, `get-org-roles`, `create-user`, `create-organization`) or `connection-check` / `uninstall`"),
        ("attio-workspace-id" = String, Header, description = "The Attio workspace id"),
        ("webhook-id" = String, Header, description = "Standard Webhooks message id"),
        ("webhook-timestamp" = String, Header, description = "Unix seconds"),
        ("webhook-signature" = String, Header, description = "`v1,<base64>` with the connection secret"),
    ),
    request_body = ActionCall,
    responses(
        (status = 200, description = "`{ok: true, message, data}`; bulk adds `results: [{recordId, ok, message}]`", body = Object),
        (status = 400, description = "Bad body, params or headers", body = crate::error::ErrorResponse),
        (status = 401, description = "Signature refused", body = crate::error::ErrorResponse),
        (status = 404, description = "Workspace not installed, record or user not found", body = crate::error::ErrorResponse),
        (status = 422, description = "Same message id with another body, or a record not linked to the auth server", body = crate::error::ErrorResponse),
        (status = 502, description = "The auth server or Attio failed", body = crate::error::ErrorResponse),
    ))]
pub async fn handle(
    State(state): State<AppState>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match app_auth::verify(&state, &headers, &body).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let inst = call.installation;
    match app_auth::check_replay(&state, &inst.id, &call.message_id, &body).await {
        Ok(ReplayStatus::Fresh) => {}
        Ok(ReplayStatus::Repeat(Some((status, stored)))) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            return (status, [(header::CONTENT_TYPE, "application/json")], stored).into_response();
        }
        Ok(ReplayStatus::Repeat(None)) => {
            return Error::conflict(
                "IN_PROGRESS",
                "This request is still being handled; retry in a moment.",
            )
            .into_response();
        }
        Ok(ReplayStatus::Conflict) => return Error::from(SigningError::Conflict).into_response(),
        Err(e) => return e.into_response(),
    }
    let started = Instant::now();
    let outcome = dispatch(&state, &inst, &action, &body).await;
    state.metrics.observe_action(started.elapsed());
    let (status, value) = match outcome {
        Ok((status, v)) => (status, v),
        Err(e) => {
            let (status, _, _) = e.parts();
            if status.is_server_error() {
                tracing::error!(error = %e, action, "action failed");
            }
            (status, e.body())
        }
    };
    let text = value.to_string();
    if action != "uninstall" {
        // A 5xx is not kept: a retry of the same message is handled again.
        let kept = if status.is_server_error() {
            app_auth::forget(&state, &inst.id, &call.message_id).await
        } else {
            app_auth::store_response(&state, &inst.id, &call.message_id, status.as_u16(), &text)
                .await
        };
        if let Err(e) = kept {
            tracing::warn!(error = %e, "could not store the response for repeats");
        }
    }
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

async fn dispatch(
    state: &AppState,
    inst: &Installation,
    action: &str,
    body: &[u8],
) -> Result<(StatusCode, Value)> {
    let call: ActionCall = serde_json::from_slice(body).map_err(|e| {
        Error::bad_request(
            "INVALID_BODY",
            format!("The body is not a valid action call: {e}"),
        )
    })?;
    if call.action != action {
        return Err(Error::bad_request(
            "ACTION_MISMATCH",
            format!(
                "The body is for action `{}` but was sent to `{action}`.",
                call.action
            ),
        ));
    }
    match action {
        "connection-check" => {
            state.plugin.check_url(&inst.connection).await?;
            // A rotation finishes here once the plugin has the new secret.
            let connection = crate::console::rotation::current(state, inst).await?;
            let ping = installations::ping_plugin(state, &connection).await?;
            crate::console::health::app_connected(state, &inst.id).await;
            let message = match &ping {
                Some(p) => format!("Connected to the auth server (plugin {}).", p.version),
                None => "Connected to the auth server (original plugin).".to_owned(),
            };
            Ok((
                StatusCode::OK,
                json!({"ok": true, "message": message, "data": {
                    "installation": inst.public_json(),
                    "plugin": ping.map(|p| json!({"version": p.version, "features": p.features})),
                }}),
            ))
        }
        "uninstall" => {
            let warnings = installations::uninstall(state, inst).await?;
            Ok((
                StatusCode::OK,
                json!({"ok": true, "message": "Uninstalled.", "data": {"warnings": warnings}}),
            ))
        }
        _ => {
            let info = app_action(action).ok_or_else(|| {
                Error::not_found("UNKNOWN_ACTION", format!("There is no action `{action}`."))
            })?;
            let mut call = call;
            call.actor = resolve_actor(state, inst, &call.actor).await?;
            call.reason = audit_reason(call.reason.as_deref());
            forward(state, inst, info, call).await
        }
    }
}

/// The record a target names.
fn record_ref(t: &Target) -> RecordRef<'_> {
    RecordRef {
        object: &t.object,
        record_id: &t.record_id,
    }
}

/// One forwarded plugin call's outcome, for bulk results.
struct Outcome {
    target: Option<Target>,
    result: Result<Value>,
}

/// What every audited call of one action shares.
struct Ctx<'a> {
    state: &'a AppState,
    inst: &'a Installation,
    actor: &'a ActorInfo,
    action: &'a str,
    /// The action's row of the shared list (fields, how records are resolved).
    info: &'static ActionInfo,
    /// The bulk job the calls belong to, if any.
    bulk_id: Option<&'a str>,
    /// The audit reason the caller gave (already bounded by [`audit_reason`]).
    reason: Option<&'a str>,
}

/// Bulk actions that make one plugin call per record: these continue as a job when they
/// cannot finish within the request deadline.
fn per_target(info: &ActionInfo) -> bool {
    matches!(info.app, AppCall::PerRecord { .. })
}

/// Who is acting, as Attio knows them (issue 13, item 8): the workspace member id the app
/// sends is looked up with the installation's own token (`GET /v2/workspace_members/{id}`),
/// and the member's email is what is forwarded and audited. The email the caller claims
/// (`actor.email`, `params.adminEmail`, `params.inviterEmail`) carries no authority.
pub async fn resolve_actor(
    state: &AppState,
    inst: &Installation,
    claimed: &ActorInfo,
) -> Result<ActorInfo> {
    let unknown = |message: &str| Error::Client {
        status: StatusCode::FORBIDDEN,
        code: "UNKNOWN_WORKSPACE_MEMBER",
        message: message.to_owned(),
    };
    let id = claimed.workspace_member_id.as_deref().unwrap_or("").trim();
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(unknown(
            "The call must name the acting member of this Attio workspace \
             (actor.workspaceMemberId).",
        ));
    }
    let member = match state.attio.get_workspace_member(&inst.attio, id).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            return Err(unknown(
                "Attio does not know this workspace member in this workspace.",
            ));
        }
        Err(AttioError::Unauthorized { .. }) => {
            return Err(Error::Client {
                status: StatusCode::FORBIDDEN,
                code: "ACTOR_UNVERIFIED",
                message: "Attio refused to say who the acting member is: the installation's \
                          token needs the scope user_management:read."
                    .into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    if member.id.workspace_id != inst.workspace_id || member.email_address.trim().is_empty() {
        return Err(unknown(
            "Attio does not know this workspace member in this workspace.",
        ));
    }
    if member.access_level == "suspended" {
        return Err(Error::Client {
            status: StatusCode::FORBIDDEN,
            code: "WORKSPACE_MEMBER_SUSPENDED",
            message: "This Attio workspace member is suspended.".into(),
        });
    }
    Ok(ActorInfo {
        email: Some(member.email_address.trim().to_owned()),
        workspace_member_id: Some(member.id.workspace_member_id),
    })
}

async fn forward(
    state: &AppState,
    inst: &Installation,
    info: &'static ActionInfo,
    call: ActionCall,
) -> Result<(StatusCode, Value)> {
    let action = info.name;
    let bulk = call.targets.is_some();
    let targets: Vec<Target> = match (&call.targets, &call.target) {
        (Some(ts), _) => ts.clone(),
        (None, Some(t)) => vec![t.clone()],
        (None, None) => Vec::new(),
    };
    if bulk && targets.is_empty() {
        return Err(Error::bad_request("NO_TARGETS", "`targets` is empty."));
    }
    if targets.len() > 1000 {
        return Err(Error::bad_request(
            "TOO_MANY_TARGETS",
            "At most 1000 records per call.",
        ));
    }
    if bulk && per_target(info) {
        return start_bulk(state, inst, action, &call, &targets).await;
    }
    let ctx = Ctx {
        state,
        inst,
        actor: &call.actor,
        action,
        info,
        bulk_id: None,
        reason: call.reason.as_deref(),
    };

    let outcomes: Vec<Outcome> = match info.app {
        // One call for every target together.
        AppCall::AllRecords { object, id_field } => {
            let started = Instant::now();
            let mut ids = Vec::new();
            let mut resolve_error = None;
            for t in &targets {
                match resolve(state, inst, record_ref(t), object).await {
                    Ok(id) => ids.push(Value::String(id)),
                    Err(e) => {
                        resolve_error = Some(e);
                        break;
                    }
                }
            }
            let target = targets.first().cloned().filter(|_| targets.len() == 1);
            let auth_id = (ids.len() == 1)
                .then(|| ids[0].as_str().map(str::to_owned))
                .flatten();
            let result = match resolve_error {
                Some(e) => {
                    audit_unsent(&ctx, target.as_ref(), auth_id.as_deref(), started, e).await
                }
                None => {
                    let mut f = call.params.clone();
                    f.insert(id_field.into(), Value::Array(ids.clone()));
                    send(&ctx, target.as_ref(), auth_id.as_deref(), f).await
                }
            };
            vec![Outcome { target, result }]
        }
        // Actions that need no record.
        AppCall::NoRecord => {
            let mut f = call.params.clone();
            if action == wire::RevokeSessionRequest::NAME
                && inst.connection.protocol == Protocol::SignedV1
            {
                // Signed protocol revokes by id only; tokens are never handled here.
                f.remove("sessionToken");
            }
            let result = match legacy_session_by_token(state, inst, action, &call, &mut f).await {
                Ok(()) => send(&ctx, call.target.as_ref(), None, f).await,
                Err(e) => Err(e),
            };
            vec![Outcome {
                target: call.target.clone(),
                result,
            }]
        }
        // Creations: the record (if any) becomes the new row's attioId.
        AppCall::Creates => {
            let mut f = call.params.clone();
            if let Some(t) = &call.target {
                f.insert("attioId".into(), Value::String(t.record_id.clone()));
            }
            let result = send(&ctx, call.target.as_ref(), None, f).await;
            vec![Outcome {
                target: call.target.clone(),
                result,
            }]
        }
        // One call per target record.
        AppCall::PerRecord { .. } => {
            if targets.is_empty() {
                return Err(Error::bad_request(
                    "NO_TARGET",
                    format!("Action `{action}` needs a `target` record."),
                ));
            }
            let mut outcomes = Vec::with_capacity(targets.len());
            for t in targets {
                let result = run_target(&ctx, &call.params, &t).await;
                outcomes.push(Outcome {
                    target: Some(t),
                    result,
                });
            }
            outcomes
        }
        // Not reachable from the app ([`app_action`] leaves them out).
        AppCall::Internal => {
            return Err(Error::not_found(
                "UNKNOWN_ACTION",
                format!("There is no action `{action}`."),
            ));
        }
    };

    if !bulk {
        let Some(o) = outcomes.into_iter().next() else {
            return Err(Error::Internal("no outcome".into()));
        };
        let data = o.result?;
        return Ok((
            StatusCode::OK,
            json!({"ok": true, "message": success_message(action, &data, 1), "data": data}),
        ));
    }
    Ok((StatusCode::OK, bulk_answer(action, outcomes)))
}

/// The answer to a bulk call: a summary, per-record `results` and the plugin's `data`.
fn bulk_answer(action: &str, outcomes: Vec<Outcome>) -> Value {
    let total = outcomes.len();
    let mut ok_count = 0;
    let mut results = Vec::with_capacity(total);
    let mut datas = Vec::with_capacity(total);
    for o in outcomes {
        let record_id = o.target.map(|t| t.record_id);
        match o.result {
            Ok(data) => {
                ok_count += 1;
                results.push(json!({"recordId": record_id, "ok": true, "message": success_message(action, &data, 1)}));
                datas.push(data);
            }
            Err(e) => {
                let (_, code, message) = e.parts();
                results.push(
                    json!({"recordId": record_id, "ok": false, "message": message, "code": code}),
                );
                datas.push(Value::Null);
            }
        }
    }
    let message = summary(action, ok_count, total);
    let data = if datas.len() == 1 {
        datas.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(datas)
    };
    json!({"ok": ok_count > 0, "message": message, "data": data, "results": results})
}

/// Resolve one target record and make its plugin call (audited).
async fn run_target(ctx: &Ctx<'_>, params: &Map<String, Value>, t: &Target) -> Result<Value> {
    let AppCall::PerRecord { object, id_field } = ctx.info.app else {
        return Err(Error::Internal(format!(
            "action `{}` is not made per record",
            ctx.action
        )));
    };
    let started = Instant::now();
    match resolve(ctx.state, ctx.inst, record_ref(t), object).await {
        Ok(id) => {
            let mut f = params.clone();
            f.insert(id_field.into(), Value::String(id.clone()));
            // The resolved actor's email, whatever `params` claim.
            if let Some(email) = &ctx.actor.email {
                for key in ACTOR_EMAIL_FIELDS {
                    if ctx.info.fields.iter().any(|field| field.name == key) {
                        f.insert(key.into(), Value::String(email.clone()));
                    }
                }
            }
            send(ctx, Some(t), Some(&id), f).await
        }
        Err(e) => audit_unsent(ctx, Some(t), None, started, e).await,
    }
}

/// The original plugin revokes one session only by its token, while the Attio app sends
/// the session's id: on a legacy connection, swap `sessionId` for the token of that session
/// of the target user, read through `sessions` (the original answers tokens there). Other
/// actions and calls that already carry a token are left alone.
async fn legacy_session_by_token(
    state: &AppState,
    inst: &Installation,
    action: &str,
    call: &ActionCall,
    fields: &mut Map<String, Value>,
) -> Result<()> {
    if action != wire::RevokeSessionRequest::NAME
        || inst.connection.protocol != Protocol::Legacy
        || fields.contains_key("sessionToken")
    {
        return Ok(());
    }
    let Some(Value::String(session_id)) = fields.get("sessionId").cloned() else {
        return Ok(());
    };
    let target = call.target.as_ref().ok_or_else(|| {
        Error::bad_request(
            "NO_TARGET",
            "Revoking a session by id on an original (legacy) plugin needs the user's `target` record.",
        )
    })?;
    let user_id = resolve(state, inst, record_ref(target), "users").await?;
    let mut query = Map::new();
    query.insert("userId".into(), Value::String(user_id));
    let answer = state
        .plugin
        .call_raw(&inst.connection, wire::SessionsRequest::NAME, query)
        .await?;
    let token = answer["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"].as_str() == Some(session_id.as_str()))
        .and_then(|s| s["token"].as_str())
        .ok_or_else(|| {
            Error::not_found(
                "SESSION_NOT_FOUND",
                "The user has no session with this id (ended already?).",
            )
        })?;
    fields.remove("sessionId");
    fields.insert("sessionToken".into(), Value::String(token.to_owned()));
    Ok(())
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// Validate `fields` against the action and call the plugin. The audit row is written
/// (`pending`) before the call and completed after: no plugin call goes unaudited, even
/// when the request is cut short while the call is in flight. When the row cannot be
/// written, the call is not made.
async fn send(
    ctx: &Ctx<'_>,
    target: Option<&Target>,
    auth_id: Option<&str>,
    fields: Map<String, Value>,
) -> Result<Value> {
    let started = Instant::now();
    let mut tagged = fields.clone();
    tagged.insert("action".into(), Value::String(ctx.action.to_owned()));
    if let Err(e) = validate_fields(
        Some(&Value::Object(tagged)),
        Envelope::Signed,
        ctx.info.fields,
    ) {
        let e = Error::bad_request("INVALID_PARAMS", e.message);
        return audit_unsent(ctx, target, auth_id, started, e).await;
    }
    let row = audit_begin(ctx, target, auth_id).await?;
    let result: Result<Value> = ctx
        .state
        .plugin
        .call_raw(&ctx.inst.connection, ctx.action, fields)
        .await
        .map_err(Error::from);
    if let Err(e) = audit_finish(ctx.state, row, ctx.action, &result, elapsed_ms(started)).await {
        tracing::error!(error = %e, "could not complete the audit entry");
    }
    result
}

/// Audit a call that was refused before reaching the plugin; gives back the error.
async fn audit_unsent(
    ctx: &Ctx<'_>,
    target: Option<&Target>,
    auth_id: Option<&str>,
    started: Instant,
    e: Error,
) -> Result<Value> {
    let result = Err(e);
    match audit_begin(ctx, target, auth_id).await {
        Ok(row) => {
            if let Err(e) =
                audit_finish(ctx.state, row, ctx.action, &result, elapsed_ms(started)).await
            {
                tracing::error!(error = %e, "could not complete the audit entry");
            }
        }
        Err(e) => tracing::error!(error = %e, "could not write the audit entry"),
    }
    result
}

fn success_message(action: &str, data: &Value, _n: usize) -> String {
    let count = |key: &str| data.get(key).and_then(Value::as_array).map_or(0, Vec::len);
    match action {
        "user-details" => "Loaded the user's details.".into(),
        "update-ban-status" => "Ban status updated.".into(),
        "send-password-reset" => "Password reset email sent.".into(),
        "sessions" => format!("Loaded {} session(s).", count("sessions")),
        "revoke-session" => "Session revoked.".into(),
        "revoke-all-sessions" => "All sessions revoked.".into(),
        "impersonate" => "Impersonation link created; it works once, within 5 minutes.".into(),
        "list-org-invitations" => format!("Loaded {} invitation(s).", count("invitations")),
        "create-org-invitation" => "Invitation sent.".into(),
        "cancel-org-invitation" => "Invitation canceled.".into(),
        "search-users" => format!("Found {} user(s).", count("users")),
        "get-org-roles" => "Loaded the organization roles.".into(),
        "create-user" => "User created.".into(),
        "create-organization" => "Organization created.".into(),
        _ => "Done.".into(),
    }
}

/// Write the audit row of a call about to be made (`state = 'pending'`); its id.
async fn audit_begin(ctx: &Ctx<'_>, target: Option<&Target>, auth_id: Option<&str>) -> Result<i64> {
    let row = sqlx::query(
        "insert into audit_log (installation_id, at, actor_email, actor_member_id, action, \
         target_object, target_record_id, auth_id, ok, http_status, message, duration_ms, \
         state, bulk_id, reason) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, 'pending', 0, 'pending', $9, $10) \
         returning id",
    )
    .bind(&ctx.inst.id)
    .bind(now_ms())
    .bind(ctx.actor.email.clone())
    .bind(ctx.actor.workspace_member_id.clone())
    .bind(ctx.action)
    .bind(target.map(|t| t.object.clone()))
    .bind(target.map(|t| t.record_id.clone()))
    .bind(auth_id.map(str::to_owned))
    .bind(ctx.bulk_id.map(str::to_owned))
    .bind(ctx.reason.map(str::to_owned))
    .fetch_one(&ctx.state.db.pool)
    .await?;
    Ok(row.try_get("id")?)
}

/// Complete an audit row with the call's outcome.
async fn audit_finish(
    state: &AppState,
    id: i64,
    action: &str,
    result: &Result<Value>,
    millis: i64,
) -> Result<()> {
    let (ok, status, code, message) = match result {
        Ok(data) => (1i64, 200i64, None, success_message(action, data, 1)),
        Err(e) => {
            let (s, code, m) = e.parts();
            (
                0,
                i64::from(s.as_u16()),
                Some(code.clone()),
                format!("{code}: {m}"),
            )
        }
    };
    sqlx::query(
        "update audit_log set ok = $1, http_status = $2, code = $3, message = $4, \
         duration_ms = $5, state = 'done' where id = $6",
    )
    .bind(ok)
    .bind(status)
    .bind(code)
    .bind(message)
    .bind(millis)
    .bind(id)
    .execute(&state.db.pool)
    .await?;
    Ok(())
}

/// Query of the audit list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Page size (default 50, at most 500).
    pub limit: Option<i64>,
    /// Entries older than this entry id (the previous page's `nextBefore`).
    pub before: Option<i64>,
}

/// `GET /v1/installations/{id}/audit`: newest first. Signed like actions (empty body), and
/// the workspace header must name this installation.
#[utoipa::path(get, path = "/v1/installations/{id}/audit", tag = "installations",
    params(("id" = String, Path, description = "Installation id"), AuditQuery,
        ("attio-workspace-id" = String, Header, description = "The Attio workspace id")),
    responses(
        (status = 200, description = "`{ok, entries: [{id, at, actor, action, target, authId, ok, status, message, durationMs}], nextBefore}`", body = Object),
        (status = 401, description = "Signature refused", body = crate::error::ErrorResponse),
    ))]
pub async fn audit_list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<AuditQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let call = app_auth::verify(&state, &headers, b"").await?;
    if call.installation.id != id {
        return Err(Error::not_found(
            "NOT_INSTALLED",
            "No such installation for this workspace.",
        ));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let rows = sqlx::query(
        "select id, at, actor_email, actor_member_id, action, target_object, target_record_id, \
         auth_id, ok, http_status, message, duration_ms, state, reason from audit_log \
         where installation_id = $1 and id < $2 order by id desc limit $3",
    )
    .bind(&id)
    .bind(q.before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&state.db.pool)
    .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        entries.push(json!({
            "id": r.try_get::<i64, _>("id")?,
            "at": r.try_get::<i64, _>("at")?,
            "actor": {
                "email": r.try_get::<Option<String>, _>("actor_email")?,
                "workspaceMemberId": r.try_get::<Option<String>, _>("actor_member_id")?,
            },
            "action": r.try_get::<String, _>("action")?,
            "target": {
                "object": r.try_get::<Option<String>, _>("target_object")?,
                "recordId": r.try_get::<Option<String>, _>("target_record_id")?,
            },
            "authId": r.try_get::<Option<String>, _>("auth_id")?,
            "ok": r.try_get::<i64, _>("ok")? == 1,
            "status": r.try_get::<i64, _>("http_status")?,
            "message": r.try_get::<String, _>("message")?,
            "durationMs": r.try_get::<i64, _>("duration_ms")?,
            "state": r.try_get::<String, _>("state")?,
            "reason": r.try_get::<Option<String>, _>("reason")?,
        }));
    }
    let next_before = if i64::try_from(entries.len()).unwrap_or(0) == limit {
        entries
            .last()
            .and_then(|e| e.get("id"))
            .and_then(Value::as_i64)
    } else {
        None
    };
    Ok(Json(
        json!({"ok": true, "entries": entries, "nextBefore": next_before}),
    ))
}

// ------------------------------------------------------------------------------------------
// Bulk actions as jobs, and the installation's jobs (bulk results, dead letters)
// ------------------------------------------------------------------------------------------

/// The queued input of a bulk action.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkPayload {
    bulk_id: String,
    action: String,
    #[serde(default)]
    actor: ActorInfo,
    #[serde(default)]
    params: Map<String, Value>,
    targets: Vec<Target>,
    #[serde(default)]
    reason: Option<String>,
}

/// How long a bulk request waits for its job before answering 202: two thirds of the
/// request timeout, so the answer (and the stored replay response) always comes before the
/// timeout cuts the request.
fn bulk_wait(state: &AppState) -> Duration {
    state.config.request_timeout.saturating_mul(2) / 3
}

/// Queue a per-record bulk action as a job and wait for it up to [`bulk_wait`]: the full
/// answer (200) when it finished, else 202 with the job id to follow.
async fn start_bulk(
    state: &AppState,
    inst: &Installation,
    action: &str,
    call: &ActionCall,
    targets: &[Target],
) -> Result<(StatusCode, Value)> {
    let bulk_id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    sqlx::query(
        "insert into bulk_jobs (id, installation_id, action, status, total, result, created_at, \
         updated_at) values ($1, $2, $3, 'queued', $4, null, $5, $6)",
    )
    .bind(&bulk_id)
    .bind(&inst.id)
    .bind(action)
    .bind(i64::try_from(targets.len()).unwrap_or(i64::MAX))
    .bind(now)
    .bind(now)
    .execute(&state.db.pool)
    .await?;
    let payload = json!({
        "bulkId": bulk_id,
        "action": action,
        "actor": {"email": call.actor.email, "workspaceMemberId": call.actor.workspace_member_id},
        "params": call.params,
        "reason": call.reason,
        "targets": targets.iter()
            .map(|t| json!({"object": t.object, "recordId": t.record_id}))
            .collect::<Vec<_>>(),
    });
    state
        .queue
        .enqueue(
            &inst.id,
            JobKind::BulkAction,
            None,
            Some(&format!("bulk:{bulk_id}")),
            &payload,
        )
        .await?;
    let deadline = Instant::now() + bulk_wait(state);
    loop {
        if let Some(answer) = bulk_final(state, &bulk_id).await? {
            return Ok((StatusCode::OK, answer));
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok((
        StatusCode::ACCEPTED,
        json!({
            "ok": true,
            "message": format!("Working on {} records; this continues in the background.", targets.len()),
            "jobId": bulk_id,
            "status": "running",
            "statusUrl": format!("/v1/installations/{}/jobs/{bulk_id}", inst.id),
        }),
    ))
}

/// The final answer of a finished bulk job.
async fn bulk_final(state: &AppState, bulk_id: &str) -> Result<Option<Value>> {
    let row = sqlx::query("select status, result from bulk_jobs where id = $1")
        .bind(bulk_id)
        .fetch_optional(&state.db.pool)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let status: String = row.try_get("status")?;
    let result: Option<String> = row.try_get("result")?;
    Ok(match (status.as_str(), result) {
        ("done", Some(text)) => serde_json::from_str(&text).ok(),
        _ => None,
    })
}

/// Per-record results of a bulk job so far, in target order, from its audit rows.
async fn bulk_results(state: &AppState, bulk_id: &str) -> Result<Vec<Value>> {
    let rows = sqlx::query(
        "select target_record_id, ok, http_status, code, message, state from audit_log \
         where bulk_id = $1 order by id",
    )
    .bind(bulk_id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let record_id: Option<String> = r.try_get("target_record_id")?;
        let row_state: String = r.try_get("state")?;
        let code: Option<String> = r.try_get("code")?;
        let message: String = r.try_get("message")?;
        if row_state == "pending" {
            out.push(json!({"recordId": record_id, "ok": false, "status": "pending"}));
            continue;
        }
        if r.try_get::<i64, _>("ok")? == 1 {
            out.push(json!({"recordId": record_id, "ok": true, "message": message}));
        } else {
            let plain = code
                .as_deref()
                .and_then(|c| message.strip_prefix(&format!("{c}: ")))
                .unwrap_or(&message)
                .to_owned();
            out.push(
                json!({"recordId": record_id, "ok": false, "message": plain, "code": code,
                "httpStatus": r.try_get::<i64, _>("http_status")?}),
            );
        }
    }
    Ok(out)
}

fn summary(action: &str, ok_count: usize, total: usize) -> String {
    if action == wire::RevokeAllSessionsRequest::NAME && ok_count == 1 {
        success_message(action, &Value::Null, 0)
    } else if ok_count == total {
        format!("Done for all {total} records.")
    } else {
        format!(
            "Done for {ok_count} of {total} records; {} failed.",
            total - ok_count
        )
    }
}

/// The worker step of a bulk action: one audited plugin call per record, resumable (records
/// already audited are skipped after a restart), then the final answer is stored.
pub async fn run_bulk(state: &AppState, job: &Job) -> Result<(), Failure> {
    let p: BulkPayload = serde_json::from_value(job.payload.clone())
        .map_err(|e| Failure::permanent(format!("not a bulk action: {e}")))?;
    let Some(inst) = Installation::find(state, &job.installation_id).await? else {
        return Ok(());
    };
    let info = app_action(&p.action)
        .ok_or_else(|| Failure::permanent(format!("unknown action {}", p.action)))?;
    sqlx::query("update bulk_jobs set status = 'running', updated_at = $1 where id = $2")
        .bind(now_ms())
        .bind(&p.bulk_id)
        .execute(&state.db.pool)
        .await?;
    // A call in flight when the process stopped: its outcome is unknown; it is not repeated.
    sqlx::query(
        "update audit_log set state = 'done', ok = 0, http_status = 503, code = 'INTERRUPTED', \
         message = 'INTERRUPTED: the service stopped during this call; it may or may not have \
         been made.' where bulk_id = $1 and state = 'pending'",
    )
    .bind(&p.bulk_id)
    .execute(&state.db.pool)
    .await?;
    let done: i64 = sqlx::query("select count(*) as n from audit_log where bulk_id = $1")
        .bind(&p.bulk_id)
        .fetch_one(&state.db.pool)
        .await?
        .try_get("n")?;
    let done = usize::try_from(done).unwrap_or(0);
    let ctx = Ctx {
        state,
        inst: &inst,
        actor: &p.actor,
        action: &p.action,
        info,
        bulk_id: Some(&p.bulk_id),
        reason: p.reason.as_deref(),
    };
    let mut datas = vec![Value::Null; done.min(p.targets.len())];
    for t in p.targets.iter().skip(done) {
        if state.shutdown.is_cancelled() {
            // Put back as is: the next run resumes after the last audited record.
            return Err(Failure {
                message: "shutting down".into(),
                transient: true,
                defer: Some(Duration::ZERO),
            });
        }
        state.queue.extend_lease(job.id).await?;
        datas.push(run_target(&ctx, &p.params, t).await.unwrap_or(Value::Null));
    }
    let results = bulk_results(state, &p.bulk_id).await?;
    let ok_count = results.iter().filter(|r| r["ok"] == true).count();
    let total = results.len();
    let data = if datas.len() == 1 {
        datas.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(datas)
    };
    let mut answer = json!({"ok": ok_count > 0, "message": summary(&p.action, ok_count, total),
        "data": data, "results": results});
    let mut text = answer.to_string();
    if text.len() > MAX_STORED_BULK_ANSWER {
        answer["data"] = Value::Null;
        text = answer.to_string();
    }
    sqlx::query("update bulk_jobs set status = 'done', result = $1, updated_at = $2 where id = $3")
        .bind(text)
        .bind(now_ms())
        .bind(&p.bulk_id)
        .execute(&state.db.pool)
        .await?;
    Ok(())
}

/// Largest stored final answer of a bulk job; beyond it the plugin's `data` is left out
/// (the per-record results stay).
const MAX_STORED_BULK_ANSWER: usize = 1024 * 1024;

async fn verified_installation(state: &AppState, headers: &HeaderMap, id: &str) -> Result<()> {
    let call = app_auth::verify(state, headers, b"").await?;
    if call.installation.id != id {
        return Err(Error::not_found(
            "NOT_INSTALLED",
            "No such installation for this workspace.",
        ));
    }
    Ok(())
}

/// `GET /v1/installations/{id}/jobs/{job_id}`: a bulk job's progress and per-record
/// results. Signed like actions (empty body).
#[utoipa::path(get, path = "/v1/installations/{id}/jobs/{job_id}", tag = "installations",
    params(("id" = String, Path, description = "Installation id"),
        ("job_id" = String, Path, description = "The `jobId` of a 202 bulk answer"),
        ("attio-workspace-id" = String, Header, description = "The Attio workspace id")),
    responses(
        (status = 200, description = "`{ok, job: {id, action, status, total, done}, results: [{recordId, ok, message, code}], answer}` (`answer`: the final bulk answer once `status` is `done`)", body = Object),
        (status = 401, description = "Signature refused", body = crate::error::ErrorResponse),
        (status = 404, description = "No such job for this installation", body = crate::error::ErrorResponse),
    ))]
pub async fn bulk_status(
    State(state): State<AppState>,
    Path((id, job_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    verified_installation(&state, &headers, &id).await?;
    let row = sqlx::query(
        "select action, status, total, result, created_at, updated_at from bulk_jobs \
         where id = $1 and installation_id = $2",
    )
    .bind(&job_id)
    .bind(&id)
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(|| Error::not_found("JOB_NOT_FOUND", "No such job for this installation."))?;
    let results = bulk_results(&state, &job_id).await?;
    let answer: Option<String> = row.try_get("result")?;
    Ok(Json(json!({
        "ok": true,
        "job": {
            "id": job_id,
            "action": row.try_get::<String, _>("action")?,
            "status": row.try_get::<String, _>("status")?,
            "total": row.try_get::<i64, _>("total")?,
            "done": results.iter().filter(|r| r.get("status").is_none()).count(),
            "createdAt": row.try_get::<i64, _>("created_at")?,
            "updatedAt": row.try_get::<i64, _>("updated_at")?,
        },
        "results": results,
        "answer": answer.and_then(|a| serde_json::from_str::<Value>(&a).ok()),
    })))
}

/// Query of the dead-letter list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct JobsQuery {
    /// Most dead jobs listed (default 50, at most 500).
    pub limit: Option<i64>,
}

/// `GET /v1/installations/{id}/jobs`: the installation's queue (counts per status) and its
/// dead letters (jobs given up, with their last error), newest first. Signed like actions.
#[utoipa::path(get, path = "/v1/installations/{id}/jobs", tag = "installations",
    params(("id" = String, Path, description = "Installation id"), JobsQuery,
        ("attio-workspace-id" = String, Header, description = "The Attio workspace id")),
    responses(
        (status = 200, description = "`{ok, counts: {queued, running, dead}, dead: [{id, kind, orderingKey, attempts, lastError, createdAt, diedAt}]}`", body = Object),
        (status = 401, description = "Signature refused", body = crate::error::ErrorResponse),
    ))]
pub async fn jobs_list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<JobsQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    verified_installation(&state, &headers, &id).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let dead = state.queue.dead_jobs(&id, limit).await?;
    let rows = sqlx::query(
        "select status, count(*) as n from jobs where installation_id = $1 group by status",
    )
    .bind(&id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut counts = json!({"queued": 0, "running": 0, "dead": 0});
    for r in &rows {
        let status: String = r.try_get("status")?;
        counts[status] = json!(r.try_get::<i64, _>("n")?);
    }
    Ok(Json(json!({"ok": true, "counts": counts, "dead": dead})))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the Attio app may call, as it was before the list moved to the shared crate.
    const APP_ACTIONS: [&str; 14] = [
        "user-details",
        "update-ban-status",
        "send-password-reset",
        "sessions",
        "revoke-session",
        "revoke-all-sessions",
        "impersonate",
        "list-org-invitations",
        "create-org-invitation",
        "cancel-org-invitation",
        "search-users",
        "get-org-roles",
        "create-user",
        "create-organization",
    ];

    #[test]
    fn the_app_reaches_every_non_internal_action_and_no_other() {
        for name in APP_ACTIONS {
            assert!(app_action(name).is_some(), "{name} is forwarded");
        }
        for name in ["link", "unlink", "webhook", "export", "ping", "nope"] {
            assert!(app_action(name).is_none(), "{name} is not forwarded");
        }
        let forwarded = wire::ACTIONS.iter().filter(|i| i.from_app()).count();
        assert_eq!(forwarded, APP_ACTIONS.len());
    }

    #[test]
    fn only_per_record_actions_continue_as_jobs() {
        let jobs: Vec<&str> = APP_ACTIONS
            .into_iter()
            .filter(|n| app_action(n).is_some_and(per_target))
            .collect();
        assert_eq!(
            jobs,
            [
                "user-details",
                "update-ban-status",
                "send-password-reset",
                "sessions",
                "impersonate",
                "list-org-invitations",
                "create-org-invitation",
            ]
        );
    }

    #[test]
    fn the_actor_email_goes_where_the_action_takes_it() {
        let takes = |name: &str| -> Vec<&str> {
            let fields = app_action(name).map_or(&[][..], |i| i.fields);
            ACTOR_EMAIL_FIELDS
                .into_iter()
                .filter(|k| fields.iter().any(|f| f.name == *k))
                .collect()
        };
        assert_eq!(takes("impersonate"), ["adminEmail"]);
        assert_eq!(takes("create-org-invitation"), ["inviterEmail"]);
        assert!(takes("update-ban-status").is_empty());
    }
}
