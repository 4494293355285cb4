//! The organizational domain (RFC 7489 §3.2) for DMARC's relaxed alignment:
//! `mail.buyer.example` and `buyer.example` are one organization.
//!
//! Without the Public Suffix List (not bundled yet), a short list of
//! common two-label public suffixes stands in: `co.uk`, `com.br` and the
//! like. Anything else is the last two labels.

/// Second-level labels under a two-letter country code that are public
/// suffixes themselves (e.g. `co.uk`, `com.cn`, `ac.jp`).
const SECOND_LEVEL: [&str; 12] = ["co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "nic"];

pub fn org_domain(domain: &str) -> &str {
    let labels: Vec<&str> = domain.split('.').collect();
    let keep = match labels.as_slice() {
        [.., second, tld] if tld.len() == 2 && SECOND_LEVEL.contains(second) => 3,
        _ => 2,
    };
    if labels.len() <= keep {
        return domain;
    }
    let skip: usize = labels[..labels.len() - keep].iter().map(|l| l.len() + 1).sum();
    &domain[skip..]
}

#[cfg(test)]
mod tests {
    use super::org_domain;

    #[test]
    fn organizational_domains() {
        assert_eq!(org_domain("mail.buyer.example"), "buyer.example");
        assert_eq!(org_domain("buyer.example"), "buyer.example");
        assert_eq!(org_domain("a.b.export.co.uk"), "export.co.uk");
        assert_eq!(org_domain("export.com.br"), "export.com.br");
        assert_eq!(org_domain("test"), "test");
    }
}
