//! Sessions: `sessions`, `revoke-session`, `revoke-all-sessions`.
//!
//! Signed callers see session ids and revoke by id; session tokens (a login each) only go
//! to legacy callers, whose original Attio app revokes by token.

use crate::auth::Ctx;
use crate::error::{PluginError, PluginResult};
use crate::store::SessionRef;
use attio_auth_shared::actions::{
    RevokeAllSessionsRequest, RevokeSessionRequest, SessionInfo, SessionsRequest, SessionsResponse,
    SuccessResponse,
};

pub(crate) async fn sessions(ctx: Ctx, req: SessionsRequest) -> PluginResult<SessionsResponse> {
    // An expired ban is lifted here too, as everywhere a user is looked at.
    if ctx.st.store.features().admin
        && let Some(user) = ctx.st.store.user(&req.user_id).await?
    {
        super::common::lift_expired_ban(&ctx.st, user).await?;
    }
    let rows = ctx.st.store.sessions(&req.user_id).await?;
    let now = chrono::Utc::now();
    let legacy = ctx.legacy();
    let active = rows
        .iter()
        .filter(|s| crate::time::parse_iso(&s.expires_at).is_some_and(|e| e > now))
        .count();
    let sessions: Vec<SessionInfo> = rows
        .into_iter()
        .map(|s| SessionInfo {
            token: legacy.then_some(s.token),
            id: s.id,
            expires_at: s.expires_at,
            created_at: s.created_at,
            updated_at: s.updated_at,
            ip_address: s.ip_address.unwrap_or_default(),
            user_agent: s.user_agent.unwrap_or_default(),
            user_id: s.user_id,
            impersonated_by: s
                .impersonated_by
                .map(|id| s.impersonator_name.unwrap_or(id)),
            active_organization_id: s.active_organization_id,
        })
        .collect();
    Ok(SessionsResponse {
        total_count: sessions.len() as u64,
        active_count: active as u64,
        sessions,
    })
}

pub(crate) async fn revoke_session(
    ctx: Ctx,
    req: RevokeSessionRequest,
) -> PluginResult<SuccessResponse> {
    let which = match (&req.session_id, &req.session_token) {
        (Some(id), _) => SessionRef::Id(id),
        (None, Some(token)) if ctx.legacy() => SessionRef::Token(token),
        (None, Some(_)) => {
            return Err(PluginError::bad_request(
                "SESSION_ID_REQUIRED",
                "Signed requests revoke sessions by sessionId, not by token",
            ));
        }
        (None, None) => {
            return Err(PluginError::Validation(
                "[body.sessionId] Invalid input: expected string, received undefined".to_owned(),
            ));
        }
    };
    let existed = ctx.st.store.delete_session(which).await?;
    // The original answers 200 for an unknown token; signed callers learn the truth.
    if existed || ctx.legacy() {
        Ok(SuccessResponse::OK)
    } else {
        Err(PluginError::not_found(
            "SESSION_NOT_FOUND",
            "Session not found",
        ))
    }
}

pub(crate) async fn revoke_all_sessions(
    ctx: Ctx,
    req: RevokeAllSessionsRequest,
) -> PluginResult<SuccessResponse> {
    let n = ctx.st.store.delete_user_sessions(&req.user_ids).await?;
    tracing::info!(
        users = req.user_ids.len(),
        sessions = n,
        "attio plugin: sessions revoked"
    );
    Ok(SuccessResponse::OK)
}
