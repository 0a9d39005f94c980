//! Waiting for the chain to settle: the end-to-end tests poll (sync is asynchronous by
//! design) instead of sleeping a guessed time.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` every 100 ms until it answers `Some`, for at most `secs`; panics (the
/// test fails) naming `what` when time runs out.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
