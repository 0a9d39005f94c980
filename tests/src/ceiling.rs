//! The comparison benchmark's ceiling: `user-details`, `sessions` and `search-users` as a
//! bare axum route would serve them, with no plugin around it. Each route parses the same
//! legacy body, compares the secret, runs the very SQL text our store sends to SQLite for
//! that endpoint (Better Auth's SQLite layout: ISO text dates, camelCase columns) on the
//! same pool, and answers the same JSON (the shared response types). What it leaves out is
//! what the plugin adds: the protocol checks (content type, origin, field validation),
//! the rate limiter, the dialect rewriting, the store trait, the sync drain and the panic
//! layer. Our figures divided by these are "ours as a fraction of the ceiling".

use attio_auth_shared::actions::{
    SearchUsersResponse, SessionInfo, SessionsResponse, UserDetailsResponse, UserSummary,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use sqlx::Row;
use sqlx::sqlite::SqlitePool;
use std::sync::Arc;

/// The user row as the store selects it (text dates, admin columns).
const USER_SQL: &str = r#"select "id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "role", "banned", "banReason", "banExpires", "attioId" from "user" where "id" = $1"#;

/// A user's sessions as the store selects them (admin and organization columns).
const SESSIONS_SQL: &str = r#"select s."id", s."token", s."userId", s."expiresAt", s."createdAt", s."updatedAt", s."ipAddress", s."userAgent", s."impersonatedBy", a."name", s."activeOrganizationId" from "session" s left join "user" a on a."id" = s."impersonatedBy" where s."userId" = $1 order by s."createdAt" desc, s."id" desc"#;

/// `search-users` as the store runs it on SQLite: the matches aggregated into one JSON row.
const SEARCH_SQL: &str = r#"select json_group_array(json("j") order by "k1" desc, "k2" desc) from (select json_array("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "role", "banned", "banReason", "banExpires", "attioId") as "j", "createdAt" as "k1", "id" as "k2" from "user" where lower("email") like $1 escape '\' order by "createdAt" desc, "id" desc limit $2)"#;

/// What the routes share.
struct Ceiling {
    pool: SqlitePool,
    secret: String,
}

/// The ceiling's routes under `{base}/attio/{user-details,sessions,search-users}`.
pub fn router(pool: SqlitePool, secret: &str, base: &str) -> Router {
    let st = Arc::new(Ceiling {
        pool,
        secret: secret.to_owned(),
    });
    Router::new()
        .route(&format!("{base}/attio/user-details"), post(user_details))
        .route(&format!("{base}/attio/sessions"), post(sessions))
        .route(&format!("{base}/attio/search-users"), post(search_users))
        .with_state(st)
}

/// Checks that the database holds what the ceiling's SQL expects (text dates): the
/// ceiling would otherwise run other SQL than the store.
pub async fn check_layout(pool: &SqlitePool) -> anyhow::Result<()> {
    let kinds: Vec<String> = sqlx::query_scalar(
        r#"select distinct typeof("createdAt") from "user" union select distinct typeof("expiresAt") from "session""#,
    )
    .fetch_all(pool)
    .await?;
    if kinds.iter().any(|k| k != "text") {
        anyhow::bail!("the ceiling expects ISO text dates, the database holds {kinds:?}");
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ByUser {
    secret: String,
    user_id: String,
}

#[derive(Deserialize)]
struct Search {
    secret: String,
    search: String,
}

fn fail(status: StatusCode) -> Response {
    status.into_response()
}

fn db_error(e: sqlx::Error) -> Response {
    tracing::error!(error = %e, "ceiling: query failed");
    fail(StatusCode::INTERNAL_SERVER_ERROR)
}

fn in_future(iso: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(iso).is_ok_and(|t| t > now)
}

async fn user_details(State(st): State<Arc<Ceiling>>, Json(req): Json<ByUser>) -> Response {
    if req.secret != st.secret {
        return fail(StatusCode::UNAUTHORIZED);
    }
    let row = match sqlx::query(USER_SQL)
        .bind(&req.user_id)
        .fetch_optional(&st.pool)
        .await
    {
        Ok(Some(row)) => row,
        Ok(None) => return fail(StatusCode::NOT_FOUND),
        Err(e) => return db_error(e),
    };
    let banned_flag: Option<bool> = row.try_get(8).unwrap_or(None);
    let expires: Option<String> = row.try_get(10).unwrap_or(None);
    let banned = banned_flag == Some(true)
        && expires
            .as_deref()
            .is_none_or(|e| in_future(e, chrono::Utc::now()));
    Json(UserDetailsResponse {
        banned,
        banned_until: if banned { expires } else { None },
        ban_reason: if banned {
            row.try_get(9).unwrap_or(None)
        } else {
            None
        },
        role: row.try_get(7).unwrap_or(None),
    })
    .into_response()
}

async fn sessions(State(st): State<Arc<Ceiling>>, Json(req): Json<ByUser>) -> Response {
    if req.secret != st.secret {
        return fail(StatusCode::UNAUTHORIZED);
    }
    // The same two reads as ours: the user (whose expired ban ours would lift), then the
    // sessions.
    if let Err(e) = sqlx::query(USER_SQL)
        .bind(&req.user_id)
        .fetch_optional(&st.pool)
        .await
    {
        return db_error(e);
    }
    let rows = match sqlx::query(SESSIONS_SQL)
        .bind(&req.user_id)
        .fetch_all(&st.pool)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return db_error(e),
    };
    let now = chrono::Utc::now();
    let text = |r: &sqlx::sqlite::SqliteRow, i: usize| -> Option<String> {
        r.try_get::<Option<String>, _>(i).unwrap_or(None)
    };
    let sessions: Vec<SessionInfo> = rows
        .iter()
        .map(|r| SessionInfo {
            id: text(r, 0).unwrap_or_default(),
            token: text(r, 1),
            user_id: text(r, 2).unwrap_or_default(),
            expires_at: text(r, 3).unwrap_or_default(),
            created_at: text(r, 4).unwrap_or_default(),
            updated_at: text(r, 5).unwrap_or_default(),
            ip_address: text(r, 6).unwrap_or_default(),
            user_agent: text(r, 7).unwrap_or_default(),
            impersonated_by: text(r, 8).map(|id| text(r, 9).unwrap_or(id)),
            active_organization_id: text(r, 10),
        })
        .collect();
    let active = sessions
        .iter()
        .filter(|s| in_future(&s.expires_at, now))
        .count();
    Json(SessionsResponse {
        total_count: sessions.len() as u64,
        active_count: active as u64,
        sessions,
    })
    .into_response()
}

fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

async fn search_users(State(st): State<Arc<Ceiling>>, Json(req): Json<Search>) -> Response {
    if req.secret != st.secret {
        return fail(StatusCode::UNAUTHORIZED);
    }
    let text: Option<String> = match sqlx::query_scalar(SEARCH_SQL)
        .bind(like_literal(&req.search.to_lowercase()))
        .bind(50_i64)
        .fetch_optional(&st.pool)
        .await
    {
        Ok(t) => t,
        Err(e) => return db_error(e),
    };
    let rows: Vec<Vec<serde_json::Value>> = match text.as_deref().map(serde_json::from_str) {
        Some(Ok(rows)) => rows,
        None => Vec::new(),
        Some(Err(_)) => return fail(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let s = |r: &[serde_json::Value], i: usize| {
        r.get(i)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    Json(SearchUsersResponse {
        users: rows
            .iter()
            .map(|r| UserSummary {
                id: s(r, 0).unwrap_or_default(),
                name: s(r, 1).unwrap_or_default(),
                email: s(r, 2).unwrap_or_default(),
                image: s(r, 4),
            })
            .collect(),
    })
    .into_response()
}
