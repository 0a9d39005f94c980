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
    /// How the Attio app calls it (through the backend), for [`ActionInfo`].
    const APP: AppCall;
    /// What the Attio app shows after a successful call, for [`ActionInfo`]: kept with the
    /// action so that a new action cannot be added without its line.
    const SUCCESS: SuccessMessage;

    /// Checks that [`Action::FIELDS`] cannot express (one of two fields present), after
    /// the body deserialized and before anything acts on it.
    fn check(&self) -> Result<(), ValidationError> {
        Ok(())
    }
}

/// The one list of plugin actions, in DESIGN.md's order: `group: Request => handler`, where
/// `group` is the module of [`crate::actions`] (and of the plugin's `handlers/`) that holds
/// the request type and `handler` is the plugin's function for it. Each request type's
/// [`Action`] impl carries the rest (name, fields, response, how the Attio app calls it).
///
/// Adding an action is one line here plus its type (with its `impl Action`) and its handler:
/// the plugin's routes, [`ALL_ACTIONS`], [`ACTIONS`] and the backend's forwarding all follow.
/// The macro calls `$callback! { group: Request => handler, ... }`, so each user turns the list
/// into what it needs (a route table, a const table) without restating it.
#[macro_export]
macro_rules! for_each_action {
    ($callback:ident) => {
        $callback! {
            links: LinkRequest => link,
            links: UnlinkRequest => unlink,
            webhook: WebhookRequest => webhook,
            users: UserDetailsRequest => user_details,
            users: UpdateBanStatusRequest => update_ban_status,
            users: SendPasswordResetRequest => send_password_reset,
            sessions: SessionsRequest => sessions,
            sessions: RevokeSessionRequest => revoke_session,
            sessions: RevokeAllSessionsRequest => revoke_all_sessions,
            impersonation: ImpersonateRequest => impersonate,
            orgs: ListOrgInvitationsRequest => list_org_invitations,
            orgs: CreateOrgInvitationRequest => create_org_invitation,
            orgs: CancelOrgInvitationRequest => cancel_org_invitation,
            users: SearchUsersRequest => search_users,
            orgs: GetOrgRolesRequest => get_org_roles,
            users: CreateUserRequest => create_user,
            orgs: CreateOrganizationRequest => create_organization,
            export: ExportRequest => export,
            ping: PingRequest => ping,
        }
    };
}

/// How the Attio app's call to an action names its records: what the backend resolves before
/// forwarding, and whether one call may carry many records (bulk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppCall {
    /// Not called from the Attio app: the backend itself calls it (link, export, ping...).
    Internal,
    /// Needs no record (search, roles, revoking one session by id).
    NoRecord,
    /// One call per record: the record's auth-server id goes in `id_field`, looked up among
    /// the links of Attio object `object`.
    PerRecord {
        /// The Attio object the records belong to (`users`, `workspaces`).
        object: &'static str,
        /// The request field that takes the auth-server id (`userId`).
        id_field: &'static str,
    },
    /// One call for all records together, their auth-server ids as an array in `id_field`.
    AllRecords {
        /// The Attio object the records belong to.
        object: &'static str,
        /// The request field that takes the array of ids (`userIds`).
        id_field: &'static str,
    },
    /// Creates a row; the record, if any, becomes the new row's `attioId`.
    Creates,
}

impl AppCall {
    /// Whether one app call may name several records (`targets`).
    pub const fn bulk(self) -> bool {
        matches!(self, Self::PerRecord { .. } | Self::AllRecords { .. })
    }
}

/// The line the Attio app shows after a successful call of an action (the backend's
/// `message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuccessMessage {
    /// The line; `{n}` stands for the number of items of the response's array [`Self::count`].
    pub text: &'static str,
    /// The response field (an array) whose length replaces `{n}`, if any.
    pub count: Option<&'static str>,
}

impl SuccessMessage {
    /// A fixed line.
    pub const fn text(text: &'static str) -> Self {
        Self { text, count: None }
    }

    /// A line with `{n}`: the length of the response's array `field`.
    pub const fn counting(text: &'static str, field: &'static str) -> Self {
        Self {
            text,
            count: Some(field),
        }
    }

    /// The line for this response (`data`: the plugin's answer; a missing array counts 0).
    pub fn render(&self, data: &Value) -> String {
        match self.count {
            None => self.text.to_owned(),
            Some(field) => {
                let n = data
                    .get(field)
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                self.text.replace("{n}", &n.to_string())
            }
        }
    }
}

/// What a host needs to know of an action without its types: one row of [`ACTIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionInfo {
    /// The route segment ([`Action::NAME`]).
    pub name: &'static str,
    /// The body's fields ([`Action::FIELDS`]).
    pub fields: &'static [Field],
    /// How the Attio app calls it ([`Action::APP`]).
    pub app: AppCall,
    /// What the Attio app shows after a successful call ([`Action::SUCCESS`]).
    pub success: SuccessMessage,
}

impl ActionInfo {
    /// The row of action `A`.
    pub const fn of<A: Action>() -> Self {
        Self {
            name: A::NAME,
            fields: A::FIELDS,
            app: A::APP,
            success: A::SUCCESS,
        }
    }

    /// Whether one app call may name several records.
    pub const fn bulk(&self) -> bool {
        self.app.bulk()
    }

    /// Whether the Attio app may call it (through the backend).
    pub const fn from_app(&self) -> bool {
        !matches!(self.app, AppCall::Internal)
    }
}

/// Builds [`ALL_ACTIONS`] and [`ACTIONS`] from [`for_each_action!`].
macro_rules! action_tables {
    ($($group:ident: $request:ident => $handler:ident),* $(,)?) => {
        /// Every action name that has a `POST {base}/attio/<name>` route, in DESIGN.md's order.
        pub const ALL_ACTIONS: &[&str] = &[$($request::NAME),*];
        /// Every action, in [`ALL_ACTIONS`]' order.
        pub const ACTIONS: &[ActionInfo] = &[$(ActionInfo::of::<$request>()),*];
    };
}
crate::for_each_action!(action_tables);

/// The action named `name`, if there is one.
pub fn action_info(name: &str) -> Option<&'static ActionInfo> {
    ACTIONS.iter().find(|a| a.name == name)
}

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
