//! The unique-value and reference indexes behind writes: uniqueness, assert matching and
//! lookups by a unique attribute must follow every create, PATCH, PUT, assert and delete.

use crate::common::{assert_error, env};
use serde_json::{Value, json};

const USERS: &str = "/v2/objects/users/records";

fn user(user_id: &str, email: &str) -> Value {
    json!({"data": {"values": {"user_id": user_id, "primary_email_address": email}}})
}

fn id_of(answer: &crate::common::Answer) -> String {
    answer.body["data"]["id"]["record_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no record id in {}", answer.body))
        .to_string()
}

async fn assert_user(e: &crate::common::Env, user_id: &str, email: &str) -> crate::common::Answer {
    e.call(
        "PUT",
        &format!("{USERS}?matching_attribute=user_id"),
        Some(user(user_id, email)),
    )
    .await
}

#[tokio::test]
async fn uniqueness_follows_patch_and_put() {
    let e = env().await;
    let a = e.post(USERS, user("a", "a@x.io")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let b = e.post(USERS, user("b", "b@x.io")).await;
    assert_eq!(b.status, 200, "{}", b.body);
    let (a_id, b_id) = (id_of(&a), id_of(&b));

    // PATCH moves a's user_id from "a" to "c": "a" is free, "c" is taken.
    let moved = e
        .call(
            "PATCH",
            &format!("{USERS}/{a_id}"),
            Some(json!({"data": {"values": {"user_id": "c"}}})),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let takes_c = e
        .call(
            "PATCH",
            &format!("{USERS}/{b_id}"),
            Some(json!({"data": {"values": {"user_id": "c"}}})),
        )
        .await;
    assert_error(&takes_c, 400, "uniqueness_conflict");
    let takes_a = e
        .call(
            "PATCH",
            &format!("{USERS}/{b_id}"),
            Some(json!({"data": {"values": {"user_id": "a"}}})),
        )
        .await;
    assert_eq!(takes_a.status, 200, "{}", takes_a.body);
    // b no longer holds "b".
    let new_b = e.post(USERS, user("b", "new-b@x.io")).await;
    assert_eq!(new_b.status, 200, "{}", new_b.body);

    // PUT overwrites a's email: the old address is free, the new one (in any case) taken.
    let put = e
        .call(
            "PUT",
            &format!("{USERS}/{a_id}"),
            Some(json!({"data": {"values": {"primary_email_address": "z@x.io"}}})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let old_email = e.post(USERS, user("d", "a@x.io")).await;
    assert_eq!(old_email.status, 200, "{}", old_email.body);
    let new_email = e.post(USERS, user("e", "Z@X.io")).await;
    assert_error(&new_email, 400, "uniqueness_conflict");

    // Writing a record's own value again is no conflict.
    let same = e
        .call(
            "PATCH",
            &format!("{USERS}/{a_id}"),
            Some(json!({"data": {"values": {"user_id": "c", "primary_email_address": "z@x.io"}}})),
        )
        .await;
    assert_eq!(same.status, 200, "{}", same.body);
}

#[tokio::test]
async fn a_deleted_record_releases_its_unique_values() {
    let e = env().await;
    let a = e.post(USERS, user("a", "a@x.io")).await;
    let a_id = id_of(&a);
    let dup = e.post(USERS, user("a", "other@x.io")).await;
    assert_error(&dup, 400, "uniqueness_conflict");
    let deleted = e.call("DELETE", &format!("{USERS}/{a_id}"), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let again = e.post(USERS, user("a", "a@x.io")).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_ne!(id_of(&again), a_id);
}

#[tokio::test]
async fn assert_after_deleting_the_matched_record_creates_a_new_one() {
    let e = env().await;
    let first = assert_user(&e, "a", "a@x.io").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let first_id = id_of(&first);
    let update = assert_user(&e, "a", "a2@x.io").await;
    assert_eq!(id_of(&update), first_id, "the second assert updates");
    assert_eq!(
        update.body["data"]["values"]["primary_email_address"][0]["email_address"],
        "a2@x.io"
    );

    let deleted = e.call("DELETE", &format!("{USERS}/{first_id}"), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let recreated = assert_user(&e, "a", "a2@x.io").await;
    assert_eq!(recreated.status, 200, "{}", recreated.body);
    let new_id = id_of(&recreated);
    assert_ne!(new_id, first_id, "a deleted record is not matched");
    let gone = e.get(&format!("{USERS}/{first_id}")).await;
    assert_error(&gone, 404, "not_found");
    let all = e.post(&format!("{USERS}/query"), json!({})).await;
    assert_eq!(all.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(all.body["data"][0]["id"]["record_id"], new_id.as_str());
}

#[tokio::test]
async fn assert_matches_the_value_a_record_has_now() {
    let e = env().await;
    let first = assert_user(&e, "a", "a@x.io").await;
    let first_id = id_of(&first);
    let moved = e
        .call(
            "PATCH",
            &format!("{USERS}/{first_id}"),
            Some(json!({"data": {"values": {"user_id": "b"}}})),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let by_new = assert_user(&e, "b", "a@x.io").await;
    assert_eq!(id_of(&by_new), first_id);
    // "a" matches nothing now; its email is still a's, so creating conflicts.
    let by_old = assert_user(&e, "a", "a@x.io").await;
    assert_error(&by_old, 400, "uniqueness_conflict");
    let by_old = assert_user(&e, "a", "fresh@x.io").await;
    assert_eq!(by_old.status, 200, "{}", by_old.body);
    assert_ne!(id_of(&by_old), first_id);
}

#[tokio::test]
async fn a_unique_attribute_created_through_the_api_is_enforced_and_matchable() {
    let e = env().await;
    let created = e
        .post(
            "/v2/objects/users/attributes",
            json!({"data": {
                "title": "External id", "description": null, "api_slug": "external_id",
                "type": "text", "is_required": false, "is_unique": true,
                "is_multiselect": false, "config": {}
            }}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let body = |user_id: &str, ext: &str| {
        json!({"data": {"values": {"user_id": user_id,
            "primary_email_address": format!("{user_id}@x.io"), "external_id": ext}}})
    };
    let a = e.post(USERS, body("a", "ext-1")).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let dup = e.post(USERS, body("b", "ext-1")).await;
    assert_error(&dup, 400, "uniqueness_conflict");
    let matched = e
        .call(
            "PUT",
            &format!("{USERS}?matching_attribute=external_id"),
            Some(body("a", "ext-1")),
        )
        .await;
    assert_eq!(matched.status, 200, "{}", matched.body);
    assert_eq!(id_of(&matched), id_of(&a));
}

#[tokio::test]
async fn reference_lookups_follow_overwritten_and_deleted_records() {
    let e = env().await;
    let person = e
        .post(
            "/v2/objects/people/records",
            json!({"data": {"values": {"email_addresses": ["old@x.io"]}}}),
        )
        .await;
    assert_eq!(person.status, 200, "{}", person.body);
    let person_id = id_of(&person);
    let put = e
        .call(
            "PUT",
            &format!("/v2/objects/people/records/{person_id}"),
            Some(json!({"data": {"values": {"email_addresses": ["new@x.io"]}}})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);

    // users.person by the people shorthand (email) finds the current address only.
    let by_old = e
        .post(
            USERS,
            json!({"data": {"values": {"user_id": "u1", "primary_email_address": "u1@x.io",
                "person": "old@x.io"}}}),
        )
        .await;
    assert_error(&by_old, 400, "value_not_found");
    let by_new = e
        .post(
            USERS,
            json!({"data": {"values": {"user_id": "u1", "primary_email_address": "u1@x.io",
                "person": {"target_object": "people", "email_addresses": ["NEW@x.io"]}}}}),
        )
        .await;
    assert_eq!(by_new.status, 200, "{}", by_new.body);
    let user_id = id_of(&by_new);
    assert_eq!(
        by_new.body["data"]["values"]["person"][0]["target_record_id"],
        person_id.as_str()
    );

    // Deleting the person removes the reference from the user (found through the index).
    let deleted = e
        .call(
            "DELETE",
            &format!("/v2/objects/people/records/{person_id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let user = e.get(&format!("{USERS}/{user_id}")).await;
    assert_eq!(user.body["data"]["values"]["person"], json!([]));
    let by_deleted = e
        .post(
            USERS,
            json!({"data": {"values": {"user_id": "u2", "primary_email_address": "u2@x.io",
                "person": "new@x.io"}}}),
        )
        .await;
    assert_error(&by_deleted, 400, "value_not_found");
}

#[tokio::test]
async fn a_query_on_one_unique_value_uses_the_index_and_answers_as_a_scan_would() {
    let e = env().await;
    for (p, email) in [("a", "Ann@Example.com"), ("b", "bob@example.com")] {
        let r = e
            .post(
                "/v2/objects/people/records",
                json!({"data": {"values": {"email_addresses": [email], "job_title": p}}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let e = &e;
    let query = |filter: Value| async move {
        e.post(
            "/v2/objects/people/records/query",
            json!({ "filter": filter }),
        )
        .await
    };
    // Normalized like the stored value (lower-cased), one hit.
    let hit = query(json!({"email_addresses": "ann@EXAMPLE.com"})).await;
    assert_eq!(hit.status, 200, "{}", hit.body);
    let data = hit.body["data"].as_array().expect("data");
    assert_eq!(data.len(), 1);
    assert_eq!(
        data[0]["values"]["email_addresses"][0]["email_address"],
        "ann@example.com"
    );
    let none = query(json!({"email_addresses": "nobody@example.com"})).await;
    assert_eq!(none.body["data"], json!([]));
    // The same answer as the scanned form of the filter.
    let scanned = query(json!({"$and": [{"email_addresses": "ann@example.com"}]})).await;
    assert_eq!(scanned.body["data"], hit.body["data"]);
    // A non-unique attribute is scanned.
    let title = query(json!({"job_title": "b"})).await;
    assert_eq!(title.body["data"].as_array().expect("data").len(), 1);
}
