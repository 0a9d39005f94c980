//! `webhook`: Attio record events, forwarded by the backend, applied to the auth database
//! through the adapters (one transaction per event, change and outbox event together).
//!
//! Unlike the original: events that change nothing write nothing and send nothing back;
//! deletes of linked records apply; a row the database refuses (NOT NULL, UNIQUE) is
//! reported (422) instead of a silent 200. Events for objects without an adapter, and items
//! that are not record events, are skipped, as the original does.

use crate::auth::Ctx;
use crate::error::{PluginError, PluginResult};
use crate::store::{InboundOutcome, StoreError};
use crate::sync::{Origin, RecordEvent};
use attio_auth_shared::actions::{SuccessResponse, WebhookRequest};

pub(crate) async fn webhook(ctx: Ctx, req: WebhookRequest) -> PluginResult<SuccessResponse> {
    let mut rejected = Vec::new();
    for raw in &req.events {
        if !raw.is_object() {
            continue;
        }
        let event = RecordEvent::parse(raw);
        let Some(adapter) = event
            .object
            .as_deref()
            .and_then(|o| ctx.st.adapters.for_object(o))
        else {
            continue;
        };
        if adapter.better_auth_model == "organization" && !ctx.st.store.features().organizations {
            continue;
        }
        match ctx
            .st
            .store
            .apply_inbound(&event, adapter, ctx.st.report(Origin::Attio))
            .await
        {
            Ok(outcome) => {
                if let InboundOutcome::Ignored(reason) = &outcome {
                    tracing::debug!(record = ?event.record_id, %reason, "attio webhook: event ignored");
                } else {
                    tracing::info!(record = ?event.record_id, ?outcome, "attio webhook: event applied");
                }
            }
            Err(StoreError::Conflict(what) | StoreError::Rejected(what)) => {
                rejected.push(format!(
                    "{}: {what}",
                    event.record_id.as_deref().unwrap_or("(no record id)")
                ));
            }
            Err(e) => return Err(PluginError::Store(e)),
        }
    }
    if rejected.is_empty() {
        Ok(SuccessResponse::OK)
    } else {
        Err(PluginError::Unprocessable {
            code: "EVENTS_REJECTED",
            message: format!("Some records could not be applied: {}", rejected.join("; ")),
        })
    }
}
