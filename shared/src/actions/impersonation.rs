//! Impersonation: a single-use link that opens a session as the user.

use super::*;

/// `impersonate`: a short-lived, single-use handoff token for an impersonation session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImpersonateRequest {
    /// Who to impersonate.
    pub target_user_id: String,
    /// The acting person's email: must be an admin of the auth server (case-insensitive).
    pub admin_email: String,
}

/// Answer of `impersonate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImpersonateResponse {
    /// `true`.
    pub success: bool,
    /// The one-time handoff token (the original's name; it is not a session token) for
    /// `GET {base}/attio/impersonation-session?token=...`.
    pub session_token: String,
    /// The full link that opens the session, when the plugin knows its public base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Action for ImpersonateRequest {
    const NAME: &'static str = "impersonate";
    const SUCCESS: SuccessMessage =
        SuccessMessage::text("Impersonation link created; it works once, within 5 minutes.");
    const APP: AppCall = AppCall::PerRecord {
        object: "users",
        id_field: "targetUserId",
    };
    const FIELDS: &'static [Field] = &[
        Field::required("targetUserId", FieldKind::String),
        Field::required("adminEmail", FieldKind::String),
    ];
    type Response = ImpersonateResponse;
}

/// Query of `GET {base}/attio/impersonation-session`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpersonationSessionQuery {
    /// The handoff token `impersonate` answered.
    pub token: String,
}
