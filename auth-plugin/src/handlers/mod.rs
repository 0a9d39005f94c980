//! One file per group of endpoints, mirroring `attio_auth_shared::actions`. Each action's
//! handler is `async fn(Ctx, Request) -> PluginResult<Response>`, named in the shared list
//! (`attio_auth_shared::for_each_action!`); the router authenticates the call through
//! [`crate::auth::run`] before it runs, so a handler only does its action.

/// Helpers several handlers share.
pub(crate) mod common;
pub(crate) mod export;
pub(crate) mod impersonation;
pub(crate) mod links;
pub(crate) mod orgs;
pub(crate) mod ping;
pub(crate) mod sessions;
pub(crate) mod users;
pub(crate) mod webhook;

use axum::http::StatusCode;

/// Other methods on plugin routes: 404 with an empty body, as the original.
pub(crate) async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}
