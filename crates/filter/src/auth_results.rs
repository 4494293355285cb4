//! The `Authentication-Results:` field (RFC 8601), written here rather than
//! by mail-auth: its writer copies values such as a DKIM signature's `i=`
//! (quoted-printable, so it can hold CR LF and ';') and the HELO name into
//! the field unquoted, which lets a sender add results of its own. Every
//! value here is a result keyword, a checked token, or a quoted-string
//! without line breaks.

use std::net::IpAddr;

use caravel_dns::mail_auth::common::headers::HeaderWriter;
use caravel_dns::mail_auth::dmarc::Policy;
use caravel_dns::mail_auth::{ArcOutput, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput};

/// What was found for one message.
pub struct Found<'a> {
    pub dkim: &'a [DkimOutput<'a>],
    pub spf: &'a str,
    pub mail_from: &'a str,
    pub helo: &'a str,
    pub arc: Option<&'a ArcOutput<'a>>,
    pub dmarc: Option<(&'a str, &'a DmarcOutput)>,
    pub peer: IpAddr,
}

/// The whole field, folded, ending in CRLF.
pub fn header(hostname: &str, f: &Found<'_>) -> String {
    let mut parts = Vec::new();
    if f.dkim.is_empty() {
        parts.push("dkim=none".to_string());
    }
    for o in f.dkim {
        let mut p = format!("dkim={}", dkim_result_word(o.result()));
        if let Some(s) = o.signature() {
            p.push_str(&format!(" header.d={} header.s={}", value(&s.d), value(&s.s)));
            let b = caravel_auth::sasl::encode(&s.b[..s.b.len().min(6)]);
            p.push_str(&format!(" header.b={}", value(&b)));
        }
        parts.push(p);
    }
    if f.mail_from.is_empty() {
        parts.push(format!("spf={} smtp.helo={}", f.spf, value(f.helo)));
    } else {
        parts.push(format!("spf={} smtp.mailfrom={}", f.spf, value(f.mail_from)));
    }
    if let Some(arc) = f.arc {
        parts.push(format!("arc={} smtp.remote-ip={}", arc_word(arc, f.peer), f.peer));
    }
    if let Some((word, d)) = f.dmarc {
        let mut p = format!("dmarc={word} header.from={}", value(d.domain()));
        let policy = match d.policy() {
            _ if d.dmarc_record().is_none() => None,
            Policy::None => Some("none"),
            Policy::Quarantine => Some("quarantine"),
            Policy::Reject => Some("reject"),
            Policy::Unspecified => None,
        };
        if let Some(policy) = policy {
            p.push_str(&format!(" policy.dmarc={policy}"));
        }
        parts.push(p);
    }
    format!("Authentication-Results: {};\r\n\t{}\r\n", value(hostname), parts.join(";\r\n\t"))
}

fn dkim_result_word(r: &DkimResult) -> &'static str {
    match r {
        DkimResult::Pass => "pass",
        DkimResult::Neutral(_) => "neutral",
        DkimResult::Fail(_) => "fail",
        DkimResult::PermError(_) => "permerror",
        DkimResult::TempError(_) => "temperror",
        DkimResult::None => "none",
    }
}

/// mail-auth keeps the ARC result private; its own writer shows the word.
fn arc_word(arc: &ArcOutput<'_>, peer: IpAddr) -> &'static str {
    let text = AuthenticationResults::new("x").with_arc_result(arc, peer).to_header();
    let word = text.split("arc=").nth(1).unwrap_or("").split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    ["pass", "fail", "neutral", "permerror", "temperror", "none"].into_iter().find(|w| *w == word).unwrap_or("none")
}

/// Whether a header field is an `Authentication-Results` field naming
/// `hostname` as its authserv-id (RFC 8601 §2.2: `authserv-id [ CFWS
/// authres-version ] ";" ...`), compared as ASCII without case: what the
/// SMTP server strips from arriving mail and what the webmail reads as
/// this server's own verdict, decided by one function.
pub fn names_us(field: &[u8], hostname: &str) -> bool {
    let text = String::from_utf8_lossy(field);
    let Some((name, value)) = text.split_once(':') else { return false };
    if !name.trim().eq_ignore_ascii_case("authentication-results") {
        return false;
    }
    let id = value.split(';').next().unwrap_or("").split_whitespace().next().unwrap_or("");
    id.trim_end_matches('.').eq_ignore_ascii_case(hostname.trim_end_matches('.'))
}

/// Our own field says DMARC passed for the From domain `domain`: a result
/// line (each starts its own line here, and no value holds a line break)
/// that begins `dmarc=pass` and names `header.from=domain`.
pub fn dmarc_passed(field: &[u8], domain: &str) -> bool {
    String::from_utf8_lossy(field).split('\n').any(|line| {
        let mut words = line.trim().trim_end_matches(';').split_whitespace();
        words.next() == Some("dmarc=pass")
            && words.any(|w| {
                w.strip_prefix("header.from=").is_some_and(|d| d.trim_matches('"').eq_ignore_ascii_case(domain))
            })
    })
}

/// A property value (RFC 8601 §2.2): as it is when it is a plain token or
/// `local-part@domain` made of safe characters, else a quoted-string with
/// `"` and `\` escaped and control characters (CR, LF ...) left out.
pub fn value(v: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    let plain = !v.is_empty()
        && v.split('@').count() <= 2
        && v.split('@').all(|part| !part.is_empty() && part.chars().all(safe) && !part.contains('='));
    if plain {
        return v.to_string();
    }
    let mut out = String::from("\"");
    for c in v.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_result_line_of_our_own_says_dmarc_passed() {
        let ours = b"Authentication-Results: mail.example.test;\r\n\tdkim=none;\r\n\tspf=pass smtp.mailfrom=\"dmarc=pass@attacker.test\";\r\n\tdmarc=fail header.from=trusted.test\r\n";
        assert!(names_us(ours, "MAIL.example.test"));
        assert!(!dmarc_passed(ours, "trusted.test"), "a value that reads dmarc=pass is not a result");
        let pass = b"Authentication-Results: mail.example.test;\r\n\tspf=pass smtp.mailfrom=a@trusted.test;\r\n\tdmarc=pass header.from=trusted.test policy.dmarc=none\r\n";
        assert!(dmarc_passed(pass, "Trusted.test") && !dmarc_passed(pass, "other.test"));
        // Not ours: another authserv-id, or one that only lowercases to ours.
        assert!(!names_us(b"Authentication-Results: mx.other.test; dmarc=pass\r\n", "mail.example.test"));
        assert!(!names_us(
            "Authentication-Results: mail.ban\u{212A}.test; dmarc=pass\r\n".as_bytes(),
            "mail.bank.test"
        ));
    }

    #[test]
    fn values_cannot_break_out_of_the_field() {
        assert_eq!(value("alice@export.test"), "alice@export.test");
        assert_eq!(value("export.test"), "export.test");
        assert_eq!(value("x);dmarc=pass("), "\"x);dmarc=pass(\"");
        assert_eq!(value("a\r\nAuthentication-Results: us; dmarc=pass"), "\"aAuthentication-Results: us; dmarc=pass\"");
        assert_eq!(value("q\"uote\\"), "\"q\\\"uote\\\\\"");
        assert_eq!(value(""), "\"\"");
    }

    #[test]
    fn a_field_without_signatures_says_dkim_none_and_names_the_helo_for_a_null_sender() {
        let h = header(
            "mx.ours.test",
            &Found {
                dkim: &[],
                spf: "pass",
                mail_from: "",
                helo: "EHLO x);dmarc=pass(",
                arc: None,
                dmarc: None,
                peer: "192.0.2.1".parse().expect("ip"),
            },
        );
        assert_eq!(
            h,
            "Authentication-Results: mx.ours.test;\r\n\tdkim=none;\r\n\tspf=pass smtp.helo=\"EHLO x);dmarc=pass(\"\r\n"
        );
    }
}
