//! Sync: model adapters, the event outbox and its delivery worker, inbound Attio record
//! mapping.
//!
//! Out: the host reports a change ([`ModelAdapter::event`] turns a row into a
//! [`SyncEvent`]), [`outbox::enqueue`] writes it in the host's own transaction, and the
//! delivery worker ([`AttioPlugin::spawn_sync`](crate::AttioPlugin::spawn_sync) starts it)
//! signs and POSTs it to every linked backend with retries.
//! In: [`inbound`] turns an Attio webhook record into the auth changes its adapter allows.

pub mod adapter;
pub mod delivery;
pub mod event;
pub mod inbound;
pub mod outbox;
pub mod report;
pub(crate) mod worker;

pub use adapter::{
    Adapters, AttributeType, Direction, FieldMapping, FieldSchema, FieldSource, ModelAdapter,
    OnMissing,
};
pub use delivery::{DeliveryConfig, DeliveryHandle, DeliveryWorker};
pub use event::{EventKind, Origin, SyncEvent};
pub use inbound::{InboundPlan, RecordEvent, RecordEventKind};
pub use outbox::{LinkTable, OutboxConn, OutboxDb, OutboxError, enqueue};
pub use report::SyncReporter;
/// The shutdown signal [`AttioPlugin::spawn_sync`](crate::AttioPlugin::spawn_sync) watches
/// (re-exported so a host needs no `tokio-util` dependency of its own).
pub use tokio_util::sync::CancellationToken;

#[cfg(test)]
mod tests;
