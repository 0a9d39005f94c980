//! The console's browser session: who is signed in (an Attio workspace, and the member when
//! Attio says who authorized the token), their Attio token (encrypted), and the CSRF token
//! every form carries.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use rand::RngCore as _;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use tower_sessions::Session;

use crate::attio::AttioAuth;
use crate::error::{Error, Result};
use crate::state::AppState;

use super::PageError;

/// Name of the console's session cookie.
pub const SESSION_COOKIE: &str = "attio_auth_console";
const USER: &str = "console.user";
const CSRF: &str = "console.csrf";

/// The signed-in person, as kept in the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SignedIn {
    /// The Attio workspace the token belongs to: the only one whose installation this
    /// session sees.
    pub workspace_id: String,
    /// Its name, when Attio said.
    pub workspace_name: Option<String>,
    /// The workspace member who authorized the OAuth token (unknown for an API token).
    pub member_id: Option<String>,
    /// Their email, from Attio.
    pub member_email: Option<String>,
    /// `oauth` or `api-token`: also the installation's `auth_kind` when installed from here.
    pub via: String,
    /// The Attio access token, encrypted with the secrets key.
    pub token_enc: String,
}

impl SignedIn {
    /// Who to name in the page header and the audit log.
    pub(super) fn who(&self) -> String {
        self.member_email
            .clone()
            .unwrap_or_else(|| format!("API token of {}", self.workspace_label()))
    }

    /// The workspace's name, or its id.
    pub(super) fn workspace_label(&self) -> String {
        self.workspace_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| self.workspace_id.clone())
    }
}

fn token_aad(workspace_id: &str) -> String {
    format!("console.token:{workspace_id}")
}

/// A random hex string of `n` bytes.
pub(super) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub(super) fn session_err(e: tower_sessions::session::Error) -> Error {
    Error::Internal(format!("console session: {e}"))
}

/// Extractor: the request's console session and the service state.
#[derive(Debug, Clone)]
pub(super) struct Console {
    session: Session,
    state: AppState,
}

impl<S> FromRequestParts<S> for Console
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = parts.extensions.get::<Session>().cloned().ok_or_else(|| {
            PageError(Error::Internal("console without its session layer".into()))
        })?;
        Ok(Console {
            session,
            state: AppState::from_ref(state),
        })
    }
}

impl Console {
    /// The service state.
    pub(super) fn state(&self) -> &AppState {
        &self.state
    }

    /// Who is signed in, if anyone.
    pub(super) async fn user(&self) -> Result<Option<SignedIn>> {
        self.session.get(USER).await.map_err(session_err)
    }

    /// The session's CSRF token, made on first use.
    pub(super) async fn csrf(&self) -> Result<String> {
        if let Some(t) = self
            .session
            .get::<String>(CSRF)
            .await
            .map_err(session_err)?
        {
            return Ok(t);
        }
        let t = random_hex(32);
        self.session
            .insert(CSRF, t.clone())
            .await
            .map_err(session_err)?;
        Ok(t)
    }

    /// Refuse a form whose `csrf` is not this session's token (403 `CSRF_MISMATCH`).
    pub(super) async fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        let expected: Option<String> = self.session.get(CSRF).await.map_err(session_err)?;
        let ok = match expected {
            Some(e) => !sent.is_empty() && bool::from(e.as_bytes().ct_eq(sent.as_bytes())),
            None => false,
        };
        if ok {
            Ok(())
        } else {
            Err(PageError(Error::Client {
                status: StatusCode::FORBIDDEN,
                code: "CSRF_MISMATCH",
                message: "This form's security token is missing or out of date (the session \
                          may have expired). Go back, reload the page and send the form again."
                    .into(),
            }))
        }
    }

    /// Sign in: a new session id (the old one may have been seen before sign-in), a new CSRF
    /// token, and the person.
    pub(super) async fn sign_in(&self, user: SignedIn) -> Result<()> {
        self.session.cycle_id().await.map_err(session_err)?;
        self.session
            .insert(CSRF, random_hex(32))
            .await
            .map_err(session_err)?;
        self.session.insert(USER, user).await.map_err(session_err)
    }

    /// Sign out: the session is deleted.
    pub(super) async fn sign_out(&self) -> Result<()> {
        self.session.flush().await.map_err(session_err)
    }

    /// Encrypt a token for [`SignedIn::token_enc`].
    pub(super) fn seal_token(&self, workspace_id: &str, token: &str) -> Result<String> {
        self.state.secrets.encrypt(&token_aad(workspace_id), token)
    }

    /// The signed-in person's Attio access.
    pub(super) fn attio(&self, user: &SignedIn) -> Result<AttioAuth> {
        let token: SecretString = self
            .state
            .secrets
            .decrypt(&token_aad(&user.workspace_id), &user.token_enc)?;
        Ok(AttioAuth {
            workspace: user.workspace_id.clone(),
            token,
        })
    }

    /// Keep a value in the session.
    pub(super) async fn put<T: Serialize>(&self, key: &str, value: T) -> Result<()> {
        self.session.insert(key, value).await.map_err(session_err)
    }

    /// Take a value out of the session.
    pub(super) async fn take<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>> {
        self.session.remove(key).await.map_err(session_err)
    }
}
