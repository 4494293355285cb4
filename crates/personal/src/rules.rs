//! Mail rules, applied at delivery in order: conditions on the sender,
//! recipients, subject, body, size, attachments or any header field, and
//! actions: file into a folder, forward (keeping a copy or not), mark read
//! or flagged, refuse, stop. What Outlook and Thunderbird call message
//! rules, run by the server so they apply whichever client is open.

use serde::{Deserialize, Serialize};

/// One condition; text comparisons are case-insensitive "contains".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "on", content = "value")]
pub enum Condition {
    /// The From: header (name and address) or the envelope sender.
    From(String),
    /// To: or Cc:.
    To(String),
    Subject(String),
    /// The text of the message (its first text part).
    Body(String),
    /// `name: value` (value contained in any field of that name).
    Header(String, String),
    /// Size in bytes.
    Larger(u64),
    Smaller(u64),
    /// It has an attachment.
    Attachment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "do", content = "value")]
pub enum Action {
    /// File into this folder (made when missing).
    Move(String),
    /// Send a copy to this address; `keep` false leaves none here.
    Forward {
        to: String,
        keep: bool,
    },
    MarkRead,
    Flag,
    /// Refuse the message with this text.
    Reject(String),
    /// No later rule applies.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Rule {
    pub conditions: Vec<Condition>,
    /// Any condition suffices (else all must hold).
    pub any: bool,
    pub actions: Vec<Action>,
}

/// The message as rules see it.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// From: and the envelope sender, lowercased.
    pub from: String,
    /// To: and Cc:, lowercased.
    pub to: String,
    pub subject: String,
    pub body: String,
    /// Every header field as (lowercased name, value).
    pub headers: Vec<(String, String)>,
    pub size: u64,
    pub attachment: bool,
}

/// What the rules decided for one copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The folder (None: INBOX, or the spam filter's choice).
    pub folder: Option<String>,
    pub forward: Vec<String>,
    /// Whether a copy stays here (false once a forward said so, unless a
    /// later rule files it).
    pub keep: bool,
    pub seen: bool,
    pub flagged: bool,
    pub reject: Option<String>,
    /// Which rules applied, by name, for the mail log.
    pub applied: Vec<String>,
}

impl View {
    /// From the raw message (one bounded parse) and its envelope sender.
    pub fn of(raw: &[u8], envelope_sender: &str) -> View {
        caravel_store::mime::with_parsed(raw, |m| {
            let join = |list: Vec<&mail_parser::Address>| -> String {
                list.iter()
                    .flat_map(|a| a.iter())
                    .map(|a| format!("{} <{}>", a.name.as_deref().unwrap_or(""), a.address.as_deref().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(", ")
                    .to_lowercase()
            };
            let from = format!("{} {}", join(m.from().into_iter().collect()), envelope_sender.to_lowercase());
            View {
                from,
                to: join([m.to(), m.cc()].into_iter().flatten().collect()),
                subject: m.subject().unwrap_or_default().to_lowercase(),
                body: m
                    .body_text(0)
                    .map(|t| t.chars().take(100_000).collect::<String>().to_lowercase())
                    .unwrap_or_default(),
                headers: header_fields(raw),
                size: raw.len() as u64,
                attachment: m.attachment_count() > 0,
            }
        })
        .unwrap_or_else(|| View {
            size: raw.len() as u64,
            from: envelope_sender.to_lowercase(),
            ..Default::default()
        })
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Condition::From(s) => write!(f, "from contains \"{s}\""),
            Condition::To(s) => write!(f, "to or cc contains \"{s}\""),
            Condition::Subject(s) => write!(f, "subject contains \"{s}\""),
            Condition::Body(s) => write!(f, "text contains \"{s}\""),
            Condition::Header(n, v) => write!(f, "{n}: contains \"{v}\""),
            Condition::Larger(n) => write!(f, "larger than {n} bytes"),
            Condition::Smaller(n) => write!(f, "smaller than {n} bytes"),
            Condition::Attachment => write!(f, "has an attachment"),
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Move(folder) => write!(f, "file into {folder}"),
            Action::Forward { to, keep: true } => write!(f, "forward to {to}"),
            Action::Forward { to, keep: false } => write!(f, "forward to {to} and keep no copy"),
            Action::MarkRead => write!(f, "mark read"),
            Action::Flag => write!(f, "flag"),
            Action::Reject(text) => write!(f, "refuse (\"{text}\")"),
            Action::Stop => write!(f, "stop"),
        }
    }
}

/// Rules look at this many header fields at most (a hostile message may
/// carry hundreds of thousands).
const MAX_FIELDS: usize = 1000;

/// Every header field as (lowercased name, unfolded lowercased value), in
/// order, from the raw header: each field once, whatever its name.
fn header_fields(raw: &[u8]) -> Vec<(String, String)> {
    use caravel_store::fields::{field_name, fields, header_end};
    fields(&raw[..header_end(raw)])
        .take(MAX_FIELDS)
        .map(|f| {
            let name = String::from_utf8_lossy(field_name(f)).to_ascii_lowercase();
            let value = f.iter().position(|b| *b == b':').map(|c| &f[c + 1..]).unwrap_or_default();
            let value = String::from_utf8_lossy(value);
            (name, value.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase())
        })
        .collect()
}

impl Condition {
    fn holds(&self, v: &View) -> bool {
        let has = |hay: &str, needle: &str| hay.contains(&needle.to_lowercase());
        match self {
            Condition::From(s) => has(&v.from, s),
            Condition::To(s) => has(&v.to, s),
            Condition::Subject(s) => has(&v.subject, s),
            Condition::Body(s) => has(&v.body, s),
            Condition::Header(name, value) => {
                v.headers.iter().any(|(n, val)| n.eq_ignore_ascii_case(name) && has(val, value))
            }
            Condition::Larger(n) => v.size > *n,
            Condition::Smaller(n) => v.size < *n,
            Condition::Attachment => v.attachment,
        }
    }
}

impl Rule {
    pub fn matches(&self, v: &View) -> bool {
        if self.conditions.is_empty() {
            return true;
        }
        match self.any {
            true => self.conditions.iter().any(|c| c.holds(v)),
            false => self.conditions.iter().all(|c| c.holds(v)),
        }
    }
}

/// Applies `rules` (in order) to the message.
pub fn apply(rules: &[(String, Rule)], v: &View) -> Outcome {
    let mut out = Outcome { keep: true, ..Default::default() };
    'rules: for (name, rule) in rules {
        if !rule.matches(v) {
            continue;
        }
        out.applied.push(name.clone());
        for action in &rule.actions {
            match action {
                Action::Move(folder) => {
                    out.folder = Some(folder.clone());
                    out.keep = true;
                }
                Action::Forward { to, keep } => {
                    if !out.forward.iter().any(|f| f.eq_ignore_ascii_case(to)) {
                        out.forward.push(to.clone());
                    }
                    if !keep {
                        out.keep = false;
                    }
                }
                Action::MarkRead => out.seen = true,
                Action::Flag => out.flagged = true,
                Action::Reject(text) => {
                    out.reject = Some(text.clone());
                    break 'rules;
                }
                Action::Stop => break 'rules,
            }
        }
    }
    out
}

/// Rules sorted by their number (names are numbers; others last).
pub fn in_order(mut rules: Vec<(String, Rule)>) -> Vec<(String, Rule)> {
    rules.sort_by_key(|(n, _)| (n.parse::<u64>().unwrap_or(u64::MAX), n.clone()));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> View {
        View::of(
            "Received: from relay-a\r\nReceived: from relay-b\r\n\tby mx\r\nFrom: \"Hans Buyer\" <hans@kunde.de>\r\nTo: li@export.test\r\nCc: sales@export.test\r\nSubject: Anfrage: Preise\r\n\
             X-Priority: 1\r\n\r\nBitte senden Sie ein Angebot.\r\n"
                .as_bytes(),
            "hans@kunde.de",
        )
    }

    #[test]
    fn conditions_read_the_message() {
        let v = view();
        for (c, expected) in [
            (Condition::From("@KUNDE.DE".into()), true),
            (Condition::From("hans buyer".into()), true),
            (Condition::To("sales@".into()), true),
            (Condition::Subject("anfrage".into()), true),
            (Condition::Body("angebot".into()), true),
            (Condition::Body("invoice".into()), false),
            (Condition::Header("x-priority".into(), "1".into()), true),
            (Condition::Header("received".into(), "relay-a".into()), true),
            (Condition::Header("received".into(), "relay-b".into()), true),
            (Condition::Larger(10_000), false),
            (Condition::Smaller(10_000), true),
            (Condition::Attachment, false),
        ] {
            assert_eq!(c.holds(&v), expected, "{c:?}");
        }
    }

    #[test]
    fn actions_in_order_until_stop_or_reject() {
        let v = view();
        let rule = |conditions: Vec<Condition>, actions: Vec<Action>| Rule { conditions, any: false, actions };
        let rules = vec![
            ("1".to_string(), rule(vec![Condition::From("kunde.de".into())], vec![Action::Move("客户/报价".into())])),
            (
                "2".to_string(),
                rule(
                    vec![Condition::Subject("preise".into())],
                    vec![Action::Forward { to: "boss@export.test".into(), keep: true }, Action::Flag],
                ),
            ),
            ("3".to_string(), rule(vec![], vec![Action::Stop])),
            ("4".to_string(), rule(vec![], vec![Action::Reject("no".into())])),
        ];
        let out = apply(&rules, &v);
        assert_eq!(out.folder.as_deref(), Some("客户/报价"));
        assert_eq!(out.forward, vec!["boss@export.test".to_string()]);
        assert!(out.keep && out.flagged && !out.seen && out.reject.is_none());
        assert_eq!(out.applied, vec!["1", "2", "3"]);
        let no_copy =
            vec![("1".to_string(), rule(vec![], vec![Action::Forward { to: "x@far.test".into(), keep: false }]))];
        assert!(!apply(&no_copy, &v).keep);
        let refuse = vec![(
            "1".to_string(),
            rule(vec![Condition::From("kunde".into())], vec![Action::Reject("Not here".into())]),
        )];
        assert_eq!(apply(&refuse, &v).reject.as_deref(), Some("Not here"));
    }

    #[test]
    fn rules_run_by_number() {
        let r = Rule::default();
        let sorted = in_order(vec![("10".into(), r.clone()), ("9".into(), r.clone()), ("2".into(), r)]);
        assert_eq!(sorted.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["2", "9", "10"]);
    }
}
