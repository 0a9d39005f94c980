//! Installing through Attio's OAuth 2.0 app flow (authorization code, `NOTES.md` §1.1):
//!
//! 1. `POST /v1/oauth/start` with `{"connection": "..."}`: the connection string is checked
//!    and kept (encrypted) under a random single-use `state` for 10 minutes; the answer is the
//!    `authorizeUrl` to open.
//! 2. Attio redirects to `GET /v1/oauth/callback?code=..&state=..`; the code is exchanged for
//!    an access token at `/oauth/token` and the installation proceeds as with an API token.
//!
//! The connection string never appears in a URL (URLs end up in logs and browser history).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row as _;

use attio_auth_shared::connection::Connection;

use crate::db::now_ms;
use crate::error::{Error, Result};
use crate::installations;
use crate::peer::{ClientIp, ip_key};
use crate::startup::AppState;

/// How long an OAuth `state` stays valid.
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;

fn aad(state: &str) -> String {
    format!("oauth_states.connection:{state}")
}

/// The redirect URI to register with the Attio app.
pub fn redirect_uri(state: &AppState) -> String {
    state.public_url.join("/v1/oauth/callback")
}

/// Body of `POST /v1/oauth/start`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// The connection string to install with.
    pub connection: String,
}

/// `POST /v1/oauth/start`.
#[utoipa::path(post, path = "/v1/oauth/start", tag = "installations", request_body = StartBody,
    responses(
        (status = 200, description = "`{ok, authorizeUrl}`: open it to authorize the app in Attio", body = Object),
        (status = 400, description = "Bad connection string, or a plugin URL this backend does not call (`PLUGIN_URL_NOT_ALLOWED`)", body = crate::openapi::ErrorResponse),
        (status = 429, description = "Too many starts from this client (`OAUTH_START_RATE_LIMITED`)", body = crate::openapi::ErrorResponse),
        (status = 501, description = "OAuth is not configured on this backend", body = crate::openapi::ErrorResponse),
    ))]
pub async fn start(
    State(state): State<AppState>,
    client: ClientIp,
    body: axum::body::Bytes,
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
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let oauth_state = hex::encode(bytes);
    let now = now_ms();
    sqlx::query("delete from oauth_states where expires_at < $1")
        .bind(now)
        .execute(&state.db.pool)
        .await?;
    let enc = state
        .secrets
        .encrypt(&aad(&oauth_state), &connection.encode())?;
    sqlx::query("insert into oauth_states (state, connection_enc, expires_at) values ($1, $2, $3)")
        .bind(&oauth_state)
        .bind(enc)
        .bind(now + STATE_TTL_MS)
        .execute(&state.db.pool)
        .await?;
    let mut url = url::Url::parse(&format!("{}/authorize", state.config.attio_oauth_url))
        .map_err(|_| Error::Config("ATTIO_OAUTH_URL is not a URL".into()))?;
    url.query_pairs_mut()
        .append_pair("client_id", &client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect_uri(&state))
        .append_pair("state", &oauth_state);
    Ok(Json(json!({"ok": true, "authorizeUrl": url.to_string()})))
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

/// `GET /v1/oauth/callback`.
#[utoipa::path(get, path = "/v1/oauth/callback", tag = "installations", params(CallbackQuery),
    responses(
        (status = 201, description = "Installed (as `POST /v1/installations`)", body = Object),
        (status = 400, description = "Refused, unknown or expired state, or a code Attio refused", body = crate::openapi::ErrorResponse),
    ))]
pub async fn callback(
    State(state): State<AppState>,
    Query(q): Query<CallbackQuery>,
) -> Result<(StatusCode, Json<Value>)> {
    if let Some(err) = q.error {
        return Err(Error::bad_request(
            "OAUTH_DENIED",
            format!("Attio did not authorize the app: {err}."),
        ));
    }
    let (Some(code), Some(oauth_state)) = (q.code, q.state) else {
        return Err(Error::bad_request(
            "OAUTH_BAD_CALLBACK",
            "The callback needs `code` and `state`.",
        ));
    };
    // Single use: delete and read in one step.
    let row = sqlx::query(
        "delete from oauth_states where state = $1 returning connection_enc, expires_at",
    )
    .bind(&oauth_state)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(row) = row else {
        return Err(Error::bad_request(
            "OAUTH_UNKNOWN_STATE",
            "This install link was already used or is unknown; start again.",
        ));
    };
    let expires_at: i64 = row.try_get("expires_at")?;
    if expires_at < now_ms() {
        return Err(Error::bad_request(
            "OAUTH_EXPIRED",
            "This install link expired; start again.",
        ));
    }
    let enc: String = row.try_get("connection_enc")?;
    let plain = state.secrets.decrypt(&aad(&oauth_state), &enc)?;
    let connection = Connection::decode(plain.expose_secret())
        .map_err(|e| Error::Internal(format!("stored connection: {e}")))?;
    let token = exchange_code(&state, &code).await?;
    let outcome = installations::install(&state, connection, token, "oauth").await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

async fn exchange_code(state: &AppState, code: &str) -> Result<SecretString> {
    let (Some(client_id), Some(client_secret)) = (
        state.config.attio_client_id.as_deref(),
        state.config.attio_client_secret.as_ref(),
    ) else {
        return Err(Error::Config("ATTIO_CLIENT_SECRET is not set".into()));
    };
    let redirect = redirect_uri(state);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client_id),
        ("client_secret", client_secret.expose_secret()),
        ("redirect_uri", redirect.as_str()),
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
