//! The shared::actions types against the original plugin's recorded transcripts
//! (copied from `shared/peer/` into `tests/peer/`): every recorded request and 200 response
//! body deserializes into its type and serializes back to the same JSON, and every recorded
//! `VALIDATION_ERROR` message is what `actions::validate` says for the same body.

use attio_auth_shared::actions::{self, Action, Envelope, Legacy};
use serde_json::Value;
use std::path::PathBuf;

fn transcripts() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peer/transcripts");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("transcripts dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.starts_with('_') {
            continue;
        }
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if v.get("request").is_some() {
            out.push((name, v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The action of a transcript: the path's segment after `/attio/`, for POSTs.
fn action_of(t: &Value) -> Option<String> {
    if t["request"]["method"] != "POST" {
        return None;
    }
    let path = t["request"]["path"].as_str()?;
    let seg = path.strip_prefix("/api/auth/attio/")?;
    (!seg.contains('/') && !seg.contains('?')).then(|| seg.to_owned())
}

/// The request body as the original's parser saw it: `None` when empty or without a
/// content type, raw text bodies parsed (a string that is not JSON stays a string).
fn request_body(t: &Value) -> Option<Value> {
    let r = &t["request"];
    r["headers"].get("content-type")?;
    match &r["body"] {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => {
            Some(serde_json::from_str(s).unwrap_or_else(|_| Value::from(s.clone())))
        }
        other => Some(other.clone()),
    }
}

fn roundtrip<A: Action>(name: &str, t: &Value) -> usize {
    let body = request_body(t);
    let req = body.as_ref().unwrap_or(&Value::Null);
    let resp = &t["response"];
    let mut checked = 0;
    if let Some(err) = resp["body"].as_object()
        && err.get("code") == Some(&Value::from("VALIDATION_ERROR"))
    {
        let got = actions::validate::<A>(body.as_ref(), Envelope::Legacy).expect_err(name);
        assert_eq!(Value::from(got.message), err["message"], "{name}");
        return 1;
    }
    if req.is_object() && actions::validate::<A>(Some(req), Envelope::Legacy).is_ok() {
        let parsed: Legacy<A> = serde_json::from_value(req.clone()).expect(name);
        let mut back = serde_json::to_value(&parsed).unwrap();
        // Unknown fields (108 get-org-roles--extra-fields) are accepted and dropped.
        if let (Some(b), Some(r)) = (back.as_object_mut(), req.as_object()) {
            for (k, v) in r {
                if !b.contains_key(k) && k == "extra" {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        // An explicit `null` and an absent optional field mean the same (066 sends
        // `"banReason": null`); compare without the nulls.
        let mut want = req.clone();
        if let Some(w) = want.as_object_mut() {
            w.retain(|_, v| !v.is_null());
        }
        assert_eq!(back, want, "{name}: request round trip");
        checked += 1;
    }
    if resp["status"] == 200 {
        let parsed: A::Response = serde_json::from_value(resp["body"].clone()).expect(name);
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            resp["body"],
            "{name}: response round trip"
        );
        checked += 1;
    }
    if let Some(err) = resp["body"].as_object()
        && resp["status"] != 200
    {
        {
            let parsed: actions::ErrorBody = serde_json::from_value(resp["body"].clone())
                .unwrap_or_else(|e| panic!("{name}: error body {err:?}: {e}"));
            assert_eq!(
                serde_json::to_value(&parsed).unwrap(),
                resp["body"],
                "{name}"
            );
            checked += 1;
        }
    }
    checked
}

fn check(name: &str, action: &str, t: &Value) -> usize {
    use actions::*;
    match action {
        "link" => roundtrip::<LinkRequest>(name, t),
        "unlink" => roundtrip::<UnlinkRequest>(name, t),
        "webhook" => roundtrip::<WebhookRequest>(name, t),
        "user-details" => roundtrip::<UserDetailsRequest>(name, t),
        "update-ban-status" => roundtrip::<UpdateBanStatusRequest>(name, t),
        "send-password-reset" => roundtrip::<SendPasswordResetRequest>(name, t),
        "sessions" => roundtrip::<SessionsRequest>(name, t),
        "revoke-session" => roundtrip::<RevokeSessionRequest>(name, t),
        "revoke-all-sessions" => roundtrip::<RevokeAllSessionsRequest>(name, t),
        "impersonate" => roundtrip::<ImpersonateRequest>(name, t),
        "list-org-invitations" => roundtrip::<ListOrgInvitationsRequest>(name, t),
        "create-org-invitation" => roundtrip::<CreateOrgInvitationRequest>(name, t),
        "cancel-org-invitation" => roundtrip::<CancelOrgInvitationRequest>(name, t),
        "search-users" => roundtrip::<SearchUsersRequest>(name, t),
        "get-org-roles" => roundtrip::<GetOrgRolesRequest>(name, t),
        other => panic!("{name}: no type for action {other}"),
    }
}

#[test]
fn every_transcript_body_round_trips_through_its_type() {
    let mut checked = 0;
    let mut seen = std::collections::BTreeSet::new();
    for (name, t) in transcripts() {
        let Some(action) = action_of(&t) else {
            continue;
        };
        if action == actions::IMPERSONATION_SESSION {
            continue;
        }
        assert!(actions::ALL_ACTIONS.contains(&action.as_str()), "{name}");
        checked += check(&name, &action, &t);
        seen.insert(action);
    }
    assert_eq!(
        seen.len(),
        15,
        "every original action has transcripts: {seen:?}"
    );
    assert!(checked > 150, "checked only {checked} bodies");
}

#[test]
fn impersonation_session_query_parses() {
    let q: actions::ImpersonationSessionQuery =
        serde_json::from_value(serde_json::json!({"token": "W69cX1g3dXMgig6NBlOZvt700Q0AwILx"}))
            .unwrap();
    assert_eq!(q.token, "W69cX1g3dXMgig6NBlOZvt700Q0AwILx");
}

#[test]
fn webhook_transcript_events_parse_or_are_skipped() {
    let mut records = 0;
    for (name, t) in transcripts() {
        if action_of(&t).as_deref() != Some("webhook") || t["response"]["status"] != 200 {
            continue;
        }
        for ev in t["request"]["body"]["events"].as_array().unwrap() {
            match actions::AttioWebhookEvent::from_value(ev) {
                Some(e) => {
                    records += usize::from(e.record_id().is_some());
                    assert_eq!(&serde_json::to_value(&e).unwrap(), ev, "{name}");
                }
                None => assert!(!ev.is_object(), "{name}: {ev}"),
            }
        }
    }
    assert!(records > 15, "{records}");
}
