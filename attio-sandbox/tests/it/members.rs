//! Workspace members (`GET /v2/workspace_members[/{id}]`) in Attio's documented shape: the
//! owner of every workspace, members added through `add_workspace_member`, 404 for others,
//! and no member of another workspace.

use attio_sandbox::{
    Sandbox, SandboxConfig, WorkspaceMember, WorkspaceOptions, add_workspace_member,
};
use serde_json::Value;
use uuid::Uuid;

#[tokio::test]
async fn members_are_listed_and_found_by_id_within_their_workspace() {
    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await.unwrap();
    let a = sandbox.create_workspace(WorkspaceOptions::default());
    let b = sandbox.create_workspace(WorkspaceOptions::default());
    let alice = Uuid::new_v4();
    assert!(add_workspace_member(
        a.workspace_id,
        WorkspaceMember::admin(alice, "alice@example.com")
    ));
    let http = reqwest::Client::new();
    let get = |path: String, token: String| {
        let http = http.clone();
        let url = format!("{}{path}", sandbox.base_url());
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (status, list) = get("/v2/workspace_members".into(), a.token.clone()).await;
    assert_eq!(status, 200);
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{list}");
    for m in data {
        for field in [
            "first_name",
            "last_name",
            "avatar_url",
            "email_address",
            "created_at",
            "access_level",
        ] {
            assert!(m.get(field).is_some(), "{field} missing: {m}");
        }
        assert_eq!(m["id"]["workspace_id"], a.workspace_id.to_string());
    }
    let (status, one) = get(format!("/v2/workspace_members/{alice}"), a.token.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(one["data"]["email_address"], "alice@example.com");
    assert_eq!(one["data"]["access_level"], "admin");
    assert_eq!(one["data"]["id"]["workspace_member_id"], alice.to_string());
    // Not a member of workspace b; unknown and malformed ids.
    for (path, token) in [
        (format!("/v2/workspace_members/{alice}"), b.token.clone()),
        (
            format!("/v2/workspace_members/{}", Uuid::new_v4()),
            a.token.clone(),
        ),
        (
            "/v2/workspace_members/not-a-uuid".to_owned(),
            a.token.clone(),
        ),
    ] {
        let (status, err) = get(path, token).await;
        assert_eq!(status, 404, "{err}");
        assert_eq!(err["code"], "not_found");
        assert_eq!(err["type"], "invalid_request_error");
    }
    // A token is required.
    let r = http
        .get(format!("{}/v2/workspace_members", sandbox.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
