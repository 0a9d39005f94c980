//! `webhook` (Attio record events in) and change reporting (sync events out) through the
//! store, on SQLite and PostgreSQL: writes happen only where the adapter's directions allow,
//! an event that changes nothing writes and sends nothing, deletes apply, refused rows are
//! reported, and every change the plugin makes lands in the outbox in the same transaction,
//! marked with its origin.

use crate::common;
use crate::common::{Backend, TestApp, count, snapshot, spawn, table_rows};
use attio_auth_plugin::store::AuthStore;
use attio_auth_plugin::sync::{Adapters, EventKind, Origin, SyncReporter};
use serde_json::{Value, json};

fn v(value: Value, ty: &str) -> Value {
    let mut m = json!({
        "active_from": "2026-01-01T00:00:00.000000000Z",
        "active_until": null,
        "created_by_actor": {"type": "workspace-member", "id": "wm-1"},
        "attribute_type": ty,
    });
    match ty {
        "email-address" => {
            m["email_address"] = value.clone();
            m["original_email_address"] = value;
        }
        "record-reference" => {
            m["target_object"] = json!("users");
            m["target_record_id"] = value;
        }
        _ => m["value"] = value,
    }
    m
}

fn object(slug: &str) -> Value {
    json!({"id": {"workspace_id": "ws", "object_id": format!("obj-{slug}")}, "api_slug": slug})
}

fn user_event(
    kind: &str,
    record: &str,
    user_id: Option<&str>,
    email: &str,
    name: &str,
    verified: bool,
) -> Value {
    json!({
        "event_type": kind,
        "id": {"workspace_id": "ws", "object_id": "obj-users", "record_id": record},
        "actor": {"type": "workspace-member", "id": "wm-1"},
        "record": {
            "id": {"workspace_id": "ws", "object_id": "obj-users", "record_id": record},
            "values": {
                "user_id": user_id.map(|u| vec![v(json!(u), "text")]).unwrap_or_default(),
                "primary_email_address": [v(json!(email), "email-address")],
                "name": [v(json!(name), "text")],
                "email_verified": [v(json!(verified), "checkbox")],
            }
        },
        "object": object("users"),
    })
}

async fn webhook(app: &TestApp, events: Vec<Value>) -> common::Resp {
    app.call("webhook", json!({"webhook_id": "wh-1", "events": events}))
        .await
}

async fn outbox(app: &TestApp) -> Vec<Value> {
    table_rows(app, "attio_outbox")
        .await
        .iter()
        .map(|r| {
            let row: Value = serde_json::from_str(r).unwrap();
            serde_json::from_str(row["payload"].as_str().unwrap()).unwrap()
        })
        .collect()
}

async fn linked(b: Backend) -> TestApp {
    let app = spawn(b).await;
    let r = app
        .call("link", json!({"webhookUrl": "http://127.0.0.1:9/events"}))
        .await;
    assert_eq!(r.status, 200);
    app
}

pub async fn users_created_updated_deleted_from_attio(b: Backend) {
    let app = linked(b).await;
    // created: a real user, lowercased email, default role, linked to the record
    let r = webhook(
        &app,
        vec![user_event(
            "record.created",
            "rec-dave",
            None,
            "Dave@Example.COM",
            "Dave",
            true,
        )],
    )
    .await;
    assert_eq!(r.body, json!({"success": true}), "{}", r.raw);
    let dave = app
        .store
        .user_by_email("dave@example.com")
        .await
        .unwrap()
        .expect("dave");
    assert_eq!(dave.email, "dave@example.com");
    assert_eq!(dave.role.as_deref(), Some("user"));
    assert_eq!(dave.attio_id.as_deref(), Some("rec-dave"));
    let events = outbox(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["origin"], json!("attio"));
    assert_eq!(events[0]["event"], json!("create"));
    assert_eq!(events[0]["data"]["user_id"], json!(dave.id));

    // the same event again (Attio's echo): nothing written, nothing sent
    let before = snapshot(&app).await;
    let r = webhook(
        &app,
        vec![user_event(
            "record.updated",
            "rec-dave",
            Some(&dave.id),
            "dave@example.com",
            "Dave",
            true,
        )],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        snapshot(&app).await,
        before,
        "a no-op event wrote or sent something"
    );

    // a name change applies; email and emailVerified are never written from Attio
    let r = webhook(
        &app,
        vec![user_event(
            "record.updated",
            "rec-dave",
            Some(&dave.id),
            "attacker@evil.test",
            "Dave Renamed",
            false,
        )],
    )
    .await;
    assert_eq!(r.status, 200);
    let now = app.store.user(&dave.id).await.unwrap().unwrap();
    assert_eq!(now.name, "Dave Renamed");
    assert_eq!(now.email, "dave@example.com");
    // emailVerified is not taken from Attio, not even on create
    assert!(!dave.email_verified);
    assert_eq!(now.email_verified, dave.email_verified);
    let events = outbox(&app).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["event"], json!("update"));

    // a delete as Attio really sends it (no record, the id only)
    let del = json!({
        "event_type": "record.deleted",
        "id": {"workspace_id": "ws", "object_id": "obj-users", "record_id": "rec-dave"},
        "object": object("users"),
    });
    let r = webhook(&app, vec![del]).await;
    assert_eq!(r.status, 200);
    assert!(app.store.user(&dave.id).await.unwrap().is_none());
    assert_eq!(outbox(&app).await[2]["event"], json!("delete"));
}

pub async fn ignored_and_refused_events(b: Backend) {
    let app = linked(b).await;
    let before = snapshot(&app).await;
    let ignored = vec![
        json!(null),
        json!("not-an-object"),
        json!({"event_type": "record.created", "id": {"workspace_id": "ws", "object_id": "p", "record_id": "p1"}, "object": object("people")}),
        json!({"event_type": "record.merged", "id": {"workspace_id": "ws", "object_id": "obj-users", "record_id": "r"}, "object": object("users")}),
        // no email: a user cannot be created
        json!({"event_type": "record.created", "id": {"workspace_id": "ws", "object_id": "obj-users", "record_id": "noemail"}, "record": {"values": {"name": [v(json!("No Email"), "text")]}}, "object": object("users")}),
        // an update of a record nobody knows, without values
        json!({"event_type": "record.updated", "id": {"workspace_id": "ws", "object_id": "obj-users", "record_id": "gina"}, "object": object("users")}),
    ];
    let r = webhook(&app, ignored).await;
    assert_eq!(r.body, json!({"success": true}), "{}", r.raw);
    assert_eq!(snapshot(&app).await, before);

    // a new record whose email belongs to another user is linked to that user, not
    // duplicated; a second record then claiming bob's email is refused
    let r = webhook(
        &app,
        vec![user_event(
            "record.created",
            "rec-bob",
            None,
            "bob@example.com",
            "Bob B. Member",
            true,
        )],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let bob = app.store.user(&app.seed.bob).await.unwrap().unwrap();
    assert_eq!(bob.attio_id.as_deref(), Some("rec-bob"));
    assert_eq!(count(&app, "user").await, 3);
    // a record carrying carol's user id but another email links to carol; her email stays
    let r = webhook(
        &app,
        vec![user_event(
            "record.updated",
            "rec-carol",
            Some(&app.seed.carol),
            "mallory@evil.test",
            "Carol",
            true,
        )],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let carol = app.store.user(&app.seed.carol).await.unwrap().unwrap();
    assert_eq!(carol.email, "carol@example.com");
    assert_eq!(carol.attio_id.as_deref(), Some("rec-carol"));
    assert_eq!(count(&app, "user").await, 3);
}

pub async fn a_typed_user_id_is_adopted(b: Backend) {
    let app = linked(b).await;
    let r = webhook(
        &app,
        vec![user_event(
            "record.created",
            "rec-erin",
            Some("erin-from-attio"),
            "erin@example.com",
            "Erin",
            false,
        )],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let erin = app
        .store
        .user("erin-from-attio")
        .await
        .unwrap()
        .expect("adopted id");
    assert_eq!(erin.attio_id.as_deref(), Some("rec-erin"));
    assert_eq!(
        outbox(&app).await[0]["data"]["user_id"],
        json!("erin-from-attio")
    );
}

pub async fn concurrent_webhooks(b: Backend) {
    let app = std::sync::Arc::new(linked(b).await);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let email = format!("user{i}@example.com");
            let ev = user_event(
                "record.created",
                &format!("rec-{i}"),
                None,
                &email,
                "U",
                false,
            );
            webhook(&app, vec![ev]).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    assert_eq!(count(&app, "user").await, 3 + 8);
    assert_eq!(outbox(&app).await.len(), 8);
}

pub async fn workspaces_with_members(b: Backend) {
    let app = linked(b).await;
    // link alice and bob to Attio records first
    for (rec, email, name) in [
        ("rec-alice", "alice@example.com", "Alice Admin"),
        ("rec-bob", "bob@example.com", "Bob B. Member"),
    ] {
        let r = webhook(
            &app,
            vec![user_event("record.created", rec, None, email, name, true)],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    let ws = json!({
        "event_type": "record.created",
        "id": {"workspace_id": "ws", "object_id": "obj-ws", "record_id": "rec-ws"},
        "record": {"id": {"record_id": "rec-ws"}, "values": {
            "workspace_id": [],
            "name": [v(json!("Attio Made Workspace"), "text")],
            "users": [v(json!("rec-alice"), "record-reference"), v(json!("rec-bob"), "record-reference"), v(json!("unknown"), "record-reference")],
        }},
        "object": object("workspaces"),
    });
    let r = webhook(&app, vec![ws]).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = app.call("export", json!({"cursor": "o:"})).await;
    let org = r.body["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["attioId"] == json!("rec-ws"))
        .expect("created")
        .clone();
    assert_eq!(org["slug"], json!("attio-made-workspace"));
    assert_eq!(org["members"].as_array().unwrap().len(), 2);
    let last = outbox(&app).await.pop().unwrap();
    assert_eq!(last["adapter"]["betterAuthModel"], json!("organization"));
    assert_eq!(last["origin"], json!("attio"));
}

pub async fn plugin_changes_are_reported(b: Backend) {
    let app = linked(b).await;
    let r = app
        .call(
            "update-ban-status",
            json!({"userId": app.seed.bob, "banned": true}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .call(
            "create-user",
            json!({"email": "eve@example.com", "name": "Eve"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .call(
            "create-organization",
            json!({"name": "Initech", "ownerEmail": "eve@example.com"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let events = outbox(&app).await;
    let kinds: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e["adapter"]["betterAuthModel"].clone(),
                e["event"].clone(),
                e["origin"].clone(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (json!("user"), json!("update"), json!("auth")),
            (json!("user"), json!("create"), json!("auth")),
            (json!("organization"), json!("create"), json!("auth")),
        ]
    );
    // one delivery per link
    assert_eq!(count(&app, "attio_outbox_delivery").await, 3);
    // the host reports its own change through the store
    let mut reporter = SyncReporter::new(Adapters::default());
    if app.store.naming() == attio_auth_plugin::store::ColumnNaming::SnakeCase {
        reporter = reporter.snake_case();
    }
    let report = attio_auth_plugin::store::Report {
        reporter: &reporter,
        origin: Origin::Auth,
    };
    let id = app
        .store
        .report_change("user", &app.seed.carol, EventKind::Update, report)
        .await
        .unwrap();
    assert!(id.is_some());
    assert_eq!(outbox(&app).await.len(), 4);
    // or through the plugin's own reporter
    let id = app
        .plugin
        .report_change("organization", &app.seed.org, EventKind::Update)
        .await
        .unwrap();
    assert!(id.is_some());
    let last = outbox(&app).await.pop().unwrap();
    assert_eq!(last["data"]["name"], json!("Acme Corporation"));
    // without a link nothing is queued
    let r = app
        .call(
            "unlink",
            json!({"webhookId": table_rows(&app, "attioIntegration").await.len().to_string()}),
        )
        .await;
    assert_eq!(r.status, 404);
}

/// A workspace record event for `record`, named `name`, whose `users` are these records.
fn workspace_event(kind: &str, record: &str, name: &str, users: &[&str]) -> Value {
    let users: Vec<Value> = users
        .iter()
        .map(|u| v(json!(u), "record-reference"))
        .collect();
    json!({
        "event_type": kind,
        "id": {"workspace_id": "ws", "object_id": "obj-ws", "record_id": record},
        "record": {"id": {"record_id": record}, "values": {
            "workspace_id": [],
            "name": [v(json!(name), "text")],
            "users": users,
        }},
        "object": object("workspaces"),
    })
}

/// README: "a row the database refuses answers 422 `EVENTS_REJECTED` instead of a silent
/// 200". A workspace whose slug is taken is refused and named; the other event of the same
/// call is still applied (one transaction per event); the refused one wrote nothing.
pub async fn refused_rows_answer_events_rejected(b: Backend) {
    let app = linked(b).await;
    let outbox_before = outbox(&app).await.len();
    let r = webhook(
        &app,
        vec![
            // slug "acme" is the seeded organization's
            workspace_event("record.created", "rec-clash", "Acme", &[]),
            user_event(
                "record.created",
                "rec-frank",
                None,
                "frank@example.com",
                "Frank",
                true,
            ),
        ],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.raw);
    assert_eq!(r.code(), "EVENTS_REJECTED", "{}", r.raw);
    let message = r.body["message"].as_str().unwrap();
    assert!(message.contains("rec-clash"), "{message}");
    assert!(!message.contains("rec-frank"), "{message}");
    let frank = app
        .store
        .user_by_email("frank@example.com")
        .await
        .unwrap()
        .expect("the other event applied");
    assert_eq!(frank.attio_id.as_deref(), Some("rec-frank"));
    assert_eq!(
        count(&app, "organization").await,
        1,
        "the refused row was not written"
    );
    // only frank's event was queued: the refused one sent nothing
    assert_eq!(outbox(&app).await.len(), outbox_before + 1);
}

/// README: "workspace `users` become organization members (owners are never removed from
/// Attio)". A workspace whose users drop its owner and a member: the member goes, the
/// owner stays, even when the list is empty.
pub async fn owners_are_never_removed_from_attio(b: Backend) {
    let app = linked(b).await;
    for (rec, email, name) in [
        ("rec-alice", "alice@example.com", "Alice Admin"),
        ("rec-bob", "bob@example.com", "Bob B. Member"),
    ] {
        let r = webhook(
            &app,
            vec![user_event("record.created", rec, None, email, name, true)],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    let r = app
        .call(
            "create-organization",
            json!({"name": "Globex", "ownerEmail": "alice@example.com", "attioId": "rec-globex"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let org = r.body["organization"]["id"].as_str().unwrap().to_owned();
    let members = |app: &TestApp, org: String| {
        let store = app.store.clone();
        async move {
            let mut m: Vec<(String, String)> = store
                .members(&org)
                .await
                .unwrap()
                .into_iter()
                .map(|m| (m.user_id, m.role))
                .collect();
            m.sort();
            m
        }
    };
    let alice_owner = (app.seed.alice.clone(), "owner".to_owned());
    assert_eq!(
        members(&app, org.clone()).await,
        vec![(app.seed.alice.clone(), "owner".to_owned())]
    );
    // Attio lists bob only: bob joins, alice (the owner) stays although unlisted
    let r = webhook(
        &app,
        vec![workspace_event(
            "record.updated",
            "rec-globex",
            "Globex",
            &["rec-bob"],
        )],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        members(&app, org.clone()).await,
        [
            alice_owner.clone(),
            (app.seed.bob.clone(), "member".to_owned())
        ]
    );
    // Attio lists nobody: bob leaves, the owner stays
    let r = webhook(
        &app,
        vec![workspace_event(
            "record.updated",
            "rec-globex",
            "Globex",
            &[],
        )],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(members(&app, org.clone()).await, [alice_owner]);
}

every!(
    refused_rows_answer_events_rejected,
    owners_are_never_removed_from_attio,
    values_of_the_wrong_type_are_refused,
    users_created_updated_deleted_from_attio,
    ignored_and_refused_events,
    concurrent_webhooks,
    a_typed_user_id_is_adopted,
    workspaces_with_members,
    plugin_changes_are_reported,
);

/// Regression (the PostgreSQL property test's flake): a text attribute holding a number made
/// PostgreSQL refuse the update, answered 500. The exact body that failed, then the same
/// class of values (a boolean, a list, a NUL character, a number where the lookup wants an
/// email): each answers 422 naming the attribute and changes nothing, on every backend.
pub async fn values_of_the_wrong_type_are_refused(b: Backend) {
    let app = common::spawn_legacy(b).await;
    let before = snapshot(&app).await;
    let failing: Value = serde_json::from_str(
        r#"{"LWgEKvRbCu":{"PwmFkh":[],"V":["Jan 1 2030"],"_F_Q":[true,"0000-01-01T00:00:00Z",null]},"events":[{"event_type":"record.updated","id":{"object_id":"o","record_id":"rec-1","workspace_id":"ws"},"object":{"api_slug":"users"},"record":{"id":{"object_id":"o","record_id":"rec-1","workspace_id":"ws"},"values":{"name":[{"active_until":null,"attribute_type":"text","value":-6276529920746332647}],"primary_email_address":-6276529920746332647,"user_id":[{"active_until":null,"attribute_type":"text","value":"bobBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"}]}}}],"webhook_id":"x"}"#,
    )
    .unwrap();
    for legacy in [false, true] {
        let r = if legacy {
            app.legacy("webhook", common::LEGACY_SECRET, failing.clone())
                .await
        } else {
            app.call("webhook", failing.clone()).await
        };
        assert_eq!(r.status, 422, "legacy {legacy}: {}", r.raw);
        assert_eq!(r.body["code"], "EVENTS_REJECTED", "{}", r.raw);
        let message = r.body["message"].as_str().unwrap();
        assert!(
            message.contains("rec-1") && message.contains("name"),
            "{message}"
        );
        assert_eq!(snapshot(&app).await, before);
    }

    let bob = "bobBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    let event = |values: Value| {
        json!({"event_type": "record.updated",
               "id": {"workspace_id": "ws", "object_id": "obj-users", "record_id": "rec-x"},
               "record": {"values": values}, "object": object("users")})
    };
    let text = |value: Value| vec![json!({"attribute_type": "text", "value": value})];
    let bad = [
        json!({"user_id": text(json!(bob)), "name": text(json!(true))}),
        json!({"user_id": text(json!(bob)), "name": text(json!(["a", "b"]))}),
        json!({"user_id": text(json!(bob)), "name": text(json!({"a": 1}))}),
        json!({"user_id": text(json!(bob)), "name": text(json!("nul \u{0} here"))}),
        json!({"user_id": text(json!(bob)), "name": text(json!(1.5))}),
        // a number where the lookup reads an email, and a number as the user id
        json!({"primary_email_address": [{"attribute_type": "text", "value": 7}],
               "name": text(json!("N"))}),
        json!({"user_id": text(json!(42)), "name": text(json!("N"))}),
        // a checkbox that is no boolean
        json!({"user_id": text(json!(bob)), "email_verified": [{"attribute_type": "checkbox", "value": "maybe"}]}),
    ];
    for values in bad {
        let r = webhook(&app, vec![event(values.clone())]).await;
        assert_eq!(r.status, 422, "{values}: {}", r.raw);
        assert_eq!(r.body["code"], "EVENTS_REJECTED", "{}", r.raw);
        assert_eq!(snapshot(&app).await, before, "{values}");
    }
    // The same shapes with values of the right type still apply.
    let r = webhook(
        &app,
        vec![event(
            json!({"user_id": text(json!(bob)), "name": text(json!("Bob Typed"))}),
        )],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let stored = app.store.user(bob).await.unwrap().unwrap();
    assert_eq!(stored.name, "Bob Typed");
}
