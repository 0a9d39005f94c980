//! Forwarding: the Attio record(s) of a call resolved to auth ids, the plugin request built
//! from them and the `params`, checked against the action's fields, and sent in the
//! connection's protocol, one audited plugin call at a time.

use std::time::Instant;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use attio_auth_shared::actions::{
    self as wire, Action, ActionInfo, AppCall, Envelope, validate_fields,
};
use attio_auth_shared::connection::Protocol;

use crate::error::{Error, Result};
use crate::installations::Installation;
use crate::record_links::{RecordRef, resolve};
use crate::state::AppState;

use super::audit::{Ctx, audit_begin, audit_finish, audit_unsent, elapsed_ms};
use super::messages::{success_message, summary};
use super::{ACTOR_EMAIL_FIELDS, ActionCall, Target};

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

/// Bulk actions that make one plugin call per record: these continue as a job when they
/// cannot finish within the request deadline.
pub(super) fn per_target(info: &ActionInfo) -> bool {
    matches!(info.app, AppCall::PerRecord { .. })
}

/// The records of a call: `targets` (bulk), else `target`, else none; at most 1000.
pub(super) fn targets(call: &ActionCall) -> Result<Vec<Target>> {
    let targets: Vec<Target> = match (&call.targets, &call.target) {
        (Some(ts), _) => ts.clone(),
        (None, Some(t)) => vec![t.clone()],
        (None, None) => Vec::new(),
    };
    if call.targets.is_some() && targets.is_empty() {
        return Err(Error::bad_request("NO_TARGETS", "`targets` is empty."));
    }
    if targets.len() > 1000 {
        return Err(Error::bad_request(
            "TOO_MANY_TARGETS",
            "At most 1000 records per call.",
        ));
    }
    Ok(targets)
}

/// Forwards a call within the request: per record, for all records together, or with no
/// record, as the action's [`AppCall`] says. (A bulk per-record call is a job instead:
/// [`super::bulk::start_bulk`].)
pub(super) async fn forward(
    state: &AppState,
    inst: &Installation,
    info: &'static ActionInfo,
    call: ActionCall,
    targets: Vec<Target>,
) -> Result<(StatusCode, Value)> {
    let action = info.name;
    let bulk = call.targets.is_some();
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
            json!({"ok": true, "message": success_message(action, &data), "data": data}),
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
                results.push(json!({"recordId": record_id, "ok": true, "message": success_message(action, &data)}));
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
pub(super) async fn run_target(
    ctx: &Ctx<'_>,
    params: &Map<String, Value>,
    t: &Target,
) -> Result<Value> {
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

/// Validate `fields` against the action and call the plugin. The audit row is written
/// (`pending`) before the call and completed after: no plugin call goes unaudited, even
/// when the request is cut short while the call is in flight. When the row cannot be
/// written, the call is not made. The span names the call, not its fields (they may hold
/// emails and reasons).
#[tracing::instrument(
    name = "plugin_call",
    skip_all,
    fields(action = ctx.action, installation = %ctx.inst.id, bulk_id = ctx.bulk_id, auth_id = auth_id)
)]
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
    // Signed with the new secret once the plugin has it (a rotation).
    let result: Result<Value> =
        crate::console::rotation::call_raw(ctx.state, ctx.inst, ctx.action, fields)
            .await
            .map_err(Error::from);
    if let Err(e) = audit_finish(ctx.state, row, ctx.action, &result, elapsed_ms(started)).await {
        tracing::error!(error = %e, "could not complete the audit entry");
    }
    result
}
