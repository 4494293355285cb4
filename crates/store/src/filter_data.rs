//! What the spam filter keeps: allow/block lists and keyword rules, and the
//! learning classifier's counts per scope (0 is the whole server, any other
//! number an account id).

use async_trait::async_trait;
use serde::Serialize;

use crate::{AccountId, Result};

/// The scope of the whole server's training.
pub const GLOBAL_SCOPE: i64 = 0;

/// An allow, block or keyword rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilterRule {
    pub id: i64,
    /// "allow", "block" or "keyword".
    pub kind: String,
    pub pattern: String,
    /// "" for the whole server, "@domain" for a domain, or a user's address.
    pub scope: String,
    /// Keyword rules: "subject", "body" or "any".
    pub place: Option<String>,
    /// Keyword rules: "junk", "quarantine", "reject" or "score:N".
    pub action: Option<String>,
    pub created: i64,
}

/// A scope's counts as learnt.
#[derive(Debug, Clone, Default)]
pub struct SpamCounts {
    pub spam_messages: u32,
    pub ham_messages: u32,
    /// (token, spam count, ham count)
    pub tokens: Vec<(u64, u32, u32)>,
    pub generation: i64,
}

/// One message to learn: its digest (so that learning it twice counts it
/// once, and learning it as the other kind moves its counts) and tokens.
#[derive(Debug, Clone)]
pub struct Learn {
    pub digest: String,
    pub spam: bool,
    pub tokens: Vec<u64>,
}

/// What a round of learning did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LearnReport {
    pub learnt: u64,
    /// Learnt before as the other kind: moved.
    pub relearnt: u64,
    /// Learnt before as the same kind: nothing to do.
    pub unchanged: u64,
}

/// A message a user moved into Junk (spam) or out of it (ham).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnJob {
    pub id: i64,
    pub account: AccountId,
    /// The message body's blob hash.
    pub hash: String,
    pub spam: bool,
}

/// What changed since the filter last looked, in one read per message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterState {
    /// [`FilterData::filter_generation`].
    pub rules: i64,
    /// Junk moves wait to be learnt.
    pub learning_pending: bool,
    /// The generation of each scope asked about, in order.
    pub scopes: Vec<i64>,
}

#[async_trait]
pub trait FilterData: Send + Sync {
    /// The rules' generation, whether learning waits, and the scopes'
    /// generations, in one read.
    async fn filter_state(&self, scopes: &[i64]) -> Result<FilterState>;
    /// A rule with the same kind, pattern and scope is a Conflict.
    async fn add_filter_rule(&self, rule: FilterRule) -> Result<FilterRule>;
    async fn del_filter_rule(&self, kind: &str, pattern: &str, scope: &str) -> Result<()>;
    async fn filter_rules(&self) -> Result<Vec<FilterRule>>;
    /// Changes whenever a rule is added or removed (by any process).
    async fn filter_generation(&self) -> Result<i64>;

    async fn spam_counts(&self, scope: i64) -> Result<SpamCounts>;
    /// The generation of each scope (0 when it never learnt).
    async fn spam_generations(&self, scopes: &[i64]) -> Result<Vec<i64>>;
    async fn spam_learn(&self, scope: i64, messages: Vec<Learn>) -> Result<LearnReport>;
    /// Messages waiting to be learnt, oldest first.
    async fn spam_learn_jobs(&self, limit: usize) -> Result<Vec<LearnJob>>;
    async fn spam_learn_done(&self, ids: &[i64]) -> Result<()>;
    /// Greylisting: None lets the triple through (it waited `delay`
    /// seconds since first seen, or passed within `lifetime`); Some(n) asks
    /// the client to come back in n seconds.
    async fn greylist(&self, triple: &str, now: i64, delay: i64, lifetime: i64) -> Result<Option<i64>>;
}
