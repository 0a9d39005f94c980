//! Impersonation: `impersonate` (signed, from the Attio app) makes a short-lived session of
//! the target user, recorded with `impersonatedBy`, and a single-use handoff token valid 5
//! minutes; `GET impersonation-session?token=` (opened by the admin's browser, rate
//! limited) consumes the token once, sets the session cookie and redirects.

use crate::auth::Ctx;
use crate::error::{PluginError, PluginResult};
use crate::state::PluginState;
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
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Prefix of the handoff token's `verification` row (the original's).
const TOKEN_PREFIX: &str = "attio-impersonation:";

pub(crate) async fn impersonate(
    ctx: Ctx,
    req: ImpersonateRequest,
) -> PluginResult<ImpersonateResponse> {
    ctx.st.require_admin()?;
    let store = &ctx.st.store;
    let cfg = &ctx.st.config;
    let admin = store
        .user_by_email(req.admin_email.trim())
        .await?
        .ok_or_else(|| PluginError::not_found("ADMIN_NOT_FOUND", "Admin user not found"))?;
    if !admin.has_role_in(&cfg.admin_roles) || super::common::ban_in_force(&admin) {
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
    let target = super::common::lift_expired_ban(&ctx.st, target).await?;
    if super::common::ban_in_force(&target) {
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

/// What `encodeURIComponent` leaves alone (Better Auth encodes signed cookies with it).
const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Better Auth's `session.expiresIn` default (7 days): the Max-Age its session-token cookie
/// attributes carry, which the original gives the `admin_session` cookie.
const ADMIN_COOKIE_MAX_AGE: i64 = 7 * 24 * 3600;

/// HMAC-SHA256 of `value` under the cookie secret, base64 (Better Auth's signed cookies).
fn cookie_signature(secret: &secrecy::SecretString, value: &str) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).ok()?;
    mac.update(value.as_bytes());
    Some(STANDARD.encode(mac.finalize().into_bytes()))
}

/// The cookie value Better Auth sets: `encodeURIComponent(value + "." + signature)`; the
/// value alone (encoded) without a cookie secret.
fn sign_cookie(secret: Option<&secrecy::SecretString>, value: &str) -> String {
    let signed = match secret.and_then(|s| cookie_signature(s, value)) {
        Some(sig) => format!("{value}.{sig}"),
        None => value.to_owned(),
    };
    percent_encoding::utf8_percent_encode(&signed, URI_COMPONENT).to_string()
}

fn cookie_value(st: &PluginState, value: &str) -> String {
    sign_cookie(st.config.cookie_secret.as_ref(), value)
}

/// The value of a cookie this auth server set: with a cookie secret, only when its
/// signature is right (compared in constant time); without one, the value as sent.
fn verified_cookie(secret: Option<&secrecy::SecretString>, raw: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?
        .into_owned();
    let Some(secret) = secret else {
        return Some(decoded);
    };
    let (value, sig) = decoded.rsplit_once('.')?;
    let expected = cookie_signature(secret, value)?;
    bool::from(expected.as_bytes().ct_eq(sig.as_bytes())).then(|| value.to_owned())
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

/// Who the limiter counts a request against: the peer address, or, when the peer is a
/// trusted proxy, the nearest `X-Forwarded-For` entry that is not one (anyone can write
/// the header; only the network sets the peer). Without a known peer (the host serves
/// without connect info) every request shares one key.
fn client_key(trusted: &[ipnet::IpNet], peer: Option<IpAddr>, headers: &HeaderMap) -> String {
    let Some(peer) = peer else {
        return "unknown-peer".to_owned();
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    for entry in forwarded.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return ip.to_string(),
            // Not an address: whatever the client wrote, bounded, is its key.
            Err(_) => return entry.chars().take(64).collect(),
        }
    }
    peer.to_string()
}

/// How opening a handoff token ended, in the original's redirect codes.
enum Opened {
    /// The cookies to set.
    Session(Vec<String>),
    /// Unknown, used or expired token: `invalid_or_used_session`.
    UsedOrUnknown,
    /// The token's session is gone (revoked) or is not an impersonation: `invalid_session`.
    InvalidSession,
}

/// `GET impersonation-session?token=...`.
pub(crate) async fn impersonation_session(
    State(st): State<Arc<PluginState>>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    // Only a missing token is a validation error (the original's zod `z.string()`); an
    // empty one is a token that opens nothing.
    let Some(token) = query.get("token") else {
        return PluginError::Validation(
            "[query.token] Invalid input: expected string, received undefined".to_owned(),
        )
        .into_response();
    };
    let peer = extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client = client_key(&st.config.trusted_proxies, peer, &headers);
    if let Err(retry_after) = st.limiter.check(&client, crate::time::now_unix()) {
        let mut resp = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(ErrorBody::new("RATE_LIMITED", "Too many requests")),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let error = |code: &str| {
        redirect(
            &format!("{}?error={code}", st.config.impersonation_redirect),
            Vec::new(),
        )
    };
    match open_session(&st, &headers, token).await {
        Ok(Opened::Session(cookies)) => redirect(&st.config.impersonation_redirect, cookies),
        Ok(Opened::UsedOrUnknown) => error("invalid_or_used_session"),
        Ok(Opened::InvalidSession) => error("invalid_session"),
        Err(e) => {
            tracing::error!(error = %e, "attio plugin: impersonation session could not be opened");
            error("session_failed")
        }
    }
}

/// Consumes the handoff token and makes the cookies the original sets.
async fn open_session(st: &PluginState, headers: &HeaderMap, token: &str) -> PluginResult<Opened> {
    let now = crate::time::now_iso();
    let Some(session_token) = st
        .store
        .consume_verification(&format!("{TOKEN_PREFIX}{token}"), &now)
        .await?
    else {
        return Ok(Opened::UsedOrUnknown);
    };
    let Some(session) = st
        .store
        .session_by_token(&session_token)
        .await?
        .filter(|s| s.impersonated_by.is_some())
    else {
        return Ok(Opened::InvalidSession);
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
    let sibling = |which: &str| {
        if name.contains("session_token") {
            name.replace("session_token", which)
        } else {
            format!("{name}_{which}")
        }
    };
    let (admin_name, data_name, dont_name) = (
        sibling("admin_session"),
        sibling("session_data"),
        sibling("dont_remember"),
    );
    let secret = cfg.cookie_secret.as_ref();
    // Keep the admin's own session (to return to) only when this browser's session is the
    // impersonating admin's, in Better Auth's form `token:dontRemember`.
    let mut admin_value = None;
    if let Some(current) =
        request_cookie(headers, name).and_then(|raw| verified_cookie(secret, &raw))
        && let Some(current_session) = st.store.session_by_token(&current).await?
        && crate::time::parse_iso(&current_session.expires_at)
            .is_some_and(|e| e > chrono::Utc::now())
        && session.impersonated_by.as_deref() == Some(current_session.user_id.as_str())
    {
        let dont_remember = request_cookie(headers, &dont_name)
            .and_then(|raw| verified_cookie(secret, &raw))
            .unwrap_or_default();
        admin_value = Some(cookie_value(st, &format!("{current}:{dont_remember}")));
    }
    let attrs = format!("Path=/; HttpOnly; SameSite=Lax{secure}");
    let expire = |cookie: &str| format!("{cookie}=; Max-Age=0; {attrs}");
    // The original's cookies in its order: the admin cookie, the old session's cookies
    // cleared, then the impersonation session as a browser-session cookie (no Max-Age:
    // it ends with the browser) with Better Auth's `dont_remember` marker.
    Ok(Opened::Session(vec![
        match admin_value {
            Some(v) => format!("{admin_name}={v}; Max-Age={ADMIN_COOKIE_MAX_AGE}; {attrs}"),
            None => expire(&admin_name),
        },
        expire(name),
        expire(&data_name),
        expire(&dont_name),
        format!("{name}={}; {attrs}", cookie_value(st, &session.token)),
        format!("{dont_name}={}; {attrs}", cookie_value(st, "true")),
    ]))
}

#[cfg(test)]
mod tests {
    /// The cookies the original set in transcripts 078 and 081, signed with the
    /// recording's BETTER_AUTH_SECRET (transcript 900).
    #[test]
    fn cookie_is_signed_like_better_auth() {
        let secret = secrecy::SecretString::from(
            "peer-better-auth-secret-0123456789abcdef0123456789abcdef".to_owned(),
        );
        let session =
            "zb5MfRILcgORBpyMV8iTXFze9HvWWCkm.ALXF0a9JW8wORxJrLvIp%2BOK0KRLX%2BGrw5FOmapgCDgI%3D";
        assert_eq!(
            super::sign_cookie(Some(&secret), "zb5MfRILcgORBpyMV8iTXFze9HvWWCkm"),
            session
        );
        assert_eq!(
            super::sign_cookie(Some(&secret), "true"),
            "true.guYAjGQTU1aGcrI5VKbz5j3NPm75PvPHnCTht%2Fo5mV4%3D"
        );
        assert_eq!(
            super::sign_cookie(Some(&secret), "OxN2vCPp5eY9zAafuybaQv9eBYRvbV5J:"),
            "OxN2vCPp5eY9zAafuybaQv9eBYRvbV5J%3A.COzgfgbJIUQ31DeXpyw%2FJfpuSzdsOOaZrcLKU4RcNoc%3D"
        );
        assert_eq!(super::sign_cookie(None, "tok"), "tok");
        // reading back: the signature is checked
        assert_eq!(
            super::verified_cookie(Some(&secret), session).as_deref(),
            Some("zb5MfRILcgORBpyMV8iTXFze9HvWWCkm")
        );
        let forged = session.replace("ALXF", "BLXF");
        assert_eq!(super::verified_cookie(Some(&secret), &forged), None);
        assert_eq!(
            super::verified_cookie(Some(&secret), "zb5MfRILcgORBpyMV8iTXFze9HvWWCkm"),
            None
        );
        assert_eq!(super::verified_cookie(None, "tok").as_deref(), Some("tok"));
    }

    #[test]
    fn limiter_keys_on_the_peer_unless_it_is_a_trusted_proxy() {
        use axum::http::HeaderMap;
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.23, 10.0.0.2"
                .parse()
                .expect("header"),
        );
        let peer = Some("10.0.0.1".parse().expect("ip"));
        assert_eq!(super::client_key(&[], peer, &h), "10.0.0.1");
        let proxies = ["10.0.0.0/8".parse().expect("net")];
        assert_eq!(super::client_key(&proxies, peer, &h), "198.51.100.23");
        let other = Some("192.0.2.1".parse().expect("ip"));
        assert_eq!(super::client_key(&proxies, other, &h), "192.0.2.1");
        assert_eq!(super::client_key(&proxies, None, &h), "unknown-peer");
        assert_eq!(
            super::client_key(&proxies, peer, &HeaderMap::new()),
            "10.0.0.1"
        );
    }
}
