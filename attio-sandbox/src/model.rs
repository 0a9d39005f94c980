//! In-memory data of one Attio workspace (objects, attributes, records, webhooks) and its
//! rendering into Attio's response shapes (OpenAPI schemas `object`, `attribute`, record).

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::index::Records;

/// Attio's timestamp format: nanosecond precision, `Z` suffix
/// (e.g. `2022-11-21T13:22:49.061281000Z`, OpenAPI examples).
pub(crate) fn attio_time(t: DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    )
}

/// Now, as Attio formats it.
pub(crate) fn now_string() -> String {
    attio_time(Utc::now())
}

/// Who made a change: `{type, id}` as in `created_by_actor` and webhook `actor`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Actor {
    pub kind: &'static str,
    pub id: Option<String>,
}

impl Actor {
    pub fn json(&self) -> Value {
        json!({"type": self.kind, "id": self.id})
    }
}

/// An object (standard or custom).
#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub id: Uuid,
    pub api_slug: String,
    pub singular_noun: String,
    pub plural_noun: String,
    pub created_at: String,
    /// `users` and `workspaces` are disabled in a new Attio workspace; a disabled object is
    /// answered as missing (404), which is how the backend detects it.
    pub enabled: bool,
}

impl Object {
    pub fn json(&self, workspace_id: Uuid) -> Value {
        json!({
            "id": {"workspace_id": workspace_id, "object_id": self.id},
            "api_slug": self.api_slug,
            "singular_noun": self.singular_noun,
            "plural_noun": self.plural_noun,
            "created_at": self.created_at,
        })
    }
}

/// A select option of a select attribute.
#[derive(Debug, Clone)]
pub(crate) struct SelectOption {
    pub id: Uuid,
    pub title: String,
    pub is_archived: bool,
}

/// An attribute of an object.
#[derive(Debug, Clone)]
pub(crate) struct Attribute {
    pub id: Uuid,
    pub object_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub api_slug: String,
    pub kind: String,
    pub is_system_attribute: bool,
    pub is_writable: bool,
    pub is_required: bool,
    pub is_unique: bool,
    pub is_multiselect: bool,
    pub default_value: Value,
    /// The inverse attribute of a relationship pair (record-reference only).
    pub relationship: Option<Uuid>,
    pub created_at: String,
    /// Object ids a record-reference may point at.
    pub allowed_object_ids: Vec<Uuid>,
    /// `config.currency` as stored.
    pub currency: Value,
    pub options: Vec<SelectOption>,
    /// Archived attributes are hidden from lists unless `show_archived=true`, keep their
    /// slug taken, and refuse writes (docs.attio.com/docs/archiving-vs-deleting).
    pub is_archived: bool,
}

/// One stored record; values are kept in Attio's read format, keyed by attribute id.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub id: Uuid,
    pub object_id: Uuid,
    pub created_at: String,
    /// Creation order: the default order of query results.
    pub seq: u64,
    pub values: HashMap<Uuid, Vec<Value>>,
}

/// A webhook subscription.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub event_type: String,
    pub filter: Value,
}

/// A webhook.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub id: Uuid,
    pub target_url: String,
    pub subscriptions: Vec<Subscription>,
    pub status: &'static str,
    pub created_at: String,
    pub secret: String,
}

impl Webhook {
    pub fn json(&self, workspace_id: Uuid, with_secret: bool) -> Value {
        let mut v = json!({
            "target_url": self.target_url,
            "subscriptions": self.subscriptions.iter().map(|s| json!({"event_type": s.event_type, "filter": s.filter})).collect::<Vec<_>>(),
            "id": {"workspace_id": workspace_id, "webhook_id": self.id},
            "status": self.status,
            "created_at": self.created_at,
        });
        if with_secret && let Some(map) = v.as_object_mut() {
            map.insert("secret".into(), Value::String(self.secret.clone()));
        }
        v
    }
}

/// One workspace with everything in it.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    /// The workspace member who "authorized" the tokens (introspection field).
    pub member_id: Uuid,
    pub objects: Vec<Object>,
    pub attributes: Vec<Attribute>,
    /// Records of every object, with the unique-value and reference indexes.
    pub records: Records,
    pub next_seq: u64,
    pub webhooks: Vec<Webhook>,
}

impl Workspace {
    /// A workspace as Attio creates it: `people` and `companies` enabled, `users` and
    /// `workspaces` present but disabled (unless listed in `enable`).
    pub fn new(name: &str, slug: &str, enable: &[String]) -> Self {
        let mut ws = Self {
            id: Uuid::new_v4(),
            name: name.to_string(),
            slug: slug.to_string(),
            member_id: Uuid::new_v4(),
            objects: Vec::new(),
            attributes: Vec::new(),
            records: Records::default(),
            next_seq: 0,
            webhooks: Vec::new(),
        };
        crate::standard::seed(&mut ws);
        let unique: Vec<Uuid> = ws
            .attributes
            .iter()
            .filter(|a| a.is_unique)
            .map(|a| a.id)
            .collect();
        for id in unique {
            ws.records.index_attribute(id);
        }
        for obj in &mut ws.objects {
            if enable.iter().any(|s| s == &obj.api_slug) {
                obj.enabled = true;
            }
        }
        ws
    }

    /// An enabled object by slug or id (Attio accepts both).
    pub fn object(&self, ident: &str) -> Result<&Object, crate::error::ApiError> {
        self.objects
            .iter()
            .find(|o| o.enabled && (o.api_slug == ident || o.id.to_string() == ident))
            .ok_or_else(|| {
                crate::error::ApiError::NotFound(format!(
                    "Object with slug/ID \"{ident}\" not found."
                ))
            })
    }

    pub fn object_by_id(&self, id: Uuid) -> Option<&Object> {
        self.objects.iter().find(|o| o.id == id)
    }

    pub fn attributes_of(&self, object_id: Uuid) -> impl Iterator<Item = &Attribute> {
        self.attributes
            .iter()
            .filter(move |a| a.object_id == object_id)
    }

    /// An attribute of an object by slug or id.
    pub fn attribute(&self, object_id: Uuid, ident: &str) -> Option<&Attribute> {
        self.attributes_of(object_id)
            .find(|a| a.api_slug == ident || a.id.to_string() == ident)
    }

    pub fn attribute_by_id(&self, id: Uuid) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.id == id)
    }

    pub fn attribute_json(&self, attr: &Attribute) -> Value {
        let relationship = attr.relationship.and_then(|inv| {
            let inverse = self.attribute_by_id(inv)?;
            let object = self.object_by_id(inverse.object_id)?;
            Some(json!({
                "id": {"workspace_id": self.id, "object_id": inverse.object_id, "attribute_id": inverse.id},
                "object_slug": object.api_slug,
                "title": inverse.title,
                "api_slug": inverse.api_slug,
                "is_multiselect": inverse.is_multiselect,
            }))
        });
        let allowed = if attr.kind == "record-reference" {
            json!(attr.allowed_object_ids)
        } else {
            Value::Null
        };
        json!({
            "id": {"workspace_id": self.id, "object_id": attr.object_id, "attribute_id": attr.id},
            "title": attr.title,
            "description": attr.description,
            "api_slug": attr.api_slug,
            "type": attr.kind,
            "is_system_attribute": attr.is_system_attribute,
            "is_writable": attr.is_writable,
            "is_required": attr.is_required,
            "is_unique": attr.is_unique,
            "is_multiselect": attr.is_multiselect,
            "is_default_value_enabled": !attr.default_value.is_null(),
            "is_archived": attr.is_archived,
            "default_value": attr.default_value,
            "relationship": relationship,
            "created_at": attr.created_at,
            "config": {
                "currency": attr.currency,
                "record_reference": {"allowed_object_ids": allowed},
            },
        })
    }

    pub fn option_json(&self, attr: &Attribute, opt: &SelectOption) -> Value {
        json!({
            "id": {"workspace_id": self.id, "object_id": attr.object_id, "attribute_id": attr.id, "option_id": opt.id},
            "title": opt.title,
            "is_archived": opt.is_archived,
        })
    }

    /// A record in Attio's read format: every attribute of the object appears, with `[]` when
    /// it has no value.
    pub fn record_json(&self, record: &Record) -> Value {
        let mut values = Map::new();
        for attr in self.attributes_of(record.object_id) {
            let vals = record.values.get(&attr.id).cloned().unwrap_or_default();
            values.insert(attr.api_slug.clone(), Value::Array(vals));
        }
        let noun = self
            .object_by_id(record.object_id)
            .map(|o| o.singular_noun.to_lowercase())
            .unwrap_or_default();
        json!({
            "id": {"workspace_id": self.id, "object_id": record.object_id, "record_id": record.id},
            "created_at": record.created_at,
            "web_url": format!("https://app.attio.com/{}/{}/{}", self.slug, noun, record.id),
            "values": values,
        })
    }
}
