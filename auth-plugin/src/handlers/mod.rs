//! One file per group of endpoints; each handler authenticates through
//! [`crate::auth::run`] and then does its action.

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

/// Declares an axum handler `$name` that runs `$action` for request type `$req`.
macro_rules! endpoint {
    ($name:ident, $req:ty, $action:path) => {
        pub(crate) async fn $name(
            axum::extract::State(st): axum::extract::State<
                std::sync::Arc<crate::state::PluginState>,
            >,
            headers: axum::http::HeaderMap,
            body: axum::body::Bytes,
        ) -> axum::response::Response {
            crate::auth::run::<$req, _, _>(st, headers, body, $action).await
        }
    };
}
pub(crate) use endpoint;
