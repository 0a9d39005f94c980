//! The event envelope the plugin sends to the backend (`SyncEvent`) and its parts.

use super::*;

/// What happened to the model instance. Serialized lowercase, as the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncEventKind {
    /// A new instance (user signed up, organization created).
    Create,
    /// An instance changed.
    Update,
    /// An instance was deleted; `data` then holds `_deleted: true` and the id field.
    Delete,
}

impl SyncEventKind {
    /// The wire name (`create`, `update`, `delete`).
    pub fn as_str(self) -> &'static str {
        match self {
            SyncEventKind::Create => "create",
            SyncEventKind::Update => "update",
            SyncEventKind::Delete => "delete",
        }
    }
}

/// Which side a change started on. The backend never writes an `attio`-origin change back to
/// Attio, and the plugin never sends an event for a change it applied from Attio with origin
/// `auth`: that is how sync loops are avoided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The change was made in the auth server (the default: the original only sent these).
    #[default]
    Auth,
    /// The change came from Attio (a webhook applied by the plugin).
    Attio,
}

/// The sync event envelope, plugin to backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncEvent {
    /// Event id, the idempotency key. Absent in the original plugin's events; see
    /// [`SyncEvent::idempotency_key`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What happened.
    pub event: SyncEventKind,
    /// The values in Attio write form, keyed by Attio attribute slug, plus `record_id`
    /// (the Attio record id when known) and `_deleted` on deletes.
    pub data: SyncData,
    /// When the change happened, ISO-8601 (`2026-11-23T08:49:05.778Z`).
    pub timestamp: String,
    /// The adapter that produced the event: model, Attio object and schema.
    pub adapter: AdapterInfo,
    /// Where the change started. Absent in the original's events, which are all `auth`.
    #[serde(default)]
    pub origin: Origin,
}

impl SyncEvent {
    /// The key that identifies this event across retries: its `id` when present, otherwise
    /// (events of the original plugin) `sha256:` + hex SHA-256 of the canonical JSON of
    /// event, model, timestamp and data, which is stable for a re-delivery of the same event.
    pub fn idempotency_key(&self) -> String {
        if let Some(id) = self.id.as_deref().filter(|id| !id.is_empty()) {
            return id.to_owned();
        }
        let mut hasher = Sha256::new();
        hasher.update(self.event.as_str().as_bytes());
        hasher.update(b"\n");
        hasher.update(self.adapter.better_auth_model.as_bytes());
        hasher.update(b"\n");
        hasher.update(self.timestamp.as_bytes());
        hasher.update(b"\n");
        // serde_json's Map is ordered by key here (no `preserve_order`), so this is canonical.
        hasher.update(Value::Object(self.data.0.clone()).to_string().as_bytes());
        let digest = hasher.finalize();
        let mut key = String::with_capacity(7 + 64);
        key.push_str("sha256:");
        for byte in digest {
            key.push_str(&format!("{byte:02x}"));
        }
        key
    }

    /// The key that orders events of one record: the Attio object and the value of the
    /// adapter's id attribute (`users/<user_id>`). Events with the same key must be applied in
    /// order; different keys may go in parallel. `None` when the id value is missing.
    pub fn ordering_key(&self) -> Option<String> {
        let slug = self.adapter.id_attribute().ok()?;
        let id = self.data.get(slug)?;
        let id = match id {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        Some(format!("{}/{}", self.adapter.attio_object, id))
    }
}

/// The `data` of a sync event: Attio attribute slug -> value in write form, with two special
/// keys of the original, `record_id` and `_deleted`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SyncData(pub Map<String, Value>);

impl SyncData {
    /// Key of the Attio record id in `data`.
    pub const RECORD_ID: &'static str = "record_id";
    /// Key of the delete flag in `data`.
    pub const DELETED: &'static str = "_deleted";

    /// The Attio record id, when the auth server knows it (a non-empty string).
    pub fn record_id(&self) -> Option<&str> {
        self.0
            .get(Self::RECORD_ID)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Whether the data says the instance was deleted.
    pub fn is_deleted(&self) -> bool {
        self.0.get(Self::DELETED).and_then(Value::as_bool) == Some(true)
    }

    /// One value by attribute slug.
    pub fn get(&self, slug: &str) -> Option<&Value> {
        self.0.get(slug)
    }

    /// The attribute values only: everything but `record_id` and `_deleted`.
    pub fn attributes(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0
            .iter()
            .filter(|(k, _)| k.as_str() != Self::RECORD_ID && k.as_str() != Self::DELETED)
    }
}

/// The `adapter` of a sync event: which model, which Attio object, and the schema of the
/// attributes (the backend creates missing attributes from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdapterInfo {
    /// The auth model (`user`, `organization`).
    pub better_auth_model: String,
    /// The Attio object slug (`users`, `workspaces`).
    pub attio_object: String,
    /// Attribute slug -> field schema.
    pub attio_schema: AttioSchema,
    /// The attribute records are matched by (`user_id`, `workspace_id`). New and optional:
    /// when absent, [`AdapterInfo::id_attribute`] infers it from the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_field: Option<String>,
}

/// Attribute slug -> field schema, as `attioSchema` carries it.
pub type AttioSchema = BTreeMap<String, FieldSchema>;

impl AdapterInfo {
    /// The default adapter of the `user` model: the original's `users` schema.
    pub fn default_user() -> Self {
        let mut schema = AttioSchema::new();
        schema.insert(
            "user_id".into(),
            FieldSchema::new(AttributeType::Text, "User ID", "Better Auth user ID")
                .unique()
                .required(),
        );
        schema.insert(
            "primary_email_address".into(),
            FieldSchema::new(
                AttributeType::EmailAddress,
                "Primary Email",
                "User's primary email address",
            )
            .unique()
            .required(),
        );
        schema.insert(
            "name".into(),
            FieldSchema::new(AttributeType::Text, "Name", "User's display name"),
        );
        schema.insert(
            "email_verified".into(),
            FieldSchema::new(
                AttributeType::Checkbox,
                "Email Verified",
                "Whether the user's email has been verified",
            ),
        );
        AdapterInfo {
            better_auth_model: "user".into(),
            attio_object: "users".into(),
            attio_schema: schema,
            id_field: Some("user_id".into()),
        }
    }

    /// The default adapter of the `organization` model: the original's `workspaces` schema.
    pub fn default_organization() -> Self {
        let mut schema = AttioSchema::new();
        schema.insert(
            "workspace_id".into(),
            FieldSchema::new(
                AttributeType::Text,
                "Workspace ID",
                "Better Auth organization ID",
            )
            .unique()
            .required(),
        );
        schema.insert(
            "name".into(),
            FieldSchema::new(AttributeType::Text, "Name", "Organization name").required(),
        );
        schema.insert(
            "slug".into(),
            FieldSchema::new(
                AttributeType::Text,
                "Slug",
                "URL-friendly organization identifier",
            )
            .unique(),
        );
        schema.insert(
            "avatar_url".into(),
            FieldSchema::new(
                AttributeType::Text,
                "Avatar URL",
                "Organization logo/avatar image URL",
            ),
        );
        let mut users = FieldSchema::new(
            AttributeType::RecordReference,
            "Users",
            "Users who are members of this organization",
        );
        users.is_multiselect = Some(true);
        users.config = Some(FieldConfig {
            allowed_objects: Some(vec!["users".into()]),
            ..FieldConfig::default()
        });
        schema.insert("users".into(), users);
        AdapterInfo {
            better_auth_model: "organization".into(),
            attio_object: "workspaces".into(),
            attio_schema: schema,
            id_field: Some("workspace_id".into()),
        }
    }

    /// The attribute to assert (upsert) records by: `id_field` when set, else the schema's
    /// unique and required text attribute (preferring one whose slug ends in `_id`), else any
    /// unique attribute. For the default adapters: `user_id` and `workspace_id`.
    pub fn id_attribute(&self) -> Result<&str, SyncError> {
        if let Some(id) = self.id_field.as_deref() {
            return Ok(id);
        }
        let unique = || {
            self.attio_schema
                .iter()
                .filter(|(_, f)| f.is_unique == Some(true))
        };
        let required_text = || {
            unique().filter(|(_, f)| {
                f.is_required == Some(true) && f.attribute_type == AttributeType::Text
            })
        };
        required_text()
            .find(|(slug, _)| slug.ends_with("_id"))
            .or_else(|| required_text().next())
            .or_else(|| unique().next())
            .map(|(slug, _)| slug.as_str())
            .ok_or_else(|| SyncError::NoMatchingAttribute(self.attio_object.clone()))
    }

    /// The values of `data` to write to Attio, in write form, keyed by slug: only attributes
    /// the schema knows and whose [`FieldSchema::direction_for`] lets auth write to Attio.
    /// Unknown keys are left out (never sent blind); a value that does not fit its type is an
    /// error naming the field.
    pub fn write_values(&self, data: &SyncData) -> Result<BTreeMap<String, Value>, SyncError> {
        let mut out = BTreeMap::new();
        for (slug, value) in data.attributes() {
            let Some(field) = self.attio_schema.get(slug) else {
                continue;
            };
            if !field.direction_for(slug).writes_to_attio() {
                continue;
            }
            if let Some(v) = to_write_value(slug, field, value)? {
                out.insert(slug.clone(), v);
            }
        }
        Ok(out)
    }

    /// The body and matching attribute of the Attio assert call
    /// (`PUT /v2/objects/{attio_object}/records?matching_attribute=..`) that applies `data`:
    /// `{"data": {"values": {...}}}`. The matching attribute must have a value in `data`.
    pub fn assert_request(&self, data: &SyncData) -> Result<(String, Value), SyncError> {
        let matching = self.id_attribute()?.to_owned();
        let values = self.write_values(data)?;
        if !values.contains_key(&matching) {
            // The id field may be outside the write direction; it is still needed to match.
            let field = self.attio_schema.get(&matching);
            let raw = data
                .get(&matching)
                .filter(|v| !v.is_null())
                .ok_or_else(|| SyncError::MissingMatchingValue(matching.clone()))?;
            let v = match field {
                Some(field) => to_write_value(&matching, field, raw)?,
                None => Some(raw.clone()),
            }
            .ok_or_else(|| SyncError::MissingMatchingValue(matching.clone()))?;
            let mut values = values;
            values.insert(matching.clone(), v);
            return Ok((matching, assert_body(values)));
        }
        if values.get(&matching).is_some_and(Value::is_null) {
            return Err(SyncError::MissingMatchingValue(matching));
        }
        Ok((matching, assert_body(values)))
    }
}

fn assert_body(values: BTreeMap<String, Value>) -> Value {
    let values: Map<String, Value> = values.into_iter().collect();
    let mut data = Map::new();
    data.insert("values".into(), Value::Object(values));
    let mut body = Map::new();
    body.insert("data".into(), Value::Object(data));
    Value::Object(body)
}

/// Turn one plain value of an event into Attio's write form for its attribute type.
/// `Ok(None)` means "do not send" (a null checkbox: Attio does not accept null there).
fn to_write_value(
    slug: &str,
    field: &FieldSchema,
    value: &Value,
) -> Result<Option<Value>, SyncError> {
    let mismatch = |expected: &'static str| SyncError::TypeMismatch {
        field: slug.to_owned(),
        attribute_type: field.attribute_type.as_str().to_owned(),
        expected,
    };
    if let Value::Array(items) = value {
        if field.is_multiselect != Some(true) && items.len() > 1 {
            return Err(mismatch(
                "a single value (the attribute is not multiselect)",
            ));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = to_write_value(slug, field, item)? {
                out.push(v);
            }
        }
        return Ok(Some(Value::Array(out)));
    }
    if value.is_null() {
        return Ok(match field.attribute_type {
            AttributeType::Checkbox => None,
            // Clearing is writing no values; Attio takes `[]` for every type.
            _ => Some(Value::Array(Vec::new())),
        });
    }
    let written = match &field.attribute_type {
        AttributeType::Text => match value {
            Value::String(_) => value.clone(),
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            _ => return Err(mismatch("a string")),
        },
        AttributeType::Number | AttributeType::Rating | AttributeType::Currency => match value {
            Value::Number(_) => value.clone(),
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(n) => serde_json::Number::from_f64(n)
                    .map(Value::Number)
                    .ok_or_else(|| mismatch("a finite number"))?,
                Err(_) => return Err(mismatch("a number")),
            },
            _ => return Err(mismatch("a number")),
        },
        AttributeType::Checkbox => match value {
            Value::Bool(_) => value.clone(),
            Value::String(s) if s == "true" || s == "false" => Value::Bool(s == "true"),
            _ => return Err(mismatch("a boolean")),
        },
        AttributeType::Timestamp | AttributeType::Date => match value {
            Value::String(_) => value.clone(),
            _ => return Err(mismatch("an ISO-8601 string")),
        },
        AttributeType::EmailAddress => match value {
            Value::String(_) => value.clone(),
            Value::Object(o) if o.get("email_address").is_some_and(Value::is_string) => {
                value.clone()
            }
            _ => return Err(mismatch("an email address string")),
        },
        AttributeType::PhoneNumber => match value {
            Value::String(s) => {
                let mut o = Map::new();
                o.insert("original_phone_number".into(), Value::String(s.clone()));
                Value::Object(o)
            }
            Value::Object(_) => value.clone(),
            _ => return Err(mismatch("a phone number string")),
        },
        AttributeType::RecordReference => match value {
            Value::Object(o) if o.get("target_object").is_some_and(Value::is_string) => {
                value.clone()
            }
            // A bare record id: the target object is the one the schema allows.
            Value::String(id) => match field.single_allowed_object() {
                Some(object) => serde_json::to_value(RecordReferenceWrite {
                    target_object: object.to_owned(),
                    target_record_id: id.clone(),
                })
                .map_err(|_| mismatch("a record reference"))?,
                None => value.clone(),
            },
            _ => {
                return Err(mismatch(
                    "a record reference {target_object, target_record_id}",
                ));
            }
        },
        AttributeType::Select | AttributeType::Status => match value {
            Value::String(_) => value.clone(),
            _ => return Err(mismatch("an option title")),
        },
        // Other types: Attio validates the shape; we pass it through.
        _ => value.clone(),
    };
    Ok(Some(written))
}
