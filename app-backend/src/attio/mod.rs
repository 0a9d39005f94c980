//! Attio REST API v2 client (`shared/attio/NOTES.md`), rate-aware:
//!
//! - a per-workspace budget of writes and reads per second (Attio documents 25 writes and
//!   100 reads per second), so one busy workspace does not starve the others and we stay
//!   under the limit instead of bouncing off it;
//! - 429 is retried after `Retry-After` (an HTTP date, "usually the following second"; a
//!   number of seconds is accepted too), 5xx and connection failures with exponential
//!   backoff and jitter, up to `max_attempts`. A 429 was not processed, so every method may
//!   retry it; 5xx is retried only for idempotent calls (GET, PUT, DELETE, query).
//!
//! Here: the errors, the budget scope of queue jobs and the credentials. [`AttioClient`] and
//! its call loop are in `client`; its calls by concern in `objects` (objects, attributes,
//! select options), `records`, `webhooks` and `workspace` (the token's workspace, members);
//! `members` holds the member types and their cache.

mod client;
mod members;
mod objects;
mod records;
mod webhooks;
mod workspace;

use std::time::Duration;

use secrecy::SecretString;

pub use client::{AttioClient, AttioStats, backoff, retry_after};
pub use members::{
    MEMBER_CACHE_CAPACITY, MEMBER_CACHE_TTL_DEFAULT, WorkspaceMember, WorkspaceMemberId,
};
pub use objects::AttributeInfo;
pub use records::values_as_arrays;
pub use webhooks::CreatedWebhook;
pub use workspace::TokenInfo;

/// `ATTIO_MAX_RESPONSE_BYTES`' default, for clients made without a configuration.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Why an Attio call failed. Never contains the token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AttioError {
    /// 401/403: the token is refused or lacks a scope.
    #[error("Attio refused the access token ({status}): {message}")]
    Unauthorized {
        /// HTTP status.
        status: u16,
        /// Attio's message.
        message: String,
    },
    /// 404.
    #[error("Attio says not found: {message}")]
    NotFound {
        /// Attio's message.
        message: String,
    },
    /// Another 4xx: Attio's code and message.
    #[error("Attio refused the request ({status} {code}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Attio's `code` (`slug_conflict`, `value_not_found`..).
        code: String,
        /// Attio's message.
        message: String,
    },
    /// Still 429 after every attempt.
    #[error("Attio kept answering 429 (rate limited) after {attempts} attempts")]
    RateLimited {
        /// Attempts made.
        attempts: u32,
    },
    /// 5xx or no answer after every attempt allowed.
    #[error("Attio is unavailable: {message}")]
    Unavailable {
        /// Last status, if any.
        status: Option<u16>,
        /// What happened.
        message: String,
    },
    /// The answer is not the JSON we expect.
    #[error("unexpected answer from Attio: {0}")]
    Decode(String),
    /// The answer is larger than `ATTIO_MAX_RESPONSE_BYTES`; reading stopped there.
    #[error("Attio's answer is larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// (Queue workers only) this workspace's budget is spent for `wait`: the job is put
    /// back for later rather than holding a worker.
    #[error("this workspace's Attio budget is spent for {wait:?}")]
    Busy {
        /// How long until the budget allows the call.
        wait: Duration,
    },
}

tokio::task_local! {
    /// Set around a queue job: the longest a call may wait on the budget or a 429.
    static BUDGET_WAIT_MAX: Duration;
}

/// Run `f` (a queue job) so that its Attio calls answer [`AttioError::Busy`] instead of
/// waiting longer than `max` on the workspace's budget.
pub async fn with_budget_wait_max<F: std::future::Future>(max: Duration, f: F) -> F::Output {
    BUDGET_WAIT_MAX.scope(max, f).await
}

/// The longest a call may wait on the budget, inside [`with_budget_wait_max`].
fn budget_wait_max() -> Option<Duration> {
    BUDGET_WAIT_MAX.try_with(|d| *d).ok()
}

impl AttioError {
    /// Status, code and message for our own JSON answer.
    pub fn parts(&self) -> (axum::http::StatusCode, String, String) {
        use axum::http::StatusCode as S;
        let (status, code) = match self {
            AttioError::Unauthorized { .. } => (S::BAD_GATEWAY, "ATTIO_UNAUTHORIZED"),
            AttioError::NotFound { .. } => (S::BAD_GATEWAY, "ATTIO_NOT_FOUND"),
            AttioError::Api { .. } => (S::BAD_GATEWAY, "ATTIO_ERROR"),
            AttioError::RateLimited { .. } => (S::SERVICE_UNAVAILABLE, "ATTIO_RATE_LIMITED"),
            AttioError::Unavailable { .. } => (S::BAD_GATEWAY, "ATTIO_UNAVAILABLE"),
            AttioError::Decode(_) => (S::BAD_GATEWAY, "ATTIO_BAD_RESPONSE"),
            AttioError::TooLarge { .. } => (S::BAD_GATEWAY, "ATTIO_RESPONSE_TOO_LARGE"),
            AttioError::Busy { .. } => (S::SERVICE_UNAVAILABLE, "ATTIO_RATE_LIMITED"),
        };
        (status, code.to_owned(), self.to_string())
    }

    /// Whether a later attempt may succeed (queue jobs retry these).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AttioError::RateLimited { .. }
                | AttioError::Unavailable { .. }
                | AttioError::Busy { .. }
        )
    }
}

/// Whose budget and which token a call uses.
#[derive(Clone)]
pub struct AttioAuth {
    /// The budget key: the Attio workspace id (or the installation id before it is known).
    pub workspace: String,
    /// The bearer token.
    pub token: SecretString,
}

impl std::fmt::Debug for AttioAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttioAuth")
            .field("workspace", &self.workspace)
            .field("token", &"[redacted]")
            .finish()
    }
}
