//! What the installation page's health section reads, and the small hooks that record it:
//! the last event each way (the Attio webhook, the plugin's sync events) and the Attio app's
//! first `connection-check` (the finish page's "the Attio app is connected").

use sqlx::Row as _;

use crate::clock::now_ms;
use crate::error::Result;
use crate::state::AppState;

/// Which way an event came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// An Attio webhook delivery (Attio to the auth server).
    FromAttio,
    /// A plugin sync event (the auth server to Attio).
    FromPlugin,
}

/// How often the last-event time of one installation and direction is written: a flood
/// of events (a backfill's echoes) must not become a flood of writes.
const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// When each (installation, direction) was last written by this process (bounded).
static TOUCHED: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<(String, bool), std::time::Instant>>,
> = std::sync::LazyLock::new(Default::default);

fn due(installation_id: &str, direction: Direction) -> bool {
    let Ok(mut map) = TOUCHED.lock() else {
        return true;
    };
    let key = (
        installation_id.to_owned(),
        direction == Direction::FromAttio,
    );
    let now = std::time::Instant::now();
    match map.get(&key) {
        Some(at) if now.duration_since(*at) < TOUCH_EVERY => false,
        _ => {
            if map.len() >= 10_000 {
                map.clear();
            }
            map.insert(key, now);
            true
        }
    }
}

/// Record that an authenticated event arrived now (at most every [`TOUCH_EVERY`] per
/// installation and direction). A failure is logged, never passed on: the event itself
/// matters more than its timestamp.
pub async fn touch(state: &AppState, installation_id: &str, direction: Direction) {
    if !due(installation_id, direction) {
        return;
    }
    let column = match direction {
        Direction::FromAttio => "last_attio_event_at",
        Direction::FromPlugin => "last_plugin_event_at",
    };
    if let Err(e) = sqlx::query(&format!(
        "update installations set {column} = $1 where id = $2"
    ))
    .bind(now_ms())
    .bind(installation_id)
    .execute(&state.db.pool)
    .await
    {
        tracing::warn!(error = %e, installation = installation_id, "could not record the last event time");
    }
}

/// Record the Attio app's first `connection-check` (later ones keep the first time).
pub async fn app_connected(state: &AppState, installation_id: &str) {
    if let Err(e) = sqlx::query(
        "update installations set app_connected_at = $1 where id = $2 and app_connected_at is null",
    )
    .bind(now_ms())
    .bind(installation_id)
    .execute(&state.db.pool)
    .await
    {
        tracing::warn!(error = %e, installation = installation_id, "could not record the app's connection");
    }
}

/// The recorded times of an installation.
#[derive(Debug, Clone, Default)]
pub struct Times {
    /// The Attio app's first `connection-check`.
    pub app_connected_at: Option<i64>,
    /// The last Attio webhook delivery.
    pub last_attio_event_at: Option<i64>,
    /// The last plugin sync event.
    pub last_plugin_event_at: Option<i64>,
}

/// The recorded times of `installation_id`.
pub async fn times(state: &AppState, installation_id: &str) -> Result<Times> {
    let row = sqlx::query(
        "select app_connected_at, last_attio_event_at, last_plugin_event_at from installations \
         where id = $1",
    )
    .bind(installation_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(r) = row else {
        return Ok(Times::default());
    };
    Ok(Times {
        app_connected_at: r.try_get("app_connected_at")?,
        last_attio_event_at: r.try_get("last_attio_event_at")?,
        last_plugin_event_at: r.try_get("last_plugin_event_at")?,
    })
}

/// The installation's queue: jobs waiting, running, dead, and how long the oldest waiting
/// one has waited (the lag), in ms.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    /// Waiting.
    pub queued: i64,
    /// Running now.
    pub running: i64,
    /// Given up (dead letters).
    pub dead: i64,
    /// Age of the oldest waiting job.
    pub lag_ms: Option<i64>,
}

/// The queue figures of `installation_id` at `now` (unix ms).
pub async fn queue(state: &AppState, installation_id: &str, now: i64) -> Result<Queue> {
    let rows = sqlx::query(
        "select status, count(*) as n, min(created_at) as oldest from jobs \
         where installation_id = $1 group by status",
    )
    .bind(installation_id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut q = Queue::default();
    for r in &rows {
        let status: String = r.try_get("status")?;
        let n: i64 = r.try_get("n")?;
        match status.as_str() {
            "queued" => {
                q.queued = n;
                let oldest: Option<i64> = r.try_get("oldest")?;
                q.lag_ms = oldest.map(|o| now.saturating_sub(o).max(0));
            }
            "running" => q.running = n,
            "dead" => q.dead = n,
            _ => {}
        }
    }
    Ok(q)
}

/// Put a dead job back in the queue (the retry button): attempts start again. Only a dead
/// job of this installation; false when there is none.
pub async fn retry_dead(state: &AppState, installation_id: &str, job_id: i64) -> Result<bool> {
    let now = now_ms();
    let n = sqlx::query(
        "update jobs set status = 'queued', attempts = 0, run_at = $1, locked_until = null, \
         locked_by = null, updated_at = $2 where id = $3 and installation_id = $4 and status = 'dead'",
    )
    .bind(now)
    .bind(now)
    .bind(job_id)
    .bind(installation_id)
    .execute(&state.db.pool)
    .await?
    .rows_affected();
    // Workers poll the queue: the job runs within their wait interval.
    Ok(n > 0)
}
