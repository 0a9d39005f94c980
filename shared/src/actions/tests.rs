use super::*;
use serde_json::json;

#[test]
fn signed_envelope_tags_and_flattens() {
    let body = Signed::new(UserDetailsRequest {
        user_id: "u1".into(),
    });
    let v = serde_json::to_value(&body).unwrap();
    assert_eq!(v, json!({"action": "user-details", "userId": "u1"}));
    let back: Signed<UserDetailsRequest> = serde_json::from_value(v).unwrap();
    assert!(back.matches_route());
    let wrong: Signed<UserDetailsRequest> =
        serde_json::from_value(json!({"action": "sessions", "userId": "u1"})).unwrap();
    assert!(!wrong.matches_route());
}

#[test]
fn legacy_debug_hides_secret() {
    let body = Legacy {
        secret: "attio-test-secret".into(),
        request: GetOrgRolesRequest {},
    };
    assert!(!format!("{body:?}").contains("attio-test-secret"));
    let v = serde_json::to_value(&body).unwrap();
    assert_eq!(v, json!({"secret": "attio-test-secret"}));
}

#[test]
fn validation_messages_are_the_originals() {
    let msg = |v: Option<Value>, env| {
        validate::<LinkRequest>(v.as_ref(), env)
            .err()
            .map(|e| e.message)
    };
    assert_eq!(
        msg(None, Envelope::Legacy).as_deref(),
        Some("[body] Invalid input: expected object, received undefined")
    );
    assert_eq!(
        msg(Some(json!({"webhookUrl": "x"})), Envelope::Legacy).as_deref(),
        Some("[body.secret] Invalid input: expected string, received undefined")
    );
    assert_eq!(
        msg(
            Some(json!({"secret": "s", "webhookUrl": 1})),
            Envelope::Legacy
        )
        .as_deref(),
        Some("[body.webhookUrl] Invalid input: expected string, received number")
    );
    assert_eq!(
        msg(Some(json!({"webhookUrl": "x"})), Envelope::Signed).as_deref(),
        Some("[body.action] Invalid input: expected string, received undefined")
    );
    assert_eq!(
        validate::<CreateOrgInvitationRequest>(
            Some(&json!({"secret": "s", "email": "not-an-email", "role": 5,
                "organizationId": "o", "inviterEmail": "a@b.c"})),
            Envelope::Legacy
        )
        .err()
        .map(|e| e.message)
        .as_deref(),
        Some("[body.email] Invalid email address; [body.role] Invalid input")
    );
    assert!(
        validate::<UpdateBanStatusRequest>(
            Some(&json!({"secret": "s", "userId": "u", "banned": false,
                "banReason": null, "banExpires": null})),
            Envelope::Legacy
        )
        .is_ok()
    );
}

#[test]
fn all_actions_are_distinct() {
    let mut names = ALL_ACTIONS.to_vec();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ALL_ACTIONS.len());
    assert!(!ALL_ACTIONS.contains(&IMPERSONATION_SESSION));
}

#[test]
fn webhook_event_reads_ids() {
    let ev = AttioWebhookEvent::from_value(&json!({
        "event_type": "record.deleted",
        "id": {"workspace_id": "w", "object_id": "o", "record_id": "r"},
        "object": {"api_slug": "users"},
        "recordId": "r", "error": "HTTP 404"
    }))
    .unwrap();
    assert_eq!(ev.object_slug(), Some("users"));
    assert_eq!(ev.record_id(), Some("r"));
    assert_eq!(ev.extra.get("error"), Some(&json!("HTTP 404")));
    assert!(AttioWebhookEvent::from_value(&json!("not-an-object")).is_none());
}

#[test]
fn export_page_size_is_clamped() {
    let mut r = ExportRequest::default();
    assert_eq!(r.page_size(), 100);
    r.limit = Some(0);
    assert_eq!(r.page_size(), 1);
    r.limit = Some(10_000);
    assert_eq!(r.page_size(), 500);
}

#[test]
fn the_action_table_follows_the_one_list() {
    assert_eq!(ACTIONS.len(), ALL_ACTIONS.len());
    for (info, name) in ACTIONS.iter().zip(ALL_ACTIONS) {
        assert_eq!(info.name, *name);
        assert_eq!(action_info(name), Some(info));
    }
    assert_eq!(action_info("nope"), None);
    assert_eq!(action_info(IMPERSONATION_SESSION), None);
    // What the backend forwards from the Attio app, and what it may call in bulk.
    let from_app: Vec<_> = ACTIONS
        .iter()
        .filter(|a| a.from_app())
        .map(|a| a.name)
        .collect();
    assert_eq!(from_app.len(), 14);
    for internal in ["link", "unlink", "webhook", "export", "ping"] {
        assert!(!from_app.contains(&internal), "{internal}");
    }
    let bulk: Vec<_> = ACTIONS
        .iter()
        .filter(|a| a.bulk())
        .map(|a| a.name)
        .collect();
    assert_eq!(
        bulk,
        [
            "user-details",
            "update-ban-status",
            "send-password-reset",
            "sessions",
            "revoke-all-sessions",
            "impersonate",
            "list-org-invitations",
            "create-org-invitation",
        ]
    );
    assert_eq!(
        action_info("impersonate").map(|a| a.app),
        Some(AppCall::PerRecord {
            object: "users",
            id_field: "targetUserId"
        })
    );
    assert_eq!(
        action_info(UpdateBanStatusRequest::NAME).map(|a| a.fields),
        Some(UpdateBanStatusRequest::FIELDS)
    );
}

#[test]
fn success_messages_render_their_counts() {
    for info in ACTIONS {
        let m = info.success;
        assert!(!m.text.trim().is_empty(), "{} has a message", info.name);
        assert_eq!(
            m.count.is_some(),
            m.text.contains("{n}"),
            "{}: `{{n}}` goes with a counted field",
            info.name
        );
    }
    let sessions = action_info("sessions").unwrap().success;
    assert_eq!(
        sessions.render(&json!({"sessions": [{}, {}]})),
        "Loaded 2 session(s)."
    );
    assert_eq!(sessions.render(&Value::Null), "Loaded 0 session(s).");
    assert_eq!(
        action_info("revoke-session")
            .unwrap()
            .success
            .render(&Value::Null),
        "Session revoked."
    );
}
