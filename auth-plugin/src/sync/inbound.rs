//! Inbound mapping: an Attio record event (as forwarded to the plugin's `webhook`
//! endpoint, record in Attio's read format) turned into the auth changes its adapter
//! allows. Pure: the caller finds the stored row (with [`ModelAdapter::lookup_keys`]),
//! asks for a plan, and applies it with its store, then reports the change as an event
//! with origin `attio`.
//!
//! Rules: only fields whose direction and protection allow it are written; a null or
//! empty Attio value never clears an auth field (as the original); values equal to what is
//! stored are left out, and a plan with nothing left is [`InboundPlan::NoChange`], which
//! must write nothing and send nothing (no sync loops).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use attio_auth_shared::sync::ReadValue;

use super::adapter::{AttributeType, FieldSource, ModelAdapter, OnMissing};

/// The kind of an Attio record event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordEventKind {
    /// `record.created`
    Created,
    /// `record.updated`
    Updated,
    /// `record.deleted`
    Deleted,
    /// Anything else (`record.merged`, ...): ignored.
    Other,
}

/// One record event of an Attio webhook body (`events[i]`), parsed leniently: what is
/// missing is `None` and the plan says why it ignores the event.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordEvent {
    /// The event type.
    pub kind: RecordEventKind,
    /// The object's api slug (`users`), from `object.api_slug`.
    pub object: Option<String>,
    /// The record id, from `id.record_id` (or `record.id.record_id`).
    pub record_id: Option<String>,
    /// `record.values` in Attio's read format, when the record was included.
    pub values: Option<Map<String, Value>>,
}

impl RecordEvent {
    /// Parses one webhook event; never fails (see the fields for what may be missing).
    pub fn parse(event: &Value) -> Self {
        let kind = match event.get("event_type").and_then(Value::as_str) {
            Some("record.created") => RecordEventKind::Created,
            Some("record.updated") => RecordEventKind::Updated,
            Some("record.deleted") => RecordEventKind::Deleted,
            _ => RecordEventKind::Other,
        };
        let record = event.get("record").filter(|r| r.is_object());
        let record_id = event
            .pointer("/id/record_id")
            .or_else(|| record.and_then(|r| r.pointer("/id/record_id")))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let object = event
            .pointer("/object/api_slug")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let values = record
            .and_then(|r| r.get("values"))
            .and_then(Value::as_object)
            .cloned();
        Self {
            kind,
            object,
            record_id,
            values,
        }
    }
}

/// The plain value of one attribute (its read-format `entries`): active values only
/// (`active_until` null, see [`ReadValue::plain`]), the first one or null for a
/// single-valued attribute, an array for a multiselect one. Entries that do not parse as
/// Attio values count as no value.
pub fn attribute_value(entries: &Value, multiselect: bool) -> Value {
    let values: Vec<ReadValue> = serde_json::from_value(entries.clone()).unwrap_or_default();
    let mut active = values
        .iter()
        .filter(|v| v.is_active())
        .map(ReadValue::plain)
        .filter(|v| !v.is_null());
    if multiselect {
        Value::Array(active.collect())
    } else {
        active.next().unwrap_or(Value::Null)
    }
}

/// What the auth database should do for one Attio record event.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundPlan {
    /// Insert a row with these fields (Better Auth names; `attioId` included; the store
    /// adds id, timestamps and its defaults) and reconcile its references.
    Create {
        /// Column values.
        fields: Map<String, Value>,
        /// Reference key -> Attio record ids (e.g. `memberAttioIds` -> users).
        references: Map<String, Value>,
    },
    /// Change these fields (only those that differ) of row `id` and reconcile references.
    Update {
        /// The auth row id.
        id: String,
        /// Changed column values.
        fields: Map<String, Value>,
        /// Reference key -> Attio record ids, only when they differ from the stored ones.
        references: Map<String, Value>,
    },
    /// Delete row `id`.
    Delete {
        /// The auth row id.
        id: String,
    },
    /// The event matches what is stored: write nothing, send nothing.
    NoChange {
        /// The auth row id.
        id: String,
    },
    /// Not applicable (unknown object, no record, merged, missing required field...).
    Ignore {
        /// Why, for logs.
        reason: String,
    },
    /// The record carries a value its field's type cannot hold (a number for a text
    /// attribute, a NUL character): write nothing, and tell the caller why (the database
    /// would refuse it, or store something nobody typed).
    Reject {
        /// Which attribute and why, for the caller.
        reason: String,
    },
}

impl InboundPlan {
    fn ignore(reason: impl Into<String>) -> Self {
        Self::Ignore {
            reason: reason.into(),
        }
    }
}

/// Values compared the way the database stores them: SQLite booleans (0/1) equal JSON
/// booleans, and emails are case-insensitive.
fn same(kind: &AttributeType, stored: Option<&Value>, new: &Value) -> bool {
    let stored = stored.unwrap_or(&Value::Null);
    match kind {
        AttributeType::Checkbox => as_bool(stored) == as_bool(new),
        AttributeType::EmailAddress => match (stored.as_str(), new.as_str()) {
            (Some(a), Some(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
            _ => stored == new,
        },
        AttributeType::Number | AttributeType::Rating | AttributeType::Currency => {
            match (stored.as_f64(), new.as_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => stored == new,
            }
        }
        _ => stored == new,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.as_str() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// An Attio value as it is written to the auth database: emails trimmed and lowercased
/// (the original kept their case, so two accounts could differ by case only).
fn auth_value(kind: &AttributeType, v: Value) -> Value {
    match (kind, v) {
        (AttributeType::EmailAddress, Value::String(s)) => Value::String(s.trim().to_lowercase()),
        (AttributeType::Checkbox, v) => as_bool(&v).map(Value::Bool).unwrap_or(Value::Null),
        (_, v) => v,
    }
}

/// Why a plain value cannot be written as an attribute of type `kind`, if it cannot: text
/// types take strings, checkboxes booleans (or what [`as_bool`] reads as one), numeric
/// types numbers (null is no value everywhere); a string never holds NUL, which PostgreSQL text refuses. Types this crate
/// does not know take any scalar.
fn misfit(kind: &AttributeType, v: &Value) -> Option<&'static str> {
    use AttributeType as T;
    match v {
        Value::Null => None,
        Value::String(s) if s.contains('\0') => Some("a text value with a NUL character"),
        // As written: `true`, `"1"`, `0`... (see `as_bool`).
        _ if *kind == T::Checkbox => as_bool(v)
            .is_none()
            .then_some("something else than a boolean"),
        Value::String(_) => match kind {
            T::Number | T::Rating | T::Currency => Some("a string, expected a number"),
            _ => None,
        },
        Value::Bool(_) => match kind {
            T::Other(_) => None,
            _ => Some("a boolean, expected a value of the attribute's type"),
        },
        Value::Number(_) => match kind {
            T::Number | T::Rating | T::Currency | T::Other(_) => None,
            _ => Some("a number, expected a value of the attribute's type"),
        },
        Value::Array(_) => Some("a list, expected one value"),
        Value::Object(_) => Some("an object, expected one value"),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn ref_set(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Lowercase ASCII letters and digits joined by single dashes (the original's
/// `generateSlug`), for organizations created from Attio without a slug.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

impl ModelAdapter {
    /// Plain values (Attio slug -> value) of the adapter's fields present in `values`.
    pub fn plain_values(&self, values: &Map<String, Value>) -> Map<String, Value> {
        self.fields
            .iter()
            .filter_map(|f| {
                values.get(&f.attribute).map(|entries| {
                    let v = attribute_value(entries, f.schema.is_multiselect == Some(true));
                    (f.attribute.clone(), v)
                })
            })
            .collect()
    }

    /// The first value of `plain` (from [`ModelAdapter::plain_values`]) that its field
    /// cannot hold, as a message naming the attribute (see [`InboundPlan::Reject`]).
    pub fn check_values(&self, plain: &Map<String, Value>) -> Result<(), String> {
        for f in &self.fields {
            let Some(v) = plain.get(&f.attribute) else {
                continue;
            };
            let bad = match (&f.source, v) {
                // Record ids: strings, one or a list.
                (FieldSource::References { .. }, Value::Array(items)) => {
                    items.iter().find_map(|i| {
                        misfit(&AttributeType::Text, i)
                            .or(i.is_null().then_some("a null record id"))
                    })
                }
                (FieldSource::References { .. }, v) => misfit(&AttributeType::Text, v),
                (FieldSource::Column(_), Value::Array(items))
                    if f.schema.is_multiselect == Some(true) =>
                {
                    items
                        .iter()
                        .find_map(|i| misfit(&f.schema.attribute_type, i))
                }
                (FieldSource::Column(_), v) => misfit(&f.schema.attribute_type, v),
            };
            if let Some(why) = bad {
                return Err(format!("attribute {} holds {why}", f.attribute));
            }
        }
        Ok(())
    }

    /// Where to look for the stored row, in order: `attioId` = record id, `id` = the id
    /// attribute's value, then each unique column attribute (e.g. `email`, lowercased).
    /// Only string values are keys (ids and emails are strings; anything else would be
    /// compared with a text column, which PostgreSQL refuses). The caller takes the first
    /// row found.
    pub fn lookup_keys(&self, event: &RecordEvent) -> Vec<(String, Value)> {
        let mut keys = Vec::new();
        if let Some(r) = &event.record_id {
            keys.push(("attioId".to_owned(), Value::String(r.clone())));
        }
        if event.kind == RecordEventKind::Deleted {
            // A deleted record is matched by its link only: its values (when present) may
            // name another row.
            return keys;
        }
        let plain = event
            .values
            .as_ref()
            .map(|v| self.plain_values(v))
            .unwrap_or_default();
        if let Some(id) = plain
            .get(&self.id_attribute)
            .filter(|v| v.is_string() && !is_empty(v))
        {
            keys.push(("id".to_owned(), id.clone()));
        }
        for f in &self.fields {
            if f.attribute == self.id_attribute || f.schema.is_unique != Some(true) {
                continue;
            }
            if let (Some(col), Some(v)) = (f.auth_field(), plain.get(&f.attribute))
                && v.is_string()
                && !is_empty(v)
            {
                keys.push((
                    col.to_owned(),
                    auth_value(&f.schema.attribute_type, v.clone()),
                ));
            }
        }
        keys
    }

    /// The plan for `event` given the stored row (`None` when no lookup key found one).
    /// `stored` uses Better Auth field names and, for reference fields, their key (e.g.
    /// `memberAttioIds` with the current members' Attio record ids).
    pub fn plan_inbound(
        &self,
        event: &RecordEvent,
        stored: Option<&Map<String, Value>>,
    ) -> InboundPlan {
        if event
            .object
            .as_deref()
            .is_some_and(|o| o != self.attio_object)
        {
            return InboundPlan::ignore("event for another object");
        }
        let Some(record_id) = event.record_id.as_deref() else {
            return InboundPlan::ignore("event without record id");
        };
        let stored_id = stored
            .and_then(|s| s.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        match event.kind {
            RecordEventKind::Other => return InboundPlan::ignore("event type not synced"),
            RecordEventKind::Deleted => {
                if !self.sync_deletions {
                    return InboundPlan::ignore("deletions are not synced for this adapter");
                }
                let linked = stored
                    .and_then(|s| s.get("attioId").or_else(|| s.get("attio_id")))
                    .and_then(Value::as_str)
                    == Some(record_id);
                return match stored_id {
                    Some(id) if linked => InboundPlan::Delete { id },
                    _ => InboundPlan::ignore("deleted record is not linked to a row"),
                };
            }
            RecordEventKind::Created | RecordEventKind::Updated => {}
        }
        let Some(values) = &event.values else {
            return InboundPlan::ignore("event without record values");
        };
        let plain = self.plain_values(values);
        if let Err(reason) = self.check_values(&plain) {
            return InboundPlan::Reject { reason };
        }
        match (stored, stored_id) {
            (Some(row), Some(id)) => self.plan_update(record_id, &plain, row, id),
            _ if event.kind == RecordEventKind::Updated && self.on_missing == OnMissing::Ignore => {
                InboundPlan::ignore("unknown record and onMissing is ignore")
            }
            _ => self.plan_create(record_id, &plain),
        }
    }

    fn plan_update(
        &self,
        record_id: &str,
        plain: &Map<String, Value>,
        row: &Map<String, Value>,
        id: String,
    ) -> InboundPlan {
        let mut fields = Map::new();
        let mut references = Map::new();
        let stored_link = row.get("attioId").or_else(|| row.get("attio_id"));
        if stored_link.and_then(Value::as_str) != Some(record_id) {
            fields.insert("attioId".into(), Value::String(record_id.to_owned()));
        }
        for f in self.fields.iter().filter(|f| f.writable_from_attio()) {
            let Some(new) = plain.get(&f.attribute) else {
                continue;
            };
            match &f.source {
                FieldSource::Column(col) => {
                    if is_empty(new) {
                        continue;
                    }
                    let new = auth_value(&f.schema.attribute_type, new.clone());
                    if !new.is_null() && !same(&f.schema.attribute_type, row.get(col), &new) {
                        fields.insert(col.clone(), new);
                    }
                }
                FieldSource::References { key, .. } => {
                    if ref_set(Some(new)) != ref_set(row.get(key)) {
                        references.insert(key.clone(), new.clone());
                    }
                }
            }
        }
        if fields.is_empty() && references.is_empty() {
            InboundPlan::NoChange { id }
        } else {
            InboundPlan::Update {
                id,
                fields,
                references,
            }
        }
    }

    fn plan_create(&self, record_id: &str, plain: &Map<String, Value>) -> InboundPlan {
        let mut fields = Map::new();
        let mut references = Map::new();
        fields.insert("attioId".into(), Value::String(record_id.to_owned()));
        for f in &self.fields {
            let Some(new) = plain.get(&f.attribute) else {
                continue;
            };
            match &f.source {
                FieldSource::Column(col) => {
                    // A new row takes the fields that name it (a new user's email) even
                    // when protected: that changes no existing login.
                    let names_row = self.required_on_create.iter().any(|r| r == col)
                        && f.direction.writes_to_auth()
                        && col != "id";
                    if !(f.writable_from_attio() || names_row) || is_empty(new) {
                        continue;
                    }
                    let v = auth_value(&f.schema.attribute_type, new.clone());
                    if !v.is_null() {
                        fields.insert(col.clone(), v);
                    }
                }
                FieldSource::References { key, .. } => {
                    if f.writable_from_attio() {
                        references.insert(key.clone(), new.clone());
                    }
                }
            }
        }
        for required in &self.required_on_create {
            if !fields.contains_key(required) {
                return InboundPlan::ignore(format!("record lacks required field {required}"));
            }
        }
        if self.better_auth_model == "organization"
            && !fields.contains_key("slug")
            && let Some(name) = fields.get("name").and_then(Value::as_str)
        {
            {
                let slug = slugify(name);
                if !slug.is_empty() {
                    fields.insert("slug".into(), Value::String(slug));
                }
            }
        }
        InboundPlan::Create { fields, references }
    }
}

/// Members to add and remove so that a row's references equal `wanted` (both as auth ids).
pub fn reconcile<'a>(current: &'a [String], wanted: &'a [String]) -> (Vec<&'a str>, Vec<&'a str>) {
    let cur: BTreeSet<&str> = current.iter().map(String::as_str).collect();
    let want: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
    let add = want.difference(&cur).copied().collect();
    let remove = cur.difference(&want).copied().collect();
    (add, remove)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// Trimmed copies of the original's webhook transcripts (`shared/peer/transcripts`
    /// 159-177): the events sent and the users stored before.
    fn transcript(seq: &str) -> Value {
        let all: Value =
            serde_json::from_str(include_str!("testdata/webhook-transcripts.json")).unwrap();
        let seq: u64 = seq.trim_end_matches("-webhook").parse().unwrap();
        all.as_object()
            .unwrap()
            .values()
            .find(|t| t["seq"] == seq)
            .unwrap()
            .clone()
    }

    fn first_event(name: &str) -> RecordEvent {
        RecordEvent::parse(&transcript(name)["events"][0])
    }

    fn db_user(name: &str, tr: &str) -> Map<String, Value> {
        let t = transcript(tr);
        t["usersBefore"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"].as_str().unwrap().starts_with(name))
            .unwrap()
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn read_format_values_become_plain_values() {
        let ev = first_event("160-webhook");
        let plain = ModelAdapter::user().plain_values(ev.values.as_ref().unwrap());
        assert_eq!(
            Value::Object(plain),
            json!({"user_id": "kJIzb0Qzh4UnyO9rXS76FZETpOwlJ8it",
                   "primary_email_address": "bob@example.com",
                   "name": "Bob From Attio", "email_verified": true})
        );
        let ws = first_event("165-webhook");
        let plain = ModelAdapter::organization().plain_values(ws.values.as_ref().unwrap());
        assert_eq!(plain["users"].as_array().unwrap().len(), 3);
        assert_eq!(plain["slug"], Value::Null);
    }

    #[test]
    fn update_writes_name_but_never_email_verified_by_default() {
        // The original set emailVerified from Attio here (transcript 160): we do not.
        let ev = first_event("160-webhook");
        let bob = db_user("Bob", "160-webhook");
        let user = ModelAdapter::user();
        let keys = user.lookup_keys(&ev);
        assert_eq!(keys[0].0, "attioId");
        assert_eq!(keys[1], ("id".to_owned(), bob["id"].clone()));
        match user.plan_inbound(&ev, Some(&bob)) {
            InboundPlan::Update {
                id,
                fields,
                references,
            } => {
                assert_eq!(id, bob["id"].as_str().unwrap());
                assert_eq!(
                    Value::Object(fields),
                    json!({"attioId": "bbbbbbbb-0000-4000-8000-0000000000b0", "name": "Bob From Attio"})
                );
                assert!(references.is_empty());
            }
            other => panic!("{other:?}"),
        }
        let trusting = ModelAdapter::user().with_field(
            user.field("email_verified")
                .unwrap()
                .clone()
                .allow_identity_write(),
        );
        match trusting.plan_inbound(&ev, Some(&bob)) {
            InboundPlan::Update { fields, .. } => assert_eq!(fields["emailVerified"], true),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn email_collision_does_not_change_the_login_email() {
        let ev = first_event("172-webhook");
        let dave = db_user("Dave", "172-webhook");
        match ModelAdapter::user().plan_inbound(&ev, Some(&dave)) {
            InboundPlan::Update { fields, .. } => {
                assert_eq!(Value::Object(fields), json!({"name": "Dave Collides"}))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn echo_of_stored_values_changes_nothing() {
        for tr in ["169-webhook", "170-webhook"] {
            let ev = first_event(tr);
            let alice = db_user("Alice", tr);
            assert_eq!(
                ModelAdapter::user().plan_inbound(&ev, Some(&alice)),
                InboundPlan::NoChange {
                    id: alice["id"].as_str().unwrap().to_owned()
                }
            );
        }
    }

    #[test]
    fn create_from_attio_lowercases_email_and_never_verifies() {
        let ev = first_event("171-webhook");
        match ModelAdapter::user().plan_inbound(&ev, None) {
            InboundPlan::Create { fields, .. } => assert_eq!(
                Value::Object(fields),
                json!({"attioId": "abababab-0000-4000-8000-0000000mixed",
                       "email": "mixed.case@example.com", "name": "Mixed Case"})
            ),
            other => panic!("{other:?}"),
        }
        let dave = first_event("161-webhook");
        match ModelAdapter::user().plan_inbound(&dave, None) {
            InboundPlan::Create { fields, .. } => assert!(!fields.contains_key("emailVerified")),
            other => panic!("{other:?}"),
        }
        // Unknown record on update: onMissing decides.
        let gina = first_event("163-webhook");
        assert!(matches!(
            ModelAdapter::user().plan_inbound(&gina, None),
            InboundPlan::Create { .. }
        ));
        assert!(matches!(
            ModelAdapter::user()
                .on_missing(OnMissing::Ignore)
                .plan_inbound(&gina, None),
            InboundPlan::Ignore { .. }
        ));
        // No email: nothing created (transcript 164).
        let no_email = first_event("164-webhook");
        assert!(matches!(
            ModelAdapter::user().plan_inbound(&no_email, None),
            InboundPlan::Ignore { .. }
        ));
    }

    #[test]
    fn workspace_create_and_member_changes() {
        let org = ModelAdapter::organization();
        let ev = first_event("165-webhook");
        match org.plan_inbound(&ev, None) {
            InboundPlan::Create { fields, references } => {
                assert_eq!(fields["slug"], "attio-made-workspace");
                assert_eq!(references["memberAttioIds"].as_array().unwrap().len(), 3);
            }
            other => panic!("{other:?}"),
        }
        let upd = first_event("167-webhook");
        let stored = json!({"id": "5Pd45TQyZNFQsJjrYD3NvtX7n3JpUV7S", "name": "Attio Made Workspace",
            "slug": "attio-made-workspace", "logo": null, "attioId": "eeeeeeee-0000-4000-8000-0000000newws",
            "memberAttioIds": ["aaaaaaaa-0000-4000-8000-00000000a11c", "dddddddd-0000-4000-8000-00000000da7e"]});
        match org.plan_inbound(&upd, stored.as_object()) {
            InboundPlan::Update {
                fields, references, ..
            } => {
                assert_eq!(
                    Value::Object(fields),
                    json!({"name": "Attio Made Workspace 2", "slug": "attio-made-2"})
                );
                assert_eq!(
                    Value::Object(references),
                    json!({"memberAttioIds": ["bbbbbbbb-0000-4000-8000-0000000000b0"]})
                );
            }
            other => panic!("{other:?}"),
        }
        let same = json!({"id": "5Pd45TQyZNFQsJjrYD3NvtX7n3JpUV7S", "name": "Attio Made Workspace 2",
            "slug": "attio-made-2", "attioId": "eeeeeeee-0000-4000-8000-0000000newws",
            "memberAttioIds": ["bbbbbbbb-0000-4000-8000-0000000000b0"]});
        assert!(matches!(
            org.plan_inbound(&upd, same.as_object()),
            InboundPlan::NoChange { .. }
        ));
        let (current, wanted) = (["a".into(), "b".into()], ["b".into(), "c".into()]);
        let (add, remove) = reconcile(&current, &wanted);
        assert_eq!((add, remove), (vec!["c"], vec!["a"]));
    }

    #[test]
    fn deletes_and_ignored_events() {
        let user = ModelAdapter::user();
        let ev = first_event("174-webhook");
        assert_eq!(ev.kind, RecordEventKind::Deleted);
        assert_eq!(user.lookup_keys(&ev).len(), 1);
        let dave = json!({"id": "V9d", "attioId": "dddddddd-0000-4000-8000-00000000da7e"});
        assert_eq!(
            user.plan_inbound(&ev, dave.as_object()),
            InboundPlan::Delete { id: "V9d".into() }
        );
        assert!(matches!(
            user.plan_inbound(&ev, None),
            InboundPlan::Ignore { .. }
        ));
        assert!(matches!(
            user.clone()
                .sync_deletions(false)
                .plan_inbound(&ev, dave.as_object()),
            InboundPlan::Ignore { .. }
        ));
        let t = transcript("173-webhook");
        for e in t["events"].as_array().unwrap() {
            let ev = RecordEvent::parse(e);
            assert!(
                matches!(
                    user.plan_inbound(&ev, dave.as_object()),
                    InboundPlan::Ignore { .. }
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn custom_fields_follow_their_direction() {
        use crate::sync::adapter::{Direction, FieldMapping, FieldSchema};
        let user = ModelAdapter::user()
            .with_field(
                FieldMapping::column(
                    "plan",
                    "plan",
                    FieldSchema::new(AttributeType::Select, "Plan", "Billing plan"),
                )
                .direction(Direction::AttioToAuth),
            )
            .with_field(
                FieldMapping::column(
                    "signup_source",
                    "signupSource",
                    FieldSchema::new(AttributeType::Text, "Signup source", "Where they came from"),
                )
                .direction(Direction::AuthToAttio),
            )
            .with_field(
                FieldMapping::column(
                    "role",
                    "role",
                    FieldSchema::new(AttributeType::Text, "Role", "Auth role"),
                )
                .allow_identity_write(),
            );
        let ev = RecordEvent::parse(&json!({
            "event_type": "record.updated",
            "id": {"record_id": "rec-1"},
            "object": {"api_slug": "users"},
            "record": {"values": {
                "plan": [{"option": {"title": "Pro"}, "attribute_type": "select"}],
                "signup_source": [{"value": "crm", "attribute_type": "text"}],
                "role": [{"value": "admin", "attribute_type": "text"}],
                "name": [{"value": "Ann", "attribute_type": "text", "active_until": "2026-01-01T00:00:00Z"},
                         {"value": "Ann B", "attribute_type": "text", "active_until": null}]
            }}
        }));
        let stored = json!({"id": "u1", "name": "Ann", "plan": "Free", "signupSource": "web",
                            "role": "user", "attioId": "rec-1"});
        match user.plan_inbound(&ev, stored.as_object()) {
            InboundPlan::Update { fields, .. } => assert_eq!(
                Value::Object(fields),
                json!({"plan": "Pro", "role": "admin", "name": "Ann B"})
            ),
            other => panic!("{other:?}"),
        }
        let out = user.to_attio_data(crate::sync::EventKind::Update, stored.as_object().unwrap());
        assert_eq!(out["signup_source"], "web");
        assert!(
            !out.contains_key("plan"),
            "Attio-owned fields are not sent back"
        );
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("  Attio Made Workspace! "), "attio-made-workspace");
        assert_eq!(slugify("Ünïcode & Co"), "n-code-co");
    }
}
