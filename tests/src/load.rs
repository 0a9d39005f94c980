//! A small closed-loop load generator: `concurrency` clients, each sending its next request
//! as soon as the previous one answered, until `total` requests were sent or `max_time`
//! passed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Requests answered (any status).
    pub requests: usize,
    /// Requests that failed or answered a status other than the expected one.
    pub errors: usize,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency of every answered request, sorted.
    pub latencies: Vec<Duration>,
}

impl Stats {
    /// Requests per second.
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies[rank.min(self.latencies.len() - 1)].as_secs_f64() * 1000.0
    }
}

/// Sends `POST url` with the body `body(i)` for i in 0..total from `concurrency` clients.
/// A request counts as an error unless it answers `expected_status`.
pub async fn run<F>(
    http: &reqwest::Client,
    url: &str,
    concurrency: usize,
    total: usize,
    max_time: Duration,
    expected_status: u16,
    body: F,
) -> Stats
where
    F: Fn(usize) -> String + Send + Sync + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let body = Arc::new(body);
    let start = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (http, url, next, body) = (http.clone(), url.to_owned(), next.clone(), body.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || start.elapsed() > max_time {
                    break;
                }
                let payload = body(i);
                let t0 = Instant::now();
                let res = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(payload)
                    .send()
                    .await;
                let ok = match res {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        res.bytes().await.is_ok() && status == expected_status
                    }
                    Err(_) => false,
                };
                latencies.push(t0.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for w in workers {
        if let Ok((l, e)) = w.await {
            latencies.extend(l);
            errors += e;
        }
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Stats {
        requests: latencies.len(),
        errors,
        elapsed,
        latencies,
    }
}
