//! `POST /v1/actions/{action}`: record actions from the Attio app (PLAN.md's contract).
//!
//! The call is verified ([`crate::app_auth`]), the Attio record(s) resolved to auth ids
//! (`user_id` of a `users` record, `workspace_id` of a `workspaces` record; cached in
//! `record_links`), the plugin request built from the resolved ids and the `params`, checked
//! against the action's fields, and forwarded in the connection's protocol. Each forwarded
//! call leaves an audit entry; `GET /v1/installations/{id}/audit` lists them.
//!
//! Here: the call's shape and the route (verify, replay guard, dispatch). `actor` resolves
//! who acts, `forward` resolves records and calls the plugin, [`audit`] keeps the log,
//! [`bulk`] runs large per-record calls as jobs, `messages` words the answers.

mod actor;
pub mod audit;
pub mod bulk;
mod forward;
mod messages;

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use attio_auth_shared::actions::{self as wire, ActionInfo};

use crate::app_auth;
use crate::error::{Error, Result};
use crate::installations::{self, Installation};
use crate::state::AppState;

pub use actor::resolve_actor;

/// Lifecycle actions handled by the backend itself.
pub const LIFECYCLE_ACTIONS: [&str; 2] = ["connection-check", "uninstall"];

/// The plugin action the Attio app may call by this name, from the shared list of actions
/// ([`wire::ACTIONS`]): its fields and how its records are resolved ([`AppCall`]).
pub fn app_action(action: &str) -> Option<&'static ActionInfo> {
    wire::action_info(action).filter(|i| i.from_app())
}

/// The names of the plugin actions the Attio app may call, in the shared list's order.
pub fn action_names() -> impl Iterator<Item = &'static str> {
    wire::ACTIONS
        .iter()
        .filter(|i| i.from_app())
        .map(|i| i.name)
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
        // The names are filled in from the shared list (`crate::openapi`).
        ("action" = String, Path, description = "A plugin action or a lifecycle action"),
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
#[tracing::instrument(
    name = "action",
    skip_all,
    fields(action = %action, installation = tracing::field::Empty)
)]
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
    tracing::Span::current().record("installation", inst.id.as_str());
    if let Some(answer) = app_auth::replay_answer(&state, &inst.id, &call.message_id, &body).await {
        return answer;
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
            let targets = forward::targets(&call)?;
            if call.targets.is_some() && forward::per_target(info) {
                return bulk::start_bulk(state, inst, info.name, &call, &targets).await;
            }
            forward::forward(state, inst, info, call, targets).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::forward::per_target;
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
