//! What an Attio record event does to the in-memory rows: the adapter plans it (create,
//! update, delete) against the row it finds, and the plan is applied here, members of an
//! organization reconciled with the Attio references. Also the row maps the adapters read.

use serde_json::{Map, Value};

use super::Data;
use crate::store::{InboundOutcome, Member, Organization, StoreError, StoreResult, User};
use crate::sync::adapter::MEMBER_ATTIO_IDS;
use crate::sync::{InboundPlan, ModelAdapter, RecordEvent};

fn user_row(u: &User) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), Value::from(u.id.clone()));
    m.insert("name".into(), Value::from(u.name.clone()));
    m.insert("email".into(), Value::from(u.email.clone()));
    m.insert("emailVerified".into(), Value::from(u.email_verified));
    m.insert(
        "image".into(),
        u.image.clone().map_or(Value::Null, Value::from),
    );
    m.insert(
        "role".into(),
        u.role.clone().map_or(Value::Null, Value::from),
    );
    m.insert(
        "attioId".into(),
        u.attio_id.clone().map_or(Value::Null, Value::from),
    );
    m.insert("createdAt".into(), Value::from(u.created_at.clone()));
    m.insert("updatedAt".into(), Value::from(u.updated_at.clone()));
    m
}

fn org_row(d: &Data, o: &Organization) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), Value::from(o.id.clone()));
    m.insert("name".into(), Value::from(o.name.clone()));
    m.insert("slug".into(), Value::from(o.slug.clone()));
    m.insert(
        "logo".into(),
        o.logo.clone().map_or(Value::Null, Value::from),
    );
    m.insert(
        "attioId".into(),
        o.attio_id.clone().map_or(Value::Null, Value::from),
    );
    m.insert("createdAt".into(), Value::from(o.created_at.clone()));
    m.insert(
        MEMBER_ATTIO_IDS.into(),
        Value::Array(
            member_attio_ids(d, &o.id)
                .into_iter()
                .map(Value::from)
                .collect(),
        ),
    );
    m
}

fn member_attio_ids(d: &Data, org_id: &str) -> Vec<String> {
    let mut ids: Vec<String> = d
        .members
        .iter()
        .filter(|m| m.organization_id == org_id)
        .filter_map(|m| d.users.get(&m.user_id)?.attio_id.clone())
        .collect();
    ids.sort();
    ids
}

fn text(fields: &Map<String, Value>, key: &str) -> Option<String> {
    fields.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn apply_user_fields(u: &mut User, fields: &Map<String, Value>) {
    for (k, v) in fields {
        match (k.as_str(), v) {
            ("name", Value::String(s)) => u.name = s.clone(),
            ("email", Value::String(s)) => u.email = s.trim().to_lowercase(),
            ("emailVerified", Value::Bool(b)) => u.email_verified = *b,
            ("image", v) => u.image = v.as_str().map(str::to_owned),
            ("role", v) => u.role = v.as_str().map(str::to_owned),
            ("attioId", v) => u.attio_id = v.as_str().map(str::to_owned),
            _ => {}
        }
    }
}

fn apply_org_fields(o: &mut Organization, fields: &Map<String, Value>) {
    for (k, v) in fields {
        match (k.as_str(), v) {
            ("name", Value::String(s)) => o.name = s.clone(),
            ("slug", Value::String(s)) => o.slug = s.clone(),
            ("logo", v) => o.logo = v.as_str().map(str::to_owned),
            ("attioId", v) => o.attio_id = v.as_str().map(str::to_owned),
            _ => {}
        }
    }
}

impl Data {
    /// Applies one Attio record event to a `user` or `organization` row (`admin`: the store
    /// has the admin feature, so new users get a role and a ban flag).
    pub(super) fn apply_inbound(
        &mut self,
        event: &RecordEvent,
        adapter: &ModelAdapter,
        admin: bool,
    ) -> StoreResult<InboundOutcome> {
        let model = adapter.better_auth_model.as_str();
        let stored = adapter
            .lookup_keys(event)
            .iter()
            .find_map(|(k, v)| self.find_row(model, k, v));
        let now = crate::time::now_iso();
        Ok(match adapter.plan_inbound(event, stored.as_ref()) {
            InboundPlan::Create { fields, references } => {
                let id = crate::ids::new_id();
                if model == "user" {
                    let email = text(&fields, "email").unwrap_or_default().to_lowercase();
                    if self.email_taken(&email, "")
                        || self.attio_taken(text(&fields, "attioId").as_deref(), "")
                    {
                        return Err(StoreError::Conflict("user".to_owned()));
                    }
                    let mut u = User {
                        id: id.clone(),
                        name: String::new(),
                        email,
                        email_verified: false,
                        image: None,
                        created_at: now.clone(),
                        updated_at: now,
                        role: admin.then(|| "user".to_owned()),
                        banned: admin.then_some(false),
                        ban_reason: None,
                        ban_expires: None,
                        attio_id: None,
                    };
                    apply_user_fields(&mut u, &fields);
                    self.users.insert(id.clone(), u);
                } else {
                    let name = text(&fields, "name").unwrap_or_default();
                    let mut o = Organization {
                        id: id.clone(),
                        slug: crate::sync::inbound::slugify(&name),
                        name,
                        logo: None,
                        created_at: now,
                        metadata: None,
                        attio_id: None,
                    };
                    apply_org_fields(&mut o, &fields);
                    if self.organizations.values().any(|x| x.slug == o.slug) {
                        return Err(StoreError::Conflict("organization slug".to_owned()));
                    }
                    self.organizations.insert(id.clone(), o);
                    self.reconcile_members(&id, &references);
                }
                InboundOutcome::Created(id)
            }
            InboundPlan::Update {
                id,
                fields,
                references,
            } => {
                if model == "user" {
                    if let Some(email) = text(&fields, "email")
                        && self.email_taken(&email, &id)
                    {
                        return Err(StoreError::Conflict("user email".to_owned()));
                    }
                    if let Some(u) = self.users.get_mut(&id) {
                        apply_user_fields(u, &fields);
                        u.updated_at = now;
                    }
                } else {
                    if let Some(o) = self.organizations.get_mut(&id) {
                        apply_org_fields(o, &fields);
                    }
                    self.reconcile_members(&id, &references);
                }
                InboundOutcome::Updated(id)
            }
            InboundPlan::Delete { id } => {
                if model == "user" {
                    self.users.remove(&id);
                    self.sessions.retain(|s| s.user_id != id);
                    self.members.retain(|m| m.user_id != id);
                } else {
                    self.organizations.remove(&id);
                    self.members.retain(|m| m.organization_id != id);
                    self.invitations.retain(|i| i.organization_id != id);
                }
                InboundOutcome::Deleted(id)
            }
            InboundPlan::NoChange { id } => InboundOutcome::Unchanged(id),
            InboundPlan::Ignore { reason } => InboundOutcome::Ignored(reason),
            InboundPlan::Reject { reason } => return Err(StoreError::Rejected(reason)),
        })
    }

    fn find_row(&self, model: &str, key: &str, value: &Value) -> Option<Map<String, Value>> {
        let want = value.as_str()?;
        match model {
            "user" => self
                .users
                .values()
                .find(|u| match key {
                    "id" => u.id == want,
                    "email" => u.email.eq_ignore_ascii_case(want),
                    "attioId" => u.attio_id.as_deref() == Some(want),
                    _ => false,
                })
                .map(user_row),
            "organization" => self
                .organizations
                .values()
                .find(|o| match key {
                    "id" => o.id == want,
                    "slug" => o.slug == want,
                    "attioId" => o.attio_id.as_deref() == Some(want),
                    _ => false,
                })
                .map(|o| org_row(self, o)),
            _ => None,
        }
    }

    fn reconcile_members(&mut self, org_id: &str, references: &Map<String, Value>) {
        let Some(wanted) = references.get(MEMBER_ATTIO_IDS).and_then(Value::as_array) else {
            return;
        };
        let wanted: Vec<String> = wanted
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        let current = member_attio_ids(self, org_id);
        let (add, remove) = crate::sync::inbound::reconcile(&current, &wanted);
        let now = crate::time::now_iso();
        for attio_id in add {
            if let Some(user) = self
                .users
                .values()
                .find(|u| u.attio_id.as_deref() == Some(attio_id))
            {
                self.members.push(Member {
                    id: crate::ids::new_id(),
                    organization_id: org_id.to_owned(),
                    user_id: user.id.clone(),
                    role: "member".to_owned(),
                    created_at: now.clone(),
                });
            }
        }
        for attio_id in remove {
            let users = &self.users;
            self.members.retain(|m| {
                m.organization_id != org_id
                    || m.role.contains("owner")
                    || users.get(&m.user_id).and_then(|u| u.attio_id.as_deref()) != Some(attio_id)
            });
        }
    }
}
