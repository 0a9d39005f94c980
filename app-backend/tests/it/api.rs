//! The backend's HTTP API against a fake Attio and a fake plugin, on SQLite and PostgreSQL
//! (each scenario is one async fn, run once per database by `both!`).

use crate::common::*;
use attio_auth_shared::connection::Protocol;
use serde_json::{Value, json};

both!(
    health_and_readiness,
    install_with_api_token_creates_attributes_webhook_and_link,
    install_refuses_disabled_objects_and_changes_nothing,
    install_refuses_a_bad_token_and_a_bad_connection_string,
    action_is_forwarded_signed_with_the_resolved_user_id_and_audited,
    actor_is_resolved_through_attio_and_claimed_emails_are_ignored,
    action_with_a_bad_signature_is_refused_without_side_effects,
    repeated_message_is_answered_once_and_conflicts_are_refused,
    legacy_connection_forwards_with_the_secret_in_the_body,
    bulk_action_reports_each_record,
    plugin_errors_pass_through_with_their_code,
    uninstall_unlinks_and_removes_the_webhook,
    every_action_is_forwarded_with_its_fields,
    attio_webhooks_are_verified_and_deduplicated,
    uninstall_with_the_auth_server_down_still_removes_the_installation,
);

async fn health_and_readiness(db: DbChoice) {
    let attio = spawn_attio().await;
    let app = spawn_app(db, &attio.url()).await;
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["ok"], true);
    // The database gone: not ready (503 with the JSON error body), while still alive.
    app.state.db.pool.close().await;
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["ok"], false, "{body}");
    assert_eq!(body["error"]["code"], "DATABASE_UNAVAILABLE", "{body}");
    assert_eq!(body["error"]["message"], "The database does not answer.");
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn install_with_api_token_creates_attributes_webhook_and_link(db: DbChoice) {
    let w = installed(db, Protocol::SignedV1).await;
    {
        let st = w.attio.state.lock().unwrap();
        // Missing attributes were created with Attio's create body.
        let created: Vec<String> = st
            .created_attributes
            .iter()
            .map(|(o, b)| format!("{o}.{}", b["data"]["api_slug"].as_str().unwrap()))
            .collect();
        assert!(created.contains(&"users.name".to_owned()), "{created:?}");
        assert!(created.contains(&"users.email_verified".to_owned()));
        assert!(created.contains(&"workspaces.slug".to_owned()));
        assert!(!created.contains(&"users.user_id".to_owned()));
        // One webhook for record events, aimed at this installation.
        assert_eq!(st.webhooks.len(), 1);
        let wh = st.webhooks.values().next().unwrap();
        assert!(
            wh["target_url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/v1/attio/webhooks/{}", w.installation_id))
        );
    }
    // The plugin was pinged and linked to our event URL, signed.
    assert_eq!(w.plugin.calls("ping").len(), 1);
    let link = &w.plugin.calls("link")[0];
    assert!(
        link.body["webhookUrl"]
            .as_str()
            .unwrap()
            .contains(&format!("/v1/events/{}/", w.installation_id))
    );
    assert!(link.headers.contains_key("webhook-signature"));
    // Secrets are encrypted at rest.
    use sqlx::Row as _;
    let row = sqlx::query(
        "select connection_enc, attio_token_enc, attio_webhook_secret_enc, status from installations",
    )
    .fetch_one(&w.app.state.db.pool)
    .await
    .unwrap();
    let conn_enc: String = row.get("connection_enc");
    let token_enc: String = row.get("attio_token_enc");
    let wh_enc: String = row.get("attio_webhook_secret_enc");
    let status: String = row.get("status");
    assert_eq!(status, "active");
    assert!(conn_enc.starts_with("v1:") && !conn_enc.contains("whsec_"));
    assert!(!token_enc.contains(ATTIO_TOKEN));
    assert!(!wh_enc.contains("attio-webhook-secret"));
    // Installing the same workspace twice is refused.
    let (status, body) = install(&w.app, &w.plugin.connection, ATTIO_TOKEN).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "ALREADY_INSTALLED");
}

async fn install_refuses_disabled_objects_and_changes_nothing(db: DbChoice) {
    let attio = spawn_attio().await;
    attio.state.lock().unwrap().enabled_objects = vec!["people".into()];
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let app = spawn_app(db, &attio.url()).await;
    let (status, body) = install(&app, &plugin.connection, ATTIO_TOKEN).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["ok"], false);
    assert_eq!(body["error"]["code"], "ATTIO_OBJECTS_DISABLED");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("users and workspaces"), "{msg}");
    assert!(msg.contains("Workspace settings → Objects"), "{msg}");
    {
        let st = attio.state.lock().unwrap();
        assert!(st.webhooks.is_empty());
        assert!(st.created_attributes.is_empty());
    }
    assert!(plugin.calls("link").is_empty());
    use sqlx::Row as _;
    let n: i64 = sqlx::query("select count(*) as n from installations")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(n, 0);
}

async fn install_refuses_a_bad_token_and_a_bad_connection_string(db: DbChoice) {
    let attio = spawn_attio().await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let app = spawn_app(db, &attio.url()).await;
    let (status, body) = install(&app, &plugin.connection, "wrong").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "INVALID_ATTIO_TOKEN");
    assert!(!body.to_string().contains("wrong\""));

    let r = app
        .http
        .post(app.url("/v1/installations"))
        .json(&json!({"connection": "not base64!", "attioToken": ATTIO_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_CONNECTION_STRING");

    let r = app
        .http
        .post(app.url("/v1/installations"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

async fn action_is_forwarded_signed_with_the_resolved_user_id_and_audited(db: DbChoice) {
    let w = installed(db, Protocol::SignedV1).await;
    w.attio
        .seed_user("rec-alice", "auth-alice", "alice@example.com");
    let (status, body) = call_action(
        &w,
        "user-details",
        json!({"action": "user-details",
               "actor": {"email": "support@acme.com", "workspaceMemberId": "wm-1"},
               "target": {"object": "users", "recordId": "rec-alice"},
               "params": {}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);
    assert_eq!(body["data"]["role"], "user");
    assert!(body["message"].as_str().unwrap().len() > 5);
    let call = &w.plugin.calls("user-details")[0];
    assert_eq!(call.body["userId"], "auth-alice");
    assert_eq!(call.body["action"], "user-details");
    assert!(call.body.get("secret").is_none());
    assert!(call.headers.contains_key("webhook-signature"));

    // The second call uses the cached link (no Attio read).
    let reads_before = count_calls(&w, "GET /objects/users/records/rec-alice");
    let (status, _) = call_action(
        &w,
        "sessions",
        json!({"action": "sessions", "actor": {"email": "support@acme.com"},
               "target": {"object": "users", "recordId": "rec-alice"}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        count_calls(&w, "GET /objects/users/records/rec-alice"),
        reads_before
    );

    // Audit, newest first, signed GET.
    let path = format!("/v1/installations/{}/audit", w.installation_id);
    let mut req = w.app.http.get(w.app.url(&path));
    for (k, v) in app_headers(&w.plugin.connection, b"") {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let audit: Value = r.json().await.unwrap();
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["action"], "sessions");
    assert_eq!(entries[1]["action"], "user-details");
    assert_eq!(entries[1]["actor"]["email"], "support@acme.com");
    assert_eq!(entries[1]["actor"]["workspaceMemberId"], "wm-1");
    assert_eq!(entries[1]["target"]["recordId"], "rec-alice");
    assert_eq!(entries[1]["authId"], "auth-alice");
    assert_eq!(entries[1]["ok"], true);
    assert_eq!(entries[1]["reason"], Value::Null);

    // The reason the app sends (the ban dialog's) is audited, bounded, never forwarded.
    let long = "spam ".repeat(200);
    let (status, body) = call_action(
        &w,
        "update-ban-status",
        json!({"action": "update-ban-status",
               "target": {"object": "users", "recordId": "rec-alice"},
               "params": {"banned": true, "banReason": "spam"}, "reason": long}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let forwarded = &w.plugin.calls("update-ban-status")[0];
    assert!(forwarded.body.get("reason").is_none(), "{}", forwarded.body);
    let mut req = w.app.http.get(w.app.url(&path));
    for (k, v) in app_headers(&w.plugin.connection, b"") {
        req = req.header(k, v);
    }
    let audit: Value = req.send().await.unwrap().json().await.unwrap();
    let ban = &audit["entries"][0];
    assert_eq!(ban["action"], "update-ban-status");
    let reason = ban["reason"].as_str().unwrap();
    assert_eq!(reason.chars().count(), 500);
    assert!(reason.starts_with("spam spam"));
    // Unsigned audit read is refused.
    let r = w
        .app
        .http
        .get(w.app.url(&path))
        .header("attio-workspace-id", WORKSPACE_ID)
        .send()
        .await
        .unwrap();
    assert!(r.status() == 400 || r.status() == 401, "{}", r.status());
}

fn count_calls(w: &World, what: &str) -> usize {
    w.attio
        .state
        .lock()
        .unwrap()
        .calls
        .iter()
        .filter(|c| c.as_str() == what)
        .count()
}

/// Issue 13, item 8: the actor is who Attio says the member is. A member claiming another
/// admin's email (in `actor.email` and `params.adminEmail` / `params.inviterEmail`) is
/// forwarded and audited with their own email; unknown or missing members are refused.
async fn actor_is_resolved_through_attio_and_claimed_emails_are_ignored(db: DbChoice) {
    let w = installed(db, Protocol::SignedV1).await;
    w.attio.seed_user("rec-u", "auth-u", "u@example.com");
    w.attio.seed_workspace("rec-w", "org-w");
    w.attio
        .state
        .lock()
        .unwrap()
        .members
        .insert("wm-mallory".into(), "mallory@acme.com".into());
    let mallory = json!({"email": MEMBER_EMAIL, "workspaceMemberId": "wm-mallory"});
    let (status, body) = call_action(
        &w,
        "impersonate",
        json!({"action": "impersonate", "actor": mallory,
               "target": {"object": "users", "recordId": "rec-u"},
               "params": {"adminEmail": MEMBER_EMAIL}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let calls = w.plugin.calls("impersonate");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["adminEmail"], "mallory@acme.com");
    let (status, body) = call_action(
        &w,
        "create-org-invitation",
        json!({"action": "create-org-invitation", "actor": mallory,
               "target": {"object": "workspaces", "recordId": "rec-w"},
               "params": {"email": "x@example.com", "role": "admin", "inviterEmail": MEMBER_EMAIL}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        w.plugin.calls("create-org-invitation")[0].body["inviterEmail"],
        "mallory@acme.com"
    );
    // Looked up once, then from the cache.
    assert_eq!(count_calls(&w, "GET /workspace_members/wm-mallory"), 1);

    // The audit names the resolved member.
    let path = format!("/v1/installations/{}/audit", w.installation_id);
    let mut req = w.app.http.get(w.app.url(&path));
    for (k, v) in app_headers(&w.plugin.connection, b"") {
        req = req.header(k, v);
    }
    let audit: Value = req.send().await.unwrap().json().await.unwrap();
    for e in audit["entries"].as_array().unwrap() {
        assert_eq!(e["actor"]["email"], "mallory@acme.com", "{e}");
        assert_eq!(e["actor"]["workspaceMemberId"], "wm-mallory", "{e}");
    }

    // Unknown, malformed and missing members: 403, nothing forwarded.
    for actor in [
        json!({"email": MEMBER_EMAIL, "workspaceMemberId": "wm-nobody"}),
        json!({"email": MEMBER_EMAIL, "workspaceMemberId": "../self"}),
        json!({"email": MEMBER_EMAIL}),
    ] {
        let (status, body) = call_action_raw(
            &w,
            "impersonate",
            json!({"action": "impersonate", "actor": actor,
                   "target": {"object": "users", "recordId": "rec-u"}, "params": {}}),
        )
        .await;
        assert_eq!(status, 403, "{actor}: {body}");
        assert_eq!(body["error"]["code"], "UNKNOWN_WORKSPACE_MEMBER", "{body}");
    }
    assert_eq!(w.plugin.calls("impersonate").len(), 1);
}

async fn action_with_a_bad_signature_is_refused_without_side_effects(db: DbChoice) {
    let w = installed(db, Protocol::SignedV1).await;
    w.attio.seed_user("rec-bob", "auth-bob", "bob@example.com");
    let body = json!({"action": "update-ban-status", "target": {"object": "users", "recordId": "rec-bob"},
                      "params": {"banned": true}});
    let bytes = serde_json::to_vec(&body).unwrap();
    let mut req = w.app.http.post(w.app.url("/v1/actions/update-ban-status"));
    for (k, v) in app_headers(&w.plugin.connection, b"another body") {
        req = req.header(k, v);
    }
    let r = req.body(bytes.clone()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["ok"], false);
    assert_eq!(err["error"]["code"], "BAD_SIGNATURE");
    // Unknown workspace.
    let mut req = w.app.http.post(w.app.url("/v1/actions/update-ban-status"));
    for (k, v) in app_headers(&w.plugin.connection, &bytes) {
        let v = if k == "attio-workspace-id" {
            "other".to_owned()
        } else {
            v
        };
        req = req.header(k, v);
    }
    let r = req.body(bytes.clone()).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // Body for another action than the route.
    let (status, err) = call_action(
        &w,
        "user-details",
        json!({"action": "update-ban-status", "target": {"object": "users", "recordId": "rec-bob"}}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "ACTION_MISMATCH");
    assert!(w.plugin.calls("update-ban-status").is_empty());
    assert!(w.plugin.calls("user-details").is_empty());
}

async fn repeated_message_is_answered_once_and_conflicts_are_refused(db: DbChoice) {
    let w = installed(db, Protocol::SignedV1).await;
    w.attio.seed_user("rec-bob", "auth-bob", "bob@example.com");
    let body = with_actor(
        json!({"action": "update-ban-status", "target": {"object": "users", "recordId": "rec-bob"},
                      "params": {"banned": true, "banReason": "spam"}}),
    );
    let bytes = serde_json::to_vec(&body).unwrap();
    let headers = app_headers(&w.plugin.connection, &bytes);
    let send = |b: Vec<u8>| {
        let mut req = w.app.http.post(w.app.url("/v1/actions/update-ban-status"));
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        req.body(b).send()
    };
    let first = send(bytes.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let again = send(bytes.clone()).await.unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again);
    assert_eq!(w.plugin.calls("update-ban-status").len(), 1);
    let ban = &w.plugin.calls("update-ban-status")[0];
    assert_eq!(ban.body["userId"], "auth-bob");
    assert_eq!(ban.body["banned"], true);
    assert_eq!(ban.body["banReason"], "spam");
    // Same id, other body: the signature is over the other body, so sign it with the same
    // id through the Signer directly.
    let other = serde_json::to_vec(&json!({"action": "update-ban-status",
        "target": {"object": "users", "recordId": "rec-bob"}, "params": {"banned": false}}))
    .unwrap();
    let id = headers
        .iter()
        .find(|(k, _)| k == "webhook-id")
        .unwrap()
        .1
        .clone();
    let ts: i64 = headers
        .iter()
        .find(|(k, _)| k == "webhook-timestamp")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let secret = attio_auth_backend::app_auth::signing_secret(&w.plugin.connection);
    let sig = attio_auth_shared::signing::Signer::from_secret(&secret)
        .unwrap()
        .sign(&id, ts, &other);
    let r = w
        .app
        .http
        .post(w.app.url("/v1/actions/update-ban-status"))
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .header("attio-workspace-id", WORKSPACE_ID)
        .body(other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(w.plugin.calls("update-ban-status").len(), 1);
}

async fn legacy_connection_forwards_with_the_secret_in_the_body(db: DbChoice) {
    let attio = spawn_attio().await;
    let plugin = spawn_plugin(Protocol::Legacy).await;
    plugin.state.lock().unwrap().no_ping = true;
    let app = spawn_app(db, &attio.url()).await;
    let (status, body) = install(&app, &plugin.connection, ATTIO_TOKEN).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["installation"]["protocol"], "legacy");
    assert_eq!(body["plugin"], Value::Null);
    let w = World {
        installation_id: body["installation"]["id"].as_str().unwrap().to_owned(),
        app,
        attio,
        plugin,
    };
    w.attio
        .seed_user("rec-carol", "auth-carol", "carol@example.com");
    let (status, body) = call_action(
        &w,
        "send-password-reset",
        json!({"action": "send-password-reset", "target": {"object": "users", "recordId": "rec-carol"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let call = &w.plugin.calls("send-password-reset")[0];
    assert_eq!(call.body["secret"], "attio-test-secret");
    assert_eq!(call.body["userId"], "auth-carol");
    assert!(call.body.get("action").is_none());
    assert!(!call.headers.contains_key("webhook-signature"));
}

async fn bulk_action_reports_each_record(db: DbChoice) {
    let w = installed(db, Protocol::SignedV1).await;
    w.attio.seed_user("rec-1", "auth-1", "one@example.com");
    w.attio.seed_user("rec-2", "auth-2", "two@example.com");
    let (status, body) = call_action(
        &w,
        "update-ban-status",
        json!({"action": "update-ban-status", "actor": {"email": "a@acme.com"},
               "targets": [{"object": "users", "recordId": "rec-1"},
                           {"object": "users", "recordId": "rec-2"},
                           {"object": "users", "recordId": "rec-gone"}],
               "params": {"banned": true}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[1]["ok"], true);
    assert_eq!(results[2]["ok"], false);
    assert_eq!(results[2]["recordId"], "rec-gone");
    assert_eq!(results[2]["code"], "RECORD_NOT_FOUND");
    assert_eq!(w.plugin.calls("update-ban-status").len(), 2);

    let (status, body) = call_action(
        &w,
        "revoke-all-sessions",
        json!({"action": "revoke-all-sessions",
               "targets": [{"object": "users", "recordId": "rec-1"}, {"object": "users", "recordId": "rec-2"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let call = &w.plugin.calls("revoke-all-sessions")[0];
    assert_eq!(call.body["userIds"], json!(["auth-1", "auth-2"]));
}

async fn plugin_errors_pass_through_with_their_code(db: DbChoice) {
    let w = installed(db, Protocol::SignedV1).await;
    w.attio.seed_user("rec-x", "missing-user", "x@example.com");
    let (status, body) = call_action(
        &w,
        "user-details",
        json!({"action": "user-details", "target": {"object": "users", "recordId": "rec-x"}}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["ok"], false);
    assert_eq!(body["error"]["code"], "USER_NOT_FOUND");
    // Bad params are refused before the plugin is called.
    w.attio.seed_user("rec-y", "auth-y", "y@example.com");
    let (status, body) = call_action(
        &w,
        "update-ban-status",
        json!({"action": "update-ban-status", "target": {"object": "users", "recordId": "rec-y"},
               "params": {"banned": "yes"}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "INVALID_PARAMS");
    assert!(w.plugin.calls("update-ban-status").is_empty());
    // A workspaces record for a user action.
    w.attio.seed_workspace("rec-ws", "org-1");
    let (status, body) = call_action(
        &w,
        "sessions",
        json!({"action": "sessions", "target": {"object": "workspaces", "recordId": "rec-ws"}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "WRONG_OBJECT");
    // Organization actions resolve workspace_id.
    let (status, body) = call_action(
        &w,
        "list-org-invitations",
        json!({"action": "list-org-invitations", "target": {"object": "workspaces", "recordId": "rec-ws"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        w.plugin.calls("list-org-invitations")[0].body["organizationId"],
        "org-1"
    );
    // The plugin down: 502 with a clear code.
    w.plugin.state.lock().unwrap().down = true;
    let (status, body) = call_action(&w, "get-org-roles", json!({"action": "get-org-roles"})).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "PLUGIN_ERROR");
}

async fn uninstall_unlinks_and_removes_the_webhook(db: DbChoice) {
    let w = installed(db, Protocol::SignedV1).await;
    let (status, body) = lifecycle(&w, "connection-check").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["message"].as_str().unwrap().contains("0.1.0-fake"));
    let (status, body) = lifecycle(&w, "uninstall").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["warnings"], json!([]));
    assert_eq!(w.plugin.calls("unlink")[0].body["webhookId"], "link-1");
    assert!(w.attio.state.lock().unwrap().webhooks.is_empty());
    // Gone: the next call does not find the installation.
    let (status, _) = lifecycle(&w, "connection-check").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn openapi_document_lists_the_v1_api() {
    let attio = spawn_attio().await;
    let app = spawn_app(DbChoice::Sqlite, &attio.url()).await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/installations",
        "/v1/actions/{action}",
        "/v1/installations/{id}/audit",
        "/v1/installations/{id}/backfill",
        "/v1/attio/webhooks/{id}",
        "/v1/events/{id}/{token}",
        "/v1/oauth/start",
        "/v1/oauth/callback",
        "/v1/oauth/confirm",
        "/healthz",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    assert!(doc["components"]["schemas"]["ActionCall"].is_object());
}

#[tokio::test]
async fn metrics_and_request_limits() {
    let w = installed(DbChoice::Sqlite, Protocol::SignedV1).await;
    w.attio.seed_user("rec-m", "auth-m", "m@example.com");
    let (status, _) = call_action(
        &w,
        "user-details",
        json!({"action": "user-details", "target": {"object": "users", "recordId": "rec-m"}}),
    )
    .await;
    assert_eq!(status, 200);
    let text = w
        .app
        .http
        .get(w.app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("attio_auth_action_seconds_count 1"), "{text}");
    assert!(text.contains("attio_auth_attio_calls_total{outcome=\"ok\"}"));
    assert!(text.contains("attio_auth_jobs{status="), "{text}");
    // A body over the limit is refused before anything runs.
    let big = vec![b'a'; w.app.config.body_limit + 1];
    let r = w
        .app
        .http
        .post(w.app.url("/v1/installations"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn default_database_is_a_sqlite_file_under_the_data_dir_and_survives_restarts() {
    let attio = spawn_attio().await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(dir.path(), None, &attio.url());
    config.encryption_key = None; // a key file is generated
    let app = spawn_app_with(config.clone(), dir.clone()).await;
    assert!(dir.path().join("attio-auth.db").exists());
    assert!(dir.path().join("encryption.key").exists());
    install_ok(&app, &plugin.connection, ATTIO_TOKEN).await;
    app.shutdown.cancel();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // Restarted with the same directory: migrations are not re-run, secrets still decrypt.
    let app = spawn_app_with(config, dir.clone()).await;
    let w = World {
        app,
        attio,
        plugin,
        installation_id: String::new(),
    };
    let (status, body) = lifecycle(&w, "connection-check").await;
    assert_eq!(status, 200, "{body}");
}

async fn every_action_is_forwarded_with_its_fields(db: DbChoice) {
    let w = installed(db, Protocol::SignedV1).await;
    w.attio.seed_user("rec-u", "auth-u", "u@example.com");
    w.attio.seed_workspace("rec-w", "org-w");
    let user = json!({"object": "users", "recordId": "rec-u"});
    let ws = json!({"object": "workspaces", "recordId": "rec-w"});
    let actor = json!({"email": "admin@acme.com", "workspaceMemberId": MEMBER_ID});
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "user-details",
            json!({"target": user}),
            json!({"userId": "auth-u"}),
        ),
        (
            "update-ban-status",
            json!({"target": user, "params": {"banned": true, "banReason": "r", "banExpiresIn": 3600}}),
            json!({"userId": "auth-u", "banned": true, "banReason": "r", "banExpiresIn": 3600}),
        ),
        (
            "send-password-reset",
            json!({"target": user}),
            json!({"userId": "auth-u"}),
        ),
        (
            "sessions",
            json!({"target": user}),
            json!({"userId": "auth-u"}),
        ),
        (
            "revoke-session",
            json!({"params": {"sessionId": "s-1", "sessionToken": "tok"}}),
            json!({"sessionId": "s-1"}),
        ),
        (
            "revoke-all-sessions",
            json!({"targets": [user]}),
            json!({"userIds": ["auth-u"]}),
        ),
        (
            "impersonate",
            json!({"target": user}),
            json!({"targetUserId": "auth-u", "adminEmail": "admin@acme.com"}),
        ),
        (
            "list-org-invitations",
            json!({"target": ws}),
            json!({"organizationId": "org-w"}),
        ),
        (
            "create-org-invitation",
            json!({"target": ws, "params": {"email": "new@example.com", "role": "member"}}),
            json!({"organizationId": "org-w", "email": "new@example.com", "role": "member", "inviterEmail": "admin@acme.com"}),
        ),
        (
            "cancel-org-invitation",
            json!({"params": {"invitationId": "inv-1"}}),
            json!({"invitationId": "inv-1"}),
        ),
        (
            "search-users",
            json!({"params": {"search": "ali"}}),
            json!({"search": "ali"}),
        ),
        ("get-org-roles", json!({}), json!({})),
        (
            "create-user",
            json!({"target": {"object": "people", "recordId": "rec-person"}, "params": {"email": "p@example.com", "name": "P"}}),
            json!({"email": "p@example.com", "name": "P", "attioId": "rec-person"}),
        ),
        (
            "create-organization",
            json!({"params": {"name": "Org", "slug": "org"}}),
            json!({"name": "Org", "slug": "org"}),
        ),
    ];
    for (action, mut body, expected) in cases {
        body["action"] = json!(action);
        body["actor"] = actor.clone();
        let (status, answer) = call_action(&w, action, body).await;
        assert_eq!(status, 200, "{action}: {answer}");
        assert_eq!(answer["ok"], true, "{action}");
        assert!(
            answer["message"].as_str().unwrap().ends_with('.'),
            "{action}"
        );
        let calls = w.plugin.calls(action);
        assert_eq!(calls.len(), 1, "{action}");
        let mut sent = calls[0].body.clone();
        sent.as_object_mut().unwrap().remove("action");
        assert_eq!(sent, expected, "{action}");
    }
}

async fn attio_webhooks_are_verified_and_deduplicated(db: DbChoice) {
    use hmac::Mac as _;
    let w = installed(db, Protocol::SignedV1).await;
    let url = w
        .app
        .url(&format!("/v1/attio/webhooks/{}", w.installation_id));
    let body = serde_json::to_vec(&json!({"webhook_id": "wh-1", "events": [
        {"event_type": "record.updated",
         "id": {"workspace_id": WORKSPACE_ID, "object_id": "obj-users", "record_id": "rec-1", "attribute_id": "a"},
         "actor": {"type": "workspace-member", "id": "wm-1"}}]}))
    .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"attio-webhook-secret").unwrap();
    mac.update(&body);
    let good = hex::encode(mac.finalize().into_bytes());
    let post = |sig: String, key: &'static str| {
        w.app
            .http
            .post(&url)
            .header("attio-signature", sig)
            .header("idempotency-key", key)
            .body(body.clone())
            .send()
    };
    let r = post("00".repeat(32), "k1").await.unwrap();
    assert_eq!(r.status(), 401);
    let r = w
        .app
        .http
        .post(&url)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no signature");
    let first: Value = post(good.clone(), "k1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["queued"], 1);
    let again: Value = post(good.clone(), "k1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["queued"], 0, "a redelivery is not queued twice");
    let other: Value = post(good, "k2").await.unwrap().json().await.unwrap();
    assert_eq!(other["queued"], 1);
}

async fn uninstall_with_the_auth_server_down_still_removes_the_installation(db: DbChoice) {
    let w = installed(db, Protocol::SignedV1).await;
    w.plugin.state.lock().unwrap().down = true;
    let (status, body) = lifecycle(&w, "uninstall").await;
    assert_eq!(status, 200, "{body}");
    let warnings = body["data"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{body}");
    assert!(warnings[0].as_str().unwrap().contains("not unlinked"));
    assert!(w.attio.state.lock().unwrap().webhooks.is_empty());
    let (status, _) = lifecycle(&w, "connection-check").await;
    assert_eq!(status, 404);
}
