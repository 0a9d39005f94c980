//! Every request body the backend sends to Attio, checked against the request schema of
//! its operation in Attio's OpenAPI document (`attio-sandbox/tests/fixtures/
//! openapi-requests.json`): the install (attributes, select options, webhook), the backfill
//! (record asserts), record queries, attribute unarchiving, webhook subscription updates.
//! The sandbox keeps each request's body in its log (`record_bodies`).
#[path = "../../../attio-sandbox/tests/it/common/mod.rs"]
mod sandbox_schema;

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::*;
use attio_auth_shared::connection::Protocol;
use attio_auth_shared::sync::{AttributeType, FieldConfig, FieldSchema};
use attio_sandbox::{Sandbox, SandboxConfig, WorkspaceOptions};
use serde_json::json;

/// The spec operation of a sandbox request path (`/v2/objects/users/records?...`).
fn operation(method: &str, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let p = match segs.as_slice() {
        ["v2", "objects", _, "attributes"] => "/v2/{target}/{identifier}/attributes",
        ["v2", "objects", _, "attributes", _] => "/v2/{target}/{identifier}/attributes/{attribute}",
        ["v2", "objects", _, "attributes", _, "options"] => {
            "/v2/{target}/{identifier}/attributes/{attribute}/options"
        }
        ["v2", "objects", _, "records"] => "/v2/objects/{object}/records",
        ["v2", "objects", _, "records", "query"] => "/v2/objects/{object}/records/query",
        ["v2", "objects", _, "records", _] => "/v2/objects/{object}/records/{record_id}",
        ["v2", "webhooks"] => "/v2/webhooks",
        ["v2", "webhooks", _] => "/v2/webhooks/{webhook_id}",
        _ => return None,
    };
    Some(format!("{method} {p}"))
}

#[tokio::test]
async fn every_request_body_the_backend_sends_matches_attios_request_schema() {
    let sandbox = Sandbox::start(SandboxConfig {
        record_bodies: true,
        ..SandboxConfig::for_tests()
    })
    .await
    .unwrap();
    let creds = sandbox.create_workspace(WorkspaceOptions {
        enable_objects: vec!["users".into(), "workspaces".into()],
        ..Default::default()
    });
    let plugin = spawn_plugin(Protocol::SignedV1).await;
    {
        let mut st = plugin.state.lock().unwrap();
        st.export_users = (0..3)
            .map(|i| json!({"id": format!("b{i}"), "email": format!("b{i}@example.com"), "name": format!("B {i}"),
                "emailVerified": i % 2 == 0, "image": null, "role": "user", "banned": false, "attioId": null,
                "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"}))
            .collect();
        st.export_orgs = vec![
            json!({"id": "org-b", "name": "Borg", "slug": "borg", "logo": null,
            "metadata": null, "attioId": null, "createdAt": "2026-01-01T00:00:00.000Z",
            "members": [{"id": "m1", "userId": "b1", "role": "owner", "createdAt": "2026-01-01T00:00:00.000Z"}]}),
        ];
    }
    // An https PUBLIC_URL, as a real install needs: the target then matches the schema's
    // `^https://` (deliveries to it fail here, which this test does not need).
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(dir.path(), None, &api_url(&sandbox));
    config.public_url = Some("https://auth-sync.example.test".into());
    let app = spawn_app_with(config, dir).await;
    let (status, body) = install(&app, &plugin.connection, &creds.token).await;
    assert_eq!(status, 201, "{body}");
    // The backfill asserts the organization last: wait for it.
    let mut asserted = false;
    for _ in 0..1000 {
        asserted = sandbox.requests().iter().any(|r| {
            r.method == "PUT"
                && r.path.starts_with("/v2/objects/workspaces/records")
                && r.status == 200
        });
        if asserted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(asserted, "the backfill reached Attio");

    // The client calls the install flow only makes in other states.
    let auth = attio_auth(&creds);
    let attio = &app.state.attio;
    let mut plan = FieldSchema::new(AttributeType::Select, "Plan", "Billing plan");
    plan.config = Some(FieldConfig {
        options: Some(vec!["Free".into()]),
        ..FieldConfig::default()
    });
    assert!(
        attio
            .create_attribute(&auth, "users", &plan.create_attribute_body("plan"))
            .await
            .unwrap()
    );
    assert!(
        attio
            .create_select_option(&auth, "users", "plan", "Free")
            .await
            .unwrap()
    );
    attio
        .set_attribute_archived(&auth, "users", "plan", true)
        .await
        .unwrap();
    attio
        .set_attribute_archived(&auth, "users", "plan", false)
        .await
        .unwrap();
    let webhook = sandbox
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == "/v2/webhooks")
        .unwrap();
    let hooks = attio_get(&sandbox, &creds.token, "/v2/webhooks").await;
    let webhook_id = hooks["data"][0]["id"]["webhook_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let object_id = hooks["data"][0]["subscriptions"][0]["filter"]["$or"][0]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    attio
        .update_webhook_objects(&auth, &webhook_id, &[object_id])
        .await
        .unwrap();
    assert!(webhook.body.is_some());

    let mut checked = BTreeSet::new();
    let mut errors = Vec::new();
    for r in sandbox.requests() {
        let Some(body) = &r.body else { continue };
        let Some(op) = operation(&r.method, &r.path) else {
            continue;
        };
        for e in sandbox_schema::request_schema_errors(&op, body) {
            errors.push(format!("{op}: {e}\n  body: {body}"));
        }
        checked.insert(op);
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let expected: BTreeSet<String> = [
        "POST /v2/{target}/{identifier}/attributes",
        "PATCH /v2/{target}/{identifier}/attributes/{attribute}",
        "POST /v2/{target}/{identifier}/attributes/{attribute}/options",
        "PUT /v2/objects/{object}/records",
        "POST /v2/objects/{object}/records/query",
        "POST /v2/webhooks",
        "PATCH /v2/webhooks/{webhook_id}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(checked, expected);
}
