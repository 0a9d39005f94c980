//! The Attio app's side of the demo: record actions sent to app-backend the way the Attio
//! app sends them (`POST /v1/actions/{action}` with `attio-workspace-id` and Standard
//! Webhooks headers signed with the connection secret), and reads of Attio records.
//!
//! Public because the end-to-end tests (`attio-auth-tests`) play the Attio app with this
//! very client, so the demo and the tests sign alike.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use attio_auth_shared::signing::Signer;
use serde_json::{Value, json};

/// A made-up Attio workspace member acting in the demo (the sandbox knows them as
/// [`DEMO_MEMBER_EMAIL`]; the backend resolves the actor from this id, never from a claimed
/// email).
pub const DEMO_MEMBER: &str = "50cf242c-7fa3-4cad-87d0-75b1af71c57b";
/// [`DEMO_MEMBER`] as a UUID.
pub const DEMO_MEMBER_ID: uuid::Uuid =
    uuid::Uuid::from_u128(0x50cf242c_7fa3_4cad_87d0_75b1af71c57b);
/// The demo member's email: Alice, an admin of the demo auth server.
pub const DEMO_MEMBER_EMAIL: &str = "alice@example.com";

/// Make [`DEMO_MEMBER`] an admin member of the sandbox workspace `workspace_id`.
pub fn add_demo_member(workspace_id: uuid::Uuid) {
    attio_sandbox::add_workspace_member(
        workspace_id,
        attio_sandbox::WorkspaceMember::admin(DEMO_MEMBER_ID, DEMO_MEMBER_EMAIL),
    );
}

/// Calls app-backend as the Attio app does.
#[derive(Debug, Clone)]
pub struct AppClient {
    /// HTTP client.
    pub http: reqwest::Client,
    /// app-backend's base URL.
    pub backend_url: String,
    /// The Attio workspace id (header `attio-workspace-id`).
    pub workspace_id: String,
    /// Signs with the connection string's secret.
    pub signer: Signer,
}

impl AppClient {
    /// A record action on `target` (`(object, record id)`); answers status and JSON body.
    pub async fn action(
        &self,
        action: &str,
        actor_email: &str,
        target: Option<(&str, &str)>,
        params: Value,
    ) -> anyhow::Result<(u16, Value)> {
        let mut body = json!({
            "action": action,
            "actor": {"email": actor_email, "workspaceMemberId": DEMO_MEMBER},
            "params": params,
        });
        if let Some((object, record)) = target {
            body["target"] = json!({"object": object, "recordId": record});
        }
        self.call(action, &body).await
    }

    /// Any signed call to `/v1/actions/{action}` with this body.
    pub async fn call(&self, action: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let bytes = body.to_string().into_bytes();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the system clock is before 1970")?
            .as_secs();
        let h = self
            .signer
            .headers(&bytes, i64::try_from(now).context("the clock")?)?;
        let res = self
            .http
            .post(format!("{}/v1/actions/{action}", self.backend_url))
            .header("content-type", "application/json")
            .header("attio-workspace-id", &self.workspace_id)
            .header("webhook-id", h.id)
            .header("webhook-timestamp", h.timestamp.to_string())
            .header("webhook-signature", h.signature)
            .body(bytes)
            .send()
            .await
            .with_context(|| format!("calling app-backend at {}", self.backend_url))?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }
}

/// Reads Attio records (the sandbox's API, or Attio's).
#[derive(Debug, Clone)]
pub struct AttioReader {
    /// HTTP client.
    pub http: reqwest::Client,
    /// `.../v2`.
    pub api_url: String,
    /// Bearer token.
    pub token: String,
}

impl AttioReader {
    /// Every record of an object (first 500).
    pub async fn records(&self, object: &str) -> anyhow::Result<Vec<Value>> {
        let res = self
            .http
            .post(format!("{}/objects/{object}/records/query", self.api_url))
            .bearer_auth(&self.token)
            .json(&json!({"limit": 500}))
            .send()
            .await?;
        let body: Value = res.json().await?;
        Ok(body["data"].as_array().cloned().unwrap_or_default())
    }

    /// The first `object` record whose attribute `slug` has this plain value.
    pub async fn find(
        &self,
        object: &str,
        slug: &str,
        value: &str,
    ) -> anyhow::Result<Option<Value>> {
        Ok(self
            .records(object)
            .await?
            .into_iter()
            .find(|r| plain_value(r, slug).as_deref() == Some(value)))
    }
}

/// The plain value of a single-valued text or email attribute.
pub fn plain_value(record: &Value, slug: &str) -> Option<String> {
    let v = record["values"][slug].as_array()?.first()?;
    v.get("value")
        .or_else(|| v.get("email_address"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A record's id.
pub fn record_id(record: &Value) -> Option<String> {
    record["id"]["record_id"].as_str().map(str::to_owned)
}
