//! Rows read back: the column lists of the store's selects and the mapping of a row to
//! its type.

use super::*;

impl SqlxStore {
    pub(super) fn user_cols(&self, prefix: &str) -> String {
        let p = prefix;
        if self.admin.load(Ordering::Relaxed) {
            format!(
                r#"{p}"id", {p}"name", {p}"email", {p}"emailVerified", {p}"image", @rts(user.createdAt, {p}"createdAt"), @rts(user.updatedAt, {p}"updatedAt"), {p}"role", {p}"banned", {p}"banReason", @rts(user.banExpires, {p}"banExpires"), {p}"attioId""#
            )
        } else {
            format!(
                r#"{p}"id", {p}"name", {p}"email", {p}"emailVerified", {p}"image", @rts(user.createdAt, {p}"createdAt"), @rts(user.updatedAt, {p}"updatedAt"), null, null, null, null, {p}"attioId""#
            )
        }
    }

    /// `search-users` on SQLite, answered as one row: the matches aggregated into a JSON
    /// array by SQLite. sqlx-sqlite hands every row from its connection thread to the async
    /// task through a channel, and that hand-off (thread wake-ups, one allocation per value)
    /// was most of the endpoint's CPU under load; the query and its order are unchanged.
    pub(super) async fn search_users_sqlite(
        &self,
        text: &str,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let sql = format!(
            r#"select json_group_array(json("j") order by "k1" desc, "k2" desc) from (select json_array({}) as "j", "createdAt" as "k1", "id" as "k2" from "user" where lower("email") like $1 escape '\' order by "createdAt" desc, "id" desc limit $2)"#,
            self.user_cols("")
        );
        let row = self
            .opt(
                &sql,
                params![like_literal(&text.to_lowercase()), i64::from(limit)],
            )
            .await?;
        let text = match row {
            Some(r) => r.s(0)?,
            None => return Ok(Vec::new()),
        };
        let rows: Vec<Vec<Value>> = serde_json::from_str(&text).map_err(decode)?;
        Ok(rows
            .iter()
            .map(|r| Self::user_from_json(r))
            .collect::<Result<_, _>>()?)
    }

    /// [`SqlxStore::user_from`] for a row of [`SqlxStore::user_cols`] read back as a JSON
    /// array (SQLite: text as strings, 0/1 flags as numbers, NULL as null).
    pub(super) fn user_from_json(r: &[Value]) -> Result<User, sqlx::Error> {
        let os = |i: usize| match r.get(i) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Null) => Ok(None),
            other => Err(decode(format!(
                "column {i}: expected text, found {other:?}"
            ))),
        };
        let s = |i: usize| os(i)?.ok_or_else(|| decode(format!("column {i}: unexpected null")));
        let ob = |i: usize| match r.get(i) {
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) => Ok(Some(n.as_f64().is_some_and(|f| f != 0.0))),
            Some(Value::Null) => Ok(None),
            other => Err(decode(format!(
                "column {i}: expected a flag, found {other:?}"
            ))),
        };
        Ok(User {
            id: s(0)?,
            name: s(1)?,
            email: s(2)?,
            email_verified: ob(3)?.ok_or_else(|| decode("column 3: unexpected null"))?,
            image: os(4)?,
            created_at: s(5)?,
            updated_at: s(6)?,
            role: os(7)?,
            banned: ob(8)?,
            ban_reason: os(9)?,
            ban_expires: os(10)?,
            attio_id: os(11)?,
        })
    }

    pub(super) fn user_from(r: &DbRow) -> Result<User, sqlx::Error> {
        Ok(User {
            id: r.s(0)?,
            name: r.s(1)?,
            email: r.s(2)?,
            email_verified: r.b(3)?,
            image: r.os(4)?,
            created_at: r.s(5)?,
            updated_at: r.s(6)?,
            role: r.os(7)?,
            banned: r.ob(8)?,
            ban_reason: r.os(9)?,
            ban_expires: r.os(10)?,
            attio_id: r.os(11)?,
        })
    }

    pub(super) const ORG_COLS: &'static str = r#""id", "name", "slug", "logo", @rts(organization.createdAt, "createdAt"), "metadata", "attioId""#;

    pub(super) fn org_from(r: &DbRow) -> Result<Organization, sqlx::Error> {
        Ok(Organization {
            id: r.s(0)?,
            name: r.s(1)?,
            slug: r.s(2)?,
            logo: r.os(3)?,
            created_at: r.s(4)?,
            metadata: r.os(5)?,
            attio_id: r.os(6)?,
        })
    }

    pub(super) const MEMBER_COLS: &'static str =
        r#""id", "organizationId", "userId", "role", @rts(member.createdAt, "createdAt")"#;

    pub(super) fn member_from(r: &DbRow) -> Result<Member, sqlx::Error> {
        Ok(Member {
            id: r.s(0)?,
            organization_id: r.s(1)?,
            user_id: r.s(2)?,
            role: r.s(3)?,
            created_at: r.s(4)?,
        })
    }

    pub(super) const INVITATION_COLS: &'static str = r#"i."id", i."organizationId", i."email", i."role", i."status", @rts(invitation.expiresAt, i."expiresAt"), @rts(invitation.createdAt, i."createdAt"), i."inviterId""#;

    pub(super) fn invitation_from(
        r: &DbRow,
        with_inviter: bool,
    ) -> Result<InvitationRow, sqlx::Error> {
        let inviter = if with_inviter {
            match (r.os(8)?, r.os(9)?, r.os(10)?) {
                (Some(id), Some(name), Some(email)) => Some((id, name, email)),
                _ => None,
            }
        } else {
            None
        };
        Ok(InvitationRow {
            id: r.s(0)?,
            organization_id: r.s(1)?,
            email: r.s(2)?,
            role: r.os(3)?,
            status: r.s(4)?,
            expires_at: r.s(5)?,
            created_at: r.s(6)?,
            inviter_id: r.s(7)?,
            inviter,
        })
    }

    pub(super) fn session_sql(&self, filter: &str) -> String {
        let admin = self.admin.load(Ordering::Relaxed);
        let orgs = self.organizations.load(Ordering::Relaxed);
        let (imp, join) = if admin {
            (
                r#"s."impersonatedBy", a."name""#,
                r#" left join "user" a on a."id" = s."impersonatedBy""#,
            )
        } else {
            ("null, null", "")
        };
        let active = if orgs {
            r#"s."activeOrganizationId""#
        } else {
            "null"
        };
        format!(
            r#"select s."id", s."token", s."userId", @rts(session.expiresAt, s."expiresAt"), @rts(session.createdAt, s."createdAt"), @rts(session.updatedAt, s."updatedAt"), s."ipAddress", s."userAgent", {imp}, {active} from "session" s{join} where {filter}"#
        )
    }

    pub(super) fn session_from(r: &DbRow) -> Result<Session, sqlx::Error> {
        Ok(Session {
            id: r.s(0)?,
            token: r.s(1)?,
            user_id: r.s(2)?,
            expires_at: r.s(3)?,
            created_at: r.s(4)?,
            updated_at: r.s(5)?,
            ip_address: r.os(6)?,
            user_agent: r.os(7)?,
            impersonated_by: r.os(8)?,
            impersonator_name: r.os(9)?,
            active_organization_id: r.os(10)?,
        })
    }

    pub(super) async fn user_in(&self, tx: &mut Tx, id: &str) -> Result<Option<User>, sqlx::Error> {
        let sql = self.q(&format!(
            r#"select {} from "user" where "id" = $1"#,
            self.user_cols("")
        ));
        tx.opt(&sql, params![id])
            .await?
            .map(|r| Self::user_from(&r))
            .transpose()
    }
}
