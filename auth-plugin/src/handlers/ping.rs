//! `ping`: proves the caller's signature works and says what this auth server can do.

use crate::auth::Ctx;
use crate::error::PluginResult;
use attio_auth_shared::actions::{Features, PingRequest, PingResponse};

pub(crate) async fn ping(ctx: Ctx, _req: PingRequest) -> PluginResult<PingResponse> {
    let f = ctx.st.store.features();
    Ok(PingResponse {
        ok: true,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        features: Features {
            admin: f.admin,
            organizations: f.organizations,
            mailer: ctx.st.mailer.is_some(),
            impersonation: f.admin,
            sync: !ctx.st.store.links().await?.is_empty(),
            legacy_protocol: ctx.st.config.accept_legacy,
        },
    })
}
