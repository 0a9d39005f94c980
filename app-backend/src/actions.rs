//! `POST /v1/actions/{action}`: record actions from the Attio app (PLAN.md's contract).
//!
//! The call is verified ([`crate::app_auth`]), the Attio record(s) resolved to auth ids
//! (`user_id` of a `users` record, `workspace_id` of a `workspaces` record; cached in
//! `record_links`), the plugin request built from the resolved ids and the `params`, checked
//! against the action's fields, and forwarded in the connection's protocol. Each forwarded
//! call leaves an audit entry; `GET /v1/installations/{id}/audit` lists them.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::Row as _;

use attio_auth_shared::actions::{self as wire, Action, Envelope, Field, validate_fields};
use attio_auth_shared::connection::Protocol;

use crate::app_auth;
use crate::attio::AttioError;
use crate::db::now_ms;
use crate::error::{Error, Result};
use crate::installations::{self, Installation};
use crate::startup::AppState;
use attio_auth_shared::signing::{ReplayStatus, SigningError};

/// Lifecycle actions handled by the backend itself.
pub const LIFECYCLE_ACTIONS: [&str; 2] = ["connection-check", "uninstall"];

/// Plugin actions the app may call, with their fields.
pub fn plugin_action_fields(action: &str) -> Option<&'static [Field]> {
    Some(match action {
        wire::UserDetailsRequest::NAME => wire::UserDetailsRequest::FIELDS,
        wire::UpdateBanStatusRequest::NAME => wire::UpdateBanStatusRequest::FIELDS,
        wire::SendPasswordResetRequest::NAME => wire::SendPasswordResetRequest::FIELDS,
        wire::SessionsRequest::NAME => wire::SessionsRequest::FIELDS,
        wire::RevokeSessionRequest::NAME => wire::RevokeSessionRequest::FIELDS,
        wire::RevokeAllSessionsRequest::NAME => wire::RevokeAllSessionsRequest::FIELDS,
        wire::ImpersonateRequest::NAME => wire::ImpersonateRequest::FIELDS,
        wire::ListOrgInvitationsRequest::NAME => wire::ListOrgInvitationsRequest::FIELDS,
        wire::CreateOrgInvitationRequest::NAME => wire::CreateOrgInvitationRequest::FIELDS,
        wire::CancelOrgInvitationRequest::NAME => wire::CancelOrgInvitationRequest::FIELDS,
        wire::SearchUsersRequest::NAME => wire::SearchUsersRequest::FIELDS,
        wire::GetOrgRolesRequest::NAME => wire::GetOrgRolesRequest::FIELDS,
        wire::CreateUserRequest::NAME => wire::CreateUserRequest::FIELDS,
        wire::CreateOrganizationRequest::NAME => wire::CreateOrganizationRequest::FIELDS,
        _ => return None,
    })
}

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
        (status = 400, description = "Bad body, params or headers", body = crate::openapi::ErrorResponse),
        (status = 401, description = "Signature refused", body = crate::openapi::ErrorResponse),
        (status = 404, description = "Workspace not installed, record or user not found", body = crate::openapi::ErrorResponse),
        (status = 422, description = "Same message id with another body, or a record not linked to the auth server", body = crate::openapi::ErrorResponse),
        (status = 502, description = "The auth server or Attio failed", body = crate::openapi::ErrorResponse),
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
        Ok(v) => (StatusCode::OK, v),
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
) -> Result<Value> {
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
            let ping = installations::ping_plugin(state, &inst.connection).await?;
            let message = match &ping {
                Some(p) => format!("Connected to the auth server (plugin {}).", p.version),
                None => "Connected to the auth server (original plugin).".to_owned(),
            };
            Ok(json!({"ok": true, "message": message, "data": {
                "installation": inst.public_json(),
                "plugin": ping.map(|p| json!({"version": p.version, "features": p.features})),
            }}))
        }
        "uninstall" => {
            let warnings = installations::uninstall(state, inst).await?;
            Ok(json!({"ok": true, "message": "Uninstalled.", "data": {"warnings": warnings}}))
        }
        _ => {
            let fields = plugin_action_fields(action).ok_or_else(|| {
                Error::not_found("UNKNOWN_ACTION", format!("There is no action `{action}`."))
            })?;
            let mut call = call;
            call.actor = resolve_actor(state, inst, &call.actor).await?;
            forward(state, inst, action, fields, call).await
        }
    }
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

/// One forwarded plugin call's outcome, for the audit log and bulk results.
struct Outcome {
    target: Option<Target>,
    auth_id: Option<String>,
    result: Result<Value>,
    millis: i64,
}

async fn forward(
    state: &AppState,
    inst: &Installation,
    action: &str,
    fields: &'static [Field],
    call: ActionCall,
) -> Result<Value> {
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

    let outcomes: Vec<Outcome> = match action {
        // One call for every target together.
        wire::RevokeAllSessionsRequest::NAME => {
            let started = Instant::now();
            let mut ids = Vec::new();
            let mut resolve_error = None;
            for t in &targets {
                match resolve(state, inst, t, "users").await {
                    Ok(id) => ids.push(Value::String(id)),
                    Err(e) => {
                        resolve_error = Some(e);
                        break;
                    }
                }
            }
            let result = match resolve_error {
                Some(e) => Err(e),
                None => {
                    let mut f = call.params.clone();
                    f.insert("userIds".into(), Value::Array(ids.clone()));
                    send(state, inst, action, fields, f).await
                }
            };
            vec![Outcome {
                target: targets.first().cloned().filter(|_| targets.len() == 1),
                auth_id: (ids.len() == 1)
                    .then(|| ids[0].as_str().map(str::to_owned))
                    .flatten(),
                result,
                millis: elapsed_ms(started),
            }]
        }
        // Actions that need no record.
        wire::RevokeSessionRequest::NAME
        | wire::CancelOrgInvitationRequest::NAME
        | wire::SearchUsersRequest::NAME
        | wire::GetOrgRolesRequest::NAME => {
            let started = Instant::now();
            let mut f = call.params.clone();
            if action == wire::RevokeSessionRequest::NAME
                && inst.connection.protocol == Protocol::SignedV1
            {
                // Signed protocol revokes by id only; tokens are never handled here.
                f.remove("sessionToken");
            }
            let result = match legacy_session_by_token(state, inst, action, &call, &mut f).await {
                Ok(()) => send(state, inst, action, fields, f).await,
                Err(e) => Err(e),
            };
            vec![Outcome {
                target: call.target.clone(),
                auth_id: None,
                result,
                millis: elapsed_ms(started),
            }]
        }
        // Creations: the record (if any) becomes the new row's attioId.
        wire::CreateUserRequest::NAME | wire::CreateOrganizationRequest::NAME => {
            let started = Instant::now();
            let mut f = call.params.clone();
            if let Some(t) = &call.target {
                f.insert("attioId".into(), Value::String(t.record_id.clone()));
            }
            let result = send(state, inst, action, fields, f).await;
            vec![Outcome {
                target: call.target.clone(),
                auth_id: None,
                result,
                millis: elapsed_ms(started),
            }]
        }
        // One call per target record.
        _ => {
            if targets.is_empty() {
                return Err(Error::bad_request(
                    "NO_TARGET",
                    format!("Action `{action}` needs a `target` record."),
                ));
            }
            let (object, id_field) = match action {
                wire::ListOrgInvitationsRequest::NAME | wire::CreateOrgInvitationRequest::NAME => {
                    ("workspaces", "organizationId")
                }
                wire::ImpersonateRequest::NAME => ("users", "targetUserId"),
                _ => ("users", "userId"),
            };
            let mut outcomes = Vec::with_capacity(targets.len());
            for t in targets {
                let started = Instant::now();
                let (auth_id, result) = match resolve(state, inst, &t, object).await {
                    Ok(id) => {
                        let mut f = call.params.clone();
                        f.insert(id_field.into(), Value::String(id.clone()));
                        // The resolved actor's email, whatever `params` claim.
                        if action == wire::ImpersonateRequest::NAME
                            && let Some(email) = &call.actor.email
                        {
                            f.insert("adminEmail".into(), Value::String(email.clone()));
                        }
                        if action == wire::CreateOrgInvitationRequest::NAME
                            && let Some(email) = &call.actor.email
                        {
                            f.insert("inviterEmail".into(), Value::String(email.clone()));
                        }
                        (Some(id), send(state, inst, action, fields, f).await)
                    }
                    Err(e) => (None, Err(e)),
                };
                outcomes.push(Outcome {
                    target: Some(t),
                    auth_id,
                    result,
                    millis: elapsed_ms(started),
                });
            }
            outcomes
        }
    };

    for o in &outcomes {
        if let Err(e) = audit(state, inst, &call.actor, action, o).await {
            tracing::error!(error = %e, "could not write the audit entry");
        }
    }

    if !bulk {
        let Some(o) = outcomes.into_iter().next() else {
            return Err(Error::Internal("no outcome".into()));
        };
        let data = o.result?;
        return Ok(json!({"ok": true, "message": success_message(action, &data, 1), "data": data}));
    }
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
    let message = if action == wire::RevokeAllSessionsRequest::NAME && ok_count == 1 {
        success_message(action, &Value::Null, 0)
    } else if ok_count == total {
        format!("Done for all {total} records.")
    } else {
        format!(
            "Done for {ok_count} of {total} records; {} failed.",
            total - ok_count
        )
    };
    let data = if datas.len() == 1 {
        datas.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(datas)
    };
    Ok(json!({"ok": ok_count > 0, "message": message, "data": data, "results": results}))
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
    let user_id = resolve(state, inst, target, "users").await?;
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

/// Validate `fields` against the action and call the plugin.
async fn send(
    state: &AppState,
    inst: &Installation,
    action: &str,
    spec: &'static [Field],
    fields: Map<String, Value>,
) -> Result<Value> {
    let mut tagged = fields.clone();
    tagged.insert("action".into(), Value::String(action.to_owned()));
    validate_fields(Some(&Value::Object(tagged)), Envelope::Signed, spec)
        .map_err(|e| Error::bad_request("INVALID_PARAMS", e.message))?;
    Ok(state
        .plugin
        .call_raw(&inst.connection, action, fields)
        .await?)
}

/// The auth id of an Attio record: from `record_links`, else read from the record
/// (`user_id` / `workspace_id`) and remembered.
pub async fn resolve(
    state: &AppState,
    inst: &Installation,
    target: &Target,
    expected_object: &str,
) -> Result<String> {
    if target.object != expected_object {
        return Err(Error::bad_request(
            "WRONG_OBJECT",
            format!(
                "This action works on `{expected_object}` records, not `{}`.",
                target.object
            ),
        ));
    }
    let id_attribute = match expected_object {
        "users" => "user_id",
        "workspaces" => "workspace_id",
        other => {
            return Err(Error::bad_request(
                "UNSUPPORTED_OBJECT",
                format!("Records of `{other}` cannot be acted on."),
            ));
        }
    };
    let row = sqlx::query(
        "select auth_id from record_links where installation_id = $1 and attio_object = $2 \
         and record_id = $3",
    )
    .bind(&inst.id)
    .bind(expected_object)
    .bind(&target.record_id)
    .fetch_optional(&state.db.pool)
    .await?;
    if let Some(row) = row {
        return Ok(row.try_get("auth_id")?);
    }
    let record = state
        .attio
        .get_record(&inst.attio, expected_object, &target.record_id)
        .await?
        .ok_or_else(|| {
            Error::not_found(
                "RECORD_NOT_FOUND",
                "The Attio record does not exist (deleted?).",
            )
        })?;
    let auth_id = match record.plain(id_attribute) {
        Value::String(s) if !s.is_empty() => s,
        _ => {
            return Err(Error::unprocessable(
                "RECORD_NOT_LINKED",
                format!(
                    "This Attio record has no `{id_attribute}`: it is not linked to the auth \
                     server yet."
                ),
            ));
        }
    };
    link_record(
        state,
        &inst.id,
        expected_object,
        &auth_id,
        &target.record_id,
    )
    .await?;
    Ok(auth_id)
}

/// Remember that `record_id` in `object` is `auth_id`.
pub async fn link_record(
    state: &AppState,
    installation_id: &str,
    object: &str,
    auth_id: &str,
    record_id: &str,
) -> Result<()> {
    link_record_hashed(state, installation_id, object, auth_id, record_id, None).await
}

/// [`link_record`], also storing the hash of the values both sides now agree on
/// (`record_links.synced_hash`), in one transaction.
pub async fn link_record_hashed(
    state: &AppState,
    installation_id: &str,
    object: &str,
    auth_id: &str,
    record_id: &str,
    synced_hash: Option<&str>,
) -> Result<()> {
    let mut tx = state.db.pool.begin().await?;
    // Another auth id may have held this record before (a re-created user): drop it first.
    sqlx::query(
        "delete from record_links where installation_id = $1 and attio_object = $2 \
         and record_id = $3 and auth_id <> $4",
    )
    .bind(installation_id)
    .bind(object)
    .bind(record_id)
    .bind(auth_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into record_links (installation_id, attio_object, auth_id, record_id, updated_at, \
         synced_hash) values ($1, $2, $3, $4, $5, $6) \
         on conflict (installation_id, attio_object, auth_id) do update set \
         record_id = excluded.record_id, updated_at = excluded.updated_at, \
         synced_hash = coalesce(excluded.synced_hash, record_links.synced_hash)",
    )
    .bind(installation_id)
    .bind(object)
    .bind(auth_id)
    .bind(record_id)
    .bind(now_ms())
    .bind(synced_hash)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
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

async fn audit(
    state: &AppState,
    inst: &Installation,
    actor: &ActorInfo,
    action: &str,
    o: &Outcome,
) -> Result<()> {
    let (ok, status, message) = match &o.result {
        Ok(data) => (1i64, 200i64, success_message(action, data, 1)),
        Err(e) => {
            let (s, code, m) = e.parts();
            (0, i64::from(s.as_u16()), format!("{code}: {m}"))
        }
    };
    sqlx::query(
        "insert into audit_log (installation_id, at, actor_email, actor_member_id, action, \
         target_object, target_record_id, auth_id, ok, http_status, message, duration_ms) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&inst.id)
    .bind(now_ms())
    .bind(actor.email.clone())
    .bind(actor.workspace_member_id.clone())
    .bind(action)
    .bind(o.target.as_ref().map(|t| t.object.clone()))
    .bind(o.target.as_ref().map(|t| t.record_id.clone()))
    .bind(o.auth_id.clone())
    .bind(ok)
    .bind(status)
    .bind(message)
    .bind(o.millis)
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
        (status = 401, description = "Signature refused", body = crate::openapi::ErrorResponse),
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
         auth_id, ok, http_status, message, duration_ms from audit_log \
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
