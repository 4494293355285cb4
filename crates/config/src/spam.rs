//! `[spam]`: the spam filter's switches and thresholds, for the whole
//! server, per domain (`[spam.domain."example.com"]`) and per user
//! (`[spam.user."alice@example.com"]`).

use crate::reader::Reader;

#[derive(Debug, Clone, PartialEq)]
pub struct Spam {
    /// Content scoring, lists and rules on inbound and submitted mail.
    pub enabled: bool,
    /// The built-in keyword rules (English and Chinese spam words).
    pub default_rules: bool,
    /// The learning classifier abstains until it has learnt this many spam
    /// and this many legitimate messages.
    pub min_messages: u32,
    /// Examples the classifier keeps per kind and scope (the server, each
    /// user); past it the ones learnt longest ago are forgotten.
    pub max_examples: u32,
    /// Points (0 or less) for mail whose authenticated From: address the
    /// recipient has sent mail to: a reply from a customer is not junk on
    /// its content alone. 0 turns it off.
    pub correspondent_score: f64,
    /// Addresses remembered per user as written to; past it the ones
    /// written to longest ago are forgotten.
    pub correspondents_kept: u32,
    pub thresholds: Thresholds,
    pub domains: Vec<(String, Thresholds)>,
    pub users: Vec<(String, Thresholds)>,
    /// Submitted mail (587/465) scoring this much is refused.
    pub outbound_reject: f64,
    /// DNSBL zones the client's address is looked up in (none: off).
    pub dnsbl: Vec<String>,
    /// URIBL zones the domains of a message's links are looked up in.
    pub uribl: Vec<String>,
    /// Points each listing adds.
    pub dnsbl_score: f64,
    /// How long one block-list lookup may take.
    pub dnsbl_timeout: std::time::Duration,
    /// Greylist unknown (network, sender, recipient) triples.
    pub greylisting: bool,
    /// How long a new triple must wait before its retry is accepted.
    pub greylist_delay: std::time::Duration,
    /// How long a triple that passed (or waits) is remembered.
    pub greylist_lifetime: std::time::Duration,
    /// How long after the delay a retry is still accepted.
    pub greylist_retry_window: std::time::Duration,
    /// Passes (one an hour at most) a client needs before it is no longer
    /// greylisted (0: never).
    pub greylist_auto_allow: u32,
}

/// Score at or above which mail goes to Junk, to the quarantine, or is
/// refused (the last two can be off).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub junk: f64,
    pub quarantine: Option<f64>,
    pub reject: Option<f64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { junk: 5.0, quarantine: Some(12.0), reject: Some(20.0) }
    }
}

impl Default for Spam {
    fn default() -> Self {
        Spam {
            enabled: true,
            default_rules: true,
            min_messages: 50,
            max_examples: 10_000,
            correspondent_score: -4.0,
            correspondents_kept: 5_000,
            thresholds: Thresholds::default(),
            domains: Vec::new(),
            users: Vec::new(),
            outbound_reject: 8.0,
            dnsbl: Vec::new(),
            uribl: Vec::new(),
            dnsbl_score: 3.0,
            dnsbl_timeout: std::time::Duration::from_secs(3),
            greylisting: false,
            greylist_delay: std::time::Duration::from_secs(300),
            greylist_lifetime: std::time::Duration::from_secs(36 * 86_400),
            greylist_retry_window: std::time::Duration::from_secs(2 * 86_400),
            greylist_auto_allow: 5,
        }
    }
}

const P: &str = "spam";
const LEVELS: [&str; 3] = ["junk_score", "quarantine_score", "reject_score"];

pub(crate) fn read(r: &mut Reader, t: &toml_edit::Table, s: &mut Spam) {
    let mut keys = vec![
        "enabled",
        "default_rules",
        "min_messages",
        "max_examples",
        "correspondent_score",
        "correspondents_kept",
        "outbound_reject_score",
        "domain",
        "user",
        "dnsbl",
        "uribl",
        "dnsbl_score",
        "dnsbl_timeout",
        "greylisting",
        "greylist_delay",
        "greylist_lifetime",
        "greylist_retry_window",
        "greylist_auto_allow",
    ];
    keys.extend(LEVELS);
    r.check_keys(t, P, &keys);
    let boolean = |i: &toml_edit::Item| i.as_bool().ok_or_else(|| "expected true or false".to_string());
    if let Some(v) = r.parsed(t, P, "enabled", boolean) {
        s.enabled = v;
    }
    if let Some(v) = r.parsed(t, P, "greylisting", boolean) {
        s.greylisting = v;
    }
    let days = |n: u64| std::time::Duration::from_secs(n * 86_400);
    if let Some(v) = r.duration(t, P, "greylist_delay") {
        s.greylist_delay = v.min(days(1));
    }
    if let Some(v) = r.duration(t, P, "greylist_lifetime") {
        s.greylist_lifetime = v.clamp(std::time::Duration::from_secs(3600), days(3650));
    }
    if let Some(v) = r.duration(t, P, "greylist_retry_window") {
        s.greylist_retry_window = v.clamp(std::time::Duration::from_secs(60), days(365));
    }
    if let Some(v) = r.count(t, P, "greylist_auto_allow") {
        s.greylist_auto_allow = v.min(1_000_000) as u32;
    }
    if let Some(v) = r.parsed(t, P, "default_rules", boolean) {
        s.default_rules = v;
    }
    if let Some(v) = r.count(t, P, "min_messages") {
        s.min_messages = v.clamp(1, 1_000_000) as u32;
    }
    if let Some(v) = r.count(t, P, "max_examples") {
        s.max_examples = v.clamp(10, 1_000_000) as u32;
    }
    // Fewer kept than the classifier needs to speak would silence it for good.
    s.max_examples = s.max_examples.max(s.min_messages);
    // A bonus only: writing to someone never makes their mail junk.
    let bonus = |i: &toml_edit::Item| {
        score(i).and_then(|v| match v <= 0.0 {
            true => Ok(v),
            false => Err("expected 0 (off) or a negative score such as -4".to_string()),
        })
    };
    if let Some(v) = r.parsed(t, P, "correspondent_score", bonus) {
        s.correspondent_score = v;
    }
    if let Some(v) = r.count(t, P, "correspondents_kept") {
        s.correspondents_kept = v.clamp(10, 1_000_000) as u32;
    }
    if let Some(v) = r.parsed(t, P, "outbound_reject_score", score) {
        s.outbound_reject = v;
    }
    if let Some(v) = r.parsed(t, P, "dnsbl_score", score) {
        s.dnsbl_score = v;
    }
    if let Some(v) = r.duration(t, P, "dnsbl_timeout") {
        s.dnsbl_timeout = v.clamp(std::time::Duration::from_millis(100), std::time::Duration::from_secs(30));
    }
    for (key, list) in [("dnsbl", &mut s.dnsbl), ("uribl", &mut s.uribl)] {
        if let Some(v) = r.parsed(t, P, key, zones) {
            *list = v;
        }
    }
    s.thresholds = thresholds(r, t, P, Thresholds::default());
    for (kind, list) in [("domain", &mut s.domains), ("user", &mut s.users)] {
        let Some(tables) = r.table(t, kind) else { continue };
        for (name, item) in tables.iter() {
            let prefix = format!("{P}.{kind}.\"{name}\"");
            match item.as_table() {
                Some(one) => {
                    r.check_keys(one, &prefix, &LEVELS);
                    list.push((name.to_lowercase(), thresholds(r, one, &prefix, s.thresholds)));
                }
                None => r.error(&prefix, item.span(), "expected a table of thresholds"),
            }
        }
    }
}

/// A list of DNS zone names.
fn zones(i: &toml_edit::Item) -> Result<Vec<String>, String> {
    let err = || "expected a list of DNS zones such as [\"zen.spamhaus.org\"]".to_string();
    let list = i.as_array().ok_or_else(err)?;
    list.iter()
        .map(|v| {
            let z = v.as_str().ok_or_else(err)?.trim_matches('.').to_ascii_lowercase();
            let ok = !z.is_empty()
                && z.split('.')
                    .all(|l| !l.is_empty() && l.len() < 64 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
            if ok {
                Ok(z)
            } else {
                Err(format!("{z:?} is not a DNS zone"))
            }
        })
        .collect()
}

fn score(i: &toml_edit::Item) -> Result<f64, String> {
    let v = i.as_float().or_else(|| i.as_integer().map(|n| n as f64));
    v.filter(|v| v.is_finite() && v.abs() <= 1000.0).ok_or_else(|| "expected a score such as 5 or 7.5".to_string())
}

/// Thresholds set in `t`, the rest from `base`; `"off"` turns quarantine or
/// refusal off.
fn thresholds(r: &mut Reader, t: &toml_edit::Table, prefix: &str, base: Thresholds) -> Thresholds {
    let optional = |i: &toml_edit::Item| match i.as_str() {
        Some("off") => Ok(None),
        _ => score(i).map(Some),
    };
    let mut out = base;
    if let Some(v) = r.parsed(t, prefix, "junk_score", score) {
        out.junk = v;
    }
    if let Some(v) = r.parsed(t, prefix, "quarantine_score", optional) {
        out.quarantine = v;
    }
    if let Some(v) = r.parsed(t, prefix, "reject_score", optional) {
        out.reject = v;
    }
    out
}
