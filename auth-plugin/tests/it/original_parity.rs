//! Behaviour that must match the original TypeScript plugin (better-auth-attio-plugin
//! 0.3.4), each found by a randomized comparison with it (issue 12, "Defects in ours"), plus
//! the crash and abuse fixes of issue 13 on the plugin side. One test per defect, on SQLite
//! and PostgreSQL.

use crate::common;
use crate::common::{Backend, TestApp, count, exec, snapshot, spawn};
use attio_auth_plugin::AttioPlugin;
use attio_auth_plugin::store::AuthStore;
use serde_json::{Value, json};

fn text_value(value: &str) -> Value {
    json!({
        "active_from": "2026-01-01T00:00:00.000000000Z",
        "active_until": null,
        "created_by_actor": {"type": "workspace-member", "id": "wm-1"},
        "attribute_type": "text",
        "value": value,
    })
}

fn deleted_event(top_level_id: bool, record_id: &str, user_id: &str) -> Value {
    let mut event = json!({
        "event_type": "record.deleted",
        "record": {
            "id": {"workspace_id": "ws", "object_id": "obj-users", "record_id": record_id},
            "values": {
                "user_id": [text_value(user_id)],
                "name": [text_value("From Attio")],
                "primary_email_address": [{
                    "active_until": null, "attribute_type": "email-address",
                    "email_address": "from-attio@example.com",
                }],
            }
        },
        "object": {"id": {"workspace_id": "ws", "object_id": "obj-users"}, "api_slug": "users"},
    });
    if top_level_id {
        event["id"] =
            json!({"workspace_id": "ws", "object_id": "obj-users", "record_id": record_id});
    }
    event
}

/// Defect 2: a `record.deleted` event whose record names an existing user (by `user_id`)
/// but is not linked to it changes nothing: a delete never acts as an edit. A delete of a
/// linked record deletes only that row, whatever user its values name.
pub async fn deleted_record_never_edits(b: Backend) {
    let app = common::spawn_legacy(b).await;
    let before = snapshot(&app).await;
    for (top_level_id, record_id) in [(true, "rec-unlinked"), (false, "rec-unlinked"), (true, "")] {
        let events = json!([deleted_event(top_level_id, record_id, &app.seed.bob)]);
        let r = app
            .call(
                "webhook",
                json!({"webhook_id": "wh-1", "events": events.clone()}),
            )
            .await;
        assert_eq!(
            (r.status, &r.body),
            (200, &json!({"success": true})),
            "{}",
            r.raw
        );
        let r = app
            .legacy(
                "webhook",
                common::LEGACY_SECRET,
                json!({"webhook_id": "wh-1", "events": events}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.raw);
        assert_eq!(snapshot(&app).await, before, "a delete acted as an edit");
    }
    let bob = app.store.user(&app.seed.bob).await.unwrap().unwrap();
    assert_eq!((bob.name.as_str(), bob.attio_id), ("Bob B. Member", None));
    // carol linked to rec-carol: deleting rec-carol deletes carol, never edits bob
    exec(
        &app.store,
        r#"update "user" set "attioId" = 'rec-carol' where "id" = $1"#,
        &[&app.seed.carol],
    )
    .await;
    let r = app
        .call(
            "webhook",
            json!({"webhook_id": "wh-1", "events": [deleted_event(true, "rec-carol", &app.seed.bob)]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(app.store.user(&app.seed.carol).await.unwrap().is_none());
    let bob = app.store.user(&app.seed.bob).await.unwrap().unwrap();
    assert_eq!((bob.name.as_str(), bob.attio_id), ("Bob B. Member", None));
}

/// Sets a user's ban columns directly (as another Better Auth process would have).
async fn set_ban_row(app: &TestApp, user: &str, expires: Option<&str>) {
    let ts = if app.store.is_postgres() {
        "$1::timestamptz"
    } else {
        "$1"
    };
    match expires {
        Some(at) => {
            exec(
                &app.store,
                &format!(
                    r#"update "user" set "banned" = true, "banReason" = 'spam', "banExpires" = {ts} where "id" = $2"#
                ),
                &[at, user],
            )
            .await
        }
        None => {
            exec(
                &app.store,
                r#"update "user" set "banned" = true, "banReason" = 'spam', "banExpires" = null where "id" = $1"#,
                &[user],
            )
            .await
        }
    }
}

/// Defect 1: impersonating a banned user is refused with 403 `USER_BANNED`, writing no
/// session and no verification row.
pub async fn impersonate_refuses_a_banned_user(b: Backend) {
    let app = spawn(b).await;
    let s = app.seed.clone();
    for expires in [None, Some(common::iso(3600))] {
        set_ban_row(&app, &s.carol, expires.as_deref()).await;
        let before = snapshot(&app).await;
        let sessions = count(&app, "session").await;
        let r = app
            .call(
                "impersonate",
                json!({"targetUserId": s.carol, "adminEmail": "alice@example.com"}),
            )
            .await;
        assert_eq!((r.status, r.code()), (403, "USER_BANNED"), "{}", r.raw);
        assert_eq!(count(&app, "session").await, sessions);
        assert_eq!(
            snapshot(&app).await,
            before,
            "a refused impersonation wrote"
        );
    }
}

/// Defect 13: a ban that has run out is no ban: impersonate lifts it in the database and
/// proceeds, as the original's Better Auth hook does.
pub async fn expired_ban_is_lifted_by_impersonate(b: Backend) {
    let app = spawn(b).await;
    let s = app.seed.clone();
    set_ban_row(&app, &s.carol, Some(&common::iso(-60))).await;
    let r = app
        .call(
            "impersonate",
            json!({"targetUserId": s.carol, "adminEmail": "alice@example.com"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let carol = app.store.user(&s.carol).await.unwrap().unwrap();
    assert_eq!(
        (carol.banned, carol.ban_reason, carol.ban_expires),
        (Some(false), None, None),
        "the expired ban is lifted in the database"
    );
    assert_eq!(app.store.sessions(&s.carol).await.unwrap().len(), 1);
}

/// Defect 13: `user-details` and `sessions` see an expired ban as none and lift it.
pub async fn expired_ban_is_lifted_by_user_details_and_sessions(b: Backend) {
    let app = spawn(b).await;
    let s = app.seed.clone();
    set_ban_row(&app, &s.carol, Some(&common::iso(-60))).await;
    let r = app.call("user-details", json!({"userId": s.carol})).await;
    assert_eq!(
        r.body,
        json!({"banned": false, "bannedUntil": null, "banReason": null, "role": "user"})
    );
    let carol = app.store.user(&s.carol).await.unwrap().unwrap();
    assert_eq!((carol.banned, carol.ban_expires), (Some(false), None));
    // sessions
    set_ban_row(&app, &s.bob, Some(&common::iso(-60))).await;
    let r = app.call("sessions", json!({"userId": s.bob})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let bob = app.store.user(&s.bob).await.unwrap().unwrap();
    assert_eq!((bob.banned, bob.ban_expires), (Some(false), None));
    // a ban still in force stays, and user-details says so
    let until = common::iso(3600);
    set_ban_row(&app, &s.bob, Some(&until)).await;
    let r = app.call("sessions", json!({"userId": s.bob})).await;
    assert_eq!(r.status, 200);
    let r = app.call("user-details", json!({"userId": s.bob})).await;
    assert_eq!(
        r.body,
        json!({"banned": true, "bannedUntil": until, "banReason": "spam", "role": "user"})
    );
}

async fn add_users(app: &TestApp, n: usize) {
    for i in 0..n {
        app.store
            .create_user(
                attio_auth_plugin::store::NewUser {
                    id: format!("user{i:028}"),
                    name: format!("User {i}"),
                    email: format!("zoe_{i}@example.org"),
                    email_verified: false,
                    image: None,
                    role: Some("user".to_owned()),
                    attio_id: None,
                    now: common::iso(-10_000 + i64::try_from(i).unwrap()),
                },
                None,
            )
            .await
            .unwrap();
    }
}

/// Defects 3 and 4: `search-users` answers up to 50 users (the original's limit) and takes
/// the search as sent (no trimming).
pub async fn search_users_like_the_original(b: Backend) {
    let app = spawn(b).await;
    add_users(&app, 57).await;
    let r = app.call("search-users", json!({"search": ""})).await;
    assert_eq!(r.body["users"].as_array().unwrap().len(), 50, "{}", r.raw);
    let r = app.call("search-users", json!({"search": "zoe_"})).await;
    assert_eq!(r.body["users"].as_array().unwrap().len(), 50);
    let r = app.call("search-users", json!({"search": " zoe_ "})).await;
    assert_eq!(r.body, json!({"users": []}), "no trimming");
    let r = app.call("search-users", json!({"search": "zoe_56@"})).await;
    assert_eq!(r.body["users"].as_array().unwrap().len(), 1);
}

/// Defects 5 and 12: `list-org-invitations` leaves out expired invitations and lists the
/// latest expiry first, so a resent invitation moves to the top.
pub async fn invitations_listed_like_the_original(b: Backend) {
    let app = spawn(b).await;
    let s = app.seed.clone();
    let invite = |email: &str| json!({"email": email, "role": "member", "organizationId": s.org, "inviterEmail": "alice@example.com"});
    let first = app
        .call("create-org-invitation", invite("first@example.com"))
        .await;
    assert_eq!(first.status, 200, "{}", first.raw);
    let second = app
        .call("create-org-invitation", invite("second@example.com"))
        .await;
    assert_eq!(second.status, 200);
    // an expired one, written as another process would
    app.store
        .create_invitation(attio_auth_plugin::store::InvitationRow {
            id: "expiredInvitationxxxxxxxxxxxxxx".to_owned(),
            organization_id: s.org.clone(),
            email: "late@example.com".to_owned(),
            role: Some("member".to_owned()),
            status: "pending".to_owned(),
            expires_at: common::iso(-60),
            created_at: common::iso(60),
            inviter_id: s.alice.clone(),
            inviter: None,
        })
        .await
        .unwrap();
    let ids = |r: &common::Resp| -> Vec<Value> {
        r.body["invitations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].clone())
            .collect()
    };
    let list = app
        .call("list-org-invitations", json!({"organizationId": s.org}))
        .await;
    assert_eq!(list.body["count"], json!(2), "{}", list.raw);
    assert_eq!(
        ids(&list),
        vec![second.body["id"].clone(), first.body["id"].clone()]
    );
    // resending the first moves it to the top
    let again = app
        .call("create-org-invitation", invite("first@example.com"))
        .await;
    assert_eq!(again.body["resent"], json!(true));
    let list = app
        .call("list-org-invitations", json!({"organizationId": s.org}))
        .await;
    assert_eq!(
        ids(&list),
        vec![first.body["id"].clone(), second.body["id"].clone()]
    );
    // an expired pending invitation is not resent: inviting again makes a new one
    let r = app
        .call("create-org-invitation", invite("late@example.com"))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(r.body.get("resent").is_none(), "{}", r.raw);
    assert_ne!(r.body["id"], json!("expiredInvitationxxxxxxxxxxxxxx"));
}

/// Defect 6: `create-org-invitation` checks in the original's order: the inviter's email is
/// validated with the body, then inviter (404), organization (404), permission (403); an
/// unknown role (ours only) is refused after all of those.
pub async fn create_invitation_checks_in_the_originals_order(b: Backend) {
    let app = spawn(b).await;
    let s = app.seed.clone();
    let before = snapshot(&app).await;
    let inv = |org: &str, inviter: &str, role: &str| json!({"email": "new@example.com", "role": role, "organizationId": org, "inviterEmail": inviter});
    let cases = [
        (
            inv("nope", "not-an-email", "emperor"),
            400,
            "VALIDATION_ERROR",
        ),
        (
            inv("nope", "alice@example.com", "emperor"),
            404,
            "ORGANIZATION_NOT_FOUND",
        ),
        (
            inv("nope", "nobody@example.com", "emperor"),
            404,
            "INVITER_NOT_FOUND",
        ),
        (
            inv(&s.org, "bob@example.com", "emperor"),
            403,
            "INVITER_NOT_ALLOWED",
        ),
        (
            inv(&s.org, "carol@example.com", "emperor"),
            403,
            "INVITER_NOT_ALLOWED",
        ),
        (
            inv(&s.org, "alice@example.com", "emperor"),
            400,
            "INVALID_ROLE",
        ),
    ];
    for (body, status, code) in cases {
        let r = app.call("create-org-invitation", body.clone()).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.raw);
    }
    let r = app
        .call(
            "create-org-invitation",
            inv("nope", "not-an-email", "member"),
        )
        .await;
    assert_eq!(
        r.body["message"],
        json!("[body.inviterEmail] Invalid email address")
    );
    // already a member comes before the role check too
    let r = app
        .call(
            "create-org-invitation",
            json!({"email": "bob@example.com", "role": "emperor", "organizationId": s.org, "inviterEmail": "alice@example.com"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "ALREADY_MEMBER"));
    assert_eq!(snapshot(&app).await, before);
}

/// Defect 11: re-inviting a pending address by another admin records the new inviter.
pub async fn reinvite_records_the_new_inviter(b: Backend) {
    let app = spawn(b).await;
    let s = app.seed.clone();
    // carol becomes an admin of the organization
    let pg = app.store.is_postgres();
    let ts = if pg { "$4::timestamptz" } else { "$4" };
    exec(
        &app.store,
        &format!(
            r#"insert into "member" ("id", "organizationId", "userId", "role", "createdAt") values ($1, $2, $3, 'admin', {ts})"#
        ),
        &["memberCarolXXXXXXXXXXXXXXXXXXXXX", &s.org, &s.carol, &common::iso(-10)],
    )
    .await;
    let invite = |inviter: &str| json!({"email": "dan@example.com", "role": "member", "organizationId": s.org, "inviterEmail": inviter});
    let r = app
        .call("create-org-invitation", invite("alice@example.com"))
        .await;
    assert_eq!(r.body["inviterId"], json!(s.alice), "{}", r.raw);
    let r = app
        .call("create-org-invitation", invite("carol@example.com"))
        .await;
    assert_eq!(
        (r.body["inviterId"].clone(), r.body["resent"].clone()),
        (json!(s.carol), json!(true)),
        "{}",
        r.raw
    );
    let list = app
        .call("list-org-invitations", json!({"organizationId": s.org}))
        .await;
    assert_eq!(list.body["count"], json!(1));
    assert_eq!(list.body["invitations"][0]["inviterId"], json!(s.carol));
    assert_eq!(
        list.body["invitations"][0]["inviter"]["email"],
        json!("carol@example.com")
    );
}

/// Defect 7 and issue 13 item 7: `update-ban-status` reads `banExpires` as the original's
/// `new Date(text)` reads ISO 8601 (`""` is no expiry), refuses only dates beyond what the
/// store holds, saying so, and bounds `banExpiresIn` instead of overflowing.
pub async fn ban_dates_like_the_original(b: Backend) {
    let app = spawn(b).await;
    let s = app.seed.clone();
    let ban = |at: Value| json!({"userId": s.carol, "banned": true, "banExpires": at});
    let r = app.call("update-ban-status", ban(json!(""))).await;
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({"success": true})),
        "{}",
        r.raw
    );
    let carol = app.store.user(&s.carol).await.unwrap().unwrap();
    assert_eq!((carol.banned, carol.ban_expires), (Some(true), None));
    for (text, stored) in [
        ("9000-01-01", "9000-01-01T00:00:00.000Z"),
        ("9000-06-01T12:00:00", "9000-06-01T12:00:00.000Z"),
        ("9000-06-01 12:00:00", "9000-06-01T12:00:00.000Z"),
        ("9000-06-01T12:00:00+02:00", "9000-06-01T10:00:00.000Z"),
        ("+009000-01-01T00:00:00.000Z", "9000-01-01T00:00:00.000Z"),
        ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
    ] {
        let r = app.call("update-ban-status", ban(json!(text))).await;
        assert_eq!(r.status, 200, "{text}: {}", r.raw);
        let d = app.call("user-details", json!({"userId": s.carol})).await;
        assert_eq!(
            (d.body["banned"].clone(), d.body["bannedUntil"].clone()),
            (json!(true), json!(stored)),
            "{text}"
        );
    }
    let before = snapshot(&app).await;
    for (body, words) in [
        (
            ban(json!("+275760-09-13T00:00:00.000Z")),
            "outside the range",
        ),
        (ban(json!("+010000-01-01T00:00:00Z")), "outside the range"),
        (ban(json!("Jan 1 2030")), "ISO 8601"),
        (ban(json!("0")), "ISO 8601"),
        (ban(json!("2030-02-30")), "ISO 8601"),
        (
            json!({"userId": s.carol, "banned": true, "banExpiresIn": 999_999_999_999i64}),
            "banExpiresIn",
        ),
        (
            json!({"userId": s.carol, "banned": true, "banExpiresIn": i64::MAX}),
            "banExpiresIn",
        ),
        (
            json!({"userId": s.carol, "banned": true, "banExpiresIn": 0}),
            "banExpiresIn",
        ),
    ] {
        let r = app.call("update-ban-status", body.clone()).await;
        r.assert_refused(400, "VALIDATION_ERROR", words, &body.to_string());
    }
    assert_eq!(snapshot(&app).await, before, "a refused ban wrote");
    let r = app
        .call(
            "update-ban-status",
            json!({"userId": s.carol, "banned": true, "banExpiresIn": 3600}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
}

fn set_cookies(r: &common::Resp) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

async fn impersonation_token(app: &TestApp, target: &str) -> String {
    let r = app
        .call(
            "impersonate",
            json!({"targetUserId": target, "adminEmail": "alice@example.com"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    r.body["sessionToken"].as_str().unwrap().to_owned()
}

/// Defect 8: the impersonation session is a browser-session cookie (no Max-Age) with
/// Better Auth's `dont_remember` marker, set as the original sets its cookies.
pub async fn impersonation_cookie_ends_with_the_browser(b: Backend) {
    let app = spawn(b).await;
    let token = impersonation_token(&app, &app.seed.bob).await;
    let r = app
        .get(&format!("/attio/impersonation-session?token={token}"), &[])
        .await;
    assert_eq!(
        (r.status, r.headers["location"].to_str().unwrap()),
        (302, "/")
    );
    let session = app
        .store
        .sessions(&app.seed.bob)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.impersonated_by.is_some())
        .unwrap();
    let attrs = "Path=/; HttpOnly; SameSite=Lax";
    assert_eq!(
        set_cookies(&r),
        vec![
            format!("better-auth.admin_session=; Max-Age=0; {attrs}"),
            format!("better-auth.session_token=; Max-Age=0; {attrs}"),
            format!("better-auth.session_data=; Max-Age=0; {attrs}"),
            format!("better-auth.dont_remember=; Max-Age=0; {attrs}"),
            format!("better-auth.session_token={}; {attrs}", session.token),
            format!("better-auth.dont_remember=true; {attrs}"),
        ]
    );
    // signed like Better Auth's when a cookie secret is set; the admin's own session kept
    // in Better Auth's `token:dontRemember` form
    let secret = "peer-better-auth-secret-0123456789abcdef0123456789abcdef";
    let plugin = AttioPlugin::builder()
        .secret(common::SECRET)
        .store(app.store.clone())
        .cookie_secret(secret)
        .build()
        .unwrap();
    let url = common::Caller::serve(plugin).await.url;
    let signed = |value: &str| {
        use base64::Engine;
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(value.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        format!("{value}.{sig}")
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
            .replace(':', "%3A")
    };
    let app = &app;
    let open = |cookie: String| {
        let client = app.client.clone();
        let url = url.clone();
        async move {
            let token = impersonation_token(app, &app.seed.carol).await;
            let resp = client
                .get(format!("{url}/attio/impersonation-session?token={token}"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 302);
            resp.headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<String>>()
        }
    };
    let alice = "aliceTokenxxxxxxxxxxxxxxxxxxxxxx";
    let cookies = open(format!(
        "better-auth.session_token={}; better-auth.dont_remember={}",
        signed(alice),
        signed("true")
    ))
    .await;
    assert_eq!(
        cookies[0],
        format!(
            "better-auth.admin_session={}; Max-Age=604800; {attrs}",
            signed(&format!("{alice}:true"))
        )
    );
    assert!(
        cookies[4].starts_with("better-auth.session_token=")
            && cookies[4].ends_with(&format!("%3D; {attrs}")),
        "{cookies:?}"
    );
    assert_eq!(
        cookies[5],
        format!(
            "better-auth.dont_remember=true.guYAjGQTU1aGcrI5VKbz5j3NPm75PvPHnCTht%2Fo5mV4%3D; {attrs}"
        )
    );
    // a forged admin cookie (right token, wrong signature) keeps nothing
    let forged = signed(alice).replace(".", ".x");
    let cookies = open(format!("better-auth.session_token={forged}")).await;
    assert_eq!(
        cookies[0],
        format!("better-auth.admin_session=; Max-Age=0; {attrs}")
    );
}

/// Defects 9 and 10: the original's redirect codes: an empty token is an unknown one, and
/// a handoff whose session was revoked meanwhile is `invalid_session`.
pub async fn impersonation_session_redirects_like_the_original(b: Backend) {
    let app = spawn(b).await;
    let r = app.get("/attio/impersonation-session?token=", &[]).await;
    assert_eq!(
        (r.status, r.headers["location"].to_str().unwrap()),
        (302, "/?error=invalid_or_used_session")
    );
    assert!(r.headers.get("set-cookie").is_none());
    let r = app.get("/attio/impersonation-session", &[]).await;
    assert_eq!((r.status, r.code()), (400, "VALIDATION_ERROR"));
    let token = impersonation_token(&app, &app.seed.bob).await;
    let r = app
        .call("revoke-all-sessions", json!({"userIds": [app.seed.bob]}))
        .await;
    assert_eq!(r.status, 200);
    let before = snapshot(&app).await;
    let r = app
        .get(&format!("/attio/impersonation-session?token={token}"), &[])
        .await;
    assert_eq!(
        (r.status, r.headers["location"].to_str().unwrap()),
        (302, "/?error=invalid_session")
    );
    assert!(r.headers.get("set-cookie").is_none());
    // the handoff row is consumed, nothing else changes
    let after = snapshot(&app).await;
    assert_eq!(before.len(), after.len() + 1, "only the handoff row went");
    let r = app
        .get(&format!("/attio/impersonation-session?token={token}"), &[])
        .await;
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        "/?error=invalid_or_used_session"
    );
}

/// Issue 13 item 12: the limiter keys on the peer address; `X-Forwarded-For` counts only
/// when the peer is a trusted proxy.
pub async fn impersonation_limiter_keys_on_the_peer(b: Backend) {
    let app = spawn(b).await;
    let build = |trusted: &[&str]| {
        AttioPlugin::builder()
            .secret(common::SECRET)
            .store(app.store.clone())
            .impersonation_rate_limit(3, 3600)
            .trusted_proxies(trusted.iter().copied())
            .build()
            .unwrap()
    };
    let get = |url: String, xff: String| {
        let client = app.client.clone();
        async move {
            client
                .get(format!("{url}/attio/impersonation-session?token=nope"))
                .header("x-forwarded-for", xff)
                .send()
                .await
                .unwrap()
        }
    };
    // untrusted peer: a new X-Forwarded-For each time does not escape the limit
    let url = common::Caller::serve(build(&[])).await.url;
    for i in 0..3 {
        let r = get(url.clone(), format!("198.51.100.{i}")).await;
        assert_eq!(r.status(), 302);
    }
    let r = get(url.clone(), "198.51.100.99".to_owned()).await;
    assert_eq!(r.status(), 429);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    // behind a trusted proxy: the forwarded client is the key
    let url = common::Caller::serve(build(&["127.0.0.0/8"])).await.url;
    for i in 0..5 {
        let r = get(url.clone(), format!("198.51.100.{i}, 127.0.0.2")).await;
        assert_eq!(r.status(), 302, "client {i}");
    }
    for _ in 0..3 {
        assert_eq!(
            get(url.clone(), "203.0.113.5".to_owned()).await.status(),
            302
        );
    }
    assert_eq!(
        get(url.clone(), "203.0.113.5".to_owned()).await.status(),
        429
    );
}

/// A mailer that panics on its first password reset.
struct PanickingMailer(std::sync::atomic::AtomicBool);

#[async_trait::async_trait]
impl attio_auth_plugin::Mailer for PanickingMailer {
    async fn send_password_reset(
        &self,
        _email: attio_auth_plugin::PasswordResetEmail,
    ) -> Result<(), attio_auth_plugin::MailError> {
        if !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
            panic!("mailer bug");
        }
        Ok(())
    }

    async fn send_invitation(
        &self,
        _email: attio_auth_plugin::InvitationEmail,
    ) -> Result<(), attio_auth_plugin::MailError> {
        panic!("mailer bug");
    }
}

/// Issue 13 item 7: a panic in a handler answers 500 JSON and the server keeps serving;
/// a signed request that panicked can be retried with the same id.
pub async fn panics_answer_500_and_the_server_lives(b: Backend) {
    let app = spawn(b).await;
    let plugin = AttioPlugin::builder()
        .secret(common::SECRET)
        .secret(common::LEGACY_SECRET)
        .accept_legacy_body_secret(true)
        .store(app.store.clone())
        .mailer(PanickingMailer(std::sync::atomic::AtomicBool::new(false)))
        .build()
        .unwrap();
    let url = common::Caller::serve(plugin).await.url;
    let body = TestApp::signed_body("send-password-reset", json!({"userId": app.seed.bob}));
    let h = app.sign_headers("msg_panic", common::now(), &body);
    let send = |body: Vec<u8>, h: Vec<(&'static str, String)>, route: &'static str| {
        let client = app.client.clone();
        let url = url.clone();
        async move {
            let mut req = client.post(format!("{url}/attio/{route}")).body(body);
            for (k, v) in h {
                req = req.header(k, v);
            }
            let r = req.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body_json) = send(body.clone(), h.clone(), "send-password-reset").await;
    assert_eq!(status, 500);
    assert_eq!(body_json["code"], json!("INTERNAL_ERROR"));
    // the same id again acts (the panic was forgotten by the replay guard)
    let (status, body_json) = send(body, h, "send-password-reset").await;
    assert_eq!(status, 200, "{body_json}");
    // the router's layer catches the rest (a legacy call)
    let legacy = serde_json::to_vec(&json!({
        "secret": common::LEGACY_SECRET, "email": "x@example.com", "role": "member",
        "organizationId": app.seed.org, "inviterEmail": "alice@example.com"
    }))
    .unwrap();
    let (status, body_json) = send(
        legacy,
        vec![("content-type", "application/json".to_owned())],
        "create-org-invitation",
    )
    .await;
    assert_eq!(
        (status, body_json["code"].clone()),
        (500, json!("INTERNAL_ERROR"))
    );
    let (status, _) = send(
        serde_json::to_vec(&json!({"secret": common::LEGACY_SECRET})).unwrap(),
        vec![("content-type", "application/json".to_owned())],
        "get-org-roles",
    )
    .await;
    assert_eq!(status, 200, "the server still serves");
}

/// A database the original plugin wrote can hold one address in two cases (it compared
/// emails exactly, and created a second account for a mixed-case Attio email). A lookup by
/// email prefers the exact address: the admin `alice@example.com` still acts as herself.
pub async fn an_exact_email_wins_over_a_case_variant(b: Backend) {
    let app = spawn(b).await;
    let s = app.seed.clone();
    app.store
        .create_user(
            attio_auth_plugin::store::NewUser {
                id: "aliceUpperCaseDuplicateAAAAAAAAA".to_owned(),
                name: "Alice Duplicate".to_owned(),
                email: "ALICE@EXAMPLE.COM".to_owned(),
                email_verified: false,
                image: None,
                role: None,
                attio_id: None,
                now: common::iso(-10),
            },
            None,
        )
        .await
        .unwrap();
    let found = app.store.user_by_email("alice@example.com").await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(s.alice.clone()));
    let found = app.store.user_by_email("ALICE@EXAMPLE.COM").await.unwrap();
    assert_eq!(
        found.map(|u| u.id).as_deref(),
        Some("aliceUpperCaseDuplicateAAAAAAAAA")
    );
    let r = app
        .call(
            "impersonate",
            json!({"targetUserId": s.bob, "adminEmail": "alice@example.com"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
}

both!(
    deleted_record_never_edits,
    an_exact_email_wins_over_a_case_variant,
    impersonate_refuses_a_banned_user,
    expired_ban_is_lifted_by_impersonate,
    expired_ban_is_lifted_by_user_details_and_sessions,
    search_users_like_the_original,
    invitations_listed_like_the_original,
    create_invitation_checks_in_the_originals_order,
    reinvite_records_the_new_inviter,
    ban_dates_like_the_original,
    impersonation_cookie_ends_with_the_browser,
    impersonation_session_redirects_like_the_original,
    impersonation_limiter_keys_on_the_peer,
    panics_answer_500_and_the_server_lives,
);
