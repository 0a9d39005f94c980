//! Model adapters: how a Better Auth model (`user`, `organization`, or any model of the
//! host's) maps to an Attio object, field by field, and in which direction each field may
//! flow. The defaults reproduce the original plugin's `users` and `workspaces` objects, so
//! an Attio workspace set up by the TypeScript plugin keeps working.
//!
//! Security: identity and security fields (email, emailVerified, role, ban state, password)
//! are never written from Attio unless the adapter explicitly allows it for that field. In
//! the original, anyone who could edit a CRM record could change a login email and mark it
//! verified, which is an account takeover.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Auth fields that are never written from Attio unless an adapter field says
/// [`FieldMapping::allow_identity_write`]. Matched on the Better Auth field name, in both
/// camelCase and snake_case spellings.
pub const PROTECTED_FIELDS: &[&str] = &[
    "id",
    "email",
    "emailVerified",
    "email_verified",
    "role",
    "banned",
    "banReason",
    "ban_reason",
    "banExpires",
    "ban_expires",
    "password",
    "attioId",
    "attio_id",
];

/// Whether a Better Auth field is an identity or security field (see [`PROTECTED_FIELDS`]).
pub fn is_protected_field(auth_field: &str) -> bool {
    PROTECTED_FIELDS.contains(&auth_field)
}

/// Which way a field flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Auth server -> Attio only: Attio edits to it are ignored.
    ToAttio,
    /// Attio -> auth server only: never sent in events.
    FromAttio,
    /// Both ways.
    Both,
}

impl Direction {
    /// Whether the field is sent to Attio in events.
    pub fn to_attio(self) -> bool {
        matches!(self, Self::ToAttio | Self::Both)
    }
    /// Whether an Attio value may be written to the auth database (subject to protection).
    pub fn from_attio(self) -> bool {
        matches!(self, Self::FromAttio | Self::Both)
    }
}

/// Attio attribute types (the `type` of an attribute in Attio's API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttributeType {
    /// Free text.
    Text,
    /// A number.
    Number,
    /// A boolean.
    Checkbox,
    /// A money amount.
    Currency,
    /// A calendar date (`YYYY-MM-DD`).
    Date,
    /// An instant (ISO-8601).
    Timestamp,
    /// 0..5 stars.
    Rating,
    /// A status of a pipeline.
    Status,
    /// One (or several) options.
    Select,
    /// Reference(s) to other records.
    RecordReference,
    /// Reference to a workspace member or other actor.
    ActorReference,
    /// An address.
    Location,
    /// A web domain.
    Domain,
    /// An email address.
    EmailAddress,
    /// A phone number.
    PhoneNumber,
    /// A person's name.
    PersonalName,
}

/// Extra configuration of an attribute (record references, currency).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttributeConfig {
    /// Objects a record-reference attribute may point to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_objects: Option<Vec<String>>,
    /// Currency code of a currency attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_currency_code: Option<String>,
}

/// The schema of one Attio attribute, as sent in `adapter.attioSchema` so that the backend
/// can create missing attributes. Shape and field names are the original's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeSchema {
    /// Attio attribute type.
    #[serde(rename = "type")]
    pub kind: AttributeType,
    /// Title shown in Attio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description shown in Attio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Unique across records (usable for assert/upsert).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_unique: bool,
    /// Required on every record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_required: bool,
    /// Holds several values.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_multiselect: bool,
    /// Type-specific configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<AttributeConfig>,
}

impl AttributeSchema {
    /// A schema of the given type and title.
    pub fn new(kind: AttributeType, title: impl Into<String>) -> Self {
        Self {
            kind,
            title: Some(title.into()),
            description: None,
            is_unique: false,
            is_required: false,
            is_multiselect: false,
            config: None,
        }
    }
    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
    /// Marks the attribute unique.
    pub fn unique(mut self) -> Self {
        self.is_unique = true;
        self
    }
    /// Marks the attribute required.
    pub fn required(mut self) -> Self {
        self.is_required = true;
        self
    }
    /// Marks the attribute multi-valued.
    pub fn multiselect(mut self) -> Self {
        self.is_multiselect = true;
        self
    }
    /// A multi-valued record reference to `object`.
    pub fn references(title: impl Into<String>, object: impl Into<String>) -> Self {
        let mut s = Self::new(AttributeType::RecordReference, title).multiselect();
        s.config = Some(AttributeConfig {
            allowed_objects: Some(vec![object.into()]),
            default_currency_code: None,
        });
        s
    }
}

/// Where a field's auth-side value lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSource {
    /// A column of the model's row (Better Auth field name, e.g. `emailVerified`).
    Column(String),
    /// A list of Attio record ids of related records, which the store resolves: outbound,
    /// the row map carries them under this key (e.g. `memberAttioIds`, the users' `attioId`s
    /// of an organization's members); inbound, the plan lists the referenced record ids
    /// under this key and the store maps them to its own rows (e.g. members).
    References {
        /// Key in the row map and in [`crate::sync::InboundPlan`]'s references.
        key: String,
        /// The Attio object the references point to.
        target_object: String,
    },
}

/// One field of an adapter: an auth field, an Attio attribute, its schema and direction.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMapping {
    /// The Attio attribute slug.
    pub attribute: String,
    /// The auth-side source.
    pub source: FieldSource,
    /// The attribute's schema (sent in events).
    pub schema: AttributeSchema,
    /// Which way values flow.
    pub direction: Direction,
    /// Lets Attio write this field even though it is an identity/security field.
    /// Off by default; turn it on only when CRM editors are trusted with logins.
    pub allow_identity_write: bool,
}

impl FieldMapping {
    /// A column field, flowing both ways.
    pub fn column(
        attribute: impl Into<String>,
        auth_field: impl Into<String>,
        schema: AttributeSchema,
    ) -> Self {
        Self {
            attribute: attribute.into(),
            source: FieldSource::Column(auth_field.into()),
            schema,
            direction: Direction::Both,
            allow_identity_write: false,
        }
    }
    /// A reference field, flowing both ways.
    pub fn references(
        attribute: impl Into<String>,
        key: impl Into<String>,
        target_object: impl Into<String>,
        schema: AttributeSchema,
    ) -> Self {
        Self {
            attribute: attribute.into(),
            source: FieldSource::References {
                key: key.into(),
                target_object: target_object.into(),
            },
            schema,
            direction: Direction::Both,
            allow_identity_write: false,
        }
    }
    /// Sets the direction.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }
    /// Allows Attio to write this identity/security field (see [`PROTECTED_FIELDS`]).
    pub fn allow_identity_write(mut self) -> Self {
        self.allow_identity_write = true;
        self
    }
    /// The auth column name, when the field is a column.
    pub fn auth_field(&self) -> Option<&str> {
        match &self.source {
            FieldSource::Column(c) => Some(c),
            FieldSource::References { .. } => None,
        }
    }
    /// Whether an Attio value of this field may be written to the auth database.
    pub fn writable_from_attio(&self) -> bool {
        if !self.direction.from_attio() {
            return false;
        }
        match self.auth_field() {
            Some(f) if is_protected_field(f) => self.allow_identity_write && f != "id",
            _ => true,
        }
    }
}

/// What to do when Attio sends an update for a record the auth server does not know
/// (the original's `onMissing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnMissing {
    /// Create the auth row (the original's default for users and workspaces).
    #[default]
    Create,
    /// Ignore the event.
    Ignore,
}

/// Maps one Better Auth model to one Attio object.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelAdapter {
    /// Better Auth model name (`user`, `organization`, ...).
    pub better_auth_model: String,
    /// Attio object slug (`users`, `workspaces`, ...).
    pub attio_object: String,
    /// The Attio attribute holding the auth row's id (`user_id`, `workspace_id`): sent in
    /// every event, used to find the row, never written from Attio.
    pub id_attribute: String,
    /// The fields.
    pub fields: Vec<FieldMapping>,
    /// What an update for an unknown record does.
    pub on_missing: OnMissing,
    /// Whether Attio deletions delete the auth row (the original's `syncDeletions`).
    pub sync_deletions: bool,
    /// Fields a row created from Attio must have (auth field names); an Attio record
    /// lacking one is ignored (the original skipped a user without email).
    pub required_on_create: Vec<String>,
}

impl ModelAdapter {
    /// An adapter without fields besides the id attribute.
    pub fn new(
        better_auth_model: impl Into<String>,
        attio_object: impl Into<String>,
        id_attribute: impl Into<String>,
        id_schema: AttributeSchema,
    ) -> Self {
        let id_attribute = id_attribute.into();
        Self {
            better_auth_model: better_auth_model.into(),
            attio_object: attio_object.into(),
            fields: vec![
                FieldMapping::column(id_attribute.clone(), "id", id_schema)
                    .direction(Direction::ToAttio),
            ],
            id_attribute,
            on_missing: OnMissing::Create,
            sync_deletions: true,
            required_on_create: Vec::new(),
        }
    }

    /// The default `user` -> `users` adapter (the original's attributes).
    pub fn user() -> Self {
        let mut a = Self::new(
            "user",
            "users",
            "user_id",
            AttributeSchema::new(AttributeType::Text, "User ID")
                .description("Better Auth user ID")
                .unique()
                .required(),
        );
        a.fields.push(FieldMapping::column(
            "primary_email_address",
            "email",
            AttributeSchema::new(AttributeType::EmailAddress, "Primary Email")
                .description("User's primary email address")
                .unique()
                .required(),
        ));
        a.fields.push(FieldMapping::column(
            "name",
            "name",
            AttributeSchema::new(AttributeType::Text, "Name").description("User's display name"),
        ));
        a.fields.push(FieldMapping::column(
            "email_verified",
            "emailVerified",
            AttributeSchema::new(AttributeType::Checkbox, "Email Verified")
                .description("Whether the user's email has been verified"),
        ));
        a.required_on_create = vec!["email".into()];
        a
    }

    /// The default `organization` -> `workspaces` adapter (the original's attributes);
    /// `users` are the members, read from the row's `memberAttioIds`.
    pub fn organization() -> Self {
        let mut a = Self::new(
            "organization",
            "workspaces",
            "workspace_id",
            AttributeSchema::new(AttributeType::Text, "Workspace ID")
                .description("Better Auth organization ID")
                .unique()
                .required(),
        );
        a.fields.push(FieldMapping::column(
            "name",
            "name",
            AttributeSchema::new(AttributeType::Text, "Name")
                .description("Organization name")
                .required(),
        ));
        a.fields.push(FieldMapping::column(
            "slug",
            "slug",
            AttributeSchema::new(AttributeType::Text, "Slug")
                .description("URL-friendly organization identifier")
                .unique(),
        ));
        a.fields.push(FieldMapping::column(
            "avatar_url",
            "logo",
            AttributeSchema::new(AttributeType::Text, "Avatar URL")
                .description("Organization logo/avatar image URL"),
        ));
        let users = AttributeSchema::references("Users", "users")
            .description("Users who are members of this organization");
        a.fields.push(FieldMapping::references(
            "users",
            MEMBER_ATTIO_IDS,
            "users",
            users,
        ));
        a.required_on_create = vec!["name".into()];
        a
    }

    /// Adds (or replaces, by attribute slug) a field.
    pub fn with_field(mut self, field: FieldMapping) -> Self {
        self.fields.retain(|f| f.attribute != field.attribute);
        self.fields.push(field);
        self
    }

    /// Sets `onMissing`.
    pub fn on_missing(mut self, on_missing: OnMissing) -> Self {
        self.on_missing = on_missing;
        self
    }

    /// Sets `syncDeletions`.
    pub fn sync_deletions(mut self, sync_deletions: bool) -> Self {
        self.sync_deletions = sync_deletions;
        self
    }

    /// The field mapped to an Attio attribute.
    pub fn field(&self, attribute: &str) -> Option<&FieldMapping> {
        self.fields.iter().find(|f| f.attribute == attribute)
    }

    /// `adapter.attioSchema` of the events: every field sent to Attio.
    pub fn attio_schema(&self) -> Map<String, Value> {
        self.fields
            .iter()
            .filter(|f| f.direction.to_attio())
            .filter_map(|f| {
                serde_json::to_value(&f.schema)
                    .ok()
                    .map(|v| (f.attribute.clone(), v))
            })
            .collect()
    }
}

/// Row-map key under which the store passes an organization's members' Attio record ids
/// (users' `attioId`s) to the default organization adapter.
pub const MEMBER_ATTIO_IDS: &str = "memberAttioIds";

/// The set of adapters the plugin uses: by Better Auth model and by Attio object.
#[derive(Debug, Clone, PartialEq)]
pub struct Adapters {
    adapters: Vec<ModelAdapter>,
}

impl Default for Adapters {
    /// The original's defaults: `user` -> `users`, `organization` -> `workspaces`.
    fn default() -> Self {
        Self {
            adapters: vec![ModelAdapter::user(), ModelAdapter::organization()],
        }
    }
}

impl Adapters {
    /// No adapters: nothing is synced.
    pub fn empty() -> Self {
        Self {
            adapters: Vec::new(),
        }
    }
    /// Adds an adapter, replacing one for the same Better Auth model.
    pub fn with(mut self, adapter: ModelAdapter) -> Self {
        self.adapters
            .retain(|a| a.better_auth_model != adapter.better_auth_model);
        self.adapters.push(adapter);
        self
    }
    /// The adapter of a Better Auth model.
    pub fn for_model(&self, model: &str) -> Option<&ModelAdapter> {
        self.adapters.iter().find(|a| a.better_auth_model == model)
    }
    /// The adapter of an Attio object.
    pub fn for_object(&self, object: &str) -> Option<&ModelAdapter> {
        self.adapters.iter().find(|a| a.attio_object == object)
    }
    /// Every adapter.
    pub fn iter(&self) -> impl Iterator<Item = &ModelAdapter> {
        self.adapters.iter()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn sink_schema(model: &str) -> Value {
        let text = include_str!("testdata/sink-events.json");
        let events: Value = serde_json::from_str(text).unwrap();
        events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["adapter"])
            .find(|a| a["betterAuthModel"] == model)
            .unwrap()["attioSchema"]
            .clone()
    }

    #[test]
    fn default_user_schema_is_the_originals() {
        let ours = Value::Object(ModelAdapter::user().attio_schema());
        assert_eq!(ours, sink_schema("user"));
    }

    #[test]
    fn default_organization_schema_is_the_originals() {
        let ours = Value::Object(ModelAdapter::organization().attio_schema());
        assert_eq!(ours, sink_schema("organization"));
    }

    #[test]
    fn identity_fields_are_not_writable_from_attio_by_default() {
        let user = ModelAdapter::user();
        assert!(
            !user
                .field("primary_email_address")
                .unwrap()
                .writable_from_attio()
        );
        assert!(!user.field("email_verified").unwrap().writable_from_attio());
        assert!(!user.field("user_id").unwrap().writable_from_attio());
        assert!(user.field("name").unwrap().writable_from_attio());
        let allowed = user
            .field("email_verified")
            .unwrap()
            .clone()
            .allow_identity_write();
        assert!(allowed.writable_from_attio());
        let to_attio_only = user
            .field("name")
            .unwrap()
            .clone()
            .direction(Direction::ToAttio);
        assert!(!to_attio_only.writable_from_attio());
    }

    #[test]
    fn custom_fields_and_models() {
        let user = ModelAdapter::user().with_field(
            FieldMapping::column(
                "plan",
                "plan",
                AttributeSchema::new(AttributeType::Text, "Plan"),
            )
            .direction(Direction::FromAttio),
        );
        let schema = user.attio_schema();
        assert!(
            !schema.contains_key("plan"),
            "from-Attio fields are not sent"
        );
        let adapters = Adapters::default().with(user).with(ModelAdapter::new(
            "project",
            "projects",
            "project_id",
            AttributeSchema::new(AttributeType::Text, "Project ID").unique(),
        ));
        assert_eq!(
            adapters.for_object("projects").unwrap().better_auth_model,
            "project"
        );
        assert!(adapters.for_model("user").unwrap().field("plan").is_some());
        assert_eq!(
            serde_json::to_value(adapters.for_object("projects").unwrap().attio_schema()).unwrap(),
            json!({"project_id": {"type": "text", "title": "Project ID", "is_unique": true}})
        );
    }
}
