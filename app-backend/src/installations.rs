//! Installations, one per Attio workspace: storage (secrets encrypted at rest), the install
//! flow with an Attio API token, and uninstall.
//!
//! Installing checks everything before it changes anything remote: `PUBLIC_URL` is https
//! when Attio itself is the API (Attio delivers webhooks to https only; checked before any
//! call), the connection string decodes, the Attio token works, names its workspace and has
//! the scopes we need (`/v2/self` `scope`), the `users` and `workspaces` objects are enabled
//! (probed with a one-record query as well as `GET /v2/objects/{slug}`: a 404 or a refused
//! query both mean "not enabled"), the cardinality of `users.workspace` is read, and the
//! plugin answers `ping`. Then it creates the missing attributes (with their select
//! options) or unarchives archived ones, registers the Attio webhook filtered on the synced
//! objects and links the plugin; a failure in those steps undoes every one of them (created
//! attributes are archived: Attio's API cannot delete attributes).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest as _;
use sqlx::Row as _;

use attio_auth_shared::actions::{LinkRequest, PingRequest, PingResponse, UnlinkRequest};
use attio_auth_shared::connection::Connection;
use attio_auth_shared::sync::{AdapterInfo, AttributeType};

use crate::attio::{AttioAuth, AttioError};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::peer::{ClientIp, ip_key};
use crate::plugin::PluginCallError;
use crate::state::AppState;

/// The Attio objects the default adapters write to; both are off by default in Attio.
pub const REQUIRED_OBJECTS: [&str; 2] = ["users", "workspaces"];

/// A stored installation with its secrets decrypted (in memory only).
#[derive(Debug, Clone)]
pub struct Installation {
    /// Our id (uuid).
    pub id: String,
    /// The Attio workspace id.
    pub workspace_id: String,
    /// The Attio workspace name, when Attio told us.
    pub workspace_name: Option<String>,
    /// `api-token` or `oauth`.
    pub auth_kind: String,
    /// The decoded connection string (holds the secret).
    pub connection: Connection,
    /// Attio access for this workspace.
    pub attio: AttioAuth,
    /// The Attio webhook we registered.
    pub attio_webhook_id: Option<String>,
    /// Its signing secret.
    pub attio_webhook_secret: Option<SecretString>,
    /// The id the plugin's `link` answered.
    pub plugin_link_id: Option<String>,
    /// `installing` or `active`.
    pub status: String,
    /// Attio object ids the webhook subscribes to.
    pub attio_object_ids: Vec<String>,
    /// Workspace membership syncs auth -> Attio only (`users.workspace` is single-select in
    /// this workspace: applying it back would drop users from their other organizations).
    pub membership_to_attio_only: bool,
    /// Creation time, unix ms.
    pub created_at: i64,
}

fn aad(field: &str, id: &str) -> String {
    format!("installations.{field}:{id}")
}

const COLUMNS: &str = "id, workspace_id, workspace_name, auth_kind, connection_enc, \
     attio_token_enc, attio_webhook_id, attio_webhook_secret_enc, plugin_link_id, status, \
     created_at, attio_object_ids, membership_to_attio_only";

impl Installation {
    fn from_row(state: &AppState, row: &sqlx::any::AnyRow) -> Result<Self> {
        let id: String = row.try_get("id")?;
        let connection_enc: String = row.try_get("connection_enc")?;
        let token_enc: String = row.try_get("attio_token_enc")?;
        let webhook_secret_enc: Option<String> = row.try_get("attio_webhook_secret_enc")?;
        let connection_plain = state
            .secrets
            .decrypt(&aad("connection", &id), &connection_enc)?;
        let connection = Connection::decode(connection_plain.expose_secret())
            .map_err(|e| Error::Crypto(format!("stored connection does not decode: {e}")))?;
        let workspace_id: String = row.try_get("workspace_id")?;
        let token = state
            .secrets
            .decrypt(&aad("attio_token", &id), &token_enc)?;
        let attio_webhook_secret = match webhook_secret_enc {
            Some(enc) => Some(
                state
                    .secrets
                    .decrypt(&aad("attio_webhook_secret", &id), &enc)?,
            ),
            None => None,
        };
        Ok(Installation {
            workspace_name: row.try_get("workspace_name")?,
            auth_kind: row.try_get("auth_kind")?,
            attio: AttioAuth {
                workspace: workspace_id.clone(),
                token,
            },
            workspace_id,
            connection,
            attio_webhook_id: row.try_get("attio_webhook_id")?,
            attio_webhook_secret,
            plugin_link_id: row.try_get("plugin_link_id")?,
            status: row.try_get("status")?,
            created_at: row.try_get("created_at")?,
            attio_object_ids: row
                .try_get::<Option<String>, _>("attio_object_ids")?
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default(),
            membership_to_attio_only: row.try_get::<i64, _>("membership_to_attio_only")? != 0,
            id,
        })
    }

    /// By our id.
    pub async fn find(state: &AppState, id: &str) -> Result<Option<Self>> {
        let row = sqlx::query(&format!(
            "select {COLUMNS} from installations where id = $1"
        ))
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?;
        row.map(|r| Self::from_row(state, &r)).transpose()
    }

    /// By Attio workspace id.
    pub async fn find_by_workspace(state: &AppState, workspace_id: &str) -> Result<Option<Self>> {
        let row = sqlx::query(&format!(
            "select {COLUMNS} from installations where workspace_id = $1"
        ))
        .bind(workspace_id)
        .fetch_optional(&state.db.pool)
        .await?;
        row.map(|r| Self::from_row(state, &r)).transpose()
    }

    /// The public view: no secrets.
    pub fn public_json(&self) -> Value {
        json!({
            "id": self.id,
            "workspaceId": self.workspace_id,
            "workspaceName": self.workspace_name,
            "authKind": self.auth_kind,
            "pluginUrl": self.connection.url(),
            "protocol": self.connection.protocol.as_str(),
            "status": self.status,
            "attioWebhookId": self.attio_webhook_id,
            "membershipToAttioOnly": self.membership_to_attio_only,
            "createdAt": self.created_at,
        })
    }
}

/// Body of `POST /v1/installations` (API-token path).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInstallation {
    /// The connection string from the generator (or the original's).
    pub connection: String,
    /// An Attio access token of the workspace (developer settings → API token) with the
    /// scopes `object_configuration:read-write`, `record_permission:read-write`,
    /// `webhook:read-write`.
    pub attio_token: String,
}

/// `POST /v1/installations`: install with an Attio API token. Answers 201 with the
/// installation (no secrets), the plugin's version and features, and the attributes created.
#[utoipa::path(post, path = "/v1/installations", tag = "installations",
    request_body = CreateInstallation,
    responses(
        (status = 201, description = "Installed: `{ok, message, installation, plugin, attributesCreated}`", body = Object),
        (status = 400, description = "Bad connection string or Attio token, the token lacks a scope (`ATTIO_TOKEN_SCOPES` names each), or a plugin URL this backend does not call (`PLUGIN_URL_NOT_ALLOWED`)", body = crate::error::ErrorResponse),
        (status = 409, description = "The workspace is installed already", body = crate::error::ErrorResponse),
        (status = 422, description = "The users/workspaces objects are disabled in Attio (the message says how to enable them), or `PUBLIC_URL` is not https while Attio itself is the API (`PUBLIC_URL_NOT_HTTPS`)", body = crate::error::ErrorResponse),
        (status = 429, description = "Too many install attempts from this client or with this token (`INSTALL_RATE_LIMITED`)", body = crate::error::ErrorResponse),
        (status = 502, description = "The auth server or Attio failed", body = crate::error::ErrorResponse),
    ))]
pub async fn create(
    State(state): State<AppState>,
    client: ClientIp,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    // Every attempt counts, failed ones most: one token must not probe addresses freely.
    if !state.limits.install_by_ip.check(&ip_key(client)) {
        return Err(install_rate_limited("from this address"));
    }
    let req: CreateInstallation = serde_json::from_slice(&body).map_err(|e| {
        Error::bad_request(
            "INVALID_BODY",
            format!("Expected {{\"connection\", \"attioToken\"}}: {e}"),
        )
    })?;
    let connection = Connection::decode(&req.connection)
        .map_err(|e| Error::bad_request("INVALID_CONNECTION_STRING", e.to_string()))?;
    let token = SecretString::from(req.attio_token.trim().to_owned());
    if token.expose_secret().is_empty() {
        return Err(Error::bad_request(
            "INVALID_ATTIO_TOKEN",
            "attioToken is empty.",
        ));
    }
    let token_key = hex::encode(sha2::Sha256::digest(token.expose_secret().as_bytes()));
    if !state.limits.install_by_token.check(&token_key) {
        return Err(install_rate_limited("with this Attio token"));
    }
    let outcome = install(&state, connection, token, "api-token").await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

fn install_rate_limited(whom: &str) -> Error {
    Error::Client {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: "INSTALL_RATE_LIMITED",
        message: format!("Too many install attempts {whom}; try again in a minute."),
    }
}

/// The scopes the install and the sync need (`/v2/self` `scope`, space separated).
pub const REQUIRED_SCOPES: [&str; 3] = [
    "object_configuration:read-write",
    "record_permission:read-write",
    "webhook:read-write",
];

/// What an install changed in Attio, so that a failure can undo it.
#[derive(Debug, Default)]
pub struct Undo {
    /// Attributes created (`(object, slug)`): archived on undo.
    pub created: Vec<(String, String)>,
    /// Attributes that were archived and got unarchived: archived again on undo.
    pub unarchived: Vec<(String, String)>,
    /// The webhook registered: deleted on undo.
    pub webhook: Option<String>,
    /// The plugin link made (connection, link id): unlinked on undo.
    pub plugin_link: Option<(Connection, String)>,
}

impl Undo {
    /// Revert in reverse order; failures are logged (the install error is what the caller
    /// reports).
    pub async fn run(self, state: &AppState, attio: &AttioAuth) {
        if let Some((connection, link)) = &self.plugin_link
            && let Err(e) = state
                .plugin
                .call(
                    connection,
                    &UnlinkRequest {
                        webhook_id: link.clone(),
                    },
                )
                .await
        {
            tracing::warn!(error = %e, "could not unlink the plugin after a failed install");
        }
        if let Some(wh) = &self.webhook
            && let Err(e) = state.attio.delete_webhook(attio, wh).await
        {
            tracing::warn!(error = %e, "could not remove the Attio webhook after a failed install");
        }
        for (object, slug) in self.created.iter().chain(&self.unarchived).rev() {
            if let Err(e) = state
                .attio
                .set_attribute_archived(attio, object, slug, true)
                .await
            {
                tracing::warn!(error = %e, object, slug, "could not archive an attribute after a failed install");
            }
        }
    }
}

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

/// Make the webhook of `inst` cover the Attio object `slug` (an adapter naming an object
/// the webhook does not filter on yet): its subscriptions are updated in place, so the
/// signing secret stays.
pub async fn ensure_webhook_covers(
    state: &AppState,
    inst: &Installation,
    slug: &str,
) -> Result<()> {
    let Some(webhook_id) = &inst.attio_webhook_id else {
        return Ok(());
    };
    let Some(object) = state.attio.get_object(&inst.attio, slug).await? else {
        return Ok(());
    };
    let object_id = object.id.object_id;
    if inst.attio_object_ids.contains(&object_id) {
        return Ok(());
    }
    let mut ids = inst.attio_object_ids.clone();
    ids.push(object_id);
    state
        .attio
        .update_webhook_objects(&inst.attio, webhook_id, &ids)
        .await?;
    let json = serde_json::to_string(&ids).map_err(|e| Error::Internal(e.to_string()))?;
    sqlx::query("update installations set attio_object_ids = $1, updated_at = $2 where id = $3")
        .bind(json)
        .bind(now_ms())
        .bind(&inst.id)
        .execute(&state.db.pool)
        .await?;
    tracing::info!(installation = %inst.id, object = slug, "Attio webhook now covers another object");
    Ok(())
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

/// What [`ensure_attributes_undoable`] did.
#[derive(Debug, Default)]
pub struct AttributeReport {
    /// Attributes created (`users.email_verified`).
    pub created: Vec<String>,
    /// What could not be done (an archived attribute Attio would not restore).
    pub warnings: Vec<String>,
}

/// Create the attributes of `adapter`'s schema that the object lacks. Returns the slugs
/// created (`users.email_verified`).
pub async fn ensure_attributes(
    state: &AppState,
    attio: &AttioAuth,
    adapter: &AdapterInfo,
) -> Result<Vec<String>> {
    let mut undo = Undo::default();
    let report = ensure_attributes_undoable(state, attio, adapter, &mut undo).await?;
    for w in &report.warnings {
        tracing::warn!(object = %adapter.attio_object, "{w}");
    }
    Ok(report.created)
}

/// [`ensure_attributes`], recording each change in `undo`: a missing attribute is created
/// (a select one with the options its schema lists), an archived one is unarchived (writes to
/// an archived attribute fail), or reported when Attio refuses to restore it.
pub async fn ensure_attributes_undoable(
    state: &AppState,
    attio: &AttioAuth,
    adapter: &AdapterInfo,
    undo: &mut Undo,
) -> Result<AttributeReport> {
    let object = adapter.attio_object.as_str();
    let existing = state.attio.list_attributes(attio, object).await?;
    let mut report = AttributeReport::default();
    for (slug, field) in &adapter.attio_schema {
        if let Some(found) = existing.iter().find(|a| &a.api_slug == slug) {
            if found.is_archived {
                match state
                    .attio
                    .set_attribute_archived(attio, object, slug, false)
                    .await
                {
                    Ok(()) => undo.unarchived.push((object.to_owned(), slug.clone())),
                    Err(e) => report.warnings.push(format!(
                        "The Attio attribute {object}.{slug} is archived and could not be \
                         restored ({e}); unarchive it in Attio, or its values will not sync."
                    )),
                }
            }
            continue;
        }
        if !field.attribute_type.creatable_on_object() {
            tracing::warn!(
                slug,
                "attribute type cannot be created through the API; skipped"
            );
            continue;
        }
        let body = field.create_attribute_body(slug);
        if state.attio.create_attribute(attio, object, &body).await? {
            undo.created.push((object.to_owned(), slug.clone()));
            report.created.push(format!("{object}.{slug}"));
            let options = field
                .config
                .as_ref()
                .and_then(|c| c.options.as_deref())
                .unwrap_or_default();
            if field.attribute_type == AttributeType::Select {
                for title in options {
                    state
                        .attio
                        .create_select_option(attio, object, slug, title)
                        .await?;
                }
            }
        }
    }
    Ok(report)
}

/// Whether the auth record `auth_id` is linked to an Attio record of `object` yet (it has
/// been written before): the first write of a user links its `person`.
pub async fn is_linked(
    state: &AppState,
    installation_id: &str,
    object: &str,
    auth_id: &str,
) -> Result<bool> {
    let row = sqlx::query(
        "select 1 as one from record_links where installation_id = $1 and attio_object = $2 \
         and auth_id = $3",
    )
    .bind(installation_id)
    .bind(object)
    .bind(auth_id)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(row.is_some())
}

/// Undo an installation: unlink the plugin, delete the Attio webhook, delete our rows.
/// Remote failures do not stop the local removal; they are returned as warnings.
pub async fn uninstall(state: &AppState, inst: &Installation) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    if let Some(link) = &inst.plugin_link_id {
        match state
            .plugin
            .call(
                &inst.connection,
                &UnlinkRequest {
                    webhook_id: link.clone(),
                },
            )
            .await
        {
            Ok(_) | Err(PluginCallError::Refused { status: 404, .. }) => {}
            Err(e) => warnings.push(format!("The auth server was not unlinked: {e}")),
        }
    }
    if let Some(wh) = &inst.attio_webhook_id
        && let Err(e) = state.attio.delete_webhook(&inst.attio, wh).await
    {
        warnings.push(format!("The Attio webhook was not removed: {e}"));
    }
    let mut tx = state.db.pool.begin().await?;
    for table in ["audit_log", "record_links", "backfills"] {
        sqlx::query(&format!("delete from {table} where installation_id = $1"))
            .bind(&inst.id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("delete from jobs where installation_id = $1")
        .bind(&inst.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from installations where id = $1")
        .bind(&inst.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(installation = %inst.id, "uninstalled");
    Ok(warnings)
}
