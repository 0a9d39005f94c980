//! Records: the writes of the sync (assert, with the person link of new users), reads,
//! queries and deletes.

use reqwest::Method;
use serde_json::{Value, json};

use attio_auth_shared::sync::AttioRecord;

use super::client::{Budget, seg};
use super::{AttioAuth, AttioClient, AttioError};

impl AttioClient {
    /// `PUT /v2/objects/{object}/records?matching_attribute=..` (assert: upsert). Every
    /// value is sent as an array (the request schema's `values` are arrays; a single value
    /// `v` becomes `[v]`, a clear `null` becomes `[]`).
    pub async fn assert_record(
        &self,
        auth: &AttioAuth,
        object: &str,
        matching_attribute: &str,
        body: &Value,
    ) -> Result<AttioRecord, AttioError> {
        let body = &values_as_arrays(body);
        let v = self
            .call(
                auth,
                Method::PUT,
                &format!(
                    "/objects/{}/records?matching_attribute={}",
                    seg(object),
                    seg(matching_attribute)
                ),
                Some(body),
                Budget::Write,
                true,
            )
            .await?;
        Self::data(v)
    }

    /// An assert of a `users` record made for the first time (`first_write`): with people
    /// linking on, `person` is written as a record reference matched by email
    /// (`{"target_object": "people", "email_addresses": [email]}`, docs: attribute types →
    /// record reference, "linking referenced records"), so Attio itself finds the person.
    /// Attio refuses such a reference when no person has the email (400 `value_not_found`),
    /// so a one-record query (a read: its own, larger budget) first tells whether one does;
    /// if not, the person is created when configured (`ATTIO_CREATE_PEOPLE`), else the user
    /// is written without it. Later writes leave `person` alone (someone may have relinked
    /// it by hand). Other objects and writes are plain asserts.
    pub async fn assert_user_record(
        &self,
        auth: &AttioAuth,
        object: &str,
        matching_attribute: &str,
        body: &Value,
        first_write: bool,
    ) -> Result<AttioRecord, AttioError> {
        let email = body
            .pointer("/data/values/primary_email_address")
            .and_then(|v| match v {
                Value::Array(a) => a.first(),
                other => Some(other),
            })
            .and_then(|v| v.as_str().or_else(|| v.get("email_address")?.as_str()))
            .map(str::to_owned);
        let wanted = self.link_people
            && first_write
            && object == "users"
            && body.pointer("/data/values/person").is_none();
        let Some(email) = email.filter(|_| wanted) else {
            return self
                .assert_record(auth, object, matching_attribute, body)
                .await;
        };
        let found = !self
            .query_records(auth, "people", json!({"email_addresses": email}), 1, 0)
            .await?
            .is_empty();
        if !found {
            if !self.create_people {
                return self
                    .assert_record(auth, object, matching_attribute, body)
                    .await;
            }
            let person = json!({"data": {"values": {"email_addresses": [email]}}});
            self.assert_record(auth, "people", "email_addresses", &person)
                .await?;
        }
        let mut linked = body.clone();
        if let Some(values) = linked
            .pointer_mut("/data/values")
            .and_then(Value::as_object_mut)
        {
            values.insert(
                "person".into(),
                json!([{"target_object": "people", "email_addresses": [email]}]),
            );
        }
        match self
            .assert_record(auth, object, matching_attribute, &linked)
            .await
        {
            // The person went away since the query: write the user without it.
            Err(AttioError::Api {
                status: 400, code, ..
            }) if code == "value_not_found" => {
                self.assert_record(auth, object, matching_attribute, body)
                    .await
            }
            other => other,
        }
    }

    /// `GET /v2/objects/{object}/records/{id}`; `None` when it does not exist.
    pub async fn get_record(
        &self,
        auth: &AttioAuth,
        object: &str,
        record_id: &str,
    ) -> Result<Option<AttioRecord>, AttioError> {
        self.get_optional(
            auth,
            &format!("/objects/{}/records/{}", seg(object), seg(record_id)),
        )
        .await
    }

    /// `DELETE /v2/objects/{object}/records/{id}`; `Ok(false)` when it was already gone.
    pub async fn delete_record(
        &self,
        auth: &AttioAuth,
        object: &str,
        record_id: &str,
    ) -> Result<bool, AttioError> {
        self.delete_if_present(
            auth,
            &format!("/objects/{}/records/{}", seg(object), seg(record_id)),
        )
        .await
    }

    /// `POST /v2/objects/{object}/records/query` (a read: safe to retry).
    pub async fn query_records(
        &self,
        auth: &AttioAuth,
        object: &str,
        filter: Value,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<AttioRecord>, AttioError> {
        let body = json!({"filter": filter, "limit": limit, "offset": offset});
        let v = self
            .call(
                auth,
                Method::POST,
                &format!("/objects/{}/records/query", seg(object)),
                Some(&body),
                Budget::Read,
                true,
            )
            .await?;
        Self::data(v)
    }
}

/// `{data: {values: {slug: v}}}` with every `v` an array, as the OpenAPI request schema of
/// record writes has it (`values.additionalProperties: {type: array}`).
pub fn values_as_arrays(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(values) = body
        .pointer_mut("/data/values")
        .and_then(Value::as_object_mut)
    {
        for v in values.values_mut() {
            *v = match v.take() {
                Value::Array(a) => Value::Array(a),
                Value::Null => Value::Array(Vec::new()),
                other => Value::Array(vec![other]),
            };
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_values_are_sent_as_arrays() {
        let body = json!({"data": {"values": {"a": "x", "b": ["y"], "c": null, "d": true}}});
        assert_eq!(
            values_as_arrays(&body),
            json!({"data": {"values": {"a": ["x"], "b": ["y"], "c": [], "d": [true]}}})
        );
    }
}
