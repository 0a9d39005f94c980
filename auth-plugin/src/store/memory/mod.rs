//! [`MemoryStore`]: a complete [`AuthStore`] in process memory, for tests, demos, and as the
//! reference for writing a store over another database. It has no sync outbox, so it
//! refuses a [`Report`] ([`AuthStore::supports_sync`] is false and the plugin's builder
//! refuses `.sync()` with it) rather than dropping events.
//!
//! The `impl AuthStore` is here whole, as the reference; what an Attio record event does to
//! the rows is in `inbound`.

mod inbound;

use super::{
    AuthStore, BanUpdate, InboundOutcome, InvitationRow, Link, Member, NewOrganization, NewSession,
    NewUser, Organization, Report, Session, SessionRef, StoreError, StoreFeatures, StoreResult,
    StoredResponse, User,
};
use crate::sync::{EventKind, ModelAdapter, RecordEvent};
use async_trait::async_trait;
use attio_auth_shared::signing::ReplayStatus;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Clone)]
struct Verification {
    identifier: String,
    value: String,
    expires_at: String,
}

#[derive(Debug, Clone)]
struct Replay {
    hash: String,
    response: Option<StoredResponse>,
    expires_at: i64,
}

#[derive(Debug, Default)]
struct Data {
    users: BTreeMap<String, User>,
    sessions: Vec<Session>,
    verifications: Vec<Verification>,
    organizations: BTreeMap<String, Organization>,
    members: Vec<Member>,
    invitations: Vec<InvitationRow>,
    links: Vec<Link>,
    replay: HashMap<String, Replay>,
}

/// An [`AuthStore`] in memory (everything is lost when it is dropped).
#[derive(Debug)]
pub struct MemoryStore {
    features: StoreFeatures,
    data: Mutex<Data>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store with the admin and organization features.
    pub fn new() -> Self {
        Self::with_features(StoreFeatures {
            admin: true,
            organizations: true,
        })
    }

    /// An empty store with the given features (to try the plugin's 501 answers).
    pub fn with_features(features: StoreFeatures) -> Self {
        Self {
            features,
            data: Mutex::new(Data::default()),
        }
    }

    /// A poisoned lock only means another thread panicked mid-update of plain maps; carry
    /// on with them rather than panic too.
    fn data(&self) -> MutexGuard<'_, Data> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn no_sync(report: Option<Report<'_>>) -> StoreResult<()> {
    match report {
        None => Ok(()),
        Some(_) => Err(StoreError::Rejected(
            "MemoryStore has no sync outbox: configure sync only with a store that has one"
                .to_owned(),
        )),
    }
}

fn is_live(expires_at: &str, now: &str) -> bool {
    match (
        crate::time::parse_iso(expires_at),
        crate::time::parse_iso(now),
    ) {
        (Some(e), Some(n)) => e > n,
        _ => false,
    }
}

impl Data {
    fn email_taken(&self, email: &str, except: &str) -> bool {
        self.users
            .values()
            .any(|u| u.id != except && u.email.eq_ignore_ascii_case(email))
    }

    fn attio_taken(&self, attio_id: Option<&str>, except: &str) -> bool {
        attio_id.is_some_and(|a| {
            self.users
                .values()
                .any(|u| u.id != except && u.attio_id.as_deref() == Some(a))
        })
    }
}

#[async_trait]
impl AuthStore for MemoryStore {
    fn features(&self) -> StoreFeatures {
        self.features
    }

    fn supports_sync(&self) -> bool {
        false
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        Ok(self.data().users.get(id).cloned())
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.trim();
        let data = self.data();
        // The exact address first (a database the original wrote may hold two cases).
        let exact = data.users.values().find(|u| u.email == email);
        Ok(exact
            .or_else(|| {
                data.users
                    .values()
                    .find(|u| u.email.eq_ignore_ascii_case(email))
            })
            .cloned())
    }

    async fn search_users(&self, text: &str, limit: u32) -> StoreResult<Vec<User>> {
        let needle = text.to_lowercase();
        let mut found: Vec<User> = self
            .data()
            .users
            .values()
            .filter(|u| u.email.to_lowercase().contains(&needle))
            .cloned()
            .collect();
        found.sort_by(|a, b| (&b.created_at, &b.id).cmp(&(&a.created_at, &a.id)));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn create_user(&self, u: NewUser, report: Option<Report<'_>>) -> StoreResult<User> {
        no_sync(report)?;
        let mut d = self.data();
        if d.users.contains_key(&u.id)
            || d.email_taken(&u.email, "")
            || d.attio_taken(u.attio_id.as_deref(), "")
        {
            return Err(StoreError::Conflict(
                "a user with this email or Attio record exists".to_owned(),
            ));
        }
        let admin = self.features.admin;
        let user = User {
            id: u.id.clone(),
            name: u.name,
            email: u.email,
            email_verified: u.email_verified,
            image: u.image,
            created_at: u.now.clone(),
            updated_at: u.now,
            role: if admin { u.role } else { None },
            banned: admin.then_some(false),
            ban_reason: None,
            ban_expires: None,
            attio_id: u.attio_id,
        };
        d.users.insert(u.id, user.clone());
        Ok(user)
    }

    async fn set_ban(
        &self,
        user_id: &str,
        ban: BanUpdate,
        report: Option<Report<'_>>,
    ) -> StoreResult<Option<User>> {
        no_sync(report)?;
        let mut d = self.data();
        let Some(u) = d.users.get_mut(user_id) else {
            return Ok(None);
        };
        u.banned = Some(ban.banned);
        (u.ban_reason, u.ban_expires) = if ban.banned {
            (ban.reason, ban.expires)
        } else {
            (None, None)
        };
        u.updated_at = ban.now;
        let user = u.clone();
        if ban.banned {
            d.sessions.retain(|s| s.user_id != user_id);
        }
        Ok(Some(user))
    }

    async fn lift_expired_ban(
        &self,
        user_id: &str,
        now: &str,
        report: Option<Report<'_>>,
    ) -> StoreResult<Option<User>> {
        no_sync(report)?;
        let mut d = self.data();
        let Some(u) = d.users.get_mut(user_id) else {
            return Ok(None);
        };
        let ran_out = u.banned == Some(true)
            && u.ban_expires
                .as_deref()
                .is_some_and(|e| !is_live(e, now) && crate::time::parse_iso(e).is_some());
        if !ran_out {
            return Ok(None);
        }
        u.banned = Some(false);
        u.ban_reason = None;
        u.ban_expires = None;
        u.updated_at = now.to_owned();
        Ok(Some(u.clone()))
    }

    async fn users_after(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        Ok(self
            .data()
            .users
            .values()
            .filter(|u| after.is_none_or(|a| u.id.as_str() > a))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn sessions(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        let d = self.data();
        let mut out: Vec<Session> = d
            .sessions
            .iter()
            .filter(|s| s.user_id == user_id)
            .cloned()
            .map(|mut s| {
                s.impersonator_name = s
                    .impersonated_by
                    .as_ref()
                    .and_then(|a| d.users.get(a))
                    .map(|a| a.name.clone());
                s
            })
            .collect();
        out.sort_by(|a, b| (&b.created_at, &b.id).cmp(&(&a.created_at, &a.id)));
        Ok(out)
    }

    async fn session_by_token(&self, token: &str) -> StoreResult<Option<Session>> {
        Ok(self
            .data()
            .sessions
            .iter()
            .find(|s| s.token == token)
            .cloned())
    }

    async fn create_session(&self, s: NewSession) -> StoreResult<()> {
        let mut d = self.data();
        if !d.users.contains_key(&s.user_id) {
            return Err(StoreError::NotFound("session user".to_owned()));
        }
        if d.sessions
            .iter()
            .any(|x| x.id == s.id || x.token == s.token)
        {
            return Err(StoreError::Conflict("session".to_owned()));
        }
        d.sessions.push(Session {
            id: s.id,
            token: s.token,
            user_id: s.user_id,
            expires_at: s.expires_at,
            created_at: s.now.clone(),
            updated_at: s.now,
            ip_address: s.ip_address,
            user_agent: s.user_agent,
            impersonated_by: s.impersonated_by,
            impersonator_name: None,
            active_organization_id: None,
        });
        Ok(())
    }

    async fn touch_session(
        &self,
        token: &str,
        ip_address: Option<&str>,
        user_agent: Option<&str>,
        now: &str,
    ) -> StoreResult<()> {
        if let Some(s) = self.data().sessions.iter_mut().find(|s| s.token == token) {
            if let Some(ip) = ip_address {
                s.ip_address = Some(ip.to_owned());
            }
            if let Some(ua) = user_agent {
                s.user_agent = Some(ua.to_owned());
            }
            s.updated_at = now.to_owned();
        }
        Ok(())
    }

    async fn delete_session(&self, which: SessionRef<'_>) -> StoreResult<bool> {
        let mut d = self.data();
        let before = d.sessions.len();
        d.sessions.retain(|s| match which {
            SessionRef::Id(id) => s.id != id,
            SessionRef::Token(t) => s.token != t,
        });
        Ok(d.sessions.len() < before)
    }

    async fn delete_user_sessions(&self, user_ids: &[String]) -> StoreResult<u64> {
        let mut d = self.data();
        let before = d.sessions.len();
        d.sessions.retain(|s| !user_ids.contains(&s.user_id));
        Ok((before - d.sessions.len()) as u64)
    }

    async fn create_verification(
        &self,
        identifier: &str,
        value: &str,
        expires_at: &str,
        _now: &str,
    ) -> StoreResult<()> {
        self.data().verifications.push(Verification {
            identifier: identifier.to_owned(),
            value: value.to_owned(),
            expires_at: expires_at.to_owned(),
        });
        Ok(())
    }

    async fn consume_verification(
        &self,
        identifier: &str,
        now: &str,
    ) -> StoreResult<Option<String>> {
        let mut d = self.data();
        let (taken, kept): (Vec<Verification>, Vec<Verification>) =
            std::mem::take(&mut d.verifications)
                .into_iter()
                .partition(|v| v.identifier == identifier);
        d.verifications = kept;
        Ok(taken
            .into_iter()
            .find(|v| is_live(&v.expires_at, now))
            .map(|v| v.value))
    }

    async fn organization(&self, id: &str) -> StoreResult<Option<Organization>> {
        Ok(self.data().organizations.get(id).cloned())
    }

    async fn member(&self, organization_id: &str, user_id: &str) -> StoreResult<Option<Member>> {
        Ok(self
            .data()
            .members
            .iter()
            .find(|m| m.organization_id == organization_id && m.user_id == user_id)
            .cloned())
    }

    async fn members(&self, organization_id: &str) -> StoreResult<Vec<Member>> {
        let mut out: Vec<Member> = self
            .data()
            .members
            .iter()
            .filter(|m| m.organization_id == organization_id)
            .cloned()
            .collect();
        out.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        Ok(out)
    }

    async fn create_organization(
        &self,
        o: NewOrganization,
        report: Option<Report<'_>>,
    ) -> StoreResult<Organization> {
        no_sync(report)?;
        let mut d = self.data();
        if d.organizations.values().any(|x| {
            x.id == o.id || x.slug == o.slug || (o.attio_id.is_some() && x.attio_id == o.attio_id)
        }) {
            return Err(StoreError::Conflict(
                "an organization with this slug or Attio record exists".to_owned(),
            ));
        }
        let org = Organization {
            id: o.id.clone(),
            name: o.name,
            slug: o.slug,
            logo: o.logo,
            created_at: o.now.clone(),
            metadata: None,
            attio_id: o.attio_id,
        };
        d.organizations.insert(o.id.clone(), org.clone());
        if let Some((member_id, user_id)) = o.owner {
            d.members.push(Member {
                id: member_id,
                organization_id: o.id,
                user_id,
                role: "owner".to_owned(),
                created_at: o.now,
            });
        }
        Ok(org)
    }

    async fn organizations_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Organization>> {
        Ok(self
            .data()
            .organizations
            .values()
            .filter(|o| after.is_none_or(|a| o.id.as_str() > a))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn invitations(
        &self,
        organization_id: &str,
        now: &str,
    ) -> StoreResult<Vec<InvitationRow>> {
        let d = self.data();
        let mut out: Vec<InvitationRow> = d
            .invitations
            .iter()
            .filter(|i| {
                i.organization_id == organization_id
                    && i.status == "pending"
                    && is_live(&i.expires_at, now)
            })
            .cloned()
            .map(|mut i| {
                i.inviter = d
                    .users
                    .get(&i.inviter_id)
                    .map(|u| (u.id.clone(), u.name.clone(), u.email.clone()));
                i
            })
            .collect();
        out.sort_by(|a, b| (&b.expires_at, &b.id).cmp(&(&a.expires_at, &a.id)));
        Ok(out)
    }

    async fn pending_invitation(
        &self,
        organization_id: &str,
        email: &str,
        now: &str,
    ) -> StoreResult<Option<InvitationRow>> {
        Ok(self
            .data()
            .invitations
            .iter()
            .find(|i| {
                i.organization_id == organization_id
                    && i.status == "pending"
                    && is_live(&i.expires_at, now)
                    && i.email.eq_ignore_ascii_case(email)
            })
            .cloned())
    }

    async fn create_invitation(&self, invitation: InvitationRow) -> StoreResult<()> {
        let mut d = self.data();
        if !d.organizations.contains_key(&invitation.organization_id) {
            return Err(StoreError::NotFound("organization".to_owned()));
        }
        d.invitations.push(InvitationRow {
            inviter: None,
            ..invitation
        });
        Ok(())
    }

    async fn renew_invitation(
        &self,
        id: &str,
        expires_at: &str,
        inviter_id: &str,
    ) -> StoreResult<()> {
        if let Some(i) = self.data().invitations.iter_mut().find(|i| i.id == id) {
            i.expires_at = expires_at.to_owned();
            i.inviter_id = inviter_id.to_owned();
        }
        Ok(())
    }

    async fn cancel_invitation(&self, id: &str) -> StoreResult<bool> {
        Ok(
            match self.data().invitations.iter_mut().find(|i| i.id == id) {
                Some(i) => {
                    i.status = "canceled".to_owned();
                    true
                }
                None => false,
            },
        )
    }

    async fn report_change(
        &self,
        _model: &str,
        _id: &str,
        _kind: EventKind,
        report: Report<'_>,
    ) -> StoreResult<Option<String>> {
        no_sync(Some(report)).map(|()| None)
    }

    async fn apply_inbound(
        &self,
        event: &RecordEvent,
        adapter: &ModelAdapter,
        report: Option<Report<'_>>,
    ) -> StoreResult<InboundOutcome> {
        no_sync(report)?;
        let model = adapter.better_auth_model.as_str();
        if model != "user" && model != "organization" {
            return Ok(InboundOutcome::Ignored(format!(
                "MemoryStore keeps no {model} rows"
            )));
        }
<<<<<<< HEAD:auth-plugin/src/store/memory.rs
        let mut d = self.data();
        let stored = adapter
            .lookup_keys(event)
            .iter()
            .find_map(|(k, v)| d.find_row(model, k, v));
        let now = crate::time::now_iso();
        Ok(match adapter.plan_inbound(event, stored.as_ref()) {
            InboundPlan::Create { fields, references } => {
                let id = crate::ids::new_id();
                if model == "user" {
                    let email = text(&fields, "email").unwrap_or_default().to_lowercase();
                    if d.email_taken(&email, "")
                        || d.attio_taken(text(&fields, "attioId").as_deref(), "")
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
                        role: self.features.admin.then(|| "user".to_owned()),
                        banned: self.features.admin.then_some(false),
                        ban_reason: None,
                        ban_expires: None,
                        attio_id: None,
                    };
                    apply_user_fields(&mut u, &fields);
                    d.users.insert(id.clone(), u);
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
                    if d.organizations.values().any(|x| x.slug == o.slug) {
                        return Err(StoreError::Conflict("organization slug".to_owned()));
                    }
                    d.organizations.insert(id.clone(), o);
                    d.reconcile_members(&id, &references);
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
                        && d.email_taken(&email, &id)
                    {
                        return Err(StoreError::Conflict("user email".to_owned()));
                    }
                    if let Some(u) = d.users.get_mut(&id) {
                        apply_user_fields(u, &fields);
                        u.updated_at = now;
                    }
                } else {
                    if let Some(o) = d.organizations.get_mut(&id) {
                        apply_org_fields(o, &fields);
                    }
                    d.reconcile_members(&id, &references);
                }
                InboundOutcome::Updated(id)
            }
            InboundPlan::Delete { id } => {
                if model == "user" {
                    d.users.remove(&id);
                    d.sessions.retain(|s| s.user_id != id);
                    d.members.retain(|m| m.user_id != id);
                } else {
                    d.organizations.remove(&id);
                    d.members.retain(|m| m.organization_id != id);
                    d.invitations.retain(|i| i.organization_id != id);
                }
                InboundOutcome::Deleted(id)
            }
            InboundPlan::NoChange { id } => InboundOutcome::Unchanged(id),
            InboundPlan::Ignore { reason } => InboundOutcome::Ignored(reason),
            InboundPlan::Reject { reason } => return Err(StoreError::Rejected(reason)),
        })
=======
        self.data()
            .apply_inbound(event, adapter, self.features.admin)
>>>>>>> main:auth-plugin/src/store/memory/mod.rs
    }

    async fn create_link(&self, id: &str, webhook_url: &str) -> StoreResult<Link> {
        let mut d = self.data();
        if let Some(l) = d.links.iter().find(|l| l.webhook_url == webhook_url) {
            return Ok(l.clone());
        }
        let link = Link {
            id: id.to_owned(),
            webhook_url: webhook_url.to_owned(),
        };
        d.links.push(link.clone());
        Ok(link)
    }

    async fn delete_link(&self, id: &str) -> StoreResult<bool> {
        let mut d = self.data();
        let before = d.links.len();
        d.links.retain(|l| l.id != id);
        Ok(d.links.len() < before)
    }

    async fn links(&self) -> StoreResult<Vec<Link>> {
        Ok(self.data().links.clone())
    }

    async fn replay_check(
        &self,
        id: &str,
        body_sha256: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<ReplayStatus<StoredResponse>> {
        let mut d = self.data();
        d.replay.retain(|_, r| r.expires_at > now);
        Ok(match d.replay.get(id) {
            None => {
                d.replay.insert(
                    id.to_owned(),
                    Replay {
                        hash: body_sha256.to_owned(),
                        response: None,
                        expires_at,
                    },
                );
                ReplayStatus::Fresh
            }
            Some(r) if r.hash != body_sha256 => ReplayStatus::Conflict,
            Some(r) => ReplayStatus::Repeat(r.response.clone()),
        })
    }

    async fn replay_store(&self, id: &str, response: &StoredResponse) -> StoreResult<()> {
        if let Some(r) = self.data().replay.get_mut(id) {
            r.response = Some(response.clone());
        }
        Ok(())
    }

    async fn replay_forget(&self, id: &str) -> StoreResult<()> {
        self.data().replay.remove(id);
        Ok(())
    }
}
