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
            // `*@domain` is how many people write "anyone at domain".
            if local == "*" {
                return domain(d).map(Pattern::Domain);
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

    /// Whether an address (lowercase) matches. Its domain is compared in
    /// its ASCII form, as patterns keep theirs: a From: may write an
    /// internationalized domain either way (RFC 5890).
    pub fn matches_address(&self, address: &str) -> bool {
        let d = address.rsplit_once('@').map_or("", |(_, d)| d);
        let ascii;
        let d = if d.is_ascii() {
            d
        } else {
            ascii = idna::domain_to_ascii(d).unwrap_or_default();
            ascii.as_str()
        };
        let local = address.rsplit_once('@').map_or("", |(l, _)| l);
        match self {
            Pattern::Address(a) => a.rsplit_once('@').is_some_and(|(l, ad)| l == local && ad == d),
            Pattern::Domain(p) => p == d,
            Pattern::DomainTree(p) => d == p || d.strip_suffix(p.as_str()).is_some_and(|s| s.ends_with('.')),
            Pattern::Net(_) => false,
        }
    }

    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        matches!(self, Pattern::Net(n) if n.contains(ip))
    }
}

/// A pattern's domain, in its ASCII form (IDNA: `例子.测试` is
/// `xn--fsqu00a.xn--0zwm56d`), as envelope addresses are compared.
fn domain(d: &str) -> Result<String, String> {
    let bad = || format!("`{d}` is not a domain name");
    let ascii = if d.is_ascii() { d.to_string() } else { idna::domain_to_ascii(d).map_err(|_| bad())? };
    let ok = !ascii.is_empty()
        && ascii.len() <= 253
        && ascii.split('.').all(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
    if ok {
        Ok(ascii)
    } else {
        Err(bad())
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

    /// What people write, kept as what it means.
    #[test]
    fn patterns_are_kept_in_one_form() {
        let p = |s: &str| Pattern::parse(s).expect(s);
        assert_eq!(p("*@Spammer.test"), p("@spammer.test"), "anyone at the domain");
        // An internationalized domain, written either way, in the pattern
        // or in the address.
        assert_eq!(p("@例子.测试").text(), "@xn--fsqu00a.xn--0zwm56d");
        assert!(p("@例子.测试").matches_address("sales@xn--fsqu00a.xn--0zwm56d"));
        assert!(p("@xn--fsqu00a.xn--0zwm56d").matches_address("sales@例子.测试"));
        assert!(p("sales@例子.测试").matches_address("sales@例子.测试"));
        assert!(p("*.测试").matches_address("sales@例子.测试"));
        // Networks: an IPv4-mapped address is its IPv4 address, host bits go.
        assert_eq!(p("::ffff:192.0.2.1"), p("192.0.2.1"));
        assert!(p("::ffff:192.0.2.1").matches_ip("192.0.2.1".parse().expect("ip")));
        assert_eq!(p("192.0.2.77/24").text(), "192.0.2.0/24");
        assert_eq!(p("2001:db8::5/32").text(), "2001:db8::/32");
    }
}
