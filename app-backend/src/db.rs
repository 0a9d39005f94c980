//! Storage: one sqlx pool over SQLite (default, a file under `./data`) or PostgreSQL
//! (`DATABASE_URL=postgres://...`), chosen at run time through sqlx's `Any` driver, and the
//! migrations of `migrations/{sqlite,postgres}` (of this crate) run at start-up.
//!
//! SQL is written once with `$1` placeholders, which both databases accept; the few
//! statements that differ (the job queue's row locking) branch on [`Db::kind`].

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::error::{Error, Result};

/// The migrations, embedded as `(file name, text)`: one list of names for both folders,
/// `SQLITE_FILES` from `migrations/sqlite` and `POSTGRES_FILES` from `migrations/postgres`
/// (the two are kept in step: a name missing from either folder does not compile).
macro_rules! migration_files {
    ($($file:literal),+ $(,)?) => {
        const SQLITE_FILES: &[(&str, &str)] =
            &[$(($file, include_str!(concat!("../migrations/sqlite/", $file)))),+];
        const POSTGRES_FILES: &[(&str, &str)] =
            &[$(($file, include_str!(concat!("../migrations/postgres/", $file)))),+];
    };
}

// In order. A new migration is one more name here (and a file in each folder);
// `embedded_migrations_are_their_folders` fails while a file of a folder is not listed.
migration_files!(
    "0001_initial.sql",
    "0002_events_and_echo.sql",
    "0003_job_keys.sql",
    "0004_attio_install.sql",
    "0007_event_token_hash.sql",
    "0008_fair_queue_audit_retention.sql",
    "0010_tenant_bounds.sql",
    "0011_audit_reason.sql",
    "0014_console.sql",
    "0018_queue_claim.sql",
    "0019_browser_sessions.sql",
);

/// The migrator of embedded files, built as `sqlx::migrate!` builds it (sqlx's own rules:
/// version and description from `<VERSION>_<DESCRIPTION>.sql`, `-- no-transaction`, the
/// SHA-384 checksum of the text), so databases migrated by earlier builds see the same
/// checksums. Not the macro itself: sqlx's `macros` feature makes every build compile
/// sqlx's database drivers, and SQLite's C source, a second time for the compiler (about
/// 130 s of CPU per build on the CI machine).
fn embedded_migrator(files: &'static [(&'static str, &'static str)]) -> Migrator {
    use sqlx::migrate::{Migration, MigrationType};
    let migrations = files
        .iter()
        .map(|(name, sql)| {
            let (version, rest) = name.split_once('_').unwrap_or((name, ""));
            let migration_type = MigrationType::from_filename(rest);
            let description = rest
                .trim_end_matches(migration_type.suffix())
                .replace('_', " ");
            Migration::new(
                // The names are this file's constants, checked by a unit test.
                version.parse().unwrap_or_default(),
                description.into(),
                migration_type,
                (*sql).into(),
                sql.starts_with("-- no-transaction"),
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: migrations.into(),
        ..Migrator::DEFAULT
    }
}

static SQLITE_MIGRATIONS: std::sync::LazyLock<Migrator> =
    std::sync::LazyLock::new(|| embedded_migrator(SQLITE_FILES));
static POSTGRES_MIGRATIONS: std::sync::LazyLock<Migrator> =
    std::sync::LazyLock::new(|| embedded_migrator(POSTGRES_FILES));

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// SQLite: one process (the queue is claimed under SQLite's single writer).
    Sqlite,
    /// PostgreSQL: several instances may share it (`FOR UPDATE SKIP LOCKED`).
    Postgres,
}

/// The pool and its kind. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    /// The connection pool.
    pub pool: AnyPool,
    /// SQLite or PostgreSQL.
    pub kind: DbKind,
}

impl Db {
    /// Connect to `url` (creating the SQLite file and its directory when needed) and run the
    /// migrations of that database.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        install_default_drivers();
        let kind = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DbKind::Postgres
        } else if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else {
            return Err(Error::Config(
                "DATABASE_URL must start with sqlite: or postgres://".into(),
            ));
        };
        if kind == DbKind::Sqlite
            && let Some(path) = sqlite_path(url)
        {
            if let Some(parent) = path.parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)?;
            }
            private_file(path)?;
        }
        // SQLite has one writer: several connections would wait on each other through
        // SQLite's busy handler (sleeps of milliseconds); one connection queues them in
        // process instead, which is much faster for our short statements.
        let max_connections = match kind {
            DbKind::Sqlite => 1,
            DbKind::Postgres => max_connections,
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10));
        if kind == DbKind::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    // WAL + NORMAL: a crash of the process loses nothing; only an OS crash
                    // or power loss may lose the last commits (not corrupt the file). Each
                    // commit would otherwise wait for an fsync.
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            });
        }
        if kind == DbKind::Postgres {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    // Plan each prepared statement once. PostgreSQL otherwise plans the
                    // queue's claim (a recursive CTE) again with its parameters' values at
                    // each of the first executions and whenever its generic plan looks
                    // costlier, and planning it cost about as much as running it. The
                    // backend's statements go through indexes by ids and times, where the
                    // generic plan is the custom one. The queue benchmark (1M finished jobs,
                    // 100k queued): claim p50 3.73 -> 1.84 ms, p99 5.71 -> 4.53 ms, four
                    // workers 382 -> 631 jobs/s.
                    conn.execute("set plan_cache_mode = force_generic_plan")
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        let migrator: &Migrator = match kind {
            DbKind::Sqlite => &SQLITE_MIGRATIONS,
            DbKind::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;
        Ok(Db { pool, kind })
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Create the SQLite file readable by its owner only (it holds every tenant's data), and
/// tighten an existing one and its WAL files. SQLite gives the WAL and shared-memory files
/// it creates the database file's mode.
#[cfg(unix)]
fn private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(name.into());
    }
    for file in files {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            tracing::warn!(
                path = %file.display(),
                "database file was readable by others; now 0600"
            );
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_file(_path: &Path) -> Result<()> {
    Ok(())
}

/// The file path of a `sqlite://path?...` / `sqlite:path` URL (none for in-memory).
pub(crate) fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(Path::new(path))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The embedded lists hold every file of their folder, in order, and give what sqlx's
    /// own reader of the folder gives (`Migrator::new`, the reader `sqlx::migrate!` uses):
    /// versions, descriptions, types, texts, checksums and `no_tx`.
    #[tokio::test]
    async fn embedded_migrations_are_their_folders() {
        for (dir, embedded) in [
            ("sqlite", &*SQLITE_MIGRATIONS),
            ("postgres", &*POSTGRES_MIGRATIONS),
        ] {
            let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let read = Migrator::new(folder).await.expect("sqlx reads the folder");
            let key = |m: &sqlx::migrate::Migration| {
                (
                    m.version,
                    m.description.to_string(),
                    m.migration_type,
                    m.sql.to_string(),
                    m.checksum.to_vec(),
                    m.no_tx,
                )
            };
            let want: Vec<_> = read.migrations.iter().map(key).collect();
            let got: Vec<_> = embedded.migrations.iter().map(key).collect();
            assert_eq!(
                got.len(),
                want.len(),
                "{dir}: a file is missing from the list"
            );
            assert_eq!(got, want, "{dir}");
            assert!(want.iter().all(|m| m.0 > 0), "{dir}: versions parsed");
        }
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://./data/a.db?mode=rwc"),
            Some(Path::new("./data/a.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }
}
