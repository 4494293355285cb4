//! Allow and block list patterns (`caravel filter allow|block add PATTERN`):
//! an exact address, `@domain` (that domain only), `*.domain` (the domain
//! and every name under it), an IP address, or a CIDR block.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Address(String),
    Domain(String),
    DomainTree(String),
    Net { addr: IpAddr, prefix: u8 },
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
        let (addr, prefix) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t.as_str(), None),
        };
        if let Ok(addr) = addr.parse::<IpAddr>() {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(p) => {
                    p.parse::<u8>().ok().filter(|p| *p <= max).ok_or(format!("bad prefix length in `{text}`"))?
                }
                None => max,
            };
            return Ok(Pattern::Net { addr, prefix });
        }
        Err(format!("`{text}` is not a pattern: use user@domain, @domain, *.domain, an IP address or a CIDR block"))
    }

    /// The canonical text (what the store keeps and `filter list` shows).
    pub fn text(&self) -> String {
        match self {
            Pattern::Address(a) => a.clone(),
            Pattern::Domain(d) => format!("@{d}"),
            Pattern::DomainTree(d) => format!("*.{d}"),
            Pattern::Net { addr, prefix } if *prefix == if addr.is_ipv4() { 32 } else { 128 } => addr.to_string(),
            Pattern::Net { addr, prefix } => format!("{addr}/{prefix}"),
        }
    }

    /// Whether an address (lowercase) matches.
    pub fn matches_address(&self, address: &str) -> bool {
        let d = address.rsplit_once('@').map_or("", |(_, d)| d);
        match self {
            Pattern::Address(a) => a == address,
            Pattern::Domain(p) => p == d,
            Pattern::DomainTree(p) => d == p || d.strip_suffix(p.as_str()).is_some_and(|s| s.ends_with('.')),
            Pattern::Net { .. } => false,
        }
    }

    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        let Pattern::Net { addr, prefix } = self else { return false };
        let (a, b, bits) = match (addr, ip.to_canonical()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(*a) as u128, u32::from(b) as u128, 32),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(*a), u128::from(b), 128),
            _ => return false,
        };
        let shift = bits - *prefix as u32;
        shift >= bits || (a >> shift) == (b >> shift)
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
