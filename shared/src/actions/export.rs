//! `export`: pages of users and organizations, for a backfill.

use super::*;

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
    const SUCCESS: SuccessMessage = SuccessMessage::text("Exported.");
    const APP: AppCall = AppCall::Internal;
    const FIELDS: &'static [Field] = &[
        Field::optional("cursor", FieldKind::String),
        Field::optional("limit", FieldKind::Integer),
    ];
    type Response = ExportResponse;
}
