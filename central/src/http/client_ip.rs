//! Who is on the other end: the peer address, or, when the peer is a
//! trusted proxy (`--trusted-proxy`), the client the proxy names in the one
//! header it is configured to set (`--client-ip-header`). Budgets keyed by
//! address use [`ClientIp::bucket`]: an IPv6 host holds a whole /64, so
//! that is one bucket.
//!
//! The forwarding header is read from the right: each trusted proxy appends
//! the address it saw, so the rightmost address that is not a trusted proxy
//! is the client. Anything left of it was written by the client and is
//! never believed.

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request},
    http::{HeaderMap, request::Parts},
};
use clap::ValueEnum;
use ipnet::IpNet;
use tower::{Layer, Service};

/// The client's address as central believes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The address budgets are kept for: an IPv4 address, or an IPv6 /64.
    pub fn bucket(self) -> IpAddr {
        bucket(self.0)
    }
}

/// See [`ClientIp::bucket`].
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(client_ip(&parts.extensions))
    }
}

/// The request's [`ClientIp`] ([`ClientIpLayer`] put it there); the
/// unspecified address if neither it nor the peer address is known.
pub fn client_ip(extensions: &axum::http::Extensions) -> ClientIp {
    extensions
        .get::<ClientIp>()
        .copied()
        .or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| ClientIp(peer.ip().to_canonical()))
        })
        .unwrap_or(ClientIp(IpAddr::from([0, 0, 0, 0])))
}

/// Which header a trusted proxy names the client in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ClientIpHeader {
    /// `X-Forwarded-For: client, proxy1` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https`.
    Forwarded,
}

/// The proxies whose forwarding header is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ClientIpHeader,
}

impl TrustedProxies {
    /// Addresses (`10.0.0.7`) or networks (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse(list: &[String], header: ClientIpHeader) -> anyhow::Result<Self> {
        let networks = list
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "--trusted-proxy: '{entry}' is neither an address nor a network"
                        )
                    })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(TrustedProxies { networks, header })
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that came from `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let name = match self.header {
            ClientIpHeader::XForwardedFor => "x-forwarded-for",
            ClientIpHeader::Forwarded => "forwarded",
        };
        // Several header lines are one list, in order.
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let mut client = peer;
        for value in values.iter().rev() {
            for element in value.rsplit(',') {
                let hop = match self.header {
                    ClientIpHeader::XForwardedFor => parse_node(element),
                    ClientIpHeader::Forwarded => forwarded_for(element),
                };
                // A hop that names no address (`unknown`, an obfuscated
                // name, garbage): the proxy that wrote it is as far as we
                // can see.
                let Some(hop) = hop else {
                    return client;
                };
                client = hop;
                if !self.trusts(hop) {
                    return hop;
                }
            }
        }
        client
    }
}

/// The `for=` of one element of a `Forwarded` header.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(value))
            .flatten()
    })
}

/// An address as forwarding headers write it: `192.0.2.1`, `192.0.2.1:80`,
/// `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return ip.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    node.parse::<SocketAddr>()
        .ok()
        .map(|a| a.ip().to_canonical())
}

/// Puts the request's [`ClientIp`] into its extensions, once, for the rate
/// limits, the failed-authentication budget and the logs.
#[derive(Clone)]
pub struct ClientIpLayer(pub Arc<TrustedProxies>);

impl<S> Layer<S> for ClientIpLayer {
    type Service = ResolveClientIp<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResolveClientIp {
            proxies: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct ResolveClientIp<S> {
    proxies: Arc<TrustedProxies>,
    inner: S,
}

impl<S: Service<Request>> Service<Request> for ResolveClientIp<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> S::Future {
        if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
            let ip = self.proxies.client(peer.ip(), request.headers());
            request.extensions_mut().insert(ClientIp(ip));
        }
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(name: &'static str, values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(name, HeaderValue::from_static(v));
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &[&str], header: ClientIpHeader) -> TrustedProxies {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        TrustedProxies::parse(&list, header).unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let p = proxies(&["10.0.0.0/8"], ClientIpHeader::XForwardedFor);
        let forged = headers("x-forwarded-for", &["1.2.3.4"]);
        assert_eq!(p.client(ip("203.0.113.9"), &forged), ip("203.0.113.9"));
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("127.0.0.1"), &forged), ip("127.0.0.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let p = proxies(
            &["10.0.0.0/8", "192.168.1.1"],
            ClientIpHeader::XForwardedFor,
        );
        // The client forged "6.6.6.6"; the proxies appended what they saw.
        let h = headers("x-forwarded-for", &["6.6.6.6, 198.51.100.7", "10.1.1.1"]);
        assert_eq!(p.client(ip("192.168.1.1"), &h), ip("198.51.100.7"));
        let all_trusted = headers("x-forwarded-for", &["10.2.2.2"]);
        assert_eq!(p.client(ip("10.0.0.1"), &all_trusted), ip("10.2.2.2"));
        let missing = HeaderMap::new();
        assert_eq!(p.client(ip("10.0.0.1"), &missing), ip("10.0.0.1"));
        let garbage = headers("x-forwarded-for", &["not-an-ip"]);
        assert_eq!(p.client(ip("10.0.0.1"), &garbage), ip("10.0.0.1"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let p = proxies(&["10.0.0.1"], ClientIpHeader::XForwardedFor);
        let h = headers("forwarded", &["for=198.51.100.7"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_names_addresses_with_ports_and_brackets() {
        let p = proxies(&["10.0.0.1"], ClientIpHeader::Forwarded);
        let h = headers(
            "forwarded",
            &[r#"for=6.6.6.6, For="[2001:db8:cafe::17]:4711";proto=https"#],
        );
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("2001:db8:cafe::17"));
        let h = headers("forwarded", &["for=198.51.100.7:8080;by=10.0.0.1"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("198.51.100.7"));
        let h = headers("forwarded", &["for=unknown"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn ipv6_is_budgeted_by_its_64_and_mapped_v4_as_v4() {
        assert_eq!(bucket(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            bucket(ip("2001:db8:1:2:ffff::9")),
            bucket(ip("2001:db8:1:2::1"))
        );
        assert_ne!(bucket(ip("2001:db8:1:3::1")), bucket(ip("2001:db8:1:2::1")));
        assert_eq!(bucket(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(bucket(ip("192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn a_bad_entry_is_a_clear_error() {
        let list = vec!["10.0.0.0/33".to_string()];
        assert!(TrustedProxies::parse(&list, ClientIpHeader::Forwarded).is_err());
        let p = proxies(&["127.0.0.1", "::1", "fd00::/8"], ClientIpHeader::Forwarded);
        assert!(p.trusts(ip("::ffff:127.0.0.1")));
        assert!(p.trusts(ip("fd12::1")));
    }
}
