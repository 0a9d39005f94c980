use super::like_literal;
use super::{AuthStore, NewSession, NewUser, SessionRef, SqlxStore};

/// The aggregated SQLite search answers exactly what the row-by-row query does: same
/// users, same order (ties on createdAt by id), same nulls, flags and text.
#[tokio::test]
async fn sqlite_search_matches_the_row_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = sqlx::sqlite::SqlitePool::connect_with(SqlxStore::sqlite_options(
        dir.path().join("auth.db"),
    ))
    .await
    .expect("pool");
    let store = SqlxStore::sqlite(pool);
    store
        .install_better_auth_schema(false)
        .await
        .expect("schema");
    store.migrate().await.expect("migrate");
    for (i, name) in ["Zoë \"Q\" O'Brien", "b\\c", "plain", "Ünïcode ✓", "x"]
        .iter()
        .enumerate()
    {
        store
            .create_user(
                NewUser {
                    id: format!("u{i}"),
                    name: (*name).to_owned(),
                    email: format!("User{i}@Example.com"),
                    email_verified: i % 2 == 0,
                    image: (i % 3 == 0).then(|| format!("https://img/{i}")),
                    role: (i != 1).then(|| "user".to_owned()),
                    attio_id: (i == 2).then(|| "rec".to_owned()),
                    now: format!("2026-01-0{}T00:00:00.000Z", 1 + i % 2),
                },
                None,
            )
            .await
            .expect("user");
    }
    store
        .exec(
            r#"update "user" set "banned" = 1, "banReason" = 'r', "banExpires" = '2030-01-01T00:00:00.000Z' where "id" = 'u3'"#,
            vec![],
        )
        .await
        .expect("ban");
    for (text, limit) in [("example", 20), ("USER", 3), ("nobody", 20), ("1@", 20)] {
        let sql = format!(
            r#"select {} from "user" where lower("email") like $1 escape '\' order by "createdAt" desc, "id" desc limit $2"#,
            store.user_cols("")
        );
        let rows = store
            .all(
                &sql,
                vec![
                    super::P::S(super::like_literal(&text.to_lowercase())),
                    super::P::I(limit),
                ],
            )
            .await
            .expect("row query");
        let expected: Vec<_> = rows
            .iter()
            .map(|r| format!("{:?}", SqlxStore::user_from(r).expect("row")))
            .collect();
        let got: Vec<_> = store
            .search_users(text, u32::try_from(limit).expect("limit"))
            .await
            .expect("search")
            .iter()
            .map(|u| format!("{u:?}"))
            .collect();
        assert_eq!(got, expected, "search {text:?}");
    }
}

/// Many concurrent writers through the write gate on a pool of several connections: every
/// write lands, none fails with SQLITE_BUSY, and reads run beside them.
#[tokio::test]
async fn concurrent_sqlite_writes_queue_and_all_land() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(SqlxStore::sqlite_options(dir.path().join("auth.db")))
        .await
        .expect("pool");
    let store = SqlxStore::sqlite(pool);
    store
        .install_better_auth_schema(false)
        .await
        .expect("schema");
    store.migrate().await.expect("migrate");
    let now = "2026-01-01T00:00:00.000Z".to_owned();
    store
        .create_user(
            NewUser {
                id: "u1".into(),
                name: "U".into(),
                email: "u1@example.com".into(),
                email_verified: false,
                image: None,
                role: None,
                attio_id: None,
                now: now.clone(),
            },
            None,
        )
        .await
        .expect("user");
    let mut writers = tokio::task::JoinSet::new();
    for i in 0..64 {
        let (store, now) = (store.clone(), now.clone());
        writers.spawn(async move {
            store
                .create_session(NewSession {
                    id: format!("s{i}"),
                    token: format!("t{i}"),
                    user_id: "u1".into(),
                    expires_at: "2099-01-01T00:00:00.000Z".into(),
                    now,
                    ip_address: None,
                    user_agent: None,
                    impersonated_by: None,
                })
                .await
                .expect("create session");
            store.sessions("u1").await.expect("read beside writes");
            store
                .delete_session(SessionRef::Token(&format!("t{i}")))
                .await
                .expect("delete session")
        });
    }
    while let Some(deleted) = writers.join_next().await {
        assert!(deleted.expect("writer task"));
    }
    assert!(store.sessions("u1").await.expect("sessions").is_empty());
}

#[test]
fn like_wildcards_are_escaped() {
    assert_eq!(like_literal("a%b_c\\"), "%a\\%b\\_c\\\\%");
}
