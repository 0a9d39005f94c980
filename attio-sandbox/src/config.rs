//! Typed settings of a sandbox, with documented defaults. The binary reads them from flags
//! and environment variables (see `main.rs`); tests build them in code.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Entries each log (requests, deliveries) keeps by default: [`SandboxConfig::log_limit`].
pub const DEFAULT_LOG_LIMIT: usize = 100_000;

/// Settings of one sandbox server (`Default`: port 0, Attio's limits, production-like
/// retries, logs of [`DEFAULT_LOG_LIMIT`] entries).
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Loopback port to listen on; `0` (the default) picks a free one.
    pub port: u16,
    /// Per-token rate limits (default: Attio's 100 reads and 25 writes per second).
    pub rate_limits: RateLimits,
    /// Webhook delivery retries and timeouts.
    pub delivery: DeliveryConfig,
    /// How many entries the request log and the delivery log each keep: when full, the
    /// oldest entry is dropped for each new one, so a long run (a 20 000-user backfill, a
    /// demo left running) stays within bounded memory. `0` keeps no log.
    pub log_limit: usize,
    /// Accept `http://` webhook targets on a loopback host. Attio requires `https://`
    /// (OpenAPI: `target_url` pattern `^https://`); tests and the demo receive deliveries on
    /// plain loopback ports, so they switch this on (`--allow-http-webhooks`). Default off.
    pub allow_http_webhooks: bool,
    /// Unrelated and system `record.updated` events ("enrichment noise") sent to webhooks
    /// at a steady rate; see [`Noise`]. Default off.
    pub noise: Noise,
    /// Keep the JSON body of each `/v2` request in the request log
    /// ([`crate::RequestRecord::body`]), so that tests can check what a client sent against
    /// Attio's request schemas. Default off (bodies can be large).
    pub record_bodies: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            port: 0,
            rate_limits: RateLimits::default(),
            delivery: DeliveryConfig::default(),
            log_limit: DEFAULT_LOG_LIMIT,
            allow_http_webhooks: false,
            noise: Noise::default(),
            record_bodies: false,
        }
    }
}

impl SandboxConfig {
    /// Defaults for tests: random port, Attio's rate limits, and webhook retries that back
    /// off from 20 ms instead of seconds so a failing target is retried within a test, and
    /// `http://` loopback webhook targets allowed (tests receive deliveries on loopback).
    pub fn for_tests() -> Self {
        Self {
            allow_http_webhooks: true,
            delivery: DeliveryConfig {
                max_attempts: 4,
                initial_backoff: Duration::from_millis(20),
                timeout: Duration::from_secs(2),
            },
            ..Self::default()
        }
    }
}

/// Per-token request budgets over one-second windows, as Attio documents them
/// (docs.attio.com/rest-api/how-to/rate-limiting). Query endpoints (`POST .../query`) count
/// as reads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimits {
    /// `false` switches rate limiting off entirely.
    pub enabled: bool,
    /// Reads allowed per token per second (Attio: 100).
    pub reads_per_second: u32,
    /// Writes allowed per token per second (Attio: 25).
    pub writes_per_second: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            reads_per_second: 100,
            writes_per_second: 25,
        }
    }
}

/// How webhook deliveries are attempted. Attio retries a failed delivery up to 10 times with
/// exponential backoff over about 3 days; the sandbox keeps the shape (doubling delays) but
/// lets the first delay be short.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryConfig {
    /// Attempts in total, the first included (default 11: one try and 10 retries).
    pub max_attempts: u32,
    /// Delay before the first retry; each later retry waits twice as long (default 1 s).
    pub initial_backoff: Duration,
    /// How long a target may take to answer (default 5 s).
    pub timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 11,
            initial_backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Faults injected into Attio API answers (not into the control API), for testing clients'
/// retry paths.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Share of API requests answered with `status` instead of being served, 0.0..=1.0,
    /// spread evenly over the requests counted from when the faults were set (at 0.3 the
    /// 4th, 7th and 10th fail), so that a test sees the same failures on every run.
    pub error_rate: f64,
    /// Status of injected failures (500..=599, default 500).
    pub status: u16,
    /// Delay added before every API answer, in milliseconds.
    pub latency_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            status: 500,
            latency_ms: 0,
        }
    }
}

/// "Enrichment noise": a real workspace sends `record.updated` events nobody asked for,
/// from Attio's own enrichment and system jobs (actor `{type: "system", id: null}`), on
/// records of every object, often without a visible change. When `events_per_second` is
/// above 0 the sandbox sends such events for existing records (values unchanged) to the
/// subscribed webhooks, so clients can show they neither loop nor lose data on them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Noise {
    /// Events per second across all workspaces (0 = off, at most 1000).
    pub events_per_second: f64,
}

/// A deterministic fault: every API request whose method is `method` and whose path
/// contains `path_contains` is answered `status` (a 5xx, or 4xx to imitate a refusal),
/// `times` times (`None`: until the rules are cleared). Lets a test fail exactly one step of
/// a multi-step client flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// A substring of the path (without the query), e.g. `/v2/webhooks`.
    pub path_contains: String,
    /// Status answered (400..=599).
    #[serde(default = "default_fault_status")]
    pub status: u16,
    /// How many matching requests fail; `None` = all of them.
    #[serde(default)]
    pub times: Option<u32>,
}

fn default_fault_status() -> u16 {
    500
}
