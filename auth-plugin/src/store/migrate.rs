//! The plugin's own migrations: SQL files under `migrations/{sqlite,postgres,mysql}/` of
//! this crate, applied by [`SqlxStore::migrate`](super::SqlxStore::migrate) and recorded in the table
//! `attio_plugin_migrations`, never in the host's `_sqlx_migrations` (sqlx refuses to start
//! when that table lists migrations it does not know, sqlx issue #1189).
//!
//! A file is a list of `;`-terminated statements. Comment lines directly above a statement
//! may carry directives:
//! - `-- @requires-table name`: run only when that table exists (organizations are optional);
//! - `-- @organizations`: run only when organizations are wanted (the Better Auth base
//!   schema for new servers).
//!
//! `alter table "t" add column "c" ...` is skipped when the column exists already, so the
//! plugin can adopt a database the original TypeScript plugin used.

/// One migration, in every dialect.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Increasing version; applied in order, once.
    pub version: i64,
    /// Short name.
    pub name: &'static str,
    /// The SQLite text.
    pub sqlite: &'static str,
    /// The PostgreSQL text.
    pub postgres: &'static str,
    /// The MySQL/MariaDB text.
    pub mysql: &'static str,
}

/// Every plugin migration, in order. Add new files here (every dialect).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "core",
        sqlite: include_str!("../../migrations/sqlite/0001_core.sql"),
        postgres: include_str!("../../migrations/postgres/0001_core.sql"),
        mysql: include_str!("../../migrations/mysql/0001_core.sql"),
    },
    Migration {
        version: 2,
        name: "outbox",
        sqlite: crate::sync::outbox::MIGRATION_SQLITE,
        postgres: crate::sync::outbox::MIGRATION_POSTGRES,
        mysql: crate::sync::outbox::MIGRATION_MYSQL,
    },
    Migration {
        version: 3,
        name: "outbox_record_order",
        sqlite: crate::sync::outbox::MIGRATION_RECORD_ORDER_SQLITE,
        postgres: crate::sync::outbox::MIGRATION_RECORD_ORDER_POSTGRES,
        mysql: crate::sync::outbox::MIGRATION_RECORD_ORDER_MYSQL,
    },
];

/// The Better Auth tables for servers that start without them.
pub(crate) const BETTER_AUTH_SQLITE: &str = include_str!("../../schema/better-auth.sqlite.sql");
pub(crate) const BETTER_AUTH_POSTGRES: &str = include_str!("../../schema/better-auth.postgres.sql");
pub(crate) const BETTER_AUTH_MYSQL: &str = include_str!("../../schema/better-auth.mysql.sql");

/// One statement with the directives written above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    pub directives: Vec<String>,
    pub sql: String,
}

impl Statement {
    /// `Some(table)` for a `-- @requires-table table` directive.
    pub(super) fn required_table(&self) -> Option<&str> {
        self.directives
            .iter()
            .find_map(|d| d.strip_prefix("@requires-table "))
            .map(str::trim)
    }

    /// Whether the statement belongs to the organization plugin.
    pub(super) fn organizations_only(&self) -> bool {
        self.directives.iter().any(|d| d == "@organizations")
    }

    /// `(table, column)` of an `alter table "t" add column ["if not exists"] "c"` statement.
    pub(super) fn added_column(&self) -> Option<(String, String)> {
        let lower = self.sql.to_ascii_lowercase();
        let rest = lower.strip_prefix("alter table ")?;
        let pos = rest.find(" add column ")?;
        let table = self
            .sql
            .get(12..12 + pos)?
            .trim()
            .trim_matches('"')
            .to_owned();
        let after = self
            .sql
            .get(12 + pos + " add column ".len()..)?
            .trim_start();
        let after = if after.to_ascii_lowercase().starts_with("if not exists ") {
            after.get("if not exists ".len()..)?.trim_start()
        } else {
            after
        };
        let column = after.strip_prefix('"')?.split('"').next()?.to_owned();
        Some((table, column))
    }
}

/// Splits a migration file into statements with their directives.
pub(crate) fn statements(text: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut directives = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(comment) = trimmed.strip_prefix("--") {
            let comment = comment.trim();
            if comment.starts_with('@') && current.is_empty() {
                directives.push(comment.to_owned());
            }
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(trimmed);
        if trimmed.ends_with(';') {
            let sql = current.trim_end_matches(';').trim().to_owned();
            out.push(Statement {
                directives: std::mem::take(&mut directives),
                sql,
            });
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(Statement {
            directives,
            sql: current.trim().to_owned(),
        });
    }
    out
}

/// Hex SHA-256 of a migration's text, to notice an applied migration that was edited.
pub(crate) fn checksum(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_with_directives() {
        let st = statements(MIGRATIONS[0].sqlite);
        assert!(st.len() >= 6);
        let org = st
            .iter()
            .find(|s| s.sql.contains("alter table \"organization\""))
            .expect("org column");
        assert_eq!(org.required_table(), Some("organization"));
        assert_eq!(
            org.added_column(),
            Some(("organization".to_owned(), "attioId".to_owned()))
        );
        let pg = statements(MIGRATIONS[0].postgres);
        let user = pg
            .iter()
            .find(|s| s.sql.contains("alter table \"user\""))
            .expect("user column");
        assert_eq!(
            user.added_column(),
            Some(("user".to_owned(), "attioId".to_owned()))
        );
        assert!(
            statements(BETTER_AUTH_SQLITE)
                .iter()
                .any(Statement::organizations_only)
        );
    }
}
