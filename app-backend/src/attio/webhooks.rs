//! Our webhook: created at install with the synced objects' record events, updated when
//! they change, deleted at uninstall.

use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{Budget, seg};
use super::{AttioAuth, AttioClient, AttioError};

/// A webhook as Attio answers its creation: the secret is only shown then.
#[derive(Clone)]
pub struct CreatedWebhook {
    /// `id.webhook_id`.
    pub webhook_id: String,
    /// The signing secret of deliveries.
    pub secret: SecretString,
}

impl AttioClient {
    /// The subscriptions of our webhook: record events of the synced objects only (a `null`
    /// filter would subscribe to every record event of the workspace: people, companies,
    /// deals, and their enrichment noise, queued ahead of ours at 25 deliveries/s).
    pub fn webhook_subscriptions(object_ids: &[String]) -> Vec<Value> {
        let filter = json!({"$or": object_ids
            .iter()
            .map(|id| json!({"field": "id.object_id", "operator": "equals", "value": id}))
            .collect::<Vec<_>>()});
        [
            "record.created",
            "record.updated",
            "record.deleted",
            "record.merged",
        ]
        .iter()
        .map(|t| json!({"event_type": t, "filter": filter}))
        .collect()
    }

    /// `PATCH /v2/webhooks/{id}`: subscribe to the record events of `object_ids` (when the
    /// synced objects change).
    pub async fn update_webhook_objects(
        &self,
        auth: &AttioAuth,
        webhook_id: &str,
        object_ids: &[String],
    ) -> Result<(), AttioError> {
        let body = json!({"data": {"subscriptions": Self::webhook_subscriptions(object_ids)}});
        self.call(
            auth,
            Method::PATCH,
            &format!("/webhooks/{}", seg(webhook_id)),
            Some(&body),
            Budget::Write,
            true,
        )
        .await
        .map(|_| ())
    }

    /// `POST /v2/webhooks` for record created/updated/deleted/merged of the objects
    /// `object_ids`, delivered to `target_url`.
    pub async fn create_webhook(
        &self,
        auth: &AttioAuth,
        target_url: &str,
        object_ids: &[String],
    ) -> Result<CreatedWebhook, AttioError> {
        let subscriptions = Self::webhook_subscriptions(object_ids);
        let body = json!({"data": {"target_url": target_url, "subscriptions": subscriptions}});
        let v = self
            .call(
                auth,
                Method::POST,
                "/webhooks",
                Some(&body),
                Budget::Write,
                false,
            )
            .await?;
        #[derive(Deserialize)]
        struct WebhookIdPart {
            webhook_id: String,
        }
        #[derive(Deserialize)]
        struct Created {
            id: WebhookIdPart,
            secret: String,
        }
        let created: Created = Self::data(v)?;
        Ok(CreatedWebhook {
            webhook_id: created.id.webhook_id,
            secret: SecretString::from(created.secret),
        })
    }

    /// `DELETE /v2/webhooks/{id}`; `Ok(false)` when it was already gone.
    pub async fn delete_webhook(
        &self,
        auth: &AttioAuth,
        webhook_id: &str,
    ) -> Result<bool, AttioError> {
        self.delete_if_present(auth, &format!("/webhooks/{}", seg(webhook_id)))
            .await
    }
}
