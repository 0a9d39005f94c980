//! The install flow, shared by the API-token and OAuth paths: every check first, then the
//! remote changes, undone together when one fails.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use attio_auth_shared::actions::{LinkRequest, PingRequest, PingResponse};
use attio_auth_shared::connection::Connection;
use attio_auth_shared::sync::AdapterInfo;

use crate::attio::{AttioAuth, AttioError};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::plugin::PluginCallError;
use crate::state::AppState;

use super::remote::{Undo, ensure_attributes_undoable};
use super::{Installation, REQUIRED_OBJECTS, aad};

/// The scopes the install and the sync need (`/v2/self` `scope`, space separated).
pub const REQUIRED_SCOPES: [&str; 3] = [
    "object_configuration:read-write",
    "record_permission:read-write",
    "webhook:read-write",
];

/// The granted scopes of a `/v2/self` answer, with `x:read-write` also granting `x:read`.
pub fn missing_scopes(granted: Option<&str>) -> Vec<&'static str> {
    let granted: Vec<&str> = granted.unwrap_or("").split_whitespace().collect();
    REQUIRED_SCOPES
        .iter()
        .copied()
        .filter(|s| !granted.contains(s))
        .collect()
}

/// Whether an object is enabled: `GET /v2/objects/{slug}` answers it and a one-record query
/// is served. Attio documents no answer for a disabled standard object (the sandbox's 404 is
/// an inference), so a 404 of either call and a refused query (another 4xx) both count as
/// "not enabled". Returns the object id when enabled.
pub async fn probe_object(
    state: &AppState,
    attio: &AttioAuth,
    slug: &str,
) -> Result<Option<String>> {
    let Some(object) = state.attio.get_object(attio, slug).await? else {
        return Ok(None);
    };
    match state
        .attio
        .query_records(attio, slug, json!({}), 1, 0)
        .await
    {
        Ok(_) => Ok(Some(object.id.object_id)),
        Err(AttioError::NotFound { .. }) => Ok(None),
        Err(AttioError::Api { status, .. }) if (400..500).contains(&status) => Ok(None),
        Err(AttioError::Unauthorized { status: 403, .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The install flow, shared by the API-token and OAuth paths.
pub async fn install(
    state: &AppState,
    connection: Connection,
    token: SecretString,
    auth_kind: &str,
) -> Result<Value> {
    // Attio delivers webhooks to https targets only: refuse before calling anyone.
    if state.attio.is_attio_cloud() && !state.public_url.0.starts_with("https://") {
        return Err(Error::unprocessable(
            "PUBLIC_URL_NOT_HTTPS",
            "PUBLIC_URL must be an https:// address reachable from Attio: Attio delivers \
             webhooks only to https targets. Set PUBLIC_URL (e.g. https://auth-sync.example.com) \
             and install again.",
        ));
    }
    // Before any request: a URL this backend does not call is refused, unseen by Attio too.
    state.plugin.check_url(&connection).await?;
    let id = uuid::Uuid::new_v4().to_string();
    // Budget key until the workspace is known: the new installation's id.
    let mut attio = AttioAuth {
        workspace: id.clone(),
        token,
    };
    let info = match state.attio.identify(&attio).await {
        Ok(info) => info,
        Err(AttioError::Unauthorized { .. }) => {
            return Err(Error::bad_request(
                "INVALID_ATTIO_TOKEN",
                "Attio refused the access token. Create one in Attio (Workspace settings → \
                 Developers) with the scopes object_configuration:read-write, \
                 record_permission:read-write and webhook:read-write.",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let workspace_id = match (info.active, info.workspace_id.clone()) {
        (true, Some(ws)) if !ws.is_empty() => ws,
        _ => {
            return Err(Error::bad_request(
                "INVALID_ATTIO_TOKEN",
                "Attio says this access token is not active.",
            ));
        }
    };
    let missing = missing_scopes(info.scope.as_deref());
    if !missing.is_empty() {
        return Err(Error::bad_request(
            "ATTIO_TOKEN_SCOPES",
            format!(
                "The Attio access token lacks the scope(s) {}. Give the token (or the OAuth \
                 app) these scopes in Attio's developer settings, then install again.",
                missing.join(", ")
            ),
        ));
    }
    attio.workspace = workspace_id.clone();
    if Installation::find_by_workspace(state, &workspace_id)
        .await?
        .is_some()
    {
        return Err(Error::conflict(
            "ALREADY_INSTALLED",
            "This Attio workspace is already installed; uninstall it first.",
        ));
    }

    // The objects must be enabled: Attio has them, off by default.
    let mut disabled = Vec::new();
    let mut object_ids = Vec::new();
    for slug in REQUIRED_OBJECTS {
        match probe_object(state, &attio, slug).await? {
            Some(object_id) => object_ids.push(object_id),
            None => disabled.push(slug),
        }
    }
    if !disabled.is_empty() {
        return Err(Error::unprocessable(
            "ATTIO_OBJECTS_DISABLED",
            format!(
                "The Attio object(s) {} are not enabled in this workspace. A workspace admin \
                 can enable them in Attio: Workspace settings → Objects → select Users and \
                 Workspaces → Enable. Then install again.",
                disabled.join(" and ")
            ),
        ));
    }

    // users.workspace: Attio's docs do not say whether it is single- or multi-select. If
    // single, writing organization B's members would take each of them out of A in Attio,
    // and applying that back would remove them from A in the auth database.
    let mut warnings = Vec::new();
    let user_attributes = state.attio.list_attributes(&attio, "users").await?;
    let workspace_attributes = state.attio.list_attributes(&attio, "workspaces").await?;
    let users_workspace_multi = user_attributes
        .iter()
        .find(|a| a.api_slug == "workspace")
        .is_none_or(|a| a.is_multiselect);
    let workspaces_users_multi = workspace_attributes
        .iter()
        .find(|a| a.api_slug == "users")
        .is_none_or(|a| a.is_multiselect);
    let membership_to_attio_only = !users_workspace_multi;
    if membership_to_attio_only {
        warnings.push(
            "Attio's users.workspace attribute is single-select in this workspace: a user can \
             show only one organization there. Organization membership therefore syncs from \
             the auth server to Attio only; membership edits in Attio are not applied."
                .to_string(),
        );
    }
    if !workspaces_users_multi {
        warnings.push(
            "Attio's workspaces.users attribute is single-select in this workspace: only one \
             member per organization can show in Attio."
                .to_string(),
        );
    }

    // The plugin must answer, with this secret.
    let ping = ping_plugin(state, &connection).await?;

    // From here on we change things; undo on failure.
    let mut undo = Undo::default();
    let outcome = change_remote(
        state,
        &id,
        &attio,
        &connection,
        &info,
        auth_kind,
        &object_ids,
        membership_to_attio_only,
        &mut undo,
        &mut warnings,
    )
    .await;
    let created_attributes = match outcome {
        Ok(created) => created,
        Err(e) => {
            undo.run(state, &attio).await;
            sqlx::query("delete from installations where id = $1")
                .bind(&id)
                .execute(&state.db.pool)
                .await?;
            return Err(e);
        }
    };
    let inst = Installation::find(state, &id)
        .await?
        .ok_or_else(|| Error::Internal("installation vanished".into()))?;
    tracing::info!(installation = %id, workspace = %workspace_id, "installed");
    // Everything the auth server has goes to Attio now, through the queue.
    crate::backfill::start(state, &id).await?;
    Ok(json!({
        "ok": true,
        "message": format!(
            "Installed: Attio workspace {} is connected to {}.",
            inst.workspace_name.as_deref().unwrap_or(&inst.workspace_id),
            inst.connection.url()
        ),
        "installation": inst.public_json(),
        "plugin": ping.map(|p| json!({"version": p.version, "features": p.features})),
        "attributesCreated": created_attributes,
        "warnings": warnings,
    }))
}

/// The remote steps of an install, each recorded in `undo`: attributes, the row, the
/// webhook, the plugin link. Returns the attributes created.
#[allow(clippy::too_many_arguments)]
async fn change_remote(
    state: &AppState,
    id: &str,
    attio: &AttioAuth,
    connection: &Connection,
    info: &crate::attio::TokenInfo,
    auth_kind: &str,
    object_ids: &[String],
    membership_to_attio_only: bool,
    undo: &mut Undo,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>> {
    let mut created_attributes = Vec::new();
    for adapter in [
        AdapterInfo::default_user(),
        AdapterInfo::default_organization(),
    ] {
        let report = ensure_attributes_undoable(state, attio, &adapter, undo).await?;
        created_attributes.extend(report.created);
        warnings.extend(report.warnings);
    }

    let now = now_ms();
    let connection_enc = state
        .secrets
        .encrypt(&aad("connection", id), &connection.encode())?;
    let token_enc = state
        .secrets
        .encrypt(&aad("attio_token", id), attio.token.expose_secret())?;
    let object_ids_json =
        serde_json::to_string(object_ids).map_err(|e| Error::Internal(e.to_string()))?;
    sqlx::query(
        "insert into installations (id, workspace_id, workspace_name, auth_kind, \
         connection_enc, attio_token_enc, plugin_url, protocol, status, created_at, updated_at, \
         attio_object_ids, membership_to_attio_only) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, 'installing', $9, $10, $11, $12)",
    )
    .bind(id)
    .bind(&attio.workspace)
    .bind(info.workspace_name.clone())
    .bind(auth_kind)
    .bind(connection_enc)
    .bind(token_enc)
    .bind(connection.url())
    .bind(connection.protocol.as_str())
    .bind(now)
    .bind(now)
    .bind(object_ids_json)
    .bind(i64::from(membership_to_attio_only))
    .execute(&state.db.pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Error::conflict(
            "ALREADY_INSTALLED",
            "This Attio workspace is already installed; uninstall it first.",
        ),
        _ => Error::Database(e),
    })?;
    // What plugin events may write from now on (issue 13, item 3).
    crate::events::store_allowlist(
        state,
        id,
        &[
            AdapterInfo::default_user(),
            AdapterInfo::default_organization(),
        ],
    )
    .await?;
    finish_install(state, id, attio, connection, object_ids, undo).await?;
    Ok(created_attributes)
}

/// Register the Attio webhook and link the plugin; mark active.
async fn finish_install(
    state: &AppState,
    id: &str,
    attio: &AttioAuth,
    connection: &Connection,
    object_ids: &[String],
    undo: &mut Undo,
) -> Result<()> {
    let target = state.public_url.join(&format!("/v1/attio/webhooks/{id}"));
    let webhook = state
        .attio
        .create_webhook(attio, &target, object_ids)
        .await?;
    undo.webhook = Some(webhook.webhook_id.clone());
    let secret_enc = state.secrets.encrypt(
        &aad("attio_webhook_secret", id),
        webhook.secret.expose_secret(),
    )?;
    sqlx::query(
        "update installations set attio_webhook_id = $1, attio_webhook_secret_enc = $2, \
         updated_at = $3 where id = $4",
    )
    .bind(&webhook.webhook_id)
    .bind(secret_enc)
    .bind(now_ms())
    .bind(id)
    .execute(&state.db.pool)
    .await?;
    let mut token = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut token);
    let token = hex::encode(token);
    sqlx::query("update installations set event_token_sha256 = $1 where id = $2")
        .bind(crate::events::event_token_hash(&token))
        .bind(id)
        .execute(&state.db.pool)
        .await?;
    let event_url = state.public_url.join(&format!("/v1/events/{id}/{token}"));
    let link = state
        .plugin
        .call(
            connection,
            &LinkRequest {
                webhook_url: event_url,
            },
        )
        .await?;
    undo.plugin_link = Some((connection.clone(), link.webhook_id.clone()));
    sqlx::query(
        "update installations set plugin_link_id = $1, status = 'active', updated_at = $2 \
         where id = $3",
    )
    .bind(&link.webhook_id)
    .bind(now_ms())
    .bind(id)
    .execute(&state.db.pool)
    .await?;
    Ok(())
}

/// `ping` the plugin. The original TypeScript plugin has no `ping` (404 on a legacy
/// connection): that is accepted as "original plugin, version unknown" (`None`).
pub async fn ping_plugin(
    state: &AppState,
    connection: &Connection,
) -> Result<Option<PingResponse>> {
    match state.plugin.call(connection, &PingRequest {}).await {
        Ok(p) => Ok(Some(p)),
        Err(PluginCallError::Refused { status: 404, .. })
            if connection.protocol == attio_auth_shared::connection::Protocol::Legacy =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
