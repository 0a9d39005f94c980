//! The plugin over [`MemoryStore`], the in-memory reference store: the main flows through a
//! real server, so the trait's contract holds for a store that is not sqlx.

use attio_auth_plugin::store::{AuthStore, MemoryStore, NewSession, NewUser, StoreFeatures};
use attio_auth_plugin::sync::{Adapters, SyncReporter};
use attio_auth_plugin::{AttioPlugin, ConfigError, MemoryMailer};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::common::SECRET;

struct App {
    url: String,
    store: Arc<MemoryStore>,
    caller: crate::common::Caller,
}

fn iso(offset: i64) -> String {
    let t = chrono::Utc::now() + chrono::TimeDelta::seconds(offset);
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

async fn spawn(features: StoreFeatures) -> App {
    let store = Arc::new(MemoryStore::with_features(features));
    for (id, email, role) in [
        ("alice", "alice@example.com", "admin"),
        ("bob", "bob@example.com", "user"),
    ] {
        store
            .create_user(
                NewUser {
                    id: id.into(),
                    name: id.into(),
                    email: email.into(),
                    email_verified: true,
                    image: None,
                    role: Some(role.into()),
                    attio_id: None,
                    now: iso(-60),
                },
                None,
            )
            .await
            .unwrap();
    }
    store
        .create_session(NewSession {
            id: "s1".into(),
            token: "t1".into(),
            user_id: "bob".into(),
            expires_at: iso(3600),
            now: iso(-10),
            ip_address: None,
            user_agent: None,
            impersonated_by: None,
        })
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/auth", listener.local_addr().unwrap());
    let plugin = AttioPlugin::builder()
        .secret(SECRET)
        .shared_store(store.clone())
        .mailer(MemoryMailer::new())
        .base_url(url.clone())
        .build()
        .unwrap();
    let app: axum::Router = axum::Router::new().nest("/api/auth", plugin.router());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    App {
        url: url.clone(),
        store,
        caller: crate::common::Caller::at(url),
    }
}

impl App {
    async fn call_with_id(&self, id: &str, action: &str, params: Value) -> (u16, Value) {
        let r = self.caller.call_with_id(id, action, params).await;
        (r.status, r.body)
    }

    async fn call(&self, action: &str, params: Value) -> (u16, Value) {
        self.call_with_id(&crate::common::message_id(), action, params)
            .await
    }
}

fn all() -> StoreFeatures {
    StoreFeatures {
        admin: true,
        organizations: true,
    }
}

#[tokio::test]
async fn users_sessions_and_impersonation() {
    let app = spawn(all()).await;
    let (s, b) = app.call("user-details", json!({"userId": "alice"})).await;
    assert_eq!((s, b["role"].clone()), (200, json!("admin")));
    let (s, b) = app.call("sessions", json!({"userId": "bob"})).await;
    assert_eq!((s, b["totalCount"].clone()), (200, json!(1)));
    assert!(b["sessions"][0].get("token").is_none());
    let (s, b) = app
        .call(
            "impersonate",
            json!({"targetUserId": "bob", "adminEmail": "ALICE@example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let link = b["url"].as_str().unwrap().replace(&app.url, "");
    let r = app
        .caller
        .client
        .get(format!("{}{link}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(r.headers()["location"], "/");
    let r = app
        .caller
        .client
        .get(format!("{}{link}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/?error=invalid_or_used_session");
    let (s, _) = app
        .call(
            "update-ban-status",
            json!({"userId": "bob", "banned": true}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(app.store.sessions("bob").await.unwrap().is_empty());
    let (s, b) = app
        .call(
            "update-ban-status",
            json!({"userId": "nope", "banned": true}),
        )
        .await;
    assert_eq!((s, b["code"].clone()), (404, json!("USER_NOT_FOUND")));
    // a replay answers the stored response without acting again
    let (s1, b1) = app
        .call_with_id(
            "msg_fixed",
            "create-user",
            json!({"email": "c@example.com", "name": "C"}),
        )
        .await;
    let (s2, b2) = app
        .call_with_id(
            "msg_fixed",
            "create-user",
            json!({"email": "c@example.com", "name": "C"}),
        )
        .await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(s1, 200);
    let (s, b) = app
        .call_with_id(
            "msg_fixed",
            "create-user",
            json!({"email": "d@example.com", "name": "D"}),
        )
        .await;
    assert_eq!((s, b["code"].clone()), (422, json!("IDEMPOTENCY_CONFLICT")));
    let (s, b) = app.call("export", json!({})).await;
    assert_eq!((s, b["users"].as_array().unwrap().len()), (200, 3));
}

#[tokio::test]
async fn organizations_and_webhook() {
    let app = spawn(all()).await;
    let (s, b) = app
        .call(
            "create-organization",
            json!({"name": "Acme Inc", "ownerEmail": "alice@example.com"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let org = b["organization"]["id"].as_str().unwrap().to_owned();
    let inv = json!({"email": "x@example.com", "role": "member", "organizationId": org, "inviterEmail": "alice@example.com"});
    let (s, _) = app.call("create-org-invitation", inv.clone()).await;
    assert_eq!(s, 200);
    let (_, b) = app.call("create-org-invitation", inv).await;
    assert_eq!(b["resent"], json!(true));
    let (_, b) = app
        .call("list-org-invitations", json!({"organizationId": org}))
        .await;
    assert_eq!(b["count"], json!(1));
    let event = json!({
        "event_type": "record.created",
        "id": {"workspace_id": "w", "object_id": "o", "record_id": "rec-z"},
        "record": {"values": {
            "primary_email_address": [{"email_address": "Zed@Example.com", "attribute_type": "email-address", "active_until": null}],
            "name": [{"value": "Zed", "attribute_type": "text", "active_until": null}],
        }},
        "object": {"api_slug": "users"},
    });
    let (s, b) = app
        .call("webhook", json!({"webhook_id": "w", "events": [event]}))
        .await;
    assert_eq!(s, 200, "{b}");
    let zed = app
        .store
        .user_by_email("zed@example.com")
        .await
        .unwrap()
        .expect("zed");
    assert_eq!(zed.attio_id.as_deref(), Some("rec-z"));
    let del = json!({"event_type": "record.deleted", "id": {"workspace_id": "w", "object_id": "o", "record_id": "rec-z"}, "object": {"api_slug": "users"}});
    let (s, _) = app
        .call("webhook", json!({"webhook_id": "w", "events": [del]}))
        .await;
    assert_eq!(s, 200);
    assert!(app.store.user(&zed.id).await.unwrap().is_none());
}

#[tokio::test]
async fn features_off_answer_501_and_sync_is_refused() {
    let app = spawn(StoreFeatures {
        admin: false,
        organizations: false,
    })
    .await;
    let (s, b) = app.call("get-org-roles", json!({})).await;
    assert_eq!(
        (s, b["code"].clone()),
        (501, json!("ORGANIZATIONS_NOT_ENABLED"))
    );
    let (s, b) = app
        .call(
            "impersonate",
            json!({"targetUserId": "bob", "adminEmail": "alice@example.com"}),
        )
        .await;
    assert_eq!((s, b["code"].clone()), (501, json!("ADMIN_NOT_ENABLED")));
    let err = AttioPlugin::builder()
        .secret(SECRET)
        .store(MemoryStore::new())
        .sync(SyncReporter::new(Adapters::default()))
        .build()
        .err();
    assert!(matches!(err, Some(ConfigError::SyncUnsupported)));
}

/// The reference store keeps the contract of the issue 12 fixes: an expired ban is lifted
/// (one in force is not), invitations list unexpired ones by latest expiry, and a resend
/// records its inviter.
#[tokio::test]
async fn expired_bans_and_invitation_order() {
    use attio_auth_plugin::store::{BanUpdate, InvitationRow, NewOrganization};
    let store = MemoryStore::new();
    for id in ["ann", "ben"] {
        store
            .create_user(
                NewUser {
                    id: id.into(),
                    name: id.into(),
                    email: format!("{id}@example.com"),
                    email_verified: true,
                    image: None,
                    role: Some("user".into()),
                    attio_id: None,
                    now: iso(-100),
                },
                None,
            )
            .await
            .unwrap();
    }
    let ban = |expires: String| BanUpdate {
        banned: true,
        reason: Some("spam".into()),
        expires: Some(expires),
        now: iso(-100),
    };
    store.set_ban("ann", ban(iso(-10)), None).await.unwrap();
    store.set_ban("ben", ban(iso(3600)), None).await.unwrap();
    let lifted = store.lift_expired_ban("ann", &iso(0), None).await.unwrap();
    let ann = lifted.expect("ann's ban ran out");
    assert_eq!(
        (ann.banned, ann.ban_reason, ann.ban_expires),
        (Some(false), None, None)
    );
    assert_eq!(
        store.lift_expired_ban("ben", &iso(0), None).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .lift_expired_ban("nobody", &iso(0), None)
            .await
            .unwrap(),
        None
    );

    store
        .create_organization(
            NewOrganization {
                id: "org".into(),
                name: "Org".into(),
                slug: "org".into(),
                logo: None,
                attio_id: None,
                owner: None,
                now: iso(-100),
            },
            None,
        )
        .await
        .unwrap();
    for (id, expires) in [("soon", iso(60)), ("later", iso(600)), ("gone", iso(-1))] {
        store
            .create_invitation(InvitationRow {
                id: id.into(),
                organization_id: "org".into(),
                email: format!("{id}@example.com"),
                role: Some("member".into()),
                status: "pending".into(),
                expires_at: expires,
                created_at: iso(-50),
                inviter_id: "ann".into(),
                inviter: None,
            })
            .await
            .unwrap();
    }
    let now = iso(0);
    let ids = |rows: Vec<InvitationRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.invitations("org", &now).await.unwrap()),
        ["later", "soon"]
    );
    assert!(
        store
            .pending_invitation("org", "gone@example.com", &now)
            .await
            .unwrap()
            .is_none()
    );
    store
        .renew_invitation("soon", &iso(900), "ben")
        .await
        .unwrap();
    let rows = store.invitations("org", &now).await.unwrap();
    assert_eq!(
        (rows[0].id.as_str(), rows[0].inviter_id.as_str()),
        ("soon", "ben")
    );
}
