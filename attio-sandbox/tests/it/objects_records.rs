//! Objects, attributes and records: success and error shapes checked against Attio's
//! OpenAPI response schemas, and the write semantics Attio documents.

use crate::common::{assert_error, assert_schema, env, env_with};
use serde_json::{Value, json};

fn slugs(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|o| o["api_slug"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn objects_list_and_get_by_slug_or_id() {
    let e = env().await;
    let list = e.get("/v2/objects").await;
    assert_eq!(list.status, 200);
    assert_schema("GET /v2/objects", 200, &list.body);
    assert_eq!(
        slugs(&list.body),
        ["people", "companies", "users", "workspaces"]
    );

    let users = e.get("/v2/objects/users").await;
    assert_schema("GET /v2/objects/{object}", 200, &users.body);
    let id = users.body["data"]["id"]["object_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        users.body["data"]["id"]["workspace_id"],
        json!(e.creds.workspace_id)
    );
    let by_id = e.get(&format!("/v2/objects/{id}")).await;
    assert_eq!(by_id.body, users.body);

    let missing = e.get("/v2/objects/deals").await;
    assert_error(&missing, 404, "not_found");
    assert_schema("GET /v2/objects/{object}", 404, &missing.body);
}

#[tokio::test]
async fn users_and_workspaces_are_disabled_by_default_and_then_not_found() {
    let e = env_with(attio_sandbox::SandboxConfig::for_tests(), &[]).await;
    assert_eq!(
        slugs(&e.get("/v2/objects").await.body),
        ["people", "companies"]
    );
    assert_error(&e.get("/v2/objects/users").await, 404, "not_found");
    let write = e
        .post(
            "/v2/objects/workspaces/records",
            json!({"data": {"values": {"workspace_id": "w1"}}}),
        )
        .await;
    assert_error(&write, 404, "not_found");
    assert_error(
        &e.get("/v2/objects/users/attributes").await,
        404,
        "not_found",
    );

    assert!(
        e.sandbox
            .set_object_enabled(e.creds.workspace_id, "users", true)
    );
    assert_eq!(e.get("/v2/objects/users").await.status, 200);
    assert_eq!(
        slugs(&e.get("/v2/objects").await.body),
        ["people", "companies", "users"]
    );
}

#[tokio::test]
async fn missing_or_unknown_token_is_401_auth_error() {
    let e = env().await;
    let none = e.http.get(e.url("/v2/objects")).send().await.expect("send");
    assert_eq!(none.status(), 401);
    let body: Value = none.json().await.expect("json");
    assert_eq!(body["type"], "auth_error");
    assert_eq!(body["code"], "unauthorized");
    let bad = e.call_as("nope", "GET", "/v2/objects", None).await;
    assert_error(&bad, 401, "unauthorized");
    // HTTP Basic with the token as user name is accepted, as by Attio.
    let basic = e
        .http
        .get(e.url("/v2/objects"))
        .basic_auth(&e.creds.token, Some(""))
        .send()
        .await
        .expect("send");
    assert_eq!(basic.status(), 200);
}

#[tokio::test]
async fn standard_attributes_are_listed_with_their_flags() {
    let e = env().await;
    let attrs = e.get("/v2/objects/users/attributes").await;
    assert_schema("GET /v2/{target}/{identifier}/attributes", 200, &attrs.body);
    let find = |slug: &str| {
        attrs.body["data"]
            .as_array()
            .expect("array")
            .iter()
            .find(|a| a["api_slug"] == slug)
            .cloned()
            .unwrap_or_else(|| panic!("no attribute {slug}"))
    };
    let user_id = find("user_id");
    assert_eq!(user_id["type"], "text");
    assert_eq!(user_id["is_unique"], true);
    assert_eq!(user_id["is_required"], true);
    let email = find("primary_email_address");
    assert_eq!(email["type"], "email-address");
    let ws = find("workspace");
    assert_eq!(ws["type"], "record-reference");
    assert_eq!(ws["relationship"]["object_slug"], "workspaces");
    assert_eq!(ws["relationship"]["api_slug"], "users");
    assert_eq!(find("record_id")["is_writable"], false);
    assert_eq!(find("created_at")["type"], "timestamp");

    let people = e.get("/v2/objects/people/attributes").await;
    let emails = people.body["data"]
        .as_array()
        .expect("array")
        .iter()
        .find(|a| a["api_slug"] == "email_addresses")
        .cloned()
        .expect("email_addresses");
    assert_eq!(emails["is_multiselect"], true);
    assert_eq!(emails["is_unique"], true);
}

fn attribute_body(slug: &str, kind: &str) -> Value {
    json!({"data": {
        "title": slug, "description": null, "api_slug": slug, "type": kind,
        "is_required": false, "is_unique": false, "is_multiselect": false, "config": {}
    }})
}

#[tokio::test]
async fn create_attribute_success_conflict_and_validation() {
    let e = env().await;
    let path = "/v2/objects/users/attributes";
    let op = "POST /v2/{target}/{identifier}/attributes";
    let created = e.post(path, attribute_body("plan", "text")).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_schema(op, 200, &created.body);
    assert_eq!(created.body["data"]["api_slug"], "plan");
    assert_eq!(created.body["data"]["is_system_attribute"], false);

    let again = e.post(path, attribute_body("plan", "text")).await;
    assert_error(&again, 409, "slug_conflict");
    assert_schema(op, 409, &again.body);

    let bad_type = e.post(path, attribute_body("x", "status")).await;
    assert_error(&bad_type, 400, "validation_type");
    assert_schema(op, 400, &bad_type.body);
    let missing = e.post(path, json!({"data": {"title": "x"}})).await;
    assert_error(&missing, 400, "validation_type");
    let not_json = e
        .http
        .post(e.url(path))
        .bearer_auth(&e.creds.token)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .expect("send");
    assert_eq!(not_json.status(), 400);
    let unknown = e
        .post("/v2/objects/deals/attributes", attribute_body("x", "text"))
        .await;
    assert_error(&unknown, 404, "not_found");
    assert_schema(op, 404, &unknown.body);

    // A record-reference with a relationship creates both sides.
    let mut rel = attribute_body("owner", "record-reference");
    rel["data"]["config"] = json!({"record_reference": {"allowed_objects": ["people"]}});
    rel["data"]["relationship"] = json!({"object": "people", "title": "Owned users", "api_slug": "owned_users", "is_multiselect": true});
    let created = e.post(path, rel).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_schema(op, 200, &created.body);
    assert_eq!(
        created.body["data"]["relationship"]["api_slug"],
        "owned_users"
    );
    let inverse = e.get("/v2/objects/people/attributes/owned_users").await;
    assert_eq!(inverse.body["data"]["relationship"]["api_slug"], "owner");
    // The new attribute is part of every record of the object.
    let rec = e
        .post(
            "/v2/objects/users/records",
            json!({"data": {"values": {"user_id": "u1", "primary_email_address": "a@b.co", "plan": "pro"}}}),
        )
        .await;
    assert_eq!(rec.body["data"]["values"]["plan"][0]["value"], "pro");
    assert_eq!(rec.body["data"]["values"]["owner"], json!([]));
}

#[tokio::test]
async fn record_create_get_delete_in_read_format() {
    let e = env().await;
    let created = e
        .post(
            "/v2/objects/users/records",
            json!({"data": {"values": {"user_id": "u-1", "primary_email_address": "Alice.Smith@Mail.Example.co.uk"}}}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_schema("POST /v2/objects/{object}/records", 200, &created.body);
    let data = &created.body["data"];
    let id = data["id"]["record_id"]
        .as_str()
        .expect("record id")
        .to_string();
    let email = &data["values"]["primary_email_address"][0];
    assert_eq!(email["attribute_type"], "email-address");
    assert_eq!(
        email["original_email_address"],
        "Alice.Smith@Mail.Example.co.uk"
    );
    assert_eq!(email["email_address"], "alice.smith@mail.example.co.uk");
    assert_eq!(email["email_domain"], "mail.example.co.uk");
    assert_eq!(email["email_root_domain"], "example.co.uk");
    assert_eq!(email["email_local_specifier"], "alice.smith");
    assert_eq!(email["active_until"], Value::Null);
    assert_eq!(
        email["created_by_actor"],
        json!({"type": "api-token", "id": e.creds.token_id})
    );
    let user_id = &data["values"]["user_id"][0];
    assert_eq!(user_id["value"], "u-1");
    assert_eq!(user_id["attribute_type"], "text");
    assert_eq!(data["values"]["record_id"][0]["value"], json!(id));
    assert_eq!(data["values"]["workspace"], json!([]));
    assert_eq!(
        data["values"]["created_by"][0]["referenced_actor_type"],
        "api-token"
    );

    let path = format!("/v2/objects/users/records/{id}");
    let got = e.get(&path).await;
    assert_schema(
        "GET /v2/objects/{object}/records/{record_id}",
        200,
        &got.body,
    );
    assert_eq!(got.body, created.body);

    let deleted = e.call("DELETE", &path, None).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body, json!({}));
    assert_schema(
        "DELETE /v2/objects/{object}/records/{record_id}",
        200,
        &deleted.body,
    );
    let gone = e.get(&path).await;
    assert_error(&gone, 404, "not_found");
    assert_schema(
        "GET /v2/objects/{object}/records/{record_id}",
        404,
        &gone.body,
    );
    let again = e.call("DELETE", &path, None).await;
    assert_schema(
        "DELETE /v2/objects/{object}/records/{record_id}",
        404,
        &again.body,
    );
}

#[tokio::test]
async fn required_unique_multiselect_and_unknown_attributes_are_enforced() {
    let e = env().await;
    let path = "/v2/objects/users/records";
    let missing = e
        .post(path, json!({"data": {"values": {"user_id": "u-1"}}}))
        .await;
    assert_error(&missing, 400, "missing_value");
    let ok = e
        .post(
            path,
            json!({"data": {"values": {"user_id": "u-1", "primary_email_address": "a@x.io"}}}),
        )
        .await;
    assert_eq!(ok.status, 200);
    let dup = e
        .post(
            path,
            json!({"data": {"values": {"user_id": "u-1", "primary_email_address": "b@x.io"}}}),
        )
        .await;
    assert_error(&dup, 400, "uniqueness_conflict");
    assert!(
        dup.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("conflicts with one already in the system")
    );
    // Uniqueness compares normalized emails.
    let dup_email = e
        .post(
            path,
            json!({"data": {"values": {"user_id": "u-2", "primary_email_address": "A@X.IO"}}}),
        )
        .await;
    assert_error(&dup_email, 400, "uniqueness_conflict");
    let two = e
        .post(path, json!({"data": {"values": {"user_id": ["u-3", "u-4"], "primary_email_address": "c@x.io"}}}))
        .await;
    assert_error(&two, 400, "validation_type");
    let not_array = e
        .post(
            "/v2/objects/people/records",
            json!({"data": {"values": {"email_addresses": "p@x.io"}}}),
        )
        .await;
    assert_error(&not_array, 400, "validation_type");
    let unknown = e
        .post(path, json!({"data": {"values": {"nope": "x"}}}))
        .await;
    assert_error(&unknown, 400, "value_not_found");
    assert_schema("POST /v2/objects/{object}/records", 400, &unknown.body);
    let system = e
        .post(path, json!({"data": {"values": {"record_id": "x"}}}))
        .await;
    assert_error(&system, 400, "system_edit_unauthorized");
    let bad_email = e
        .post(path, json!({"data": {"values": {"user_id": "u-5", "primary_email_address": "not-an-email"}}}))
        .await;
    assert_error(&bad_email, 400, "validation_type");
    let no_values = e.post(path, json!({"data": {}})).await;
    assert_error(&no_values, 400, "validation_type");
    let unknown_object = e
        .post("/v2/objects/deals/records", json!({"data": {"values": {}}}))
        .await;
    assert_schema(
        "POST /v2/objects/{object}/records",
        404,
        &unknown_object.body,
    );
    // Clearing a required value on update is refused, and nothing changed.
    let id = ok.body["data"]["id"]["record_id"].as_str().expect("id");
    let clear = e
        .call(
            "PATCH",
            &format!("{path}/{id}"),
            Some(json!({"data": {"values": {"user_id": null}}})),
        )
        .await;
    assert_error(&clear, 400, "missing_value");
    assert_schema(
        "PATCH /v2/objects/{object}/records/{record_id}",
        400,
        &clear.body,
    );
    let after = e.get(&format!("{path}/{id}")).await;
    assert_eq!(after.body["data"]["values"]["user_id"][0]["value"], "u-1");
}

#[tokio::test]
async fn assert_creates_then_updates_the_matching_record() {
    let e = env().await;
    let op = "PUT /v2/objects/{object}/records";
    let path = "/v2/objects/users/records?matching_attribute=user_id";
    let first = e
        .call(
            "PUT",
            path,
            Some(
                json!({"data": {"values": {"user_id": "u-9", "primary_email_address": "a@x.io"}}}),
            ),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_schema(op, 200, &first.body);
    let second = e
        .call("PUT", path, Some(json!({"data": {"values": {"user_id": "u-9", "primary_email_address": "new@x.io"}}})))
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["data"]["id"], first.body["data"]["id"]);
    assert_eq!(
        second.body["data"]["values"]["primary_email_address"][0]["email_address"],
        "new@x.io"
    );
    let all = e.post("/v2/objects/users/records/query", json!({})).await;
    assert_eq!(all.body["data"].as_array().map(Vec::len), Some(1));

    let unknown = e
        .call(
            "PUT",
            "/v2/objects/users/records?matching_attribute=nope",
            Some(json!({"data": {"values": {}}})),
        )
        .await;
    assert_error(&unknown, 400, "value_not_found");
    assert_schema(op, 400, &unknown.body);
    let not_unique = e
        .call(
            "PUT",
            "/v2/objects/workspaces/records?matching_attribute=name",
            Some(json!({"data": {"values": {"name": "Acme", "workspace_id": "w"}}})),
        )
        .await;
    assert_error(&not_unique, 400, "validation_type");
    let no_value = e
        .call(
            "PUT",
            path,
            Some(json!({"data": {"values": {"primary_email_address": "z@x.io"}}})),
        )
        .await;
    assert_error(&no_value, 400, "missing_value");
}

#[tokio::test]
async fn patch_prepends_multiselect_values_and_put_overwrites_them() {
    let e = env().await;
    let created = e
        .post(
            "/v2/objects/people/records",
            json!({"data": {"values": {"email_addresses": ["one@x.io"], "job_title": "Dev"}}}),
        )
        .await;
    let id = created.body["data"]["id"]["record_id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/v2/objects/people/records/{id}");
    let emails = |v: &Value| -> Vec<String> {
        v["data"]["values"]["email_addresses"]
            .as_array()
            .expect("array")
            .iter()
            .map(|x| x["email_address"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let patched = e
        .call(
            "PATCH",
            &path,
            Some(
                json!({"data": {"values": {"email_addresses": ["two@x.io"], "job_title": "CTO"}}}),
            ),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_schema(
        "PATCH /v2/objects/{object}/records/{record_id}",
        200,
        &patched.body,
    );
    assert_eq!(emails(&patched.body), ["two@x.io", "one@x.io"]);
    assert_eq!(
        patched.body["data"]["values"]["job_title"][0]["value"],
        "CTO"
    );

    let put = e
        .call(
            "PUT",
            &path,
            Some(json!({"data": {"values": {"email_addresses": ["three@x.io"]}}})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_schema(
        "PUT /v2/objects/{object}/records/{record_id}",
        200,
        &put.body,
    );
    assert_eq!(emails(&put.body), ["three@x.io"]);
    // PUT leaves attributes it does not mention alone.
    assert_eq!(put.body["data"]["values"]["job_title"][0]["value"], "CTO");

    let missing = e
        .call(
            "PATCH",
            "/v2/objects/people/records/8b8f39b3-41ab-4b36-a1b4-cc1b2b0a0b7e",
            Some(json!({"data": {"values": {}}})),
        )
        .await;
    assert_error(&missing, 404, "not_found");
    assert_schema(
        "PATCH /v2/objects/{object}/records/{record_id}",
        404,
        &missing.body,
    );
}

#[tokio::test]
async fn record_references_by_id_and_shorthand_keep_both_sides_in_step() {
    let e = env().await;
    let ws = e
        .post(
            "/v2/objects/workspaces/records",
            json!({"data": {"values": {"workspace_id": "acme", "name": "Acme"}}}),
        )
        .await;
    assert_eq!(ws.status, 200, "{}", ws.body);
    let ws_id = ws.body["data"]["id"]["record_id"]
        .as_str()
        .expect("id")
        .to_string();
    let person = e
        .post(
            "/v2/objects/people/records",
            json!({"data": {"values": {"email_addresses": ["ada@acme.io"]}}}),
        )
        .await;
    let person_id = person.body["data"]["id"]["record_id"]
        .as_str()
        .expect("id")
        .to_string();
    let company = e
        .post(
            "/v2/objects/companies/records",
            json!({"data": {"values": {"domains": ["https://Acme.io/about"], "name": "Acme"}}}),
        )
        .await;
    assert_eq!(
        company.body["data"]["values"]["domains"][0]["domain"],
        "acme.io"
    );
    assert_eq!(
        company.body["data"]["values"]["domains"][0]["root_domain"],
        "acme.io"
    );

    let user = e
        .post(
            "/v2/objects/users/records",
            json!({"data": {"values": {
                "user_id": "u-1", "primary_email_address": "ada@acme.io",
                "workspace": ["acme"], "person": "ada@acme.io"
            }}}),
        )
        .await;
    assert_eq!(user.status, 200, "{}", user.body);
    let user_id = user.body["data"]["id"]["record_id"]
        .as_str()
        .expect("id")
        .to_string();
    let workspace_ref = &user.body["data"]["values"]["workspace"][0];
    assert_eq!(workspace_ref["target_object"], "workspaces");
    assert_eq!(workspace_ref["target_record_id"], json!(ws_id));
    assert_eq!(workspace_ref["attribute_type"], "record-reference");
    assert_eq!(
        user.body["data"]["values"]["person"][0]["target_record_id"],
        json!(person_id)
    );

    // The inverse sides were updated.
    let ws_now = e
        .get(&format!("/v2/objects/workspaces/records/{ws_id}"))
        .await;
    assert_eq!(
        ws_now.body["data"]["values"]["users"][0]["target_record_id"],
        json!(user_id)
    );
    let person_now = e
        .get(&format!("/v2/objects/people/records/{person_id}"))
        .await;
    assert_eq!(
        person_now.body["data"]["values"]["associated_users"][0]["target_record_id"],
        json!(user_id)
    );

    // By id, and by matching attribute; companies by domain shorthand.
    let by_id = e
        .post(
            "/v2/objects/workspaces/records",
            json!({"data": {"values": {"workspace_id": "w2", "company": {"target_object": "companies", "target_record_id": company.body["data"]["id"]["record_id"]}}}}),
        )
        .await;
    assert_eq!(by_id.status, 200, "{}", by_id.body);
    let by_match = e
        .post(
            "/v2/objects/workspaces/records",
            json!({"data": {"values": {"workspace_id": "w3", "company": {"target_object": "companies", "domains": [{"domain": "acme.io"}]}}}}),
        )
        .await;
    assert_eq!(by_match.status, 200, "{}", by_match.body);
    let by_domain = e
        .post(
            "/v2/objects/workspaces/records",
            json!({"data": {"values": {"workspace_id": "w4", "company": "acme.io"}}}),
        )
        .await;
    assert_eq!(by_domain.status, 200, "{}", by_domain.body);
    let missing = e
        .post("/v2/objects/users/records", json!({"data": {"values": {"user_id": "u-2", "primary_email_address": "b@acme.io", "workspace": ["nope"]}}}))
        .await;
    assert_error(&missing, 400, "value_not_found");

    // Deleting the user removes it from the workspace's users.
    e.call(
        "DELETE",
        &format!("/v2/objects/users/records/{user_id}"),
        None,
    )
    .await;
    let ws_after = e
        .get(&format!("/v2/objects/workspaces/records/{ws_id}"))
        .await;
    assert_eq!(ws_after.body["data"]["values"]["users"], json!([]));
}

#[tokio::test]
async fn query_filters_sorts_and_pagination() {
    let e = env().await;
    for (uid, email, name) in [
        ("u-1", "ann@a.io", "Ann"),
        ("u-2", "bob@b.io", "Bob"),
        ("u-3", "cat@a.io", "Cat"),
    ] {
        let r = e
            .post(
                "/v2/objects/workspaces/records",
                json!({"data": {"values": {"workspace_id": uid, "name": name}}}),
            )
            .await;
        assert_eq!(r.status, 200);
        let r = e
            .post("/v2/objects/users/records", json!({"data": {"values": {"user_id": uid, "primary_email_address": email, "workspace": [uid]}}}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let q = |filter: Value| {
        let e = &e;
        async move {
            let a = e.post("/v2/objects/users/records/query", filter).await;
            assert_eq!(a.status, 200, "{}", a.body);
            assert_schema("POST /v2/objects/{object}/records/query", 200, &a.body);
            a.body["data"]
                .as_array()
                .expect("array")
                .iter()
                .map(|r| {
                    r["values"]["user_id"][0]["value"]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(q(json!({})).await, ["u-1", "u-2", "u-3"]);
    assert_eq!(q(json!({"filter": {"user_id": "u-2"}})).await, ["u-2"]);
    assert_eq!(
        q(json!({"filter": {"user_id": {"$eq": "u-3"}}})).await,
        ["u-3"]
    );
    assert_eq!(
        q(json!({"filter": {"user_id": {"$in": ["u-1", "u-3"]}}})).await,
        ["u-1", "u-3"]
    );
    assert_eq!(
        q(json!({"filter": {"$or": [{"user_id": "u-1"}, {"primary_email_address": "BOB@b.io"}]}}))
            .await,
        ["u-1", "u-2"]
    );
    assert_eq!(
        q(json!({"filter": {"$and": [{"primary_email_address": {"email_domain": "a.io"}}, {"$not": {"user_id": "u-1"}}]}})).await,
        ["u-3"]
    );
    assert_eq!(
        q(json!({"filter": {"primary_email_address": {"email_address": {"$contains": "CAT"}}}}))
            .await,
        ["u-3"]
    );
    assert_eq!(
        q(json!({"filter": {"workspace": {"$not_empty": true}}}))
            .await
            .len(),
        3
    );
    let sorted =
        q(json!({"sorts": [{"direction": "desc", "attribute": "user_id"}], "limit": 2})).await;
    assert_eq!(sorted, ["u-3", "u-2"]);
    let page2 = q(
        json!({"sorts": [{"direction": "desc", "attribute": "user_id"}], "limit": 2, "offset": 2}),
    )
    .await;
    assert_eq!(page2, ["u-1"]);

    let ws_records = e
        .post(
            "/v2/objects/workspaces/records/query",
            json!({"filter": {"workspace_id": "u-2"}}),
        )
        .await;
    let ws_id = ws_records.body["data"][0]["id"]["record_id"].clone();
    let by_ref = q(json!({"filter": {"workspace": {"target_object": "workspaces", "target_record_id": ws_id}}})).await;
    assert_eq!(by_ref, ["u-2"]);

    let bad = e
        .post(
            "/v2/objects/users/records/query",
            json!({"filter": {"nope": "x"}}),
        )
        .await;
    assert_error(&bad, 400, "filter_error");
    assert_schema("POST /v2/objects/{object}/records/query", 400, &bad.body);
    let bad_op = e
        .post(
            "/v2/objects/users/records/query",
            json!({"filter": {"user_id": {"$regex": "x"}}}),
        )
        .await;
    assert_error(&bad_op, 400, "filter_error");
    let unknown = e.post("/v2/objects/deals/records/query", json!({})).await;
    assert_schema(
        "POST /v2/objects/{object}/records/query",
        404,
        &unknown.body,
    );
}

#[tokio::test]
async fn custom_attribute_types_read_back_in_attio_format() {
    let e = env().await;
    let path = "/v2/objects/companies/attributes";
    for (slug, kind) in [
        ("seats", "number"),
        ("active", "checkbox"),
        ("renewal", "date"),
        ("last_seen", "timestamp"),
        ("tier", "select"),
        ("support_phone", "phone-number"),
        ("hq", "location"),
        ("score", "rating"),
    ] {
        let r = e.post(path, attribute_body(slug, kind)).await;
        assert_eq!(r.status, 200, "{slug}: {}", r.body);
    }
    let mut mrr = attribute_body("mrr", "currency");
    mrr["data"]["config"] =
        json!({"currency": {"default_currency_code": "EUR", "display_type": "symbol"}});
    assert_eq!(e.post(path, mrr).await.status, 200);
    let option = e
        .post(
            "/v2/objects/companies/attributes/tier/options",
            json!({"data": {"title": "Gold"}}),
        )
        .await;
    assert_eq!(option.status, 200, "{}", option.body);
    assert_schema(
        "POST /v2/{target}/{identifier}/attributes/{attribute}/options",
        200,
        &option.body,
    );

    let created = e
        .post(
            "/v2/objects/companies/records",
            json!({"data": {"values": {
                "name": "Acme", "seats": 12, "active": "true", "renewal": "2026-12-01",
                "last_seen": "2023-01-02T13:00", "tier": "Gold",
                "support_phone": "+44 20 7946 0958",
                "hq": {"line_1": "1 Infinite Loop", "locality": "Cupertino", "region": "CA", "postcode": "95014", "country_code": "US", "latitude": "37.33", "longitude": "-122.03"},
                "score": 4, "mrr": 99.5, "employee_range": "11-50"
            }}}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_schema("POST /v2/objects/{object}/records", 200, &created.body);
    let v = &created.body["data"]["values"];
    assert_eq!(v["seats"][0]["value"], 12.0);
    assert_eq!(v["active"][0]["value"], true);
    assert_eq!(v["renewal"][0]["value"], "2026-12-01");
    assert_eq!(v["last_seen"][0]["value"], "2023-01-02T13:00:00.000000000Z");
    assert_eq!(v["tier"][0]["option"]["title"], "Gold");
    assert_eq!(v["support_phone"][0]["phone_number"], "+442079460958");
    assert_eq!(v["support_phone"][0]["country_code"], "GB");
    assert_eq!(v["hq"][0]["locality"], "Cupertino");
    assert_eq!(v["hq"][0]["line_2"], Value::Null);
    assert_eq!(v["mrr"][0]["currency_value"], 99.5);
    assert_eq!(v["mrr"][0]["currency_code"], "EUR");
    assert_eq!(v["employee_range"][0]["option"]["title"], "11-50");

    let bad_option = e
        .post(
            "/v2/objects/companies/records",
            json!({"data": {"values": {"tier": "Platinum"}}}),
        )
        .await;
    assert_error(&bad_option, 400, "value_not_found");
    let bad_ts = e
        .post(
            "/v2/objects/companies/records",
            json!({"data": {"values": {"last_seen": "yesterday"}}}),
        )
        .await;
    assert_error(&bad_ts, 400, "validation_type");
}

#[test]
fn the_schema_checker_catches_a_missing_field_and_a_wrong_type() {
    let schema =
        json!({"type": "object", "required": ["a", "b"], "properties": {"a": {"type": "string"}}});
    let mut errors = Vec::new();
    crate::common::check(&schema, &json!({"a": 1}), "$", &mut errors);
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[tokio::test]
async fn personal_names_accept_the_object_and_last_comma_first_forms() {
    let e = env().await;
    let a = e
        .post(
            "/v2/objects/people/records",
            json!({"data": {"values": {"name": "Smith, John"}}}),
        )
        .await;
    let name = &a.body["data"]["values"]["name"][0];
    assert_eq!(
        (&name["first_name"], &name["last_name"], &name["full_name"]),
        (&json!("John"), &json!("Smith"), &json!("John Smith"))
    );
    let b = e
        .post(
            "/v2/objects/people/records",
            json!({"data": {"values": {"name": "Ada"}}}),
        )
        .await;
    assert_eq!(b.body["data"]["values"]["name"][0]["first_name"], "Ada");
    assert_eq!(b.body["data"]["values"]["name"][0]["last_name"], "");
    let partial = e
        .post(
            "/v2/objects/people/records",
            json!({"data": {"values": {"name": {"first_name": "X"}}}}),
        )
        .await;
    assert_error(&partial, 400, "validation_type");
    let filtered = e
        .post(
            "/v2/objects/people/records/query",
            json!({"filter": {"name": "John Smith"}}),
        )
        .await;
    assert_eq!(filtered.body["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn get_attribute_and_select_options_shapes() {
    let e = env().await;
    let op = "GET /v2/{target}/{identifier}/attributes/{attribute}";
    let a = e.get("/v2/objects/users/attributes/user_id").await;
    assert_eq!(a.status, 200);
    assert_schema(op, 200, &a.body);
    let id = a.body["data"]["id"]["attribute_id"]
        .as_str()
        .expect("id")
        .to_string();
    let by_id = e.get(&format!("/v2/objects/users/attributes/{id}")).await;
    assert_eq!(by_id.body, a.body);
    let missing = e.get("/v2/objects/users/attributes/nope").await;
    assert_error(&missing, 404, "not_found");
    assert_schema(op, 404, &missing.body);

    let list_op = "GET /v2/{target}/{identifier}/attributes/{attribute}/options";
    let options = e
        .get("/v2/objects/companies/attributes/employee_range/options")
        .await;
    assert_schema(list_op, 200, &options.body);
    assert_eq!(options.body["data"][0]["title"], "1-10");
    let not_select = e.get("/v2/objects/companies/attributes/name/options").await;
    assert_error(&not_select, 404, "not_found");
    assert_schema(list_op, 404, &not_select.body);
    let post_op = "POST /v2/{target}/{identifier}/attributes/{attribute}/options";
    let dup = e
        .post(
            "/v2/objects/companies/attributes/employee_range/options",
            json!({"data": {"title": "1-10"}}),
        )
        .await;
    assert_error(&dup, 409, "slug_conflict");
    assert_schema(post_op, 409, &dup.body);
    let bad = e
        .post(
            "/v2/objects/companies/attributes/employee_range/options",
            json!({"data": {}}),
        )
        .await;
    assert_error(&bad, 400, "validation_type");
    assert_schema(post_op, 400, &bad.body);
}

#[tokio::test]
async fn assert_adds_to_a_multiselect_matching_attribute_and_overwrites_other_multiselects() {
    let e = env().await;
    let path = "/v2/objects/people/records?matching_attribute=email_addresses";
    let first = e
        .call(
            "PUT",
            path,
            Some(json!({"data": {"values": {"email_addresses": ["a@x.io"], "phone_numbers": ["+15558675309"]}}})),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let second = e
        .call(
            "PUT",
            path,
            Some(json!({"data": {"values": {"email_addresses": ["b@x.io", "a@x.io"], "phone_numbers": ["+442079460958"]}}})),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["data"]["id"], first.body["data"]["id"]);
    let values = &second.body["data"]["values"];
    let emails: Vec<&str> = values["email_addresses"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|v| v["email_address"].as_str())
        .collect();
    assert_eq!(
        emails,
        ["a@x.io", "b@x.io"],
        "matching values are added, none removed"
    );
    let phones: Vec<&str> = values["phone_numbers"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|v| v["phone_number"].as_str())
        .collect();
    assert_eq!(
        phones,
        ["+442079460958"],
        "other multiselects are overwritten"
    );
    // The unchanged value keeps its original active_from.
    assert_eq!(
        values["email_addresses"][0]["active_from"],
        first.body["data"]["values"]["email_addresses"][0]["active_from"]
    );

    // Two records matched by one assert is an error.
    e.post(
        "/v2/objects/people/records",
        json!({"data": {"values": {"email_addresses": ["c@x.io"]}}}),
    )
    .await;
    let both = e
        .call(
            "PUT",
            path,
            Some(json!({"data": {"values": {"email_addresses": ["a@x.io", "c@x.io"]}}})),
        )
        .await;
    assert_error(&both, 400, "multiple_match_results");
}

#[tokio::test]
async fn an_oversized_body_is_413_validation_type() {
    let e = env().await;
    let big = "x".repeat(13 * 1024 * 1024);
    let a = e
        .post(
            "/v2/objects/people/records",
            json!({"data": {"values": {"description": big}}}),
        )
        .await;
    assert_error(&a, 413, "validation_type");
    let q = e
        .http
        .post(e.url("/v2/objects/people/records/query"))
        .bearer_auth(&e.creds.token)
        .body(vec![b' '; 13 * 1024 * 1024])
        .send()
        .await
        .expect("send");
    assert_eq!(q.status(), 413);
}
