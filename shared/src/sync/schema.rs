//! The adapter schema: how a model maps to an Attio object (attribute types, directions, fields).

use super::*;

/// An Attio attribute type (`NOTES.md` §1.3). Unknown names are kept, not refused, so a newer
/// Attio type does not break parsing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeType {
    /// `text`
    Text,
    /// `number`
    Number,
    /// `checkbox`
    Checkbox,
    /// `currency`
    Currency,
    /// `date`
    Date,
    /// `timestamp`
    Timestamp,
    /// `rating`
    Rating,
    /// `status`
    Status,
    /// `select`
    Select,
    /// `record-reference`
    RecordReference,
    /// `actor-reference`
    ActorReference,
    /// `location`
    Location,
    /// `domain`
    Domain,
    /// `email-address`
    EmailAddress,
    /// `phone-number`
    PhoneNumber,
    /// `interaction` (read only)
    Interaction,
    /// `personal-name` (read only)
    PersonalName,
    /// A type this crate does not know, by its wire name.
    Other(String),
}

impl AttributeType {
    /// Every known type, in Attio's order.
    pub const KNOWN: [AttributeType; 17] = [
        AttributeType::Text,
        AttributeType::Number,
        AttributeType::Checkbox,
        AttributeType::Currency,
        AttributeType::Date,
        AttributeType::Timestamp,
        AttributeType::Rating,
        AttributeType::Status,
        AttributeType::Select,
        AttributeType::RecordReference,
        AttributeType::ActorReference,
        AttributeType::Location,
        AttributeType::Domain,
        AttributeType::EmailAddress,
        AttributeType::PhoneNumber,
        AttributeType::Interaction,
        AttributeType::PersonalName,
    ];

    /// The wire name (`email-address`).
    pub fn as_str(&self) -> &str {
        match self {
            AttributeType::Text => "text",
            AttributeType::Number => "number",
            AttributeType::Checkbox => "checkbox",
            AttributeType::Currency => "currency",
            AttributeType::Date => "date",
            AttributeType::Timestamp => "timestamp",
            AttributeType::Rating => "rating",
            AttributeType::Status => "status",
            AttributeType::Select => "select",
            AttributeType::RecordReference => "record-reference",
            AttributeType::ActorReference => "actor-reference",
            AttributeType::Location => "location",
            AttributeType::Domain => "domain",
            AttributeType::EmailAddress => "email-address",
            AttributeType::PhoneNumber => "phone-number",
            AttributeType::Interaction => "interaction",
            AttributeType::PersonalName => "personal-name",
            AttributeType::Other(name) => name,
        }
    }

    /// Parse a wire name; unknown names become [`AttributeType::Other`].
    pub fn parse(name: &str) -> Self {
        AttributeType::KNOWN
            .iter()
            .find(|t| t.as_str() == name)
            .cloned()
            .unwrap_or_else(|| AttributeType::Other(name.to_owned()))
    }

    /// Whether the create-attribute endpoint accepts this type on an object (`status`,
    /// `interaction` and `personal-name` cannot be created there).
    pub fn creatable_on_object(&self) -> bool {
        !matches!(
            self,
            AttributeType::Status
                | AttributeType::Interaction
                | AttributeType::PersonalName
                | AttributeType::Other(_)
        )
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AttributeType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AttributeType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(AttributeType::parse(&name))
    }
}

/// Which way a field syncs. New: the original synced every field both ways, which let anyone
/// who can edit a CRM record change a login email and mark it verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Only auth -> Attio (`auth-to-attio`): Attio shows it, edits in Attio are ignored.
    AuthToAttio,
    /// Only Attio -> auth (`attio-to-auth`): CRM-owned data.
    AttioToAuth,
    /// Both ways (`both`).
    Both,
}

impl Direction {
    /// Whether the backend writes this field to Attio.
    pub fn writes_to_attio(self) -> bool {
        matches!(self, Direction::AuthToAttio | Direction::Both)
    }

    /// Whether the plugin applies this field from Attio to the auth database.
    pub fn writes_to_auth(self) -> bool {
        matches!(self, Direction::AttioToAuth | Direction::Both)
    }
}

/// Attribute slugs that hold identity or security state. Without an explicit direction they
/// sync auth -> Attio only (see [`FieldSchema::direction_for`]).
pub const PROTECTED_SLUGS: &[&str] = &[
    "user_id",
    "workspace_id",
    "primary_email_address",
    "email",
    "email_verified",
    "role",
    "banned",
    "ban_reason",
    "ban_expires",
    "password",
];

/// One attribute of an adapter schema: the original's `AttioFieldSchema`
/// (`src/adapters/types.ts`) plus an optional `direction`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSchema {
    /// The Attio attribute type.
    #[serde(rename = "type")]
    pub attribute_type: AttributeType,
    /// Title shown in Attio; defaults to the slug in title case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description shown in Attio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether Attio requires a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_required: Option<bool>,
    /// Whether values are unique (a unique attribute can match records in an assert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_unique: Option<bool>,
    /// Whether the attribute holds several values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_multiselect: Option<bool>,
    /// Type-specific configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<FieldConfig>,
    /// Which way the field syncs; see [`FieldSchema::direction_for`] for the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
}

/// `config` of a field schema, flat as the original has it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FieldConfig {
    /// record-reference: the objects a value may point at (slugs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_objects: Option<Vec<String>>,
    /// currency: default currency code (`USD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_currency_code: Option<String>,
    /// currency: `code`, `name`, `narrowSymbol` or `symbol`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_type: Option<String>,
    /// select: the option titles the attribute is created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
}

impl FieldSchema {
    /// A field of `attribute_type` with a title and description, neither unique nor required.
    pub fn new(attribute_type: AttributeType, title: &str, description: &str) -> Self {
        FieldSchema {
            attribute_type,
            title: Some(title.to_owned()),
            description: Some(description.to_owned()),
            is_required: None,
            is_unique: None,
            is_multiselect: None,
            config: None,
            direction: None,
        }
    }

    /// Mark unique.
    pub fn unique(mut self) -> Self {
        self.is_unique = Some(true);
        self
    }

    /// Mark required.
    pub fn required(mut self) -> Self {
        self.is_required = Some(true);
        self
    }

    /// Set the sync direction.
    pub fn with_direction(mut self, direction: Direction) -> Self {
        self.direction = Some(direction);
        self
    }

    /// The direction of the field named `slug`: the explicit one, else auth -> Attio for
    /// unique attributes and [`PROTECTED_SLUGS`] (identity and security), else both.
    pub fn direction_for(&self, slug: &str) -> Direction {
        match self.direction {
            Some(d) => d,
            None if self.is_unique == Some(true) || PROTECTED_SLUGS.contains(&slug) => {
                Direction::AuthToAttio
            }
            None => Direction::Both,
        }
    }

    /// The one object a record-reference may point at, when exactly one is allowed.
    pub fn single_allowed_object(&self) -> Option<&str> {
        match self.config.as_ref()?.allowed_objects.as_deref()? {
            [one] => Some(one.as_str()),
            _ => None,
        }
    }

    /// The body of Attio's create-attribute call
    /// (`POST /v2/objects/{object}/attributes`, `NOTES.md` §1.3) for this field under `slug`:
    /// every required key present, `config` nested the way Attio wants it.
    pub fn create_attribute_body(&self, slug: &str) -> Value {
        let title = self.title.clone().unwrap_or_else(|| title_case(slug));
        let mut config = Map::new();
        if let Some(c) = &self.config {
            if self.attribute_type == AttributeType::RecordReference {
                let mut rr = Map::new();
                rr.insert(
                    "allowed_objects".into(),
                    Value::Array(
                        c.allowed_objects
                            .iter()
                            .flatten()
                            .map(|o| Value::String(o.clone()))
                            .collect(),
                    ),
                );
                config.insert("record_reference".into(), Value::Object(rr));
            }
            if self.attribute_type == AttributeType::Currency {
                let mut cur = Map::new();
                cur.insert(
                    "default_currency_code".into(),
                    c.default_currency_code
                        .clone()
                        .map_or(Value::Null, Value::String),
                );
                cur.insert(
                    "display_type".into(),
                    c.display_type.clone().map_or(Value::Null, Value::String),
                );
                config.insert("currency".into(), Value::Object(cur));
            }
        }
        let mut data = Map::new();
        data.insert("title".into(), Value::String(title));
        data.insert(
            "description".into(),
            self.description.clone().map_or(Value::Null, Value::String),
        );
        data.insert("api_slug".into(), Value::String(slug.to_owned()));
        data.insert(
            "type".into(),
            Value::String(self.attribute_type.as_str().to_owned()),
        );
        data.insert(
            "is_required".into(),
            Value::Bool(self.is_required.unwrap_or(false)),
        );
        data.insert(
            "is_unique".into(),
            Value::Bool(self.is_unique.unwrap_or(false)),
        );
        data.insert(
            "is_multiselect".into(),
            Value::Bool(self.is_multiselect.unwrap_or(false)),
        );
        data.insert("config".into(), Value::Object(config));
        let mut body = Map::new();
        body.insert("data".into(), Value::Object(data));
        Value::Object(body)
    }
}

/// `email_verified` -> `Email Verified`, as the original Attio app titles attributes.
pub fn title_case(slug: &str) -> String {
    slug.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
