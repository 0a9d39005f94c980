//! Our backend drives the unmodified original plugin (better-auth-attio-plugin 0.3.4 on
//! Better Auth + SQLite, `node tests/compat/server.mjs`) with a connection string of the
//! original generator (legacy protocol: the secret travels in the body): install, every
//! action the original has, and both sync directions (the original's unsigned events to
//! Attio; Attio edits to the original's `webhook`).
//!
//! Needs Node.js >= 20 and `cd tests/compat && npm ci` (scripts/test.sh does both).

use attio_auth_backend::demo::client::{AppClient, AttioReader, plain_value, record_id};
use attio_auth_shared::signing::Signer;
use attio_auth_tests::backend::{BackendServer, install};
use attio_auth_tests::node_peer::NodePeer;
use attio_auth_tests::wait::eventually;
use attio_auth_tests::{LEGACY_SECRET, seed};
use attio_sandbox::{Sandbox, SandboxConfig, WorkspaceOptions};
use base64::Engine as _;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn ok_data(what: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, 200, "{what}: {body}");
    assert_eq!(body["ok"], json!(true), "{what}: {body}");
    body["data"].clone()
}

/// A record action as the Attio app sends it that must succeed; answers its `data`.
async fn ok_action(
    app: &AppClient,
    action: &str,
    actor: &str,
    target: Option<(&str, &str)>,
    params: Value,
) -> Value {
    ok_data(
        action,
        app.action(action, actor, target, params)
            .await
            .expect("call"),
    )
}

/// A value of the original's database.
async fn node_value(http: &reqwest::Client, node: &NodePeer, sql: &str, params: Value) -> Value {
    let rows = node.sql(http, sql, params).await.expect("sql");
    rows[0]
        .as_object()
        .and_then(|m| m.values().next().cloned())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_backend_drives_the_original_plugin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::new();
    let node = NodePeer::start(&dir.path().join("node.db"), LEGACY_SECRET)
        .await
        .expect("the original plugin (tests/compat) must start");
    let seeded = seed::seed(&http, &node).await.expect("seed");
    let sandbox = Sandbox::start(SandboxConfig::for_tests())
        .await
        .expect("sandbox");
    let creds = sandbox.create_workspace(WorkspaceOptions {
        enable_objects: vec!["users".into(), "workspaces".into()],
        ..Default::default()
    });
    attio_auth_backend::demo::client::add_demo_member(creds.workspace_id);
    let attio_api = format!("{}/v2", sandbox.base_url());
    let attio = AttioReader {
        http: http.clone(),
        api_url: attio_api.clone(),
        token: creds.token.clone(),
    };
    let data_dir = dir.path().join("backend");
    std::fs::create_dir_all(&data_dir).expect("data dir");
    let backend = BackendServer::start(&data_dir, &attio_api, 0)
        .await
        .expect("backend");

    // A connection string exactly as the original generator makes it.
    let legacy = base64::engine::general_purpose::STANDARD
        .encode(json!({"uri": node.url, "base": "/api/auth", "secret": LEGACY_SECRET}).to_string());
    let (status, body) = install(&http, &backend.url, &legacy, &creds.token)
        .await
        .expect("install");
    assert_eq!(status, 201, "install: {body}");
    let links = node_value(
        &http,
        &node,
        r#"select count(*) from "attioIntegration""#,
        json!([]),
    )
    .await;
    assert_eq!(links, json!(1), "the backend linked itself to the original");

    // The Attio app signs legacy connections with whsec_ + base64(SHA-256(secret)).
    let app = AppClient {
        http: http.clone(),
        backend_url: backend.url.clone(),
        workspace_id: creds.workspace_id.to_string(),
        signer: Signer::from_secret(&SecretString::from(format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(LEGACY_SECRET))
        )))
        .expect("signer"),
    };

    // auth -> Attio: the original's (unsigned) event of a sign-up makes a record.
    let (erin_id, _, erin_token) = seed::sign_up(&http, &node, "Erin Early", "erin@example.com")
        .await
        .expect("sign-up");
    let erin_record = eventually("erin's Attio record", 30, || async {
        attio.find("users", "user_id", &erin_id).await.ok()?
    })
    .await;
    assert_eq!(
        plain_value(&erin_record, "primary_email_address").as_deref(),
        Some("erin@example.com")
    );
    let erin_rid = record_id(&erin_record).expect("record id");
    let erin = Some(("users", erin_rid.as_str()));
    let actor = "alice@example.com";

    // Every action of the original, through our backend.
    let data = ok_action(&app, "user-details", actor, erin, json!({})).await;
    assert_eq!(
        (&data["banned"], &data["role"]),
        (&json!(false), &json!("user"))
    );
    let data = ok_action(&app, "sessions", actor, erin, json!({})).await;
    assert_eq!(data["totalCount"], json!(1), "{data}");
    ok_action(
        &app,
        "revoke-session",
        actor,
        None,
        json!({"sessionToken": erin_token}),
    )
    .await;
    let data = ok_action(&app, "sessions", actor, erin, json!({})).await;
    assert_eq!(data["totalCount"], json!(0), "{data}");
    ok_action(
        &app,
        "update-ban-status",
        actor,
        erin,
        json!({"banned": true, "banReason": "spam", "banExpiresIn": 3600}),
    )
    .await;
    let data = ok_action(&app, "user-details", actor, erin, json!({})).await;
    assert_eq!(
        (&data["banned"], &data["banReason"]),
        (&json!(true), &json!("spam")),
        "{data}"
    );
    assert!(
        data["bannedUntil"].is_string(),
        "the expiry must reach the original (app-backend turns the contract's banExpiresIn seconds into the original's banExpires ISO date for legacy connections): {data}"
    );
    ok_action(
        &app,
        "update-ban-status",
        actor,
        erin,
        json!({"banned": false}),
    )
    .await;
    ok_action(&app, "send-password-reset", actor, erin, json!({})).await;
    let mail = node.mail(&http).await.expect("mail");
    assert!(mail.to_string().contains("erin@example.com"), "{mail}");
    let data = ok_action(&app, "impersonate", actor, erin, json!({})).await;
    assert!(data["sessionToken"].is_string(), "{data}");
    seed::sign_up(&http, &node, "Frank Later", "frank@example.com")
        .await
        .expect("sign-up");
    let (status, body) = app
        .call(
            "revoke-all-sessions",
            &json!({"action": "revoke-all-sessions", "actor": {"email": actor, "workspaceMemberId": attio_auth_backend::demo::client::DEMO_MEMBER},
                    "targets": [{"object": "users", "recordId": erin_rid}], "params": {}}),
        )
        .await
        .expect("call");
    assert_eq!((status, &body["ok"]), (200, &json!(true)), "{body}");
    let data = ok_action(
        &app,
        "search-users",
        actor,
        None,
        json!({"search": "example.com"}),
    )
    .await;
    assert!(
        data["users"].as_array().map(Vec::len).unwrap_or(0) >= 4,
        "{data}"
    );
    let data = ok_action(&app, "get-org-roles", actor, None, json!({})).await;
    assert_eq!(data["roles"], json!(["member", "admin", "owner"]));

    // Organization actions on a `workspaces` record that names the original's organization
    // (the original never syncs organizations: a person made the record).
    let res = http
        .post(format!("{attio_api}/objects/workspaces/records"))
        .bearer_auth(&creds.token)
        .json(&json!({"data": {"values": {"workspace_id": seeded.org_id, "name": "Acme Inc"}}}))
        .send()
        .await
        .expect("workspaces record");
    let record: Value = res.json().await.expect("record");
    let org_rid = record_id(&record["data"]).expect("workspaces record id");
    let org = Some(("workspaces", org_rid.as_str()));
    let data = ok_action(
        &app,
        "create-org-invitation",
        actor,
        org,
        json!({"email": "gina@example.com", "role": "member"}),
    )
    .await;
    let invitation = data["id"].as_str().expect("invitation id").to_owned();
    let data = ok_action(&app, "list-org-invitations", actor, org, json!({})).await;
    assert!(data.to_string().contains("gina@example.com"), "{data}");
    ok_action(
        &app,
        "cancel-org-invitation",
        actor,
        None,
        json!({"invitationId": invitation}),
    )
    .await;
    let status = node_value(
        &http,
        &node,
        r#"select "status" from "invitation" where "id" = ?"#,
        json!([invitation]),
    )
    .await;
    assert_eq!(status, json!("canceled"));

    // The new actions the original does not have answer a clear error, never a fake success.
    let (status, body) = app
        .action(
            "create-user",
            actor,
            None,
            json!({"email": "new@example.com", "name": "New"}),
        )
        .await
        .expect("call");
    assert!(status >= 400, "{status} {body}");
    assert_eq!(body["ok"], json!(false), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");

    // Attio -> auth: renaming the record in Attio renames the user in the original's
    // database (the backend forwards the webhook with the body secret).
    let res = http
        .patch(format!("{attio_api}/objects/users/records/{erin_rid}"))
        .bearer_auth(&creds.token)
        .json(&json!({"data": {"values": {"name": "Erin Renamed"}}}))
        .send()
        .await
        .expect("patch");
    assert!(res.status().is_success());
    eventually("the rename in the original's database", 30, || async {
        let name = node_value(
            &http,
            &node,
            r#"select "name" from "user" where "id" = ?"#,
            json!([erin_id]),
        )
        .await;
        (name == json!("Erin Renamed")).then_some(())
    })
    .await;

    // At the end Attio and the original's database agree on every synced user.
    let users = node
        .sql(
            &http,
            r#"select "id", "email", "name" from "user" where "email" in ('erin@example.com', 'frank@example.com')"#,
            json!([]),
        )
        .await
        .expect("users");
    for u in users.as_array().expect("rows") {
        let id = u["id"].as_str().expect("id");
        let record = eventually("the user's record", 30, || async {
            attio.find("users", "user_id", id).await.ok()?
        })
        .await;
        assert_eq!(
            plain_value(&record, "primary_email_address").as_deref(),
            u["email"].as_str()
        );
        assert_eq!(
            plain_value(&record, "name").as_deref(),
            u["name"].as_str(),
            "{u}"
        );
    }
    backend.stop().await;
}
