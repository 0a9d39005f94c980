//! The plugin's one error type and the one place it becomes an HTTP response.
//!
//! Bodies are the original's `{"message", "code"}`; a legacy request with a wrong secret gets
//! the original's 401 with an empty body. Store failures answer an opaque 500 and are logged
//! once here; no error ever carries a secret.

use crate::store::StoreError;
use attio_auth_shared::actions::ErrorBody;
use attio_auth_shared::signing::SigningError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An optional part of the auth server that an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Better Auth's admin plugin (roles, bans, impersonation).
    Admin,
    /// Better Auth's organization plugin.
    Organizations,
    /// A [`Mailer`](crate::Mailer).
    Mailer,
}

impl Feature {
    fn message(self) -> &'static str {
        match self {
            Feature::Admin => "The admin plugin is not enabled on this auth server",
            Feature::Organizations => "The organization plugin is not enabled on this auth server",
            Feature::Mailer => "No mailer is configured on this auth server",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Feature::Admin => "ADMIN_NOT_ENABLED",
            Feature::Organizations => "ORGANIZATIONS_NOT_ENABLED",
            Feature::Mailer => "MAILER_NOT_CONFIGURED",
        }
    }
}

/// Why a plugin request failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The body does not match the action's fields (the original's zod-style message).
    #[error("{0}")]
    Validation(String),
    /// The body is not JSON.
    #[error("Invalid JSON in request body")]
    InvalidJson,
    /// A content type other than JSON.
    #[error("Content-Type \"{0}\" is not allowed. Allowed types: application/json")]
    UnsupportedMediaType(String),
    /// Legacy protocol: the body's secret is wrong (the original's empty 401).
    #[error("unauthorized")]
    LegacyUnauthorized,
    /// No signature headers, and legacy bodies are not accepted.
    #[error("a signed request is required (webhook-id, webhook-timestamp, webhook-signature)")]
    SignatureRequired,
    /// Signed requests arrive but no `whsec_` secret is configured.
    #[error("signed requests are not configured on this auth server")]
    SigningNotConfigured,
    /// Signature, timestamp or replay check failed.
    #[error("{0}")]
    Signature(#[from] SigningError),
    /// The body's `action` is not this route's.
    #[error("the body's action {found:?} does not match the route {route:?}")]
    ActionMismatch {
        /// The route's action.
        route: &'static str,
        /// What the body said.
        found: String,
    },
    /// The same webhook-id is still being handled.
    #[error("a request with this webhook-id is still being handled; retry later")]
    InProgress,
    /// A browser request with a cookie from a foreign origin (the original's CSRF check).
    #[error("Invalid origin")]
    InvalidOrigin,
    /// 400 with a code.
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// Sentence.
        message: String,
    },
    /// 403 with a code.
    #[error("{message}")]
    Forbidden {
        /// Stable code.
        code: &'static str,
        /// Sentence.
        message: String,
    },
    /// 404 with a code.
    #[error("{message}")]
    NotFound {
        /// Stable code.
        code: &'static str,
        /// Sentence.
        message: String,
    },
    /// 409 with a code.
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Sentence.
        message: String,
    },
    /// 422 with a code: understood, but the database refused it.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// Sentence.
        message: String,
    },
    /// The auth server lacks a feature the endpoint needs (501).
    #[error("{}", .0.message())]
    NotImplemented(Feature),
    /// The mailer failed.
    #[error("the email could not be sent")]
    Mail(String),
    /// The store failed.
    #[error("internal error")]
    Store(#[from] StoreError),
    /// The action panicked (logged where it was caught); an opaque 500.
    #[error("internal error")]
    Panicked,
    /// Over the rate limit of the path (429 with `Retry-After` and `X-RateLimit-*`).
    #[error("Too many requests. Please try again later.")]
    RateLimited {
        /// Requests allowed per window.
        limit: u32,
        /// Unix second when the caller's window ends.
        reset_at: i64,
        /// Seconds until then (at least 1).
        retry_after: i64,
    },
}

impl PluginError {
    /// 404 helper.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            message: message.into(),
        }
    }

    /// 403 helper.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }

    /// 400 helper.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::InvalidJson | Self::ActionMismatch { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::LegacyUnauthorized | Self::SignatureRequired | Self::SigningNotConfigured => {
                StatusCode::UNAUTHORIZED
            }
            Self::Signature(e) => {
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNAUTHORIZED)
            }
            Self::InProgress => StatusCode::CONFLICT,
            Self::InvalidOrigin | Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Mail(_) => StatusCode::BAD_GATEWAY,
            Self::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            Self::Store(StoreError::Rejected(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Store(_) | Self::Panicked => StatusCode::INTERNAL_SERVER_ERROR,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The stable code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "VALIDATION_ERROR",
            Self::InvalidJson => "BAD_REQUEST",
            Self::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            Self::LegacyUnauthorized => "UNAUTHORIZED",
            Self::SignatureRequired => "SIGNATURE_REQUIRED",
            Self::SigningNotConfigured => "SIGNING_NOT_CONFIGURED",
            Self::Signature(e) => e.code(),
            Self::ActionMismatch { .. } => "ACTION_MISMATCH",
            Self::InProgress => "REQUEST_IN_PROGRESS",
            Self::InvalidOrigin => "INVALID_ORIGIN",
            Self::BadRequest { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. } => code,
            Self::NotImplemented(f) => f.code(),
            Self::Mail(_) => "MAIL_FAILED",
            Self::Store(StoreError::Conflict(_)) => "CONFLICT",
            Self::Store(StoreError::Rejected(_)) => "VALUE_REJECTED",
            Self::Store(_) | Self::Panicked => "INTERNAL_ERROR",
            Self::RateLimited { .. } => "RATE_LIMITED",
        }
    }

    /// The JSON body (none for the legacy 401, as the original).
    pub fn body(&self) -> Option<ErrorBody> {
        match self {
            Self::LegacyUnauthorized => None,
            Self::Store(StoreError::Conflict(what)) => Some(ErrorBody::new(
                self.code(),
                format!("Already exists: {what}"),
            )),
            Self::Store(StoreError::Rejected(what)) => Some(ErrorBody::new(
                self.code(),
                format!("The database refused a value: {what}"),
            )),
            _ => Some(ErrorBody::new(self.code(), self.to_string())),
        }
    }
}

impl IntoResponse for PluginError {
    fn into_response(self) -> Response {
        match &self {
            Self::Store(StoreError::Conflict(_) | StoreError::Rejected(_)) => {}
            Self::Store(e) => tracing::error!(error = %e, "attio plugin: store failed"),
            Self::Mail(e) => tracing::error!(error = %e, "attio plugin: mailer failed"),
            _ => tracing::debug!(error = %self, "attio plugin: request refused"),
        }
        let status = self.status();
        let mut response = match self.body() {
            Some(body) => (status, axum::Json(body)).into_response(),
            None => status.into_response(),
        };
        if let Self::RateLimited {
            limit,
            reset_at,
            retry_after,
        } = self
        {
            let headers = response.headers_mut();
            for (name, value) in [
                ("retry-after", retry_after.to_string()),
                ("x-ratelimit-limit", limit.to_string()),
                ("x-ratelimit-remaining", "0".to_owned()),
                ("x-ratelimit-reset", reset_at.to_string()),
            ] {
                if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
                    headers.insert(name, v);
                }
            }
        }
        response
    }
}

/// Result of plugin handlers.
pub(crate) type PluginResult<T> = Result<T, PluginError>;
