//! The plugin's own migrations: tracked in `attio_plugin_migrations` (never the host's
//! `_sqlx_migrations`), idempotent, refusing an edited migration, adopting a database the
//! original TypeScript plugin used, and dates that survive a non-UTC PostgreSQL session.

use crate::common;
use attio_auth_plugin::store::{AuthStore, BanUpdate, SqlxStore, StoreError};
use sqlx::Row;

#[tokio::test]
async fn sqlite_adopts_the_original_plugins_database() {
    let dir = tempfile::tempdir().unwrap();
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("orig.db"))
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    // The schema Better Auth + the original plugin created (attioId columns and
    // attioIntegration already there).
    let schema = include_str!("../peer/schema.sql");
    for stmt in schema
        .split(";\n")
        .filter(|s| s.trim_start().starts_with("CREATE"))
    {
        sqlx::query(stmt).execute(&pool).await.unwrap();
    }
    let store = SqlxStore::sqlite(pool.clone());
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar(r#"select "version" from "attio_plugin_migrations" order by 1"#)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(versions, vec![1, 2, 3, 4]);
    let sqlx_table: Option<String> =
        sqlx::query_scalar("select name from sqlite_master where name = '_sqlx_migrations'")
            .fetch_optional(&pool)
            .await
            .unwrap();
    assert!(sqlx_table.is_none());
    let f = store.features();
    assert!(f.admin && f.organizations);
    // an edited migration is refused
    sqlx::query(r#"update "attio_plugin_migrations" set "checksum" = 'x' where "version" = 1"#)
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        store.migrate().await,
        Err(StoreError::Migration(_))
    ));
}

/// MariaDB: the plugin's migrations are tracked and checked as on the other databases, a
/// database whose `user` table already has the original plugin's `attioId` is adopted, and
/// features are detected from information_schema.
#[tokio::test]
async fn mariadb_migrations_are_tracked_adopt_and_refuse_edits() {
    let pool = common::mysql_pool().await;
    sqlx::query(
        "create table `user` (`id` varchar(255) not null primary key, `name` text not null, \
         `email` varchar(255) not null unique, `emailVerified` boolean not null, `image` text, \
         `createdAt` datetime(3) not null, `updatedAt` datetime(3) not null, \
         `attioId` varchar(255) unique)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let store = SqlxStore::mysql(pool.clone());
    store.install_better_auth_schema(true).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("select `version` from `attio_plugin_migrations` order by 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(versions, vec![1, 2, 3, 4]);
    let f = store.features();
    // the adopted `user` table has no admin columns
    assert!(!f.admin && f.organizations, "{f:?}");
    sqlx::query("update `attio_plugin_migrations` set `checksum` = 'x' where `version` = 1")
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        store.migrate().await,
        Err(StoreError::Migration(_))
    ));
    // the migration lock was released: another connection takes it at once
    let free: i64 = sqlx::query_scalar("select is_free_lock('attio_plugin_migrations')")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(free, 1);
}

#[tokio::test]
async fn sqlite_without_organizations_or_admin() {
    let dir = tempfile::tempdir().unwrap();
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("plain.db"))
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    for stmt in [
        r#"create table "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" date not null, "updatedAt" date not null)"#,
        r#"create table "session" ("id" text not null primary key, "expiresAt" date not null, "token" text not null unique, "createdAt" date not null, "updatedAt" date not null, "ipAddress" text, "userAgent" text, "userId" text not null)"#,
        r#"create table "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" date not null, "createdAt" date not null, "updatedAt" date not null)"#,
    ] {
        sqlx::query(stmt).execute(&pool).await.unwrap();
    }
    let store = SqlxStore::sqlite(pool);
    store.migrate().await.unwrap();
    let f = store.features();
    assert!(!f.admin && !f.organizations);
}

#[tokio::test]
async fn postgres_dates_survive_a_non_utc_session() {
    dates_in_tokyo("timestamptz").await;
    // older Better Auth schemas: `timestamp` without time zone
    dates_in_tokyo("timestamp").await;
}

async fn dates_in_tokyo(date_type: &str) {
    let pool = common::pg_pool().await;
    let db: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let url = std::env::var("TEST_POSTGRES_URL").unwrap();
    let opts: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    // sqlx asks for UTC sessions; a host may not.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::query("set timezone to 'Asia/Tokyo'")
                    .execute(conn)
                    .await
                    .map(|_| ())
            })
        })
        .connect_with(opts.database(&db))
        .await
        .unwrap();
    let tz: String = sqlx::query("show timezone")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(tz, "Asia/Tokyo");
    let store = SqlxStore::postgres(pool);
    let schema =
        include_str!("../../schema/better-auth.postgres.sql").replace("timestamptz", date_type);
    for stmt in schema
        .split(";\n")
        .map(|s| {
            s.lines()
                .filter(|l| !l.starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|s| {
            s.trim().starts_with("create")
                && !s.contains("organization")
                && !s.contains("\"member\"")
                && !s.contains("invitation")
        })
    {
        sqlx::query(&stmt)
            .execute(store.postgres_pool().unwrap())
            .await
            .unwrap();
    }
    store.migrate().await.unwrap();
    let now = "2026-11-23T08:49:05.741Z".to_owned();
    store
        .create_user(
            attio_auth_plugin::store::NewUser {
                id: "u1".into(),
                name: "U".into(),
                email: "u@example.com".into(),
                email_verified: false,
                image: None,
                role: None,
                attio_id: None,
                now: now.clone(),
            },
            None,
        )
        .await
        .unwrap();
    let until = "2030-01-02T03:04:05.678Z".to_owned();
    let user = store
        .set_ban(
            "u1",
            BanUpdate {
                banned: true,
                reason: None,
                expires: Some(until.clone()),
                now: now.clone(),
            },
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.created_at, now, "{date_type}");
    assert_eq!(user.ban_expires.as_deref(), Some(until.as_str()));
}
