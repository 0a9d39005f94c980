//! Workers wake on enqueue (issue 18, item 2): with a poll interval of an hour, a job is
//! still picked up at once, in process (SQLite, PostgreSQL) and, on PostgreSQL, when another
//! instance enqueued it (`LISTEN/NOTIFY`). No timing is asserted: the generous bound only
//! turns a worker that waits for its poll into a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use attio_auth_backend::AppState;
use attio_auth_backend::jobs::JobKind;
use serde_json::json;
use sqlx::Row as _;

const HOUR: Duration = Duration::from_secs(3600);

/// A running instance (workers on, poll every hour) over `url` (`None`: a new SQLite file).
async fn instance(url: Option<String>) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = test_config(dir.path(), url, "http://127.0.0.1:9/v2");
    config.workers = 2;
    config.queue_poll_interval = HOUR;
    spawn_app_with(config, dir).await
}

/// Enqueue on `by`, then wait until some worker claimed the job (an attempt counted, or
/// the job finished and is gone). The job names no installation: its run fails, which is
/// fine, the claim is what is observed.
async fn picked_up(by: &AppState, observe: &AppState, key: &str) {
    // Let the workers finish their first empty claim and wait on the queue.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        by.queue
            .enqueue(
                "inst-none",
                JobKind::PluginEvent,
                Some(key),
                Some(key),
                &json!({})
            )
            .await
            .unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = sqlx::query("select attempts from jobs where dedupe_key = $1")
            .bind(key)
            .fetch_optional(&observe.db.pool)
            .await
            .unwrap();
        let attempts: i64 = row.map_or(1, |r| r.try_get("attempts").unwrap());
        if attempts >= 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the job waited for the hourly poll"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueued_job_wakes_a_worker_sqlite() {
    let app = instance(None).await;
    picked_up(&app.state, &app.state, "wake-sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueued_job_wakes_a_worker_postgres() {
    let app = instance(Some(fresh_postgres_url().await)).await;
    picked_up(&app.state, &app.state, "wake-pg").await;
}

/// Instance B only enqueues (no workers); A's workers hear it through `NOTIFY`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_enqueued_by_another_instance_wakes_a_worker_postgres() {
    let url = fresh_postgres_url().await;
    let a = instance(Some(url.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let b = attio_auth_backend::Application::build(test_config(
        dir.path(),
        Some(url),
        "http://127.0.0.1:9/v2",
    ))
    .await
    .unwrap();
    picked_up(b.state(), &a.state, "wake-other").await;
}
