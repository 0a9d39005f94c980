//! Delivery without a long-running process (serverless hosts): the events a request
//! enqueued are delivered right after it, through the host's `wait_until` hook or a spawned
//! task, and [`Drainer::drain_outbox`] delivers everything due for a scheduled call.
//!
//! The request's events are noted as the [`super::SyncReporter`] enqueues them, in a
//! task-local list that [`collect`] sets up around the request, so only the plugin's own
//! request future is watched (the host's changes are delivered by the next drain, or by
//! [`super::DeliveryWorker::deliver_events`] with the ids `report` returns). Sending goes
//! through the delivery worker's own claim: a delivery is leased by one sender at a time
//! and finished once, so racing drains (two requests, a cron call, a worker) send each
//! event once.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio_util::task::TaskTracker;

use super::delivery::{DeliveryWorker, PassStats};
use super::outbox::OutboxError;

/// The host's `waitUntil`: keeps the function alive until the future it is given completes.
pub type WaitUntil = Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>;

tokio::task_local! {
    /// Event ids the current request enqueued.
    static ENQUEUED: RefCell<Vec<String>>;
}

/// Notes an event the current request enqueued (nothing outside [`collect`]).
pub(crate) fn note(event_id: &str) {
    let _ = ENQUEUED.try_with(|ids| ids.borrow_mut().push(event_id.to_owned()));
}

/// Runs `request` and answers its output with the ids of the events it enqueued.
pub(crate) async fn collect<F: Future>(request: F) -> (F::Output, Vec<String>) {
    ENQUEUED
        .scope(RefCell::new(Vec::new()), async {
            let out = request.await;
            let ids = ENQUEUED.with(|ids| ids.take());
            (out, ids)
        })
        .await
}

/// Delivers after requests, and on demand.
pub(crate) struct Drainer {
    worker: DeliveryWorker,
    wait_until: Option<WaitUntil>,
    tracker: TaskTracker,
}

impl Drainer {
    pub(crate) fn new(worker: DeliveryWorker, wait_until: Option<WaitUntil>) -> Self {
        Self {
            worker,
            wait_until,
            tracker: TaskTracker::new(),
        }
    }

    /// Delivers a finished request's events past its response: handed to the host's
    /// `wait_until`, or spawned. A failure is logged; the outbox keeps the event for the
    /// next drain.
    pub(crate) fn after_request(&self, events: Vec<String>) {
        if events.is_empty() {
            return;
        }
        let worker = self.worker.clone();
        let send = async move {
            match worker.deliver_events(&events).await {
                Ok(stats) => {
                    tracing::debug!(?stats, "attio plugin: request's sync events delivered");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "attio plugin: request's sync events not delivered; the next drain retries");
                }
            }
        };
        match &self.wait_until {
            Some(hook) => hook(Box::pin(send)),
            None => {
                self.tracker.spawn(send);
            }
        }
    }

    /// Every due delivery, now.
    pub(crate) async fn drain_outbox(&self) -> Result<PassStats, OutboxError> {
        self.worker.drain().await
    }

    /// Until the spawned deliveries have finished.
    pub(crate) async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
        self.tracker.reopen();
    }
}
