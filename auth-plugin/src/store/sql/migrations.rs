//! Applying the plugin's migrations and detecting which Better Auth parts exist.

use super::*;

impl SqlxStore {
    pub(super) async fn table_exists_in(
        &self,
        tx: &mut Tx,
        camel: &str,
    ) -> Result<bool, sqlx::Error> {
        let name = self.dialect.ident(camel);
        let sql = match self.dialect.backend {
            Backend::Sqlite => "select name from sqlite_master where type = 'table' and name = $1",
            Backend::Postgres => {
                "select table_name::text from information_schema.tables where table_schema = current_schema() and table_name::text = $1"
            }
            Backend::MySql => {
                "select table_name from information_schema.tables where table_schema = database() and table_name = $1"
            }
        };
        Ok(tx.opt(sql, params![name]).await?.is_some())
    }

    pub(super) async fn column_exists_in(
        &self,
        tx: &mut Tx,
        table_camel: &str,
        column_camel: &str,
    ) -> Result<bool, sqlx::Error> {
        let table = self.dialect.ident(table_camel);
        let column = self.dialect.ident(column_camel);
        let sql = match self.dialect.backend {
            Backend::Sqlite => "select name from pragma_table_info($1) where name = $2",
            Backend::Postgres => {
                "select column_name::text from information_schema.columns where table_schema = current_schema() and table_name::text = $1 and column_name::text = $2"
            }
            Backend::MySql => {
                "select column_name from information_schema.columns where table_schema = database() and table_name = $1 and column_name = $2"
            }
        };
        Ok(tx.opt(sql, params![table, column]).await?.is_some())
    }

    /// Whether a column exists and refuses null: `None` when it does not exist.
    pub(super) async fn column_not_null_in(
        &self,
        tx: &mut Tx,
        table_camel: &str,
        column_camel: &str,
    ) -> Result<Option<bool>, sqlx::Error> {
        let table = self.dialect.ident(table_camel);
        let column = self.dialect.ident(column_camel);
        let sql = match self.dialect.backend {
            Backend::Sqlite => r#"select "notnull" from pragma_table_info($1) where name = $2"#,
            Backend::Postgres => {
                "select case when is_nullable = 'NO' then 1 else 0 end::bigint from information_schema.columns where table_schema = current_schema() and table_name::text = $1 and column_name::text = $2"
            }
            Backend::MySql => {
                "select cast(case when is_nullable = 'NO' then 1 else 0 end as signed) from information_schema.columns where table_schema = database() and table_name = $1 and column_name = $2"
            }
        };
        Ok(match tx.opt(sql, params![table, column]).await? {
            Some(row) => Some(row.oi(0)?.unwrap_or(0) != 0),
            None => None,
        })
    }

    /// The declared type (lowercase) and default of a column; `None` when it does not exist.
    async fn column_type_in(
        &self,
        tx: &mut Tx,
        table_camel: &str,
        column_camel: &str,
    ) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
        let table = self.dialect.ident(table_camel);
        let column = self.dialect.ident(column_camel);
        let sql = match self.dialect.backend {
            Backend::Sqlite => {
                r#"select lower("type"), "dflt_value" from pragma_table_info($1) where name = $2"#
            }
            Backend::Postgres => {
                "select lower(data_type::text), column_default::text from information_schema.columns where table_schema = current_schema() and table_name::text = $1 and column_name::text = $2"
            }
            Backend::MySql => {
                "select lower(cast(data_type as char)), cast(column_default as char) from information_schema.columns where table_schema = database() and table_name = $1 and column_name = $2"
            }
        };
        Ok(match tx.opt(sql, params![table, column]).await? {
            Some(row) => Some((row.s(0)?, row.os(1)?)),
            None => None,
        })
    }

    /// Which of the date columns the store touches hold integers (Cloudflare D1 through
    /// Drizzle), and in which unit: milliseconds when a stored value is past 10^11 (1973
    /// in milliseconds, year 5138 in seconds) or the default multiplies by 1000, seconds
    /// when values are below; a column with no value and no telling default takes the
    /// unit of the others, or the configured one ([`SqlxStore::with_integer_dates`]).
    async fn detect_dates_in(&self, tx: &mut Tx) -> Result<DateColumns, sqlx::Error> {
        const DATES: &[(&str, &[&str])] = &[
            ("user", &["createdAt", "updatedAt", "banExpires"]),
            ("session", &["expiresAt", "createdAt", "updatedAt"]),
            ("verification", &["expiresAt", "createdAt", "updatedAt"]),
            ("organization", &["createdAt", "updatedAt"]),
            ("member", &["createdAt", "updatedAt"]),
            ("invitation", &["expiresAt", "createdAt", "updatedAt"]),
        ];
        let mut known = DateColumns::default();
        let mut unknown = Vec::new();
        for (table, columns) in DATES {
            for column in *columns {
                let Some((ty, default)) = self.column_type_in(tx, table, column).await? else {
                    continue;
                };
                if !ty.contains("int") {
                    continue;
                }
                let key = format!("{table}.{column}");
                let max = tx
                    .opt(
                        &self.q(&format!(
                            r#"select cast(max("{column}") as bigint) from "{table}""#
                        )),
                        vec![],
                    )
                    .await?
                    .map(|r| r.oi(0))
                    .transpose()?
                    .flatten();
                let unit = match (max, default.as_deref()) {
                    (Some(v), _) if v > 100_000_000_000 => Some(DateStorage::Millis),
                    (Some(_), _) => Some(DateStorage::Seconds),
                    (None, Some(d)) if d.contains("1000") => Some(DateStorage::Millis),
                    _ => None,
                };
                match unit {
                    Some(u) => {
                        known.0.insert(key, u);
                    }
                    None => unknown.push(key),
                }
            }
        }
        let millis = known
            .0
            .values()
            .filter(|u| **u == DateStorage::Millis)
            .count();
        let seconds = known.0.len() - millis;
        let fallback = match (millis, seconds) {
            (0, 0) => self.integer_dates,
            (m, s) if m > s => DateStorage::Millis,
            _ => DateStorage::Seconds,
        };
        for key in unknown {
            known.0.insert(key, fallback);
        }
        Ok(known)
    }

    /// Looks at the database and records which optional Better Auth parts it has (the
    /// admin plugin's columns, the organization plugin's tables). [`SqlxStore::migrate`]
    /// calls it.
    pub async fn detect_features(&self) -> StoreResult<StoreFeatures> {
        let mut tx = self.begin().await?;
        let admin = self.column_exists_in(&mut tx, "user", "role").await?
            && self.column_exists_in(&mut tx, "user", "banned").await?
            && self
                .column_exists_in(&mut tx, "session", "impersonatedBy")
                .await?;
        let organizations = self.table_exists_in(&mut tx, "organization").await?
            && self.table_exists_in(&mut tx, "member").await?
            && self.table_exists_in(&mut tx, "invitation").await?;
        // Better Auth writes null into `updatedAt` on creation; a schema that made it
        // NOT NULL gets the creation time instead.
        let mut updated_at_required = Vec::new();
        for table in ["organization", "member", "invitation"] {
            if self
                .column_not_null_in(&mut tx, table, "updatedAt")
                .await?
                .unwrap_or(false)
            {
                updated_at_required.push(table);
            }
        }
        let dates = self.detect_dates_in(&mut tx).await?;
        tx.commit().await?;
        self.set_updated_at_required(updated_at_required);
        self.set_dates(dates);
        self.admin.store(admin, Ordering::Relaxed);
        self.organizations.store(organizations, Ordering::Relaxed);
        Ok(StoreFeatures {
            admin,
            organizations,
        })
    }

    /// Creates Better Auth's own tables (core, admin columns and, when `organizations`,
    /// the organization plugin's) where they do not exist: for a Rust server that starts
    /// without a Better Auth database. Hosts on an existing Better Auth database skip it.
    pub async fn install_better_auth_schema(&self, organizations: bool) -> StoreResult<()> {
        let text = match self.dialect.backend {
            Backend::Sqlite => migrate::BETTER_AUTH_SQLITE,
            Backend::Postgres => migrate::BETTER_AUTH_POSTGRES,
            Backend::MySql => migrate::BETTER_AUTH_MYSQL,
        };
        let mut tx = self.begin().await?;
        for st in migrate::statements(text) {
            if st.organizations_only() && !organizations {
                continue;
            }
            tx.exec(&self.q(&st.sql), vec![]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies the plugin's migrations ([`MIGRATIONS`]) that are not applied yet, each in
    /// its own transaction, recorded in `attio_plugin_migrations`; then detects features.
    /// Safe to call at every start, from several instances (PostgreSQL takes an advisory
    /// lock). Fails when an applied migration was edited since.
    pub async fn migrate(&self) -> StoreResult<()> {
        let create = self.q(
            r#"create table if not exists "attio_plugin_migrations" ("version" bigint not null primary key, "name" text not null, "checksum" text not null, "appliedAt" text not null)"#,
        );
        for m in MIGRATIONS {
            let text = match self.dialect.backend {
                Backend::Sqlite => m.sqlite,
                Backend::Postgres => m.postgres,
                Backend::MySql => m.mysql,
            };
            let sum = migrate::checksum(text);
            let mut tx = self.begin().await?;
            match self.dialect.backend {
                Backend::Postgres => {
                    tx.exec("select pg_advisory_xact_lock(727384512)", vec![])
                        .await?;
                }
                // A session lock (MySQL's DDL commits on its own, so a transaction would
                // not hold one): released below, or when the connection closes.
                Backend::MySql => {
                    tx.exec("do get_lock('attio_plugin_migrations', 60)", vec![])
                        .await?;
                }
                Backend::Sqlite => {}
            }
            tx.exec(&create, vec![]).await?;
            let applied = tx
                .opt(
                    &self.q(
                        r#"select "checksum" from "attio_plugin_migrations" where "version" = $1"#,
                    ),
                    params![m.version],
                )
                .await?;
            if let Some(row) = applied {
                if row.s(0)? != sum {
                    self.release_migration_lock(&mut tx).await?;
                    return Err(StoreError::Migration(format!(
                        "plugin migration {} ({}) was changed after it was applied",
                        m.version, m.name
                    )));
                }
                self.release_migration_lock(&mut tx).await?;
                tx.commit().await?;
                continue;
            }
            for st in migrate::statements(text) {
                if !self.statement_applies(&mut tx, &st).await? {
                    continue;
                }
                if let Err(e) = tx.exec(&self.q(&st.sql), vec![]).await {
                    self.release_migration_lock(&mut tx).await?;
                    return Err(StoreError::Migration(format!(
                        "plugin migration {} ({}): {e}",
                        m.version, m.name
                    )));
                }
            }
            tx.exec(
                &self.q(r#"insert into "attio_plugin_migrations" ("version", "name", "checksum", "appliedAt") values ($1, $2, $3, $4)"#),
                params![m.version, m.name, sum, crate::time::now_iso()],
            )
            .await?;
            self.release_migration_lock(&mut tx).await?;
            tx.commit().await?;
        }
        self.detect_features().await?;
        Ok(())
    }

    async fn release_migration_lock(&self, tx: &mut Tx) -> Result<(), sqlx::Error> {
        if self.dialect.backend == Backend::MySql {
            tx.exec("do release_lock('attio_plugin_migrations')", vec![])
                .await?;
        }
        Ok(())
    }

    pub(super) async fn statement_applies(
        &self,
        tx: &mut Tx,
        st: &Statement,
    ) -> Result<bool, sqlx::Error> {
        if let Some(table) = st.required_table()
            && !self.table_exists_in(tx, table).await?
        {
            return Ok(false);
        }
        if let Some((table, column)) = st.added_column()
            && self.column_exists_in(tx, &table, &column).await?
        {
            return Ok(false);
        }
        Ok(true)
    }
}
