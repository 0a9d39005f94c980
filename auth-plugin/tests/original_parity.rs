//! Behaviour that must match the original TypeScript plugin (better-auth-attio-plugin
//! 0.3.4), each found by a randomized comparison with it (issue 12, "Defects in ours"), plus
//! the crash and abuse fixes of issue 13 on the plugin side. One test per defect, on SQLite
//! and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use attio_auth_plugin::store::AuthStore;
use common::{Backend, TestApp, count, exec, snapshot, spawn};
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

/// Defect 2: a `record.deleted` event whose record names an existing user (by `user_id`)
/// but is not linked to it changes nothing: a delete never acts as an edit.
pub async fn deleted_record_never_edits(b: Backend) {
    let app = spawn(b).await;
    let before = snapshot(&app).await;
    let event = json!({
        "event_type": "record.deleted",
        "id": {"workspace_id": "ws", "object_id": "obj-users", "record_id": "rec-unlinked"},
        "record": {
            "id": {"workspace_id": "ws", "object_id": "obj-users", "record_id": "rec-unlinked"},
            "values": {
                "user_id": [text_value(&app.seed.bob)],
                "name": [text_value("From Attio")],
            }
        },
        "object": {"id": {"workspace_id": "ws", "object_id": "obj-users"}, "api_slug": "users"},
    });
    let r = app
        .call(
            "webhook",
            json!({"webhook_id": "wh-1", "events": [event.clone()]}),
        )
        .await;
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({"success": true})),
        "{}",
        r.raw
    );
    // the same through the legacy envelope
    assert_eq!(snapshot(&app).await, before, "a delete acted as an edit");
    let bob = app.store.user(&app.seed.bob).await.unwrap().unwrap();
    assert_eq!(bob.name, "Bob B. Member");
    assert_eq!(bob.attio_id, None);
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
        assert_eq!(
            (r.status, r.code()),
            (400, "VALIDATION_ERROR"),
            "{body}: {}",
            r.raw
        );
        assert!(
            r.body["message"].as_str().unwrap().contains(words),
            "{body}: {}",
            r.raw
        );
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

macro_rules! suite {
    ($backend:expr, $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($backend).await;
            }
        )*
    };
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            suite!(super::Backend::Sqlite, $($name),*);
        }
        mod postgres {
            suite!(super::Backend::Postgres, $($name),*);
        }
    };
}

both!(
    deleted_record_never_edits,
    impersonate_refuses_a_banned_user,
    expired_ban_is_lifted_by_impersonate,
    expired_ban_is_lifted_by_user_details_and_sessions,
    search_users_like_the_original,
    invitations_listed_like_the_original,
    create_invitation_checks_in_the_originals_order,
    reinvite_records_the_new_inviter,
    ban_dates_like_the_original,
);
