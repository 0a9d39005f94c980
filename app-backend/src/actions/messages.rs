//! What the Attio app shows after an action: the action's line from the shared list
//! ([`ActionInfo::success`](attio_auth_shared::actions::ActionInfo::success)), and a bulk
//! summary.

use serde_json::Value;

use attio_auth_shared::actions::{self as wire, Action};

/// The success line of `action` for the plugin's answer `data`.
pub(super) fn success_message(action: &str, data: &Value) -> String {
    wire::action_info(action).map_or_else(|| "Done.".to_owned(), |i| i.success.render(data))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The lines the Attio app showed when they were written out here, one per action: the
    /// shared list keeps them word for word (a new action needs no row here).
    #[test]
    fn every_app_action_keeps_its_line() {
        let expected = [
            ("user-details", "Loaded the user's details."),
            ("update-ban-status", "Ban status updated."),
            ("send-password-reset", "Password reset email sent."),
            ("sessions", "Loaded 2 session(s)."),
            ("revoke-session", "Session revoked."),
            ("revoke-all-sessions", "All sessions revoked."),
            (
                "impersonate",
                "Impersonation link created; it works once, within 5 minutes.",
            ),
            ("list-org-invitations", "Loaded 2 invitation(s)."),
            ("create-org-invitation", "Invitation sent."),
            ("cancel-org-invitation", "Invitation canceled."),
            ("search-users", "Found 2 user(s)."),
            ("get-org-roles", "Loaded the organization roles."),
            ("create-user", "User created."),
            ("create-organization", "Organization created."),
        ];
        let data = json!({"sessions": [1, 2], "invitations": [1, 2], "users": [1, 2]});
        for (action, line) in expected {
            assert_eq!(success_message(action, &data), line, "{action}");
        }
        assert_eq!(success_message("no-such-action", &data), "Done.");
    }
}
