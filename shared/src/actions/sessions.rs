//! Sessions: list, revoke one, revoke all.

use super::*;

/// `sessions`: a user's sessions, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsRequest {
    /// Whose.
    pub user_id: String,
}

/// One session as `sessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// Session id: what the signed protocol revokes by.
    pub id: String,
    /// The session token: only in the legacy protocol, whose original Attio app revokes by
    /// token. Never sent to signed callers (a token is a login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// ISO-8601.
    pub expires_at: String,
    /// ISO-8601.
    pub created_at: String,
    /// ISO-8601.
    pub updated_at: String,
    /// `""` when unknown (as the original).
    pub ip_address: String,
    /// `""` when unknown (as the original).
    pub user_agent: String,
    /// Whose session.
    pub user_id: String,
    /// The impersonating admin's name (absent when not impersonated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonated_by: Option<String>,
    /// Organization plugin's active organization.
    #[serde(default)]
    pub active_organization_id: Option<String>,
}

/// Answer of `sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsResponse {
    /// Newest first.
    pub sessions: Vec<SessionInfo>,
    /// How many sessions are listed.
    pub total_count: u64,
    /// How many of them have not expired.
    pub active_count: u64,
}

impl Action for SessionsRequest {
    const NAME: &'static str = "sessions";
    const SUCCESS: SuccessMessage = SuccessMessage::counting("Loaded {n} session(s).", "sessions");
    const APP: AppCall = AppCall::PerRecord {
        object: "users",
        id_field: "userId",
    };
    const FIELDS: &'static [Field] = &[Field::required("userId", FieldKind::String)];
    type Response = SessionsResponse;
}

/// `revoke-session`: end one session, by `sessionId` (signed protocol) or by
/// `sessionToken` (legacy protocol, the original's field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeSessionRequest {
    /// The session's id (signed protocol).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The session's token (legacy protocol only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
}

impl Action for RevokeSessionRequest {
    const APP: AppCall = AppCall::NoRecord;
    fn check(&self) -> Result<(), ValidationError> {
        if self.session_id.is_none() && self.session_token.is_none() {
            return Err(ValidationError {
                message: "[body.sessionId] Invalid input: expected string, received undefined"
                    .to_owned(),
            });
        }
        Ok(())
    }

    const NAME: &'static str = "revoke-session";
    const SUCCESS: SuccessMessage = SuccessMessage::text("Session revoked.");
    const FIELDS: &'static [Field] = &[
        Field {
            name: "sessionId",
            kind: FieldKind::String,
            required: false,
            nullable: false,
        },
        Field {
            name: "sessionToken",
            kind: FieldKind::String,
            required: false,
            nullable: false,
        },
    ];
    type Response = SuccessResponse;
}

/// `revoke-all-sessions`: end every session of several users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeAllSessionsRequest {
    /// Whose (unknown ids are ignored, as the original does).
    pub user_ids: Vec<String>,
}

impl Action for RevokeAllSessionsRequest {
    const NAME: &'static str = "revoke-all-sessions";
    const SUCCESS: SuccessMessage = SuccessMessage::text("All sessions revoked.");
    const APP: AppCall = AppCall::AllRecords {
        object: "users",
        id_field: "userIds",
    };
    const FIELDS: &'static [Field] = &[Field::required("userIds", FieldKind::StringArray)];
    type Response = SuccessResponse;
}
