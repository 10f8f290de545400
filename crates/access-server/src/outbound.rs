//! Requests to URLs a customer configures (webhooks, a flow's security URL) must not become a
//! way into the server's own network (SSRF): cloud metadata (`169.254.169.254`), services on
//! loopback, the private LAN. A URL is checked when it is saved and again when it is called;
//! a host name is resolved by [`GuardedResolver`], which drops internal addresses, so the
//! connection goes to an address that was checked (no DNS-rebinding window between check and
//! connect). Hosts in the server's `outbound_allow` list (config) skip the address check.
//! Redirects are never followed and answer bodies are read up to a bound.

use std::net::{IpAddr, SocketAddr};
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

    /// A client for customer URLs: no redirects, names resolved by [`GuardedResolver`].
    pub fn client(&self, timeout: Option<Duration>) -> reqwest::Result<reqwest::Client> {
        let mut b = reqwest::Client::builder()
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

/// Addresses a customer URL may not reach: loopback, private (RFC 1918, IPv6 ULA), link-local
/// (cloud metadata lives there), carrier-grade NAT, unspecified, broadcast, multicast, and the
/// IPv4 ones again when written as IPv4-mapped or -compatible IPv6.
pub fn is_internal(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            let [b0, b1, ..] = a.octets();
            a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || b0 == 0
                || (b0 == 100 && (64..128).contains(&b1))
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped().or_else(|| a.to_ipv4()) {
                return is_internal(IpAddr::V4(v4));
            }
            let s0 = a.segments()[0];
            a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s0 & 0xfe00) == 0xfc00
                || (s0 & 0xffc0) == 0xfe80
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

    #[test]
    fn the_allow_list_opens_named_hosts_only() {
        let g = OutboundGuard::new(&["127.0.0.1".into(), "Hooks.LAN".into(), "[::1]".into()]);
        assert!(g.check("http://127.0.0.1:9000/hook").is_ok());
        assert!(g.check("http://[::1]:9000/hook").is_ok());
        assert!(g.check("http://127.0.0.2/").is_err());
        assert!(g.check("http://10.0.0.1/").is_err());
    }
}
