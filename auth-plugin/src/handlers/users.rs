//! Users: `user-details`, `update-ban-status`, `send-password-reset`, `search-users`,
//! `create-user`.

use super::common::{ban_in_force, lift_expired_ban, user_record};
use crate::auth::Ctx;
use crate::error::{Feature, PluginError, PluginResult};
use crate::mailer::PasswordResetEmail;
use crate::store::{BanUpdate, NewUser};
use crate::sync::Origin;
use attio_auth_shared::actions::{
    CreateUserRequest, CreateUserResponse, SearchUsersRequest, SearchUsersResponse,
    SendPasswordResetRequest, SendPasswordResetResponse, SuccessResponse, UpdateBanStatusRequest,
    UserDetailsRequest, UserDetailsResponse, UserSummary,
};

/// The longest `banExpiresIn` (100 years): beyond it a ban is meant to be permanent, and
/// the bound keeps the date arithmetic far from overflowing.
const MAX_BAN_EXPIRES_IN_SECS: i64 = 100 * 365 * 24 * 3600;

/// How many users `search-users` answers at most (the original's 50).
const SEARCH_LIMIT: u32 = 50;

fn user_not_found() -> PluginError {
    PluginError::not_found("USER_NOT_FOUND", "User not found")
}

pub(crate) async fn user_details(
    ctx: Ctx,
    req: UserDetailsRequest,
) -> PluginResult<UserDetailsResponse> {
    ctx.st.require_admin()?;
    let user = ctx
        .st
        .store
        .user(&req.user_id)
        .await?
        .ok_or_else(user_not_found)?;
    let user = lift_expired_ban(&ctx.st, user).await?;
    let banned = ban_in_force(&user);
    Ok(UserDetailsResponse {
        banned,
        banned_until: if banned {
            user.ban_expires.clone()
        } else {
            None
        },
        ban_reason: if banned {
            user.ban_reason.clone()
        } else {
            None
        },
        role: user.role,
    })
}

pub(crate) async fn update_ban_status(
    ctx: Ctx,
    req: UpdateBanStatusRequest,
) -> PluginResult<SuccessResponse> {
    ctx.st.require_admin()?;
    // `banExpires` is read as the original's `new Date(text)` reads ISO 8601; `""` means no
    // expiry, as there. An unparsable date (the original: 500) or one beyond what the store
    // holds is a 400 that says which.
    let at = req.ban_expires.as_deref().filter(|at| !at.is_empty());
    let expires = match (at, req.ban_expires_in) {
        (Some(at), _) => Some(crate::time::iso(crate::time::parse_js_iso(at).map_err(
            |e| match e {
                crate::time::DateError::Invalid => PluginError::Validation(
                    "[body.banExpires] Invalid input: expected an ISO 8601 date (2030-01-01, 2030-06-01T12:00:00Z; without an offset it is UTC)"
                        .to_owned(),
                ),
                crate::time::DateError::OutOfRange => PluginError::Validation(
                    "[body.banExpires] Invalid input: the date is outside the range this auth server can store (0001-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z)"
                        .to_owned(),
                ),
            },
        )?)),
        (None, Some(secs)) => {
            let until = (1..=MAX_BAN_EXPIRES_IN_SECS)
                .contains(&secs)
                .then(|| crate::time::in_seconds(secs))
                .flatten()
                .ok_or_else(|| {
                    PluginError::Validation(format!(
                        "[body.banExpiresIn] Invalid input: expected a number of seconds from 1 to {MAX_BAN_EXPIRES_IN_SECS} (100 years); leave it out for a ban without end"
                    ))
                })?;
            Some(crate::time::iso(until))
        }
        (None, None) => None,
    };
    let ban = BanUpdate {
        banned: req.banned,
        reason: req.ban_reason.filter(|r| !r.trim().is_empty()),
        expires,
        now: crate::time::now_iso(),
    };
    // A ban also ends every session of the user (the original left them running).
    let user = ctx
        .st
        .store
        .set_ban(&req.user_id, ban, ctx.st.report(Origin::Auth))
        .await?
        .ok_or_else(user_not_found)?;
    tracing::info!(user = %user.id, banned = req.banned, "attio plugin: ban status updated");
    Ok(SuccessResponse::OK)
}

/// `application/x-www-form-urlencoded`-style escaping of a query value.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) async fn send_password_reset(
    ctx: Ctx,
    req: SendPasswordResetRequest,
) -> PluginResult<SendPasswordResetResponse> {
    let Some(mailer) = ctx.st.mailer.clone() else {
        return Err(PluginError::NotImplemented(Feature::Mailer));
    };
    let user = ctx
        .st
        .store
        .user(&req.user_id)
        .await?
        .filter(|u| !u.email.is_empty())
        .ok_or_else(|| {
            PluginError::not_found("USER_NOT_FOUND", "User not found or has no email address")
        })?;
    let token = crate::ids::token(24);
    let identifier = format!("reset-password:{token}");
    let cfg = &ctx.st.config;
    ctx.st
        .store
        .create_verification(
            &identifier,
            &user.id,
            &crate::time::iso_in(cfg.password_reset_ttl_secs),
            &crate::time::now_iso(),
        )
        .await?;
    let url = ctx.st.url(&format!(
        "/reset-password/{token}?callbackURL={}",
        query_escape(&cfg.password_reset_redirect)
    ));
    let mail = PasswordResetEmail {
        to: user.email.clone(),
        user_id: user.id.clone(),
        user_name: user.name.clone(),
        url,
        token,
    };
    if let Err(e) = mailer.send_password_reset(mail).await {
        // No mail, no usable token: remove it.
        let _ = ctx
            .st
            .store
            .consume_verification(&identifier, &crate::time::now_iso())
            .await;
        return Err(PluginError::Mail(e.0));
    }
    Ok(SendPasswordResetResponse {
        success: true,
        message: "Password reset email sent successfully".to_owned(),
    })
}

pub(crate) async fn search_users(
    ctx: Ctx,
    req: SearchUsersRequest,
) -> PluginResult<SearchUsersResponse> {
    let users = ctx
        .st
        .store
        // Taken as sent, as the original: `" zoe_ "` finds only emails containing it.
        .search_users(&req.search, SEARCH_LIMIT)
        .await?;
    Ok(SearchUsersResponse {
        users: users
            .into_iter()
            .map(|u| UserSummary {
                id: u.id,
                email: u.email,
                name: u.name,
                image: u.image,
            })
            .collect(),
    })
}

pub(crate) async fn create_user(
    ctx: Ctx,
    req: CreateUserRequest,
) -> PluginResult<CreateUserResponse> {
    let email = req.email.trim().to_lowercase();
    let name = req.name.trim().to_owned();
    if name.is_empty() {
        return Err(PluginError::Validation(
            "[body.name] Invalid input: expected a non-empty name".to_owned(),
        ));
    }
    let admin = ctx.st.store.features().admin;
    if req.role.is_some() && !admin {
        return Err(PluginError::NotImplemented(Feature::Admin));
    }
    if ctx.st.store.user_by_email(&email).await?.is_some() {
        return Err(PluginError::Conflict {
            code: "USER_EXISTS",
            message: "A user with this email already exists".to_owned(),
        });
    }
    let user = ctx
        .st
        .store
        .create_user(
            NewUser {
                id: crate::ids::new_id(),
                name,
                email,
                email_verified: req.email_verified.unwrap_or(false),
                image: req.image,
                // Users created from Attio get the default role (the original left it empty).
                role: if admin {
                    Some(req.role.unwrap_or_else(|| "user".to_owned()))
                } else {
                    None
                },
                attio_id: req.attio_id,
                now: crate::time::now_iso(),
            },
            ctx.st.report(Origin::Auth),
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => PluginError::Conflict {
                code: "USER_EXISTS",
                message: "A user with this email or Attio record already exists".to_owned(),
            },
            other => PluginError::Store(other),
        })?;
    Ok(CreateUserResponse {
        success: true,
        user: user_record(&user),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_escape_matches_the_originals_link() {
        assert_eq!(super::query_escape("/reset-password"), "%2Freset-password");
    }
}
