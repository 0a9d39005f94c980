//! `ping`: checks the signature and reports what the plugin can do.

use super::*;

/// `ping`: checks the signature and reports what the plugin can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PingRequest {}

/// Which optional features the auth server has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Features {
    /// Admin role: ban, impersonation, roles.
    pub admin: bool,
    /// Organization plugin: organizations, members, invitations.
    pub organizations: bool,
    /// A mailer: password reset and invitation emails.
    pub mailer: bool,
    /// Impersonation allowed.
    pub impersonation: bool,
    /// Sync events to linked backends.
    pub sync: bool,
    /// Whether legacy body-secret requests are accepted.
    pub legacy_protocol: bool,
}

/// Answer of `ping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingResponse {
    /// `true`.
    pub ok: bool,
    /// The plugin's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// What is enabled.
    pub features: Features,
}

impl Action for PingRequest {
    const NAME: &'static str = "ping";
    const SUCCESS: SuccessMessage = SuccessMessage::text("The auth server answered.");
    const APP: AppCall = AppCall::Internal;
    const FIELDS: &'static [Field] = &[];
    type Response = PingResponse;
}
