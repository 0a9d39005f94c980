//! `/console/login`: sign in with Attio through the OAuth app (the state kept in this
//! browser's session, single use, expiring), or, when the operator has not configured
//! OAuth, with an Attio API token. Either way the session then knows the Attio workspace
//! (and, through OAuth, the member who authorized).

use axum::Form;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::attio::{AttioAuth, AttioError, TokenInfo};
use crate::clock::now_ms;
use crate::error::Error;
use crate::installations::REQUIRED_SCOPES;
use crate::peer::{ClientIp, ip_key};
use crate::state::AppState;

use super::session::{Console, SignedIn, random_hex};
use super::view::{self, Frame};
use super::{PageError, page_response};

/// Session key of a started sign-in.
const LOGIN: &str = "console.login";

/// A started OAuth sign-in.
#[derive(Debug, Serialize, Deserialize)]
struct Started {
    state: String,
    expires_at: i64,
}

/// The sign-in redirect URI (register it with the Attio app next to the install flow's).
pub(super) fn redirect_uri(state: &AppState) -> String {
    state.public_url.join("/console/login/callback")
}

fn oauth_origin(state: &AppState) -> Option<String> {
    url::Url::parse(&state.config.attio_oauth_url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

fn login_page(state: &AppState, csrf: &str, error: Option<String>) -> String {
    let oauth = state.config.attio_client_id.is_some();
    let error = html! {
        @if let Some(e) = error {
            p.error role="alert" { (e) }
        }
    };
    let body = if oauth {
        html! {
            section.card {
                h2 { "Sign in with Attio" }
                p {
                    "You will be asked in Attio to allow the app into your workspace. This console then shows only that workspace's installation."
                }
                (error)
                form method="post" action="/console/login/oauth" {
                    (view::csrf_field(csrf))
                    button type="submit" { "Sign in with Attio" }
                }
            }
        }
    } else {
        html! {
            section.card {
                h2 { "Sign in with an Attio API token" }
                p {
                    "This backend has no Attio OAuth app configured, so it works with an access token of your workspace."
                }
                ol.steps {
                    li {
                        "In Attio, open " strong { "Workspace settings → Developers" }
                        " and create an integration (or open yours)."
                    }
                    li {
                        "Give its access token these scopes:"
                        ul {
                            @for s in REQUIRED_SCOPES {
                                li { code { (s) } }
                            }
                        }
                    }
                    li {
                        "Also " code { "user_management:read" }
                        ", so that the backend can name the member behind each action in the audit log."
                    }
                    li { "Copy the access token and paste it here." }
                }
                (error)
                form method="post" action="/console/login/token" class="generator" {
                    (view::csrf_field(csrf))
                    div.field {
                        label for="token" { "Attio access token" }
                        input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required;
                        p.hint {
                            "Kept encrypted in your session, and with the installation if you install."
                        }
                    }
                    button type="submit" { "Sign in" }
                }
            }
        }
    };
    view::document(
        Frame {
            title: "Sign in",
            ..Frame::default()
        },
        body,
    )
}

/// `GET /console/login`.
pub(super) async fn page(console: Console) -> Result<Response, PageError> {
    if console.user().await?.is_some() {
        return Ok(Redirect::to("/console").into_response());
    }
    let csrf = console.csrf().await?;
    let state = console.state();
    Ok(page_response(
        StatusCode::OK,
        login_page(state, &csrf, None),
        oauth_origin(state).as_deref(),
    ))
}

/// A form with only the CSRF token.
#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    /// The session's token.
    #[serde(default)]
    pub csrf: String,
}

/// `POST /console/login/oauth`: remember a fresh state in this session, go to Attio.
pub(super) async fn oauth_start(
    console: Console,
    client: ClientIp,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    console.check_csrf(&form.csrf).await?;
    let state = console.state();
    if !state.limits.oauth_start_by_ip.check(&ip_key(client)) {
        return Err(PageError(Error::Client {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "OAUTH_START_RATE_LIMITED",
            message: "Too many sign-ins from this address; try again in a minute.".into(),
        }));
    }
    let Some(client_id) = state.config.attio_client_id.clone() else {
        return Err(PageError(Error::Client {
            status: StatusCode::NOT_IMPLEMENTED,
            code: "OAUTH_NOT_CONFIGURED",
            message: "OAuth is not configured on this backend; sign in with an API token.".into(),
        }));
    };
    let oauth_state = random_hex(24);
    console
        .put(
            LOGIN,
            Started {
                state: oauth_state.clone(),
                expires_at: now_ms().saturating_add(
                    i64::try_from(state.config.oauth_state_ttl.as_millis()).unwrap_or(i64::MAX),
                ),
            },
        )
        .await?;
    let mut url = url::Url::parse(&format!("{}/authorize", state.config.attio_oauth_url))
        .map_err(|_| Error::Config("ATTIO_OAUTH_URL is not a URL".into()))?;
    url.query_pairs_mut()
        .append_pair("client_id", &client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect_uri(state))
        .append_pair("state", &oauth_state);
    Ok(Redirect::to(url.as_str()).into_response())
}

/// Query of the sign-in callback.
#[derive(Debug, Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn mismatch() -> PageError {
    PageError(Error::Client {
        status: StatusCode::FORBIDDEN,
        code: "OAUTH_STATE_MISMATCH",
        message: "This sign-in was not started in this browser, or was already used. Sign in \
                  again from this browser."
            .into(),
    })
}

/// `GET /console/login/callback`: only in the browser that started the sign-in.
pub(super) async fn oauth_callback(
    console: Console,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, PageError> {
    // Single use, whatever happens next.
    let started: Option<Started> = console.take(LOGIN).await?;
    if let Some(err) = q.error {
        return Err(PageError(Error::bad_request(
            "OAUTH_DENIED",
            format!(
                "Attio did not authorize the app: {}.",
                err.chars().take(200).collect::<String>()
            ),
        )));
    }
    let (Some(code), Some(sent_state)) = (q.code, q.state) else {
        return Err(PageError(Error::bad_request(
            "OAUTH_BAD_CALLBACK",
            "The callback needs `code` and `state`.",
        )));
    };
    let Some(started) = started else {
        return Err(mismatch());
    };
    if !bool::from(started.state.as_bytes().ct_eq(sent_state.as_bytes())) {
        return Err(mismatch());
    }
    if started.expires_at < now_ms() {
        return Err(PageError(Error::bad_request(
            "OAUTH_EXPIRED",
            "This sign-in took too long; sign in again.",
        )));
    }
    let state = console.state().clone();
    let token = crate::oauth::exchange_code(&state, &code, &redirect_uri(&state)).await?;
    let (info, auth) = identify(&state, token).await?;
    let member_email = match info.authorized_by_workspace_member_id.as_deref() {
        Some(member) if !member.is_empty() => {
            match state.attio.get_workspace_member(&auth, member).await {
                Ok(m) => m.map(|m| m.email_address),
                Err(e) => {
                    tracing::info!(error = %e, "console sign-in: the member's email is unknown");
                    None
                }
            }
        }
        _ => None,
    };
    let user = SignedIn {
        token_enc: console.seal_token(&auth.workspace, auth.token.expose_secret())?,
        workspace_id: auth.workspace.clone(),
        workspace_name: info.workspace_name.clone(),
        member_id: info.authorized_by_workspace_member_id.clone(),
        member_email,
        via: "oauth".into(),
    };
    console.sign_in(user).await?;
    Ok(Redirect::to("/console").into_response())
}

/// Ask Attio who a token belongs to: an active token of a workspace.
async fn identify(
    state: &AppState,
    token: SecretString,
) -> Result<(TokenInfo, AttioAuth), PageError> {
    let mut auth = AttioAuth {
        workspace: format!("console:{}", random_hex(8)),
        token,
    };
    let info = match state.attio.identify(&auth).await {
        Ok(info) => info,
        Err(AttioError::Unauthorized { .. }) => {
            return Err(PageError(Error::bad_request(
                "INVALID_ATTIO_TOKEN",
                "Attio refused this access token: check that you copied all of it, and that \
                 it was not revoked.",
            )));
        }
        Err(e) => return Err(PageError(e.into())),
    };
    match (info.active, info.workspace_id.clone()) {
        (true, Some(ws)) if !ws.is_empty() => {
            auth.workspace = ws;
            Ok((info, auth))
        }
        _ => Err(PageError(Error::bad_request(
            "INVALID_ATTIO_TOKEN",
            "Attio says this access token is not active.",
        ))),
    }
}

/// The API-token form.
#[derive(Debug, Deserialize)]
pub(super) struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

/// `POST /console/login/token`.
pub(super) async fn token(
    console: Console,
    client: ClientIp,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    console.check_csrf(&form.csrf).await?;
    let state = console.state().clone();
    if !state.limits.install_by_ip.check(&ip_key(client)) {
        return Err(PageError(Error::Client {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "INSTALL_RATE_LIMITED",
            message: "Too many attempts from this address; try again in a minute.".into(),
        }));
    }
    let token = form.token.trim().to_owned();
    let csrf = console.csrf().await?;
    if token.is_empty() {
        return Ok(page_response(
            StatusCode::BAD_REQUEST,
            login_page(&state, &csrf, Some("Paste an Attio access token.".into())),
            None,
        ));
    }
    let (info, auth) = match identify(&state, SecretString::from(token)).await {
        Ok(x) => x,
        Err(PageError(e)) => {
            let (status, _, message) = e.parts();
            if status.is_server_error() {
                return Err(PageError(e));
            }
            return Ok(page_response(
                status,
                login_page(&state, &csrf, Some(message)),
                None,
            ));
        }
    };
    let user = SignedIn {
        token_enc: console.seal_token(&auth.workspace, auth.token.expose_secret())?,
        workspace_id: auth.workspace.clone(),
        workspace_name: info.workspace_name.clone(),
        member_id: None,
        member_email: None,
        via: "api-token".into(),
    };
    console.sign_in(user).await?;
    Ok(Redirect::to("/console").into_response())
}

/// `POST /console/logout`.
pub(super) async fn logout(
    console: Console,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    console.check_csrf(&form.csrf).await?;
    console.sign_out().await?;
    Ok(Redirect::to("/console/login").into_response())
}
