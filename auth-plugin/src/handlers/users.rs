//! Users: `user-details`, `update-ban-status`, `send-password-reset`, `search-users`,
//! `create-user`.

use super::endpoint;
use crate::auth::Ctx;
use crate::error::{Feature, PluginError, PluginResult};
use crate::mailer::PasswordResetEmail;
use crate::plugin::PluginState;
use crate::store::{BanUpdate, NewUser, User};
use crate::sync::Origin;
use attio_auth_shared::actions::{
    CreateUserRequest, CreateUserResponse, SearchUsersRequest, SearchUsersResponse,
    SendPasswordResetRequest, SendPasswordResetResponse, SuccessResponse, UpdateBanStatusRequest,
    UserDetailsRequest, UserDetailsResponse, UserRecord, UserSummary,
};

endpoint!(user_details, UserDetailsRequest, do_user_details);
endpoint!(
    update_ban_status,
    UpdateBanStatusRequest,
    do_update_ban_status
);
endpoint!(
    send_password_reset,
    SendPasswordResetRequest,
    do_send_password_reset
);
endpoint!(search_users, SearchUsersRequest, do_search_users);
endpoint!(create_user, CreateUserRequest, do_create_user);

/// How many users `search-users` answers at most (the original's 50).
const SEARCH_LIMIT: u32 = 50;

fn user_not_found() -> PluginError {
    PluginError::not_found("USER_NOT_FOUND", "User not found")
}

/// Whether a stored ban is in force now (an expired ban no longer counts, as Better Auth
/// lifts it at the next sign-in).
pub(crate) fn ban_in_force(user: &User) -> bool {
    if user.banned != Some(true) {
        return false;
    }
    match user.ban_expires.as_deref().and_then(crate::time::parse_iso) {
        Some(until) => until > time::OffsetDateTime::now_utc(),
        None => true,
    }
}

/// The user with a ban that has run out lifted in the database, as Better Auth's admin plugin
/// lifts it when it next touches the user: every endpoint that looks at one user's ban sees
/// an expired ban as no ban, and the row (and Attio, through the reported change) agrees.
pub(crate) async fn lift_expired_ban(st: &PluginState, user: User) -> PluginResult<User> {
    if user.banned != Some(true) || user.ban_expires.is_none() || ban_in_force(&user) {
        return Ok(user);
    }
    match st
        .store
        .lift_expired_ban(&user.id, &crate::time::now_iso(), st.report(Origin::Auth))
        .await?
    {
        Some(lifted) => {
            tracing::info!(user = %lifted.id, "attio plugin: expired ban lifted");
            Ok(lifted)
        }
        // Changed meanwhile (banned again, unbanned, deleted): what is stored now counts.
        None => Ok(st.store.user(&user.id).await?.unwrap_or(user)),
    }
}

/// A user as the protocol reports it.
pub(crate) fn user_record(u: &User) -> UserRecord {
    UserRecord {
        id: u.id.clone(),
        email: u.email.clone(),
        name: u.name.clone(),
        email_verified: u.email_verified,
        image: u.image.clone(),
        role: u.role.clone(),
        banned: ban_in_force(u),
        attio_id: u.attio_id.clone(),
        created_at: u.created_at.clone(),
        updated_at: u.updated_at.clone(),
    }
}

async fn do_user_details(ctx: Ctx, req: UserDetailsRequest) -> PluginResult<UserDetailsResponse> {
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

async fn do_update_ban_status(
    ctx: Ctx,
    req: UpdateBanStatusRequest,
) -> PluginResult<SuccessResponse> {
    ctx.st.require_admin()?;
    // The original answered 500 to an unparsable date after writing nothing; say why.
    let expires = match (&req.ban_expires, req.ban_expires_in) {
        (Some(at), _) => Some(crate::time::iso(crate::time::parse_iso(at).ok_or_else(
            || {
                PluginError::Validation(
                    "[body.banExpires] Invalid input: expected an ISO 8601 date-time".to_owned(),
                )
            },
        )?)),
        (None, Some(secs)) if secs > 0 => Some(crate::time::iso_in(secs)),
        (None, Some(_)) => {
            return Err(PluginError::Validation(
                "[body.banExpiresIn] Invalid input: expected a positive number of seconds"
                    .to_owned(),
            ));
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

async fn do_send_password_reset(
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

async fn do_search_users(ctx: Ctx, req: SearchUsersRequest) -> PluginResult<SearchUsersResponse> {
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

async fn do_create_user(ctx: Ctx, req: CreateUserRequest) -> PluginResult<CreateUserResponse> {
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
