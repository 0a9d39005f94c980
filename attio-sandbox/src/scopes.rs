//! Per-token scopes. Every operation of Attio's OpenAPI document names the scopes it needs
//! in its `security` requirement (e.g. `POST /v2/webhooks`: `webhook:read-write`); a token
//! carries only the scopes ticked for it (API tokens) or set in the app's settings (OAuth).
//! A call that needs a scope the token lacks is answered 403 `insufficient_scopes`.

use axum::http::Method;

/// Every scope of the spec's `components.securitySchemes.oauth2` at `read-write`: what a
/// sandbox token has unless it was created with a narrower list.
pub(crate) const ALL: &[&str] = &[
    "user_management:read-write",
    "record_permission:read-write",
    "object_configuration:read-write",
    "list_entry:read-write",
    "list_configuration:read-write",
    "public_collection:read-write",
    "private_collection:read-write",
    "comment:read-write",
    "task:read-write",
    "note:read-write",
    "meeting:read-write",
    "call_recording:read-write",
    "webhook:read-write",
    "file:read-write",
    "scim_management:read-write",
];

/// Whether `scope` is one the spec defines (`<name>:read` or `<name>:read-write`).
pub(crate) fn is_known(scope: &str) -> bool {
    let Some((name, level)) = scope.split_once(':') else {
        return false;
    };
    matches!(level, "read" | "read-write")
        && ALL
            .iter()
            .any(|s| s.split_once(':').is_some_and(|(n, _)| n == name))
}

/// The scopes the spec's `security` names for an operation of the routes the sandbox
/// serves (`/v2/self` needs none).
pub(crate) fn required(method: &Method, path: &str) -> &'static [&'static str] {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let write = *method != Method::GET && *method != Method::HEAD;
    match segs.as_slice() {
        ["v2", "objects"] | ["v2", "objects", _] => {
            if write {
                &["object_configuration:read-write"]
            } else {
                &["object_configuration:read"]
            }
        }
        // Attributes and select options: reads need `:read`, creating/updating needs
        // `:read-write` (spec: "To create an attribute on an object, you must also have the
        // object_configuration:read-write scope").
        ["v2", "objects", _, "attributes", ..] => {
            if write {
                &["object_configuration:read-write"]
            } else {
                &["object_configuration:read"]
            }
        }
        ["v2", "objects", _, "records", "query"] => {
            &["record_permission:read", "object_configuration:read"]
        }
        ["v2", "objects", _, "records", ..] => {
            if write {
                &["record_permission:read-write", "object_configuration:read"]
            } else {
                &["record_permission:read", "object_configuration:read"]
            }
        }
        ["v2", "webhooks", ..] => {
            if write {
                &["webhook:read-write"]
            } else {
                &["webhook:read"]
            }
        }
        _ => &[],
    }
}

/// Whether `granted` covers `needed`: `x:read-write` also grants `x:read`.
pub(crate) fn covers(granted: &[String], needed: &str) -> bool {
    granted.iter().any(|g| {
        g == needed
            || needed
                .strip_suffix(":read")
                .is_some_and(|name| g.strip_suffix(":read-write") == Some(name))
    })
}

/// The scopes of `needed` not covered by `granted`.
pub(crate) fn missing(granted: &[String], needed: &[&str]) -> Vec<String> {
    needed
        .iter()
        .filter(|n| !covers(granted, n))
        .map(|n| (*n).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_write_covers_read() {
        let granted = vec!["webhook:read-write".to_string()];
        assert!(covers(&granted, "webhook:read"));
        assert!(covers(&granted, "webhook:read-write"));
        assert!(!covers(&granted, "record_permission:read"));
        let read_only = vec!["webhook:read".to_string()];
        assert!(!covers(&read_only, "webhook:read-write"));
    }

    #[test]
    fn routes_need_the_spec_scopes() {
        assert_eq!(
            required(&Method::POST, "/v2/objects/users/attributes"),
            &["object_configuration:read-write"]
        );
        assert_eq!(
            required(&Method::POST, "/v2/objects/users/records/query"),
            &["record_permission:read", "object_configuration:read"]
        );
        assert_eq!(
            required(&Method::PUT, "/v2/objects/users/records"),
            &["record_permission:read-write", "object_configuration:read"]
        );
        assert_eq!(required(&Method::GET, "/v2/self"), &[] as &[&str]);
        assert!(is_known("webhook:read"));
        assert!(!is_known("webhook:write"));
        assert!(!is_known("nothing:read"));
    }
}
