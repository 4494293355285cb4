//! The organizational domain (RFC 7489 §3.2) for DMARC's relaxed alignment
//! and for URIBL lookups: `mail.buyer.example` and `buyer.example` are one
//! organization. It is the public suffix (from the Public Suffix List,
//! compiled in by the `psl` crate) and one label more. A name under a
//! suffix we do not know counts its last label as the suffix (the list's
//! implicit `*` rule), so `buyer.test` is its own organization.
//!
//! Without the list, two strangers' domains under one multi-label suffix
//! (`acme.me.uk` and `evil.me.uk`) would be one organization, and SPF
//! passing for the second would count as aligned for the first.

/// The organizational domain of `domain`: a tail of it as given, without
/// a trailing dot (`buyer.test.` and `buyer.test` are one name).
pub fn org_domain(domain: &str) -> &str {
    let name = domain.trim_end_matches('.');
    // The list is lowercase; the answer is a tail of the name as given.
    let lower = name.to_ascii_lowercase();
    match psl::domain(lower.as_bytes()) {
        Some(org) => &name[name.len() - org.as_bytes().len()..],
        None => name,
    }
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
        assert_eq!(org_domain("mail.Export.COM.cn"), "Export.COM.cn", "any case");
        assert_eq!(org_domain("mx.buyer.test."), "buyer.test");
        assert_eq!(org_domain("test"), "test");
        assert_eq!(org_domain("ca."), "ca");
    }

    /// Suffixes of more than one label that a list of common second-level
    /// names misses: two strangers under them are not one organization.
    #[test]
    fn strangers_under_a_public_suffix_are_not_one_organization() {
        assert_eq!(org_domain("mail.acme.me.uk"), "acme.me.uk");
        assert_ne!(org_domain("evil.me.uk"), org_domain("acme.me.uk"));
        assert_eq!(org_domain("shop.example.ltd.uk"), "example.ltd.uk");
        assert_eq!(org_domain("a.yamada.gr.jp"), "yamada.gr.jp");
        assert_eq!(org_domain("x.someone.github.io"), "someone.github.io");
        assert_eq!(org_domain("mail.trading.com.cn"), "trading.com.cn");
    }
}
