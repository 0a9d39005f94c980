//! The plugin's single door to the auth database: the [`AuthStore`] trait, the rows it
//! speaks in, and [`SqlxStore`], its implementation over the Better Auth schema on SQLite
//! and PostgreSQL, and [`MemoryStore`], a complete in-memory one (tests, demos, and the
//! reference for a store over another database).
//!
//! Every method is one unit of work: where several writes belong together (a ban ends the
//! user's sessions; an impersonation token is read and deleted) the implementation does
//! them atomically, so a handler never leaves the database half changed.

pub(crate) mod db;
mod dialect;
mod memory;
pub(crate) mod migrate;
mod sql;

pub use db::DbPool;
pub use dialect::{ColumnNaming, DateStorage};
pub use memory::MemoryStore;
pub use migrate::{MIGRATIONS, Migration};
pub use sql::SqlxStore;

use crate::sync::{EventKind, ModelAdapter, Origin, RecordEvent, SyncReporter};
use async_trait::async_trait;
use attio_auth_shared::signing::ReplayStatus;

/// What went wrong in a store. Handlers answer `Conflict` with 409 and everything else with
/// an opaque 500 (the detail is logged, never sent).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; the text names what collided.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row the operation needs does not exist (a foreign key).
    #[error("not found: {0}")]
    NotFound(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration could not be applied, or an applied one was changed since.
    #[error("migration error: {0}")]
    Migration(String),
    /// The database refused a row (NOT NULL, CHECK): the text says which.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The sync outbox failed (the change was rolled back with it).
    #[error("sync outbox: {0}")]
    Outbox(#[from] crate::sync::OutboxError),
}

/// Report a change as a sync event, in the same transaction as the change.
#[derive(Clone, Copy)]
pub struct Report<'a> {
    /// Turns rows into events and writes them to the outbox.
    pub reporter: &'a SyncReporter,
    /// Where the change came from (`attio` for webhook writes: never echoed back).
    pub origin: Origin,
}

/// What `apply_inbound` did with one Attio record event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundOutcome {
    /// A row was created (its id).
    Created(String),
    /// A row was changed.
    Updated(String),
    /// A row was deleted.
    Deleted(String),
    /// The event matched what is stored: nothing written, nothing sent.
    Unchanged(String),
    /// Not applicable; why.
    Ignored(String),
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which optional parts of Better Auth the database has, found by looking at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreFeatures {
    /// The admin plugin's columns (`user.role`, `banned`, `banReason`, `banExpires`,
    /// `session.impersonatedBy`).
    pub admin: bool,
    /// The organization plugin's tables (`organization`, `member`, `invitation`).
    pub organizations: bool,
}

/// A `user` row. Dates are ISO-8601 text (`2026-11-23T08:49:06.382Z`) on every backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id (32 alphanumerics when made by Better Auth or the plugin).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email (lowercased by Better Auth and by the plugin).
    pub email: String,
    /// Whether the email was verified.
    pub email_verified: bool,
    /// Avatar URL.
    pub image: Option<String>,
    /// ISO-8601.
    pub created_at: String,
    /// ISO-8601.
    pub updated_at: String,
    /// Admin role(s), comma-separated (`None` without the admin plugin).
    pub role: Option<String>,
    /// Banned flag as stored (`None` = never banned).
    pub banned: Option<bool>,
    /// Why.
    pub ban_reason: Option<String>,
    /// Until when (ISO-8601), `None` = permanent.
    pub ban_expires: Option<String>,
    /// Linked Attio record.
    pub attio_id: Option<String>,
}

impl User {
    /// Whether one of the user's roles is one of `admin_roles`.
    pub fn has_role_in(&self, admin_roles: &[String]) -> bool {
        self.role
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .any(|r| admin_roles.iter().any(|a| a == r))
    }
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Lowercased email.
    pub email: String,
    /// Verified.
    pub email_verified: bool,
    /// Avatar URL.
    pub image: Option<String>,
    /// Admin role (ignored without the admin plugin).
    pub role: Option<String>,
    /// Linked Attio record.
    pub attio_id: Option<String>,
    /// ISO-8601, used for createdAt and updatedAt.
    pub now: String,
}

/// A ban or an unban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanUpdate {
    /// Ban (`true`) or unban.
    pub banned: bool,
    /// Why (cleared on unban).
    pub reason: Option<String>,
    /// Until (ISO-8601; cleared on unban).
    pub expires: Option<String>,
    /// ISO-8601 for updatedAt.
    pub now: String,
}

/// A `session` row, with the impersonator's name when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Id.
    pub id: String,
    /// Token (the cookie's value): a login, never shown to signed callers.
    pub token: String,
    /// Whose.
    pub user_id: String,
    /// ISO-8601.
    pub expires_at: String,
    /// ISO-8601.
    pub created_at: String,
    /// ISO-8601.
    pub updated_at: String,
    /// Client IP.
    pub ip_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// The impersonating admin's user id.
    pub impersonated_by: Option<String>,
    /// The impersonating admin's name (joined).
    pub impersonator_name: Option<String>,
    /// Organization plugin's active organization.
    pub active_organization_id: Option<String>,
}

/// A session to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Id.
    pub id: String,
    /// Token.
    pub token: String,
    /// Whose.
    pub user_id: String,
    /// ISO-8601.
    pub expires_at: String,
    /// ISO-8601 (createdAt, updatedAt).
    pub now: String,
    /// Client IP.
    pub ip_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Impersonating admin's id.
    pub impersonated_by: Option<String>,
}

/// Which session to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRef<'a> {
    /// By id (signed protocol).
    Id(&'a str),
    /// By token (legacy protocol).
    Token(&'a str),
}

/// An `organization` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Unique slug.
    pub slug: String,
    /// Logo URL.
    pub logo: Option<String>,
    /// ISO-8601.
    pub created_at: String,
    /// JSON text.
    pub metadata: Option<String>,
    /// Linked Attio record.
    pub attio_id: Option<String>,
}

/// An organization to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrganization {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Logo URL.
    pub logo: Option<String>,
    /// Linked Attio record.
    pub attio_id: Option<String>,
    /// Owner: `(member id, user id)`.
    pub owner: Option<(String, String)>,
    /// ISO-8601.
    pub now: String,
}

/// A `member` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Id.
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// User.
    pub user_id: String,
    /// Role(s), comma-separated.
    pub role: String,
    /// ISO-8601.
    pub created_at: String,
}

/// An `invitation` row, with its inviter when listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRow {
    /// Id.
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// Invited address.
    pub email: String,
    /// Role(s).
    pub role: Option<String>,
    /// `pending`, `accepted`, `rejected`, `canceled`.
    pub status: String,
    /// ISO-8601.
    pub expires_at: String,
    /// ISO-8601.
    pub created_at: String,
    /// Who invited.
    pub inviter_id: String,
    /// `(id, name, email)` of the inviter (listing only).
    pub inviter: Option<(String, String, String)>,
}

/// An integration link (`attioIntegration` row): where sync events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The id `link` answers.
    pub id: String,
    /// The backend's event URL.
    pub webhook_url: String,
}

/// A response kept by the replay guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
}

/// Storage of everything the plugin reads and writes. `Send + Sync + 'static` so one
/// instance serves every request; [`SqlxStore`] is the implementation over Better Auth's
/// tables. Emails passed in are compared case-insensitively.
#[async_trait]
pub trait AuthStore: Send + Sync + 'static {
    /// Which optional Better Auth parts exist.
    fn features(&self) -> StoreFeatures;

    /// Whether the store can write sync events with its changes (an outbox). The plugin's
    /// builder refuses a sync reporter for a store that cannot.
    fn supports_sync(&self) -> bool {
        true
    }

    /// The database holding this store's sync outbox (the plugin's `attio_outbox` tables)
    /// and where its integration links are: what the delivery worker of
    /// [`AttioPlugin::spawn_sync`](crate::AttioPlugin::spawn_sync) reads. `None` (the
    /// default): no outbox the plugin's worker can deliver from.
    fn outbox(&self) -> Option<(crate::sync::OutboxDb, crate::sync::LinkTable)> {
        None
    }

    // users
    /// A user by id.
    async fn user(&self, id: &str) -> StoreResult<Option<User>>;
    /// A user by email (case-insensitive).
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Users whose email contains `text` (case-insensitive, literally: no wildcards),
    /// newest first, at most `limit`.
    async fn search_users(&self, text: &str, limit: u32) -> StoreResult<Vec<User>>;
    /// Creates a user; `Conflict` when the email (or attioId) is taken.
    async fn create_user(&self, user: NewUser, report: Option<Report<'_>>) -> StoreResult<User>;
    /// Bans or unbans; a ban also deletes every session of the user, in the same
    /// transaction. `None` when the user does not exist (nothing written).
    async fn set_ban(
        &self,
        user_id: &str,
        ban: BanUpdate,
        report: Option<Report<'_>>,
    ) -> StoreResult<Option<User>>;
    /// Lifts a ban that has run out (`banned` and `banExpires` at or before `now`), as Better
    /// Auth's admin plugin does when it next touches the user: clears the ban in one
    /// conditional write and reports the change. The user as stored afterwards when a ban
    /// was lifted, `None` when there was nothing to lift (no such user, no ban, or a ban
    /// still in force).
    async fn lift_expired_ban(
        &self,
        user_id: &str,
        now: &str,
        report: Option<Report<'_>>,
    ) -> StoreResult<Option<User>>;
    /// Users with id greater than `after`, by id, at most `limit` (export).
    async fn users_after(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>>;

    // sessions
    /// A user's sessions, newest first.
    async fn sessions(&self, user_id: &str) -> StoreResult<Vec<Session>>;
    /// A session by token.
    async fn session_by_token(&self, token: &str) -> StoreResult<Option<Session>>;
    /// Creates a session.
    async fn create_session(&self, session: NewSession) -> StoreResult<()>;
    /// Records where a session is used from (IP, user agent, updatedAt), as Better Auth does
    /// when a browser takes it up.
    async fn touch_session(
        &self,
        token: &str,
        ip_address: Option<&str>,
        user_agent: Option<&str>,
        now: &str,
    ) -> StoreResult<()>;
    /// Ends one session; whether it existed.
    async fn delete_session(&self, which: SessionRef<'_>) -> StoreResult<bool>;
    /// Ends every session of these users; how many.
    async fn delete_user_sessions(&self, user_ids: &[String]) -> StoreResult<u64>;

    // verification tokens
    /// Stores a `verification` row (`identifier`, `value`, expiry).
    async fn create_verification(
        &self,
        identifier: &str,
        value: &str,
        expires_at: &str,
        now: &str,
    ) -> StoreResult<()>;
    /// Deletes every row of `identifier` and answers the value of one that had not expired
    /// at `now`: a token works once.
    async fn consume_verification(
        &self,
        identifier: &str,
        now: &str,
    ) -> StoreResult<Option<String>>;

    // organizations
    /// An organization by id.
    async fn organization(&self, id: &str) -> StoreResult<Option<Organization>>;
    /// The membership of a user in an organization.
    async fn member(&self, organization_id: &str, user_id: &str) -> StoreResult<Option<Member>>;
    /// Members of an organization, oldest first.
    async fn members(&self, organization_id: &str) -> StoreResult<Vec<Member>>;
    /// Creates an organization and, when given, its owner member, in one transaction.
    async fn create_organization(
        &self,
        org: NewOrganization,
        report: Option<Report<'_>>,
    ) -> StoreResult<Organization>;
    /// Organizations with id greater than `after`, by id, at most `limit` (export).
    async fn organizations_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Organization>>;
    /// An organization's pending invitations that have not expired at `now`, with their
    /// inviters, latest expiry first (as the original lists them: accepted, canceled and
    /// expired ones are left out, and a resent invitation moves to the top).
    async fn invitations(
        &self,
        organization_id: &str,
        now: &str,
    ) -> StoreResult<Vec<InvitationRow>>;
    /// The pending invitation of an address to an organization that has not expired at
    /// `now`, if any (what a re-invite resends).
    async fn pending_invitation(
        &self,
        organization_id: &str,
        email: &str,
        now: &str,
    ) -> StoreResult<Option<InvitationRow>>;
    /// Creates an invitation.
    async fn create_invitation(&self, invitation: InvitationRow) -> StoreResult<()>;
    /// Resends a pending invitation: moves its expiry and records who invited this time.
    async fn renew_invitation(
        &self,
        id: &str,
        expires_at: &str,
        inviter_id: &str,
    ) -> StoreResult<()>;
    /// Sets an invitation's status to `canceled`; whether it existed.
    async fn cancel_invitation(&self, id: &str) -> StoreResult<bool>;

    // sync
    /// Reports a change the host made to row `id` of `model` (the row as stored now; for a
    /// delete, call it before deleting): one outbox event per linked backend, written in
    /// one transaction with the read. Answers the event id (`None`: no adapter, no link, or
    /// no such row).
    async fn report_change(
        &self,
        model: &str,
        id: &str,
        kind: EventKind,
        report: Report<'_>,
    ) -> StoreResult<Option<String>>;
    /// Applies one Attio record event through its adapter in one transaction: finds the
    /// row, plans with [`ModelAdapter::plan_inbound`], writes only what changed, reconciles
    /// organization members, and reports the change with origin `attio`.
    async fn apply_inbound(
        &self,
        event: &RecordEvent,
        adapter: &ModelAdapter,
        report: Option<Report<'_>>,
    ) -> StoreResult<InboundOutcome>;

    // integration links
    /// Registers a backend's event URL; the same URL again answers the existing link.
    async fn create_link(&self, id: &str, webhook_url: &str) -> StoreResult<Link>;
    /// Removes a link; whether it existed.
    async fn delete_link(&self, id: &str) -> StoreResult<bool>;
    /// Every link.
    async fn links(&self) -> StoreResult<Vec<Link>>;

    // replay guard
    /// Looks a signed request's id up; remembers it as in progress when new (until
    /// `expires_at`, unix seconds). Expired ids are forgotten.
    async fn replay_check(
        &self,
        id: &str,
        body_sha256: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<ReplayStatus<StoredResponse>>;
    /// Records the response given to `id`.
    async fn replay_store(&self, id: &str, response: &StoredResponse) -> StoreResult<()>;
    /// Forgets `id` (the request failed on our side, so a retry may act).
    async fn replay_forget(&self, id: &str) -> StoreResult<()>;
}
