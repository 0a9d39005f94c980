//! Installations, one per Attio workspace: storage (secrets encrypted at rest), the install
//! flow with an Attio API token, and uninstall.
//!
//! Installing checks everything before it changes anything remote: the connection string
//! decodes, the Attio token works and names its workspace, the `users` and `workspaces`
//! objects are enabled, the plugin answers `ping`. Then it creates the missing attributes,
//! registers the Attio webhook and links the plugin; a failure in those last steps undoes
//! what was done.

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
use attio_auth_shared::sync::AdapterInfo;

use crate::attio::{AttioAuth, AttioError};
use crate::db::now_ms;
use crate::error::{Error, Result};
use crate::peer::{ClientIp, ip_key};
use crate::plugin::PluginError;
use crate::startup::AppState;

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
    /// Creation time, unix ms.
    pub created_at: i64,
}

fn aad(field: &str, id: &str) -> String {
    format!("installations.{field}:{id}")
}

const COLUMNS: &str = "id, workspace_id, workspace_name, auth_kind, connection_enc, \
     attio_token_enc, attio_webhook_id, attio_webhook_secret_enc, plugin_link_id, status, \
     created_at";

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
        (status = 400, description = "Bad connection string or Attio token, or a plugin URL this backend does not call (`PLUGIN_URL_NOT_ALLOWED`)", body = crate::openapi::ErrorResponse),
        (status = 409, description = "The workspace is installed already", body = crate::openapi::ErrorResponse),
        (status = 422, description = "The users/workspaces objects are disabled in Attio (the message says how to enable them)", body = crate::openapi::ErrorResponse),
        (status = 429, description = "Too many install attempts from this client or with this token (`INSTALL_RATE_LIMITED`)", body = crate::openapi::ErrorResponse),
        (status = 502, description = "The auth server or Attio failed", body = crate::openapi::ErrorResponse),
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

/// The install flow, shared by the API-token and OAuth paths.
pub async fn install(
    state: &AppState,
    connection: Connection,
    token: SecretString,
    auth_kind: &str,
) -> Result<Value> {
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
    let workspace_id = match (info.active, info.workspace_id) {
        (true, Some(ws)) if !ws.is_empty() => ws,
        _ => {
            return Err(Error::bad_request(
                "INVALID_ATTIO_TOKEN",
                "Attio says this access token is not active.",
            ));
        }
    };
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
    for slug in REQUIRED_OBJECTS {
        if state.attio.get_object(&attio, slug).await?.is_none() {
            disabled.push(slug);
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

    // The plugin must answer, with this secret.
    let ping = ping_plugin(state, &connection).await?;

    // From here on we change things; undo on failure.
    let mut created_attributes = Vec::new();
    for adapter in [
        AdapterInfo::default_user(),
        AdapterInfo::default_organization(),
    ] {
        created_attributes.extend(ensure_attributes(state, &attio, &adapter).await?);
    }

    let now = now_ms();
    let connection_enc = state
        .secrets
        .encrypt(&aad("connection", &id), &connection.encode())?;
    let token_enc = state
        .secrets
        .encrypt(&aad("attio_token", &id), attio.token.expose_secret())?;
    sqlx::query(
        "insert into installations (id, workspace_id, workspace_name, auth_kind, \
         connection_enc, attio_token_enc, plugin_url, protocol, status, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, 'installing', $9, $10)",
    )
    .bind(&id)
    .bind(&workspace_id)
    .bind(info.workspace_name.clone())
    .bind(auth_kind)
    .bind(connection_enc)
    .bind(token_enc)
    .bind(connection.url())
    .bind(connection.protocol.as_str())
    .bind(now)
    .bind(now)
    .execute(&state.db.pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Error::conflict(
            "ALREADY_INSTALLED",
            "This Attio workspace is already installed; uninstall it first.",
        ),
        _ => Error::Database(e),
    })?;

    let finished = async {
        // What plugin events may write from now on (issue 13, item 3).
        crate::events::store_allowlist(
            state,
            &id,
            &[
                AdapterInfo::default_user(),
                AdapterInfo::default_organization(),
            ],
        )
        .await?;
        finish_install(state, &id, &attio, &connection).await
    }
    .await;
    match finished {
        Ok(()) => {}
        Err(e) => {
            // Undo: the webhook (if registered) and the row.
            if let Ok(Some(inst)) = Installation::find(state, &id).await
                && let Some(wh) = &inst.attio_webhook_id
                && let Err(err) = state.attio.delete_webhook(&attio, wh).await
            {
                tracing::warn!(error = %err, "could not remove the Attio webhook after a failed install");
            }
            sqlx::query("delete from installations where id = $1")
                .bind(&id)
                .execute(&state.db.pool)
                .await?;
            return Err(e);
        }
    }
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
    }))
}

/// Register the Attio webhook and link the plugin; mark active.
async fn finish_install(
    state: &AppState,
    id: &str,
    attio: &AttioAuth,
    connection: &Connection,
) -> Result<()> {
    let target = state.public_url.join(&format!("/v1/attio/webhooks/{id}"));
    let webhook = state.attio.create_webhook(attio, &target).await?;
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
        Err(PluginError::Refused { status: 404, .. })
            if connection.protocol == attio_auth_shared::connection::Protocol::Legacy =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Create the attributes of `adapter`'s schema that the object lacks. Returns the slugs
/// created (`users.email_verified`).
pub async fn ensure_attributes(
    state: &AppState,
    attio: &AttioAuth,
    adapter: &AdapterInfo,
) -> Result<Vec<String>> {
    let existing = state
        .attio
        .list_attributes(attio, &adapter.attio_object)
        .await?;
    let mut created = Vec::new();
    for (slug, field) in &adapter.attio_schema {
        if existing.iter().any(|a| &a.api_slug == slug) {
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
        if state
            .attio
            .create_attribute(attio, &adapter.attio_object, &body)
            .await?
        {
            created.push(format!("{}.{}", adapter.attio_object, slug));
        }
    }
    Ok(created)
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
            Ok(_) | Err(PluginError::Refused { status: 404, .. }) => {}
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
