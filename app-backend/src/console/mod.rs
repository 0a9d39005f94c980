//! The web console under `/console` (issue 14): sign in with Attio, check and install a
//! connection string, follow the backfill, and look after an installation (health, audit
//! log, backfill, uninstall).
//!
//! Pages are rendered on the server with maud's `html!` to a string (no WASM: every form is
//! a plain form POST, progress pages refresh themselves with `<meta http-equiv=refresh>`).
//! The browser session lives in the same tower-sessions store as the OAuth install flow
//! (the backend's own database) under its own cookie `attio_auth_console` (HttpOnly,
//! SameSite=Lax, Secure unless on loopback, path `/console`, ended after `CONSOLE_IDLE_SECS`
//! without a request); its id is rotated at sign-in. Every form carries the session's CSRF
//! token, checked (constant time) on every POST.

pub mod checks;
pub mod health;
mod install;
mod login;
mod manage;
pub mod rotation;
mod session;
mod view;

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};

use crate::config::Config;
use crate::error::Error;
use crate::state::AppState;

pub use session::SESSION_COOKIE;

/// The console's routes with their session layer over `store` (the OAuth flow's store).
pub fn routes<S: SessionStore + Clone>(config: &Config, store: S) -> Router<AppState> {
    let shared = Arc::new(install::Runs::default());
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/style.css", get(style))
        .route("/console/favicon.svg", get(favicon))
        .route("/console/login", get(login::page))
        .route("/console/login/oauth", post(login::oauth_start))
        .route("/console/login/callback", get(login::oauth_callback))
        .route("/console/login/token", post(login::token))
        .route("/console/logout", post(login::logout))
        .route("/console/install", get(install::page).post(install::check))
        .route("/console/install/confirm", post(install::confirm))
        .route("/console/install/progress", get(install::progress))
        .route("/console/installations/{id}", get(manage::page))
        .route("/console/installations/{id}/finish", get(manage::finish))
        .route(
            "/console/installations/{id}/audit.csv",
            get(manage::audit_csv),
        )
        .route(
            "/console/installations/{id}/backfill",
            get(manage::backfill_page).post(manage::backfill_start),
        )
        .route(
            "/console/installations/{id}/jobs/{job}/retry",
            post(manage::retry_job),
        )
        .route("/console/installations/{id}/rotate", post(manage::rotate))
        .route(
            "/console/installations/{id}/rotate/check",
            post(manage::rotate_check),
        )
        .route(
            "/console/installations/{id}/uninstall",
            get(manage::uninstall_page).post(manage::uninstall),
        )
        .layer(Extension(shared))
        .layer(session_layer(store, config))
}

fn session_layer<S: SessionStore + Clone>(store: S, config: &Config) -> SessionManagerLayer<S> {
    let idle = i64::try_from(config.console_idle.as_secs()).unwrap_or(1800);
    SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.cookies_secure())
        .with_path("/console")
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::seconds(idle),
        ))
}

/// `GET /console`: where the signed-in person goes next.
async fn home(session: session::Console) -> Result<Response, PageError> {
    let Some(user) = session.user().await? else {
        return Ok(Redirect::to("/console/login").into_response());
    };
    let state = session.state();
    match crate::installations::Installation::find_by_workspace(state, &user.workspace_id).await? {
        Some(inst) => {
            Ok(Redirect::to(&format!("/console/installations/{}", inst.id)).into_response())
        }
        None => Ok(Redirect::to("/console/install").into_response()),
    }
}

/// The generator site's stylesheet (one look for both) and the console's few additions.
const STYLE: &str = concat!(
    include_str!("../../../generator-site/public/style.css"),
    "\n",
    include_str!("console.css")
);

async fn style() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        STYLE,
    )
        .into_response()
}

/// The generator site's icon (without it a browser asks for `/favicon.ico`, a 404).
async fn favicon() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        include_str!("../../../generator-site/public/favicon.svg"),
    )
        .into_response()
}

/// The content security policy of console pages: this origin's stylesheet only, no script,
/// forms post here (and the sign-in form's redirect goes to Attio's OAuth origin).
fn csp(attio_oauth_origin: Option<&str>) -> String {
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'{}; \
         base-uri 'none'; frame-ancestors 'none'",
        attio_oauth_origin
            .map(|o| format!(" {o}"))
            .unwrap_or_default()
    )
}

/// A console page: never cached (it shows a workspace's data), never framed.
fn page_response(status: StatusCode, body: String, form_origin: Option<&str>) -> Response {
    let csp = HeaderValue::from_str(&csp(form_origin))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CONTENT_SECURITY_POLICY, csp),
        ],
        body,
    )
        .into_response()
}

/// The crate's [`Error`] shown as a console page (the JSON API keeps its JSON answer): the
/// same status, code and public message.
#[derive(Debug)]
pub struct PageError(pub Error);

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        PageError(e)
    }
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        PageError(Error::Database(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.0.parts();
        if status.is_server_error() {
            tracing::error!(error = %self.0, "console request failed");
        } else {
            tracing::info!(error = %self.0, status = status.as_u16(), "console request refused");
        }
        page_response(status, view::error_page(status, &code, &message), None)
    }
}

/// 404 for an installation this session may not see, the same as for one that does not
/// exist: another workspace's installation is not even confirmed to exist.
fn not_found() -> PageError {
    PageError(Error::not_found(
        "NOT_FOUND",
        "There is no such installation in the Attio workspace you are signed in to.",
    ))
}
