//! Allow and block list patterns (`caravel filter allow|block add PATTERN`):
//! an exact address, `@domain` (that domain only), `*.domain` (the domain
//! and every name under it), an IP address, or a CIDR block.

use std::net::IpAddr;

use caravel_config::Network;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Address(String),
    Domain(String),
    DomainTree(String),
    Net(Network),
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let t = text.trim().to_lowercase();
        if let Some(d) = t.strip_prefix("*.") {
            return domain(d).map(Pattern::DomainTree);
        }
        if let Some(d) = t.strip_prefix('@') {
            return domain(d).map(Pattern::Domain);
        }
        if let Some((local, d)) = t.rsplit_once('@') {
            if local.is_empty() || local.contains(char::is_whitespace) {
                return Err(format!("`{text}` is not an address"));
            }
            return domain(d).map(|d| Pattern::Address(format!("{local}@{d}")));
        }
        let looks_like_ip = t.split('/').next().is_some_and(|a| a.parse::<IpAddr>().is_ok());
        if looks_like_ip {
            return Network::parse(&t).map(Pattern::Net);
        }
        Err(format!("`{text}` is not a pattern: use user@domain, @domain, *.domain, an IP address or a CIDR block"))
    }

    /// The canonical text (what the store keeps and `filter list` shows).
    pub fn text(&self) -> String {
        match self {
            Pattern::Address(a) => a.clone(),
            Pattern::Domain(d) => format!("@{d}"),
            Pattern::DomainTree(d) => format!("*.{d}"),
            Pattern::Net(n) => n.to_string(),
        }
    }

    /// Whether an address (lowercase) matches.
    pub fn matches_address(&self, address: &str) -> bool {
        let d = address.rsplit_once('@').map_or("", |(_, d)| d);
        match self {
            Pattern::Address(a) => a == address,
            Pattern::Domain(p) => p == d,
            Pattern::DomainTree(p) => d == p || d.strip_suffix(p.as_str()).is_some_and(|s| s.ends_with('.')),
            Pattern::Net(_) => false,
        }
    }

    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        matches!(self, Pattern::Net(n) if n.contains(ip))
    }
}

fn domain(d: &str) -> Result<String, String> {
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
    if ok {
        Ok(d.to_string())
    } else {
        Err(format!("`{d}` is not a domain name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_pattern() {
        let p = |s: &str| Pattern::parse(s).expect(s);
        assert!(p("Li@Partner.Test").matches_address("li@partner.test"));
        assert!(!p("li@partner.test").matches_address("wang@partner.test"));
        assert!(p("@partner.test").matches_address("wang@partner.test"));
        assert!(!p("@partner.test").matches_address("wang@mail.partner.test"));
        assert!(p("*.partner.test").matches_address("wang@mail.partner.test"));
        assert!(p("*.partner.test").matches_address("wang@partner.test"));
        assert!(!p("*.partner.test").matches_address("wang@otherpartner.test"));
        assert!(p("192.0.2.0/24").matches_ip("192.0.2.77".parse().expect("ip")));
        assert!(!p("192.0.2.0/24").matches_ip("192.0.3.1".parse().expect("ip")));
        assert!(p("192.0.2.9").matches_ip("::ffff:192.0.2.9".parse().expect("ip")));
        assert!(p("2001:db8::/32").matches_ip("2001:db8:1::5".parse().expect("ip")));
        assert!(p("0.0.0.0/0").matches_ip("203.0.113.1".parse().expect("ip")));
        assert_eq!(p("10.0.0.0/8").text(), "10.0.0.0/8");
        assert_eq!(p("*.X.test").text(), "*.x.test");
        assert!(Pattern::parse("not a pattern").is_err());
        assert!(Pattern::parse("10.0.0.0/33").is_err());
    }
}
