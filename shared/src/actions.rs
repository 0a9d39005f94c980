//! The typed request and response of every plugin endpoint (`{base}/attio/<action>`).
//!
//! Field names and shapes are the original TypeScript plugin's, taken from its recorded
//! transcripts (`shared/peer/transcripts`), so that a body made by the original Attio app
//! deserializes here and a response made here deserializes there.
//!
//! A request struct holds only the action's own fields. On the wire it travels inside one of
//! two envelopes:
//!
//! - [`Signed`] (protocol `signed-v1`): `{"action": "<route segment>", ...fields}`; the
//!   receiver refuses a body whose `action` is not the route's, so a captured request cannot
//!   be replayed against another endpoint. Authentication is in the Standard Webhooks headers.
//! - [`Legacy`] (the original protocol): `{"secret": "<shared secret>", ...fields}`, no
//!   `action`.
//!
//! [`Action::FIELDS`] describes each body for validation with the original's error messages
//! (`[body.userId] Invalid input: expected string, received number`), see [`validate`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// One plugin endpoint: its route segment, request (the implementing type) and response.
pub trait Action: Serialize + DeserializeOwned {
    /// The route's last segment (`update-ban-status`), also the `action` tag of signed bodies.
    const NAME: &'static str;
    /// The fields of the body in the original's order, for [`validate`].
    const FIELDS: &'static [Field];
    /// What a successful (200) call answers.
    type Response: Serialize + DeserializeOwned;

    /// Checks that [`Action::FIELDS`] cannot express (one of two fields present), after
    /// the body deserialized and before anything acts on it.
    fn check(&self) -> Result<(), ValidationError> {
        Ok(())
    }
}

/// Every action name that has a `POST {base}/attio/<name>` route, in DESIGN.md's order.
pub const ALL_ACTIONS: &[&str] = &[
    LinkRequest::NAME,
    UnlinkRequest::NAME,
    WebhookRequest::NAME,
    UserDetailsRequest::NAME,
    UpdateBanStatusRequest::NAME,
    SendPasswordResetRequest::NAME,
    SessionsRequest::NAME,
    RevokeSessionRequest::NAME,
    RevokeAllSessionsRequest::NAME,
    ImpersonateRequest::NAME,
    ListOrgInvitationsRequest::NAME,
    CreateOrgInvitationRequest::NAME,
    CancelOrgInvitationRequest::NAME,
    SearchUsersRequest::NAME,
    GetOrgRolesRequest::NAME,
    CreateUserRequest::NAME,
    CreateOrganizationRequest::NAME,
    ExportRequest::NAME,
    PingRequest::NAME,
];

/// Route segment of the browser-facing `GET {base}/attio/impersonation-session?token=...`,
/// which is authenticated by its single-use token rather than by a signature.
pub const IMPERSONATION_SESSION: &str = "impersonation-session";

// ---------------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------------

/// A body of the signed protocol: the action's fields plus `"action": A::NAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signed<A> {
    /// The route segment this body is meant for; must equal the route it arrives at.
    pub action: String,
    /// The action's own fields.
    #[serde(flatten)]
    pub request: A,
}

impl<A: Action> Signed<A> {
    /// Wraps a request, tagging it with its own action name.
    pub fn new(request: A) -> Self {
        Self {
            action: A::NAME.to_owned(),
            request,
        }
    }

    /// Whether the body's `action` tag names the route `A` belongs to.
    pub fn matches_route(&self) -> bool {
        self.action == A::NAME
    }
}

/// A body of the original protocol: the action's fields plus the shared `secret`.
///
/// `Debug` never prints the secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Legacy<A> {
    /// The shared secret, sent in clear in every body (why the signed protocol exists).
    pub secret: String,
    /// The action's own fields.
    #[serde(flatten)]
    pub request: A,
}

impl<A: fmt::Debug> fmt::Debug for Legacy<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Legacy")
            .field("secret", &"[redacted]")
            .field("request", &self.request)
            .finish()
    }
}

/// The JSON error body of the plugin, as the original answers it: `{"message", "code"}`.
///
/// Some of the original's errors carry no `code` (`{"message": "Admin user not found"}`);
/// ours always do, so callers can branch on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A sentence for a person.
    pub message: String,
    /// A stable SCREAMING_SNAKE code (`VALIDATION_ERROR`, `BAD_REQUEST`, `USER_NOT_FOUND`..).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl ErrorBody {
    /// An error body with a code.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: Some(code.into()),
        }
    }
}

/// `{"success": true}`, the original's answer of actions that return nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessResponse {
    /// Always `true` on a 200.
    pub success: bool,
}

impl SuccessResponse {
    /// `{"success": true}`.
    pub const OK: SuccessResponse = SuccessResponse { success: true };
}

// ---------------------------------------------------------------------------------------
// Validation in the original's words
// ---------------------------------------------------------------------------------------

/// The JSON type a body field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A JSON string.
    String,
    /// A JSON string that looks like an email address.
    Email,
    /// `true` or `false`.
    Boolean,
    /// A JSON number (integer).
    Integer,
    /// An array of strings.
    StringArray,
    /// A string or an array of strings (an invitation's `role`).
    StringOrStringArray,
    /// An array of anything (Attio webhook `events`).
    Array,
    /// A JSON object.
    Object,
}

/// One body field: name, kind, and whether it may be absent or `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// JSON name (camelCase as the original).
    pub name: &'static str,
    /// The expected JSON type.
    pub kind: FieldKind,
    /// Whether the field must be present.
    pub required: bool,
    /// Whether `null` is accepted.
    pub nullable: bool,
}

impl Field {
    /// A required, non-null field.
    pub const fn required(name: &'static str, kind: FieldKind) -> Self {
        Self {
            name,
            kind,
            required: true,
            nullable: false,
        }
    }

    /// An optional field that may also be `null`.
    pub const fn optional(name: &'static str, kind: FieldKind) -> Self {
        Self {
            name,
            kind,
            required: false,
            nullable: true,
        }
    }
}

/// Which envelope a body is validated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// The original protocol: `secret` is a required string, checked first.
    Legacy,
    /// The signed protocol: `action` is a required string, checked first.
    Signed,
}

/// A body that does not match its action's fields: the original's message, issues joined
/// with `"; "` (`[body.webhookUrl] Invalid input: expected string, received number`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The whole message, as the original's `VALIDATION_ERROR` body says it.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValidationError {}

/// The name zod uses for the JSON type of `value` in its messages.
fn received(value: Option<&Value>) -> &'static str {
    match value {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// A plain syntactic email check, the strictness of the original's `z.string().email()`
/// for the addresses people type: one `@`, something before it, a dotted domain after it,
/// no whitespace.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

fn check_field(field: &Field, value: Option<&Value>) -> Option<String> {
    let path = field.name;
    match value {
        None if !field.required => return None,
        Some(Value::Null) if field.nullable => return None,
        _ => {}
    }
    let expected = match field.kind {
        FieldKind::String | FieldKind::Email => "string",
        FieldKind::Boolean => "boolean",
        FieldKind::Integer => "number",
        FieldKind::StringArray | FieldKind::Array => "array",
        FieldKind::Object => "object",
        FieldKind::StringOrStringArray => {
            return match value {
                Some(Value::String(_)) => None,
                Some(Value::Array(items)) if items.iter().all(Value::is_string) => None,
                _ => Some(format!("[body.{path}] Invalid input")),
            };
        }
    };
    let ok = match (field.kind, value) {
        (FieldKind::String, Some(Value::String(_))) => true,
        (FieldKind::Email, Some(Value::String(s))) => {
            if is_email(s) {
                true
            } else {
                return Some(format!("[body.{path}] Invalid email address"));
            }
        }
        (FieldKind::Boolean, Some(Value::Bool(_))) => true,
        (FieldKind::Integer, Some(Value::Number(n))) => n.is_i64() || n.is_u64(),
        (FieldKind::Array, Some(Value::Array(_))) => true,
        (FieldKind::StringArray, Some(Value::Array(items))) => {
            if let Some(i) = items.iter().position(|v| !v.is_string()) {
                return Some(format!(
                    "[body.{path}.{i}] Invalid input: expected string, received {}",
                    received(items.get(i))
                ));
            }
            true
        }
        (FieldKind::Object, Some(Value::Object(_))) => true,
        _ => false,
    };
    if ok {
        None
    } else {
        Some(format!(
            "[body.{path}] Invalid input: expected {expected}, received {}",
            received(value)
        ))
    }
}

/// Checks a parsed body (`None` when the body was empty) against `A`'s fields inside the
/// given envelope, in the original's order and words. Unknown fields are allowed, as the
/// original allows them.
pub fn validate<A: Action>(
    body: Option<&Value>,
    envelope: Envelope,
) -> Result<(), ValidationError> {
    validate_fields(body, envelope, A::FIELDS)
}

/// [`validate`] for a field list rather than a type.
pub fn validate_fields(
    body: Option<&Value>,
    envelope: Envelope,
    fields: &[Field],
) -> Result<(), ValidationError> {
    let Some(Value::Object(map)) = body else {
        return Err(ValidationError {
            message: format!(
                "[body] Invalid input: expected object, received {}",
                received(body)
            ),
        });
    };
    let tag = match envelope {
        Envelope::Legacy => Field::required("secret", FieldKind::String),
        Envelope::Signed => Field::required("action", FieldKind::String),
    };
    let issues: Vec<String> = std::iter::once(&tag)
        .chain(fields.iter())
        .filter_map(|f| check_field(f, map.get(f.name)))
        .collect();
    if issues.is_empty() {
        Ok(())
    } else {
        Err(ValidationError {
            message: issues.join("; "),
        })
    }
}

// ---------------------------------------------------------------------------------------
// link / unlink
// ---------------------------------------------------------------------------------------

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
    const FIELDS: &'static [Field] = &[Field::required("webhookId", FieldKind::String)];
    type Response = SuccessResponse;
}

// ---------------------------------------------------------------------------------------
// webhook (Attio record events, forwarded)
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// users: details, ban, password reset
// ---------------------------------------------------------------------------------------

/// `user-details`: a user's ban state and role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDetailsRequest {
    /// The auth server's user id.
    pub user_id: String,
}

/// Answer of `user-details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDetailsResponse {
    /// Whether the user is banned now.
    pub banned: bool,
    /// When the ban ends (ISO-8601), `null` for a permanent ban or no ban.
    pub banned_until: Option<String>,
    /// Why, as the admin wrote it.
    pub ban_reason: Option<String>,
    /// The admin plugin's role (`user`, `admin`..).
    pub role: Option<String>,
}

impl Action for UserDetailsRequest {
    const NAME: &'static str = "user-details";
    const FIELDS: &'static [Field] = &[Field::required("userId", FieldKind::String)];
    type Response = UserDetailsResponse;
}

/// `update-ban-status`: ban (with reason and expiry) or unban. A ban also ends every
/// session of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBanStatusRequest {
    /// Who.
    pub user_id: String,
    /// `true` bans, `false` unbans.
    pub banned: bool,
    /// Why (ban only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ban_reason: Option<String>,
    /// When the ban ends, ISO-8601 (the original's field). Absent or `null`: permanent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ban_expires: Option<String>,
    /// When the ban ends, in seconds from now (Better Auth admin's `banExpiresIn`); used when
    /// `banExpires` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ban_expires_in: Option<i64>,
}

impl Action for UpdateBanStatusRequest {
    const NAME: &'static str = "update-ban-status";
    const FIELDS: &'static [Field] = &[
        Field::required("userId", FieldKind::String),
        Field::required("banned", FieldKind::Boolean),
        Field::optional("banReason", FieldKind::String),
        Field::optional("banExpires", FieldKind::String),
        Field::optional("banExpiresIn", FieldKind::Integer),
    ];
    type Response = SuccessResponse;
}

/// `send-password-reset`: issue a single-use reset token and mail its link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendPasswordResetRequest {
    /// Who.
    pub user_id: String,
}

/// Answer of `send-password-reset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendPasswordResetResponse {
    /// `true`.
    pub success: bool,
    /// `"Password reset email sent successfully"`.
    pub message: String,
}

impl Action for SendPasswordResetRequest {
    const NAME: &'static str = "send-password-reset";
    const FIELDS: &'static [Field] = &[Field::required("userId", FieldKind::String)];
    type Response = SendPasswordResetResponse;
}

// ---------------------------------------------------------------------------------------
// sessions
// ---------------------------------------------------------------------------------------

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
    const FIELDS: &'static [Field] = &[Field::required("userIds", FieldKind::StringArray)];
    type Response = SuccessResponse;
}

// ---------------------------------------------------------------------------------------
// impersonation
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// organizations: invitations, roles
// ---------------------------------------------------------------------------------------

/// The inviter as `list-org-invitations` embeds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviterInfo {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
}

/// An organization invitation, the organization plugin's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    /// Invitation id.
    pub id: String,
    /// Which organization.
    pub organization_id: String,
    /// Who is invited (lowercased).
    pub email: String,
    /// Role(s), comma-separated when several.
    pub role: Option<String>,
    /// `pending`, `accepted`, `rejected`, `canceled`.
    pub status: String,
    /// ISO-8601.
    pub expires_at: String,
    /// ISO-8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Who invited.
    pub inviter_id: String,
    /// The inviter (in `list-org-invitations`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inviter: Option<InviterInfo>,
    /// `true` when `create-org-invitation` re-sent a pending invitation instead of making a
    /// new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resent: Option<bool>,
}

/// `list-org-invitations`: an organization's invitations, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListOrgInvitationsRequest {
    /// Which organization.
    pub organization_id: String,
}

/// Answer of `list-org-invitations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListOrgInvitationsResponse {
    /// Newest first, with the inviter.
    pub invitations: Vec<Invitation>,
    /// How many.
    pub count: u64,
}

impl Action for ListOrgInvitationsRequest {
    const NAME: &'static str = "list-org-invitations";
    const FIELDS: &'static [Field] = &[Field::required("organizationId", FieldKind::String)];
    type Response = ListOrgInvitationsResponse;
}

/// An invitation's role: one name or several (stored comma-separated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RoleInput {
    /// `"member"`.
    One(String),
    /// `["member", "admin"]`.
    Many(Vec<String>),
}

impl RoleInput {
    /// The role names.
    pub fn names(&self) -> Vec<&str> {
        match self {
            RoleInput::One(r) => vec![r.as_str()],
            RoleInput::Many(rs) => rs.iter().map(String::as_str).collect(),
        }
    }

    /// The stored form: names joined with `,`.
    pub fn joined(&self) -> String {
        self.names().join(",")
    }
}

/// `create-org-invitation`: invite an address; re-inviting a pending address resends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrgInvitationRequest {
    /// Who to invite.
    pub email: String,
    /// With which role(s).
    pub role: RoleInput,
    /// Into which organization.
    pub organization_id: String,
    /// Who invites: must be a member allowed to invite (owners only may invite owners).
    pub inviter_email: String,
}

impl Action for CreateOrgInvitationRequest {
    const NAME: &'static str = "create-org-invitation";
    const FIELDS: &'static [Field] = &[
        Field::required("email", FieldKind::Email),
        Field::required("role", FieldKind::StringOrStringArray),
        Field::required("organizationId", FieldKind::String),
        Field::required("inviterEmail", FieldKind::Email),
    ];
    type Response = Invitation;
}

/// `cancel-org-invitation`: mark an invitation `canceled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelOrgInvitationRequest {
    /// Which invitation.
    pub invitation_id: String,
}

impl Action for CancelOrgInvitationRequest {
    const NAME: &'static str = "cancel-org-invitation";
    const FIELDS: &'static [Field] = &[Field::required("invitationId", FieldKind::String)];
    type Response = SuccessResponse;
}

/// `get-org-roles`: the organization roles the auth server knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GetOrgRolesRequest {}

/// Answer of `get-org-roles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetOrgRolesResponse {
    /// Role names (`member`, `admin`, `owner`).
    pub roles: Vec<String>,
}

impl Action for GetOrgRolesRequest {
    const NAME: &'static str = "get-org-roles";
    const FIELDS: &'static [Field] = &[];
    type Response = GetOrgRolesResponse;
}

// ---------------------------------------------------------------------------------------
// search-users
// ---------------------------------------------------------------------------------------

/// `search-users`: users whose email contains the text (case-insensitive, no wildcards).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchUsersRequest {
    /// Text to find in emails; `""` lists the first users.
    pub search: String,
}

/// A user as the pickers show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// User id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Avatar URL.
    pub image: Option<String>,
}

/// Answer of `search-users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchUsersResponse {
    /// At most 10, by email.
    pub users: Vec<UserSummary>,
}

impl Action for SearchUsersRequest {
    const NAME: &'static str = "search-users";
    const FIELDS: &'static [Field] = &[Field::required("search", FieldKind::String)];
    type Response = SearchUsersResponse;
}

// ---------------------------------------------------------------------------------------
// new: create-user, create-organization, export, ping
// ---------------------------------------------------------------------------------------

/// A user as the plugin reports it (create-user, export).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    /// User id.
    pub id: String,
    /// Lowercased email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Whether the email was verified.
    pub email_verified: bool,
    /// Avatar URL.
    pub image: Option<String>,
    /// Admin role.
    pub role: Option<String>,
    /// Banned now.
    pub banned: bool,
    /// The linked Attio record.
    pub attio_id: Option<String>,
    /// ISO-8601.
    pub created_at: String,
    /// ISO-8601.
    pub updated_at: String,
}

/// `create-user`: create a real user (no password: they set one through a reset link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateUserRequest {
    /// Email (stored lowercased; must be new).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Avatar URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Admin role; default the auth server's default (`user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The Attio record this user is created from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attio_id: Option<String>,
}

/// Answer of `create-user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUserResponse {
    /// `true`.
    pub success: bool,
    /// The new user.
    pub user: UserRecord,
}

impl Action for CreateUserRequest {
    const NAME: &'static str = "create-user";
    const FIELDS: &'static [Field] = &[
        Field::required("email", FieldKind::Email),
        Field::required("name", FieldKind::String),
        Field::optional("emailVerified", FieldKind::Boolean),
        Field::optional("image", FieldKind::String),
        Field::optional("role", FieldKind::String),
        Field::optional("attioId", FieldKind::String),
    ];
    type Response = CreateUserResponse;
}

/// A member of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRecord {
    /// Member row id.
    pub id: String,
    /// The user.
    pub user_id: String,
    /// Role(s) in the organization.
    pub role: String,
    /// ISO-8601.
    pub created_at: String,
}

/// An organization as the plugin reports it (create-organization, export).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationRecord {
    /// Organization id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Unique slug.
    pub slug: String,
    /// Logo URL.
    pub logo: Option<String>,
    /// Free-form metadata (JSON text, as Better Auth stores it).
    pub metadata: Option<String>,
    /// The linked Attio record.
    pub attio_id: Option<String>,
    /// ISO-8601.
    pub created_at: String,
    /// Its members.
    #[serde(default)]
    pub members: Vec<MemberRecord>,
}

/// `create-organization`: create a real organization, optionally with its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrganizationRequest {
    /// Name.
    pub name: String,
    /// Slug; default derived from the name. Must be unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// Logo URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    /// Email of an existing user who becomes the `owner` member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
    /// The Attio record this organization is created from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attio_id: Option<String>,
}

/// Answer of `create-organization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOrganizationResponse {
    /// `true`.
    pub success: bool,
    /// The new organization, with its owner member when one was named.
    pub organization: OrganizationRecord,
}

impl Action for CreateOrganizationRequest {
    const NAME: &'static str = "create-organization";
    const FIELDS: &'static [Field] = &[
        Field::required("name", FieldKind::String),
        Field::optional("slug", FieldKind::String),
        Field::optional("logo", FieldKind::String),
        Field::optional("ownerEmail", FieldKind::Email),
        Field::optional("attioId", FieldKind::String),
    ];
    type Response = CreateOrganizationResponse;
}

/// `export`: one page of users, then organizations with their members, for a backfill.
/// Start without a cursor; repeat with `nextCursor` until it is `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExportRequest {
    /// Opaque cursor from the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size, default [`ExportRequest::DEFAULT_LIMIT`], at most
    /// [`ExportRequest::MAX_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl ExportRequest {
    /// Page size when `limit` is absent.
    pub const DEFAULT_LIMIT: u32 = 100;
    /// Largest page size.
    pub const MAX_LIMIT: u32 = 500;

    /// The page size to use: `limit` clamped to `1..=MAX_LIMIT`.
    pub fn page_size(&self) -> u32 {
        self.limit
            .unwrap_or(Self::DEFAULT_LIMIT)
            .clamp(1, Self::MAX_LIMIT)
    }
}

/// Answer of `export`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportResponse {
    /// Users of this page (by id).
    pub users: Vec<UserRecord>,
    /// Organizations of this page (by id), with members.
    pub organizations: Vec<OrganizationRecord>,
    /// Cursor of the next page; `null` when done.
    pub next_cursor: Option<String>,
}

impl Action for ExportRequest {
    const NAME: &'static str = "export";
    const FIELDS: &'static [Field] = &[
        Field::optional("cursor", FieldKind::String),
        Field::optional("limit", FieldKind::Integer),
    ];
    type Response = ExportResponse;
}

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
    const FIELDS: &'static [Field] = &[];
    type Response = PingResponse;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signed_envelope_tags_and_flattens() {
        let body = Signed::new(UserDetailsRequest {
            user_id: "u1".into(),
        });
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v, json!({"action": "user-details", "userId": "u1"}));
        let back: Signed<UserDetailsRequest> = serde_json::from_value(v).unwrap();
        assert!(back.matches_route());
        let wrong: Signed<UserDetailsRequest> =
            serde_json::from_value(json!({"action": "sessions", "userId": "u1"})).unwrap();
        assert!(!wrong.matches_route());
    }

    #[test]
    fn legacy_debug_hides_secret() {
        let body = Legacy {
            secret: "attio-test-secret".into(),
            request: GetOrgRolesRequest {},
        };
        assert!(!format!("{body:?}").contains("attio-test-secret"));
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v, json!({"secret": "attio-test-secret"}));
    }

    #[test]
    fn validation_messages_are_the_originals() {
        let msg = |v: Option<Value>, env| {
            validate::<LinkRequest>(v.as_ref(), env)
                .err()
                .map(|e| e.message)
        };
        assert_eq!(
            msg(None, Envelope::Legacy).as_deref(),
            Some("[body] Invalid input: expected object, received undefined")
        );
        assert_eq!(
            msg(Some(json!({"webhookUrl": "x"})), Envelope::Legacy).as_deref(),
            Some("[body.secret] Invalid input: expected string, received undefined")
        );
        assert_eq!(
            msg(
                Some(json!({"secret": "s", "webhookUrl": 1})),
                Envelope::Legacy
            )
            .as_deref(),
            Some("[body.webhookUrl] Invalid input: expected string, received number")
        );
        assert_eq!(
            msg(Some(json!({"webhookUrl": "x"})), Envelope::Signed).as_deref(),
            Some("[body.action] Invalid input: expected string, received undefined")
        );
        assert_eq!(
            validate::<CreateOrgInvitationRequest>(
                Some(&json!({"secret": "s", "email": "not-an-email", "role": 5,
                    "organizationId": "o", "inviterEmail": "a@b.c"})),
                Envelope::Legacy
            )
            .err()
            .map(|e| e.message)
            .as_deref(),
            Some("[body.email] Invalid email address; [body.role] Invalid input")
        );
        assert!(
            validate::<UpdateBanStatusRequest>(
                Some(&json!({"secret": "s", "userId": "u", "banned": false,
                    "banReason": null, "banExpires": null})),
                Envelope::Legacy
            )
            .is_ok()
        );
    }

    #[test]
    fn all_actions_are_distinct() {
        let mut names = ALL_ACTIONS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL_ACTIONS.len());
        assert!(!ALL_ACTIONS.contains(&IMPERSONATION_SESSION));
    }

    #[test]
    fn webhook_event_reads_ids() {
        let ev = AttioWebhookEvent::from_value(&json!({
            "event_type": "record.deleted",
            "id": {"workspace_id": "w", "object_id": "o", "record_id": "r"},
            "object": {"api_slug": "users"},
            "recordId": "r", "error": "HTTP 404"
        }))
        .unwrap();
        assert_eq!(ev.object_slug(), Some("users"));
        assert_eq!(ev.record_id(), Some("r"));
        assert_eq!(ev.extra.get("error"), Some(&json!("HTTP 404")));
        assert!(AttioWebhookEvent::from_value(&json!("not-an-object")).is_none());
    }

    #[test]
    fn export_page_size_is_clamped() {
        let mut r = ExportRequest::default();
        assert_eq!(r.page_size(), 100);
        r.limit = Some(0);
        assert_eq!(r.page_size(), 1);
        r.limit = Some(10_000);
        assert_eq!(r.page_size(), 500);
    }
}
