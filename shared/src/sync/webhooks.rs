//! Attio's own webhook events, as forwarded to the plugin.

use super::*;

/// The ids an Attio webhook event carries. `record_id` for record events, `attribute_id` on
/// `record.updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEventId {
    /// Workspace id.
    pub workspace_id: String,
    /// Object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    /// Record id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// Attribute id (`record.updated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_id: Option<String>,
}

/// One event of an Attio webhook delivery (`NOTES.md` §3), possibly enriched the way the
/// original Attio app forwards it to the plugin: with the fetched `record` and the `object`,
/// or an `error` when the record could not be fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// `record.created`, `record.updated`, `record.deleted`, `record.merged`, ...
    pub event_type: String,
    /// The ids.
    pub id: WebhookEventId,
    /// Who made the change.
    pub actor: Actor,
    /// The record, re-fetched (enrichment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<AttioRecord>,
    /// The object, from the cached object list (enrichment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<AttioObject>,
    /// Why the record could not be fetched (enrichment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Other fields Attio sends (`duplicate_record_id` on merges), kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An Attio webhook delivery: `{webhook_id, events}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// The webhook's id.
    pub webhook_id: String,
    /// The events (currently one per delivery).
    pub events: Vec<WebhookEvent>,
}
