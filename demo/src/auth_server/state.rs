//! What every route of the demo server shares, and the one way its changes are reported:
//! in the transaction that makes them, then the delivery worker is woken.

use std::sync::Arc;

use attio_auth_plugin::sync::{EventKind, Origin, SyncReporter};
use serde_json::{Map, Value};

use super::error::ApiError;
use super::store::{Db, Tx};

#[derive(Clone)]
pub(super) struct AppState {
    pub(super) db: Db,
    pub(super) reporter: SyncReporter,
    /// Emails that become admins at sign-up (trimmed, lowercase).
    pub(super) admin_emails: Arc<Vec<String>>,
}

impl AppState {
    pub(super) async fn begin(&self) -> Result<Tx, ApiError> {
        Ok(Tx::begin(&self.db).await?)
    }

    /// Reports a change of a `table` row, in the transaction that makes it.
    pub(super) async fn report(
        &self,
        tx: &mut Tx,
        table: &str,
        kind: EventKind,
        row: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        self.reporter
            .report(tx.conn(), table, kind, row, Origin::Auth)
            .await?;
        Ok(())
    }

    /// Reports an organization's current members (after one joined or left).
    pub(super) async fn report_organization(
        &self,
        tx: &mut Tx,
        organization_id: &str,
    ) -> Result<(), ApiError> {
        self.reporter
            .report_organization(tx.conn(), organization_id, Origin::Auth)
            .await?;
        Ok(())
    }

    /// Commits a transaction that reported changes, and wakes the delivery worker.
    pub(super) async fn commit_reported(&self, tx: Tx) -> Result<(), ApiError> {
        tx.commit().await?;
        self.reporter.notify();
        Ok(())
    }
}
