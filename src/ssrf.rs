//! The guard against server-side request forgery: URLs that come from remote
//! content (redirects, sitemap entries, links on pages), and configured
//! sources named by a host name, must not reach this machine, its private
//! network or a cloud metadata service (169.254.169.254). Two checks, both
//! needed:
//!
//! - [`check_url`] before a request: IP-literal hosts and `localhost` are
//!   judged from the URL (reqwest never asks a resolver for an IP literal);
//! - [`PublicOnlyResolver`] at connect time: names are resolved with hickory
//!   (never glibc) and refused when any address is not public, so a DNS
//!   answer cannot change between our check and the connection.
//!
//! A configured source is not guarded only where the operator chose the
//! address: an IP literal in its URL, or `allow_private = true` on it (see
//! [`crate::feeds::fetch::Trust`]). A host name is guarded because whoever
//! runs its DNS — a competitor, for its own domain — decides where it points.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::LookupIpStrategy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::sync::OnceCell;

/// Why an address may not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused to fetch {host}: it resolves to {addr}, a {class} address")]
pub struct BlockedAddress {
    pub host: String,
    pub addr: IpAddr,
    pub class: &'static str,
}

/// The class of a non-public address, or `None` for a public one.
pub fn non_public_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_class(v4);
            }
            v6_class(v6)
        }
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if o[0] == 100 && (64..128).contains(&o[1]) {
        Some("CGNAT (shared)")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() || o[0] >= 240 {
        Some("reserved")
    } else if (o[0] == 192 && o[1] == 0 && o[2] == 0) || (o[0] == 198 && (o[1] & 0xfe) == 18) {
        Some("special-purpose")
    } else if ip.is_documentation() {
        Some("documentation")
    } else {
        None
    }
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if (first & 0xfe00) == 0xfc00 {
        Some("unique-local (ULA)")
    } else if (first & 0xffc0) == 0xfe80 {
        Some("link-local")
    } else if (first & 0xffc0) == 0xfec0 {
        Some("site-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("documentation")
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        // NAT64 embeds an IPv4 address: judge that one.
        let s = ip.segments();
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        v4_class(v4)
    } else if let Some(v4) = ip.to_ipv4() {
        // IPv4-compatible (deprecated) ::a.b.c.d
        v4_class(v4)
    } else {
        None
    }
}

/// Checks what can be judged from the URL alone: an IP-literal host. Names
/// (`localhost` included: hickory answers it and `*.localhost` with
/// loopback, RFC 6761) are judged after resolution by
/// [`PublicOnlyResolver`].
pub fn check_url(url: &reqwest::Url) -> Result<(), BlockedAddress> {
    let blocked = |addr: IpAddr, class: &'static str| BlockedAddress {
        host: url.host_str().unwrap_or_default().to_string(),
        addr,
        class,
    };
    match url.host() {
        Some(url::Host::Ipv4(ip)) => match v4_class(ip) {
            Some(class) => Err(blocked(IpAddr::V4(ip), class)),
            None => Ok(()),
        },
        Some(url::Host::Ipv6(ip)) => match non_public_class(IpAddr::V6(ip)) {
            Some(class) => Err(blocked(IpAddr::V6(ip), class)),
            None => Ok(()),
        },
        Some(url::Host::Domain(_)) | None => Ok(()),
    }
}

/// A reqwest resolver that resolves with hickory (as reqwest's own does) and
/// refuses a name when any of its addresses is not public.
#[derive(Debug, Default, Clone)]
pub struct PublicOnlyResolver {
    state: Arc<OnceCell<TokioResolver>>,
}

impl PublicOnlyResolver {
    pub fn new() -> Self {
        Self::default()
    }
}

fn new_resolver() -> Result<TokioResolver, hickory_resolver::net::NetError> {
    // Like reqwest: the system configuration (/etc/resolv.conf, /etc/hosts),
    // both address families for happy eyeballs.
    let mut builder = TokioResolver::builder_tokio()?;
    builder.options_mut().ip_strategy = LookupIpStrategy::Ipv6AndIpv4;
    builder.build()
}

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let state = self.state.clone();
        Box::pin(async move {
            let resolver = state.get_or_try_init(|| async { new_resolver() }).await?;
            let host = name.as_str().to_string();
            let lookup = resolver.lookup_ip(host.as_str()).await?;
            let addrs: Vec<IpAddr> = lookup.iter().collect();
            for addr in &addrs {
                if let Some(class) = non_public_class(*addr) {
                    return Err(Box::new(BlockedAddress {
                        host,
                        addr: *addr,
                        class,
                    })
                        as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            let addrs: Addrs = Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Finds a [`BlockedAddress`] in an error's source chain (reqwest wraps
/// resolver errors in its connect error).
pub fn blocked_in<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a BlockedAddress> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(b) = e.downcast_ref::<BlockedAddress>() {
            return Some(b);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<&'static str> {
        non_public_class(s.parse().expect("ip"))
    }

    #[test]
    fn private_loopback_link_local_and_friends_are_not_public() {
        for (ip, want) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("100.64.0.1", "CGNAT (shared)"),
            ("100.127.255.255", "CGNAT (shared)"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "unique-local (ULA)"),
            ("fc12::1", "unique-local (ULA)"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
        ] {
            assert_eq!(class(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn url_literals_and_localhost_are_judged_before_any_request() {
        let check = |u: &str| check_url(&reqwest::Url::parse(u).expect("url"));
        assert!(check("http://169.254.169.254/latest/meta-data/").is_err());
        assert!(check("http://[::1]:8080/").is_err());
        assert!(check("http://127.0.0.1:9/x").is_err());
        // Decimal and hex forms are normalised by the URL parser.
        assert!(check("http://2130706433/").is_err());
        assert!(check("http://0x7f.1/").is_err());
        assert!(check("https://example.com/feed").is_ok());
        assert!(check("http://8.8.8.8/").is_ok());
        let err = check("http://10.0.0.5/").expect_err("private");
        assert!(
            err.to_string().contains("10.0.0.5, a private address"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn resolver_refuses_names_that_resolve_to_loopback() {
        let r = PublicOnlyResolver::new();
        for host in ["localhost", "LOCALHOST.", "api.localhost"] {
            let name: Name = host.parse().expect("name");
            let err = match r.resolve(name).await {
                Ok(_) => panic!("{host} must be refused"),
                Err(e) => e,
            };
            let blocked = blocked_in(err.as_ref()).expect("a BlockedAddress");
            assert_eq!(blocked.class, "loopback", "{host}");
        }
    }
}
