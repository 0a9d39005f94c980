//! Our backend drives the unmodified original plugin (better-auth-attio-plugin 0.3.4 on
//! Better Auth + SQLite, `node tests/compat/server.mjs`) with a connection string of the
//! original generator (legacy protocol: the secret travels in the body): install, every
//! action the original has, and both sync directions (the original's unsigned events to
//! Attio; Attio edits to the original's `webhook`).
//!
//! Needs Node.js >= 20 and `cd tests/compat && npm ci` (scripts/test.sh does both).

use attio_auth_demo::client::{AppClient, AttioReader, plain_value, record_id};
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
    attio_auth_demo::client::add_demo_member(creds.workspace_id);
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
            &json!({"action": "revoke-all-sessions", "actor": {"email": actor, "workspaceMemberId": attio_auth_demo::client::DEMO_MEMBER},
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

/// A JSON object with its keys in the given order, as `JSON.stringify` writes an object
/// literal (serde_json's map would sort them).
fn ordered(fields: &[(&str, String)]) -> String {
    let inner: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn js(v: Value) -> String {
    v.to_string()
}

/// What the Attio app's `src/lib/protocol.ts` `buildBody` makes of one server function's
/// request: `action`, `actor` (`email`, `workspaceMemberId`), `target` or `targets`
/// (`object`, `recordId`), `params` (`{}` when the function gives none), in that order.
fn app_body(
    action: &str,
    actor: &str,
    target: Option<(&str, &str)>,
    targets: Option<&[(&str, &str)]>,
    params: Option<String>,
) -> String {
    let record = |(object, id): (&str, &str)| {
        ordered(&[("object", js(json!(object))), ("recordId", js(json!(id)))])
    };
    let mut fields = vec![
        ("action", js(json!(action))),
        (
            "actor",
            ordered(&[
                ("email", js(json!(actor))),
                ("workspaceMemberId", js(json!(APP_MEMBER))),
            ]),
        ),
    ];
    if let Some(t) = target {
        fields.push(("target", record(t)));
    }
    if let Some(ts) = targets {
        let list: Vec<String> = ts.iter().map(|t| record(*t)).collect();
        fields.push(("targets", format!("[{}]", list.join(","))));
    }
    fields.push(("params", params.unwrap_or_else(|| "{}".to_owned())));
    ordered(&fields)
}

/// The Attio workspace member the app says acts (`getCurrentUser().id`): the demo member,
/// which the test registers in the sandbox.
const APP_MEMBER: &str = attio_auth_demo::client::DEMO_MEMBER;

/// Sends the exact bytes as the app's `callBackend` does: signed (with the connection's
/// secret; a legacy one through its derived key), `attio-workspace-id`, JSON.
async fn app_send(app: &AppClient, action: &str, body: String) -> (u16, Value) {
    let now = chrono::Utc::now().timestamp();
    let h = app.signer.headers(body.as_bytes(), now).expect("signing");
    let res = app
        .http
        .post(format!("{}/v1/actions/{action}", app.backend_url))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("attio-workspace-id", &app.workspace_id)
        .header("webhook-id", h.id)
        .header("webhook-timestamp", h.timestamp.to_string())
        .header("webhook-signature", h.signature)
        .body(body)
        .send()
        .await
        .expect("app-backend answers");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// One app action that must succeed; its `data`.
async fn app_ok(app: &AppClient, action: &str, body: String) -> Value {
    ok_data(action, app_send(app, action, body).await)
}

/// The TypeScript path, as a new user takes it: the generator site makes an
/// original-protocol string for "TypeScript Better Auth plugin", the original plugin runs
/// with the secret the page showed, the string installs in our backend, and every action
/// the Attio app has is sent with the exact body its server function builds
/// (`attio-app/src/server/*.server.ts` through `buildBody`); each effect is read in the
/// original's database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generators_typescript_string_drives_the_original_for_every_app_action() {
    let dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::new();

    // The auth server's address is known first, as a customer knows their domain.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port");
    let node_port = probe.local_addr().expect("addr").port();
    drop(probe);
    let site_root = attio_auth_generator::server::Config::default_site_root();
    let site = attio_auth_generator::server::router(
        attio_auth_generator::server::AppState::new(&site_root),
        &site_root,
    );
    let site_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("site port");
    let site_url = format!("http://{}", site_listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(site_listener, site).await;
    });
    let (connection, secret) = attio_auth_tests::generator::generate_for_plugin(
        &http,
        &site_url,
        &format!("http://127.0.0.1:{node_port}"),
        "/api/auth",
        "typescript",
    )
    .await
    .expect("the generator's TypeScript string");
    let decoded = attio_auth_shared::connection::Connection::decode(&connection).expect("decodes");
    assert_eq!(
        decoded.protocol,
        attio_auth_shared::connection::Protocol::Legacy,
        "the original protocol: no `protocol` field"
    );

    // The unmodified original, configured with ATTIO_SECRET as the page said.
    let node = NodePeer::start_on_port(&dir.path().join("node.db"), &secret, node_port)
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
    let attio_api = format!("{}/v2", sandbox.base_url());
    // The member the app names as the actor (APP_MEMBER), as Attio knows them: the backend
    // resolves the actor through Attio's workspace members API.
    attio_auth_demo::client::add_demo_member(creds.workspace_id);
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
    let (status, body) = install(&http, &backend.url, &connection, &creds.token)
        .await
        .expect("install");
    assert_eq!(status, 201, "install: {body}");

    // The app signs an original-protocol connection with whsec_ + base64(SHA-256(secret)).
    let app = AppClient {
        http: http.clone(),
        backend_url: backend.url.clone(),
        workspace_id: creds.workspace_id.to_string(),
        signer: Signer::from_secret(&SecretString::from(format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&secret))
        )))
        .expect("signer"),
    };
    let actor = "alice@example.com";
    let count = |sql: &'static str, id: String| {
        let (http, node) = (&http, &node);
        async move { node_value(http, node, sql, json!([id])).await }
    };

    // Erin signs up; the original's event makes her Attio record. A second session of hers
    // is added in SQL (a second sign-in would only repeat Better Auth's password hashing).
    let (erin_id, _, _) = seed::sign_up(&http, &node, "Erin Early", "erin@example.com")
        .await
        .expect("sign-up");
    let erin_record = eventually("erin's Attio record", 30, || async {
        attio.find("users", "user_id", &erin_id).await.ok()?
    })
    .await;
    let erin_rid = record_id(&erin_record).expect("record id");
    let erin = ("users", erin_rid.as_str());
    node.sql(
        &http,
        r#"insert into "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId")
           select 'erin-second', "expiresAt", 'erin-second-token', "createdAt", "updatedAt", '', 'Second/1.0', "userId"
           from "session" where "userId" = ? limit 1"#,
        json!([erin_id]),
    )
    .await
    .expect("a second session");
    let sessions_sql = r#"select count(*) from "session" where "userId" = ?"#;
    assert_eq!(count(sessions_sql, erin_id.clone()).await, json!(2));

    // user-details (getUserDetails)
    let data = app_ok(
        &app,
        "user-details",
        app_body("user-details", actor, Some(erin), None, None),
    )
    .await;
    assert_eq!(
        (&data["banned"], &data["role"]),
        (&json!(false), &json!("user")),
        "{data}"
    );

    // sessions (listSessions): what the dialog shows, with the ids it revokes by.
    let data = app_ok(
        &app,
        "sessions",
        app_body("sessions", actor, Some(erin), None, None),
    )
    .await;
    assert_eq!(data["totalCount"], json!(2), "{data}");
    let session_id = data["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find_map(|s| {
            (s["id"] == json!("erin-second"))
                .then(|| s["id"].as_str())
                .flatten()
        })
        .expect("the second session, by id")
        .to_owned();

    // revoke-session (revokeSession): `{sessionId}`, which the original cannot take; our
    // backend finds the session's token through `sessions` and sends that.
    app_ok(
        &app,
        "revoke-session",
        app_body(
            "revoke-session",
            actor,
            Some(erin),
            None,
            Some(ordered(&[("sessionId", js(json!(session_id)))])),
        ),
    )
    .await;
    assert_eq!(
        node_value(
            &http,
            &node,
            r#"select count(*) from "session" where "id" = 'erin-second'"#,
            json!([])
        )
        .await,
        json!(0),
        "that session is gone from the original's database"
    );
    assert_eq!(
        count(sessions_sql, erin_id.clone()).await,
        json!(1),
        "the other one stays"
    );
    // An id the user has no session with is a clear 404, and nothing changes.
    let (status, body) = app_send(
        &app,
        "revoke-session",
        app_body(
            "revoke-session",
            actor,
            Some(erin),
            None,
            Some(ordered(&[("sessionId", js(json!("no-such-session")))])),
        ),
    )
    .await;
    assert_eq!((status, &body["ok"]), (404, &json!(false)), "{body}");
    assert_eq!(count(sessions_sql, erin_id.clone()).await, json!(1));

    // update-ban-status (updateBanStatus with banParams): a ban of one hour, then none.
    app_ok(
        &app,
        "update-ban-status",
        app_body(
            "update-ban-status",
            actor,
            Some(erin),
            None,
            Some(ordered(&[
                ("banned", js(json!(true))),
                ("banReason", js(json!("spam"))),
                ("banExpiresIn", js(json!(3600))),
            ])),
        ),
    )
    .await;
    let ban = node
        .sql(
            &http,
            r#"select "banned", "banReason", "banExpires" from "user" where "id" = ?"#,
            json!([erin_id]),
        )
        .await
        .expect("ban row");
    assert_eq!(
        (&ban[0]["banned"], &ban[0]["banReason"]),
        (&json!(1), &json!("spam")),
        "{ban}"
    );
    assert!(
        !ban[0]["banExpires"].is_null(),
        "the expiry reached the original: {ban}"
    );
    app_ok(
        &app,
        "update-ban-status",
        app_body(
            "update-ban-status",
            actor,
            Some(erin),
            None,
            Some(ordered(&[("banned", js(json!(false)))])),
        ),
    )
    .await;
    assert_eq!(
        count(
            r#"select "banned" from "user" where "id" = ?"#,
            erin_id.clone()
        )
        .await,
        json!(0)
    );

    // send-password-reset (sendPasswordReset): the original mails Erin a link.
    app_ok(
        &app,
        "send-password-reset",
        app_body("send-password-reset", actor, Some(erin), None, None),
    )
    .await;
    let mail = node.mail(&http).await.expect("mail");
    assert!(
        mail.as_array()
            .expect("mail")
            .iter()
            .any(|m| m["kind"] == json!("reset-password") && m["to"] == json!("erin@example.com")),
        "{mail}"
    );

    // impersonate (impersonate): a session for Erin made by Alice.
    let data = app_ok(
        &app,
        "impersonate",
        app_body("impersonate", actor, Some(erin), None, None),
    )
    .await;
    assert!(data["sessionToken"].is_string(), "{data}");
    assert_eq!(
        node_value(
            &http,
            &node,
            r#"select count(*) from "session" where "userId" = ? and "impersonatedBy" = ?"#,
            json!([erin_id, seeded.alice_id])
        )
        .await,
        json!(1)
    );

    // revoke-all-sessions (revokeAllSessions, one record as the record action sends it).
    app_ok(
        &app,
        "revoke-all-sessions",
        app_body("revoke-all-sessions", actor, None, Some(&[erin]), None),
    )
    .await;
    assert_eq!(count(sessions_sql, erin_id.clone()).await, json!(0));

    // search-users (searchUsers trims) and get-org-roles (getOrgRoles).
    let data = app_ok(
        &app,
        "search-users",
        app_body(
            "search-users",
            actor,
            None,
            None,
            Some(ordered(&[("search", js(json!("erin@")))])),
        ),
    )
    .await;
    assert_eq!(data["users"][0]["id"], json!(erin_id), "{data}");
    let data = app_ok(
        &app,
        "get-org-roles",
        app_body("get-org-roles", actor, None, None, None),
    )
    .await;
    assert_eq!(data["roles"], json!(["member", "admin", "owner"]));

    // Organization actions on a `workspaces` record naming the original's organization.
    let res = http
        .post(format!("{attio_api}/objects/workspaces/records"))
        .bearer_auth(&creds.token)
        .json(&json!({"data": {"values": {"workspace_id": seeded.org_id, "name": "Acme Inc"}}}))
        .send()
        .await
        .expect("workspaces record");
    let record: Value = res.json().await.expect("record");
    let org_rid = record_id(&record["data"]).expect("workspaces record id");
    let org = ("workspaces", org_rid.as_str());
    let data = app_ok(
        &app,
        "create-org-invitation",
        app_body(
            "create-org-invitation",
            actor,
            Some(org),
            None,
            Some(ordered(&[
                ("email", js(json!("gina@example.com"))),
                ("role", js(json!("member"))),
            ])),
        ),
    )
    .await;
    let invitation = data["id"].as_str().expect("invitation id").to_owned();
    assert_eq!(
        node_value(
            &http,
            &node,
            r#"select "status" from "invitation" where "id" = ? and "email" = 'gina@example.com'"#,
            json!([invitation])
        )
        .await,
        json!("pending")
    );
    let data = app_ok(
        &app,
        "list-org-invitations",
        app_body("list-org-invitations", actor, Some(org), None, None),
    )
    .await;
    assert!(data.to_string().contains(&invitation), "{data}");
    app_ok(
        &app,
        "cancel-org-invitation",
        app_body(
            "cancel-org-invitation",
            actor,
            Some(org),
            None,
            Some(ordered(&[("invitationId", js(json!(invitation)))])),
        ),
    )
    .await;
    assert_eq!(
        node_value(
            &http,
            &node,
            r#"select "status" from "invitation" where "id" = ?"#,
            json!([invitation])
        )
        .await,
        json!("canceled")
    );

    // The two actions the original has no endpoint for answer a clear error and make nothing
    // (the generator's page says they need the Rust plugin).
    let users_before = node_value(&http, &node, r#"select count(*) from "user""#, json!([])).await;
    for (action, target, params) in [
        (
            "create-user",
            ("people", "00000000-0000-4000-8000-0000000000aa"),
            ordered(&[
                ("email", js(json!("new@example.com"))),
                ("name", js(json!("New Person"))),
            ]),
        ),
        (
            "create-organization",
            ("companies", "00000000-0000-4000-8000-0000000000bb"),
            ordered(&[("name", js(json!("New Co")))]),
        ),
    ] {
        let (status, body) = app_send(
            &app,
            action,
            app_body(action, actor, Some(target), None, Some(params)),
        )
        .await;
        assert!(status >= 400, "{action}: {status} {body}");
        assert_eq!(body["ok"], json!(false), "{action}: {body}");
        assert!(body["error"]["message"].is_string(), "{action}: {body}");
    }
    assert_eq!(
        node_value(&http, &node, r#"select count(*) from "user""#, json!([])).await,
        users_before
    );
    backend.stop().await;
}
