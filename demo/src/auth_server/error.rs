//! The demo server's errors, answered as Better Auth does: `{message, code}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub(super) enum ApiError {
    Status(StatusCode, &'static str, String),
    Internal(String),
}

impl ApiError {
    /// 400.
    pub(super) fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::Status(StatusCode::BAD_REQUEST, code, message.into())
    }

    /// 403 `FORBIDDEN`.
    pub(super) fn forbidden(message: impl Into<String>) -> Self {
        Self::Status(StatusCode::FORBIDDEN, "FORBIDDEN", message.into())
    }

    /// 404.
    pub(super) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::Status(StatusCode::NOT_FOUND, code, message.into())
    }

    /// 404 `USER_NOT_FOUND`.
    pub(super) fn user_not_found() -> Self {
        Self::not_found("USER_NOT_FOUND", "User not found")
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return Self::Status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "CONFLICT",
                "already exists".into(),
            );
        }
        Self::Internal(e.to_string())
    }
}

impl From<attio_auth_plugin::sync::OutboxError> for ApiError {
    fn from(e: attio_auth_plugin::sync::OutboxError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Status(status, code, message) => {
                (status, Json(json!({"message": message, "code": code}))).into_response()
            }
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "demo auth server error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"message": "internal error", "code": "INTERNAL_SERVER_ERROR"})),
                )
                    .into_response()
            }
        }
    }
}
