//! What an installation sets up in Attio: the attributes of the adapters' schemas (created or
//! unarchived), the objects its webhook covers; and the undo of a failed install.

use attio_auth_shared::actions::UnlinkRequest;
use attio_auth_shared::connection::Connection;
use attio_auth_shared::sync::{AdapterInfo, AttributeType};

use crate::attio::AttioAuth;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::state::AppState;

use super::Installation;

/// What an install changed in Attio, so that a failure can undo it.
#[derive(Debug, Default)]
pub struct Undo {
    /// Attributes created (`(object, slug)`): archived on undo.
    pub created: Vec<(String, String)>,
    /// Attributes that were archived and got unarchived: archived again on undo.
    pub unarchived: Vec<(String, String)>,
    /// The webhook registered: deleted on undo.
    pub webhook: Option<String>,
    /// The plugin link made (connection, link id): unlinked on undo.
    pub plugin_link: Option<(Connection, String)>,
}

impl Undo {
    /// Revert in reverse order; failures are logged (the install error is what the caller
    /// reports).
    pub async fn run(self, state: &AppState, attio: &AttioAuth) {
        if let Some((connection, link)) = &self.plugin_link
            && let Err(e) = state
                .plugin
                .call(
                    connection,
                    &UnlinkRequest {
                        webhook_id: link.clone(),
                    },
                )
                .await
        {
            tracing::warn!(error = %e, "could not unlink the plugin after a failed install");
        }
        if let Some(wh) = &self.webhook
            && let Err(e) = state.attio.delete_webhook(attio, wh).await
        {
            tracing::warn!(error = %e, "could not remove the Attio webhook after a failed install");
        }
        for (object, slug) in self.created.iter().chain(&self.unarchived).rev() {
            if let Err(e) = state
                .attio
                .set_attribute_archived(attio, object, slug, true)
                .await
            {
                tracing::warn!(error = %e, object, slug, "could not archive an attribute after a failed install");
            }
        }
    }
}

/// Make the webhook of `inst` cover the Attio object `slug` (an adapter naming an object
/// the webhook does not filter on yet): its subscriptions are updated in place, so the
/// signing secret stays.
pub async fn ensure_webhook_covers(
    state: &AppState,
    inst: &Installation,
    slug: &str,
) -> Result<()> {
    let Some(webhook_id) = &inst.attio_webhook_id else {
        return Ok(());
    };
    let Some(object) = state.attio.get_object(&inst.attio, slug).await? else {
        return Ok(());
    };
    let object_id = object.id.object_id;
    if inst.attio_object_ids.contains(&object_id) {
        return Ok(());
    }
    let mut ids = inst.attio_object_ids.clone();
    ids.push(object_id);
    state
        .attio
        .update_webhook_objects(&inst.attio, webhook_id, &ids)
        .await?;
    let json = serde_json::to_string(&ids).map_err(|e| Error::Internal(e.to_string()))?;
    sqlx::query("update installations set attio_object_ids = $1, updated_at = $2 where id = $3")
        .bind(json)
        .bind(now_ms())
        .bind(&inst.id)
        .execute(&state.db.pool)
        .await?;
    tracing::info!(installation = %inst.id, object = slug, "Attio webhook now covers another object");
    Ok(())
}

/// What [`ensure_attributes_undoable`] did.
#[derive(Debug, Default)]
pub struct AttributeReport {
    /// Attributes created (`users.email_verified`).
    pub created: Vec<String>,
    /// What could not be done (an archived attribute Attio would not restore).
    pub warnings: Vec<String>,
}

/// Create the attributes of `adapter`'s schema that the object lacks. Returns the slugs
/// created (`users.email_verified`).
pub async fn ensure_attributes(
    state: &AppState,
    attio: &AttioAuth,
    adapter: &AdapterInfo,
) -> Result<Vec<String>> {
    let mut undo = Undo::default();
    let report = ensure_attributes_undoable(state, attio, adapter, &mut undo).await?;
    for w in &report.warnings {
        tracing::warn!(object = %adapter.attio_object, "{w}");
    }
    Ok(report.created)
}

/// [`ensure_attributes`], recording each change in `undo`: a missing attribute is created
/// (a select one with the options its schema lists), an archived one is unarchived (writes to
/// an archived attribute fail), or reported when Attio refuses to restore it.
pub async fn ensure_attributes_undoable(
    state: &AppState,
    attio: &AttioAuth,
    adapter: &AdapterInfo,
    undo: &mut Undo,
) -> Result<AttributeReport> {
    let object = adapter.attio_object.as_str();
    let existing = state.attio.list_attributes(attio, object).await?;
    let mut report = AttributeReport::default();
    for (slug, field) in &adapter.attio_schema {
        if let Some(found) = existing.iter().find(|a| &a.api_slug == slug) {
            if found.is_archived {
                match state
                    .attio
                    .set_attribute_archived(attio, object, slug, false)
                    .await
                {
                    Ok(()) => undo.unarchived.push((object.to_owned(), slug.clone())),
                    Err(e) => report.warnings.push(format!(
                        "The Attio attribute {object}.{slug} is archived and could not be \
                         restored ({e}); unarchive it in Attio, or its values will not sync."
                    )),
                }
            }
            continue;
        }
        if !field.attribute_type.creatable_on_object() {
            tracing::warn!(
                slug,
                "attribute type cannot be created through the API; skipped"
            );
            continue;
        }
        let body = field.create_attribute_body(slug);
        if state.attio.create_attribute(attio, object, &body).await? {
            undo.created.push((object.to_owned(), slug.clone()));
            report.created.push(format!("{object}.{slug}"));
            let options = field
                .config
                .as_ref()
                .and_then(|c| c.options.as_deref())
                .unwrap_or_default();
            if field.attribute_type == AttributeType::Select {
                for title in options {
                    state
                        .attio
                        .create_select_option(attio, object, slug, title)
                        .await?;
                }
            }
        }
    }
    Ok(report)
}
