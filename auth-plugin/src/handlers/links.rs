//! `link` / `unlink`: the backends' event URLs that the outbox delivers sync events to.

use crate::auth::Ctx;
use crate::error::{PluginError, PluginResult};
use attio_auth_shared::actions::{LinkRequest, LinkResponse, SuccessResponse, UnlinkRequest};

pub(crate) async fn link(ctx: Ctx, req: LinkRequest) -> PluginResult<LinkResponse> {
    // The original stored anything ("not a url"); the outbox can only deliver to http(s).
    let url = reqwest::Url::parse(req.webhook_url.trim())
        .map_err(|_| PluginError::Validation("[body.webhookUrl] Invalid URL".to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(PluginError::Validation(
            "[body.webhookUrl] Invalid URL: expected http or https".to_owned(),
        ));
    }
    // The same URL again answers the existing link (the original failed with a 500).
    let link = ctx
        .st
        .store
        .create_link(&crate::ids::new_id(), url.as_str())
        .await?;
    Ok(LinkResponse {
        webhook_id: link.id,
    })
}

pub(crate) async fn unlink(ctx: Ctx, req: UnlinkRequest) -> PluginResult<SuccessResponse> {
    if ctx.st.store.delete_link(&req.webhook_id).await? {
        Ok(SuccessResponse::OK)
    } else {
        Err(PluginError::not_found(
            "LINK_NOT_FOUND",
            "Webhook not found",
        ))
    }
}
