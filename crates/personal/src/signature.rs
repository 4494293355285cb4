//! Which signature a message gets: the user's named templates each say
//! when they apply (a new message, a reply or forward, mail to outside
//! addresses or only inside, to certain recipient domains such as `.cn`),
//! and the most specific one that applies wins. A domain's footer (a legal
//! disclaimer) follows it.

use serde::{Deserialize, Serialize};

/// When a template applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    #[default]
    Always,
    /// A new message (not a reply or forward).
    New,
    /// A reply or a forward.
    Reply,
    /// At least one recipient is outside the hosted domains.
    External,
    /// Every recipient is in a hosted domain.
    Internal,
}

impl std::fmt::Display for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            When::Always => "always",
            When::New => "new messages",
            When::Reply => "replies and forwards",
            When::External => "mail to outside addresses",
            When::Internal => "mail inside the company",
        })
    }
}

impl When {
    pub fn parse(s: &str) -> Option<When> {
        Some(match s.to_ascii_lowercase().as_str() {
            "always" => When::Always,
            "new" => When::New,
            "reply" => When::Reply,
            "external" => When::External,
            "internal" => When::Internal,
            _ => return None,
        })
    }
}

/// A named signature template (`{name}`, `{title}` ... are filled in).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Template {
    pub text: String,
    pub html: Option<String>,
    pub when: When,
    /// Recipient domains (`buyer.cn`) or endings (`.cn`): applies when a
    /// recipient's domain matches one. Empty: any.
    pub domains: Vec<String>,
}

/// What is known about the message being sent.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    pub reply: bool,
    pub external: bool,
    /// The recipients' domains, lowercased.
    pub recipient_domains: Vec<String>,
}

impl Template {
    /// None when it does not apply; else how specific it is (higher wins).
    fn fits(&self, s: &Scenario) -> Option<u32> {
        let when = match self.when {
            When::Always => 0,
            When::New if !s.reply => 2,
            When::Reply if s.reply => 2,
            When::External if s.external => 1,
            When::Internal if !s.external => 1,
            _ => return None,
        };
        let domains = match self.domains.is_empty() {
            true => 0,
            false if s.recipient_domains.iter().any(|d| self.domains.iter().any(|p| domain_matches(d, p))) => 4,
            false => return None,
        };
        Some(when + domains)
    }
}

/// `domain` is `pattern` or below it; a pattern starting with a dot
/// (`.cn`) matches any domain ending so.
pub fn domain_matches(domain: &str, pattern: &str) -> bool {
    let (d, p) = (domain.to_ascii_lowercase(), pattern.to_ascii_lowercase());
    let p = p.trim_start_matches('@');
    match p.strip_prefix('.') {
        Some(end) => d == end || d.ends_with(&format!(".{end}")),
        None => d == p || d.ends_with(&format!(".{p}")),
    }
}

/// The template that applies most specifically (ties: the first by name).
pub fn choose<'a>(templates: &'a [(String, Template)], s: &Scenario) -> Option<&'a (String, Template)> {
    let mut best: Option<(u32, &(String, Template))> = None;
    for t in templates {
        if let Some(score) = t.1.fits(s) {
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, t));
            }
        }
    }
    best.map(|(_, t)| t)
}

/// A reply or forward: it answers a message (RFC 5322 §3.6.4) or says so
/// in its subject, in the prefixes common clients write.
pub fn is_reply(in_reply_to: bool, subject: &str) -> bool {
    const PREFIXES: [&str; 16] = [
        "re:",
        "fw:",
        "fwd:",
        "aw:",
        "wg:",
        "sv:",
        "vs:",
        "tr:",
        "rif:",
        "r:",
        "enc:",
        "res:",
        "回复:",
        "回复：",
        "转发:",
        "转发：",
    ];
    let s = subject.trim_start().to_lowercase();
    in_reply_to || PREFIXES.iter().any(|p| s.starts_with(p)) || s.starts_with("答复") || s.starts_with("回覆")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(when: When, domains: &[&str]) -> Template {
        Template { text: String::new(), html: None, when, domains: domains.iter().map(|d| d.to_string()).collect() }
    }

    #[test]
    fn the_most_specific_template_wins() {
        let all = vec![
            ("a-default".to_string(), t(When::Always, &[])),
            ("b-reply".to_string(), t(When::Reply, &[])),
            ("c-china".to_string(), t(When::Always, &[".cn"])),
            ("d-inside".to_string(), t(When::Internal, &[])),
        ];
        let name = |s: Scenario| choose(&all, &s).map(|t| t.0.as_str());
        let new_out = Scenario { reply: false, external: true, recipient_domains: vec!["buyer.de".into()] };
        assert_eq!(name(new_out), Some("a-default"));
        let reply_out = Scenario { reply: true, external: true, recipient_domains: vec!["buyer.de".into()] };
        assert_eq!(name(reply_out), Some("b-reply"));
        let china = Scenario { reply: true, external: true, recipient_domains: vec!["buyer.com.cn".into()] };
        assert_eq!(name(china), Some("c-china"));
        let inside = Scenario { reply: false, external: false, recipient_domains: vec!["export.test".into()] };
        assert_eq!(name(inside), Some("d-inside"));
        assert!(choose(&[("x".into(), t(When::Reply, &[]))], &Scenario::default()).is_none());
    }

    #[test]
    fn domains_and_reply_subjects() {
        assert!(domain_matches("buyer.cn", ".cn") && domain_matches("a.buyer.cn", "buyer.cn"));
        assert!(!domain_matches("notbuyer.cn", "buyer.cn") && !domain_matches("buyer.cn.evil", ".cn"));
        assert!(is_reply(false, "RE: offer") && is_reply(false, "回复：报价") && is_reply(false, "AW: Angebot"));
        assert!(is_reply(true, "offer") && !is_reply(false, "Reply needed: offer"));
    }
}
