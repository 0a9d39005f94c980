//! [`PluginState`]: what every request reads (settings, store, verifier, reporter), apart from
//! the builder and router in `plugin.rs` so that `auth.rs` and the handlers depend on the
//! state without depending on the module that imports them.

use crate::error::PluginError;
use crate::mailer::Mailer;
use crate::store::{AuthStore, Report};
use crate::sync::{Adapters, Origin, SyncReporter};
use attio_auth_shared::signing::Verifier;
use secrecy::SecretString;
use std::sync::Arc;

/// The plugin's settings, read by every handler.
pub(crate) struct Config {
    pub legacy_secrets: Vec<SecretString>,
    pub accept_legacy: bool,
    pub base_url: Option<String>,
    pub password_reset_redirect: String,
    pub password_reset_ttl_secs: i64,
    pub impersonation_duration_secs: i64,
    pub impersonation_link_ttl_secs: i64,
    pub impersonation_redirect: String,
    pub allow_impersonating_admins: bool,
    pub invitation_ttl_secs: i64,
    pub admin_roles: Vec<String>,
    pub org_roles: Vec<String>,
    pub session_cookie_name: String,
    pub cookie_secret: Option<SecretString>,
    pub replay_ttl_secs: i64,
    /// Peers whose `X-Forwarded-For` names the client (the impersonation-session limiter).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Everything a request needs: cheap to clone (one `Arc`).
pub(crate) struct PluginState {
    pub config: Config,
    pub verifier: Option<Verifier>,
    pub store: Arc<dyn AuthStore>,
    pub mailer: Option<Arc<dyn Mailer>>,
    pub adapters: Adapters,
    pub reporter: Option<SyncReporter>,
    /// The delivery worker [`crate::AttioPlugin::spawn_sync`] starts (with a reporter and
    /// a store that has an outbox).
    pub worker: Option<crate::sync::DeliveryWorker>,
    pub limiter: crate::limit::RateLimiter,
}

impl PluginState {
    /// How the plugin's own writes are reported (none without a reporter).
    pub(crate) fn report(&self, origin: Origin) -> Option<Report<'_>> {
        self.reporter
            .as_ref()
            .map(|reporter| Report { reporter, origin })
    }

    /// 501 unless the store has the admin plugin's columns.
    pub(crate) fn require_admin(&self) -> Result<(), PluginError> {
        if self.store.features().admin {
            Ok(())
        } else {
            Err(PluginError::NotImplemented(crate::error::Feature::Admin))
        }
    }

    /// 501 unless the store has the organization plugin's tables.
    pub(crate) fn require_organizations(&self) -> Result<(), PluginError> {
        if self.store.features().organizations {
            Ok(())
        } else {
            Err(PluginError::NotImplemented(
                crate::error::Feature::Organizations,
            ))
        }
    }

    /// The public URL of a path under the base (`/reset-password/x`), or the path itself
    /// when no base URL is configured.
    pub(crate) fn url(&self, path: &str) -> String {
        match &self.config.base_url {
            Some(base) => format!("{base}{path}"),
            None => path.to_owned(),
        }
    }
}
