//! DNS for Caravel: one resolver, built from `[dns] resolvers` (or the
//! system's settings), shared by outbound routing (MX, addresses) and the
//! inbound checks (SPF, DKIM, DMARC through mail-auth).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub mod dnssec;
pub use mail_auth;
use mail_auth::hickory_resolver::config::{
    NameServerConfig, ProtocolConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::hickory_resolver::system_conf::read_system_conf;
use mail_auth::{IpLookupStrategy, MessageAuthenticator};

/// What an MX lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxAnswer {
    /// (preference, exchange) pairs.
    Records(Vec<(u16, String)>),
    /// The name exists but has no MX records.
    NoRecords,
    /// The name does not exist (NXDOMAIN).
    NoDomain,
}

/// The shared resolver. Cheap to clone.
#[derive(Clone)]
pub struct Resolver {
    auth: Arc<MessageAuthenticator>,
}

impl Resolver {
    /// Asks `servers` (UDP, then TCP); the system's resolvers if none
    /// (with the system's options, such as `ndots`, under ours).
    /// `timeout` bounds each try (two tries per server).
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> Result<Resolver, String> {
        let (config, base) = match servers.is_empty() {
            true => read_system_conf().map_err(|e| format!("cannot read the system's DNS settings: {e}"))?,
            false => (servers_config(servers), ResolverOpts::default()),
        };
        let auth = MessageAuthenticator::new(config, our_options(base, timeout))
            .map_err(|e| format!("cannot set up DNS: {e}"))?;
        Ok(Resolver { auth: Arc::new(auth) })
    }

    /// The mail-auth verifier over this resolver (SPF, DKIM, DMARC, ARC).
    pub fn authenticator(&self) -> &MessageAuthenticator {
        &self.auth
    }

    /// The MX records of `domain`. `Err` is a temporary failure (try later).
    pub async fn mx(&self, domain: &str) -> Result<MxAnswer, String> {
        let fqdn = fqdn(domain);
        match self.auth.mx_lookup(fqdn.as_str(), no_cache()).await {
            Ok(records) => {
                let mut out = Vec::new();
                for mx in records.iter() {
                    for exchange in &mx.exchanges {
                        out.push((mx.preference, exchange.clone()));
                    }
                }
                Ok(if out.is_empty() { MxAnswer::NoRecords } else { MxAnswer::Records(out) })
            }
            Err(mail_auth::Error::DnsRecordNotFound(ResponseCode::NXDomain)) => Ok(MxAnswer::NoDomain),
            Err(mail_auth::Error::DnsRecordNotFound(ResponseCode::NoError)) => Ok(MxAnswer::NoRecords),
            // hickory reports SERVFAIL and REFUSED as "no records" too: those
            // are failures to ask again later, never answers.
            Err(mail_auth::Error::DnsRecordNotFound(code)) => Err(format!("DNS lookup of {domain} failed: {code}")),
            Err(e) => Err(format!("DNS lookup of {domain} failed: {e}")),
        }
    }

    /// The addresses of `host` (IPv4 first, then IPv6); none if it has none.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let fqdn = fqdn(host);
        let v4 = self.auth.ip_lookup(&fqdn, IpLookupStrategy::Ipv4Only, 16, no_cache(), no_cache()).await;
        let v6 = self.auth.ip_lookup(&fqdn, IpLookupStrategy::Ipv6Only, 16, no_cache(), no_cache()).await;
        let mut out = Vec::new();
        let mut failure = None;
        for found in [v4, v6] {
            match found {
                Ok(ips) => out.extend(ips),
                Err(mail_auth::Error::DnsRecordNotFound(ResponseCode::NXDomain | ResponseCode::NoError)) => {}
                Err(e) => failure = Some(format!("DNS lookup of {host} failed: {e}")),
            }
        }
        match failure {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }
}

impl Resolver {
    /// The names a reverse lookup of `ip` gives (PTR records), lowercase
    /// without the final dot; none when there are none.
    pub async fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, String> {
        match self.auth.resolver().reverse_lookup(ip).await {
            Ok(lookup) => Ok(lookup.iter().map(|n| n.to_string().trim_end_matches('.').to_ascii_lowercase()).collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(format!("reverse DNS lookup of {ip} failed: {e}")),
        }
    }

    /// The IPv4 addresses at `name` (A records only: what DNS block lists
    /// answer); none when the name does not exist. `Err` is a failure.
    pub async fn ipv4(&self, name: &str) -> Result<Vec<std::net::Ipv4Addr>, String> {
        let fqdn = fqdn(name);
        match self.auth.resolver().ipv4_lookup(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup.iter().map(|a| a.0).collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(format!("DNS lookup of {name} failed: {e}")),
        }
    }
}

/// `servers`, each asked over UDP and then TCP (for long answers).
/// The resolver's options over `base` (the default, or the system's).
fn our_options(base: ResolverOpts, timeout: Duration) -> ResolverOpts {
    let mut opts = base;
    opts.timeout = timeout;
    opts.attempts = 2;
    // Answers (and "no such name") are kept for their TTL: every message
    // asks about SPF, DKIM and DMARC records, and DNSBLs, of senders that
    // write again and again (hickory's default keeps only 32 names).
    opts.cache_size = 8192;
    // Resolvers answer everything: this machine's /etc/hosts (localhost
    // names for 127.0.0.1) must not stand in for what the world sees in
    // DNS (MX routing, the doctor's reverse-DNS check), as Postfix's
    // `smtp_host_lookup = dns`.
    opts.use_hosts_file = ResolveHosts::Never;
    opts
}

pub(crate) fn servers_config(servers: &[SocketAddr]) -> ResolverConfig {
    let mut name_servers = Vec::new();
    for s in servers {
        name_servers.push(NameServerConfig::new(*s, ProtocolConfig::Udp));
        name_servers.push(NameServerConfig::new(*s, ProtocolConfig::Tcp));
    }
    ResolverConfig::from_parts(None, Vec::new(), name_servers)
}

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

/// Lookups go uncached here; hickory keeps its own cache by TTL.
fn no_cache<V>() -> Option<&'static mail_auth::common::cache::NoCache<String, V>> {
    None
}

pub mod test_server;

impl Resolver {
    /// The TXT records at `name`, each one's strings joined; none when
    /// there are none. `Err` is a temporary failure.
    pub async fn txt_records(&self, name: &str) -> Result<Vec<String>, String> {
        let fqdn = fqdn(name);
        match self.auth.resolver().txt_lookup(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup
                .iter()
                .map(|txt| txt.txt_data().iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(format!("DNS lookup of {name} failed: {e}")),
        }
    }

    /// The SRV records at `name` as "priority weight port target."; none
    /// when there are none. `Err` is a temporary failure.
    pub async fn srv_records(&self, name: &str) -> Result<Vec<String>, String> {
        let fqdn = fqdn(name);
        match self.auth.resolver().srv_lookup(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup
                .iter()
                .map(|r| format!("{} {} {} {}", r.priority(), r.weight(), r.port(), r.target()))
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(format!("DNS lookup of {name} failed: {e}")),
        }
    }

    /// The `id` of the domain's MTA-STS record (`_mta-sts.DOMAIN` TXT,
    /// RFC 8461 §3.1); None when it has none. `Err` is a temporary failure.
    pub async fn mta_sts_id(&self, domain: &str) -> Result<Option<String>, String> {
        let name = fqdn(&format!("_mta-sts.{}", domain.trim_end_matches('.')));
        match self.auth.txt_lookup::<mail_auth::mta_sts::MtaSts>(name.as_str(), no_cache()).await {
            Ok(record) => Ok(Some(record.id.clone())),
            Err(mail_auth::Error::DnsRecordNotFound(ResponseCode::NXDomain | ResponseCode::NoError))
            | Err(mail_auth::Error::InvalidRecordType)
            | Err(mail_auth::Error::ParseError)
            | Err(mail_auth::Error::UnsupportedVersion) => Ok(None),
            Err(e) => Err(format!("DNS lookup of {name} failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_options_keep_the_systems_and_add_a_cache_and_no_hosts_file() {
        let mut system = ResolverOpts::default();
        system.ndots = 3;
        system.cache_size = 32;
        system.use_hosts_file = ResolveHosts::Always;
        let opts = our_options(system, Duration::from_secs(4));
        assert_eq!(opts.ndots, 3, "the system's own options stay");
        assert_eq!((opts.cache_size, opts.attempts, opts.timeout), (8192, 2, Duration::from_secs(4)));
        assert!(matches!(opts.use_hosts_file, ResolveHosts::Never));
    }
}
