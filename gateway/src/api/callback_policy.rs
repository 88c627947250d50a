//! Where callbacks may go: an API user chooses the URLs, the gateway makes the requests, so
//! without a policy any user could make Richmond POST to the cloud metadata service, to the
//! admin listener or to any host on its internal network (SSRF).
//!
//! By default a callback may only reach public addresses: loopback, unspecified, private
//! (RFC 1918, fc00::/7), shared (100.64.0.0/10), link-local (169.254.0.0/16, fe80::/10),
//! multicast, broadcast and the other special-purpose ranges are refused. Operators who run
//! their receivers on internal hosts list those networks in `api.callback_allowed_networks`
//! (CIDR, e.g. `["10.1.2.0/24", "127.0.0.1/32"]`). The check runs on the addresses a name
//! resolves to, at every attempt (a DNS answer that changes to an internal address is caught),
//! and on literal addresses when the URL is set. URLs with user information (`user:pass@`)
//! are refused.
//!
//! Does not handle: proxies (none are used), TLS (see `super::callback_client`).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

/// A list of networks (CIDR), as operators write them in `*_allowed_networks` options.
#[derive(Debug, Clone, Default)]
pub(crate) struct Networks(Vec<(IpAddr, u8)>);

impl Networks {
    /// Reads `["10.1.2.0/24", "127.0.0.1", …]` (an address alone is a /32 or /128).
    ///
    /// # Errors
    /// The first entry that is not an address or an address/prefix.
    pub(crate) fn parse(networks: &[String]) -> Result<Self, String> {
        let mut out = Vec::with_capacity(networks.len());
        for n in networks {
            let (addr, prefix) = n.split_once('/').unwrap_or((n.as_str(), ""));
            let ip: IpAddr = addr
                .trim()
                .parse()
                .map_err(|_| format!("{n:?} is not an address or a CIDR network"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = if prefix.is_empty() {
                max
            } else {
                prefix
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("{n:?}: the prefix length must be 0 to {max}"))?
            };
            out.push((ip, prefix));
        }
        Ok(Self(out))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether one of the networks holds `ip` (an IPv4-mapped IPv6 address as its IPv4).
    pub(crate) fn contain(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|&(net, p)| contains(net, p, ip))
    }
}

/// The allowed networks beyond the public Internet.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    allowed: Networks,
}

impl Policy {
    /// Reads `api.callback_allowed_networks`.
    ///
    /// # Errors
    /// The first entry that is not an address or an address/prefix.
    pub(crate) fn new(networks: &[String]) -> Result<Self, String> {
        Ok(Self {
            allowed: Networks::parse(networks)?,
        })
    }

    /// Whether a callback may connect to `ip`.
    pub(crate) fn permits(&self, ip: IpAddr) -> bool {
        is_public(canonical(ip)) || self.allowed.contain(ip)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || first == 0x2001 && ip.segments()[1] == 0x0db8)
}

fn contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (canonical(net), ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// The callback client's resolver: the system resolver, keeping only the addresses the policy
/// permits; none left is a connect error.
#[derive(Clone)]
pub(crate) struct GuardedResolver {
    policy: Arc<Policy>,
    /// Lookups at once: each holds a blocking-pool thread (getaddrinfo), which the redb store
    /// shares; a slow DNS server must not take them all.
    lookups: Arc<tokio::sync::Semaphore>,
}

/// Most name lookups of callbacks at once (the runtime has 16 blocking threads).
const MAX_LOOKUPS: usize = 4;

impl GuardedResolver {
    pub(crate) fn new(policy: Arc<Policy>) -> Self {
        Self {
            policy,
            lookups: Arc::new(tokio::sync::Semaphore::new(MAX_LOOKUPS)),
        }
    }
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let (policy, lookups) = (self.policy.clone(), self.lookups.clone());
        Box::pin(async move {
            let _permit = lookups
                .acquire()
                .await
                .map_err(|_| std::io::Error::other("resolver closed"))?;
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "refused by the callback address policy",
                ));
            }
            Ok(found.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_by_default() {
        let p = Policy::default();
        for refused in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "ff02::1",
        ] {
            assert!(!p.permits(ip(refused)), "{refused}");
        }
        for public in ["8.8.8.8", "41.0.0.1", "2a00:1450:4001::1", "::ffff:8.8.8.8"] {
            assert!(p.permits(ip(public)), "{public}");
        }
    }

    #[test]
    fn listed_networks_are_allowed() {
        let p = Policy::new(&[
            "127.0.0.1/32".into(),
            "10.1.2.0/24".into(),
            "fd00::/8".into(),
        ])
        .unwrap();
        assert!(p.permits(ip("127.0.0.1")));
        assert!(!p.permits(ip("127.0.0.2")));
        assert!(p.permits(ip("10.1.2.200")));
        assert!(!p.permits(ip("10.1.3.1")));
        assert!(p.permits(ip("fd12::1")));
        assert!(p.permits(ip("::ffff:127.0.0.1")));
        assert!(Policy::new(&["10.0.0.0/33".into()]).is_err());
        assert!(Policy::new(&["example.com".into()]).is_err());
        assert!(Policy::new(&["::1".into()]).unwrap().permits(ip("::1")));
    }

    #[tokio::test]
    async fn names_are_checked_after_resolution() {
        use std::str::FromStr as _;
        use tower_service::Service as _;
        // localhost resolves (from /etc/hosts) to loopback only: refused by default.
        let mut strict = GuardedResolver::new(Arc::new(Policy::default()));
        let e = strict
            .call(Name::from_str("localhost").unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        let mut open = GuardedResolver::new(Arc::new(
            Policy::new(&["127.0.0.0/8".into(), "::1".into()]).unwrap(),
        ));
        let found: Vec<SocketAddr> = open
            .call(Name::from_str("localhost").unwrap())
            .await
            .unwrap()
            .collect();
        assert!(found.iter().all(|a| a.ip().is_loopback()) && !found.is_empty());
    }
}
