//! The session store of the backend's browser flows (the OAuth install flow and the
//! console): one table, `browser_sessions`, in the backend's own database, through the same
//! pool and the same `$1` SQL as the rest of the service.
//!
//! Why not `tower-sessions-sqlx-store`: it needs a second, typed pool (its queries use
//! sqlx's SQLite and PostgreSQL types, the service uses the `Any` driver), and it turns on
//! sqlx's default features, among them `macros`, which makes every build compile sqlx's
//! drivers and SQLite's C source a second time for the compiler. The store is four queries.
//!
//! A row: the session id (tower-sessions' random 128-bit id, as it prints it), the record
//! as JSON (the session's data and expiry; for the install flow the connection string in it
//! is encrypted before it is stored, see [`crate::oauth`]), and the expiry in unix
//! milliseconds, so that loading and pruning compare integers.

use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

use crate::clock::now_ms;
use crate::db::Db;

/// How often expired sessions are deleted.
const DELETE_EXPIRED_EVERY: Duration = Duration::from_secs(300);

/// The store: the backend's pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BrowserSessions {
    db: Db,
}

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn expires_ms(record: &Record) -> i64 {
    i64::try_from(record.expiry_date.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(record).map_err(|e| session_store::Error::Encode(e.to_string()))
}

impl BrowserSessions {
    /// The store over `db` (its table comes with the backend's migrations).
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Deletes expired sessions every few minutes until `shutdown`.
    pub fn spawn_deletion(&self, shutdown: CancellationToken) {
        let store = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(DELETE_EXPIRED_EVERY);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = every.tick() => {
                        if let Err(e) = store.delete_expired().await {
                            tracing::warn!(error = %e, "could not delete expired browser sessions");
                        }
                    }
                }
            }
        });
    }
}

#[async_trait]
impl SessionStore for BrowserSessions {
    /// Inserts a new session; on the (astronomically unlikely) collision of its random id
    /// with a stored one, draws a new id instead of overwriting someone else's session.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let inserted = sqlx::query(
                "insert into browser_sessions (id, data, expires_at) values ($1, $2, $3) \
                 on conflict (id) do nothing",
            )
            .bind(record.id.to_string())
            .bind(encode(record)?)
            .bind(expires_ms(record))
            .execute(&self.db.pool)
            .await
            .map_err(backend)?
            .rows_affected();
            if inserted == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        sqlx::query(
            "insert into browser_sessions (id, data, expires_at) values ($1, $2, $3) \
             on conflict (id) do update set data = excluded.data, \
             expires_at = excluded.expires_at",
        )
        .bind(record.id.to_string())
        .bind(encode(record)?)
        .bind(expires_ms(record))
        .execute(&self.db.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let data: Option<String> = sqlx::query_scalar(
            "select data from browser_sessions where id = $1 and expires_at > $2",
        )
        .bind(session_id.to_string())
        .bind(now_ms())
        .fetch_optional(&self.db.pool)
        .await
        .map_err(backend)?;
        data.map(|d| {
            serde_json::from_str(&d).map_err(|e| session_store::Error::Decode(e.to_string()))
        })
        .transpose()
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        sqlx::query("delete from browser_sessions where id = $1")
            .bind(session_id.to_string())
            .execute(&self.db.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for BrowserSessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sqlx::query("delete from browser_sessions where expires_at <= $1")
            .bind(now_ms())
            .execute(&self.db.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tower_sessions::cookie::time::{Duration as TimeDuration, OffsetDateTime};

    async fn store() -> (BrowserSessions, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
        let db = Db::connect(&url, 1).await.expect("database");
        (BrowserSessions::new(db), dir)
    }

    fn record(expires_in: TimeDuration) -> Record {
        let mut data = HashMap::new();
        data.insert("k".to_owned(), serde_json::json!({"v": [1, 2]}));
        Record {
            id: Id::default(),
            data,
            expiry_date: OffsetDateTime::now_utc() + expires_in,
        }
    }

    #[tokio::test]
    async fn saved_sessions_load_until_they_expire_and_go_when_deleted() {
        let (store, _dir) = store().await;
        let mut live = record(TimeDuration::minutes(5));
        store.create(&mut live).await.expect("create");
        assert_eq!(
            store.load(&live.id).await.expect("load"),
            Some(live.clone())
        );

        live.data.insert("more".into(), serde_json::json!("x"));
        store.save(&live).await.expect("save");
        assert_eq!(
            store.load(&live.id).await.expect("load"),
            Some(live.clone())
        );

        let mut old = record(TimeDuration::seconds(-1));
        store.create(&mut old).await.expect("create");
        assert_eq!(store.load(&old.id).await.expect("load"), None, "expired");
        store.delete_expired().await.expect("prune");
        let left: i64 = sqlx::query_scalar("select count(*) from browser_sessions")
            .fetch_one(&store.db.pool)
            .await
            .expect("count");
        assert_eq!(left, 1, "only the live session is left");

        store.delete(&live.id).await.expect("delete");
        assert_eq!(store.load(&live.id).await.expect("load"), None);
    }

    #[tokio::test]
    async fn create_never_overwrites_a_stored_session() {
        let (store, _dir) = store().await;
        let mut first = record(TimeDuration::minutes(5));
        store.create(&mut first).await.expect("create");
        let mut second = record(TimeDuration::minutes(5));
        second.id = first.id;
        second.data.insert("other".into(), serde_json::json!(true));
        store.create(&mut second).await.expect("create");
        assert_ne!(second.id, first.id, "a new id was drawn");
        assert_eq!(
            store.load(&first.id).await.expect("load"),
            Some(first.clone())
        );
        assert_eq!(store.load(&second.id).await.expect("load"), Some(second));
    }
}
