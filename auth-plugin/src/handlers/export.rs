//! `export`: every user, then every organization with its members, a page at a time, for
//! the backend's backfill. The cursor is opaque to callers: `u:<last user id>` or
//! `o:<last organization id>` (`o:` = organizations from the start).

use super::common::user_record;
use crate::auth::Ctx;
use crate::error::{PluginError, PluginResult};
use attio_auth_shared::actions::{ExportRequest, ExportResponse, MemberRecord, OrganizationRecord};

enum Cursor {
    Users(Option<String>),
    Organizations(Option<String>),
}

fn parse_cursor(c: Option<&str>) -> PluginResult<Cursor> {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    match c {
        None | Some("") => Ok(Cursor::Users(None)),
        Some(c) => match c.split_once(':') {
            Some(("u", rest)) => Ok(Cursor::Users(non_empty(rest))),
            Some(("o", rest)) => Ok(Cursor::Organizations(non_empty(rest))),
            _ => Err(PluginError::bad_request(
                "INVALID_CURSOR",
                "Unknown export cursor",
            )),
        },
    }
}

pub(crate) async fn export(ctx: Ctx, req: ExportRequest) -> PluginResult<ExportResponse> {
    let limit = req.page_size();
    let orgs_enabled = ctx.st.store.features().organizations;
    let mut users = Vec::new();
    let mut organizations = Vec::new();
    let mut next = None;
    let org_after = match parse_cursor(req.cursor.as_deref())? {
        Cursor::Users(after) => {
            let rows = ctx.st.store.users_after(after.as_deref(), limit).await?;
            let full = rows.len() as u64 >= u64::from(limit);
            users = rows.iter().map(user_record).collect();
            if full {
                next = rows.last().map(|u| format!("u:{}", u.id));
                None
            } else {
                Some(None)
            }
        }
        Cursor::Organizations(after) => Some(after),
    };
    if let Some(after) = org_after
        && orgs_enabled
    {
        let room = limit.saturating_sub(u32::try_from(users.len()).unwrap_or(limit));
        if room == 0 {
            next = Some("o:".to_owned());
        } else {
            let rows = ctx
                .st
                .store
                .organizations_after(after.as_deref(), room)
                .await?;
            if rows.len() as u64 >= u64::from(room) {
                next = rows.last().map(|o| format!("o:{}", o.id));
            }
            for o in rows {
                let members = ctx
                    .st
                    .store
                    .members(&o.id)
                    .await?
                    .into_iter()
                    .map(|m| MemberRecord {
                        id: m.id,
                        user_id: m.user_id,
                        role: m.role,
                        created_at: m.created_at,
                    })
                    .collect();
                organizations.push(OrganizationRecord {
                    id: o.id,
                    name: o.name,
                    slug: o.slug,
                    logo: o.logo,
                    metadata: o.metadata,
                    attio_id: o.attio_id,
                    created_at: o.created_at,
                    members,
                });
            }
        }
    }
    Ok(ExportResponse {
        users,
        organizations,
        next_cursor: next,
    })
}
