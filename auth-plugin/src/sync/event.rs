//! Outbound sync events: an auth row (a JSON map with Better Auth field names) turned by
//! its adapter into the original's envelope ([`SyncEvent`], shared with the backend) `{event, data, timestamp, adapter}` plus `id`
//! (the idempotency key) and `origin`.

use serde_json::{Map, Value};

pub use attio_auth_shared::sync::{
    AdapterInfo, Origin, SyncData, SyncEvent, SyncEventKind as EventKind,
};

use super::adapter::{AttributeType, FieldSource, ModelAdapter};

/// A fresh event id.
pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

/// Now, formatted as the original's timestamps (`2026-11-23T08:49:05.778Z`).
pub fn now_iso() -> String {
    crate::time::now_iso()
}

/// The auth value converted for Attio: SQLite booleans (0/1) become JSON booleans.
fn outbound_value(kind: &AttributeType, value: Option<&Value>) -> Value {
    let value = value.cloned().unwrap_or(Value::Null);
    match (kind, &value) {
        (AttributeType::Checkbox, Value::Number(n)) => Value::Bool(n.as_i64() != Some(0)),
        (AttributeType::Checkbox, Value::String(s)) => {
            Value::Bool(matches!(s.as_str(), "1" | "true"))
        }
        _ => value,
    }
}

impl ModelAdapter {
    /// The `data` of an event about `row` (Better Auth field names -> Attio slugs), with
    /// only the fields whose direction sends them to Attio.
    pub fn to_attio_data(&self, kind: EventKind, row: &Map<String, Value>) -> Map<String, Value> {
        let mut data = Map::new();
        if kind == EventKind::Delete {
            data.insert("_deleted".into(), Value::Bool(true));
            data.insert(
                self.id_attribute.clone(),
                row.get("id").cloned().unwrap_or(Value::Null),
            );
            return data;
        }
        data.insert(
            "record_id".into(),
            row.get("attioId")
                .or_else(|| row.get("attio_id"))
                .cloned()
                .unwrap_or(Value::Null),
        );
        for field in self.fields.iter().filter(|f| f.direction.writes_to_attio()) {
            let value = match &field.source {
                FieldSource::Column(c) => outbound_value(&field.schema.attribute_type, row.get(c)),
                FieldSource::References { key, target_object } => Value::Array(
                    row.get(key)
                        .and_then(Value::as_array)
                        .map(|ids| {
                            ids.iter()
                                .filter_map(Value::as_str)
                                .map(|id| {
                                    serde_json::json!({
                                        "target_record_id": id,
                                        "target_object": target_object,
                                    })
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
            };
            data.insert(field.attribute.clone(), value);
        }
        data
    }

    /// A complete event about `row`.
    pub fn event(&self, kind: EventKind, row: &Map<String, Value>, origin: Origin) -> SyncEvent {
        SyncEvent {
            id: Some(new_event_id()),
            event: kind,
            data: SyncData(self.to_attio_data(kind, row)),
            timestamp: now_iso(),
            adapter: self.info(),
            origin,
        }
    }

    /// The `adapter` part of events: model, object, schema and id attribute.
    pub fn info(&self) -> AdapterInfo {
        AdapterInfo {
            better_auth_model: self.better_auth_model.clone(),
            attio_object: self.attio_object.clone(),
            attio_schema: self.attio_schema(),
            id_field: Some(self.id_attribute.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn sink_events() -> Vec<Value> {
        let text = include_str!("testdata/sink-events.json");
        let v: Value = serde_json::from_str(text).unwrap();
        v.as_array().unwrap().clone()
    }

    /// `idField` is new (optional); the rest of `adapter` is the original's.
    fn without_id_field(adapter: &Value) -> Value {
        let mut a = adapter.clone();
        a.as_object_mut().unwrap().remove("idField");
        a
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn user_event_matches_the_originals() {
        // Bob as stored by SQLite (booleans 0/1), after the sign-up of the transcripts.
        let row = obj(json!({
            "id": "kJIzb0Qzh4UnyO9rXS76FZETpOwlJ8it", "name": "Bob Member",
            "email": "bob@example.com", "emailVerified": 0, "image": null,
            "role": "user", "banned": 0, "attioId": null,
        }));
        let ev = ModelAdapter::user().event(EventKind::Create, &row, Origin::Auth);
        let ours = serde_json::to_value(&ev).unwrap();
        let theirs = &sink_events()[1];
        assert_eq!(ours["event"], theirs["event"]);
        assert_eq!(ours["data"], theirs["data"]);
        assert_eq!(without_id_field(&ours["adapter"]), theirs["adapter"]);
        assert_eq!(ours["adapter"]["idField"], "user_id");
        assert_eq!(ours["origin"], "auth");
        assert!(ours["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(
            ours["timestamp"].as_str().unwrap().len(),
            theirs["timestamp"].as_str().unwrap().len()
        );
        // role and ban state are not part of the default adapter's data
        assert!(ours["data"].get("role").is_none());
    }

    #[test]
    fn organization_event_carries_member_references() {
        let row = obj(json!({
            "id": "X0edpkithN6KJn3YFEZsfZ1jRMI75vLw", "name": "Acme (Attio)", "slug": "acme",
            "logo": "https://example.com/acme.png", "attioId": "cccccccc-0000-4000-8000-00000000acme",
            "memberAttioIds": ["aaaaaaaa-0000-4000-8000-00000000a11c", "bbbbbbbb-0000-4000-8000-0000000000b0"],
        }));
        let ev = ModelAdapter::organization().event(EventKind::Update, &row, Origin::Attio);
        let ours = serde_json::to_value(&ev).unwrap();
        let theirs = sink_events()
            .into_iter()
            .find(|e| e["data"]["workspace_id"] == "X0edpkithN6KJn3YFEZsfZ1jRMI75vLw")
            .unwrap();
        assert_eq!(ours["data"], theirs["data"]);
        assert_eq!(without_id_field(&ours["adapter"]), theirs["adapter"]);
        assert_eq!(ours["origin"], "attio");
    }

    #[test]
    fn delete_event_is_the_originals() {
        let row = obj(json!({"id": "GYWw3FZ1V4Cg2R6wg7SWzka4BroES73F", "name": "Gina"}));
        let ev = ModelAdapter::user().event(EventKind::Delete, &row, Origin::Auth);
        let theirs = sink_events()
            .into_iter()
            .find(|e| e["event"] == "delete")
            .unwrap();
        assert_eq!(Value::Object(ev.data.0), theirs["data"]);
    }
}
