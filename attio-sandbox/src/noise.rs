//! Enrichment noise ([`crate::Noise`]): `record.updated` events from Attio's own system jobs
//! on records of every object (people, companies, users, workspaces ...), with values left as
//! they are. Real workspaces send these (enrichment, system recalculations); a client that
//! re-fetches the record on each event must neither loop nor change anything because of them.

use std::time::Duration;

use rand::Rng;
use rand::seq::IteratorRandom;
use serde_json::json;

use crate::state::AppState;
use crate::write::Event;

/// How often the task looks at the setting while noise is off.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Runs for the life of the server: one event per `1 / events_per_second`.
pub(crate) async fn run(state: AppState) {
    loop {
        let rate = state.settings().noise.events_per_second;
        if rate <= 0.0 {
            tokio::time::sleep(IDLE_POLL).await;
            continue;
        }
        tokio::time::sleep(Duration::from_secs_f64(1.0 / rate.min(1000.0))).await;
        if let Some((workspace_id, event)) = pick(&state) {
            crate::delivery::dispatch(&state, workspace_id, vec![event]);
        }
    }
}

/// A random record of a workspace that has webhooks, and a random attribute of its object.
fn pick(state: &AppState) -> Option<(uuid::Uuid, Event)> {
    let store = state.store();
    let mut rng = rand::thread_rng();
    let ws = store
        .workspaces
        .values()
        .filter(|w| !w.webhooks.is_empty())
        .choose(&mut rng)?;
    let (record_id, object_id) = ws
        .records
        .ids()
        .filter(|(_, o)| ws.object_by_id(*o).is_some_and(|o| o.enabled))
        .choose(&mut rng)?;
    let attribute_id = ws.attributes_of(object_id).choose(&mut rng)?.id;
    // Mostly Attio's own jobs; sometimes another app's token.
    let actor = if rng.gen_bool(0.8) {
        json!({"type": "system", "id": null})
    } else {
        json!({"type": "app", "id": uuid::Uuid::new_v4()})
    };
    Some((
        ws.id,
        Event {
            event_type: "record.updated",
            id: json!({
                "workspace_id": ws.id,
                "object_id": object_id,
                "record_id": record_id,
                "attribute_id": attribute_id,
            }),
            actor,
            extra: None,
        },
    ))
}
