//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): a SEARCH or SORT with
//! `RETURN (UPDATE)` stays live. Whenever the selected mailbox changes, the
//! session compares each live result with a fresh one and says what came
//! and went: `ESEARCH (TAG ..) ADDTO (position set)` and `REMOVEFROM`.
//! Results are kept as UIDs, so expunges never confuse them.

use std::collections::HashSet;

use crate::cursor::SequenceSet;
use crate::search::SearchKey;
use crate::selected::{compress, search_among, sort_indexes, Selected};
use crate::session::Context;
use crate::sort::SortCriterion;

/// Live results one session may keep; more get `NOUPDATE` (RFC 5267 §4.3.1).
pub const MAX_CONTEXTS: usize = 16;

pub struct SearchContext {
    pub tag: String,
    pub uid: bool,
    pub keys: Vec<SearchKey>,
    /// SORT criteria; `None` for SEARCH, whose results have no order.
    pub sort: Option<Vec<SortCriterion>>,
    /// UIDs in result order.
    pub result: Vec<u32>,
}

impl SearchContext {
    fn head(&self) -> String {
        let uid = if self.uid { " UID" } else { "" };
        format!("* ESEARCH (TAG \"{}\"){uid}", self.tag)
    }
}

impl Selected {
    fn number(&self, uid: bool, message_uid: u32) -> Option<u32> {
        if uid {
            return Some(message_uid);
        }
        self.messages.binary_search_by_key(&message_uid, |m| m.uid).ok().map(|i| i as u32 + 1)
    }

    /// Messages about to leave the view: REMOVEFROM with the numbers the
    /// client still knows, before the EXPUNGE responses renumber them.
    pub(crate) fn context_expunges(&mut self, gone: &HashSet<u32>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut contexts = std::mem::take(&mut self.contexts);
        for c in contexts.iter_mut() {
            let mut removed: Vec<u32> = c.result.iter().copied().filter(|u| gone.contains(u)).collect();
            if removed.is_empty() {
                continue;
            }
            c.result.retain(|u| !gone.contains(u));
            removed = removed.into_iter().filter_map(|u| self.number(c.uid, u)).collect();
            removed.sort_unstable();
            out.extend(format!("{} REMOVEFROM (0 {})\r\n", c.head(), compress(&removed)).into_bytes());
        }
        self.contexts = contexts;
        out
    }

    /// Sequence numbers and `$` in a live result's keys, made UIDs now: the
    /// result is kept as the client asked, whatever is expunged later.
    pub(crate) fn pin_keys(&self, keys: &[SearchKey]) -> Vec<SearchKey> {
        fn pin(sel: &Selected, key: &SearchKey) -> SearchKey {
            let largest = sel.messages.len() as u32;
            match key {
                SearchKey::Seq(SequenceSet::Saved) | SearchKey::Uid(SequenceSet::Saved) => {
                    SearchKey::UidIn(sel.saved_uids().to_vec())
                }
                SearchKey::Seq(set) => SearchKey::UidIn(
                    sel.messages
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| set.contains(*i as u32 + 1, largest))
                        .map(|(_, m)| m.uid)
                        .collect(),
                ),
                SearchKey::Not(k) => SearchKey::Not(Box::new(pin(sel, k))),
                SearchKey::Or(a, b) => SearchKey::Or(Box::new(pin(sel, a)), Box::new(pin(sel, b))),
                SearchKey::And(ks) => SearchKey::And(ks.iter().map(|k| pin(sel, k)).collect()),
                other => other.clone(),
            }
        }
        keys.iter().map(|k| pin(self, k)).collect()
    }

    /// After the messages `changed` (UIDs) changed or came: each live result
    /// checks just those again and says what came and went (RFC 5267
    /// §4.3.2-§4.3.4). A SEARCH gives position 0; a SORT gives each new
    /// message's place in the sorted result.
    pub(crate) async fn refresh_contexts(&mut self, ctx: &Context, changed: &HashSet<u32>) -> Vec<u8> {
        if self.contexts.is_empty() || changed.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut contexts = std::mem::take(&mut self.contexts);
        for c in contexts.iter_mut() {
            let Ok(matching) = search_among(ctx, self, &c.keys, Some(changed)).await else { continue };
            let matching: HashSet<u32> = matching.into_iter().map(|i| self.messages[i].uid).collect();
            let current: HashSet<u32> = c.result.iter().copied().collect();
            let members: Vec<usize> = self
                .messages
                .iter()
                .enumerate()
                .filter(
                    |(_, m)| {
                        if changed.contains(&m.uid) {
                            matching.contains(&m.uid)
                        } else {
                            current.contains(&m.uid)
                        }
                    },
                )
                .map(|(i, _)| i)
                .collect();
            let fresh = match &c.sort {
                Some(criteria) => match sort_indexes(ctx, self, members, criteria).await {
                    Ok(order) => order,
                    Err(_) => continue,
                },
                None => members,
            };
            let fresh: Vec<u32> = fresh.into_iter().map(|i| self.messages[i].uid).collect();
            let old = current;
            let new: HashSet<u32> = fresh.iter().copied().collect();
            let mut removed: Vec<u32> =
                c.result.iter().filter(|u| !new.contains(u)).filter_map(|&u| self.number(c.uid, u)).collect();
            if !removed.is_empty() {
                removed.sort_unstable();
                out.extend(format!("{} REMOVEFROM (0 {})\r\n", c.head(), compress(&removed)).into_bytes());
            }
            let added: Vec<(usize, u32)> = fresh
                .iter()
                .enumerate()
                .filter(|(_, u)| !old.contains(u))
                .filter_map(|(pos, &u)| self.number(c.uid, u).map(|n| (pos + 1, n)))
                .collect();
            if !added.is_empty() {
                let data = match c.sort {
                    None => {
                        let mut numbers: Vec<u32> = added.iter().map(|a| a.1).collect();
                        numbers.sort_unstable();
                        format!("0 {}", compress(&numbers))
                    }
                    Some(_) => added.iter().map(|(pos, n)| format!("{pos} {n}")).collect::<Vec<_>>().join(" "),
                };
                out.extend(format!("{} ADDTO ({data})\r\n", c.head()).into_bytes());
            }
            c.result = fresh;
        }
        self.contexts = contexts;
        out
    }

    /// Starts a live result; false when the session already has too many.
    pub(crate) fn add_context(&mut self, context: SearchContext) -> bool {
        self.contexts.retain(|c| c.tag != context.tag);
        if self.contexts.len() >= MAX_CONTEXTS {
            return false;
        }
        self.contexts.push(context);
        true
    }

    /// CANCELUPDATE: whether every tag named a live result.
    pub(crate) fn cancel_contexts(&mut self, tags: &[String]) -> bool {
        let known = tags.iter().all(|t| self.contexts.iter().any(|c| &c.tag == t));
        self.contexts.retain(|c| !tags.contains(&c.tag));
        known
    }
}
