//! What the Attio app shows after an action: one line per action, and a bulk summary.

use serde_json::Value;

use attio_auth_shared::actions::{self as wire, Action};

/// The success line of `action` for the plugin's answer `data`.
pub(super) fn success_message(action: &str, data: &Value) -> String {
    let count = |key: &str| data.get(key).and_then(Value::as_array).map_or(0, Vec::len);
    match action {
        "user-details" => "Loaded the user's details.".into(),
        "update-ban-status" => "Ban status updated.".into(),
        "send-password-reset" => "Password reset email sent.".into(),
        "sessions" => format!("Loaded {} session(s).", count("sessions")),
        "revoke-session" => "Session revoked.".into(),
        "revoke-all-sessions" => "All sessions revoked.".into(),
        "impersonate" => "Impersonation link created; it works once, within 5 minutes.".into(),
        "list-org-invitations" => format!("Loaded {} invitation(s).", count("invitations")),
        "create-org-invitation" => "Invitation sent.".into(),
        "cancel-org-invitation" => "Invitation canceled.".into(),
        "search-users" => format!("Found {} user(s).", count("users")),
        "get-org-roles" => "Loaded the organization roles.".into(),
        "create-user" => "User created.".into(),
        "create-organization" => "Organization created.".into(),
        _ => "Done.".into(),
    }
}

/// The line of a bulk call: `ok_count` of `total` records succeeded.
pub(super) fn summary(action: &str, ok_count: usize, total: usize) -> String {
    if action == wire::RevokeAllSessionsRequest::NAME && ok_count == 1 {
        success_message(action, &Value::Null)
    } else if ok_count == total {
        format!("Done for all {total} records.")
    } else {
        format!(
            "Done for {ok_count} of {total} records; {} failed.",
            total - ok_count
        )
    }
}
