//! `link` and `unlink`: the backend registers (and removes) the URL sync events go to.

use super::*;

/// `link`: register the backend's event URL; sync events are delivered there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRequest {
    /// Where the plugin POSTs its signed sync events.
    pub webhook_url: String,
}

/// Answer of `link`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkResponse {
    /// The id of the integration link, for `unlink`.
    pub webhook_id: String,
}

impl Action for LinkRequest {
    const NAME: &'static str = "link";
    const SUCCESS: SuccessMessage = SuccessMessage::text("Linked.");
    const APP: AppCall = AppCall::Internal;
    const FIELDS: &'static [Field] = &[Field::required("webhookUrl", FieldKind::String)];
    type Response = LinkResponse;
}

/// `unlink`: remove a registered event URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnlinkRequest {
    /// The id `link` answered.
    pub webhook_id: String,
}

impl Action for UnlinkRequest {
    const NAME: &'static str = "unlink";
    const SUCCESS: SuccessMessage = SuccessMessage::text("Unlinked.");
    const APP: AppCall = AppCall::Internal;
    const FIELDS: &'static [Field] = &[Field::required("webhookId", FieldKind::String)];
    type Response = SuccessResponse;
}
