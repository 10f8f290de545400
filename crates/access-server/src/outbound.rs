//! Requests to URLs a customer configures (webhooks, a flow's security URL) must not become a
//! way into the server's own network (SSRF): cloud metadata (`169.254.169.254`), services on
//! loopback, the private LAN. A URL is checked when it is saved and again when it is called;
//! a host name is resolved by [`GuardedResolver`], which drops internal addresses, so the
//! connection goes to an address that was checked (no DNS-rebinding window between check and
//! connect). Hosts in the server's `outbound_allow` list (config) skip the address check.
//! Redirects are never followed and answer bodies are read up to a bound. Proxies from the
//! environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`) are never used: a proxy resolves the
//! name itself, past [`GuardedResolver`], and would reach whatever it can reach.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Name, Resolve, Resolving};

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Why an outbound URL was refused; `reason()` is for `details.reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("not an http(s) URL: {0}")]
    Invalid(&'static str),
    #[error("{host} is an internal address ({addr}): add it to outbound_allow to call it")]
    Internal { host: String, addr: IpAddr },
}

impl OutboundError {
    pub fn reason(&self) -> String {
        self.to_string()
    }
}

/// The check and the HTTP client for customer-configured URLs.
#[derive(Clone)]
pub struct OutboundGuard {
    allow: Arc<[String]>,
}

impl OutboundGuard {
    /// `allow`: host names or IP literals (any case) that may be internal.
    pub fn new(allow: &[String]) -> Self {
        Self {
            allow: allow
                .iter()
                .map(|h| h.trim().trim_matches(['[', ']']).to_ascii_lowercase())
                .collect(),
        }
    }

    fn allowed(&self, host: &str) -> bool {
        self.allow.iter().any(|a| a == host)
    }

    /// Parses and checks `raw`: http or https, a host, no user name or password, at most
    /// [`MAX_URL_LEN`] bytes, and an IP-literal host that is not internal (names are checked
    /// when they are resolved, by the client this guard builds).
    pub fn check(&self, raw: &str) -> Result<Url, OutboundError> {
        if raw.len() > MAX_URL_LEN {
            return Err(OutboundError::Invalid("longer than 2048 bytes"));
        }
        let url = Url::parse(raw).map_err(|_| OutboundError::Invalid("not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OutboundError::Invalid("the scheme must be http or https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::Invalid(
                "a user name or password in the URL is not allowed (use the webhook secret)",
            ));
        }
        let host = match url.host() {
            Some(h) => h,
            None => return Err(OutboundError::Invalid("no host")),
        };
        let ip = match host {
            url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
            url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
            url::Host::Domain(d) => d.parse::<IpAddr>().ok(),
        };
        let name = url
            .host_str()
            .unwrap_or("")
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        if let Some(addr) = ip
            && is_internal(addr)
            && !self.allowed(&name)
        {
            return Err(OutboundError::Internal { host: name, addr });
        }
        Ok(url)
    }

    /// A client for customer URLs: no redirects, no proxy, names resolved by
    /// [`GuardedResolver`].
    pub fn client(&self, timeout: Option<Duration>) -> reqwest::Result<reqwest::Client> {
        let mut b = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver {
                allow: self.allow.clone(),
            }));
        if let Some(t) = timeout {
            b = b.timeout(t);
        }
        b.build()
    }
}

/// IPv4 blocks a customer URL may not reach: the entries of IANA's IPv4 Special-Purpose
/// Address Registry that are not globally reachable
/// (<https://www.iana.org/assignments/iana-ipv4-special-registry/>, RFC 6890 and updates),
/// plus multicast (224.0.0.0/4, not in that registry). 192.0.0.0/24 is refused whole (its two
/// global /32s are anycast services no webhook lives on).
const V4_INTERNAL: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network" (RFC 791)
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private (RFC 1918)
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // shared address space, CGN (RFC 6598)
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback (RFC 1122)
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local, cloud metadata (RFC 3927)
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private (RFC 1918)
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments (RFC 6890)
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation TEST-NET-1 (RFC 5737)
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // 6to4 relay anycast, deprecated (RFC 7526)
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private (RFC 1918)
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking (RFC 2544)
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation TEST-NET-2 (RFC 5737)
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation TEST-NET-3 (RFC 5737)
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast (RFC 5771)
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved (RFC 1112), broadcast within it
];

/// IPv6 blocks a customer URL may not reach: IANA's IPv6 Special-Purpose Address Registry
/// entries that are not globally reachable
/// (<https://www.iana.org/assignments/iana-ipv6-special-registry/>), plus multicast and the
/// deprecated site-local block. Blocks that carry an IPv4 address (mapped, NAT64 64:ff9b::/96,
/// 6to4, Teredo) are judged by that address instead: [`embedded_ipv4`].
const V6_INTERNAL: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128), // unspecified (RFC 4291)
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128), // loopback (RFC 4291)
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96),  // IPv4-compatible, deprecated (RFC 4291)
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // local-use NAT64 (RFC 8215)
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64), // discard-only (RFC 6666)
    (Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0), 64), // dummy prefix (RFC 9780)
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48), // benchmarking (RFC 5180)
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28), // ORCHID, deprecated (RFC 4843)
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation (RFC 3849)
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation (RFC 9637)
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16), // SRv6 SIDs (RFC 9602)
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7), // unique local (RFC 4193)
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), // link-local (RFC 4291)
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10), // site-local, deprecated (RFC 3879)
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8), // multicast (RFC 4291)
];

fn in_v4(a: Ipv4Addr, (net, len): (Ipv4Addr, u8)) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(a) & mask == u32::from(net) & mask
}

fn in_v6(a: Ipv6Addr, (net, len): (Ipv6Addr, u8)) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(a) & mask == u128::from(net) & mask
}

/// The IPv4 addresses an IPv6 address stands for, whose packets end up there: IPv4-mapped
/// (`::ffff:0:0/96`, RFC 4291) and IPv4-translated (`::ffff:0:0:0/96`, RFC 2765), NAT64's
/// well-known prefix (`64:ff9b::/96`, RFC 6052), 6to4 (`2002::/16`, RFC 3056: the gateway's
/// address) and Teredo (`2001::/32`, RFC 4380: the server's, and the client's, which is
/// stored inverted).
pub fn embedded_ipv4(a: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = a.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let prefix = |net: Ipv6Addr, len: u8| in_v6(a, (net, len));
    if prefix(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96)
        || prefix(Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96)
        || prefix(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96)
    {
        vec![v4(s[6], s[7])]
    } else if s[0] == 0x2002 {
        vec![v4(s[1], s[2])]
    } else if s[0] == 0x2001 && s[1] == 0 {
        vec![v4(s[2], s[3]), v4(!s[6], !s[7])]
    } else {
        Vec::new()
    }
}

/// Addresses a customer URL may not reach: [`V4_INTERNAL`], [`V6_INTERNAL`], and an IPv6
/// address whose embedded IPv4 ([`embedded_ipv4`]) is one of them.
pub fn is_internal(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => V4_INTERNAL.iter().any(|&block| in_v4(a, block)),
        IpAddr::V6(a) => {
            V6_INTERNAL.iter().any(|&block| in_v6(a, block))
                || embedded_ipv4(a)
                    .into_iter()
                    .any(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// Resolves with the system resolver and keeps only addresses a customer URL may reach
/// (all of them for an allow-listed host).
struct GuardedResolver {
    allow: Arc<[String]>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let allowed = self.allow.contains(&host);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allowed || !is_internal(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves only to internal addresses").into());
            }
            Ok(Box::new(addrs.into_iter()) as Box<dyn Iterator<Item = SocketAddr> + Send>)
        })
    }
}

/// The API's refusal of a URL in `field`: 400 `URL_NOT_ALLOWED` with the reason.
pub fn refused(field: &str, e: &OutboundError) -> crate::error::ApiError {
    crate::error::ApiError::new(
        access_types::ErrorCode::UrlNotAllowed,
        format!("{field} is not allowed: {e}"),
    )
    .with_details(serde_json::json!({ "field": field, "reason": e.reason() }))
}

/// Reads at most `limit` bytes of an answer's body; None when it is longer (or unreadable).
pub async fn bounded_body(mut resp: reqwest::Response, limit: usize) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.ok()? {
        if body.len() + chunk.len() > limit {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_and_malformed_urls_are_refused() {
        let g = OutboundGuard::new(&[]);
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:22",
            "http://127.1.2.3/",
            "http://[::1]/hook",
            "http://[::ffff:127.0.0.1]/",
            "http://10.0.0.5/",
            "http://172.16.3.4/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://224.0.0.1/",
            "http://2130706433/",
        ] {
            assert!(
                matches!(g.check(url), Err(OutboundError::Internal { .. })),
                "{url}: {:?}",
                g.check(url)
            );
        }
        for url in [
            "http://user:pw@[::1]/",
            "http://user@example.com/",
            "ftp://example.com/",
            "file:///etc/passwd",
            "gopher://example.com/",
            "not a url",
            "http://",
        ] {
            assert!(
                matches!(g.check(url), Err(OutboundError::Invalid(_))),
                "{url}: {:?}",
                g.check(url)
            );
        }
        assert!(
            g.check(&format!("https://example.com/{}", "a".repeat(3000)))
                .is_err()
        );
        for url in [
            "https://hooks.example.com/x?token=1",
            "http://93.184.215.14:8080/",
        ] {
            assert!(g.check(url).is_ok(), "{url}");
        }
    }

    /// Each kind of special-purpose block, and an internal IPv4 address hidden in each kind of
    /// IPv6 address that carries one; the public neighbours of each stay reachable.
    #[test]
    fn special_purpose_blocks_and_embedded_ipv4_are_internal() {
        let internal = [
            "198.18.0.1",
            "198.19.255.254",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.88.99.1",
            "fec0::1",
            "feff::1",
            "100::1",
            "2001:db8::1",
            "2001:2::1",
            "3fff::1",
            "5f00::1",
            "::10.0.0.1",
            "::8.8.8.8",
            // NAT64, well-known prefix: the IPv4 inside decides.
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::c0a8:101",
            // Local-use NAT64: a translator of the site's own, refused whole.
            "64:ff9b:1::5db8:d70e",
            // 6to4: the gateway's IPv4 in bits 16..48.
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2002:c612:1::1",
            // Teredo: server 127.0.0.1, or client 10.0.0.1 (stored inverted: f5ff:fffe).
            "2001:0:7f00:1::1",
            "2001:0:5db8:d70e:0:0:f5ff:fffe",
            "::ffff:198.18.0.1",
            "::ffff:0:10.1.2.3",
        ];
        for a in internal {
            let ip: IpAddr = a.parse().unwrap();
            assert!(is_internal(ip), "{a} should be internal");
        }
        let public = [
            "93.184.215.14",
            "198.20.0.1",
            "239.255.255.255", // multicast: still internal, checked below
            "2606:4700::1111",
            "64:ff9b::5db8:d70e",
            "2002:5db8:d70e::1",
            // Teredo with a public server and a public client (93.184.215.14 inverted).
            "2001:0:5db8:d70e:0:0:a247:28f1",
            "::ffff:93.184.215.14",
            "2001:20::1",
        ];
        for a in public {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(is_internal(ip), a == "239.255.255.255", "{a}");
        }
        assert_eq!(
            embedded_ipv4("2001:0:4136:e378:8000:63bf:3fff:fdd2".parse().unwrap()),
            [
                Ipv4Addr::new(65, 54, 227, 120),
                Ipv4Addr::new(192, 0, 2, 45)
            ],
            "RFC 4380's example"
        );
        let g = OutboundGuard::new(&[]);
        for url in [
            "http://198.18.0.1/",
            "http://240.0.0.1/",
            "http://[fec0::1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[64:ff9b:1::1]/",
            "http://[2002:a9fe:a9fe::]/",
        ] {
            assert!(
                matches!(g.check(url), Err(OutboundError::Internal { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn the_allow_list_opens_named_hosts_only() {
        let g = OutboundGuard::new(&["127.0.0.1".into(), "Hooks.LAN".into(), "[::1]".into()]);
        assert!(g.check("http://127.0.0.1:9000/hook").is_ok());
        assert!(g.check("http://[::1]:9000/hook").is_ok());
        assert!(g.check("http://127.0.0.2/").is_err());
        assert!(g.check("http://10.0.0.1/").is_err());
    }
}
