//! One SQL text for every backend and both column namings.
//!
//! Queries are written once with camelCase quoted identifiers (Better Auth's default) and
//! `$n` placeholders, which both SQLite and PostgreSQL accept. [`Dialect::sql`] then
//! rewrites them for the actual database:
//! - snake_case naming: every quoted identifier `"emailVerified"` becomes `"email_verified"`;
//! - `@ts($n)`: a timestamp parameter, bound as ISO-8601 text: `$n` on SQLite (where dates
//!   are ISO text, which compares correctly as text), `$n::timestamptz` on PostgreSQL, a
//!   cast to `datetime(3)` on MySQL;
//! - `@rts("col")`: a timestamp read back as ISO-8601 text with milliseconds and `Z`;
//! - MySQL: `escape '\\'` for `escape '\'` (a backslash escapes in MySQL's strings).
//!
//! MySQL's backtick quoting and `?` placeholders are applied when the statement is bound
//! ([`super::db::mysql_text`]), so the outbox's own statements get them too.

/// How the host's Better Auth tables name their columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColumnNaming {
    /// `emailVerified`, `createdAt` (Better Auth's default).
    #[default]
    CamelCase,
    /// `email_verified`, `created_at`.
    SnakeCase,
}

/// The database family a query is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
    /// MySQL 8 or MariaDB 10.5+.
    MySql,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    pub backend: Backend,
    pub naming: ColumnNaming,
}

/// `emailVerified` -> `email_verified`.
pub(crate) fn snake(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, c) in ident.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl Dialect {
    /// An identifier in this database's naming (unquoted).
    pub(super) fn ident(&self, camel: &str) -> String {
        match self.naming {
            ColumnNaming::CamelCase => camel.to_owned(),
            ColumnNaming::SnakeCase => snake(camel),
        }
    }

    /// Rewrites a query written in the camelCase, marker form for this database.
    pub(super) fn sql(&self, text: &str) -> String {
        let named = if self.naming == ColumnNaming::SnakeCase {
            rewrite_quoted(text, snake)
        } else {
            text.to_owned()
        };
        let out = self.expand_markers(&named);
        if self.backend == Backend::MySql {
            out.replace(r"escape '\'", r"escape '\\'")
        } else {
            out
        }
    }

    fn expand_markers(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 32);
        let mut rest = text;
        loop {
            let next = [("@ts(", true), ("@rts(", false)]
                .iter()
                .filter_map(|(m, is_param)| rest.find(m).map(|i| (i, *m, *is_param)))
                .min_by_key(|(i, _, _)| *i);
            let Some((at, marker, is_param)) = next else {
                out.push_str(rest);
                return out;
            };
            out.push_str(&rest[..at]);
            let after = &rest[at + marker.len()..];
            let Some(close) = after.find(')') else {
                out.push_str(&rest[at..]);
                return out;
            };
            let arg = &after[..close];
            match (self.backend, is_param) {
                (Backend::Sqlite, _) => out.push_str(arg),
                (Backend::Postgres, true) => {
                    out.push_str(arg);
                    out.push_str("::timestamptz");
                }
                (Backend::MySql, true) => {
                    // ISO text (`2026-11-23T08:49:06.382Z`) as a `datetime(3)` value in UTC
                    // (the connection's time zone is `+00:00`, sqlx's default).
                    out.push_str("cast(replace(replace(");
                    out.push_str(arg);
                    out.push_str(", 'T', ' '), 'Z', '') as datetime(3))");
                }
                (Backend::MySql, false) => {
                    out.push_str("concat(left(date_format(");
                    out.push_str(arg);
                    out.push_str(", '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z')");
                }
                (Backend::Postgres, false) => {
                    // The cast makes `timestamp` columns (older Better Auth schemas) read back
                    // what `::timestamptz` wrote, whatever the session's time zone.
                    out.push_str("to_char((");
                    out.push_str(arg);
                    out.push_str(
                        ")::timestamptz at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
                    );
                }
            }
            rest = &after[close + 1..];
        }
    }
}

/// Applies `f` to the inside of every `"quoted"` identifier (single-quoted strings are left
/// alone).
pub(crate) fn rewrite_quoted(text: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut ident_start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match (c, in_string, ident_start) {
            ('\'', false, None) => {
                in_string = true;
                out.push(c);
            }
            ('\'', true, None) => {
                in_string = false;
                out.push(c);
            }
            ('"', false, None) => ident_start = Some(i + 1),
            ('"', false, Some(start)) => {
                out.push('"');
                out.push_str(&f(&text[start..i]));
                out.push('"');
                ident_start = None;
            }
            (_, _, Some(_)) => {}
            _ => out.push(c),
        }
    }
    if let Some(start) = ident_start {
        out.push('"');
        out.push_str(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_rewrites_quoted_identifiers_only() {
        let d = Dialect {
            backend: Backend::Sqlite,
            naming: ColumnNaming::SnakeCase,
        };
        assert_eq!(
            d.sql(r#"select "emailVerified" from "user" where "banReason" = 'aB"c' and x = $1"#),
            r#"select "email_verified" from "user" where "ban_reason" = 'aB"c' and x = $1"#
        );
        assert_eq!(snake("attioIntegration"), "attio_integration");
    }

    #[test]
    fn timestamp_markers() {
        let pg = Dialect {
            backend: Backend::Postgres,
            naming: ColumnNaming::CamelCase,
        };
        assert_eq!(
            pg.sql(r#"select @rts("createdAt") where "expiresAt" > @ts($2)"#),
            "select to_char((\"createdAt\")::timestamptz at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') where \"expiresAt\" > $2::timestamptz"
        );
        let lite = Dialect {
            backend: Backend::Sqlite,
            naming: ColumnNaming::SnakeCase,
        };
        assert_eq!(
            lite.sql(r#"select @rts("createdAt") where "expiresAt" > @ts($2)"#),
            r#"select "created_at" where "expires_at" > $2"#
        );
        let my = Dialect {
            backend: Backend::MySql,
            naming: ColumnNaming::CamelCase,
        };
        assert_eq!(
            my.sql(r#"select @rts("createdAt") where "expiresAt" > @ts($2) and x like $1 escape '\'"#),
            r#"select concat(left(date_format("createdAt", '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z') where "expiresAt" > cast(replace(replace($2, 'T', ' '), 'Z', '') as datetime(3)) and x like $1 escape '\\'"#
        );
    }
}
