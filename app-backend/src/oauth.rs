//! Installing through Attio's OAuth 2.0 app flow (authorization code, `NOTES.md` §1.1), bound
//! to the browser that started it (issue 13, item 2):
//!
//! 1. `POST /v1/oauth/start` with `{"connection": "..."}`: the connection string is checked;
//!    a random single-use `state` and the connection (encrypted) are kept in this browser's
//!    session (cookie `attio_auth_oauth`: HttpOnly, SameSite=Lax, Secure unless on loopback,
//!    path `/v1/oauth`), for `OAUTH_STATE_TTL_SECS`; the answer is the `authorizeUrl`.
//! 2. Attio redirects to `GET /v1/oauth/callback?code=..&state=..`. The state must be the one
//!    in *this* browser's session (else 403 `OAUTH_STATE_MISMATCH`, nothing installed): an
//!    attacker who starts a flow and sends the link to a victim gets nowhere. The code is
//!    exchanged for a token, and the admin sees a confirmation page naming the Attio
//!    workspace and the auth server URL that would be linked. The session id is rotated.
//! 3. Nothing is linked until `POST /v1/oauth/confirm` (the page's form) arrives in the same
//!    session with the page's CSRF token (compared in constant time); then the installation
//!    proceeds as with an API token.
//!
//! Sessions live in the backend's own database (`browser_sessions`, see
//! [`crate::browser_sessions`]); expired ones are deleted by a background task. The
//! connection string never appears in a URL (URLs end up in logs and browser history).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer, SessionStore};

use attio_auth_shared::connection::Connection;

use crate::attio::{AttioAuth, AttioError};
use crate::browser_sessions::BrowserSessions;
use crate::clock::now_ms;
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::installations;
use crate::peer::{ClientIp, ip_key};
use crate::state::AppState;

/// Name of the session cookie of the install flow.
pub const SESSION_COOKIE: &str = "attio_auth_oauth";
/// Session key of a started flow.
const PENDING: &str = "oauth.pending";
/// Session key of a flow waiting for the admin's confirmation.
const CONFIRM: &str = "oauth.confirm";

/// A started flow, in the browser's session.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    state: String,
    connection_enc: String,
    expires_at: i64,
}

/// A flow whose code was exchanged, waiting for the confirmation form.
#[derive(Debug, Serialize, Deserialize)]
struct Confirm {
    csrf: String,
    connection_enc: String,
    token_enc: String,
    workspace_id: String,
    workspace_name: Option<String>,
    expires_at: i64,
}

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn session_err(e: tower_sessions::session::Error) -> Error {
    Error::Internal(format!("session: {e}"))
}

fn mismatch() -> Error {
    Error::Client {
        status: StatusCode::FORBIDDEN,
        code: "OAUTH_STATE_MISMATCH",
        message: "This install was not started in this browser, or was already used. Start \
                  the install again from the browser you authorize it in."
            .into(),
    }
}

fn expired() -> Error {
    Error::bad_request("OAUTH_EXPIRED", "This install link expired; start again.")
}

/// The redirect URI to register with the Attio app.
pub fn redirect_uri(state: &AppState) -> String {
    state.public_url.join("/v1/oauth/callback")
}

/// The OAuth routes with their session layer, and the console's routes with theirs (its own
/// cookie, same store: [`crate::console::routes`]), on the session store in the backend's own
/// database ([`BrowserSessions`]). Spawns the deletion of expired sessions, stopped by
/// `shutdown`.
pub fn routes(config: &Config, db: &Db, shutdown: CancellationToken) -> Router<AppState> {
    let store = BrowserSessions::new(db.clone());
    store.spawn_deletion(shutdown);
    Router::new()
        .route("/v1/oauth/start", post(start))
        .route("/v1/oauth/callback", get(callback))
        .route("/v1/oauth/confirm", post(confirm))
        .layer(session_layer(store.clone(), config))
        .merge(crate::console::routes(config, store))
}

fn session_layer<S: SessionStore + Clone>(store: S, config: &Config) -> SessionManagerLayer<S> {
    let ttl = i64::try_from(config.oauth_state_ttl.as_secs()).unwrap_or(600);
    SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.cookies_secure())
        .with_path("/v1/oauth")
        .with_expiry(Expiry::OnInactivity(
            // tower-sessions speaks the `time` crate's Duration (re-exported by `cookie`)
            tower_sessions::cookie::time::Duration::seconds(ttl),
        ))
}

/// Body of `POST /v1/oauth/start`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// The connection string to install with.
    pub connection: String,
}

/// `POST /v1/oauth/start`: sets the session cookie holding the state.
#[utoipa::path(post, path = "/v1/oauth/start", tag = "installations", request_body = StartBody,
    responses(
        (status = 200, description = "`{ok, authorizeUrl}`: open it in this browser to authorize the app in Attio; sets the session cookie `attio_auth_oauth`", body = Object),
        (status = 400, description = "Bad connection string, or a plugin URL this backend does not call (`PLUGIN_URL_NOT_ALLOWED`)", body = crate::error::ErrorResponse),
        (status = 429, description = "Too many starts from this client (`OAUTH_START_RATE_LIMITED`)", body = crate::error::ErrorResponse),
        (status = 501, description = "OAuth is not configured on this backend", body = crate::error::ErrorResponse),
    ))]
pub async fn start(
    State(state): State<AppState>,
    client: ClientIp,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Result<Json<Value>> {
    // Each start stores a row: bounded per client.
    if !state.limits.oauth_start_by_ip.check(&ip_key(client)) {
        return Err(Error::Client {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "OAUTH_START_RATE_LIMITED",
            message: "Too many install starts from this address; try again in a minute.".into(),
        });
    }
    let Some(client_id) = state.config.attio_client_id.clone() else {
        return Err(Error::Client {
            status: StatusCode::NOT_IMPLEMENTED,
            code: "OAUTH_NOT_CONFIGURED",
            message: "OAuth is not configured on this backend (ATTIO_CLIENT_ID, \
                      ATTIO_CLIENT_SECRET); install with an Attio API token instead."
                .into(),
        });
    };
    let req: StartBody = serde_json::from_slice(&body).map_err(|e| {
        Error::bad_request("INVALID_BODY", format!("Expected {{\"connection\"}}: {e}"))
    })?;
    let connection = Connection::decode(&req.connection)
        .map_err(|e| Error::bad_request("INVALID_CONNECTION_STRING", e.to_string()))?;
    state.plugin.check_url(&connection).await?;
    let oauth_state = random_hex(24);
    let pending = Pending {
        connection_enc: state
            .secrets
            .encrypt(&pending_aad(&oauth_state), &connection.encode())?,
        state: oauth_state.clone(),
        expires_at: now_ms().saturating_add(ttl_ms(&state)),
    };
    session.remove_value(CONFIRM).await.map_err(session_err)?;
    session
        .insert(PENDING, pending)
        .await
        .map_err(session_err)?;
    let mut url = url::Url::parse(&format!("{}/authorize", state.config.attio_oauth_url))
        .map_err(|_| Error::Config("ATTIO_OAUTH_URL is not a URL".into()))?;
    url.query_pairs_mut()
        .append_pair("client_id", &client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect_uri(&state))
        .append_pair("state", &oauth_state);
    Ok(Json(json!({"ok": true, "authorizeUrl": url.to_string()})))
}

fn ttl_ms(state: &AppState) -> i64 {
    i64::try_from(state.config.oauth_state_ttl.as_millis()).unwrap_or(i64::MAX)
}

fn pending_aad(oauth_state: &str) -> String {
    format!("oauth.pending.connection:{oauth_state}")
}

fn confirm_aad(field: &str, csrf: &str) -> String {
    format!("oauth.confirm.{field}:{csrf}")
}

/// Query of the callback.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// Our `state`.
    pub state: Option<String>,
    /// Set when the user refused.
    pub error: Option<String>,
}

/// `GET /v1/oauth/callback`: in the session that started the flow, exchanges the code and
/// shows the confirmation page; installs nothing.
#[utoipa::path(get, path = "/v1/oauth/callback", tag = "installations", params(CallbackQuery),
    responses(
        (status = 200, description = "The confirmation page (HTML): the Attio workspace and the auth server URL, and a form to confirm", content_type = "text/html"),
        (status = 400, description = "Refused, expired, or a code Attio refused", body = crate::error::ErrorResponse),
        (status = 403, description = "`OAUTH_STATE_MISMATCH`: not the browser that started the flow, or already used", body = crate::error::ErrorResponse),
    ))]
pub async fn callback(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(q): Query<CallbackQuery>,
) -> Result<Response> {
    // Single use: whatever happens next, this state is gone.
    let pending: Option<Pending> = session.remove(PENDING).await.map_err(session_err)?;
    if let Some(err) = q.error {
        return Err(Error::bad_request(
            "OAUTH_DENIED",
            format!(
                "Attio did not authorize the app: {}.",
                err.chars().take(200).collect::<String>()
            ),
        ));
    }
    let (Some(code), Some(oauth_state)) = (q.code, q.state) else {
        return Err(Error::bad_request(
            "OAUTH_BAD_CALLBACK",
            "The callback needs `code` and `state`.",
        ));
    };
    let Some(pending) = pending else {
        return Err(mismatch());
    };
    if !bool::from(pending.state.as_bytes().ct_eq(oauth_state.as_bytes())) {
        return Err(mismatch());
    }
    if pending.expires_at < now_ms() {
        return Err(expired());
    }
    let plain = state
        .secrets
        .decrypt(&pending_aad(&pending.state), &pending.connection_enc)?;
    let connection = Connection::decode(plain.expose_secret())
        .map_err(|e| Error::Internal(format!("stored connection: {e}")))?;
    let token = exchange_code(&state, &code, &redirect_uri(&state)).await?;
    let auth = AttioAuth {
        workspace: format!("oauth:{}", random_hex(8)),
        token,
    };
    let info = match state.attio.identify(&auth).await {
        Ok(info) => info,
        Err(AttioError::Unauthorized { .. }) => {
            return Err(Error::bad_request(
                "INVALID_ATTIO_TOKEN",
                "Attio refused the token it has just issued.",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let workspace_id = match (info.active, info.workspace_id) {
        (true, Some(ws)) if !ws.is_empty() => ws,
        _ => {
            return Err(Error::bad_request(
                "INVALID_ATTIO_TOKEN",
                "Attio says this access token is not active.",
            ));
        }
    };
    let csrf = random_hex(32);
    let confirm = Confirm {
        connection_enc: state
            .secrets
            .encrypt(&confirm_aad("connection", &csrf), &connection.encode())?,
        token_enc: state
            .secrets
            .encrypt(&confirm_aad("token", &csrf), auth.token.expose_secret())?,
        csrf: csrf.clone(),
        workspace_id: workspace_id.clone(),
        workspace_name: info.workspace_name.clone(),
        expires_at: now_ms().saturating_add(ttl_ms(&state)),
    };
    // A new session id now that the browser holds something worth stealing.
    session.cycle_id().await.map_err(session_err)?;
    session
        .insert(CONFIRM, confirm)
        .await
        .map_err(session_err)?;
    let page = confirmation_page(
        info.workspace_name.as_deref(),
        &workspace_id,
        &connection.url(),
        &state.public_url.join("/v1/oauth/confirm"),
        &csrf,
    );
    Ok(html(StatusCode::OK, page))
}

/// `POST /v1/oauth/confirm` (form `csrf=...`): the admin confirmed; install.
#[utoipa::path(post, path = "/v1/oauth/confirm", tag = "installations",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf=<the confirmation page's token>`"),
    responses(
        (status = 201, description = "Installed (HTML page)", content_type = "text/html"),
        (status = 403, description = "`OAUTH_STATE_MISMATCH` (no confirmation pending in this session) or `CSRF_MISMATCH`", body = crate::error::ErrorResponse),
        (status = 400, description = "Expired", body = crate::error::ErrorResponse),
    ))]
pub async fn confirm(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Result<Response> {
    let Some(pending): Option<Confirm> = session.get(CONFIRM).await.map_err(session_err)? else {
        return Err(mismatch());
    };
    let sent = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if sent.is_empty() || !bool::from(pending.csrf.as_bytes().ct_eq(sent.as_bytes())) {
        return Err(Error::Client {
            status: StatusCode::FORBIDDEN,
            code: "CSRF_MISMATCH",
            message: "The confirmation form's token is missing or wrong; confirm from the \
                      page this install showed."
                .into(),
        });
    }
    // Single use from here on.
    session.remove_value(CONFIRM).await.map_err(session_err)?;
    if pending.expires_at < now_ms() {
        return Err(expired());
    }
    let plain = state.secrets.decrypt(
        &confirm_aad("connection", &pending.csrf),
        &pending.connection_enc,
    )?;
    let connection = Connection::decode(plain.expose_secret())
        .map_err(|e| Error::Internal(format!("stored connection: {e}")))?;
    let token: SecretString = state
        .secrets
        .decrypt(&confirm_aad("token", &pending.csrf), &pending.token_enc)?;
    let outcome = installations::install(&state, connection, token, "oauth").await?;
    let message = outcome
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("Installed.");
    Ok(html(
        StatusCode::CREATED,
        format!(
            "{HEAD}<h1>Connected</h1><p>{}</p><p>You can close this page.</p></main></body></html>",
            escape(message)
        ),
    ))
}

const HEAD: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>attio-auth: connect Attio</title>\
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}\
code{background:#f3f3f3;padding:0 .25rem}button{font-size:1rem;padding:.5rem 1.25rem}</style>\
</head><body><main>";

fn confirmation_page(
    workspace_name: Option<&str>,
    workspace_id: &str,
    auth_server: &str,
    action: &str,
    csrf: &str,
) -> String {
    let name = workspace_name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(workspace_id);
    format!(
        "{HEAD}<h1>Connect this Attio workspace?</h1>\
<p>Attio workspace: <strong>{}</strong> (<code>{}</code>)</p>\
<p>Auth server that will be linked: <strong><code>{}</code></strong></p>\
<p>Confirming lets this auth server receive the changes to the workspace's Users and \
Workspaces records, and lets members of the workspace act on its users. Confirm only if \
you started this install yourself and run this auth server.</p>\
<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<button type=\"submit\">Connect</button></form>\
<p>To cancel, close this page: nothing is linked until you confirm.</p></main></body></html>",
        escape(name),
        escape(workspace_id),
        escape(auth_server),
        escape(action),
        escape(csrf),
    )
}

/// HTML text escape.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML answer that is never cached nor framed (the confirm button must not be
/// clickjacked).
fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
                ),
            ),
        ],
        body,
    )
        .into_response()
}

/// Exchange an authorization code for an access token at Attio's token endpoint;
/// `redirect` is the redirect URI the authorize request named (the install flow's, or the
/// console sign-in's).
pub(crate) async fn exchange_code(
    state: &AppState,
    code: &str,
    redirect: &str,
) -> Result<SecretString> {
    let (Some(client_id), Some(client_secret)) = (
        state.config.attio_client_id.as_deref(),
        state.config.attio_client_secret.as_ref(),
    ) else {
        return Err(Error::Config("ATTIO_CLIENT_SECRET is not set".into()));
    };
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client_id),
        ("client_secret", client_secret.expose_secret()),
        ("redirect_uri", redirect),
    ];
    let http = reqwest::Client::builder()
        .timeout(state.config.http_timeout)
        .build()
        .map_err(|e| Error::Internal(format!("http client: {e}")))?;
    let resp = http
        .post(format!("{}/oauth/token", state.config.attio_oauth_url))
        .form(&form)
        .send()
        .await
        .map_err(|_| Error::Client {
            status: StatusCode::BAD_GATEWAY,
            code: "ATTIO_UNAVAILABLE",
            message: "Attio's token endpoint could not be reached.".into(),
        })?;
    let status = resp.status();
    let body: Value = crate::egress::read_capped(resp, state.config.attio_max_response_bytes)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(Error::bad_request(
            "OAUTH_EXCHANGE_FAILED",
            format!(
                "Attio refused the authorization code: {}",
                body.get("message")
                    .or_else(|| body.get("error"))
                    .and_then(Value::as_str)
                    .unwrap_or("no reason given")
            ),
        ));
    }
    match body.get("access_token").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => Ok(SecretString::from(t.to_owned())),
        _ => Err(Error::bad_request(
            "OAUTH_EXCHANGE_FAILED",
            "Attio's token answer has no access_token.",
        )),
    }
}
