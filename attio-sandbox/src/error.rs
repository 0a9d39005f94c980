//! The one error type of the sandbox, answered as Attio's error JSON
//! `{status_code, type, code, message}` (OpenAPI document: every 4xx schema; 401 and 429 bodies
//! from Attio's docs and observed responses, see shared/attio/NOTES.md §2).

use std::time::SystemTime;

use axum::extract::rejection::{
    BytesRejection, FormRejection, JsonRejection, PathRejection, QueryRejection,
};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything that can fail in a request, each variant mapped to Attio's status, `type` and
/// `code` in [`ApiError::parts`]. Messages follow Attio's wording where it is known.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// 404 `not_found`: an object, attribute, record or webhook that does not exist (or a
    /// disabled standard object, which Attio does not serve).
    #[error("{0}")]
    NotFound(String),
    /// 400 `validation_type`: the body does not have the documented shape.
    #[error("{0}")]
    Validation(String),
    /// 400 `value_not_found`: a referenced attribute, option or record does not exist.
    #[error("{0}")]
    ValueNotFound(String),
    /// 400 `missing_value`: a required attribute has no value.
    #[error("{0}")]
    MissingValue(String),
    /// 400 `filter_error`: a query filter or sort Attio would reject.
    #[error("{0}")]
    Filter(String),
    /// 400 `uniqueness_conflict`: a unique attribute value already used by another record.
    #[error("{0}")]
    Uniqueness(String),
    /// 400 `multiple_match_results`: an assert whose matching attribute matches several records.
    #[error("{0}")]
    MultipleMatch(String),
    /// 400 `system_edit_unauthorized`: a write to a non-writable system attribute.
    #[error("{0}")]
    SystemEdit(String),
    /// 413 `validation_type`: the body is larger than the sandbox accepts.
    #[error("{0}")]
    TooLarge(String),
    /// 409 `slug_conflict`: the api_slug is already taken.
    #[error("{0}")]
    SlugConflict(String),
    /// 401 `unauthorized` (type `auth_error`): missing or unknown token.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `insufficient_scopes` (type `auth_error`): the token lacks a scope the operation's
    /// `security` requirement names.
    #[error("{0}")]
    InsufficientScopes(String),
    /// 400 OAuth failure on `/authorize` or `/oauth/token` (type `invalid_request_error`,
    /// code the OAuth 2.0 error name, e.g. `invalid_grant`).
    #[error("{message}")]
    OAuth {
        /// OAuth 2.0 error name (RFC 6749 §5.2).
        code: &'static str,
        /// Human sentence.
        message: String,
    },
    /// 429 `rate_limit_exceeded` with `Retry-After` as an HTTP date.
    #[error("Rate limit exceeded, please try again later")]
    RateLimited {
        /// When the current one-second window ends.
        retry_after: SystemTime,
    },
    /// A failure injected through the control API (a share of 5xx answers, or a
    /// [`crate::FaultRule`]).
    #[error("Injected fault: the sandbox was told to fail this request.")]
    InjectedFault {
        /// The HTTP status to answer (400..=599).
        status: u16,
    },
}

impl ApiError {
    /// HTTP status, Attio `type` and Attio `code` of this error.
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        const IRE: &str = "invalid_request_error";
        match self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, IRE, "not_found"),
            Self::Validation(_) => (StatusCode::BAD_REQUEST, IRE, "validation_type"),
            Self::ValueNotFound(_) => (StatusCode::BAD_REQUEST, IRE, "value_not_found"),
            Self::MissingValue(_) => (StatusCode::BAD_REQUEST, IRE, "missing_value"),
            Self::Filter(_) => (StatusCode::BAD_REQUEST, IRE, "filter_error"),
            Self::Uniqueness(_) => (StatusCode::BAD_REQUEST, IRE, "uniqueness_conflict"),
            Self::MultipleMatch(_) => (StatusCode::BAD_REQUEST, IRE, "multiple_match_results"),
            Self::SystemEdit(_) => (StatusCode::BAD_REQUEST, IRE, "system_edit_unauthorized"),
            Self::SlugConflict(_) => (StatusCode::CONFLICT, IRE, "slug_conflict"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, IRE, "validation_type"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "auth_error", "unauthorized"),
            Self::InsufficientScopes(_) => {
                (StatusCode::FORBIDDEN, "auth_error", "insufficient_scopes")
            }
            Self::OAuth { code, .. } => (StatusCode::BAD_REQUEST, IRE, code),
            Self::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
            ),
            Self::InjectedFault { status } => (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "internal_server_error",
                "internal_server_error",
            ),
        }
    }
}

/// The single place where errors become responses.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, code) = self.parts();
        let body = json!({
            "status_code": status.as_u16(),
            "type": kind,
            "code": code,
            "message": self.to_string(),
        });
        let mut response = (status, axum::Json(body)).into_response();
        if let Self::RateLimited { retry_after } = self
            && let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(retry_after))
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::TooLarge("The request body is too large.".into());
        }
        Self::Validation(format!(
            "Body payload validation error: {}",
            rejection.body_text()
        ))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::Validation(format!(
            "Query parameter validation error: {}",
            rejection.body_text()
        ))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::Validation(format!(
            "Path parameter validation error: {}",
            rejection.body_text()
        ))
    }
}

impl From<FormRejection> for ApiError {
    fn from(rejection: FormRejection) -> Self {
        Self::OAuth {
            code: "invalid_request",
            message: format!("Form body validation error: {}", rejection.body_text()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::TooLarge("The request body is too large.".into());
        }
        Self::Validation(format!(
            "Body payload validation error: {}",
            rejection.body_text()
        ))
    }
}
