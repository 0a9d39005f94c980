//! Users: details, ban status, password reset, search and creation.

use super::*;

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
    const SUCCESS: SuccessMessage = SuccessMessage::text("Loaded the user's details.");
    const APP: AppCall = AppCall::PerRecord {
        object: "users",
        id_field: "userId",
    };
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
    const SUCCESS: SuccessMessage = SuccessMessage::text("Ban status updated.");
    const APP: AppCall = AppCall::PerRecord {
        object: "users",
        id_field: "userId",
    };
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
    const SUCCESS: SuccessMessage = SuccessMessage::text("Password reset email sent.");
    const APP: AppCall = AppCall::PerRecord {
        object: "users",
        id_field: "userId",
    };
    const FIELDS: &'static [Field] = &[Field::required("userId", FieldKind::String)];
    type Response = SendPasswordResetResponse;
}

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
    const SUCCESS: SuccessMessage = SuccessMessage::counting("Found {n} user(s).", "users");
    const APP: AppCall = AppCall::NoRecord;
    const FIELDS: &'static [Field] = &[Field::required("search", FieldKind::String)];
    type Response = SearchUsersResponse;
}

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
    const SUCCESS: SuccessMessage = SuccessMessage::text("User created.");
    const APP: AppCall = AppCall::Creates;
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
