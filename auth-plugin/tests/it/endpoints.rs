//! Every plugin endpoint through a real server, on SQLite and on PostgreSQL (one suite,
//! generated for both by `suite!`): valid calls and their effects, and for every endpoint
//! malformed JSON, a missing field, a forged signature, an expired timestamp, a body sent to
//! the wrong route and a replayed id, each refused ones changing nothing in the database.

use crate::common;
use crate::common::{Backend, Opts, TestApp, count, now, snapshot, spawn, spawn_with};
use attio_auth_plugin::store::AuthStore;
use serde_json::{Value, json};

/// A valid call of every action, and the field whose absence makes it invalid.
fn samples(app: &TestApp) -> Vec<(&'static str, Value, &'static str)> {
    let s = &app.seed;
    vec![
        (
            "link",
            json!({"webhookUrl": "http://127.0.0.1:9/events"}),
            "webhookUrl",
        ),
        ("unlink", json!({"webhookId": "nope"}), "webhookId"),
        (
            "webhook",
            json!({"webhook_id": "w1", "events": []}),
            "events",
        ),
        ("user-details", json!({"userId": s.bob}), "userId"),
        (
            "update-ban-status",
            json!({"userId": s.carol, "banned": true, "banReason": "spam"}),
            "banned",
        ),
        ("send-password-reset", json!({"userId": s.bob}), "userId"),
        ("sessions", json!({"userId": s.bob}), "userId"),
        (
            "revoke-session",
            json!({"sessionId": "bobSession2xxxxxxxxxxxxxxxxxxxxx"}),
            "sessionId",
        ),
        (
            "revoke-all-sessions",
            json!({"userIds": [s.carol]}),
            "userIds",
        ),
        (
            "impersonate",
            json!({"targetUserId": s.bob, "adminEmail": "alice@example.com"}),
            "adminEmail",
        ),
        (
            "list-org-invitations",
            json!({"organizationId": s.org}),
            "organizationId",
        ),
        (
            "create-org-invitation",
            json!({"email": "dan@example.com", "role": "member", "organizationId": s.org, "inviterEmail": "alice@example.com"}),
            "email",
        ),
        (
            "cancel-org-invitation",
            json!({"invitationId": "nope"}),
            "invitationId",
        ),
        ("search-users", json!({"search": "example"}), "search"),
        ("get-org-roles", json!({}), "action"),
        (
            "create-user",
            json!({"email": "new@example.com", "name": "New Person"}),
            "email",
        ),
        (
            "create-organization",
            json!({"name": "Globex", "ownerEmail": "bob@example.com"}),
            "name",
        ),
        ("export", json!({"limit": 2}), "action"),
        ("ping", json!({}), "action"),
    ]
}

fn without(v: &Value, field: &str, action: &str) -> Vec<u8> {
    let mut body =
        serde_json::from_slice::<Value>(&TestApp::signed_body(action, v.clone())).unwrap();
    body.as_object_mut().unwrap().remove(field);
    serde_json::to_vec(&body).unwrap()
}

/// Every action reaches its handler and answers what the handler answers to its sample:
/// 200, or the handler's own 404 with its error code where the sample names an unknown id
/// (a route that is missing answers 404 with an empty body, which has no code).
pub async fn every_action_is_routed_and_answers(b: Backend) {
    let app = spawn(b).await;
    for (action, params, _) in samples(&app) {
        let r = app.call(action, params).await;
        let expected = match action {
            "unlink" => (404, "LINK_NOT_FOUND"),
            "cancel-org-invitation" => (404, "INVITATION_NOT_FOUND"),
            _ => (200, ""),
        };
        assert_eq!((r.status, r.code()), expected, "{action}: {}", r.raw);
    }
}

pub async fn bad_requests_change_nothing(b: Backend) {
    let app = spawn(b).await;
    let other = attio_auth_shared::signing::Signer::new(&[
        "whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0xMjM0NTY=",
    ])
    .unwrap();
    for (action, params, missing) in samples(&app) {
        let before = snapshot(&app).await;
        let replay_before = count(&app, "attioReplay").await;
        // malformed JSON
        let body = br#"{"action": "x", oops"#.to_vec();
        let r = app
            .post_raw(
                action,
                body.clone(),
                &app.sign_headers("msg_bad_json", now(), &body),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "BAD_REQUEST"),
            "{action}: {}",
            r.raw
        );
        // missing field
        let body = without(&params, missing, action);
        let r = app
            .post_raw(
                action,
                body.clone(),
                &app.sign_headers(&format!("msg_missing_{action}"), now(), &body),
            )
            .await;
        r.assert_refused(400, "VALIDATION_ERROR", missing, action);
        // forged signature
        let body = TestApp::signed_body(action, params.clone());
        let mut h = app.sign_headers("msg_forged", now(), &body);
        h[3].1 = other.sign("msg_forged", now(), &body);
        let r = app.post_raw(action, body.clone(), &h).await;
        assert_eq!(
            (r.status, r.code()),
            (401, "BAD_SIGNATURE"),
            "{action}: {}",
            r.raw
        );
        // tampered body, signature of the original
        let mut tampered = body.clone();
        tampered.push(b' ');
        let h = app.sign_headers("msg_tampered", now(), &body);
        let r = app.post_raw(action, tampered, &h).await;
        assert_eq!(
            (r.status, r.code()),
            (401, "BAD_SIGNATURE"),
            "{action}: {}",
            r.raw
        );
        // expired timestamp
        let old = now() - 600;
        let r = app
            .post_raw(
                action,
                body.clone(),
                &app.sign_headers("msg_old", old, &body),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (401, "SIGNATURE_EXPIRED"),
            "{action}: {}",
            r.raw
        );
        // body sent to the wrong route (validly signed)
        let wrong = if action == "ping" {
            "get-org-roles"
        } else {
            "ping"
        };
        let r = app
            .post_raw(
                wrong,
                body.clone(),
                &app.sign_headers("msg_wrong_route", now(), &body),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "ACTION_MISMATCH"),
            "{action}: {}",
            r.raw
        );
        // no signature, legacy off
        let r = app
            .legacy(action, common::LEGACY_SECRET, params.clone())
            .await;
        assert_eq!(
            (r.status, r.code()),
            (401, "SIGNATURE_REQUIRED"),
            "{action}: {}",
            r.raw
        );
        // wrong content type
        let r = app
            .post_raw(
                action,
                body.clone(),
                &[
                    ("content-type", "text/plain".to_owned()),
                    ("webhook-id", "msg_ct".to_owned()),
                    ("webhook-timestamp", now().to_string()),
                    ("webhook-signature", app.signer.sign("msg_ct", now(), &body)),
                ],
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (415, "UNSUPPORTED_MEDIA_TYPE"),
            "{action}: {}",
            r.raw
        );
        assert_eq!(
            snapshot(&app).await,
            before,
            "{action}: a refused request changed the database"
        );
        assert_eq!(
            count(&app, "attioReplay").await,
            replay_before,
            "{action}: replay guard touched"
        );
    }
}

pub async fn replayed_ids_answer_once(b: Backend) {
    let app = spawn(b).await;
    for (action, params, _) in samples(&app) {
        let body = TestApp::signed_body(action, params.clone());
        let id = format!("msg_replay_{action}");
        let ts = now();
        let first = app
            .post_raw(action, body.clone(), &app.sign_headers(&id, ts, &body))
            .await;
        let after_first = snapshot(&app).await;
        let mails = app.mailer.sent().len();
        let again = app
            .post_raw(action, body.clone(), &app.sign_headers(&id, ts, &body))
            .await;
        assert_eq!(
            (again.status, &again.body),
            (first.status, &first.body),
            "{action}"
        );
        assert_eq!(
            snapshot(&app).await,
            after_first,
            "{action}: a replay acted again"
        );
        assert_eq!(
            app.mailer.sent().len(),
            mails,
            "{action}: a replay mailed again"
        );
        // same id, other body: 422 and nothing done
        let mut other = params.clone();
        other
            .as_object_mut()
            .unwrap()
            .insert("extra".into(), json!(1));
        let body2 = TestApp::signed_body(action, other);
        let r = app
            .post_raw(action, body2.clone(), &app.sign_headers(&id, now(), &body2))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (422, "IDEMPOTENCY_CONFLICT"),
            "{action}: {}",
            r.raw
        );
        assert_eq!(snapshot(&app).await, after_first, "{action}");
    }
}

pub async fn concurrent_replays_act_once(b: Backend) {
    let app = std::sync::Arc::new(spawn(b).await);
    let body = TestApp::signed_body(
        "create-user",
        json!({"email": "race@example.com", "name": "Race"}),
    );
    let ts = now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let h = app.sign_headers("msg_race", ts, &body);
            app.post_raw("create-user", body, &h).await
        }));
    }
    let mut ok_bodies = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            200 => ok_bodies.push(r.body),
            409 => assert_eq!(r.code(), "REQUEST_IN_PROGRESS", "{}", r.raw),
            other => panic!("{other}: {}", r.raw),
        }
    }
    assert!(!ok_bodies.is_empty());
    assert!(
        ok_bodies.windows(2).all(|w| w[0] == w[1]),
        "repeats answer the stored response"
    );
    assert_eq!(count(&app, "user").await, 4, "created once");
}

pub async fn unknown_users(b: Backend) {
    let app = spawn(b).await;
    let before = snapshot(&app).await;
    let cases = [
        (
            "user-details",
            json!({"userId": "nope"}),
            404,
            "USER_NOT_FOUND",
        ),
        (
            "update-ban-status",
            json!({"userId": "nope", "banned": true}),
            404,
            "USER_NOT_FOUND",
        ),
        (
            "send-password-reset",
            json!({"userId": "nope"}),
            404,
            "USER_NOT_FOUND",
        ),
        (
            "impersonate",
            json!({"targetUserId": "nope", "adminEmail": "alice@example.com"}),
            404,
            "TARGET_NOT_FOUND",
        ),
        (
            "impersonate",
            json!({"targetUserId": app.seed.bob, "adminEmail": "nobody@example.com"}),
            404,
            "ADMIN_NOT_FOUND",
        ),
        (
            "create-org-invitation",
            json!({"email": "x@example.com", "role": "member", "organizationId": app.seed.org, "inviterEmail": "nobody@example.com"}),
            404,
            "INVITER_NOT_FOUND",
        ),
        (
            "create-org-invitation",
            json!({"email": "x@example.com", "role": "member", "organizationId": "nope", "inviterEmail": "alice@example.com"}),
            404,
            "ORGANIZATION_NOT_FOUND",
        ),
        (
            "create-organization",
            json!({"name": "X", "ownerEmail": "nobody@example.com"}),
            404,
            "OWNER_NOT_FOUND",
        ),
        (
            "revoke-session",
            json!({"sessionId": "nope"}),
            404,
            "SESSION_NOT_FOUND",
        ),
        (
            "cancel-org-invitation",
            json!({"invitationId": "nope"}),
            404,
            "INVITATION_NOT_FOUND",
        ),
        (
            "unlink",
            json!({"webhookId": "nope"}),
            404,
            "LINK_NOT_FOUND",
        ),
    ];
    for (action, params, status, code) in cases {
        let r = app.call(action, params).await;
        assert_eq!((r.status, r.code()), (status, code), "{action}: {}", r.raw);
    }
    let r = app.call("sessions", json!({"userId": "nope"})).await;
    assert_eq!(
        r.body,
        json!({"sessions": [], "totalCount": 0, "activeCount": 0})
    );
    assert_eq!(snapshot(&app).await, before);
    assert!(app.mailer.sent().is_empty());
}

pub async fn link_and_unlink(b: Backend) {
    let app = spawn(b).await;
    let r = app
        .call("link", json!({"webhookUrl": "http://127.0.0.1:9/events"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let id = r.body["webhookId"].as_str().unwrap().to_owned();
    // the same URL again answers the same link
    let again = app
        .call("link", json!({"webhookUrl": "http://127.0.0.1:9/events"}))
        .await;
    assert_eq!(again.body["webhookId"], json!(id));
    assert_eq!(count(&app, "attioIntegration").await, 1);
    let r = app.call("link", json!({"webhookUrl": "not a url"})).await;
    assert_eq!((r.status, r.code()), (400, "VALIDATION_ERROR"));
    let r = app.call("unlink", json!({"webhookId": id})).await;
    assert_eq!((r.status, &r.body), (200, &json!({"success": true})));
    assert_eq!(count(&app, "attioIntegration").await, 0);
}

pub async fn user_details_and_ban(b: Backend) {
    let app = spawn(b).await;
    let s = app.seed.clone();
    let r = app.call("user-details", json!({"userId": s.alice})).await;
    assert_eq!(
        r.body,
        json!({"banned": false, "bannedUntil": null, "banReason": null, "role": "admin"})
    );
    assert_eq!(app.store.sessions(&s.bob).await.unwrap().len(), 2);
    let until = common::iso(3600);
    let r = app
        .call(
            "update-ban-status",
            json!({"userId": s.bob, "banned": true, "banReason": "spam", "banExpires": until}),
        )
        .await;
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({"success": true})),
        "{}",
        r.raw
    );
    let r = app.call("user-details", json!({"userId": s.bob})).await;
    // a date stored in whole seconds (D1) comes back without its milliseconds
    let seconds = app.store.date_storage().iter().any(|(k, s)| {
        k == "user.banExpires" && *s == attio_auth_plugin::store::DateStorage::Seconds
    });
    let stored_until = if seconds {
        format!("{}.000Z", &until[..19])
    } else {
        until.clone()
    };
    assert_eq!(
        r.body,
        json!({"banned": true, "bannedUntil": stored_until, "banReason": "spam", "role": "user"})
    );
    // a ban ends the user's sessions
    assert!(app.store.sessions(&s.bob).await.unwrap().is_empty());
    let r = app
        .call(
            "update-ban-status",
            json!({"userId": s.bob, "banned": false}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app.call("user-details", json!({"userId": s.bob})).await;
    assert_eq!(r.body["banned"], json!(false));
    // an unparsable date is refused without writing
    let before = snapshot(&app).await;
    let r = app
        .call(
            "update-ban-status",
            json!({"userId": s.bob, "banned": true, "banExpires": "not-a-date"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "VALIDATION_ERROR"));
    assert_eq!(snapshot(&app).await, before);
    // banExpiresIn
    let r = app
        .call(
            "update-ban-status",
            json!({"userId": s.carol, "banned": true, "banExpiresIn": 60}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app.call("user-details", json!({"userId": s.carol})).await;
    assert!(r.body["bannedUntil"].is_string());
}

pub async fn password_reset(b: Backend) {
    let app = spawn(b).await;
    let r = app
        .call("send-password-reset", json!({"userId": app.seed.bob}))
        .await;
    assert_eq!(
        r.body,
        json!({"success": true, "message": "Password reset email sent successfully"})
    );
    let sent = app.mailer.sent();
    let attio_auth_plugin::SentMail::PasswordReset(mail) = &sent[0] else {
        panic!("{sent:?}")
    };
    assert_eq!(mail.to, "bob@example.com");
    assert_eq!(
        mail.url,
        format!(
            "{}/reset-password/{}?callbackURL=%2Freset-password",
            app.url, mail.token
        )
    );
    // single use
    let id = format!("reset-password:{}", mail.token);
    let now = common::iso(0);
    assert_eq!(
        app.store.consume_verification(&id, &now).await.unwrap(),
        Some(app.seed.bob.clone())
    );
    assert_eq!(
        app.store.consume_verification(&id, &now).await.unwrap(),
        None
    );
    // the Rust host's reset endpoint consumes it through the plugin, once
    let r = app
        .call("send-password-reset", json!({"userId": app.seed.carol}))
        .await;
    assert_eq!(r.status, 200);
    let sent = app.mailer.sent();
    let attio_auth_plugin::SentMail::PasswordReset(mail) = &sent[1] else {
        panic!("{sent:?}")
    };
    assert_eq!(
        app.plugin
            .consume_password_reset(&mail.token)
            .await
            .unwrap(),
        Some(app.seed.carol.clone())
    );
    assert_eq!(
        app.plugin
            .consume_password_reset(&mail.token)
            .await
            .unwrap(),
        None
    );
    // expired tokens do not work
    app.store
        .create_verification("reset-password:old", &app.seed.bob, &common::iso(-1), &now)
        .await
        .unwrap();
    assert_eq!(
        app.store
            .consume_verification("reset-password:old", &now)
            .await
            .unwrap(),
        None
    );
}

pub async fn sessions_by_id_never_token(b: Backend) {
    let app = spawn_with(
        b,
        Opts {
            legacy: true,
            ..Opts::default()
        },
    )
    .await;
    let s = app.seed.clone();
    let r = app.call("sessions", json!({"userId": s.bob})).await;
    assert_eq!(r.body["totalCount"], json!(2));
    assert_eq!(r.body["activeCount"], json!(2));
    let first = &r.body["sessions"][0];
    assert!(
        first.get("token").is_none(),
        "signed callers never see tokens: {first}"
    );
    assert_eq!(
        first["id"],
        json!("bobSession2xxxxxxxxxxxxxxxxxxxxx"),
        "newest first"
    );
    assert_eq!(first["ipAddress"], json!(""));
    assert_eq!(first["userAgent"], json!(""));
    assert_eq!(first["activeOrganizationId"], json!(null));
    // the legacy protocol (original Attio app) gets tokens and revokes by token
    let r = app
        .legacy("sessions", common::LEGACY_SECRET, json!({"userId": s.bob}))
        .await;
    assert_eq!(r.body["sessions"][1]["token"], json!(s.bob_session_token));
    let r = app
        .legacy(
            "revoke-session",
            common::LEGACY_SECRET,
            json!({"sessionToken": s.bob_session_token}),
        )
        .await;
    assert_eq!(r.status, 200);
    // signed callers revoke by id, not by token
    let r = app
        .call(
            "revoke-session",
            json!({"sessionToken": "bobToken2xxxxxxxxxxxxxxxxxxxxxxx"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "SESSION_ID_REQUIRED"));
    let r = app
        .call(
            "revoke-session",
            json!({"sessionId": "bobSession2xxxxxxxxxxxxxxxxxxxxx"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(app.store.sessions(&s.bob).await.unwrap().is_empty());
    let r = app
        .call("revoke-all-sessions", json!({"userIds": [s.alice, "nope"]}))
        .await;
    assert_eq!(r.body, json!({"success": true}));
    assert!(app.store.sessions(&s.alice).await.unwrap().is_empty());
}

pub async fn impersonation(b: Backend) {
    let app = spawn(b).await;
    let s = app.seed.clone();
    // refusals
    let r = app
        .call(
            "impersonate",
            json!({"targetUserId": s.alice, "adminEmail": "bob@example.com"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "NOT_ALLOWED_TO_IMPERSONATE"));
    let r = app
        .call(
            "impersonate",
            json!({"targetUserId": s.alice, "adminEmail": "alice@example.com"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "CANNOT_IMPERSONATE_ADMIN"));
    // a link, case-insensitive admin email
    let r = app
        .call(
            "impersonate",
            json!({"targetUserId": s.bob, "adminEmail": "Alice@Example.com"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let token = r.body["sessionToken"].as_str().unwrap().to_owned();
    assert_eq!(
        r.body["url"],
        json!(format!(
            "{}/attio/impersonation-session?token={token}",
            app.url
        ))
    );
    let sessions = app.store.sessions(&s.bob).await.unwrap();
    let imp = sessions
        .iter()
        .find(|x| x.impersonated_by.is_some())
        .unwrap();
    assert_eq!(imp.impersonated_by.as_deref(), Some(s.alice.as_str()));
    let listed = app.call("sessions", json!({"userId": s.bob})).await;
    assert_eq!(
        listed.body["sessions"][0]["impersonatedBy"],
        json!("Alice Admin")
    );
    // opened once: cookie and redirect; the admin's own session kept
    let r = app
        .get(
            &format!("/attio/impersonation-session?token={token}"),
            &[
                (
                    "cookie",
                    "better-auth.session_token=aliceTokenxxxxxxxxxxxxxxxxxxxxxx".to_owned(),
                ),
                ("user-agent", "PeerBrowser/1.0".to_owned()),
                ("x-forwarded-for", "198.51.100.23, 10.0.0.1".to_owned()),
            ],
        )
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers["location"], "/");
    let cookies: Vec<_> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with(&format!("better-auth.session_token={}", imp.token))),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("better-auth.admin_session=aliceToken")),
        "{cookies:?}"
    );
    let taken = app.store.sessions(&s.bob).await.unwrap();
    let taken = taken.iter().find(|x| x.id == imp.id).unwrap();
    assert_eq!(taken.user_agent.as_deref(), Some("PeerBrowser/1.0"));
    assert_eq!(taken.ip_address.as_deref(), Some("198.51.100.23"));
    // a second time: refused
    let r = app
        .get(&format!("/attio/impersonation-session?token={token}"), &[])
        .await;
    assert_eq!(
        (r.status, r.headers["location"].to_str().unwrap()),
        (302, "/?error=invalid_or_used_session")
    );
    assert!(r.headers.get("set-cookie").is_none());
    // an expired link does not work either
    app.store
        .create_verification(
            "attio-impersonation:expiredxxxxxxxxxxxxxxxxxxxxxxxxx",
            "aliceTokenxxxxxxxxxxxxxxxxxxxxxx",
            &common::iso(-1),
            &common::iso(-301),
        )
        .await
        .unwrap();
    let r = app
        .get(
            "/attio/impersonation-session?token=expiredxxxxxxxxxxxxxxxxxxxxxxxxx",
            &[],
        )
        .await;
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        "/?error=invalid_or_used_session"
    );
    let r = app.get("/attio/impersonation-session", &[]).await;
    assert_eq!((r.status, r.code()), (400, "VALIDATION_ERROR"));
}

pub async fn invitations(b: Backend) {
    let app = spawn(b).await;
    let s = app.seed.clone();
    let inv = json!({"email": "Dan@Example.com", "role": "member", "organizationId": s.org, "inviterEmail": "ALICE@example.com"});
    let r = app.call("create-org-invitation", inv.clone()).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["email"], json!("dan@example.com"));
    assert_eq!(r.body["status"], json!("pending"));
    assert!(r.body.get("resent").is_none());
    let id = r.body["id"].clone();
    // re-inviting resends instead of duplicating
    let r = app.call("create-org-invitation", inv.clone()).await;
    assert_eq!(
        (r.body["id"].clone(), r.body["resent"].clone()),
        (id.clone(), json!(true))
    );
    assert_eq!(app.mailer.sent().len(), 2);
    let list = app
        .call("list-org-invitations", json!({"organizationId": s.org}))
        .await;
    assert_eq!(list.body["count"], json!(1));
    assert_eq!(
        list.body["invitations"][0]["inviter"],
        json!({"id": s.alice, "name": "Alice Admin", "email": "alice@example.com"})
    );
    // permissions
    let r = app.call("create-org-invitation", json!({"email": "e@example.com", "role": "member", "organizationId": s.org, "inviterEmail": "bob@example.com"})).await;
    assert_eq!((r.status, r.code()), (403, "INVITER_NOT_ALLOWED"));
    let r = app.call("create-org-invitation", json!({"email": "bob@example.com", "role": "member", "organizationId": s.org, "inviterEmail": "alice@example.com"})).await;
    assert_eq!((r.status, r.code()), (400, "ALREADY_MEMBER"));
    let r = app.call("create-org-invitation", json!({"email": "f@example.com", "role": ["member", "admin"], "organizationId": s.org, "inviterEmail": "alice@example.com"})).await;
    assert_eq!(r.body["role"], json!("member,admin"));
    let r = app.call("create-org-invitation", json!({"email": "g@example.com", "role": "emperor", "organizationId": s.org, "inviterEmail": "alice@example.com"})).await;
    assert_eq!((r.status, r.code()), (400, "INVALID_ROLE"));
    // cancel
    let r = app
        .call("cancel-org-invitation", json!({"invitationId": id}))
        .await;
    assert_eq!(r.body, json!({"success": true}));
    let list = app
        .call("list-org-invitations", json!({"organizationId": s.org}))
        .await;
    assert!(
        list.body["invitations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"] != id),
        "canceled invitations are not listed: {}",
        list.raw
    );
    let r = app.call("get-org-roles", json!({})).await;
    assert_eq!(r.body, json!({"roles": ["member", "admin", "owner"]}));
}

pub async fn search_users_escapes_wildcards(b: Backend) {
    let app = spawn(b).await;
    let r = app
        .call("search-users", json!({"search": "EXAMPLE.com"}))
        .await;
    assert_eq!(r.body["users"].as_array().unwrap().len(), 3);
    assert_eq!(
        r.body["users"][0]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        vec!["email", "id", "image", "name"]
    );
    let r = app.call("search-users", json!({"search": "%"})).await;
    assert_eq!(r.body, json!({"users": []}));
    let r = app.call("search-users", json!({"search": "_ob"})).await;
    assert_eq!(r.body, json!({"users": []}));
    let r = app.call("search-users", json!({"search": "bob@"})).await;
    assert_eq!(r.body["users"][0]["id"], json!(app.seed.bob));
}

pub async fn create_user_and_organization(b: Backend) {
    let app = spawn(b).await;
    let r = app
        .call(
            "create-user",
            json!({"email": "New@Example.com", "name": "New Person", "attioId": "rec-1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let u = &r.body["user"];
    assert_eq!(
        (u["email"].clone(), u["role"].clone(), u["attioId"].clone()),
        (json!("new@example.com"), json!("user"), json!("rec-1"))
    );
    assert_eq!(u["id"].as_str().unwrap().len(), 32);
    let r = app
        .call(
            "create-user",
            json!({"email": "new@example.com", "name": "Again"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "USER_EXISTS"));
    let r = app
        .call("create-user", json!({"email": "not-an-email", "name": "X"}))
        .await;
    assert_eq!((r.status, r.code()), (400, "VALIDATION_ERROR"));
    let r = app
        .call(
            "create-organization",
            json!({"name": "Globex Inc", "ownerEmail": "bob@example.com", "attioId": "ws-1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let o = &r.body["organization"];
    assert_eq!(o["slug"], json!("globex-inc"));
    assert_eq!(o["members"][0]["userId"], json!(app.seed.bob));
    assert_eq!(o["members"][0]["role"], json!("owner"));
    let r = app
        .call("create-organization", json!({"name": "Globex Inc"}))
        .await;
    assert_eq!((r.status, r.code()), (409, "ORGANIZATION_EXISTS"));
}

/// How the rows the plugin writes are stored: a new organization's, member's and
/// invitation's `updatedAt` holds the creation time where the column is NOT NULL and null
/// where it is nullable (as Better Auth writes it); on the D1 shapes every date the plugin
/// writes is an integer of seconds (or milliseconds), read back as ISO text.
pub async fn stored_dates_and_updated_at(b: Backend) {
    let app = spawn(b).await;
    let r = app
        .call(
            "create-organization",
            json!({"name": "Initech", "ownerEmail": "bob@example.com"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let org_id = r.body["organization"]["id"].as_str().unwrap().to_owned();
    let r = app.call("create-org-invitation", json!({"email": "z@example.com", "role": "member", "organizationId": org_id, "inviterEmail": "bob@example.com"})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = app
        .call(
            "create-user",
            json!({"email": "dates@example.com", "name": "Dates"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let snake = app.store.naming() == attio_auth_plugin::store::ColumnNaming::SnakeCase;
    let key = |camel: &str| {
        if snake {
            camel
                .chars()
                .flat_map(|c| {
                    if c.is_ascii_uppercase() {
                        vec!['_', c.to_ascii_lowercase()]
                    } else {
                        vec![c]
                    }
                })
                .collect()
        } else {
            camel.to_owned()
        }
    };
    let row = |rows: Vec<String>, field: &str, value: &str| -> serde_json::Map<String, Value> {
        rows.iter()
            .map(|r| serde_json::from_str::<Value>(r).unwrap())
            .find(|r| r[key(field).as_str()] == json!(value))
            .and_then(|r| r.as_object().cloned())
            .unwrap_or_else(|| panic!("no row with {field} = {value}"))
    };
    let org = row(
        common::table_rows(&app, "organization").await,
        "name",
        "Initech",
    );
    let member = row(
        common::table_rows(&app, "member").await,
        "organizationId",
        &org_id,
    );
    let invitation = row(
        common::table_rows(&app, "invitation").await,
        "email",
        "z@example.com",
    );
    let user = row(
        common::table_rows(&app, "user").await,
        "email",
        "dates@example.com",
    );
    for (table, r) in [
        ("organization", &org),
        ("member", &member),
        ("invitation", &invitation),
    ] {
        let updated = r.get(&key("updatedAt"));
        match b {
            Backend::SqliteUpdatedAtNotNull | Backend::SqliteD1 | Backend::SqliteD1Millis => {
                assert_eq!(
                    updated,
                    r.get(&key("createdAt")),
                    "{table}: the creation time in a NOT NULL updatedAt"
                )
            }
            Backend::PostgresUpdatedAtNullable => {
                assert_eq!(updated, Some(&Value::Null), "{table}: null, as Better Auth")
            }
            _ => assert_eq!(updated, None, "{table}: no updatedAt column"),
        }
    }
    if matches!(b, Backend::SqliteD1 | Backend::SqliteD1Millis) {
        let unit = if b == Backend::SqliteD1Millis {
            1000
        } else {
            1
        };
        let now = now();
        for (what, v) in [
            ("user.created_at", &user["created_at"]),
            ("user.updated_at", &user["updated_at"]),
            ("organization.created_at", &org["created_at"]),
            ("member.created_at", &member["created_at"]),
            ("invitation.created_at", &invitation["created_at"]),
        ] {
            let secs = v
                .as_i64()
                .unwrap_or_else(|| panic!("{what}: {v} is no integer"))
                / unit;
            assert!(
                (now - 60..=now + 60).contains(&secs),
                "{what}: {secs} is not now in seconds"
            );
        }
        let expires = invitation["expires_at"].as_i64().unwrap() / unit;
        assert!(
            expires > now + 3600,
            "invitation.expires_at in seconds: {expires}"
        );
        // read back as ISO text
        let u = app
            .store
            .user_by_email("dates@example.com")
            .await
            .unwrap()
            .unwrap();
        let created = u.created_at.as_str();
        assert_eq!(created.len(), 24, "{created}");
        if b == Backend::SqliteD1 {
            assert!(created.ends_with(".000Z"), "whole seconds: {created}");
        }
        let unit_storage = if unit == 1 {
            attio_auth_plugin::store::DateStorage::Seconds
        } else {
            attio_auth_plugin::store::DateStorage::Millis
        };
        let detected = app.store.date_storage();
        assert_eq!(
            detected.len(),
            16,
            "every date column the store touches: {detected:?}"
        );
        assert!(
            detected.iter().all(|(_, s)| *s == unit_storage),
            "every date column detected in its unit: {detected:?}"
        );
    }
}

pub async fn export_pages_through_everything(b: Backend) {
    let app = spawn(b).await;
    let mut cursor: Option<String> = None;
    let (mut users, mut orgs, mut pages) = (Vec::new(), Vec::new(), 0);
    loop {
        let mut p = json!({"limit": 2});
        if let Some(c) = &cursor {
            p["cursor"] = json!(c);
        }
        let r = app.call("export", p).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        users.extend(
            r.body["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_owned()),
        );
        orgs.extend(r.body["organizations"].as_array().unwrap().iter().cloned());
        pages += 1;
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10);
    }
    let mut want = vec![
        app.seed.alice.clone(),
        app.seed.bob.clone(),
        app.seed.carol.clone(),
    ];
    want.sort();
    assert_eq!(users, want);
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["members"].as_array().unwrap().len(), 2);
    let r = app.call("export", json!({"cursor": "zz"})).await;
    assert_eq!((r.status, r.code()), (400, "INVALID_CURSOR"));
}

pub async fn ping_reports_features(b: Backend) {
    let app = spawn(b).await;
    let r = app.call("ping", json!({})).await;
    assert_eq!(r.body["ok"], json!(true));
    assert_eq!(r.body["version"], json!(env!("CARGO_PKG_VERSION")));
    assert_eq!(r.body["features"]["organizations"], json!(true));
    assert_eq!(r.body["features"]["mailer"], json!(true));
    assert_eq!(r.body["features"]["legacyProtocol"], json!(false));
}

pub async fn missing_features_answer_501(b: Backend) {
    let app = spawn_with(
        b,
        Opts {
            organizations: false,
            mailer: false,
            ..Opts::default()
        },
    )
    .await;
    for (action, params) in [
        ("get-org-roles", json!({})),
        ("list-org-invitations", json!({"organizationId": "x"})),
        ("create-organization", json!({"name": "X"})),
        ("send-password-reset", json!({"userId": app.seed.bob})),
    ] {
        let r = app.call(action, params).await;
        assert_eq!(r.status, 501, "{action}: {}", r.raw);
        assert!(
            r.code().ends_with("NOT_ENABLED") || r.code() == "MAILER_NOT_CONFIGURED",
            "{}",
            r.raw
        );
    }
    let r = app.call("ping", json!({})).await;
    assert_eq!(r.body["features"]["organizations"], json!(false));
    // users still work
    let r = app
        .call("user-details", json!({"userId": app.seed.bob}))
        .await;
    assert_eq!(r.status, 200);
}

pub async fn legacy_protocol(b: Backend) {
    let app = spawn_with(
        b,
        Opts {
            legacy: true,
            ..Opts::default()
        },
    )
    .await;
    let before = snapshot(&app).await;
    let r = app.legacy("get-org-roles", "wrong-secret", json!({})).await;
    assert_eq!((r.status, r.raw.as_str()), (401, ""));
    let r = app
        .legacy("get-org-roles", " attio-test-secret", json!({}))
        .await;
    assert_eq!(r.status, 401);
    // validation comes before the secret, as the original
    let r = app
        .legacy("user-details", "wrong-secret", json!({"userId": null}))
        .await;
    assert_eq!(
        r.body,
        json!({"message": "[body.userId] Invalid input: expected string, received null", "code": "VALIDATION_ERROR"})
    );
    let r = app
        .legacy(
            "update-ban-status",
            "wrong-secret",
            json!({"userId": app.seed.bob, "banned": true}),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(snapshot(&app).await, before);
    let r = app
        .legacy("get-org-roles", common::LEGACY_SECRET, json!({}))
        .await;
    assert_eq!(r.body, json!({"roles": ["member", "admin", "owner"]}));
    // the whsec_ secret also works as a body secret
    let r = app.legacy("get-org-roles", common::SECRET, json!({})).await;
    assert_eq!(r.status, 200);
    // a legacy body naming another action is refused
    let r = app
        .legacy(
            "get-org-roles",
            common::LEGACY_SECRET,
            json!({"action": "ping"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "ACTION_MISMATCH"));
    // GET on an action route: 404 like the original
    let r = app.get("/attio/link", &[]).await;
    assert_eq!(r.status, 404);
}

pub async fn snake_case_database(b: Backend) {
    let app = spawn_with(
        b,
        Opts {
            naming: attio_auth_plugin::store::ColumnNaming::SnakeCase,
            ..Opts::default()
        },
    )
    .await;
    let r = app
        .call("user-details", json!({"userId": app.seed.alice}))
        .await;
    assert_eq!(r.body["role"], json!("admin"), "{}", r.raw);
    let r = app
        .call(
            "update-ban-status",
            json!({"userId": app.seed.bob, "banned": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = app.call("sessions", json!({"userId": app.seed.bob})).await;
    assert_eq!(r.body["totalCount"], json!(0));
    let r = app
        .call("link", json!({"webhookUrl": "http://127.0.0.1:9/e"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = app.call("create-org-invitation", json!({"email": "z@example.com", "role": "member", "organizationId": app.seed.org, "inviterEmail": "alice@example.com"})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = app.call("export", json!({})).await;
    assert_eq!(
        r.body["organizations"][0]["members"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{}",
        r.raw
    );
}

every!(
    every_action_is_routed_and_answers,
    bad_requests_change_nothing,
    replayed_ids_answer_once,
    concurrent_replays_act_once,
    unknown_users,
    link_and_unlink,
    user_details_and_ban,
    password_reset,
    sessions_by_id_never_token,
    impersonation,
    invitations,
    search_users_escapes_wildcards,
    create_user_and_organization,
    stored_dates_and_updated_at,
    export_pages_through_everything,
    ping_reports_features,
    missing_features_answer_501,
    legacy_protocol,
    snake_case_database,
);
