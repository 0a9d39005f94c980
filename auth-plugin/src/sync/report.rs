//! The host's side of sync-out: [`SyncReporter`] turns "this row changed" into an outbox
//! event, on the host's own connection or transaction, so the change and its event commit
//! together. The plugin uses it for the changes it makes itself (webhook, create-user, ban).
//!
//! ```no_run
//! # use attio_auth_plugin::sync::*;
//! # async fn f(pool: sqlx::SqlitePool, reporter: SyncReporter, row: serde_json::Map<String, serde_json::Value>) -> Result<(), Box<dyn std::error::Error>> {
//! let mut tx = pool.begin().await?;
//! // ... insert the user ...
//! reporter.report(&mut *tx, "user", EventKind::Create, &row, Origin::Auth).await?;
//! tx.commit().await?;
//! reporter.notify(); // send now rather than at the worker's next poll
//! # Ok(()) }
//! ```

use serde_json::{Map, Value};
use sqlx::Row;

use super::adapter::{Adapters, FieldSource, MEMBER_ATTIO_IDS};
use super::delivery::DeliveryHandle;
use super::event::{EventKind, Origin};
use super::outbox::{LinkTable, OutboxConn, OutboxError, enqueue};

/// Reports auth changes as sync events. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SyncReporter {
    adapters: Adapters,
    links: LinkTable,
    snake_case: bool,
    handle: Option<DeliveryHandle>,
}

impl SyncReporter {
    /// A reporter for these adapters on a database with Better Auth's camelCase naming.
    pub fn new(adapters: Adapters) -> Self {
        Self {
            adapters,
            links: LinkTable::camel_case(),
            snake_case: false,
            handle: None,
        }
    }

    /// For a database whose Better Auth tables use snake_case names (`email_verified`,
    /// `attio_integration`).
    pub fn snake_case(mut self) -> Self {
        self.snake_case = true;
        self.links = LinkTable::snake_case();
        self
    }

    /// Wakes this worker after [`SyncReporter::notify`].
    pub fn with_handle(mut self, handle: DeliveryHandle) -> Self {
        self.handle = Some(handle);
        self
    }

    /// The handle that wakes the worker, when one is set.
    pub(crate) fn handle(&self) -> Option<&DeliveryHandle> {
        self.handle.as_ref()
    }

    /// The adapters.
    pub fn adapters(&self) -> &Adapters {
        &self.adapters
    }

    /// The links table events fan out to.
    pub fn links(&self) -> &LinkTable {
        &self.links
    }

    /// Wakes the delivery worker (call after the commit).
    pub fn notify(&self) {
        if let Some(h) = &self.handle {
            h.notify();
        }
    }

    /// Enqueues an event about `row` (Better Auth field names, camelCase whatever the
    /// database's naming) of `model`. An `organization` row without `memberAttioIds` gets
    /// them read from the database on `conn`. Returns the event id, or `None` when no
    /// adapter covers the model or no backend is linked.
    pub async fn report<'c>(
        &self,
        conn: impl Into<OutboxConn<'c>>,
        model: &str,
        kind: EventKind,
        row: &Map<String, Value>,
        origin: Origin,
    ) -> Result<Option<String>, OutboxError> {
        let Some(adapter) = self.adapters.for_model(model) else {
            return Ok(None);
        };
        let mut conn = conn.into();
        let needs_members = kind != EventKind::Delete
            && adapter.fields.iter().any(|f| {
                matches!(&f.source, FieldSource::References { key, .. } if key == MEMBER_ATTIO_IDS)
            })
            && !row.contains_key(MEMBER_ATTIO_IDS);
        let mut row = row.clone();
        let org_id = row.get("id").and_then(Value::as_str).map(str::to_owned);
        if let (true, Some(id)) = (needs_members, org_id) {
            let ids = self.member_attio_ids(conn.reborrow(), &id).await?;
            row.insert(
                MEMBER_ATTIO_IDS.into(),
                Value::Array(ids.into_iter().map(Value::String).collect()),
            );
        }
        let event = adapter.event(kind, &row, origin);
        let n = enqueue(conn, &self.links, &event).await?;
        Ok((n > 0).then(|| event.id.unwrap_or_default()))
    }

    /// Enqueues an `update` of organization `organization_id` as stored now (members
    /// included): for member changes, which in the original never reached Attio. `None`
    /// when the organization does not exist (or see [`SyncReporter::report`]).
    pub async fn report_organization<'c>(
        &self,
        conn: impl Into<OutboxConn<'c>>,
        organization_id: &str,
        origin: Origin,
    ) -> Result<Option<String>, OutboxError> {
        let mut conn = conn.into();
        let sql = self.sql(
            "select \"id\", \"name\", \"slug\", \"logo\", \"attioId\" from \"organization\" \
             where \"id\" = $1",
        );
        let row = match conn.reborrow() {
            OutboxConn::Sqlite(c) => sqlx::query(&sql)
                .bind(organization_id)
                .fetch_optional(&mut *c)
                .await?
                .map(|r| org_row(&r))
                .transpose()?,
            OutboxConn::Postgres(c) => sqlx::query(&sql)
                .bind(organization_id)
                .fetch_optional(&mut *c)
                .await?
                .map(|r| org_row(&r))
                .transpose()?,
            OutboxConn::MySql(c) => sqlx::query(&crate::store::db::mysql_sql(&sql))
                .bind(organization_id)
                .fetch_optional(&mut *c)
                .await?
                .map(|r| org_row(&r))
                .transpose()?,
        };
        let Some(row) = row else {
            return Ok(None);
        };
        self.report(conn, "organization", EventKind::Update, &row, origin)
            .await
    }

    async fn member_attio_ids(
        &self,
        conn: OutboxConn<'_>,
        organization_id: &str,
    ) -> Result<Vec<String>, OutboxError> {
        let sql = self.sql(
            "select u.\"attioId\" from \"member\" m join \"user\" u on u.\"id\" = m.\"userId\" \
             where m.\"organizationId\" = $1 and u.\"attioId\" is not null \
             order by m.\"createdAt\", m.\"id\"",
        );
        Ok(match conn {
            OutboxConn::Sqlite(c) => {
                sqlx::query_scalar(&sql)
                    .bind(organization_id)
                    .fetch_all(&mut *c)
                    .await?
            }
            OutboxConn::Postgres(c) => {
                sqlx::query_scalar(&sql)
                    .bind(organization_id)
                    .fetch_all(&mut *c)
                    .await?
            }
            OutboxConn::MySql(c) => {
                sqlx::query_scalar(&crate::store::db::mysql_sql(&sql))
                    .bind(organization_id)
                    .fetch_all(&mut *c)
                    .await?
            }
        })
    }

    /// Rewrites the camelCase quoted identifiers of `sql` for the database's naming.
    fn sql(&self, sql: &str) -> String {
        match self.snake_case {
            false => sql.to_owned(),
            true => {
                let mut out = String::with_capacity(sql.len() + 8);
                let mut quoted = false;
                for c in sql.chars() {
                    if c == '"' {
                        quoted = !quoted;
                        out.push(c);
                    } else if quoted && c.is_ascii_uppercase() {
                        out.push('_');
                        out.push(c.to_ascii_lowercase());
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

fn org_row<R: Row>(r: &R) -> Result<Map<String, Value>, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut m = Map::new();
    for (i, key) in ["id", "name", "slug", "logo", "attioId"].iter().enumerate() {
        let v: Option<String> = r.try_get(i)?;
        m.insert((*key).to_owned(), v.map_or(Value::Null, Value::String));
    }
    Ok(m)
}
