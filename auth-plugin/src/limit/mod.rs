//! Rate limits per endpoint, in Better Auth's terms (`rateLimit: {window, max, customRules,
//! storage}`): a default window and max, rules by path with `*` wildcards, counted per
//! caller in memory (one instance) or in the database (several instances sharing it).
//!
//! Which rule applies to a path, in Better Auth's order: the default; replaced by the
//! plugin's built-in rule for the path (`/attio/impersonation-session`: 30 per 60 s, like
//! Better Auth's own stricter `/sign-in` rule); replaced by the first custom rule, in the
//! order given, whose pattern matches (a pattern without `*` must equal the path). A custom
//! rule may switch the limit off for its paths (Better Auth's `false`).
//!
//! Who is counted: the verified signer of a signed request (a fingerprint of the secret
//! that verified it, so every instance agrees), or the client address for the browser
//! route and legacy calls (`X-Forwarded-For` only behind a configured trusted proxy).
//! Each key is a fixed window that starts at its first hit, so a burst is never split
//! across two windows.

mod db;
mod memory;

use crate::error::PluginError;
use crate::store::DbPool;
use axum::http::HeaderMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// The built-in rule of the browser-facing route (unauthenticated; its tokens are
/// unguessable, the limit keeps a scanner from loading the database).
const IMPERSONATION_SESSION: &str = "/attio/impersonation-session";

/// The default max per window: a workspace's worth of calls (see [`RateLimit`]).
const DEFAULT_MAX: u32 = 600;

/// One limit: at most `max` requests per key in `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitRule {
    /// The window's length in seconds (at least 1).
    pub window_secs: u32,
    /// Requests allowed per key in one window (at least 1).
    pub max: u32,
}

impl RateLimitRule {
    /// At most `max` requests per `window_secs` (each at least 1).
    pub fn new(window_secs: u32, max: u32) -> Self {
        Self {
            window_secs: window_secs.max(1),
            max: max.max(1),
        }
    }
}

/// Where the counters live.
#[derive(Debug, Clone, Default)]
pub enum RateLimitStorage {
    /// In this process (the default): each instance counts on its own, so N instances
    /// allow N times the limit.
    #[default]
    Memory,
    /// In the auth database (the plugin's `attio_rate_limit` table, created by
    /// `SqlxStore::migrate`): instances that share the database share the counters. Each
    /// counted request is one upsert.
    Database(DbPool),
}

/// The plugin's `rate_limit` option, as Better Auth's `rateLimit`. Default: on, 600
/// requests per 60 s per caller and path, in memory, with the built-in rule for
/// `/attio/impersonation-session` (30 per 60 s). The default max is above Better Auth's 100
/// because one caller here is a whole Attio workspace: every member's widget views and
/// actions arrive signed by the same backend.
///
/// ```
/// use attio_auth_plugin::{RateLimit, RateLimitRule};
/// let limits = RateLimit::default()
///     .window(60)
///     .max(200)
///     .custom_rule("/attio/impersonation-session", RateLimitRule::new(60, 10))
///     .custom_rule("/attio/*-session*", RateLimitRule::new(10, 3))
///     .no_limit("/attio/ping");
/// ```
#[derive(Debug, Clone)]
pub struct RateLimit {
    enabled: bool,
    default: RateLimitRule,
    custom_rules: Vec<(String, Option<RateLimitRule>)>,
    storage: RateLimitStorage,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            enabled: true,
            default: RateLimitRule::new(60, DEFAULT_MAX),
            custom_rules: Vec::new(),
            storage: RateLimitStorage::Memory,
        }
    }
}

impl RateLimit {
    /// No limit on any route.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// On (default) or off.
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }

    /// The default window in seconds (Better Auth's `window`, default 60).
    pub fn window(mut self, secs: u32) -> Self {
        self.default = RateLimitRule::new(secs, self.default.max);
        self
    }

    /// The default requests per window (Better Auth's `max`, default 600).
    pub fn max(mut self, max: u32) -> Self {
        self.default = RateLimitRule::new(self.default.window_secs, max);
        self
    }

    /// A rule for the paths `pattern` matches (`/attio/impersonate`, `/attio/*`), as a
    /// key of Better Auth's `customRules`; paths are relative to the auth base path. The
    /// first added rule that matches wins.
    pub fn custom_rule(mut self, pattern: impl Into<String>, rule: RateLimitRule) -> Self {
        self.custom_rules.push((pattern.into(), Some(rule)));
        self
    }

    /// No limit on the paths `pattern` matches (Better Auth's `customRules: {path: false}`).
    pub fn no_limit(mut self, pattern: impl Into<String>) -> Self {
        self.custom_rules.push((pattern.into(), None));
        self
    }

    /// `rule` for `pattern`, before every custom rule given so far (the builder's
    /// `impersonation_rate_limit`).
    pub(crate) fn with_first_rule(mut self, pattern: String, rule: RateLimitRule) -> Self {
        self.custom_rules.insert(0, (pattern, Some(rule)));
        self
    }

    /// Where the counters live (default [`RateLimitStorage::Memory`]).
    pub fn storage(mut self, storage: RateLimitStorage) -> Self {
        self.storage = storage;
        self
    }

    /// The rule for `path` (`/attio/<name>`), `None` when it is not limited.
    pub fn rule_for(&self, path: &str) -> Option<RateLimitRule> {
        if !self.enabled {
            return None;
        }
        let mut rule = Some(self.default);
        if path == IMPERSONATION_SESSION {
            rule = Some(RateLimitRule::new(60, 30));
        }
        if let Some((_, custom)) = self
            .custom_rules
            .iter()
            .find(|(pattern, _)| pattern_matches(pattern, path))
        {
            rule = *custom;
        }
        rule
    }
}

/// Better Auth's custom-rule match: with a `*`, a wildcard pattern where `*` stands for any
/// run of characters (`/` included); without one, equality.
pub(crate) fn pattern_matches(pattern: &str, path: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == path;
    }
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = path.strip_prefix(first) else {
        return false;
    };
    let middle: Vec<&str> = parts.collect();
    let Some((last, middle)) = middle.split_last() else {
        return true;
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The counters of one plugin instance.
enum Counter {
    Memory(memory::MemoryCounter),
    Database(db::DbCounter),
}

/// A counted request: what the `X-RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Requests allowed per window.
    pub limit: u32,
    /// Requests this key has counted in its window, this one included.
    pub count: u64,
    /// Unix second when the key's window ends.
    pub reset_at: i64,
    /// The clock the verdict was made at (unix seconds).
    pub now: i64,
}

impl Verdict {
    pub(crate) fn allowed(&self) -> bool {
        self.count <= u64::from(self.limit)
    }

    /// Seconds until the window ends, at least 1 (for `Retry-After`).
    pub(crate) fn retry_after(&self) -> i64 {
        self.reset_at.saturating_sub(self.now).max(1)
    }

    /// The `X-RateLimit-*` headers (and `Retry-After` when refused).
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        let remaining = u64::from(self.limit).saturating_sub(self.count);
        let mut set = |name: &'static str, value: String| {
            if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        };
        set("x-ratelimit-limit", self.limit.to_string());
        set("x-ratelimit-remaining", remaining.to_string());
        set("x-ratelimit-reset", self.reset_at.to_string());
        if !self.allowed() {
            set("retry-after", self.retry_after().to_string());
        }
    }
}

/// The rules and counters of one plugin instance.
pub(crate) struct Limiter {
    config: RateLimit,
    counter: Counter,
    /// Requests let through uncounted because the database counter failed.
    failures: AtomicU64,
}

impl Limiter {
    pub(crate) fn new(config: RateLimit) -> Self {
        let counter = match &config.storage {
            RateLimitStorage::Memory => Counter::Memory(memory::MemoryCounter::new()),
            RateLimitStorage::Database(pool) => Counter::Database(db::DbCounter::new(pool.clone())),
        };
        Self {
            config,
            counter,
            failures: AtomicU64::new(0),
        }
    }

    /// How many requests were let through uncounted because the database counter failed
    /// (see [`Limiter::check`]).
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Counts a request of `caller` to `path` (`/attio/<name>`): `None` when the path is not
    /// limited, else the verdict.
    ///
    /// **Fails open**, by design: when the database counter fails, the request goes on
    /// uncounted (no `X-RateLimit-*` headers), with a warning logged and
    /// [`Limiter::failures`] counted, so that an outage of the counter never becomes an
    /// outage of the auth server (every route, sign-in included, would answer 5xx). The
    /// limit is a guard against load, not the authentication itself: signatures, secrets
    /// and tokens are still checked.
    pub(crate) async fn check(&self, path: &str, caller: &str) -> Option<Verdict> {
        let rule = self.config.rule_for(path)?;
        let key = format!("{caller}|{path}");
        let now = crate::time::now_unix();
        let window = i64::from(rule.window_secs);
        let (count, reset_at) = match &self.counter {
            Counter::Memory(m) => m.hit(&key, window, now),
            Counter::Database(d) => match d.hit(&key, window, now).await {
                Ok(hit) => hit,
                Err(e) => {
                    let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::warn!(
                        error = %e,
                        path,
                        failures,
                        "attio plugin: rate limit counter failed; request let through uncounted (fail open)"
                    );
                    return None;
                }
            },
        };
        Some(Verdict {
            limit: rule.max,
            count,
            reset_at,
            now,
        })
    }

    /// [`Limiter::check`] as a refusal: `Err(RateLimited)` when over the limit.
    pub(crate) async fn enforce(
        &self,
        path: &str,
        caller: &str,
    ) -> Result<Option<Verdict>, PluginError> {
        match self.check(path, caller).await {
            Some(v) if !v.allowed() => {
                tracing::info!(path, "attio plugin: rate limited");
                Err(PluginError::RateLimited {
                    limit: v.limit,
                    reset_at: v.reset_at,
                    retry_after: v.retry_after(),
                })
            }
            other => Ok(other),
        }
    }
}

/// The caller key of a signed request: a fingerprint of the secret that verified it (never
/// the secret; the same on every instance with the same secrets).
pub(crate) fn signer_key(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("attio-rate-limit:{secret}").as_bytes());
    format!("signer:{}", &hex::encode(digest)[..16])
}

/// The caller key of an unauthenticated request: the peer address, or, when the peer is a
/// trusted proxy, the nearest `X-Forwarded-For` entry that is not one (anyone can write the
/// header; only the network sets the peer). Without a known peer (the host serves without
/// connect info) every request shares one key.
pub(crate) fn client_key(
    trusted: &[ipnet::IpNet],
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> String {
    let Some(peer) = peer else {
        return "ip:unknown-peer".to_owned();
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return format!("ip:{peer}");
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    for entry in forwarded.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return format!("ip:{ip}"),
            // Not an address: whatever the client wrote, bounded, is its key.
            Err(_) => return format!("ip:{}", entry.chars().take(64).collect::<String>()),
        }
    }
    format!("ip:{peer}")
}

/// The peer address axum records when the host serves with connect info.
pub(crate) fn peer(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_better_auth() {
        assert!(pattern_matches("/attio/ping", "/attio/ping"));
        assert!(!pattern_matches("/attio/ping", "/attio/pings"));
        assert!(pattern_matches("/attio/*", "/attio/ping"));
        assert!(pattern_matches("/attio/*", "/attio/"));
        // `*` crosses `/`, as Better Auth's wildcardMatch without a separator
        assert!(pattern_matches("/*", "/attio/impersonation-session"));
        assert!(pattern_matches("*-session", "/attio/impersonation-session"));
        assert!(pattern_matches(
            "/attio/*-org-*",
            "/attio/list-org-invitations"
        ));
        assert!(!pattern_matches("/attio/*-org-*", "/attio/get-org"));
        assert!(!pattern_matches("/attio/*s", "/attio/ping"));
        assert!(pattern_matches("/a*a", "/aa"));
        assert!(!pattern_matches("/a*a", "/a"));
        assert!(!pattern_matches("/other/*", "/attio/ping"));
    }

    #[test]
    fn the_first_matching_custom_rule_wins_over_built_in_and_default() {
        let limits = RateLimit::default()
            .window(10)
            .max(5)
            .custom_rule("/attio/impersonate", RateLimitRule::new(60, 2))
            .custom_rule("/attio/*", RateLimitRule::new(30, 7))
            .custom_rule("/attio/ping", RateLimitRule::new(1, 1))
            .no_limit("/attio/export");
        // the defaults: 600 a minute, the browser route 30
        assert_eq!(
            RateLimit::default().rule_for("/attio/user-details"),
            Some(RateLimitRule::new(60, 600))
        );
        // the default for a path no rule names
        assert_eq!(
            RateLimit::default()
                .window(10)
                .max(5)
                .rule_for("/attio/ping"),
            Some(RateLimitRule::new(10, 5))
        );
        // the built-in rule of the browser route, replaced by a matching custom rule
        assert_eq!(
            RateLimit::default().rule_for(IMPERSONATION_SESSION),
            Some(RateLimitRule::new(60, 30))
        );
        assert_eq!(
            limits.rule_for(IMPERSONATION_SESSION),
            Some(RateLimitRule::new(30, 7))
        );
        // the order given decides, not specificity: "/attio/*" comes before "/attio/ping"
        assert_eq!(
            limits.rule_for("/attio/impersonate"),
            Some(RateLimitRule::new(60, 2))
        );
        assert_eq!(
            limits.rule_for("/attio/ping"),
            Some(RateLimitRule::new(30, 7))
        );
        assert_eq!(
            limits.rule_for("/attio/export"),
            Some(RateLimitRule::new(30, 7))
        );
        let off = RateLimit::default().no_limit("/attio/export");
        assert_eq!(off.rule_for("/attio/export"), None);
        assert_eq!(RateLimit::disabled().rule_for("/attio/ping"), None);
        // zero is clamped: a rule always allows at least one request per second
        assert_eq!(RateLimitRule::new(0, 0), RateLimitRule::new(1, 1));
    }

    #[test]
    fn verdict_headers() {
        let v = Verdict {
            limit: 2,
            count: 3,
            reset_at: 1_000_060,
            now: 1_000_001,
        };
        assert!(!v.allowed());
        let mut h = HeaderMap::new();
        v.apply(&mut h);
        assert_eq!(h["x-ratelimit-limit"], "2");
        assert_eq!(h["x-ratelimit-remaining"], "0");
        assert_eq!(h["x-ratelimit-reset"], "1000060");
        assert_eq!(h["retry-after"], "59");
        let ok = Verdict { count: 1, ..v };
        let mut h = HeaderMap::new();
        ok.apply(&mut h);
        assert_eq!(h["x-ratelimit-remaining"], "1");
        assert!(h.get("retry-after").is_none());
    }

    #[test]
    fn signer_keys_are_stable_fingerprints() {
        let a = signer_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(a, signer_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        assert_ne!(a, signer_key("whsec_other"));
        assert!(!a.contains("MfKQ"), "{a}");
        assert_eq!(a.len(), "signer:".len() + 16);
    }

    #[test]
    fn client_keys_on_the_peer_unless_it_is_a_trusted_proxy() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.23, 10.0.0.2"
                .parse()
                .expect("header"),
        );
        let peer = Some("10.0.0.1".parse().expect("ip"));
        assert_eq!(client_key(&[], peer, &h), "ip:10.0.0.1");
        let proxies = ["10.0.0.0/8".parse().expect("net")];
        assert_eq!(client_key(&proxies, peer, &h), "ip:198.51.100.23");
        let other = Some("192.0.2.1".parse().expect("ip"));
        assert_eq!(client_key(&proxies, other, &h), "ip:192.0.2.1");
        assert_eq!(client_key(&proxies, None, &h), "ip:unknown-peer");
        assert_eq!(client_key(&proxies, peer, &HeaderMap::new()), "ip:10.0.0.1");
    }
}
