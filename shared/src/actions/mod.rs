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

mod envelope;
mod export;
mod impersonation;
mod links;
mod orgs;
mod ping;
mod sessions;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
mod users;
mod validate;
mod webhook;

pub use envelope::*;
pub use export::*;
pub use impersonation::*;
pub use links::*;
pub use orgs::*;
pub use ping::*;
pub use sessions::*;
pub use users::*;
pub use validate::*;
pub use webhook::*;
