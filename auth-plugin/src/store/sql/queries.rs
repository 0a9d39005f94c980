//! The queries behind [`AuthStore`]: rows in and out of Better Auth's tables.

use super::*;

#[async_trait]
impl AuthStore for SqlxStore {
    fn features(&self) -> StoreFeatures {
        StoreFeatures {
            admin: self.admin.load(Ordering::Relaxed),
            organizations: self.organizations.load(Ordering::Relaxed),
        }
    }

    fn outbox(&self) -> Option<(crate::sync::OutboxDb, crate::sync::LinkTable)> {
        let links = match self.dialect.naming {
            ColumnNaming::CamelCase => crate::sync::LinkTable::camel_case(),
            ColumnNaming::SnakeCase => crate::sync::LinkTable::snake_case(),
        };
        Some((self.pool.clone(), links))
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let sql = format!(
            r#"select {} from "user" where "id" = $1"#,
            self.user_cols("")
        );
        Ok(self
            .opt(&sql, params![id])
            .await?
            .map(|r| Self::user_from(&r))
            .transpose()?)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let sql = format!(
            // Emails compare case-insensitively; a database the original plugin wrote can
            // hold the same address in two cases (it compared exactly): the exact one wins.
            r#"select {} from "user" where lower("email") = lower($1) order by case when "email" = $1 then 0 else 1 end, "id" limit 1"#,
            self.user_cols("")
        );
        Ok(self
            .opt(&sql, params![email])
            .await?
            .map(|r| Self::user_from(&r))
            .transpose()?)
    }

    async fn search_users(&self, text: &str, limit: u32) -> StoreResult<Vec<User>> {
        if self.dialect.backend == Backend::Sqlite {
            return self.search_users_sqlite(text, limit).await;
        }
        let sql = format!(
            r#"select {} from "user" where lower("email") like $1 escape '\' order by "createdAt" desc, "id" desc limit $2"#,
            self.user_cols("")
        );
        let rows = self
            .all(
                &sql,
                params![like_literal(&text.to_lowercase()), i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(Self::user_from).collect::<Result<_, _>>()?)
    }

    async fn create_user(&self, u: NewUser, report: Option<Report<'_>>) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let insert = if self.admin.load(Ordering::Relaxed) {
            r#"insert into "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "attioId", "role", "banned") values ($1, $2, $3, $4, $5, @ts(user.createdAt, $6), @ts(user.updatedAt, $6), $7, $8, false)"#
        } else {
            r#"insert into "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "attioId") values ($1, $2, $3, $4, $5, @ts(user.createdAt, $6), @ts(user.updatedAt, $6), $7)"#
        };
        let mut p = params![
            &u.id,
            &u.name,
            &u.email,
            u.email_verified,
            u.image.clone(),
            &u.now,
            u.attio_id.clone()
        ];
        if self.admin.load(Ordering::Relaxed) {
            p.push(P::OS(u.role.clone()));
        }
        tx.exec(&self.q(insert), p)
            .await
            .map_err(conflict("a user with this email or Attio record exists"))?;
        let user = self
            .user_in(&mut tx, &u.id)
            .await?
            .ok_or_else(|| StoreError::NotFound("created user".to_owned()))?;
        self.report_in(&mut tx, report, "user", &u.id, EventKind::Create)
            .await?;
        tx.commit().await?;
        notify(report);
        Ok(user)
    }

    async fn set_ban(
        &self,
        user_id: &str,
        ban: BanUpdate,
        report: Option<Report<'_>>,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.begin().await?;
        let (reason, expires) = if ban.banned {
            (ban.reason, ban.expires)
        } else {
            (None, None)
        };
        let n = tx
            .exec(
                &self.q(r#"update "user" set "banned" = $1, "banReason" = $2, "banExpires" = @ts(user.banExpires, $3), "updatedAt" = @ts(user.updatedAt, $4) where "id" = $5"#),
                params![ban.banned, reason, expires, &ban.now, user_id],
            )
            .await?;
        if n == 0 {
            return Ok(None);
        }
        if ban.banned {
            tx.exec(
                &self.q(r#"delete from "session" where "userId" = $1"#),
                params![user_id],
            )
            .await?;
        }
        let user = self.user_in(&mut tx, user_id).await?;
        self.report_in(&mut tx, report, "user", user_id, EventKind::Update)
            .await?;
        tx.commit().await?;
        notify(report);
        Ok(user)
    }

    async fn lift_expired_ban(
        &self,
        user_id: &str,
        now: &str,
        report: Option<Report<'_>>,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.begin().await?;
        let n = tx
            .exec(
                &self.q(r#"update "user" set "banned" = false, "banReason" = null, "banExpires" = null, "updatedAt" = @ts(user.updatedAt, $1) where "id" = $2 and "banned" = true and "banExpires" is not null and "banExpires" <= @ts(user.banExpires, $1)"#),
                params![now, user_id],
            )
            .await?;
        if n == 0 {
            return Ok(None);
        }
        let user = self.user_in(&mut tx, user_id).await?;
        self.report_in(&mut tx, report, "user", user_id, EventKind::Update)
            .await?;
        tx.commit().await?;
        notify(report);
        Ok(user)
    }

    async fn users_after(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        let rows = self
            .page_by_id("user", &self.user_cols(""), after, limit)
            .await?;
        Ok(rows.iter().map(Self::user_from).collect::<Result<_, _>>()?)
    }

    async fn sessions(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        let sql = self.session_sql(r#"s."userId" = $1 order by s."createdAt" desc, s."id" desc"#);
        let rows = self.all(&sql, params![user_id]).await?;
        Ok(rows
            .iter()
            .map(Self::session_from)
            .collect::<Result<_, _>>()?)
    }

    async fn session_by_token(&self, token: &str) -> StoreResult<Option<Session>> {
        let sql = self.session_sql(r#"s."token" = $1"#);
        Ok(self
            .opt(&sql, params![token])
            .await?
            .map(|r| Self::session_from(&r))
            .transpose()?)
    }

    async fn create_session(&self, s: NewSession) -> StoreResult<()> {
        let admin = self.admin.load(Ordering::Relaxed);
        let sql = if admin {
            r#"insert into "session" ("id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent", "impersonatedBy") values ($1, $2, $3, @ts(session.expiresAt, $4), @ts(session.createdAt, $5), @ts(session.updatedAt, $5), $6, $7, $8)"#
        } else {
            r#"insert into "session" ("id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent") values ($1, $2, $3, @ts(session.expiresAt, $4), @ts(session.createdAt, $5), @ts(session.updatedAt, $5), $6, $7)"#
        };
        let mut p = params![
            s.id,
            s.token,
            &s.user_id,
            s.expires_at,
            s.now,
            s.ip_address,
            s.user_agent
        ];
        if admin {
            p.push(P::OS(s.impersonated_by));
        }
        self.exec(sql, p).await.map_err(conflict("session"))?;
        Ok(())
    }

    async fn touch_session(
        &self,
        token: &str,
        ip_address: Option<&str>,
        user_agent: Option<&str>,
        now: &str,
    ) -> StoreResult<()> {
        self.exec(
            r#"update "session" set "ipAddress" = coalesce($1, "ipAddress"), "userAgent" = coalesce($2, "userAgent"), "updatedAt" = @ts(session.updatedAt, $3) where "token" = $4"#,
            params![
                ip_address.map(str::to_owned),
                user_agent.map(str::to_owned),
                now,
                token
            ],
        )
        .await?;
        Ok(())
    }

    async fn delete_session(&self, which: SessionRef<'_>) -> StoreResult<bool> {
        let (sql, key) = match which {
            SessionRef::Id(id) => (r#"delete from "session" where "id" = $1"#, id),
            SessionRef::Token(t) => (r#"delete from "session" where "token" = $1"#, t),
        };
        Ok(self.exec(sql, params![key]).await? > 0)
    }

    async fn delete_user_sessions(&self, user_ids: &[String]) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let sql = self.q(r#"delete from "session" where "userId" = $1"#);
        let mut n = 0;
        for id in user_ids {
            n += tx.exec(&sql, params![id]).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn create_verification(
        &self,
        identifier: &str,
        value: &str,
        expires_at: &str,
        now: &str,
    ) -> StoreResult<()> {
        self.exec(
            r#"insert into "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt") values ($1, $2, $3, @ts(verification.expiresAt, $4), @ts(verification.createdAt, $5), @ts(verification.updatedAt, $5))"#,
            params![crate::ids::new_id(), identifier, value, expires_at, now],
        )
        .await?;
        Ok(())
    }

    async fn consume_verification(
        &self,
        identifier: &str,
        now: &str,
    ) -> StoreResult<Option<String>> {
        let rows = if self.dialect.backend == Backend::MySql {
            // No `delete ... returning` on MySQL: read, then delete what was read.
            let mut tx = self.begin().await?;
            let rows = tx
                .all(
                    &self.q(r#"select "value", @rts(verification.expiresAt, "expiresAt"), "id" from "verification" where "identifier" = $1 for update"#),
                    params![identifier],
                )
                .await?;
            for r in &rows {
                tx.exec(
                    &self.q(r#"delete from "verification" where "id" = $1"#),
                    params![r.s(2)?],
                )
                .await?;
            }
            tx.commit().await?;
            rows
        } else {
            self.all(
                r#"delete from "verification" where "identifier" = $1 returning "value", @rts(verification.expiresAt, "expiresAt")"#,
                params![identifier],
            )
            .await?
        };
        let now = crate::time::parse_iso(now);
        for r in rows {
            let expires = crate::time::parse_iso(&r.s(1)?);
            if let (Some(e), Some(n)) = (expires, now)
                && e > n
            {
                return Ok(Some(r.s(0)?));
            }
        }
        Ok(None)
    }

    async fn organization(&self, id: &str) -> StoreResult<Option<Organization>> {
        let sql = format!(
            r#"select {} from "organization" where "id" = $1"#,
            Self::ORG_COLS
        );
        Ok(self
            .opt(&sql, params![id])
            .await?
            .map(|r| Self::org_from(&r))
            .transpose()?)
    }

    async fn member(&self, organization_id: &str, user_id: &str) -> StoreResult<Option<Member>> {
        let sql = format!(
            r#"select {} from "member" where "organizationId" = $1 and "userId" = $2"#,
            Self::MEMBER_COLS
        );
        Ok(self
            .opt(&sql, params![organization_id, user_id])
            .await?
            .map(|r| Self::member_from(&r))
            .transpose()?)
    }

    async fn members(&self, organization_id: &str) -> StoreResult<Vec<Member>> {
        let sql = format!(
            r#"select {} from "member" where "organizationId" = $1 order by "createdAt", "id""#,
            Self::MEMBER_COLS
        );
        let rows = self.all(&sql, params![organization_id]).await?;
        Ok(rows
            .iter()
            .map(Self::member_from)
            .collect::<Result<_, _>>()?)
    }

    async fn create_organization(
        &self,
        o: NewOrganization,
        report: Option<Report<'_>>,
    ) -> StoreResult<Organization> {
        let mut tx = self.begin().await?;
        let (col, val) = self.updated_at_column("organization", 5);
        tx.exec(
            &self.q(&format!(r#"insert into "organization" ("id", "name", "slug", "logo", "createdAt", "attioId"{col}) values ($1, $2, $3, $4, @ts(organization.createdAt, $5), $6{val})"#)),
            params![&o.id, o.name, o.slug, o.logo, &o.now, o.attio_id],
        )
        .await
        .map_err(conflict("an organization with this slug or Attio record exists"))?;
        if let Some((member_id, user_id)) = o.owner {
            let (col, val) = self.updated_at_column("member", 4);
            tx.exec(
                &self.q(&format!(r#"insert into "member" ("id", "organizationId", "userId", "role", "createdAt"{col}) values ($1, $2, $3, 'owner', @ts(member.createdAt, $4){val})"#)),
                params![member_id, &o.id, user_id, &o.now],
            )
            .await
            .map_err(conflict("owner"))?;
        }
        let org = tx
            .opt(
                &self.q(&format!(
                    r#"select {} from "organization" where "id" = $1"#,
                    Self::ORG_COLS
                )),
                params![&o.id],
            )
            .await?
            .map(|r| Self::org_from(&r))
            .transpose()?
            .ok_or_else(|| StoreError::NotFound("created organization".to_owned()))?;
        self.report_in(&mut tx, report, "organization", &o.id, EventKind::Create)
            .await?;
        tx.commit().await?;
        notify(report);
        Ok(org)
    }

    async fn organizations_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Organization>> {
        let rows = self
            .page_by_id("organization", Self::ORG_COLS, after, limit)
            .await?;
        Ok(rows.iter().map(Self::org_from).collect::<Result<_, _>>()?)
    }

    async fn invitations(
        &self,
        organization_id: &str,
        now: &str,
    ) -> StoreResult<Vec<InvitationRow>> {
        let sql = format!(
            r#"select {}, u."id", u."name", u."email" from "invitation" i left join "user" u on u."id" = i."inviterId" where i."organizationId" = $1 and i."status" = 'pending' and i."expiresAt" > @ts(invitation.expiresAt, $2) order by i."expiresAt" desc, i."id" desc"#,
            Self::INVITATION_COLS
        );
        let rows = self.all(&sql, params![organization_id, now]).await?;
        Ok(rows
            .iter()
            .map(|r| Self::invitation_from(r, true))
            .collect::<Result<_, _>>()?)
    }

    async fn pending_invitation(
        &self,
        organization_id: &str,
        email: &str,
        now: &str,
    ) -> StoreResult<Option<InvitationRow>> {
        let sql = format!(
            r#"select {} from "invitation" i where i."organizationId" = $1 and lower(i."email") = lower($2) and i."status" = 'pending' and i."expiresAt" > @ts(invitation.expiresAt, $3) order by i."createdAt" desc limit 1"#,
            Self::INVITATION_COLS
        );
        Ok(self
            .opt(&sql, params![organization_id, email, now])
            .await?
            .map(|r| Self::invitation_from(&r, false))
            .transpose()?)
    }

    async fn create_invitation(&self, i: InvitationRow) -> StoreResult<()> {
        let (col, val) = self.updated_at_column("invitation", 7);
        self.exec(
            &format!(r#"insert into "invitation" ("id", "organizationId", "email", "role", "status", "expiresAt", "createdAt", "inviterId"{col}) values ($1, $2, $3, $4, $5, @ts(invitation.expiresAt, $6), @ts(invitation.createdAt, $7), $8{val})"#),
            params![i.id, i.organization_id, i.email, i.role, i.status, i.expires_at, i.created_at, i.inviter_id],
        )
        .await
        .map_err(conflict("invitation"))?;
        Ok(())
    }

    async fn renew_invitation(
        &self,
        id: &str,
        expires_at: &str,
        inviter_id: &str,
    ) -> StoreResult<()> {
        self.exec(
            r#"update "invitation" set "expiresAt" = @ts(invitation.expiresAt, $1), "inviterId" = $2 where "id" = $3"#,
            params![expires_at, inviter_id, id],
        )
        .await?;
        Ok(())
    }

    async fn cancel_invitation(&self, id: &str) -> StoreResult<bool> {
        Ok(self
            .exec(
                r#"update "invitation" set "status" = 'canceled' where "id" = $1"#,
                params![id],
            )
            .await?
            > 0)
    }

    async fn report_change(
        &self,
        model: &str,
        id: &str,
        kind: EventKind,
        report: Report<'_>,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin().await?;
        let out = self
            .report_in(&mut tx, Some(report), model, id, kind)
            .await?;
        tx.commit().await?;
        notify(Some(report));
        Ok(out)
    }

    async fn apply_inbound(
        &self,
        event: &RecordEvent,
        adapter: &ModelAdapter,
        report: Option<Report<'_>>,
    ) -> StoreResult<InboundOutcome> {
        let table = adapter.better_auth_model.as_str();
        let mut tx = self.begin().await?;
        let mut stored = None;
        for (key, value) in adapter.lookup_keys(event) {
            if let Some(row) = self.row_json_in(&mut tx, table, &key, &value).await? {
                stored = Some(row);
                break;
            }
        }
        let wants_members = adapter.fields.iter().any(
            |f| matches!(&f.source, FieldSource::References { key, .. } if key == MEMBER_ATTIO_IDS),
        );
        if wants_members && let Some(row) = stored.as_mut() {
            let id = row
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let ids = self.member_attio_ids_in(&mut tx, &id).await?;
            row.insert(
                MEMBER_ATTIO_IDS.to_owned(),
                Value::Array(ids.into_iter().map(Value::String).collect()),
            );
        }
        let outcome = match adapter.plan_inbound(event, stored.as_ref()) {
            InboundPlan::Create { fields, references } => {
                // A record that already names its row id (a person typed the User ID) keeps
                // it, so both sides name the row alike; no row has it (the lookup by id
                // found none). Otherwise the row gets a fresh id, sent back in the event.
                let id = adopted_id(event, adapter).unwrap_or_else(crate::ids::new_id);
                self.insert_row_in(&mut tx, table, &id, fields).await?;
                self.reconcile_members_in(&mut tx, table, &id, &references)
                    .await?;
                self.report_in(&mut tx, report, table, &id, EventKind::Create)
                    .await?;
                InboundOutcome::Created(id)
            }
            InboundPlan::Update {
                id,
                fields,
                references,
            } => {
                self.update_row_in(&mut tx, table, &id, fields).await?;
                self.reconcile_members_in(&mut tx, table, &id, &references)
                    .await?;
                self.report_in(&mut tx, report, table, &id, EventKind::Update)
                    .await?;
                InboundOutcome::Updated(id)
            }
            InboundPlan::Delete { id } => {
                if let Some(r) = report {
                    let row = stored.clone().unwrap_or_default();
                    r.reporter
                        .report(tx_conn(&mut tx), table, EventKind::Delete, &row, r.origin)
                        .await?;
                }
                tx.exec(
                    &self.q(&format!(r#"delete from "{table}" where "id" = $1"#)),
                    params![&id],
                )
                .await?;
                InboundOutcome::Deleted(id)
            }
            InboundPlan::NoChange { id } => InboundOutcome::Unchanged(id),
            InboundPlan::Ignore { reason } => InboundOutcome::Ignored(reason),
        };
        tx.commit().await?;
        if matches!(
            outcome,
            InboundOutcome::Created(_) | InboundOutcome::Updated(_) | InboundOutcome::Deleted(_)
        ) {
            notify(report);
        }
        Ok(outcome)
    }

    async fn create_link(&self, id: &str, webhook_url: &str) -> StoreResult<Link> {
        let insert = if self.dialect.backend == Backend::MySql {
            r#"insert into "attioIntegration" ("id", "webhookUrl") values ($1, $2) on duplicate key update "id" = "id""#
        } else {
            r#"insert into "attioIntegration" ("id", "webhookUrl") values ($1, $2) on conflict ("webhookUrl") do nothing"#
        };
        self.exec(insert, params![id, webhook_url]).await?;
        let row = self
            .opt(
                r#"select "id", "webhookUrl" from "attioIntegration" where "webhookUrl" = $1"#,
                params![webhook_url],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound("link".to_owned()))?;
        Ok(Link {
            id: row.s(0)?,
            webhook_url: row.s(1)?,
        })
    }

    async fn delete_link(&self, id: &str) -> StoreResult<bool> {
        Ok(self
            .exec(
                r#"delete from "attioIntegration" where "id" = $1"#,
                params![id],
            )
            .await?
            > 0)
    }

    async fn links(&self) -> StoreResult<Vec<Link>> {
        let rows = self
            .all(
                r#"select "id", "webhookUrl" from "attioIntegration" order by "id""#,
                vec![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Link {
                    id: r.s(0)?,
                    webhook_url: r.s(1)?,
                })
            })
            .collect()
    }

    async fn replay_check(
        &self,
        id: &str,
        body_sha256: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<ReplayStatus<StoredResponse>> {
        let mut tx = self.begin().await?;
        tx.exec(
            &self.q(r#"delete from "attioReplay" where "expiresAt" <= $1"#),
            params![now],
        )
        .await?;
        let inserted = if self.dialect.backend == Backend::MySql {
            // MySQL counts a no-op `on duplicate key update` as a row found: insert, and
            // take a duplicate key as "already there" (the transaction goes on after it).
            match tx
                .exec(
                    &self.q(r#"insert into "attioReplay" ("id", "bodyHash", "expiresAt") values ($1, $2, $3)"#),
                    params![id, body_sha256, expires_at],
                )
                .await
            {
                Ok(n) => n,
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => 0,
                Err(e) => return Err(e.into()),
            }
        } else {
            tx.exec(
                &self.q(r#"insert into "attioReplay" ("id", "bodyHash", "expiresAt") values ($1, $2, $3) on conflict ("id") do nothing"#),
                params![id, body_sha256, expires_at],
            )
            .await?
        };
        let out = if inserted > 0 {
            ReplayStatus::Fresh
        } else {
            let row = tx
                .opt(
                    &self.q(r#"select "bodyHash", "status", "response" from "attioReplay" where "id" = $1"#),
                    params![id],
                )
                .await?;
            match row {
                None => ReplayStatus::Fresh,
                Some(r) if r.s(0)? != body_sha256 => ReplayStatus::Conflict,
                Some(r) => match (r.oi(1)?, r.os(2)?) {
                    (Some(status), Some(body)) => ReplayStatus::Repeat(Some(StoredResponse {
                        status: u16::try_from(status).unwrap_or(500),
                        body,
                    })),
                    _ => ReplayStatus::Repeat(None),
                },
            }
        };
        tx.commit().await?;
        Ok(out)
    }

    async fn replay_store(&self, id: &str, response: &StoredResponse) -> StoreResult<()> {
        self.exec(
            r#"update "attioReplay" set "status" = $1, "response" = $2 where "id" = $3"#,
            params![i64::from(response.status), response.body.clone(), id],
        )
        .await?;
        Ok(())
    }

    async fn replay_forget(&self, id: &str) -> StoreResult<()> {
        self.exec(r#"delete from "attioReplay" where "id" = $1"#, params![id])
            .await?;
        Ok(())
    }
}
