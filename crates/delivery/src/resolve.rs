//! DNS for outbound delivery: MX routing and host addresses through the
//! resolvers `[dns] resolvers` names (or the system's), with hickory.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

use crate::route::{from_mx, Mx, Route};

pub struct Resolver {
    inner: TokioResolver,
}

impl Resolver {
    /// Asks `servers` (UDP, then TCP); the system's resolvers if none.
    /// `timeout` bounds each try (two tries per server).
    pub fn new(servers: &[SocketAddr], timeout: std::time::Duration) -> Result<Resolver, String> {
        let mut builder = if servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| format!("cannot read the system's DNS settings: {e}"))?
        } else {
            let name_servers = servers
                .iter()
                .map(|s| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = s.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = s.port();
                    NameServerConfig::new(s.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(name_servers),
                TokioRuntimeProvider::default(),
            )
        };
        builder.options_mut().timeout = timeout;
        builder.options_mut().attempts = 2;
        let inner = builder.build().map_err(|e| format!("cannot set up DNS: {e}"))?;
        Ok(Resolver { inner })
    }

    /// Where mail for `domain` goes (RFC 5321 §5.1). `Err` is a temporary
    /// DNS failure (try later); a domain that does not exist is
    /// [`Route::NoMailHost`].
    pub async fn route(&self, domain: &str) -> Result<Route, String> {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        let mx: Vec<Mx> = match self.inner.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some(Mx { preference: mx.preference, exchange: mx.exchange.to_ascii() }),
                    _ => None,
                })
                .collect(),
            Err(e) if e.is_nx_domain() => return Ok(Route::NoMailHost),
            Err(e) if e.is_no_records_found() => Vec::new(),
            Err(e) => return Err(format!("DNS lookup of {domain} failed: {e}")),
        };
        let has_address = mx.is_empty() && !self.addresses(domain).await?.is_empty();
        Ok(from_mx(domain, &mx, has_address))
    }

    /// The addresses of `host` (A and AAAA); none if it has none.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        match self.inner.lookup_ip(fqdn.as_str()).await {
            Ok(ips) => Ok(ips.iter().collect()),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(format!("DNS lookup of {host} failed: {e}")),
        }
    }
}
