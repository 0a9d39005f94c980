//! `webhook`: Attio record events, forwarded by the backend to the plugin.

use super::*;

/// `webhook`: Attio record events to apply to the auth database.
///
/// `events` stays raw JSON: Attio sends other event types too, and the original skips items
/// that are not objects (`null`, strings) rather than refusing the batch. Read each with
/// [`AttioWebhookEvent::from_value`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookRequest {
    /// Attio's webhook id (snake_case, as Attio names it).
    pub webhook_id: String,
    /// The events, in Attio's order.
    pub events: Vec<Value>,
}

impl Action for WebhookRequest {
    const NAME: &'static str = "webhook";
    const SUCCESS: SuccessMessage = SuccessMessage::text("Webhook applied.");
    const APP: AppCall = AppCall::Internal;
    const FIELDS: &'static [Field] = &[
        Field::required("webhook_id", FieldKind::String),
        Field::required("events", FieldKind::Array),
    ];
    type Response = SuccessResponse;
}

/// The `id` of an Attio record event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttioEventId {
    /// Attio workspace.
    pub workspace_id: String,
    /// Attio object (`users`, `workspaces`..) by id.
    pub object_id: String,
    /// The record the event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// The attribute that changed (`record.updated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_id: Option<String>,
}

/// One Attio record event as the backend forwards it: Attio's fields plus, where the
/// backend fetched it, the full `record` and its `object`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttioWebhookEvent {
    /// `record.created`, `record.updated`, `record.deleted`, `record.merged`..
    pub event_type: String,
    /// Which record.
    pub id: AttioEventId,
    /// Who did it (`{"type": "workspace-member", "id": ...}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Value>,
    /// The record in Attio's read format (`{"id", "values": {slug: [value..]}}`), absent
    /// when it could not be fetched (always, for a deleted record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Value>,
    /// The object (`{"api_slug": "users", ..}`), which is how an event finds its adapter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
    /// Anything else the sender added (`recordId`, `error`..), kept for round trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AttioWebhookEvent {
    /// Reads one item of `events`; `None` for items that are not record events.
    pub fn from_value(value: &Value) -> Option<Self> {
        serde_json::from_value(value.clone()).ok()
    }

    /// The object's `api_slug`, when the sender included the object.
    pub fn object_slug(&self) -> Option<&str> {
        self.object.as_ref()?.get("api_slug")?.as_str()
    }

    /// The record id: from `id.record_id`, else the record's own id.
    pub fn record_id(&self) -> Option<&str> {
        self.id
            .record_id
            .as_deref()
            .or_else(|| self.record.as_ref()?.get("id")?.get("record_id")?.as_str())
    }
}
