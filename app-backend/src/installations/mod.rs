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
//!
//! Here: the stored installation, `POST /v1/installations` and uninstall. The flow itself is
//! in `install`; what it sets up in Attio (attributes, the webhook's objects) and its undo
//! in `remote`.

mod install;
mod remote;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest as _;
use sqlx::Row as _;

use attio_auth_shared::actions::UnlinkRequest;
use attio_auth_shared::connection::Connection;

use crate::attio::AttioAuth;
use crate::error::{Error, Result};
use crate::peer::{ClientIp, ip_key};
use crate::plugin::PluginCallError;
use crate::state::AppState;

pub use install::{REQUIRED_SCOPES, install, missing_scopes, ping_plugin, probe_object};
pub use remote::{
    AttributeReport, Undo, ensure_attributes, ensure_attributes_undoable, ensure_webhook_covers,
};

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

/// The associated data a stored secret is sealed with: its column and installation, so a
/// ciphertext copied to another row or column does not open.
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

/// Undo an installation: unlink the plugin, delete the Attio webhook, delete our rows.
/// Remote failures do not stop the local removal; they are returned as warnings.
pub async fn uninstall(state: &AppState, inst: &Installation) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    if let Some(link) = &inst.plugin_link_id {
        let unlink = UnlinkRequest {
            webhook_id: link.clone(),
        };
        match crate::console::rotation::call(state, inst, &unlink).await {
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
