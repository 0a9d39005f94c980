//! Sessions: the cookie (`better-auth.session_token`, the bare token, as the plugin expects
//! by default) or a bearer token, the signed-in user of a request, sign-in and sign-out.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;

use super::error::ApiError;
use super::passwords::{hash_password, password_matches};
use super::state::AppState;
use super::store::{Db, P, Tx, iso, now_iso, on_db, random_id};
use super::users::{USER_COLUMNS, UserRow, user_from};

pub(super) const COOKIE_NAME: &str = "better-auth.session_token";
const SESSION_DAYS: i64 = 7;

/// The signed-in user, from the session cookie (or `Authorization: Bearer <token>`).
pub(super) struct CurrentUser {
    pub(super) user: UserRow,
    pub(super) token: String,
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        // A Better Auth signed cookie is `token.signature`: the token is the first part.
        .map(|(_, v)| v.split('.').next().unwrap_or(v).to_owned())
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        current_user(state, &parts.headers).await?.ok_or_else(|| {
            ApiError::Status(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "not signed in".into(),
            )
        })
    }
}

/// The user of the request's session, if it is valid.
async fn current_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<CurrentUser>, ApiError> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    let sql = format!(
        "select {USER_COLUMNS} from \"session\" s join \"user\" u on u.\"id\" = s.\"userId\" \
         where s.\"token\" = $1 and s.\"expiresAt\" > @ts($2) \
         and (u.\"banned\" is null or u.\"banned\" = $3)"
    );
    let sql = state.db.sql(&sql);
    let now = now_iso();
    let user = on_db!(&state.db, |p| sqlx::query(&sql)
        .bind(&token)
        .bind(&now)
        .bind(false)
        .fetch_optional(p)
        .await?
        .map(|r| user_from(&r))
        .transpose()?);
    Ok(user.map(|user| CurrentUser { user, token }))
}

fn session_cookie(token: &str, max_age_secs: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// Opens a session for the user; its token.
pub(super) async fn new_session(
    tx: &mut Tx,
    db: &Db,
    user_id: &str,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let token = random_id();
    let now = chrono::Utc::now();
    let expires = now + chrono::TimeDelta::days(SESSION_DAYS);
    let ua = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    tx.exec(
        &db.sql(
            "insert into \"session\" (\"id\", \"expiresAt\", \"token\", \"createdAt\", \"updatedAt\", \
             \"ipAddress\", \"userAgent\", \"userId\") \
             values ($1, @ts($2), $3, @ts($4), @ts($4), $5, $6, $7)",
        ),
        vec![
            P::S(random_id()),
            P::S(iso(expires)),
            P::S(token.clone()),
            P::S(iso(now)),
            P::O(Some("127.0.0.1".into())),
            P::O(ua),
            P::S(user_id.to_owned()),
        ],
    )
    .await?;
    Ok(token)
}

/// A JSON answer that sets the session cookie.
pub(super) fn with_cookie(token: &str, body: Value) -> Response {
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(SET_COOKIE, session_cookie(token, SESSION_DAYS * 86400));
    resp
}

#[derive(Deserialize)]
pub(super) struct SignIn {
    email: String,
    password: String,
}

pub(super) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<SignIn>,
) -> Result<Response, ApiError> {
    let invalid = || {
        ApiError::Status(
            StatusCode::UNAUTHORIZED,
            "INVALID_EMAIL_OR_PASSWORD",
            "Invalid email or password".into(),
        )
    };
    let email = body.email.trim().to_lowercase();
    let sql = state.db.sql(&format!(
        "select {USER_COLUMNS}, a.\"password\", u.\"banned\" from \"user\" u \
         join \"account\" a on a.\"userId\" = u.\"id\" and a.\"providerId\" = 'credential' \
         where u.\"email\" = $1"
    ));
    let found = on_db!(&state.db, |p| {
        match sqlx::query(&sql).bind(&email).fetch_optional(p).await? {
            Some(r) => Some((
                user_from(&r)?,
                r.try_get::<Option<String>, _>(7)?,
                r.try_get::<Option<bool>, _>(8)?,
            )),
            None => None,
        }
    });
    let Some((user, Some(hash), banned)) = found else {
        // Same work as a real check, so timing does not tell which emails exist.
        let _ = hash_password(&body.password);
        return Err(invalid());
    };
    if !password_matches(&body.password, &hash) {
        return Err(invalid());
    }
    if banned == Some(true) {
        return Err(ApiError::Status(
            StatusCode::FORBIDDEN,
            "BANNED_USER",
            "You have been banned from this application".into(),
        ));
    }
    let mut tx = state.begin().await?;
    let token = new_session(&mut tx, &state.db, &user.id, &headers).await?;
    tx.commit().await?;
    Ok(with_cookie(
        &token,
        json!({"redirect": false, "token": token, "user": user.json()}),
    ))
}

pub(super) async fn get_session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(match current_user(&state, &headers).await? {
        Some(me) => {
            json!({"session": {"token": me.token, "userId": me.user.id}, "user": me.user.json()})
        }
        None => Value::Null,
    }))
}

pub(super) async fn sign_out(
    State(state): State<AppState>,
    me: CurrentUser,
) -> Result<Response, ApiError> {
    let sql = "delete from \"session\" where \"token\" = $1";
    on_db!(&state.db, |p| sqlx::query(sql)
        .bind(&me.token)
        .execute(p)
        .await
        .map(|_| ()))?;
    let mut resp = Json(json!({"success": true})).into_response();
    resp.headers_mut().insert(SET_COOKIE, session_cookie("", 0));
    Ok(resp)
}
