//! Outbound HTTP to addresses a tenant chose (the auth plugin's URL), and the one capped
//! body reader every outbound call uses.
//!
//! Anyone with an Attio workspace can install, so a plugin URL is attacker input: without a
//! policy it reaches our loopback, private network and cloud metadata service (SSRF). With
//! `ALLOW_PRIVATE_PLUGIN_URLS` off (the default):
//!
//! - the URL must be `https`;
//! - an IP literal host must be public (hyper never asks a resolver about literals);
//! - a name must resolve only to public addresses before install, OAuth start and
//!   `connection-check` go on ([`EgressPolicy::check`]), and at connect time the client's
//!   resolver ([`PublicOnlyResolver`]) drops every non-public address, so the address that
//!   was checked is the address connected to (DNS rebinding has no gap);
//! - no proxy from the environment (a proxy would resolve the name itself).
//!
//! Plugin calls never follow redirects (a 3xx is refused by the caller), with or without
//! the switch: a redirect would send the signed body elsewhere and reflect what is there.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A URL or address the policy refuses; the message says why (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAllowed(pub String);

/// Whether `ip` is a globally routable unicast address (`IpAddr::is_global` is unstable).
/// IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`) forms are judged by the
/// IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let blocked = a == 0 // 0.0.0.0/8 "this network"
        || a == 10 // 10.0.0.0/8
        || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10 CGNAT
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // 172.16.0.0/12
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24 protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || (a == 192 && b == 168) // 192.168.0.0/16
        || (a == 198 && (b == 18 || b == 19)) // 198.18.0.0/15 benchmarking
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    !blocked
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    // ::ffff:0:0/96, IPv4-mapped.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // 64:ff9b::/96, NAT64 well-known prefix: the gateway connects to the embedded IPv4.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    let blocked = (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (s[0] & 0xff00) == 0xff00 // ff00::/8 multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32 documentation
        || s[..6] == [0, 0, 0, 0, 0, 0]; // ::/96 deprecated IPv4-compatible (::a.b.c.d)
    !blocked
}

/// The policy for plugin URLs (`ALLOW_PRIVATE_PLUGIN_URLS`).
#[derive(Debug, Clone, Copy)]
pub struct EgressPolicy {
    /// Allow `http` and non-public addresses (demo, tests, a plugin on the same network).
    pub allow_private: bool,
}

impl EgressPolicy {
    /// What can be decided without DNS: the scheme, and an IP literal host. Done before
    /// every plugin call, because literals never reach the resolver.
    pub fn check_static(&self, url: &str) -> Result<Option<url::Url>, NotAllowed> {
        if self.allow_private {
            return Ok(None);
        }
        let parsed = url::Url::parse(url)
            .map_err(|_| NotAllowed("The auth server URL is not a valid URL.".into()))?;
        if parsed.scheme() != "https" {
            return Err(NotAllowed(
                "The auth server URL must use https on this backend.".into(),
            ));
        }
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(NotAllowed("The auth server URL has no host.".into())),
        };
        if let Some(ip) = literal
            && !is_public(ip)
        {
            return Err(not_public());
        }
        Ok(Some(parsed))
    }

    /// The full check before install, OAuth start and `connection-check`: the static part,
    /// then every address the host resolves to must be public (a name with one private
    /// address among public ones is refused, so the answer cannot depend on which one the
    /// connection would pick).
    pub async fn check(&self, url: &str) -> Result<(), NotAllowed> {
        let Some(parsed) = self.check_static(url)? else {
            return Ok(());
        };
        let Some(url::Host::Domain(host)) = parsed.host() else {
            return Ok(()); // a public IP literal
        };
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| NotAllowed(format!("The auth server host {host} does not resolve.")))?
            .collect();
        if addrs.is_empty() {
            return Err(NotAllowed(format!(
                "The auth server host {host} does not resolve."
            )));
        }
        if addrs.iter().any(|a| !is_public(a.ip())) {
            return Err(not_public());
        }
        Ok(())
    }
}

fn not_public() -> NotAllowed {
    NotAllowed(
        "The auth server URL points at a loopback, private, link-local or otherwise \
         non-public address, which this backend does not call."
            .into(),
    )
}

/// A resolver that answers only public addresses, so a connection can only go where the
/// policy allows, whatever the name resolves to at connect time.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(not_public()) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The client for plugin calls: never follows redirects, ignores proxy variables, and,
/// unless `policy` allows private URLs, only speaks https to public addresses. `timeout`
/// bounds a whole call (`HTTP_TIMEOUT_SECS`); connecting gets at most 5 s of it.
///
/// It takes the two settings, not the `Config`, so that this module depends on neither
/// `config` nor `error` (they reach it through `plugin`: no module loop).
pub fn plugin_http_client(
    policy: EgressPolicy,
    timeout: std::time::Duration,
) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(5)))
        .user_agent(concat!("attio-auth-backend/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if !policy.allow_private {
        builder = builder
            .https_only(true)
            .dns_resolver(Arc::new(PublicOnlyResolver));
    }
    builder.build()
}

/// The policy's refusal inside a failed request (the resolver found only non-public
/// addresses), if that is why it failed.
pub fn refusal_in(e: &reqwest::Error) -> Option<NotAllowed> {
    let mut source: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(s) = source {
        if let Some(n) = s.downcast_ref::<NotAllowed>() {
            return Some(n.clone());
        }
        source = s.source();
    }
    None
}

/// Why a capped read stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The answer is (or says it is) larger than the cap.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The connection failed while reading.
    #[error("the answer was cut off")]
    Transport(#[source] reqwest::Error),
}

/// Read `resp`'s body, at most `limit` bytes: refused early when `Content-Length` says more,
/// and counted chunk by chunk since a server can omit or lie about the length. The only way
/// this crate reads an outbound answer (`bytes()`, `text()` and `json()` read without limit).
pub async fn read_capped(
    mut resp: reqwest::Response,
    limit: usize,
) -> std::result::Result<Vec<u8>, ReadError> {
    let declared = resp.content_length();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(
        declared
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
            .min(limit),
    );
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Transport)? {
        if chunk.len() > limit - body.len() {
            return Err(ReadError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_recognized() {
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.255",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip(s)), "{s} must not count as public");
        }
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2001:db9::1",
        ] {
            assert!(is_public(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn static_check_refuses_http_and_private_literals() {
        let closed = EgressPolicy {
            allow_private: false,
        };
        for url in [
            "http://example.com/api/auth",
            "https://127.0.0.1/api/auth",
            "https://[::1]:8443/x",
            "https://[::ffff:7f00:1]/x",
            "https://0x7f.1/x", // WHATWG IPv4 forms parse to 127.0.0.1
            "https://2130706433/x",
            "https://169.254.169.254/latest",
            "file:///etc/passwd",
        ] {
            assert!(closed.check_static(url).is_err(), "{url} must be refused");
        }
        assert!(closed.check_static("https://8.8.8.8/x").is_ok());
        assert!(closed.check_static("https://auth.example.com/x").is_ok());
        let open = EgressPolicy {
            allow_private: true,
        };
        assert!(open.check_static("http://127.0.0.1:3000/x").is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused_by_the_check_and_the_resolver() {
        let closed = EgressPolicy {
            allow_private: false,
        };
        assert!(closed.check("https://localhost:1/x").await.is_err());
        let name: Name = "localhost".parse().unwrap();
        let err = match PublicOnlyResolver.resolve(name).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        assert!(err.downcast_ref::<NotAllowed>().is_some(), "{err}");
    }
}
