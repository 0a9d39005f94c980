//! Organizations: invitations, roles and creation.

use super::*;

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
    const SUCCESS: SuccessMessage =
        SuccessMessage::counting("Loaded {n} invitation(s).", "invitations");
    const APP: AppCall = AppCall::PerRecord {
        object: "workspaces",
        id_field: "organizationId",
    };
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
    const SUCCESS: SuccessMessage = SuccessMessage::text("Invitation sent.");
    const APP: AppCall = AppCall::PerRecord {
        object: "workspaces",
        id_field: "organizationId",
    };
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
    const SUCCESS: SuccessMessage = SuccessMessage::text("Invitation canceled.");
    const APP: AppCall = AppCall::NoRecord;
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
    const SUCCESS: SuccessMessage = SuccessMessage::text("Loaded the organization roles.");
    const APP: AppCall = AppCall::NoRecord;
    const FIELDS: &'static [Field] = &[];
    type Response = GetOrgRolesResponse;
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
    const SUCCESS: SuccessMessage = SuccessMessage::text("Organization created.");
    const APP: AppCall = AppCall::Creates;
    const FIELDS: &'static [Field] = &[
        Field::required("name", FieldKind::String),
        Field::optional("slug", FieldKind::String),
        Field::optional("logo", FieldKind::String),
        Field::optional("ownerEmail", FieldKind::Email),
        Field::optional("attioId", FieldKind::String),
    ];
    type Response = CreateOrganizationResponse;
}
