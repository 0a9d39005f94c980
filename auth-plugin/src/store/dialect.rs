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

    /// Rewrites a query written in the camelCase, marker form for this database, with
    /// every date column in the backend's native storage.
    #[cfg(test)]
    pub(super) fn sql(&self, text: &str) -> String {
        self.sql_with(text, &DateColumns::default())
    }

    /// Rewrites a query written in the camelCase, marker form for this database, with the
    /// date columns stored as `dates` says.
    pub(super) fn sql_with(&self, text: &str, dates: &DateColumns) -> String {
        let named = if self.naming == ColumnNaming::SnakeCase {
            rewrite_quoted(text, snake)
        } else {
            text.to_owned()
        };
        let out = self.expand_markers(&named, dates);
        if self.backend == Backend::MySql {
            out.replace(r"escape '\'", r"escape '\\'")
        } else {
            out
        }
    }

    fn expand_markers(&self, text: &str, dates: &DateColumns) -> String {
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
            // `table.column, expr` names the column (its storage), or just `expr`.
            let (storage, arg) = match after[..close].split_once(", ") {
                Some((key, expr)) => (dates.storage(key), expr),
                None => (DateStorage::Native, &after[..close]),
            };
            out.push_str(&self.date_expr(storage, is_param, arg));
            rest = &after[close + 1..];
        }
    }

    /// `arg` (an ISO-8601 text parameter when `is_param`, else a stored column) converted:
    /// a parameter to the column's storage, a column to ISO-8601 text with milliseconds.
    fn date_expr(&self, storage: DateStorage, is_param: bool, arg: &str) -> String {
        use DateStorage::{Millis, Native, Seconds};
        match (self.backend, storage, is_param) {
            // SQLite's native dates are ISO text, which compares correctly as text.
            (Backend::Sqlite, Native, _) => arg.to_owned(),
            (Backend::Sqlite, Seconds, true) => format!("cast(strftime('%s', {arg}) as integer)"),
            (Backend::Sqlite, Millis, true) => {
                format!("cast(round((julianday({arg}) - 2440587.5) * 86400000.0) as integer)")
            }
            (Backend::Sqlite, Seconds, false) => {
                format!("strftime('%Y-%m-%dT%H:%M:%fZ', {arg}, 'unixepoch')")
            }
            (Backend::Sqlite, Millis, false) => {
                format!("strftime('%Y-%m-%dT%H:%M:%fZ', {arg} / 1000.0, 'unixepoch')")
            }
            (Backend::Postgres, Native, true) => format!("{arg}::timestamptz"),
            (Backend::Postgres, Seconds, true) => {
                format!("floor(extract(epoch from {arg}::timestamptz))::bigint")
            }
            (Backend::Postgres, Millis, true) => {
                format!("round(extract(epoch from {arg}::timestamptz) * 1000)::bigint")
            }
            // The cast makes `timestamp` columns (older Better Auth schemas) read back what
            // `::timestamptz` wrote, whatever the session's time zone.
            (Backend::Postgres, Native, false) => format!(
                "to_char(({arg})::timestamptz at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            ),
            (Backend::Postgres, Seconds, false) => format!(
                "to_char(to_timestamp({arg}) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            ),
            (Backend::Postgres, Millis, false) => format!(
                "to_char(to_timestamp({arg} / 1000.0) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            ),
            // ISO text (`2026-11-23T08:49:06.382Z`) as a `datetime(3)` value in UTC (the
            // connection's time zone is `+00:00`, sqlx's default).
            (Backend::MySql, Native, true) => {
                format!("cast(replace(replace({arg}, 'T', ' '), 'Z', '') as datetime(3))")
            }
            (Backend::MySql, Seconds, true) => format!(
                "floor(unix_timestamp(cast(replace(replace({arg}, 'T', ' '), 'Z', '') as datetime(3))))"
            ),
            (Backend::MySql, Millis, true) => format!(
                "round(unix_timestamp(cast(replace(replace({arg}, 'T', ' '), 'Z', '') as datetime(3))) * 1000)"
            ),
            (Backend::MySql, Native, false) => {
                format!("concat(left(date_format({arg}, '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z')")
            }
            (Backend::MySql, Seconds, false) => format!(
                "concat(left(date_format(from_unixtime({arg}), '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z')"
            ),
            (Backend::MySql, Millis, false) => format!(
                "concat(left(date_format(from_unixtime({arg} / 1000), '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z')"
            ),
        }
    }
}

/// How a date column stores its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateStorage {
    /// The backend's own: ISO-8601 text on SQLite (Better Auth's Kysely adapter),
    /// `timestamptz`/`timestamp` on PostgreSQL, `datetime`/`timestamp` on MySQL.
    Native,
    /// An integer of seconds since the Unix epoch (Drizzle's `integer(..., { mode:
    /// 'timestamp' })`, Cloudflare D1).
    Seconds,
    /// An integer of milliseconds since the Unix epoch (Drizzle's `mode: 'timestamp_ms'`).
    Millis,
}

/// The date columns whose storage is not the backend's native one, by `table.column`
/// (camelCase), as the store detected them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DateColumns(pub std::collections::BTreeMap<String, DateStorage>);

impl DateColumns {
    pub(crate) fn storage(&self, key: &str) -> DateStorage {
        self.0.get(key).copied().unwrap_or(DateStorage::Native)
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
            pg.sql(r#"select @rts(user.createdAt, "createdAt") where "expiresAt" > @ts($2)"#),
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
            my.sql(
                r#"select @rts("createdAt") where "expiresAt" > @ts($2) and x like $1 escape '\'"#
            ),
            r#"select concat(left(date_format("createdAt", '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z') where "expiresAt" > cast(replace(replace($2, 'T', ' '), 'Z', '') as datetime(3)) and x like $1 escape '\\'"#
        );
    }
}

#[cfg(test)]
mod storage_tests {
    use super::*;

    #[test]
    fn integer_dates_convert_both_ways() {
        let lite = Dialect {
            backend: Backend::Sqlite,
            naming: ColumnNaming::SnakeCase,
        };
        let mut dates = DateColumns::default();
        dates
            .0
            .insert("user.createdAt".into(), DateStorage::Seconds);
        dates
            .0
            .insert("session.expiresAt".into(), DateStorage::Millis);
        assert_eq!(
            lite.sql_with(
                r#"select @rts(user.createdAt, u."createdAt") from "user" u where @ts(session.expiresAt, $1) > @ts(user.createdAt, $2) and @ts(user.updatedAt, $3) is null"#,
                &dates
            ),
            r#"select strftime('%Y-%m-%dT%H:%M:%fZ', u."created_at", 'unixepoch') from "user" u where cast(round((julianday($1) - 2440587.5) * 86400000.0) as integer) > cast(strftime('%s', $2) as integer) and $3 is null"#
        );
    }
}
