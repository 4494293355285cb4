//! The quarantine: messages held back from their recipients (a virus found
//! at SMTP time, a suspicious attachment, a spam score over the quarantine
//! threshold) with why, from whom, to whom, and when. An administrator
//! lists, reads, releases or deletes them; after the retention period they
//! are deleted. Held messages are in nobody's mailbox, so they count toward
//! nobody's quota.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;

/// Why a message is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HeldKind {
    /// A virus signature matched: the message was refused at SMTP time; the
    /// copy is for the administrator.
    Virus,
    /// A heuristic fired (a program, a double extension, macros ...): the
    /// message was accepted and held.
    Suspicious,
    /// The spam score reached the quarantine threshold.
    Spam,
}

impl HeldKind {
    pub fn word(self) -> &'static str {
        match self {
            HeldKind::Virus => "virus",
            HeldKind::Suspicious => "suspicious",
            HeldKind::Spam => "spam",
        }
    }

    /// The kind of hold in words (a reason that says no more than that).
    pub fn held_as(self) -> &'static str {
        match self {
            HeldKind::Virus => "held for a virus",
            HeldKind::Suspicious => "held for a risky attachment",
            HeldKind::Spam => "held as likely spam",
        }
    }

    pub fn parse(s: &str) -> Option<HeldKind> {
        match s {
            "virus" => Some(HeldKind::Virus),
            "suspicious" => Some(HeldKind::Suspicious),
            "spam" => Some(HeldKind::Spam),
            _ => None,
        }
    }
}

/// A message to hold.
#[derive(Debug, Clone)]
pub struct NewHeld {
    pub kind: HeldKind,
    pub reason: String,
    pub sender: String,
    /// The addresses it was for (release delivers to them): accounts here,
    /// and outside addresses an alias here forwards to.
    pub recipients: Vec<String>,
    /// The outside recipients' aliases here (recipient -> aliases): the
    /// copy was the aliases', and their domains' administrators answer for
    /// it.
    pub via: BTreeMap<String, Vec<String>>,
    /// Each recipient's verdict (recipient -> its reason and X-Spam
    /// fields), when the filter judged each copy apart: `raw` is then
    /// the message without them, and a recipient's fields go on top of its
    /// copy only. Nobody reads another recipient's verdict (its rules, its
    /// lists).
    pub verdicts: BTreeMap<String, HeldVerdict>,
    pub subject: String,
    pub raw: Arc<Vec<u8>>,
    pub created: i64,
    /// For the mail log (`caravel trace`).
    pub message_id: Option<String>,
    pub session: Option<String>,
}

/// A held message, without its text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Held {
    pub id: i64,
    pub kind: HeldKind,
    pub reason: String,
    pub sender: String,
    pub recipients: Vec<String>,
    /// [`NewHeld::via`], for the recipients still held.
    pub via: BTreeMap<String, Vec<String>>,
    /// [`NewHeld::verdicts`], for the recipients still held.
    pub verdicts: BTreeMap<String, HeldVerdict>,
    pub subject: String,
    pub size: u64,
    pub created: i64,
    /// The recipients were told (digest or at once).
    pub notified: bool,
}

/// The filter's verdict on one recipient's copy of a held message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldVerdict {
    /// Why this copy is held, in words.
    pub reason: String,
    /// The `X-Spam-*` fields that go on top of this copy (CRLF-ended).
    pub fields: String,
    /// For a copy an alias forwards outside: the alias whose filter held
    /// it (its rules and lists gave the verdict), so that another alias's
    /// domain administrator is not shown it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alias: String,
}

impl NewHeld {
    /// Why the copy for `recipient` is held, as [`Held::reason_for`] says.
    pub fn reason_of(&self, recipient: &str) -> String {
        own_reason(&self.verdicts, self.kind, &self.reason, std::slice::from_ref(&recipient.to_string()))
    }
}

impl Held {
    /// Why the message is held for `recipients`: their own reasons, each
    /// once. The message's own reason (every recipient's, for the server's
    /// administrator) only when it has no verdicts per recipient (a virus,
    /// a message held before they were kept); else, without a reason of
    /// theirs, only what kind of hold it is.
    pub fn reason_for(&self, recipients: &[String]) -> String {
        own_reason(&self.verdicts, self.kind, &self.reason, recipients)
    }

    /// Held as spam or for an attachment before each recipient's verdict
    /// was kept apart (a virus never had one): the message's reason and
    /// the X-Spam fields in its text are the first recipient's.
    pub fn is_older(&self) -> bool {
        self.verdicts.is_empty() && self.kind != HeldKind::Virus
    }

    /// Why the message is held, as told to someone who answers for
    /// `recipients` only (a user, a domain administrator, a notice): as
    /// [`Held::reason_for`], but only the kind of hold for an older
    /// message held as spam, whose reason may be another recipient's.
    pub fn reason_told_to(&self, recipients: &[String]) -> String {
        match self.is_older() && self.kind == HeldKind::Spam {
            true => self.kind.held_as().to_string(),
            false => self.reason_for(recipients),
        }
    }

    /// The X-Spam fields of `recipient`'s copy ("" when it has none of its
    /// own: an older held message has them in its text).
    pub fn fields_of(&self, recipient: &str) -> &str {
        verdict_of(&self.verdicts, recipient).map_or("", |v| &v.fields)
    }
}

/// The reasons of `verdicts` (each a list joined by "; "), each reason
/// once, in their order ("" for none).
pub fn joined_reasons<'a>(verdicts: impl Iterator<Item = &'a HeldVerdict>) -> String {
    let mut reasons: Vec<&str> = Vec::new();
    for r in verdicts.flat_map(|v| v.reason.split("; ")).filter(|r| !r.is_empty()) {
        if !reasons.contains(&r) {
            reasons.push(r);
        }
    }
    reasons.join("; ")
}

/// See [`Held::reason_for`].
fn own_reason(verdicts: &BTreeMap<String, HeldVerdict>, kind: HeldKind, reason: &str, recipients: &[String]) -> String {
    if verdicts.is_empty() {
        return reason.to_string();
    }
    let own = recipients.iter().filter_map(|r| verdict_of(verdicts, r));
    match joined_reasons(own) {
        r if r.is_empty() => kind.held_as().to_string(),
        r => r,
    }
}

/// A recipient's verdict.
fn verdict_of<'a>(verdicts: &'a BTreeMap<String, HeldVerdict>, recipient: &str) -> Option<&'a HeldVerdict> {
    verdicts.get(recipient).or_else(|| verdicts.iter().find(|(r, _)| same_recipient(r, recipient)).map(|e| e.1))
}

/// Whether two recipient addresses are one: without case, UTF-8 local
/// parts included (as accounts are unique, `Address::key`).
pub fn same_recipient(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase))
}

#[async_trait]
pub trait Quarantine: Send + Sync {
    /// Holds a message; durable (on disk) when it returns.
    async fn hold(&self, message: NewHeld) -> Result<i64>;
    /// Every held message, newest first.
    async fn held(&self) -> Result<Vec<Held>>;
    /// One held message and its text.
    async fn held_message(&self, id: i64) -> Result<Option<(Held, Vec<u8>)>>;
    /// Deletes a held message (after a release or by an administrator);
    /// false if there was none.
    async fn unhold(&self, id: i64) -> Result<bool>;
    /// Takes one recipient off a held message (released to that one
    /// alone); how many remain, None if there is no such message. The
    /// message is deleted when none remains.
    async fn drop_held_recipient(&self, id: i64, address: &str) -> Result<Option<usize>>;
    /// Deletes messages held before `before` (seconds); how many.
    async fn expire_held(&self, before: i64) -> Result<u64>;
    /// Marks messages as told to their recipients.
    async fn mark_held_notified(&self, ids: Vec<i64>) -> Result<()>;
    /// Claims a message for release at `now`: false if another release
    /// claimed it less than `stale` seconds ago (one that crashed midway
    /// can be taken over after that).
    async fn claim_held(&self, id: i64, now: i64, stale: i64) -> Result<bool>;
    /// Gives a claim back (the release failed).
    async fn unclaim_held(&self, id: i64) -> Result<()>;
}

/// The `via` column: a line per (outside recipient, alias),
/// "recipient<TAB>alias" (addresses hold no tab or line break: they were
/// parsed at RCPT).
pub(crate) fn via_column(via: &BTreeMap<String, Vec<String>>) -> String {
    let lines = via.iter().flat_map(|(r, aliases)| aliases.iter().map(move |a| format!("{r}\t{a}")));
    lines.collect::<Vec<_>>().join("\n")
}

/// [`via_column`] read back, for the recipients still held (a release to
/// one recipient leaves its line behind).
pub(crate) fn parse_via(column: &str, recipients: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut via: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (r, a) in column.lines().filter_map(|l| l.split_once('\t')) {
        if recipients.iter().any(|x| x == r) {
            via.entry(r.to_string()).or_default().push(a.to_string());
        }
    }
    via
}

/// The `verdicts` column: JSON (reasons and fields hold any text), ""
/// when there are none.
pub(crate) fn verdicts_column(verdicts: &BTreeMap<String, HeldVerdict>) -> String {
    match verdicts.is_empty() {
        true => String::new(),
        false => serde_json::to_string(verdicts).unwrap_or_default(),
    }
}

/// [`verdicts_column`] read back, for the recipients still held.
pub(crate) fn parse_verdicts(column: &str, recipients: &[String]) -> BTreeMap<String, HeldVerdict> {
    let mut verdicts: BTreeMap<String, HeldVerdict> = serde_json::from_str(column).unwrap_or_default();
    verdicts.retain(|r, _| recipients.iter().any(|x| same_recipient(x, r)));
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_round_trips_and_follows_the_recipients() {
        let via: BTreeMap<String, Vec<String>> = [
            ("p@far.test".to_string(), vec!["orders@a.test".to_string(), "sales@b.test".to_string()]),
            ("q@far.test".to_string(), vec!["info@a.test".to_string()]),
        ]
        .into();
        let column = via_column(&via);
        let all = ["p@far.test".to_string(), "q@far.test".to_string(), "x@a.test".to_string()];
        assert_eq!(parse_via(&column, &all), via);
        let left = parse_via(&column, &all[1..]);
        assert_eq!(left.keys().collect::<Vec<_>>(), ["q@far.test"], "p was released");
        assert!(parse_via("", &all).is_empty());
        assert!(parse_via("no tab here", &all).is_empty());
    }

    #[test]
    fn verdicts_round_trip_and_stay_with_their_recipient() {
        let v = |reason: &str, fields: &str| HeldVerdict {
            reason: reason.into(),
            fields: fields.into(),
            ..Default::default()
        };
        let verdicts: BTreeMap<String, HeldVerdict> = [
            ("Ünal@a.test".to_string(), v("his list", "")),
            ("Alice@a.test".to_string(), v("her rule", "X-Spam-Status: Yes, tests=KEYWORD_7\r\n\tmore\r\n")),
            ("bob@a.test".to_string(), v("score 9; her rule", "X-Spam-Status: Yes, tests=BAYES_99\r\n")),
            ("carol@a.test".to_string(), v("her rule", "")),
        ]
        .into();
        let column = verdicts_column(&verdicts);
        let all: Vec<String> = ["alice@a.test", "bob@a.test", "carol@a.test", "ünal@a.test"].map(String::from).into();
        assert_eq!(parse_verdicts(&column, &all).len(), 4);
        let left = parse_verdicts(&column, &all[1..]);
        assert_eq!(
            left.keys().collect::<Vec<_>>(),
            ["bob@a.test", "carol@a.test", "Ünal@a.test"],
            "alice was released"
        );
        assert_eq!(verdicts_column(&BTreeMap::new()), "");
        assert!(parse_verdicts("", &all).is_empty(), "an older held message has none");
        assert!(parse_verdicts("not json", &all).is_empty());
        let held = Held {
            id: 1,
            kind: HeldKind::Spam,
            reason: "held for three".into(),
            sender: "s@far.test".into(),
            recipients: all.clone(),
            via: BTreeMap::new(),
            verdicts: parse_verdicts(&column, &all),
            subject: String::new(),
            size: 0,
            created: 0,
            notified: false,
        };
        assert_eq!(held.reason_for(&all[..1]), "her rule", "alice's own reason (case apart)");
        assert_eq!(held.reason_for(&all[1..2]), "score 9; her rule");
        assert_eq!(held.reason_for(&all), "her rule; score 9; his list", "each reason once");
        assert_eq!(held.reason_for(&["dan@a.test".to_string()]), "held as likely spam", "never the others' reasons");
        let older = Held { verdicts: BTreeMap::new(), ..held.clone() };
        assert_eq!(older.reason_for(&all[..1]), "held for three", "a message without verdicts has its own reason");
        assert!(older.is_older() && !held.is_older());
        assert_eq!(older.reason_told_to(&all[..1]), "held as likely spam", "maybe another recipient's reason");
        assert_eq!(held.reason_told_to(&all[1..2]), "score 9; her rule");
        let virus = Held { kind: HeldKind::Virus, ..older.clone() };
        assert_eq!(virus.reason_told_to(&all[..1]), "held for three", "a virus is the same for all");
        assert!(held.fields_of("ALICE@a.test").starts_with("X-Spam-Status: Yes, tests=KEYWORD_7"));
        assert_eq!(held.fields_of("dan@a.test"), "");
        assert_eq!(held.reason_for(&["ünal@A.test".to_string()]), "his list", "UTF-8 local parts without case");
    }
}
