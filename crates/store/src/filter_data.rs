//! What the spam filter keeps: allow/block lists and keyword rules, and the
//! learning classifier's examples per scope (0 is the whole server, any
//! other number an account id): each learnt message's features, from which
//! the filter trains its model (so a message learnt again as the other kind
//! simply changes its label).

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

/// A scope's examples as learnt.
#[derive(Debug, Clone, Default)]
pub struct SpamExamples {
    pub spam_messages: u32,
    pub ham_messages: u32,
    /// (spam?, features), ordered by digest (a fixed order: every node
    /// trains the same model from the same examples).
    pub examples: Vec<(bool, Vec<u32>)>,
    pub generation: i64,
    /// What the examples are, whatever their order: the sum of each one's
    /// [`example_hash`]. A model trained from them can be kept under it
    /// and found again without reading their features.
    pub fingerprint: u64,
}

/// FNV-1a over 64-bit words instead of bytes: one multiplication per word
/// (the filter hashes tens of megabytes of examples and models when it
/// starts; byte by byte that was a tenth of `spam classify`).
pub fn fnv_words(words: impl Iterator<Item = u64>) -> u64 {
    words.fold(0xcbf2_9ce4_8422_2325u64, |h, w| (h ^ w).wrapping_mul(0x0100_0000_01b3))
}

/// [`fnv_words`] over bytes: little-endian words, the last one padded,
/// then the length (so that trailing zero bytes count).
pub fn fnv_bytes(bytes: &[u8]) -> u64 {
    let words = bytes.chunks_exact(8);
    let tail = words.remainder().iter().rev().fold(0u64, |t, &b| (t << 8) | b as u64);
    let words = words.map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
    fnv_words(words.chain([tail, bytes.len() as u64]))
}

/// The 64-bit finalizer of MurmurHash3: every input bit reaches every
/// output bit. The filter's stored features are made with it: never
/// change it.
pub fn mix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// One example's part of [`SpamExamples::fingerprint`], from its label and
/// its features as stored ([`pack_features`]: the packing of sorted
/// features is one to one). The label is on its own (not one more bit of
/// the features) and mixed before the sum, so that two examples cannot
/// cancel out by their low bits.
pub fn example_hash(spam: bool, packed: &[u8]) -> u64 {
    let label = if spam { 0x9e37_79b9_7f4a_7c15 } else { 0 };
    mix64(fnv_bytes(packed) ^ label)
}

/// One message to learn: its digest (so that learning it twice keeps it
/// once, and learning it as the other kind changes its label) and its
/// features (the filter's hashes, sorted ascending).
#[derive(Debug, Clone)]
pub struct Learn {
    pub digest: String,
    pub spam: bool,
    pub features: Vec<u32>,
}

/// Sorted features as bytes: each the difference from the one before, in
/// LEB128 (two bytes for most: about a quarter of the plain size).
pub fn pack_features(features: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(features.len() * 2);
    let mut prev = 0u32;
    for &f in features {
        let mut d = f.wrapping_sub(prev);
        prev = f;
        loop {
            let low = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                out.push(low);
                break;
            }
            out.push(low | 0x80);
        }
    }
    out
}

/// The features of [`pack_features`]; a damaged tail is dropped.
pub fn unpack_features(bytes: &[u8]) -> Vec<u32> {
    let mut out = Vec::with_capacity(bytes.len() / 2);
    let (mut prev, mut d, mut shift) = (0u32, 0u32, 0u32);
    for &b in bytes {
        if shift > 28 {
            break;
        }
        d |= ((b & 0x7f) as u32) << shift;
        if b & 0x80 != 0 {
            shift += 7;
            continue;
        }
        prev = prev.wrapping_add(d);
        out.push(prev);
        (d, shift) = (0, 0);
    }
    out
}

/// What a round of learning did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LearnReport {
    pub learnt: u64,
    /// Learnt before as the other kind: moved.
    pub relearnt: u64,
    /// Learnt before as the same kind: nothing to do.
    pub unchanged: u64,
    /// Older examples forgotten to stay within `[spam] max_examples`.
    pub forgotten: u32,
}

impl LearnReport {
    /// Counts learning a message that was `was` (None: never learnt) as
    /// `spam`, and returns how the scope's (spam, ham) totals move, or None
    /// when it was learnt as that kind already.
    pub fn count(&mut self, was: Option<bool>, spam: bool) -> Option<(i64, i64)> {
        let moved = match (was, spam) {
            (Some(w), now) if w == now => {
                self.unchanged += 1;
                return None;
            }
            (Some(_), true) => (1, -1),
            (Some(_), false) => (-1, 1),
            (None, true) => (1, 0),
            (None, false) => (0, 1),
        };
        if was.is_some() {
            self.relearnt += 1;
        } else {
            self.learnt += 1;
        }
        Some(moved)
    }
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

/// How greylisting decides ([`FilterData::greylist`]), in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GreyPolicy {
    /// How long a new triple waits before its retry is let through.
    pub delay: i64,
    /// How long a triple that passed, and a client's passes, are
    /// remembered after they were last seen.
    pub lifetime: i64,
    /// How long after the delay the retry may come: a triple that waits
    /// longer starts again (postgrey's retry window), so that software
    /// retrying days later, or a one-off guess, does not pass.
    pub retry_window: i64,
    /// A client (an IPv4 address, an IPv6 /64) whose triples passed this
    /// many times, counted at most once an hour ([`CLIENT_COUNT_EVERY`]),
    /// is let through without waiting (postgrey's auto-whitelisting of
    /// clients): a real mail server's next new correspondent is not
    /// delayed, while a spam run cannot earn it in one burst. 0: never.
    pub auto_allow: u32,
}

impl GreyPolicy {
    /// When a waiting triple's retry comes too late, in seconds after it
    /// was first seen (saturating: any configured values are safe).
    pub fn too_late(&self) -> i64 {
        self.delay.saturating_add(self.retry_window)
    }

    /// How often, at most, an auto-allowed client's use moves its last
    /// pass: once a day (not a write per message), more often when the
    /// lifetime is shorter, so that a client that keeps sending stays
    /// allowed.
    pub fn refresh_every(&self) -> i64 {
        (self.lifetime / 2).clamp(1, 86_400)
    }
}

/// A client's passes count at most once in this many seconds (postgrey's
/// hour): five triples retried in one burst are one pass.
pub const CLIENT_COUNT_EVERY: i64 = 3_600;

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

    async fn spam_examples(&self, scope: i64) -> Result<SpamExamples>;
    /// [`FilterData::spam_examples`] without the examples: the totals,
    /// generation and fingerprint, from a read of the stored bytes that
    /// unpacks nothing.
    async fn spam_examples_summary(&self, scope: i64) -> Result<SpamExamples>;
    /// The generation of each scope (0 when it never learnt).
    async fn spam_generations(&self, scopes: &[i64]) -> Result<Vec<i64>>;
    async fn spam_learn(&self, scope: i64, messages: Vec<Learn>) -> Result<LearnReport>;
    /// Forgets the scope's oldest examples (by when they were last learnt)
    /// past `keep` of each kind, so that a store trained for years stays
    /// bounded; how many (spam, ham) were forgotten. The totals and the
    /// generation move when any were.
    async fn spam_trim(&self, scope: i64, keep: u32) -> Result<(u32, u32)>;
    /// Messages waiting to be learnt, oldest first.
    async fn spam_learn_jobs(&self, limit: usize) -> Result<Vec<LearnJob>>;
    async fn spam_learn_done(&self, ids: &[i64]) -> Result<()>;
    /// Greylisting `triple` from `client`: None lets it through (it came
    /// back after `delay` and within the retry window, or passed within
    /// `lifetime`, or the client has `auto_allow` passes, the last within
    /// `lifetime`); Some(n) asks the client to come back in n seconds. A
    /// triple passing for the first time is a pass for its client (at most
    /// one an hour).
    async fn greylist(&self, client: &str, triple: &str, now: i64, policy: GreyPolicy) -> Result<Option<i64>>;
    /// Notes that `account` sent mail to `addresses` (lowercase) at `now`;
    /// the account's addresses last written to before `forget_before`, and
    /// past `keep` those written to longest ago, are forgotten.
    async fn note_correspondents(
        &self,
        account: AccountId,
        addresses: &[String],
        now: i64,
        keep: u32,
        forget_before: i64,
    ) -> Result<()>;
    /// When `account` last sent mail to `address` (lowercase), if it did.
    async fn correspondent(&self, account: AccountId, address: &str) -> Result<Option<i64>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_pack_and_unpack() {
        let f = vec![0, 1, 127, 128, 300, 70_000, 4_194_303, u32::MAX];
        let packed = pack_features(&f);
        assert!(packed.len() < f.len() * 4);
        assert_eq!(unpack_features(&packed), f);
        assert_eq!(unpack_features(&[]), Vec::<u32>::new());
        // A damaged tail (a varint that never ends) is dropped, no panic.
        assert_eq!(unpack_features(&[5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), vec![5]);
    }
}
