//! Impersonation: `impersonate` (signed, from the Attio app) makes a short-lived session of
//! the target user, recorded with `impersonatedBy`, and a single-use handoff token valid 5
//! minutes; `GET impersonation-session?token=` (opened by the admin's browser, rate
//! limited) consumes the token once, sets the session cookie and redirects.

use super::endpoint;
use crate::auth::Ctx;
use crate::error::{PluginError, PluginResult};
use crate::plugin::PluginState;
use crate::store::NewSession;
use attio_auth_shared::actions::{ErrorBody, ImpersonateRequest, ImpersonateResponse};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;

endpoint!(impersonate, ImpersonateRequest, do_impersonate);

/// Prefix of the handoff token's `verification` row (the original's).
const TOKEN_PREFIX: &str = "attio-impersonation:";

async fn do_impersonate(ctx: Ctx, req: ImpersonateRequest) -> PluginResult<ImpersonateResponse> {
    ctx.st.require_admin()?;
    let store = &ctx.st.store;
    let cfg = &ctx.st.config;
    let admin = store
        .user_by_email(req.admin_email.trim())
        .await?
        .ok_or_else(|| PluginError::not_found("ADMIN_NOT_FOUND", "Admin user not found"))?;
    if !admin.has_role_in(&cfg.admin_roles) || super::users::ban_in_force(&admin) {
        return Err(PluginError::forbidden(
            "NOT_ALLOWED_TO_IMPERSONATE",
            "User cannot impersonate other users",
        ));
    }
    let target = store
        .user(&req.target_user_id)
        .await?
        .ok_or_else(|| PluginError::not_found("TARGET_NOT_FOUND", "Target user not found"))?;
    if target.has_role_in(&cfg.admin_roles) && !cfg.allow_impersonating_admins {
        return Err(PluginError::forbidden(
            "CANNOT_IMPERSONATE_ADMIN",
            "User cannot impersonate administrators",
        ));
    }
    // A ban ends sessions; it must not let a new one begin. The original refuses here too
    // (Better Auth's session hook, answered 500); a ban that has run out is lifted instead,
    // as that hook lifts it.
    let target = super::users::lift_expired_ban(&ctx.st, target).await?;
    if super::users::ban_in_force(&target) {
        return Err(PluginError::forbidden(
            "USER_BANNED",
            "The user is banned: a banned user cannot be impersonated",
        ));
    }
    let now = crate::time::now_iso();
    let session_token = crate::ids::token(32);
    store
        .create_session(NewSession {
            id: crate::ids::new_id(),
            token: session_token.clone(),
            user_id: target.id.clone(),
            expires_at: crate::time::iso_in(cfg.impersonation_duration_secs),
            now: now.clone(),
            ip_address: None,
            user_agent: ctx.header("user-agent"),
            impersonated_by: Some(admin.id.clone()),
        })
        .await?;
    let handoff = crate::ids::token(32);
    store
        .create_verification(
            &format!("{TOKEN_PREFIX}{handoff}"),
            &session_token,
            &crate::time::iso_in(cfg.impersonation_link_ttl_secs),
            &now,
        )
        .await?;
    tracing::info!(admin = %admin.id, target = %target.id, "attio plugin: impersonation link issued");
    Ok(ImpersonateResponse {
        success: true,
        url: cfg.base_url.as_ref().map(|_| {
            ctx.st
                .url(&format!("/attio/impersonation-session?token={handoff}"))
        }),
        session_token: handoff,
    })
}

/// The cookie value Better Auth sets: `token.base64(HMAC-SHA256(secret, token))`,
/// URI-encoded; the bare token without a cookie secret.
fn cookie_value(st: &PluginState, token: &str) -> String {
    sign_cookie(st.config.cookie_secret.as_ref(), token)
}

fn sign_cookie(secret: Option<&secrecy::SecretString>, token: &str) -> String {
    let Some(secret) = secret else {
        return token.to_owned();
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) else {
        return token.to_owned();
    };
    mac.update(token.as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    format!("{token}.{sig}")
        .replace('%', "%25")
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// The session token in a cookie value (signed or not), checked when signed.
fn cookie_token(st: &PluginState, raw: &str) -> Option<String> {
    let decoded = raw
        .replace("%2B", "+")
        .replace("%2F", "/")
        .replace("%3D", "=")
        .replace("%25", "%");
    let (token, _) = decoded.split_once('.').unwrap_or((decoded.as_str(), ""));
    if st.config.cookie_secret.is_some() && cookie_value(st, token) != raw {
        return None;
    }
    Some(token.to_owned())
}

fn request_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn redirect(location: &str, cookies: Vec<String>) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// `GET impersonation-session?token=...`.
pub(crate) async fn impersonation_session(
    State(st): State<Arc<PluginState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(token) = query.get("token").filter(|t| !t.is_empty()) else {
        return PluginError::Validation(
            "[query.token] Invalid input: expected string, received undefined".to_owned(),
        )
        .into_response();
    };
    let client = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .unwrap_or("direct")
        .trim()
        .to_owned();
    if !st.limiter.allow(&client, crate::time::now_unix()) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(ErrorBody::new("RATE_LIMITED", "Too many requests")),
        )
            .into_response();
    }
    match open_session(&st, &headers, token).await {
        Ok(Some(cookies)) => redirect(&st.config.impersonation_redirect, cookies),
        Ok(None) => redirect(
            &format!(
                "{}?error=invalid_or_used_session",
                st.config.impersonation_redirect
            ),
            Vec::new(),
        ),
        Err(e) => e.into_response(),
    }
}

/// Consumes the handoff token; the cookies to set, `None` for an unknown, used or expired
/// token.
async fn open_session(
    st: &PluginState,
    headers: &HeaderMap,
    token: &str,
) -> PluginResult<Option<Vec<String>>> {
    let now = crate::time::now_iso();
    let Some(session_token) = st
        .store
        .consume_verification(&format!("{TOKEN_PREFIX}{token}"), &now)
        .await?
    else {
        return Ok(None);
    };
    let Some(session) = st.store.session_by_token(&session_token).await? else {
        return Ok(None);
    };
    // The browser takes the session up: record where from, as the original does.
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
    };
    st.store
        .touch_session(
            &session.token,
            header("x-forwarded-for").as_deref(),
            header("user-agent").as_deref(),
            &now,
        )
        .await?;
    let cfg = &st.config;
    let secure = if cfg
        .base_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
    {
        "; Secure"
    } else {
        ""
    };
    let name = &cfg.session_cookie_name;
    let admin_cookie = name.replace("session_token", "admin_session");
    // Keep the admin's own session (to return to) only when this browser's session is the
    // impersonating admin's.
    let mut admin_value = None;
    if let Some(raw) = request_cookie(headers, name)
        && let Some(current) = cookie_token(st, &raw)
        && let Some(current_session) = st.store.session_by_token(&current).await?
        && session.impersonated_by.as_deref() == Some(current_session.user_id.as_str())
    {
        admin_value = Some(raw);
    }
    let max_age = crate::time::parse_iso(&session.expires_at)
        .map(|e| (e - time::OffsetDateTime::now_utc()).whole_seconds().max(0))
        .unwrap_or(0);
    let mut cookies = vec![match admin_value {
        Some(v) => format!("{admin_cookie}={v}; Path=/; HttpOnly; SameSite=Lax{secure}"),
        None => format!("{admin_cookie}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax{secure}"),
    }];
    cookies.push(format!(
        "{name}={}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}",
        cookie_value(st, &session.token)
    ));
    Ok(Some(cookies))
}

#[cfg(test)]
mod tests {
    /// The cookie the original set in transcript 078, signed with the recording's
    /// BETTER_AUTH_SECRET (transcript 900).
    #[test]
    fn cookie_is_signed_like_better_auth() {
        let secret = secrecy::SecretString::from(
            "peer-better-auth-secret-0123456789abcdef0123456789abcdef".to_owned(),
        );
        assert_eq!(
            super::sign_cookie(Some(&secret), "zb5MfRILcgORBpyMV8iTXFze9HvWWCkm"),
            "zb5MfRILcgORBpyMV8iTXFze9HvWWCkm.ALXF0a9JW8wORxJrLvIp%2BOK0KRLX%2BGrw5FOmapgCDgI%3D"
        );
        assert_eq!(super::sign_cookie(None, "tok"), "tok");
    }
}
