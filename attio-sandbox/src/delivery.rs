//! Webhook delivery as Attio does it (docs.attio.com/rest-api/how-to/webhooks, NOTES.md §3):
//! one event per request `{webhook_id, events: [event]}`, signed with `Attio-Signature` and
//! `X-Attio-Signature` (hex HMAC-SHA256 of the raw body, keyed with the webhook secret), an
//! `Idempotency-Key` that stays the same across retries, retried with doubling delays until a
//! 2xx; a webhook whose retries are exhausted becomes `degraded`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use crate::state::{AppState, DeliveryEntry};
use crate::write::Event;

/// Hex HMAC-SHA256 of `body` keyed with `secret`: the value of `Attio-Signature`.
pub(crate) fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Does a webhook subscription filter accept this event? `null` accepts everything;
/// `{"$and"|"$or": [{field, operator: equals|not_equals, value}]}` compares the string at a
/// dot path of the event.
pub(crate) fn filter_accepts(filter: &Value, event: &Value) -> bool {
    let check = |cond: &Value| {
        let field = cond.get("field").and_then(Value::as_str).unwrap_or("");
        let want = cond.get("value").and_then(Value::as_str).unwrap_or("");
        let actual = field
            .split('.')
            .try_fold(event, |v, key| v.get(key))
            .and_then(Value::as_str);
        match cond.get("operator").and_then(Value::as_str) {
            Some("equals") => actual == Some(want),
            Some("not_equals") => actual != Some(want),
            _ => false,
        }
    };
    match filter {
        Value::Null => true,
        Value::Object(m) => {
            if let Some(Value::Array(conds)) = m.get("$and") {
                conds.iter().all(check)
            } else if let Some(Value::Array(conds)) = m.get("$or") {
                conds.iter().any(check)
            } else {
                false
            }
        }
        _ => false,
    }
}

struct Job {
    webhook_id: Uuid,
    workspace_id: Uuid,
    target_url: Arc<str>,
    secret: String,
    /// The exact bytes sent, shared with the delivery log (no parsed copy is kept).
    body: Bytes,
    key: Uuid,
    event_type: &'static str,
    generation: u64,
}

/// Queue deliveries of `events` to every subscribed webhook of the workspace. Each delivery
/// runs in its own task; the caller does not wait.
pub(crate) fn dispatch(state: &AppState, workspace_id: Uuid, events: Vec<Event>) {
    if events.is_empty() {
        return;
    }
    let jobs: Vec<Job> = {
        let store = state.store();
        let Some(ws) = store.workspaces.get(&workspace_id) else {
            return;
        };
        let mut jobs = Vec::new();
        for event in &events {
            let event_json = event.json();
            for hook in ws.webhooks.iter().filter(|h| h.status != "inactive") {
                let subscribed = hook.subscriptions.iter().any(|s| {
                    s.event_type == event.event_type && filter_accepts(&s.filter, &event_json)
                });
                if !subscribed {
                    continue;
                }
                let body_json = json!({"webhook_id": hook.id, "events": [event_json]});
                jobs.push(Job {
                    webhook_id: hook.id,
                    workspace_id,
                    target_url: Arc::from(hook.target_url.as_str()),
                    secret: hook.secret.clone(),
                    body: Bytes::from(body_json.to_string()),
                    key: Uuid::new_v4(),
                    event_type: event.event_type,
                    generation: store.generation,
                });
            }
        }
        jobs
    };
    for job in jobs {
        let state = state.clone();
        state.0.deliveries_in_flight.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            run(&state, job).await;
            state.0.deliveries_in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Still worth delivering: no reset since, and the webhook still exists.
fn still_wanted(state: &AppState, job: &Job) -> bool {
    let store = state.store();
    store.generation == job.generation
        && store
            .workspaces
            .get(&job.workspace_id)
            .is_some_and(|ws| ws.webhooks.iter().any(|h| h.id == job.webhook_id))
}

async fn run(state: &AppState, job: Job) {
    let config = state.0.delivery;
    let signature = sign(&job.secret, &job.body);
    let key = job.key.to_string();
    let mut delay = config.initial_backoff;
    for attempt in 1..=config.max_attempts.max(1) {
        if !still_wanted(state, &job) {
            return;
        }
        let result = state
            .0
            .http
            .post(&*job.target_url)
            .header("content-type", "application/json")
            .header("Attio-Signature", &signature)
            .header("X-Attio-Signature", &signature)
            .header("Idempotency-Key", &key)
            .timeout(config.timeout)
            .body(job.body.clone())
            .send()
            .await;
        let (status, error) = match result {
            Ok(r) => (Some(r.status().as_u16()), None),
            Err(e) => (None, Some(e.without_url().to_string())),
        };
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        state.log_delivery(DeliveryEntry {
            idempotency_key: job.key,
            webhook_id: job.webhook_id,
            event_type: job.event_type,
            target_url: job.target_url.clone(),
            attempt,
            status,
            error,
            delivered,
            at: Utc::now(),
            body: job.body.clone(),
        });
        if delivered {
            return;
        }
        if attempt < config.max_attempts {
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
    let mut store = state.store();
    if store.generation == job.generation
        && let Some(ws) = store.workspaces.get_mut(&job.workspace_id)
        && let Some(hook) = ws.webhooks.iter_mut().find(|h| h.id == job.webhook_id)
    {
        hook.status = "degraded";
    }
}
