//! The two envelopes a request travels in ([`Signed`], [`Legacy`]) and the bodies every action may answer ([`ErrorBody`], [`SuccessResponse`]).

use super::*;

/// A body of the signed protocol: the action's fields plus `"action": A::NAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signed<A> {
    /// The route segment this body is meant for; must equal the route it arrives at.
    pub action: String,
    /// The action's own fields.
    #[serde(flatten)]
    pub request: A,
}

impl<A: Action> Signed<A> {
    /// Wraps a request, tagging it with its own action name.
    pub fn new(request: A) -> Self {
        Self {
            action: A::NAME.to_owned(),
            request,
        }
    }

    /// Whether the body's `action` tag names the route `A` belongs to.
    pub fn matches_route(&self) -> bool {
        self.action == A::NAME
    }
}

/// A body of the original protocol: the action's fields plus the shared `secret`.
///
/// `Debug` never prints the secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Legacy<A> {
    /// The shared secret, sent in clear in every body (why the signed protocol exists).
    pub secret: String,
    /// The action's own fields.
    #[serde(flatten)]
    pub request: A,
}

impl<A: fmt::Debug> fmt::Debug for Legacy<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Legacy")
            .field("secret", &"[redacted]")
            .field("request", &self.request)
            .finish()
    }
}

/// The JSON error body of the plugin, as the original answers it: `{"message", "code"}`.
///
/// Some of the original's errors carry no `code` (`{"message": "Admin user not found"}`);
/// ours always do, so callers can branch on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A sentence for a person.
    pub message: String,
    /// A stable SCREAMING_SNAKE code (`VALIDATION_ERROR`, `BAD_REQUEST`, `USER_NOT_FOUND`..).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl ErrorBody {
    /// An error body with a code.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: Some(code.into()),
        }
    }
}

/// `{"success": true}`, the original's answer of actions that return nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessResponse {
    /// Always `true` on a 200.
    pub success: bool,
}

impl SuccessResponse {
    /// `{"success": true}`.
    pub const OK: SuccessResponse = SuccessResponse { success: true };
}
