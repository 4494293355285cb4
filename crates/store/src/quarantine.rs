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
    /// The outside recipients' aliases (recipient -> alias): the copy
    /// was the alias's, and the alias's domain administrator answers for
    /// it.
    pub via: BTreeMap<String, String>,
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
    /// [`NewHeld::via`].
    pub via: BTreeMap<String, String>,
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

/// The `via` column: a line per outside recipient, "recipient<TAB>alias".
pub(crate) fn via_column(via: &BTreeMap<String, String>) -> String {
    via.iter().map(|(r, a)| format!("{r}\t{a}")).collect::<Vec<_>>().join("\n")
}

/// [`via_column`] read back (lines without a tab are skipped).
pub(crate) fn parse_via(column: &str) -> BTreeMap<String, String> {
    column.lines().filter_map(|l| l.split_once('\t')).map(|(r, a)| (r.to_string(), a.to_string())).collect()
}
