//! Email address normalisation.
//!
//! The domain is case-insensitive and is kept in its ASCII (IDNA/punycode,
//! RFC 5891) lowercase form; the local part is kept exactly as given (RFC 5321
//! §2.4 says only the receiving host may interpret it) and matched
//! case-insensitively through a separate lookup key, as Postfix and Dovecot do.

use std::fmt;

/// A syntactically valid `local@domain` address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// The local part as given (may be UTF-8, RFC 6531).
    pub local: String,
    /// The domain in lowercase ASCII (A-labels for Unicode domains).
    pub domain: String,
}

impl Address {
    /// Parses and normalises `text`, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<Address, String> {
        let text = text.trim();
        let at = text.rfind('@').ok_or_else(|| format!("{text:?} is not an email address (expected local@domain)"))?;
        let (local, domain) = (&text[..at], &text[at + 1..]);
        validate_local(local).map_err(|e| format!("{text:?}: {e}"))?;
        let domain = normalize_domain(domain).map_err(|e| format!("{text:?}: {e}"))?;
        Ok(Address { local: local.to_string(), domain })
    }

    /// The catch-all of a domain (`@example.com`): mail for any unknown
    /// address of the domain.
    pub fn catch_all(domain: &str) -> Result<Address, String> {
        Ok(Address { local: String::new(), domain: normalize_domain(domain)? })
    }

    /// An address, or `@domain` for a catch-all.
    pub fn parse_alias(text: &str) -> Result<Address, String> {
        match text.trim().strip_prefix('@') {
            Some(domain) => Address::catch_all(domain),
            None => Address::parse(text),
        }
    }

    /// The case-insensitive key under which the address is unique.
    pub fn key(&self) -> String {
        format!("{}@{}", self.local.to_lowercase(), self.domain)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// RFC 5322 `atext` plus UTF-8 (RFC 6531 §3.3), dot-separated, at most 64 octets
/// (RFC 5321 §4.5.3.1.1). Quoted local parts are refused for accounts: many
/// clients and servers mishandle them.
fn validate_local(local: &str) -> Result<(), String> {
    if local.is_empty() {
        return Err("the part before @ is empty".into());
    }
    if local.len() > 64 {
        return Err("the part before @ is longer than 64 octets".into());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("the part before @ cannot start or end with a dot or have two dots in a row".into());
    }
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";
    if let Some(c) = local.chars().find(|c| {
        !(c.is_alphanumeric() || SPECIALS.contains(*c) || (!c.is_ascii() && !c.is_control() && !c.is_whitespace()))
    }) {
        return Err(format!("the character {c:?} is not allowed before @"));
    }
    Ok(())
}

/// Lowercases and converts a domain to ASCII (IDNA 2008 / UTS 46), checking
/// label and total lengths (RFC 1035 §2.3.4).
pub fn normalize_domain(domain: &str) -> Result<String, String> {
    let d = domain.trim().trim_end_matches('.');
    if d.is_empty() {
        return Err("the domain is empty".into());
    }
    let ascii = idna::domain_to_ascii(d).map_err(|_| format!("{d:?} is not a valid domain name"))?;
    let labels: Vec<&str> = ascii.split('.').collect();
    if ascii.len() > 253 || labels.len() < 2 {
        return Err(format!("{d:?} is not a valid domain name (expected something like example.com)"));
    }
    for l in labels {
        let ok = !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(format!("{d:?} is not a valid domain name"));
        }
    }
    Ok(ascii)
}

/// The Unicode form of a stored ASCII domain, for display.
pub fn display_domain(ascii: &str) -> String {
    let (unicode, result) = idna::domain_to_unicode(ascii);
    if result.is_ok() {
        unicode
    } else {
        ascii.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_is_lowercased_local_part_preserved() {
        let a = Address::parse("John.Smith@Example.COM").expect("valid");
        assert_eq!(a.to_string(), "John.Smith@example.com");
        assert_eq!(a.key(), "john.smith@example.com");
    }

    #[test]
    fn unicode_domains_become_punycode() {
        let a = Address::parse("info@bücher.de").expect("valid");
        assert_eq!(a.domain, "xn--bcher-kva.de");
        assert_eq!(display_domain(&a.domain), "bücher.de");
        let u = Address::parse("用户@例子.测试").expect("valid");
        assert_eq!(u.local, "用户");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a..b@example.com",
            ".a@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "a@-bad.com",
            "a@example..com",
            "\"q\"@example.com",
            &format!("{}@example.com", "x".repeat(65)),
        ] {
            assert!(Address::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
