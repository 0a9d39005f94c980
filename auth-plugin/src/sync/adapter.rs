//! Model adapters: how a Better Auth model (`user`, `organization`, or any model of the
//! host's) maps to an Attio object, field by field, and in which direction each field may
//! flow. The defaults reproduce the original plugin's `users` and `workspaces` objects, so
//! an Attio workspace set up by the TypeScript plugin keeps working.
//!
//! Security: identity and security fields (email, emailVerified, role, ban state, password)
//! are never written from Attio unless the adapter explicitly allows it for that field. In
//! the original, anyone who could edit a CRM record could change a login email and mark it
//! verified, which is an account takeover.

use attio_auth_shared::sync::AttioSchema;

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

pub use attio_auth_shared::sync::{AttributeType, Direction, FieldConfig, FieldSchema};

/// A multi-valued record-reference schema pointing at `object`.
pub fn references_schema(title: &str, description: &str, object: &str) -> FieldSchema {
    let mut s = FieldSchema::new(AttributeType::RecordReference, title, description);
    s.is_multiselect = Some(true);
    s.config = Some(FieldConfig {
        allowed_objects: Some(vec![object.to_owned()]),
        ..FieldConfig::default()
    });
    s
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
    pub schema: FieldSchema,
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
        schema: FieldSchema,
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
        schema: FieldSchema,
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
        if !self.direction.writes_to_auth() {
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
        id_schema: FieldSchema,
    ) -> Self {
        let id_attribute = id_attribute.into();
        Self {
            better_auth_model: better_auth_model.into(),
            attio_object: attio_object.into(),
            fields: vec![
                FieldMapping::column(id_attribute.clone(), "id", id_schema)
                    .direction(Direction::AuthToAttio),
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
            FieldSchema::new(AttributeType::Text, "User ID", "Better Auth user ID")
                .unique()
                .required(),
        );
        a.fields.push(FieldMapping::column(
            "primary_email_address",
            "email",
            FieldSchema::new(
                AttributeType::EmailAddress,
                "Primary Email",
                "User's primary email address",
            )
            .unique()
            .required(),
        ));
        a.fields.push(FieldMapping::column(
            "name",
            "name",
            FieldSchema::new(AttributeType::Text, "Name", "User's display name"),
        ));
        a.fields.push(FieldMapping::column(
            "email_verified",
            "emailVerified",
            FieldSchema::new(
                AttributeType::Checkbox,
                "Email Verified",
                "Whether the user's email has been verified",
            ),
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
            FieldSchema::new(
                AttributeType::Text,
                "Workspace ID",
                "Better Auth organization ID",
            )
            .unique()
            .required(),
        );
        a.fields.push(FieldMapping::column(
            "name",
            "name",
            FieldSchema::new(AttributeType::Text, "Name", "Organization name").required(),
        ));
        a.fields.push(FieldMapping::column(
            "slug",
            "slug",
            FieldSchema::new(
                AttributeType::Text,
                "Slug",
                "URL-friendly organization identifier",
            )
            .unique(),
        ));
        a.fields.push(FieldMapping::column(
            "avatar_url",
            "logo",
            FieldSchema::new(
                AttributeType::Text,
                "Avatar URL",
                "Organization logo/avatar image URL",
            ),
        ));
        let users = references_schema(
            "Users",
            "Users who are members of this organization",
            "users",
        );
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
    pub fn attio_schema(&self) -> AttioSchema {
        self.fields
            .iter()
            .filter(|f| f.direction.writes_to_attio())
            .map(|f| (f.attribute.clone(), f.schema.clone()))
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
    use serde_json::{Value, json};

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
        let ours = serde_json::to_value(ModelAdapter::user().attio_schema()).unwrap();
        assert_eq!(ours, sink_schema("user"));
    }

    #[test]
    fn default_organization_schema_is_the_originals() {
        let ours = serde_json::to_value(ModelAdapter::organization().attio_schema()).unwrap();
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
            .direction(Direction::AuthToAttio);
        assert!(!to_attio_only.writable_from_attio());
    }

    #[test]
    fn custom_fields_and_models() {
        let user = ModelAdapter::user().with_field(
            FieldMapping::column(
                "plan",
                "plan",
                FieldSchema::new(AttributeType::Text, "Plan", "Billing plan"),
            )
            .direction(Direction::AttioToAuth),
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
            FieldSchema::new(AttributeType::Text, "Project ID", "Project").unique(),
        ));
        assert_eq!(
            adapters.for_object("projects").unwrap().better_auth_model,
            "project"
        );
        assert!(adapters.for_model("user").unwrap().field("plan").is_some());
        assert_eq!(
            serde_json::to_value(adapters.for_object("projects").unwrap().attio_schema()).unwrap(),
            json!({"project_id": {"type": "text", "title": "Project ID", "description": "Project", "is_unique": true}})
        );
    }
}
