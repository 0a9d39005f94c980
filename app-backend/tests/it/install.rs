//! The install flow against a strict attio-sandbox, before and while it changes anything:
//! missing token scopes, a disabled object answered as 404 or as a refused query, a
//! single-select `users.workspace`, an http `PUBLIC_URL` with Attio's own API URL, and a
//! fault at each remote step undone.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::*;
use attio_auth_shared::connection::Protocol;
use attio_sandbox::{FaultRule, SandboxHandle};
use serde_json::{Value, json};

/// Requests that changed something in the sandbox (anything but reads).
fn writes(sandbox: &SandboxHandle) -> Vec<String> {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/query") && r.status < 300)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

async fn slugs(sandbox: &SandboxHandle, token: &str, object: &str, archived: bool) -> Vec<String> {
    let v = attio_get(
        sandbox,
        token,
        &format!("/v2/objects/{object}/attributes?show_archived={archived}"),
    )
    .await;
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["api_slug"].as_str().unwrap().to_owned())
        .collect()
}

async fn webhooks(sandbox: &SandboxHandle, token: &str) -> Vec<Value> {
    let v = attio_get(sandbox, token, "/v2/webhooks").await;
    v["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn install_refuses_a_token_missing_each_scope_before_changing_anything() {
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let app = spawn_app(DbChoice::Sqlite, &api_url(&sandbox)).await;
    let all = [
        "object_configuration:read-write",
        "record_permission:read-write",
        "webhook:read-write",
    ];
    for missing in all {
        // The scope at read only, the others in full.
        let read_only = missing.replace(":read-write", ":read");
        let mut scopes: Vec<String> = all
            .iter()
            .filter(|s| **s != missing)
            .map(|s| s.to_string())
            .collect();
        scopes.push(read_only);
        let (token, _) = sandbox.create_token(creds.workspace_id, scopes).unwrap();
        let (status, body) = install(&app, &plugin.connection, &token).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "ATTIO_TOKEN_SCOPES", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(missing), "{message}");
        for other in all.iter().filter(|s| **s != missing) {
            assert!(!message.contains(other), "{message}");
        }
    }
    assert!(writes(&sandbox).is_empty(), "{:?}", writes(&sandbox));
    assert!(plugin.calls("link").is_empty());
}

#[tokio::test]
async fn install_treats_a_disabled_object_as_404_or_as_a_refused_query() {
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let app = spawn_app(DbChoice::Sqlite, &api_url(&sandbox)).await;

    // The sandbox's answer: the object itself is 404.
    assert!(sandbox.set_object_enabled(creds.workspace_id, "workspaces", false));
    let (status, body) = install(&app, &plugin.connection, &creds.token).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "ATTIO_OBJECTS_DISABLED");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("workspaces")
    );
    assert!(sandbox.set_object_enabled(creds.workspace_id, "workspaces", true));

    // The other possible answer: the object is served, its records are refused.
    for status_code in [404, 400, 403] {
        sandbox.clear_fault_rules();
        assert!(sandbox.add_fault_rule(FaultRule {
            method: "POST".into(),
            path_contains: "/v2/objects/users/records/query".into(),
            status: status_code,
            times: None,
        }));
        let (status, body) = install(&app, &plugin.connection, &creds.token).await;
        assert_eq!(status, 422, "{status_code}: {body}");
        assert_eq!(body["error"]["code"], "ATTIO_OBJECTS_DISABLED");
        assert!(body["error"]["message"].as_str().unwrap().contains("users"));
    }
    assert!(writes(&sandbox).is_empty(), "{:?}", writes(&sandbox));
    sandbox.clear_fault_rules();
    let (status, body) = install(&app, &plugin.connection, &creds.token).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn single_select_users_workspace_makes_membership_one_way_with_a_warning() {
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    assert!(sandbox.set_attribute_multiselect(creds.workspace_id, "users", "workspace", false));
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let app = spawn_app(DbChoice::Sqlite, &api_url(&sandbox)).await;
    let (status, body) = install(&app, &plugin.connection, &creds.token).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["installation"]["membershipToAttioOnly"], true);
    let warnings = body["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("users.workspace")),
        "{warnings:?}"
    );

    // A user edited in Attio reaches the plugin without its workspace membership.
    let http = reqwest::Client::new();
    let ws: Value = http
        .put(format!(
            "{}/v2/objects/workspaces/records?matching_attribute=workspace_id",
            sandbox.base_url()
        ))
        .bearer_auth(&creds.token)
        .json(&json!({"data": {"values": {"workspace_id": "org-1", "name": "Org"}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(ws["data"]["id"]["record_id"].is_string(), "{ws}");
    let user = http
        .post(format!("{}/v2/objects/users/records", sandbox.base_url()))
        .bearer_auth(&creds.token)
        .json(&json!({"data": {"values": {"user_id": "u-1", "primary_email_address": "u1@example.com", "workspace": ["org-1"]}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 200);
    let mut forwarded = None;
    for _ in 0..500 {
        forwarded = plugin
            .calls("webhook")
            .into_iter()
            .find(|c| c.body["events"][0]["record"]["values"]["user_id"][0]["value"] == "u-1");
        if forwarded.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let forwarded = forwarded.expect("the user event reaches the plugin");
    let values = &forwarded.body["events"][0]["record"]["values"];
    assert!(values.get("workspace").is_none(), "{values}");
    assert_eq!(
        values["primary_email_address"][0]["email_address"],
        "u1@example.com"
    );
}

#[tokio::test]
async fn http_public_url_is_refused_against_attio_itself_without_any_call() {
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let app = spawn_app(DbChoice::Sqlite, "https://api.attio.com/v2").await;
    assert!(
        app.config.public_url.is_none(),
        "PUBLIC_URL defaults to http://<bind>"
    );
    let (status, body) = install(&app, &plugin.connection, "some-token").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "PUBLIC_URL_NOT_HTTPS");
    let stats = &app.state.attio.stats;
    for counter in [
        &stats.ok,
        &stats.client_errors,
        &stats.server_errors,
        &stats.rate_limited,
    ] {
        assert_eq!(counter.load(Ordering::Relaxed), 0, "no call to Attio");
    }
    assert!(plugin.calls("ping").is_empty(), "no call to the plugin");
}

#[tokio::test]
async fn a_fault_at_each_remote_step_undoes_what_the_install_did() {
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let app = spawn_app(DbChoice::Sqlite, &api_url(&sandbox)).await;
    // Each step after the first remote change (the users attributes are created first);
    // the last one is the plugin's `link`, after the webhook was registered.
    let steps = [
        (
            "POST",
            "/v2/objects/workspaces/attributes",
            "the workspaces attribute",
        ),
        ("POST", "/v2/webhooks", "the webhook"),
        ("", "", "the plugin link"),
    ];
    for (method, path, what) in steps {
        sandbox.clear_fault_rules();
        if method.is_empty() {
            plugin.state.lock().unwrap().failing_actions = vec!["link".into()];
        } else {
            assert!(sandbox.add_fault_rule(FaultRule {
                method: method.to_string(),
                path_contains: path.to_string(),
                status: 500,
                times: None,
            }));
        }
        let (status, body) = install(&app, &plugin.connection, &creds.token).await;
        assert!(status >= 500, "{what}: {status} {body}");
        // Nothing is left behind: no webhook, no installation, no active attribute we made.
        assert!(webhooks(&sandbox, &creds.token).await.is_empty(), "{what}");
        let users = slugs(&sandbox, &creds.token, "users", false).await;
        let workspaces = slugs(&sandbox, &creds.token, "workspaces", false).await;
        for made in ["name", "email_verified"] {
            assert!(
                !users.contains(&made.to_string()),
                "{what}: users.{made} {users:?}"
            );
        }
        assert!(
            !workspaces.contains(&"slug".to_string()),
            "{what}: {workspaces:?}"
        );
        let archived = slugs(&sandbox, &creds.token, "users", true).await;
        assert!(
            archived.contains(&"email_verified".to_string()),
            "{archived:?}"
        );
        let rows: i64 = sqlx::Row::get(
            &sqlx::query("select count(*) as n from installations")
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap(),
            "n",
        );
        assert_eq!(rows, 0, "{what}");
    }
    // The link step really ran after the webhook was made (and was then undone).
    assert!(
        sandbox.requests().iter().any(|r| r.method == "DELETE"
            && r.path.starts_with("/v2/webhooks/")
            && r.status == 200),
        "the webhook was deleted on undo: {:?}",
        sandbox
            .requests()
            .iter()
            .filter(|r| r.path.contains("webhooks"))
            .map(|r| format!("{} {} {}", r.method, r.path, r.status))
            .collect::<Vec<_>>()
    );
    // Without faults the install succeeds and restores the archived attributes.
    sandbox.clear_fault_rules();
    plugin.state.lock().unwrap().failing_actions.clear();
    let (status, body) = install(&app, &plugin.connection, &creds.token).await;
    assert_eq!(status, 201, "{body}");
    let users = slugs(&sandbox, &creds.token, "users", false).await;
    for made in ["name", "email_verified"] {
        assert!(users.contains(&made.to_string()), "users.{made} {users:?}");
    }
    assert!(
        slugs(&sandbox, &creds.token, "workspaces", false)
            .await
            .contains(&"slug".to_string())
    );
    assert_eq!(webhooks(&sandbox, &creds.token).await.len(), 1);
}

/// The auth id linked to an Attio record, read from the backend's database.
async fn linked(app: &TestApp, record_id: &str) -> Option<String> {
    sqlx::query("select auth_id from record_links where record_id = $1")
        .bind(record_id)
        .fetch_optional(&app.state.db.pool)
        .await
        .unwrap()
        .map(|r| sqlx::Row::get(&r, "auth_id"))
}

async fn wait_linked(app: &TestApp, record_id: &str) -> String {
    for _ in 0..500 {
        if let Some(a) = linked(app, record_id).await {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("record {record_id} never linked");
}

async fn attio_user(sandbox: &SandboxHandle, token: &str, user_id: &str) -> String {
    let v: Value = reqwest::Client::new()
        .post(format!("{}/v2/objects/users/records", sandbox.base_url()))
        .bearer_auth(token)
        .json(&json!({"data": {"values": {"user_id": user_id, "primary_email_address": format!("{user_id}@example.com")}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["id"]["record_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn record_merged_moves_the_merged_records_link_to_the_survivor() {
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let app = spawn_app(DbChoice::Sqlite, &api_url(&sandbox)).await;
    let (status, body) = install(&app, &plugin.connection, &creds.token).await;
    assert_eq!(status, 201, "{body}");

    // The survivor is not linked (e.g. made by hand in Attio): the link moves to it.
    let merged = attio_user(&sandbox, &creds.token, "u-1").await;
    assert_eq!(wait_linked(&app, &merged).await, "u-1");
    let survivor = attio_user(&sandbox, &creds.token, "crm-1").await;
    wait_linked(&app, &survivor).await;
    sqlx::query("delete from record_links where record_id = $1")
        .bind(&survivor)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    assert!(sandbox.merge_records(
        creds.workspace_id,
        "users",
        survivor.parse().unwrap(),
        merged.parse().unwrap()
    ));
    for _ in 0..500 {
        if linked(&app, &survivor).await.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(linked(&app, &survivor).await.as_deref(), Some("u-1"));
    assert_eq!(linked(&app, &merged).await, None);

    // Both linked: the survivor keeps its own link, the merged record's is dropped.
    let a = attio_user(&sandbox, &creds.token, "u-2").await;
    let b = attio_user(&sandbox, &creds.token, "u-3").await;
    wait_linked(&app, &a).await;
    wait_linked(&app, &b).await;
    assert!(sandbox.merge_records(
        creds.workspace_id,
        "users",
        a.parse().unwrap(),
        b.parse().unwrap()
    ));
    for _ in 0..500 {
        if linked(&app, &b).await.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(linked(&app, &b).await, None);
    assert_eq!(linked(&app, &a).await.as_deref(), Some("u-2"));
}

#[tokio::test]
async fn select_attributes_get_their_options_and_archived_ones_are_restored_or_reported() {
    use attio_auth_backend::installations::{Undo, ensure_attributes_undoable};
    use attio_auth_shared::sync::{AdapterInfo, AttributeType, FieldConfig, FieldSchema};

    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    let app = spawn_app(DbChoice::Sqlite, &api_url(&sandbox)).await;
    let auth = attio_auth(&creds);
    let mut adapter = AdapterInfo::default_user();
    let mut plan = FieldSchema::new(AttributeType::Select, "Plan", "Billing plan");
    plan.config = Some(FieldConfig {
        options: Some(vec!["Free".into(), "Pro".into()]),
        ..FieldConfig::default()
    });
    adapter.attio_schema.insert("plan".into(), plan);
    let mut undo = Undo::default();
    let report = ensure_attributes_undoable(&app.state, &auth, &adapter, &mut undo)
        .await
        .unwrap();
    assert!(
        report.created.contains(&"users.plan".to_string()),
        "{report:?}"
    );
    let options = attio_get(
        &sandbox,
        &creds.token,
        "/v2/objects/users/attributes/plan/options",
    )
    .await;
    let titles: Vec<&str> = options["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Free", "Pro"]);

    // Archived: restored.
    assert!(sandbox.set_attribute_archived(creds.workspace_id, "users", "plan", true));
    let mut undo = Undo::default();
    let report = ensure_attributes_undoable(&app.state, &auth, &adapter, &mut undo)
        .await
        .unwrap();
    assert!(report.warnings.is_empty(), "{report:?}");
    assert_eq!(undo.unarchived, [("users".to_string(), "plan".to_string())]);
    assert!(
        slugs(&sandbox, &creds.token, "users", false)
            .await
            .contains(&"plan".to_string())
    );

    // Archived and Attio refuses to restore it: reported.
    assert!(sandbox.set_attribute_archived(creds.workspace_id, "users", "plan", true));
    assert!(sandbox.add_fault_rule(FaultRule {
        method: "PATCH".into(),
        path_contains: "/attributes/plan".into(),
        status: 400,
        times: None,
    }));
    let report = ensure_attributes_undoable(&app.state, &auth, &adapter, &mut Undo::default())
        .await
        .unwrap();
    assert!(
        report.warnings.iter().any(|w| w.contains("users.plan")),
        "{report:?}"
    );
}

/// Installs with a plugin exporting `emails` as users, with people linking set as given,
/// and answers each user's Attio record once the backfill wrote them all.
async fn backfill_users(
    sandbox: &SandboxHandle,
    creds: &attio_sandbox::WorkspaceCredentials,
    emails: &[&str],
    link: bool,
    create: bool,
) -> Vec<Value> {
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    plugin.state.lock().unwrap().export_users = emails
        .iter()
        .enumerate()
        .map(|(i, e)| {
            json!({"id": format!("u{i}"), "email": e, "name": format!("U {i}"),
            "emailVerified": true, "image": null, "role": "user", "banned": false, "attioId": null,
            "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"})
        })
        .collect();
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(dir.path(), None, &api_url(sandbox));
    config.attio_link_people = link;
    config.attio_create_people = create;
    let app = spawn_app_with(config, dir).await;
    let (status, body) = install(&app, &plugin.connection, &creds.token).await;
    assert_eq!(status, 201, "{body}");
    for _ in 0..500 {
        let users = attio_records(sandbox, &creds.token, "users").await;
        if users.len() == emails.len() {
            return users;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the backfill did not write every user");
}

async fn people(sandbox: &SandboxHandle, token: &str) -> Vec<Value> {
    attio_records(sandbox, token, "people").await
}

#[tokio::test]
async fn users_are_linked_to_their_person_by_email_and_people_are_created_only_if_configured() {
    // A person with the first user's email exists; the second user has none.
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    let known = reqwest::Client::new()
        .post(format!("{}/v2/objects/people/records", sandbox.base_url()))
        .bearer_auth(&creds.token)
        .json(&json!({"data": {"values": {"email_addresses": ["known@example.com"]}}}))
        .send()
        .await
        .unwrap();
    let known: Value = known.json().await.unwrap();
    let known_id = known["data"]["id"]["record_id"].clone();
    let users = backfill_users(
        &sandbox,
        &creds,
        &["Known@Example.com", "stranger@example.com"],
        true,
        false,
    )
    .await;
    let person_of = |email: &str| {
        users
            .iter()
            .find(|u| u["values"]["primary_email_address"][0]["email_address"] == email)
            .map(|u| u["values"]["person"].clone())
            .unwrap()
    };
    assert_eq!(
        person_of("known@example.com")[0]["target_record_id"],
        known_id
    );
    assert_eq!(person_of("stranger@example.com"), json!([]));
    assert_eq!(
        people(&sandbox, &creds.token).await.len(),
        1,
        "no person created"
    );

    // Configured to create people: the stranger gets one.
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    let users = backfill_users(&sandbox, &creds, &["stranger@example.com"], true, true).await;
    let created = people(&sandbox, &creds.token).await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        users[0]["values"]["person"][0]["target_record_id"],
        created[0]["id"]["record_id"]
    );

    // Linking off: no person reference is written.
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    let users = backfill_users(&sandbox, &creds, &["x@example.com"], false, true).await;
    assert_eq!(users[0]["values"]["person"], json!([]));
    assert!(people(&sandbox, &creds.token).await.is_empty());
}

#[tokio::test]
async fn the_webhook_is_updated_when_an_adapter_names_another_object() {
    use attio_auth_backend::installations::{Installation, ensure_webhook_covers};
    let (sandbox, creds) = sandbox_with(SYNCED_OBJECTS).await;
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    let app = spawn_app(DbChoice::Sqlite, &api_url(&sandbox)).await;
    let (status, body) = install(&app, &plugin.connection, &creds.token).await;
    assert_eq!(status, 201, "{body}");
    let id = body["installation"]["id"].as_str().unwrap();
    let inst = Installation::find(&app.state, id).await.unwrap().unwrap();
    assert_eq!(inst.attio_object_ids.len(), 2);
    let secret_before = inst.attio_webhook_secret.is_some();
    ensure_webhook_covers(&app.state, &inst, "people")
        .await
        .unwrap();
    let inst = Installation::find(&app.state, id).await.unwrap().unwrap();
    assert_eq!(inst.attio_object_ids.len(), 3);
    assert!(secret_before && inst.attio_webhook_secret.is_some());
    let hooks = webhooks(&sandbox, &creds.token).await;
    assert_eq!(hooks.len(), 1, "updated in place, not a second webhook");
    for sub in hooks[0]["subscriptions"].as_array().unwrap() {
        let values: Vec<Value> = sub["filter"]["$or"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].clone())
            .collect();
        assert_eq!(values.len(), 3);
        assert_eq!(
            values
                .iter()
                .map(|v| Value::String(v.as_str().unwrap().to_owned()))
                .collect::<Vec<_>>(),
            inst.attio_object_ids
                .iter()
                .map(|s| Value::String(s.clone()))
                .collect::<Vec<_>>()
        );
    }
    // Covered already: nothing changes.
    let writes_before = writes(&sandbox).len();
    ensure_webhook_covers(&app.state, &inst, "people")
        .await
        .unwrap();
    assert_eq!(writes(&sandbox).len(), writes_before);
}
