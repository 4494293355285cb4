//! The quarantine: messages held back from their recipients (a virus found
//! at SMTP time, a suspicious attachment, a spam score over the quarantine
//! threshold) with why, from whom, to whom, and when. An administrator
//! lists, reads, releases or deletes them; after the retention period they
//! are deleted. Held messages are in nobody's mailbox, so they count toward
//! nobody's quota.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

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
    pub subject: String,
    pub size: u64,
    pub created: i64,
    /// The recipients were told (digest or at once).
    pub notified: bool,
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
}
