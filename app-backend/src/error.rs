//! The crate's one error type, turned into the JSON answer in one place
//! ([`IntoResponse for Error`](Error#impl-IntoResponse-for-Error)):
//! `{"ok": false, "error": {"code": "SNAKE_CODE", "message": "a sentence"}}` (PLAN.md's
//! app contract). Internal failures answer an opaque 500 and are logged once, here.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use attio_auth_shared::signing::SigningError;

use crate::attio::AttioError;
use crate::plugin::PluginCallError;

/// Every failure's body: `{"ok": false, "error": {"code", "message"}}`. Built only here
/// (and by the few answers that are not an [`Error`], like `/readyz`), and also the OpenAPI
/// schema of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    /// Always `false`.
    pub ok: bool,
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The `error` of an [`ErrorResponse`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable SNAKE_CASE code.
    pub code: String,
    /// A sentence for a person.
    pub message: String,
}

impl ErrorResponse {
    /// The body of a failure with this code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }

    /// As a JSON value (for answers that are stored or wrapped before they are sent).
    pub fn to_value(&self) -> Value {
        // Only strings and a bool: serializing cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong. Messages never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is unusable (start-up only).
    #[error("configuration: {0}")]
    Config(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at start-up.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A file could not be read or written (key file, data dir).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Encrypting or decrypting a secret at rest failed (wrong key, corrupt value).
    #[error("secret storage: {0}")]
    Crypto(String),
    /// The caller's request is unusable; `code` is stable, `message` says what to fix.
    #[error("{message}")]
    Client {
        /// HTTP status (4xx).
        status: StatusCode,
        /// SNAKE_CASE code.
        code: &'static str,
        /// A sentence for a person.
        message: String,
    },
    /// A Standard Webhooks signature was refused.
    #[error("{0}")]
    Signature(#[from] SigningError),
    /// Attio refused or failed a call.
    #[error("{0}")]
    Attio(#[from] AttioError),
    /// The auth plugin refused or failed a call.
    #[error("{0}")]
    Plugin(#[from] PluginCallError),
    /// Something that should not happen; logged, answered opaquely.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// 400 with a code and message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::Client {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    /// 401 with a code and message.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Error::Client {
            status: StatusCode::UNAUTHORIZED,
            code,
            message: message.into(),
        }
    }

    /// 404 with a code and message.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Error::Client {
            status: StatusCode::NOT_FOUND,
            code,
            message: message.into(),
        }
    }

    /// 409 with a code and message.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Client {
            status: StatusCode::CONFLICT,
            code,
            message: message.into(),
        }
    }

    /// 422 with a code and message.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Error::Client {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code,
            message: message.into(),
        }
    }

    /// HTTP status, code and public message of this error.
    pub fn parts(&self) -> (StatusCode, String, String) {
        match self {
            Error::Client {
                status,
                code,
                message,
            } => (*status, (*code).to_owned(), message.clone()),
            Error::Signature(e) => (
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNAUTHORIZED),
                e.code().to_owned(),
                format!("The request signature was refused: {e}."),
            ),
            Error::Attio(e) => e.parts(),
            Error::Plugin(e) => e.parts(),
            Error::Config(_)
            | Error::Database(_)
            | Error::Migrate(_)
            | Error::Io(_)
            | Error::Crypto(_)
            | Error::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR".into(),
                "Something went wrong on our side; it was logged.".into(),
            ),
        }
    }

    /// The JSON body of this error.
    pub fn body(&self) -> Value {
        self.response().to_value()
    }

    /// The typed body of this error.
    pub fn response(&self) -> ErrorResponse {
        let (_, code, message) = self.parts();
        ErrorResponse::new(code, message)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, _, _) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(error = %self, status = status.as_u16(), "request refused");
        }
        (status, Json(self.response())).into_response()
    }
}
