//! Who is calling: the client IP (the one place that reads `X-Forwarded-For`), and the
//! per-client limits of the unauthenticated routes.
//!
//! `X-Forwarded-For` is anyone's to write, so it is believed only when the peer is one of
//! `TRUSTED_PROXIES`, and then only up to the right-most address that is not a trusted
//! proxy: that is the last hop a trusted proxy saw; everything left of it was written by
//! the client.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use crate::config::Config;

/// The client IP of a request; `None` when the server was not started with peer addresses
/// (a router driven directly, in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    Arc<Config>: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let config = Arc::<Config>::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientIp(peer.map(|p| {
            client_ip(p, &parts.headers, &config.trusted_proxies)
        })))
    }
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|n| n.contains(&ip))
}

/// The client address of a request from `peer`: the peer itself, unless it is a trusted
/// proxy; then the right-most `X-Forwarded-For` entry that is not a trusted proxy. An entry
/// that is not an IP ends the walk at the hop to its right (what a trusted proxy vouched
/// for), and so does an empty header.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted(peer, proxies) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = parse_hop(entry) else {
            break;
        };
        client = ip;
        if !trusted(ip, proxies) {
            break;
        }
    }
    client
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:5678`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// A per-key budget of calls per minute (governor, in memory), for routes anyone can call.
#[derive(Debug)]
pub struct KeyedLimit {
    limiter: DefaultKeyedRateLimiter<String>,
}

/// Keys kept before idle ones are dropped: the map must not grow with every address seen.
const MAX_KEYS: usize = 10_000;

impl KeyedLimit {
    /// `per_minute` calls per key per minute, all of them usable at once.
    pub fn per_minute(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        KeyedLimit {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
        }
    }

    /// Spend one call of `key`'s budget; false when it is used up.
    pub fn check(&self, key: &str) -> bool {
        if self.limiter.len() >= MAX_KEYS {
            // Keys whose budget is full again carry no information.
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&key.to_owned()).is_ok()
    }
}

/// The limits of the unauthenticated routes.
#[derive(Debug)]
pub struct Limits {
    /// Install attempts per client IP.
    pub install_by_ip: KeyedLimit,
    /// Install attempts per Attio token (keyed by its SHA-256, never the token).
    pub install_by_token: KeyedLimit,
    /// OAuth starts per client IP.
    pub oauth_start_by_ip: KeyedLimit,
}

impl Limits {
    /// From the configured rates.
    pub fn new(config: &Config) -> Self {
        Limits {
            install_by_ip: KeyedLimit::per_minute(config.install_attempts_per_minute),
            install_by_token: KeyedLimit::per_minute(config.install_attempts_per_minute),
            oauth_start_by_ip: KeyedLimit::per_minute(config.oauth_starts_per_minute),
        }
    }
}

/// The key of a client for limits: its IP, or one shared key when unknown.
pub fn ip_key(ip: ClientIp) -> String {
    ip.0.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = crate::config::parse_networks("10.0.0.0/8, 127.0.0.1").unwrap();
        // Untrusted peer: its own address, whatever it claims.
        assert_eq!(
            client_ip(ip("203.0.113.5"), &xff(&["1.2.3.4"]), &proxies),
            ip("203.0.113.5")
        );
        // Trusted peer: the right-most untrusted entry; spoofed entries left of it ignored.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                &xff(&["6.6.6.6, 8.8.4.4", "10.0.0.9"]),
                &proxies
            ),
            ip("8.8.4.4")
        );
        // Ports and IPv4-mapped peers.
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &xff(&["8.8.8.8:4711"]), &proxies),
            ip("8.8.8.8")
        );
        // Garbage stops the walk at the last vouched-for hop; no header: the peer.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &xff(&["8.8.8.8, nonsense"]), &proxies),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &proxies),
            ip("10.0.0.2")
        );
        // Nobody trusted by default.
        assert_eq!(
            client_ip(ip("127.0.0.1"), &xff(&["8.8.8.8"]), &[]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_key_runs_out_and_others_do_not() {
        let l = KeyedLimit::per_minute(2);
        assert!(l.check("a"));
        assert!(l.check("a"));
        assert!(!l.check("a"));
        assert!(l.check("b"));
    }
}
