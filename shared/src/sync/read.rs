//! Attio values in the read format (what Attio returns) and the extraction of plain values.

use super::*;

/// Who made a change in Attio (`created_by_actor`, webhook `actor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `api-token`, `workspace-member`, `system` or `app`.
    #[serde(rename = "type")]
    pub actor_type: ActorType,
    /// The actor's id (null for some system actors).
    #[serde(default)]
    pub id: Option<String>,
}

/// The kind of an Attio actor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ActorType {
    /// `api-token`: a write made with an API token (ours, when we sync).
    ApiToken,
    /// `workspace-member`: a person in Attio.
    WorkspaceMember,
    /// `system`.
    System,
    /// `app`: an Attio app (the OAuth token of an app).
    App,
    /// Another name.
    Other(String),
}

impl ActorType {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            ActorType::ApiToken => "api-token",
            ActorType::WorkspaceMember => "workspace-member",
            ActorType::System => "system",
            ActorType::App => "app",
            ActorType::Other(s) => s,
        }
    }
}

impl Serialize for ActorType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ActorType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(match name.as_str() {
            "api-token" => ActorType::ApiToken,
            "workspace-member" => ActorType::WorkspaceMember,
            "system" => ActorType::System,
            "app" => ActorType::App,
            _ => ActorType::Other(name),
        })
    }
}

/// email-address value fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EmailAddressValue {
    /// As entered.
    #[serde(default)]
    pub original_email_address: Option<String>,
    /// Normalized.
    #[serde(default)]
    pub email_address: Option<String>,
    /// Domain part.
    #[serde(default)]
    pub email_domain: Option<String>,
    /// Root domain.
    #[serde(default)]
    pub email_root_domain: Option<String>,
    /// Local part.
    #[serde(default)]
    pub email_local_specifier: Option<String>,
}

/// phone-number value fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PhoneNumberValue {
    /// As entered.
    #[serde(default)]
    pub original_phone_number: Option<String>,
    /// ISO country code.
    #[serde(default)]
    pub country_code: Option<String>,
    /// Normalized (E.164).
    #[serde(default)]
    pub phone_number: Option<String>,
}

/// record-reference value fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordReferenceValue {
    /// Object slug of the target.
    pub target_object: String,
    /// Record id of the target.
    pub target_record_id: String,
}

/// actor-reference value fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorReferenceValue {
    /// Actor type (`workspace-member`).
    pub referenced_actor_type: String,
    /// Actor id.
    #[serde(default)]
    pub referenced_actor_id: Option<String>,
}

/// personal-name value fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PersonalNameValue {
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Full name.
    #[serde(default)]
    pub full_name: Option<String>,
}

/// domain value fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DomainValue {
    /// The domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// Its root domain.
    #[serde(default)]
    pub root_domain: Option<String>,
}

/// currency value fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CurrencyValue {
    /// The amount.
    #[serde(default)]
    pub currency_value: Option<f64>,
    /// ISO currency code.
    #[serde(default)]
    pub currency_code: Option<String>,
}

/// A select option or a status as values carry them: id, title, archived flag, and for a
/// status a few more fields kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OptionValue {
    /// Option / status id object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// The title shown in Attio (what extraction returns).
    #[serde(default)]
    pub title: Option<String>,
    /// Whether the option is archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_archived: Option<bool>,
    /// Other fields (`celebration_enabled`, `target_time_in_status`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The type-specific part of a read-format value.
#[derive(Debug, Clone, PartialEq)]
pub enum TypedValue {
    /// text: `value`.
    Text(String),
    /// number: `value`.
    Number(f64),
    /// checkbox: `value`.
    Checkbox(bool),
    /// timestamp: `value` (nanosecond ISO-8601).
    Timestamp(String),
    /// date: `value` (`YYYY-MM-DD`).
    Date(String),
    /// rating: `value` (0-5).
    Rating(f64),
    /// email-address.
    EmailAddress(EmailAddressValue),
    /// phone-number.
    PhoneNumber(PhoneNumberValue),
    /// record-reference.
    RecordReference(RecordReferenceValue),
    /// actor-reference.
    ActorReference(ActorReferenceValue),
    /// personal-name.
    PersonalName(PersonalNameValue),
    /// domain.
    Domain(DomainValue),
    /// currency.
    Currency(CurrencyValue),
    /// select: `option`.
    Select(OptionValue),
    /// status: `status`.
    Status(OptionValue),
    /// location, interaction, an unknown type, or a known type whose fields did not have the
    /// expected shape: the type name and the raw fields, kept as they came.
    Other {
        /// The `attribute_type` as sent.
        attribute_type: String,
        /// The type-specific fields.
        fields: Map<String, Value>,
    },
}

/// One value in Attio's read format: the common fields and the typed part.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadValue {
    /// When the value became active.
    pub active_from: Option<String>,
    /// When it stopped being active; `None` = current.
    pub active_until: Option<String>,
    /// Who wrote it.
    pub created_by_actor: Option<Actor>,
    /// The typed part, with `attribute_type`.
    pub value: TypedValue,
}

const COMMON_KEYS: [&str; 4] = [
    "active_from",
    "active_until",
    "created_by_actor",
    "attribute_type",
];

impl<'de> Deserialize<'de> for ReadValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(d)?;
        let attribute_type = match map.remove("attribute_type") {
            Some(Value::String(s)) => s,
            Some(_) => return Err(D::Error::custom("attribute_type must be a string")),
            None => return Err(D::Error::missing_field("attribute_type")),
        };
        let active_from = take_opt_string(&mut map, "active_from").map_err(D::Error::custom)?;
        let active_until = take_opt_string(&mut map, "active_until").map_err(D::Error::custom)?;
        let created_by_actor = match map.remove("created_by_actor") {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value(v).map_err(D::Error::custom)?),
        };
        let value = typed_from_fields(&attribute_type, map);
        Ok(ReadValue {
            active_from,
            active_until,
            created_by_actor,
            value,
        })
    }
}

fn take_opt_string(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{key} must be a string or null")),
    }
}

/// Parse the type-specific fields leniently: a shape we do not expect is kept as
/// [`TypedValue::Other`] instead of failing the whole record.
fn typed_from_fields(attribute_type: &str, fields: Map<String, Value>) -> TypedValue {
    fn field<T: serde::de::DeserializeOwned>(fields: &Map<String, Value>, key: &str) -> Option<T> {
        fields
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }
    fn whole<T: serde::de::DeserializeOwned>(fields: &Map<String, Value>) -> Option<T> {
        serde_json::from_value(Value::Object(fields.clone())).ok()
    }
    let typed = match AttributeType::parse(attribute_type) {
        AttributeType::Text => field(&fields, "value").map(TypedValue::Text),
        AttributeType::Number => field(&fields, "value").map(TypedValue::Number),
        AttributeType::Checkbox => field(&fields, "value").map(TypedValue::Checkbox),
        AttributeType::Timestamp => field(&fields, "value").map(TypedValue::Timestamp),
        AttributeType::Date => field(&fields, "value").map(TypedValue::Date),
        AttributeType::Rating => field(&fields, "value").map(TypedValue::Rating),
        AttributeType::EmailAddress => whole(&fields).map(TypedValue::EmailAddress),
        AttributeType::PhoneNumber => whole(&fields).map(TypedValue::PhoneNumber),
        AttributeType::RecordReference => whole(&fields).map(TypedValue::RecordReference),
        AttributeType::ActorReference => whole(&fields).map(TypedValue::ActorReference),
        AttributeType::PersonalName => whole(&fields).map(TypedValue::PersonalName),
        AttributeType::Domain => whole(&fields).map(TypedValue::Domain),
        AttributeType::Currency => whole(&fields).map(TypedValue::Currency),
        AttributeType::Select => field(&fields, "option").map(TypedValue::Select),
        AttributeType::Status => field(&fields, "status").map(TypedValue::Status),
        _ => None,
    };
    typed.unwrap_or_else(|| TypedValue::Other {
        attribute_type: attribute_type.to_owned(),
        fields,
    })
}

impl TypedValue {
    /// The `attribute_type` wire name.
    pub fn attribute_type(&self) -> &str {
        match self {
            TypedValue::Text(_) => "text",
            TypedValue::Number(_) => "number",
            TypedValue::Checkbox(_) => "checkbox",
            TypedValue::Timestamp(_) => "timestamp",
            TypedValue::Date(_) => "date",
            TypedValue::Rating(_) => "rating",
            TypedValue::EmailAddress(_) => "email-address",
            TypedValue::PhoneNumber(_) => "phone-number",
            TypedValue::RecordReference(_) => "record-reference",
            TypedValue::ActorReference(_) => "actor-reference",
            TypedValue::PersonalName(_) => "personal-name",
            TypedValue::Domain(_) => "domain",
            TypedValue::Currency(_) => "currency",
            TypedValue::Select(_) => "select",
            TypedValue::Status(_) => "status",
            TypedValue::Other { attribute_type, .. } => attribute_type,
        }
    }

    fn fields(&self) -> Map<String, Value> {
        fn obj<T: Serialize>(v: &T) -> Map<String, Value> {
            match serde_json::to_value(v) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            }
        }
        fn one(key: &str, v: Value) -> Map<String, Value> {
            let mut m = Map::new();
            m.insert(key.to_owned(), v);
            m
        }
        match self {
            TypedValue::Text(s) | TypedValue::Timestamp(s) | TypedValue::Date(s) => {
                one("value", Value::String(s.clone()))
            }
            TypedValue::Number(n) | TypedValue::Rating(n) => one(
                "value",
                serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            ),
            TypedValue::Checkbox(b) => one("value", Value::Bool(*b)),
            TypedValue::EmailAddress(v) => obj(v),
            TypedValue::PhoneNumber(v) => obj(v),
            TypedValue::RecordReference(v) => obj(v),
            TypedValue::ActorReference(v) => obj(v),
            TypedValue::PersonalName(v) => obj(v),
            TypedValue::Domain(v) => obj(v),
            TypedValue::Currency(v) => obj(v),
            TypedValue::Select(v) => one("option", Value::Object(obj(v))),
            TypedValue::Status(v) => one("status", Value::Object(obj(v))),
            TypedValue::Other { fields, .. } => fields.clone(),
        }
    }
}

impl Serialize for ReadValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = self.value.fields();
        for key in COMMON_KEYS {
            map.remove(key);
        }
        map.insert(
            "active_from".into(),
            self.active_from.clone().map_or(Value::Null, Value::String),
        );
        map.insert(
            "active_until".into(),
            self.active_until.clone().map_or(Value::Null, Value::String),
        );
        map.insert(
            "created_by_actor".into(),
            match &self.created_by_actor {
                Some(a) => serde_json::to_value(a).map_err(serde::ser::Error::custom)?,
                None => Value::Null,
            },
        );
        map.insert(
            "attribute_type".into(),
            Value::String(self.value.attribute_type().to_owned()),
        );
        map.serialize(s)
    }
}

impl ReadValue {
    /// Whether the value is current (`active_until` is null).
    pub fn is_active(&self) -> bool {
        self.active_until.is_none()
    }

    /// The plain value, as the original's `extractSingleValue` (`src/adapters/utils.ts`):
    /// email-address -> `email_address`; phone-number -> `phone_number`, else
    /// `original_phone_number`; record-reference -> `target_record_id`; personal-name ->
    /// `full_name`; select -> `option.title`; types with `value` -> `value`; actor-reference
    /// -> `referenced_actor_id`; anything else null. Extensions where the original gives null:
    /// status -> `status.title`, domain -> `domain`, currency -> `currency_value`.
    pub fn plain(&self) -> Value {
        let s = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        let n = |v: f64| serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number);
        match &self.value {
            TypedValue::Text(v) | TypedValue::Timestamp(v) | TypedValue::Date(v) => {
                Value::String(v.clone())
            }
            TypedValue::Number(v) | TypedValue::Rating(v) => n(*v),
            TypedValue::Checkbox(v) => Value::Bool(*v),
            TypedValue::EmailAddress(v) => s(&v.email_address),
            TypedValue::PhoneNumber(v) => {
                // `item.phone_number || item.original_phone_number`: an empty string falls through.
                match v.phone_number.as_deref().filter(|p| !p.is_empty()) {
                    Some(p) => Value::String(p.to_owned()),
                    None => s(&v.original_phone_number),
                }
            }
            TypedValue::RecordReference(v) => Value::String(v.target_record_id.clone()),
            TypedValue::ActorReference(v) => s(&v.referenced_actor_id),
            TypedValue::PersonalName(v) => s(&v.full_name),
            TypedValue::Select(v) | TypedValue::Status(v) => s(&v.title),
            TypedValue::Domain(v) => s(&v.domain),
            TypedValue::Currency(v) => v.currency_value.map_or(Value::Null, n),
            TypedValue::Other { fields, .. } => {
                if let Some(v) = fields.get("value") {
                    v.clone()
                } else if let Some(v) = fields.get("referenced_actor_id") {
                    v.clone()
                } else {
                    Value::Null
                }
            }
        }
    }
}

/// The plain value of one attribute, as the original's `extractAttioValue`: no values -> null,
/// one value -> that value, several -> an array. Unlike the original, values that are no
/// longer active (`active_until` set, seen with `show_historic`) are left out.
pub fn extract_value(values: &[ReadValue]) -> Value {
    let mut active = values.iter().filter(|v| v.is_active());
    match (active.next(), active.next()) {
        (None, _) => Value::Null,
        (Some(one), None) => one.plain(),
        (Some(first), Some(second)) => {
            let mut out = vec![first.plain(), second.plain()];
            out.extend(active.map(ReadValue::plain));
            Value::Array(out)
        }
    }
}

/// The record references of one attribute (e.g. a workspace's `users`), active values only.
pub fn extract_references(values: &[ReadValue]) -> Vec<&RecordReferenceValue> {
    values
        .iter()
        .filter(|v| v.is_active())
        .filter_map(|v| match &v.value {
            TypedValue::RecordReference(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The id of an Attio record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordId {
    /// Workspace id.
    pub workspace_id: String,
    /// Object id.
    pub object_id: String,
    /// Record id.
    pub record_id: String,
}

/// An Attio record in read format (`GET /v2/objects/{object}/records/{id}` `data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttioRecord {
    /// Its ids.
    pub id: RecordId,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Link to the record in Attio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    /// Attribute slug -> values.
    #[serde(default)]
    pub values: BTreeMap<String, Vec<ReadValue>>,
}

impl AttioRecord {
    /// The plain value of one attribute ([`extract_value`]); null when absent.
    pub fn plain(&self, slug: &str) -> Value {
        self.values
            .get(slug)
            .map_or(Value::Null, |v| extract_value(v))
    }

    /// Every attribute as a plain value, plus `record_id`: what the original hands to an
    /// adapter's `fromAttio`.
    pub fn plain_values(&self) -> Map<String, Value> {
        let mut out: Map<String, Value> = self
            .values
            .iter()
            .map(|(k, v)| (k.clone(), extract_value(v)))
            .collect();
        out.insert(
            SyncData::RECORD_ID.into(),
            Value::String(self.id.record_id.clone()),
        );
        out
    }
}

/// The id of an Attio object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectId {
    /// Workspace id.
    pub workspace_id: String,
    /// Object id.
    pub object_id: String,
}

/// An Attio object (`GET /v2/objects` items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttioObject {
    /// Its ids.
    pub id: ObjectId,
    /// Slug (`users`); null for some custom objects.
    #[serde(default)]
    pub api_slug: Option<String>,
    /// Singular noun.
    #[serde(default)]
    pub singular_noun: Option<String>,
    /// Plural noun.
    #[serde(default)]
    pub plural_noun: Option<String>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}
