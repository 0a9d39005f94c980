//! The audit log: a row written before every plugin call and completed after it, and
//! `GET /v1/installations/{id}/audit` to list them.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row as _;

use attio_auth_shared::actions::ActionInfo;

use crate::app_auth;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::installations::Installation;
use crate::state::AppState;

use super::messages::success_message;
use super::{ActorInfo, Target};

/// What every audited call of one action shares: who acts, on what, for which action.
pub(super) struct Ctx<'a> {
    pub(super) state: &'a AppState,
    pub(super) inst: &'a Installation,
    pub(super) actor: &'a ActorInfo,
    pub(super) action: &'a str,
    /// The action's row of the shared list (fields, how records are resolved).
    pub(super) info: &'static ActionInfo,
    /// The bulk job the calls belong to, if any.
    pub(super) bulk_id: Option<&'a str>,
    /// The audit reason the caller gave (already bounded by [`super::audit_reason`]).
    pub(super) reason: Option<&'a str>,
}

/// Milliseconds since `started`, as audit rows keep durations.
pub(super) fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// Audit a call that was refused before reaching the plugin; gives back the error.
pub(super) async fn audit_unsent(
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

/// Write the audit row of a call about to be made (`state = 'pending'`); its id.
pub(super) async fn audit_begin(
    ctx: &Ctx<'_>,
    target: Option<&Target>,
    auth_id: Option<&str>,
) -> Result<i64> {
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
pub(super) async fn audit_finish(
    state: &AppState,
    id: i64,
    action: &str,
    result: &Result<Value>,
    millis: i64,
) -> Result<()> {
    let (ok, status, code, message) = match result {
        Ok(data) => (1i64, 200i64, None, success_message(action, data)),
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
