//! Rotating an installation's secret from the console: a new `whsec_` secret for the same
//! auth server. While the rotation runs, calls signed with the old or the new secret are
//! both accepted (the Attio app's calls and the plugin's events), and the backend keeps
//! signing its own calls to the plugin with the old one. When the plugin answers a `ping`
//! signed with the new secret alone (the console's "check" button, the installation page,
//! the Attio app's next `connection-check`, or any of the backend's own calls that the
//! plugin refuses with 401, see [`call_raw`]), the new string replaces the old one, the
//! old secret is no longer accepted, and the backend's calls are signed with the new one.

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value};
use sqlx::Row as _;

use attio_auth_shared::actions::{Action, PingRequest};
use attio_auth_shared::connection::{Connection, Protocol, new_secret};

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::installations::Installation;
use crate::plugin::PluginCallError;
use crate::state::AppState;

fn next_aad(id: &str) -> String {
    format!("installations.next_connection:{id}")
}

/// The connection string a running rotation moves to, if one runs.
pub async fn next(state: &AppState, installation_id: &str) -> Result<Option<Connection>> {
    let row = sqlx::query("select next_connection_enc from installations where id = $1")
        .bind(installation_id)
        .fetch_optional(&state.db.pool)
        .await?;
    let Some(enc) = row
        .map(|r| r.try_get::<Option<String>, _>("next_connection_enc"))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let plain = state.secrets.decrypt(&next_aad(installation_id), &enc)?;
    Connection::decode(plain.expose_secret())
        .map(Some)
        .map_err(|e| Error::Crypto(format!("stored next connection does not decode: {e}")))
}

/// Start a rotation (or show the one running): the new connection string.
pub async fn start(state: &AppState, inst: &Installation) -> Result<Connection> {
    if inst.connection.protocol != Protocol::SignedV1 {
        return Err(Error::bad_request(
            "ROTATION_NEEDS_SIGNED_V1",
            "This installation uses the original plugin's protocol, whose secret cannot be \
             rotated in place: make a new string on the generator page and install again.",
        ));
    }
    if let Some(existing) = next(state, &inst.id).await? {
        return Ok(existing);
    }
    let secret = new_secret().map_err(|e| Error::Internal(e.to_string()))?;
    let next = Connection::new(
        inst.connection.uri.clone(),
        inst.connection.base.clone(),
        Protocol::SignedV1,
        secret,
    )
    .map_err(|e| Error::Internal(e.to_string()))?;
    let enc = state.secrets.encrypt(&next_aad(&inst.id), &next.encode())?;
    sqlx::query(
        "update installations set next_connection_enc = $1, rotation_started_at = $2 \
         where id = $3 and next_connection_enc is null",
    )
    .bind(enc)
    .bind(now_ms())
    .bind(&inst.id)
    .execute(&state.db.pool)
    .await?;
    // Two rotations started at once: the stored one wins.
    next_or(state, &inst.id, next).await
}

async fn next_or(state: &AppState, id: &str, fallback: Connection) -> Result<Connection> {
    Ok(next(state, id).await?.unwrap_or(fallback))
}

/// Every secret a caller may sign the Attio app's calls with: the connection's, and during
/// a rotation the new one's (see [`crate::app_auth::signing_secret`]).
pub async fn app_secrets(state: &AppState, inst: &Installation) -> Result<Vec<SecretString>> {
    let mut out = vec![crate::app_auth::signing_secret(&inst.connection)];
    if let Some(next) = next(state, &inst.id).await? {
        out.push(crate::app_auth::signing_secret(&next));
    }
    Ok(out)
}

/// Every secret the plugin may sign its events with.
pub async fn plugin_secrets(state: &AppState, inst: &Installation) -> Result<Vec<SecretString>> {
    let mut out = vec![inst.connection.secret().clone()];
    if let Some(next) = next(state, &inst.id).await? {
        out.push(next.secret().clone());
    }
    Ok(out)
}

/// A verifier over [`SecretString`]s.
pub fn verifier(secrets: &[SecretString]) -> Result<attio_auth_shared::signing::Verifier> {
    let exposed: Vec<&str> = secrets.iter().map(|s| s.expose_secret()).collect();
    Ok(attio_auth_shared::signing::Verifier::new(&exposed)?)
}

/// Finish the rotation if the plugin has the new secret (a `ping` signed with it alone
/// succeeds): the new string becomes the installation's. Ok(true) when finished now.
pub async fn try_finish(state: &AppState, inst: &Installation) -> Result<bool> {
    let Some(next) = next(state, &inst.id).await? else {
        return Ok(false);
    };
    if state.plugin.call(&next, &PingRequest {}).await.is_err() {
        return Ok(false);
    }
    let enc = state.secrets.encrypt(
        &format!("installations.connection:{}", inst.id),
        &next.encode(),
    )?;
    sqlx::query(
        "update installations set connection_enc = $1, next_connection_enc = null, \
         rotation_started_at = null, updated_at = $2 where id = $3",
    )
    .bind(enc)
    .bind(now_ms())
    .bind(&inst.id)
    .execute(&state.db.pool)
    .await?;
    tracing::info!(installation = %inst.id, "secret rotated");
    Ok(true)
}

/// The connection to use now: during a rotation, finish it when the plugin has the new
/// secret and answer the new connection; otherwise the installation's.
pub async fn current(state: &AppState, inst: &Installation) -> Result<Connection> {
    if try_finish(state, inst).await?
        && let Some(now) = Installation::find(state, &inst.id).await?
    {
        return Ok(now.connection);
    }
    Ok(inst.connection.clone())
}

/// The connection the backend's calls use once the plugin has moved to the new secret:
/// the rotation is finished now if the plugin answers it, or was finished since `inst` was
/// read. None while the plugin still has the old secret (or without a rotation).
async fn moved_on(state: &AppState, inst: &Installation) -> Option<Connection> {
    if let Err(e) = try_finish(state, inst).await {
        tracing::warn!(installation = %inst.id, error = %e, "could not finish a secret rotation");
        return None;
    }
    match Installation::find(state, &inst.id).await {
        Ok(Some(now))
            if now.connection.secret().expose_secret()
                != inst.connection.secret().expose_secret() =>
        {
            Some(now.connection)
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(installation = %inst.id, error = %e, "could not re-read an installation");
            None
        }
    }
}

/// One of the backend's own calls to `inst`'s plugin, following a secret rotation: signed
/// with the installation's secret; when the plugin refuses it with 401 and it has the
/// rotation's new secret, the rotation is finished and the call is made again, signed with
/// the new one. (A 401 is answered before the plugin does anything, so the repeat is safe.)
pub async fn call_raw(
    state: &AppState,
    inst: &Installation,
    action: &str,
    fields: Map<String, Value>,
) -> std::result::Result<Value, PluginCallError> {
    let first = state
        .plugin
        .call_raw(&inst.connection, action, fields.clone())
        .await;
    match first {
        Err(PluginCallError::Refused { status: 401, .. }) => match moved_on(state, inst).await {
            Some(next) => state.plugin.call_raw(&next, action, fields).await,
            None => first,
        },
        other => other,
    }
}

/// A typed [`call_raw`].
pub async fn call<A: Action>(
    state: &AppState,
    inst: &Installation,
    request: &A,
) -> std::result::Result<A::Response, PluginCallError> {
    let fields = match serde_json::to_value(request) {
        Ok(Value::Object(m)) => m,
        Ok(_) => Map::new(),
        Err(e) => return Err(PluginCallError::Decode(e.to_string())),
    };
    let v = call_raw(state, inst, A::NAME, fields).await?;
    serde_json::from_value(v).map_err(|e| PluginCallError::Decode(e.to_string()))
}
