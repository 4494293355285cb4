//! Decoded header text of whole mailboxes in memory, for IMAP SEARCH SUBJECT,
//! FROM, TO, CC, BCC and HEADER on those fields.
//!
//! Why: a header search must not read every message, nor even every row of a
//! large mailbox from SQLite (about 1 µs a row). Like Dovecot's cache file, each
//! searched mailbox keeps its lowercased header text per field, one contiguous
//! buffer per field, so a search is one SIMD substring pass (`memchr::memmem`)
//! over it. The backend brings an entry up to date before each search from the
//! mailbox's counters (UIDVALIDITY, UIDNEXT, message count) read in the same
//! snapshot: new messages are appended, expunged ones dropped. Entries are kept
//! within a byte budget, least recently used first out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::model::MailboxId;

/// The header fields kept, in column order.
pub const FIELDS: [&str; 5] = ["subject", "from", "to", "cc", "bcc"];

/// Default memory budget for all mailboxes together.
pub const DEFAULT_BUDGET: usize = 32 << 20;

/// One message's lowercased text for each of [`FIELDS`].
pub struct HeaderRow {
    pub uid: u32,
    pub fields: [String; 5],
}

/// The header text of one mailbox, up to (not including) `uidnext`.
pub struct MailboxHeaders {
    pub uidvalidity: u32,
    pub uidnext: u32,
    uids: Vec<u32>,
    columns: [Column; 5],
}

/// Entries joined by a NUL byte; `ends[i]` is where entry `i` ends. A needle
/// never contains NUL, so no match spans two entries.
#[derive(Default, Clone)]
struct Column {
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl Column {
    fn push(&mut self, s: &str) {
        self.text.extend_from_slice(s.as_bytes());
        self.ends.push(self.text.len());
        self.text.push(0);
    }

    fn entry(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        &self.text[start..self.ends[i]]
    }
}

impl MailboxHeaders {
    pub fn new(uidvalidity: u32) -> MailboxHeaders {
        MailboxHeaders { uidvalidity, uidnext: 1, uids: Vec::new(), columns: Default::default() }
    }

    pub fn len(&self) -> usize {
        self.uids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.uids.is_empty()
    }

    /// Approximate memory held.
    pub fn bytes(&self) -> usize {
        self.uids.capacity() * 4 + self.columns.iter().map(|c| c.text.capacity() + c.ends.capacity() * 8).sum::<usize>()
    }

    /// Adds messages newer than every one held, in UID order.
    pub fn append(&mut self, rows: impl IntoIterator<Item = HeaderRow>) {
        for row in rows {
            debug_assert!(self.uids.last().is_none_or(|&u| u < row.uid));
            self.uids.push(row.uid);
            for (column, text) in self.columns.iter_mut().zip(&row.fields) {
                column.push(text);
            }
        }
    }

    /// Keeps only the messages whose UID is in `present` (sorted ascending).
    pub fn retain(&mut self, present: &[u32]) {
        let keep: Vec<usize> = (0..self.uids.len()).filter(|&i| present.binary_search(&self.uids[i]).is_ok()).collect();
        let mut columns: [Column; 5] = Default::default();
        for (new, old) in columns.iter_mut().zip(&self.columns) {
            for &i in &keep {
                new.text.extend_from_slice(old.entry(i));
                new.ends.push(new.text.len());
                new.text.push(0);
            }
        }
        self.uids = keep.iter().map(|&i| self.uids[i]).collect();
        self.columns = columns;
    }

    /// UIDs (ascending) whose `field` contains `needle` (already lowercased).
    /// An empty needle matches every message where the field is not empty.
    /// None: a field this cache does not keep, or a needle it cannot answer.
    pub fn search(&self, field: &str, needle: &str) -> Option<Vec<u32>> {
        let index = FIELDS.iter().position(|f| *f == field)?;
        if needle.contains('\0') || needle.contains(crate::mime::FIELD_PRESENT) {
            return None;
        }
        let column = &self.columns[index];
        if needle.is_empty() {
            return Some((0..self.uids.len()).filter(|&i| !column.entry(i).is_empty()).map(|i| self.uids[i]).collect());
        }
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        let mut hits = Vec::new();
        let mut from = 0;
        while let Some(found) = finder.find(&column.text[from..]) {
            let at = from + found;
            // The entry holding `at` is the first whose end is past it.
            let i = column.ends.partition_point(|&end| end <= at);
            hits.push(self.uids[i]);
            from = column.ends[i] + 1;
            if from >= column.text.len() {
                break;
            }
        }
        Some(hits)
    }
}

/// Every cached mailbox, with least-recently-used eviction over a byte budget.
pub struct HeaderCache {
    budget: usize,
    clock: AtomicU64,
    slots: Mutex<HashMap<MailboxId, Slot>>,
}

struct Slot {
    headers: Arc<Mutex<MailboxHeaders>>,
    bytes: usize,
    last_used: u64,
}

impl Default for HeaderCache {
    fn default() -> Self {
        HeaderCache::with_budget(DEFAULT_BUDGET)
    }
}

impl HeaderCache {
    pub fn with_budget(budget: usize) -> HeaderCache {
        HeaderCache { budget, clock: AtomicU64::new(0), slots: Mutex::new(HashMap::new()) }
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<MailboxId, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry of `mailbox`, created empty if absent. Lock it, bring it up to
    /// date, search, then report its size with [`HeaderCache::settle`].
    pub fn entry(&self, mailbox: MailboxId, uidvalidity: u32) -> Arc<Mutex<MailboxHeaders>> {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut slots = self.slots();
        let slot = slots.entry(mailbox).or_insert_with(|| Slot {
            headers: Arc::new(Mutex::new(MailboxHeaders::new(uidvalidity))),
            bytes: 0,
            last_used: now,
        });
        slot.last_used = now;
        slot.headers.clone()
    }

    /// Records the size of `mailbox`'s entry and evicts the least recently used
    /// others while over budget. An entry larger than the budget alone is dropped.
    pub fn settle(&self, mailbox: MailboxId, bytes: usize) {
        let mut slots = self.slots();
        if let Some(slot) = slots.get_mut(&mailbox) {
            slot.bytes = bytes;
        }
        while slots.values().map(|s| s.bytes).sum::<usize>() > self.budget {
            let Some(oldest) = slots.iter().min_by_key(|(_, s)| s.last_used).map(|(id, _)| *id) else { break };
            slots.remove(&oldest);
        }
    }

    /// Forgets a mailbox (deleted, or its entry could not be trusted).
    pub fn forget(&self, mailbox: MailboxId) {
        self.slots().remove(&mailbox);
    }

    /// Bytes held by all entries, as last settled.
    pub fn bytes(&self) -> usize {
        self.slots().values().map(|s| s.bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(uid: u32, subject: &str, from: &str) -> HeaderRow {
        HeaderRow { uid, fields: [subject.into(), from.into(), String::new(), String::new(), String::new()] }
    }

    fn sample() -> MailboxHeaders {
        let mut h = MailboxHeaders::new(7);
        h.append([
            row(1, "quotation for steel", "buyer <b@x.test>"),
            row(3, "re: quotation", "seller <s@y.test>"),
            row(4, "", "报价 <q@z.test>"),
            row(9, "steel steel steel", ""),
        ]);
        h
    }

    #[test]
    fn finds_substrings_once_per_message_in_uid_order() {
        let h = sample();
        assert_eq!(h.search("subject", "quotation"), Some(vec![1, 3]));
        assert_eq!(h.search("subject", "steel"), Some(vec![1, 9]));
        assert_eq!(h.search("from", "报价"), Some(vec![4]));
        assert_eq!(h.search("from", "@y.test>"), Some(vec![3]));
        assert_eq!(h.search("subject", "absent"), Some(vec![]));
    }

    #[test]
    fn a_match_never_spans_two_messages() {
        let h = sample();
        // "steel" ends message 1 and "re:" starts message 3.
        assert_eq!(h.search("subject", "steelre"), Some(vec![]));
        assert_eq!(h.search("subject", "l\0r"), None);
    }

    #[test]
    fn empty_needle_matches_messages_having_the_field() {
        let h = sample();
        assert_eq!(h.search("subject", ""), Some(vec![1, 3, 9]));
        assert_eq!(h.search("to", ""), Some(vec![]));
    }

    #[test]
    fn other_fields_are_not_answered() {
        assert_eq!(sample().search("x-mailer", "a"), None);
    }

    #[test]
    fn retain_drops_expunged_messages_and_keeps_text_aligned() {
        let mut h = sample();
        h.retain(&[3, 9]);
        assert_eq!(h.len(), 2);
        assert_eq!(h.search("subject", "quotation"), Some(vec![3]));
        assert_eq!(h.search("subject", "steel"), Some(vec![9]));
        assert_eq!(h.search("from", "seller"), Some(vec![3]));
        h.append([row(10, "steel again", "")]);
        assert_eq!(h.search("subject", "steel"), Some(vec![9, 10]));
    }

    #[test]
    fn least_recently_used_entries_leave_first_when_over_budget() {
        let cache = HeaderCache::with_budget(1000);
        for id in 1..=3 {
            cache.entry(id, 1);
            cache.settle(id, 400);
        }
        // 1 was used longest ago: 3 x 400 > 1000 evicted it.
        assert_eq!(cache.bytes(), 800);
        cache.entry(2, 1);
        cache.entry(4, 1);
        cache.settle(4, 400);
        // 3 is now the least recently used.
        assert_eq!(cache.bytes(), 800);
        let slots = cache.slots();
        assert!(slots.contains_key(&2) && slots.contains_key(&4) && !slots.contains_key(&3));
    }
}
