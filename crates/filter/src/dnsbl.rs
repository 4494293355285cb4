//! DNS block lists (RFC 5782): the client's address looked up in DNSBL
//! zones (`4.3.2.1.zone` for 1.2.3.4, nibbles for IPv6) and the domains of
//! the links in a message in URIBL zones (`example.com.zone`). An answer in
//! 127.0.0.0/8 means listed, except the codes the big lists answer with
//! when they refuse to answer (an error, not a listing): 127.255.255.0/24
//! (Spamhaus: public resolver, over the free limit), 127.0.1.255 (Spamhaus
//! DBL: IP queries prohibited) and 127.0.0.1 (URIBL: "query refused", and
//! never a listing code, RFC 5782 §5). Counting those would put every
//! message with a link in Junk behind a public resolver. Off unless
//! `[spam]` names zones; lookups run at once, each bounded by a timeout,
//! and the resolver keeps answers for their TTL.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use async_trait::async_trait;
use caravel_dns::Resolver;
use futures_util::future::join_all;

use crate::pipeline::{Hit, MessageContext, Stage, Verdict};

/// Link domains looked up per message.
const MAX_URI_LOOKUPS: usize = 10;

pub struct DnsblStage {
    pub dns: Resolver,
    /// Zones the client's address is looked up in.
    pub ip_zones: Vec<String>,
    /// Zones the messages' link domains are looked up in.
    pub uri_zones: Vec<String>,
    /// Points a listing adds (per zone that lists).
    pub score: f64,
    pub timeout: Duration,
}

/// The name to look `ip` up under in `zone` (RFC 5782 §2.1, §2.4).
pub fn ip_query(ip: IpAddr, zone: &str) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}")
        }
        IpAddr::V6(v6) => {
            let mut labels: Vec<String> = Vec::with_capacity(33);
            for byte in v6.octets().iter().rev() {
                labels.push(format!("{:x}", byte & 0xf));
                labels.push(format!("{:x}", byte >> 4));
            }
            labels.push(zone.to_string());
            labels.join(".")
        }
    }
}

/// Addresses no public list knows: private, link-local and unique-local.
fn is_private(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// What a block list answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Listed(Ipv4Addr),
    /// The list refused to answer us (see the module's comment).
    Refused(Ipv4Addr),
    NotListed,
}

/// Reads a block list's answers: a listing, a refusal, or neither.
pub fn answer(answers: &[Ipv4Addr]) -> Answer {
    let refusal = |a: &Ipv4Addr| {
        let o = a.octets();
        o[..3] == [127, 255, 255] || o == [127, 0, 1, 255] || o == [127, 0, 0, 1]
    };
    let in_loopback = |a: &&Ipv4Addr| a.octets()[0] == 127;
    if let Some(a) = answers.iter().filter(in_loopback).find(|a| !refusal(a)) {
        return Answer::Listed(*a);
    }
    match answers.iter().filter(in_loopback).find(|a| refusal(a)) {
        Some(a) => Answer::Refused(*a),
        None => Answer::NotListed,
    }
}

/// A listing answer (not an error code).
pub fn listed(answers: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    match answer(answers) {
        Answer::Listed(a) => Some(a),
        _ => None,
    }
}

/// Says, at most once every ten minutes, that a list refuses our queries:
/// its listings count for nothing until the admin fixes the resolver.
fn warn_refused(name: &str, code: Ipv4Addr) {
    static WARNED: caravel_metrics::Every = caravel_metrics::Every::new(600);
    if WARNED.due(caravel_store::now_secs().max(0) as u64) {
        tracing::warn!(
            name = %name,
            code = %code,
            "a block list refuses our queries (it answers with an error code, e.g. behind a public resolver or over \
             its free limit): its listings are not counted; use a resolver of your own in [dns] resolvers"
        );
    }
}

/// The test name for a zone: DNSBL_ZEN_SPAMHAUS_ORG.
fn test_name(prefix: &str, zone: &str) -> String {
    let z: String =
        zone.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("{prefix}_{z}")
}

/// The registered part of a host (`shop.example.co.uk` -> `example.co.uk`,
/// by the public suffix list): what URIBLs list.
fn registered(host: &str) -> String {
    crate::org_domain::org_domain(host).to_string()
}

impl DnsblStage {
    async fn lookup(&self, name: String) -> Option<Ipv4Addr> {
        match tokio::time::timeout(self.timeout, self.dns.ipv4(&name)).await {
            Ok(Ok(answers)) => match answer(&answers) {
                Answer::Listed(a) => Some(a),
                Answer::Refused(code) => {
                    warn_refused(&name, code);
                    None
                }
                Answer::NotListed => None,
            },
            Ok(Err(e)) => {
                tracing::debug!(name = %name, error = %e, "block list lookup failed");
                None
            }
            Err(_) => {
                tracing::debug!(name = %name, "block list lookup timed out");
                None
            }
        }
    }

    /// The hits for a client address and a message's link hosts.
    pub async fn hits(&self, peer: IpAddr, link_hosts: &[String]) -> Vec<Hit> {
        let mut queries: Vec<(String, String, String)> = Vec::new();
        if !is_private(peer) {
            for zone in &self.ip_zones {
                queries.push((test_name("DNSBL", zone), ip_query(peer, zone), format!("the sending server {peer}")));
            }
        }
        // Domains only: an address in a link is no domain a URIBL lists.
        let mut domains: Vec<String> = link_hosts
            .iter()
            .filter(|h| h.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_err())
            .map(|h| registered(h))
            .collect();
        domains.sort();
        domains.dedup();
        // Past the limit, which ones are asked is not for the sender to
        // know: ten harmless links before the spam one would otherwise
        // hide it. An order by a hash keyed per process.
        if domains.len() > MAX_URI_LOOKUPS {
            static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> = std::sync::OnceLock::new();
            let key = KEY.get_or_init(Default::default);
            domains.sort_by_cached_key(|d| std::hash::BuildHasher::hash_one(key, d));
        }
        for d in domains.iter().take(MAX_URI_LOOKUPS) {
            for zone in &self.uri_zones {
                queries.push((test_name("URIBL", zone), format!("{d}.{zone}"), format!("the link domain {d}")));
            }
        }
        let answers = join_all(queries.iter().map(|(_, q, _)| self.lookup(q.clone()))).await;
        let mut hits: Vec<Hit> = Vec::new();
        for ((name, query, what), answer) in queries.into_iter().zip(answers) {
            let Some(code) = answer else { continue };
            if hits.iter().any(|h| h.name == name) {
                continue;
            }
            hits.push(Hit {
                name,
                score: self.score,
                detail: format!("{what} is on a block list ({query} answers {code})"),
            });
        }
        hits
    }
}

#[async_trait]
impl Stage for DnsblStage {
    fn name(&self) -> &'static str {
        "dnsbl"
    }

    async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict> {
        if !ctx.inbound || ctx.authenticated() || (self.ip_zones.is_empty() && self.uri_zones.is_empty()) {
            return None;
        }
        if ctx.recipients.iter().all(|r| r.allowed) {
            return None;
        }
        let hosts = if self.uri_zones.is_empty() { Vec::new() } else { ctx.content().link_hosts.clone() };
        let hits = self.hits(ctx.peer, &hosts).await;
        // An allow-listed sender is not scored, by content or by reputation.
        for r in ctx.recipients.iter_mut().filter(|r| !r.allowed) {
            r.hits.extend(hits.iter().cloned());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names() {
        assert_eq!(ip_query("192.0.2.99".parse().expect("ip"), "bl.test"), "99.2.0.192.bl.test");
        assert_eq!(ip_query("::ffff:192.0.2.99".parse().expect("ip"), "bl.test"), "99.2.0.192.bl.test");
        // RFC 5782 §2.4: 2001:db8:1:2:3:4:567:89ab
        assert_eq!(
            ip_query("2001:db8:1:2:3:4:567:89ab".parse().expect("ip"), "bl.test"),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test"
        );
        assert_eq!(registered("www.shop.example.com"), "example.com");
        assert_eq!(registered("shop.example.co.uk"), "example.co.uk");
        assert_eq!(test_name("DNSBL", "zen.spamhaus.org"), "DNSBL_ZEN_SPAMHAUS_ORG");
    }

    #[test]
    fn refusals_are_not_listings() {
        let ip = |s: &str| -> Ipv4Addr { s.parse().expect("ip") };
        for code in ["127.255.255.254", "127.255.255.255", "127.255.255.252", "127.0.1.255", "127.0.0.1"] {
            assert_eq!(answer(&[ip(code)]), Answer::Refused(ip(code)), "{code}");
        }
        assert_eq!(answer(&[ip("127.0.1.2")]), Answer::Listed(ip("127.0.1.2")), "a DBL listing");
        assert_eq!(answer(&[ip("127.0.0.1"), ip("127.0.0.4")]), Answer::Listed(ip("127.0.0.4")));
        assert_eq!(answer(&[ip("93.184.216.34")]), Answer::NotListed, "a wildcard's answer");
        assert_eq!(answer(&[]), Answer::NotListed);
    }

    #[test]
    fn error_codes_are_not_listings() {
        assert_eq!(listed(&["127.255.255.254".parse().expect("ip")]), None);
        assert_eq!(listed(&["127.0.0.2".parse().expect("ip")]), Some("127.0.0.2".parse().expect("ip")));
        assert_eq!(listed(&["10.0.0.2".parse().expect("ip")]), None);
        assert!(is_private("10.1.2.3".parse().expect("ip")) && !is_private("127.0.0.2".parse().expect("ip")));
    }
}
