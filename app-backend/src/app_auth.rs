//! Authentication of the Attio app's calls: the `attio-workspace-id` header names the
//! installation, whose connection secret must have signed the exact body (Standard Webhooks
//! headers), within the clock tolerance; message ids are remembered in the database so a
//! repeat is answered from the stored response without acting twice, on every instance.
//!
//! Legacy connection strings (the original generator's) have a secret that is not a
//! `whsec_` key. For those the app signs with the key SHA-256(secret), written as
//! `whsec_` + base64 of it (see [`signing_secret`]); the secret itself still never travels.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::Row as _;

use attio_auth_shared::connection::{Connection, Protocol};
use attio_auth_shared::signing::{
    HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, ReplayStatus, SigningError,
};

use crate::clock::{now_ms, now_secs};
use crate::error::{Error, Result};
use crate::installations::Installation;
use crate::state::AppState;

/// Header naming the Attio workspace of a call.
pub const HEADER_WORKSPACE: &str = "attio-workspace-id";
/// How long accepted message ids are remembered (15 min > the 10 min acceptance window).
pub const REPLAY_TTL_MS: i64 = 15 * 60 * 1000;

/// The Standard Webhooks secret the app signs with for this connection: the connection's
/// own `whsec_` secret, or for a legacy connection `whsec_` + base64(SHA-256(secret)).
pub fn signing_secret(conn: &Connection) -> SecretString {
    match conn.protocol {
        Protocol::SignedV1 => conn.secret().clone(),
        Protocol::Legacy => {
            let digest = Sha256::digest(conn.secret().expose_secret().as_bytes());
            SecretString::from(format!("whsec_{}", STANDARD.encode(digest)))
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A verified call: its installation and message id.
#[derive(Debug)]
pub struct VerifiedCall {
    /// The installation the workspace header named.
    pub installation: Installation,
    /// `webhook-id`.
    pub message_id: String,
}

/// Find the installation and verify the signature over `body`. No replay check.
pub async fn verify(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<VerifiedCall> {
    let workspace = header(headers, HEADER_WORKSPACE).trim();
    if workspace.is_empty() {
        return Err(Error::bad_request(
            "MISSING_WORKSPACE",
            format!("The {HEADER_WORKSPACE} header is required."),
        ));
    }
    let installation = Installation::find_by_workspace(state, workspace)
        .await?
        .ok_or_else(|| {
            Error::not_found(
                "NOT_INSTALLED",
                format!(
                    "This Attio workspace has no installation yet: install it at {} (sign in \
                     with Attio, paste the connection string), then save the string here again.",
                    state.public_url.join("/console")
                ),
            )
        })?;
    // During a secret rotation the old and the new secret are both accepted.
    let verifier = crate::console::rotation::verifier(
        &crate::console::rotation::app_secrets(state, &installation).await?,
    )?;
    verifier.verify(
        header(headers, HEADER_ID),
        header(headers, HEADER_TIMESTAMP),
        header(headers, HEADER_SIGNATURE),
        body,
        now_secs(),
    )?;
    Ok(VerifiedCall {
        message_id: header(headers, HEADER_ID).to_owned(),
        installation,
    })
}

/// Remember `id` (scoped by installation) with the body's hash; tell a repeat (the stored
/// `(status, body)`, or `None` while in progress) from a conflict (another body: 422).
pub async fn check_replay(
    state: &AppState,
    installation_id: &str,
    id: &str,
    body: &[u8],
) -> Result<ReplayStatus<(u16, String)>> {
    let key = format!("{installation_id}:{id}");
    let sha = hex::encode(Sha256::digest(body));
    let now = now_ms();
    // Forget expired ids now and then (1 call in 64), not on every call.
    if rand::random::<u8>() < 4 {
        sqlx::query("delete from replay_ids where expires_at < $1")
            .bind(now)
            .execute(&state.db.pool)
            .await?;
    }
    let inserted = sqlx::query(
        "insert into replay_ids (id, body_sha256, response, expires_at) values ($1, $2, null, $3) \
         on conflict (id) do nothing",
    )
    .bind(&key)
    .bind(&sha)
    .bind(now + REPLAY_TTL_MS)
    .execute(&state.db.pool)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(ReplayStatus::Fresh);
    }
    let row = sqlx::query("select body_sha256, response from replay_ids where id = $1")
        .bind(&key)
        .fetch_one(&state.db.pool)
        .await?;
    let stored_sha: String = row.try_get("body_sha256")?;
    if stored_sha != sha {
        return Ok(ReplayStatus::Conflict);
    }
    let response: Option<String> = row.try_get("response")?;
    Ok(ReplayStatus::Repeat(response.and_then(|r| {
        let (status, body) = r.split_once('\n')?;
        Some((status.parse().ok()?, body.to_owned()))
    })))
}

/// [`check_replay`] as a route answers it: `None` for a fresh call (go on); otherwise the
/// answer: the stored response of a repeat, 409 `IN_PROGRESS` while the first call is still
/// being handled, 422 for the same id with another body.
pub async fn replay_answer(
    state: &AppState,
    installation_id: &str,
    id: &str,
    body: &[u8],
) -> Option<Response> {
    match check_replay(state, installation_id, id, body).await {
        Ok(ReplayStatus::Fresh) => None,
        Ok(ReplayStatus::Repeat(Some((status, stored)))) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            Some((status, [(header::CONTENT_TYPE, "application/json")], stored).into_response())
        }
        Ok(ReplayStatus::Repeat(None)) => Some(
            Error::conflict(
                "IN_PROGRESS",
                "This request is still being handled; retry in a moment.",
            )
            .into_response(),
        ),
        Ok(ReplayStatus::Conflict) => Some(Error::from(SigningError::Conflict).into_response()),
        Err(e) => Some(e.into_response()),
    }
}

/// Store the response given to `id`, for safe repeats.
pub async fn store_response(
    state: &AppState,
    installation_id: &str,
    id: &str,
    status: u16,
    body: &str,
) -> Result<()> {
    let key = format!("{installation_id}:{id}");
    sqlx::query("update replay_ids set response = $1 where id = $2")
        .bind(format!("{status}\n{body}"))
        .bind(&key)
        .execute(&state.db.pool)
        .await?;
    Ok(())
}

/// Forget `id`: the answer was a 5xx (our side or the plugin's failed), so a retry of the
/// same message must be handled again rather than answered that failure.
pub async fn forget(state: &AppState, installation_id: &str, id: &str) -> Result<()> {
    sqlx::query("delete from replay_ids where id = $1")
        .bind(format!("{installation_id}:{id}"))
        .execute(&state.db.pool)
        .await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn legacy_connections_sign_with_a_derived_key() {
        let legacy = Connection::new(
            "https://a.example.com",
            "/api/auth",
            Protocol::Legacy,
            SecretString::from("attio-test-secret".to_owned()),
        )
        .unwrap();
        let s = signing_secret(&legacy);
        assert!(s.expose_secret().starts_with("whsec_"));
        assert!(!s.expose_secret().contains("attio-test-secret"));
        assert!(attio_auth_shared::signing::Verifier::from_secret(&s).is_ok());
        let signed = Connection::generate("https://a.example.com", None).unwrap();
        assert_eq!(
            signing_secret(&signed).expose_secret(),
            signed.secret().expose_secret()
        );
    }
}
