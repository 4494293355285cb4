//! LIST and LSUB (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 6154
//! SPECIAL-USE, RFC 5819 LIST-STATUS).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use caravel_auth::SignedIn;
use caravel_store::Mailbox;

use crate::command::ListOptions;
use crate::session::{special_attribute, status_items, tagged, Session};

/// `*` matches anything, `%` anything but the separator (RFC 9051 §6.3.9).
/// Dynamic programming over (pattern, name) positions: linear in their
/// product whatever the wildcards (no exponential backtracking).
pub fn pattern_matches(pattern: &[char], name: &[char]) -> bool {
    let n = name.len();
    // ok[j]: the pattern so far matches name[..j].
    let mut ok = vec![false; n + 1];
    ok[0] = true;
    for &pc in pattern {
        let mut next = vec![false; n + 1];
        match pc {
            '*' => {
                let mut any = false;
                for j in 0..=n {
                    any |= ok[j];
                    next[j] = any;
                }
            }
            '%' => {
                let mut any = false;
                for j in 0..=n {
                    if j > 0 && name[j - 1] == '/' {
                        any = false;
                    }
                    any |= ok[j];
                    next[j] = any;
                }
            }
            c => {
                for j in 1..=n {
                    next[j] = ok[j - 1] && name[j - 1] == c;
                }
            }
        }
        ok = next;
    }
    ok[n]
}

fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // INBOX is case-insensitive, wherever a pattern could name it.
    pattern_matches(&p, &n)
        || (name == "INBOX" && pattern_matches(&p.iter().map(|c| c.to_ascii_uppercase()).collect::<Vec<_>>(), &n))
}

fn full_pattern(session: &Session, reference: &str, pattern: &str) -> Option<String> {
    let joined = format!("{reference}{pattern}");
    if session.utf8 {
        Some(joined)
    } else {
        crate::utf7::decode(&joined)
    }
}

/// The names LIST and LSUB consider: every mailbox, its missing parents,
/// and every subscription (which may outlive its mailbox).
struct Names<'a> {
    existing: BTreeMap<&'a str, &'a Mailbox>,
    subscribed: BTreeSet<String>,
}

impl<'a> Names<'a> {
    fn new(all: &'a [Mailbox], subscribed: Vec<String>) -> Names<'a> {
        Names {
            existing: all.iter().map(|m| (m.name.as_str(), m)).collect(),
            subscribed: subscribed.into_iter().collect(),
        }
    }

    fn has_children(&self, name: &str) -> bool {
        let prefix = format!("{name}/");
        // Names below `name` sort right after the prefix itself.
        self.existing
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .next()
            .is_some_and(|(n, _)| n.starts_with(&prefix))
    }

    /// A subscribed name below `name` that no pattern matches itself (the
    /// `%` stopped above it): RFC 5258 §3.5 CHILDINFO, RFC 3501 §6.3.9 LSUB.
    fn hidden_subscribed_child(&self, name: &str, pats: &[String]) -> bool {
        let prefix = format!("{name}/");
        self.subscribed.iter().any(|s| s.starts_with(&prefix) && !pats.iter().any(|p| matches(p, s)))
    }

    /// Sorted candidates: `from` names plus all their ancestors.
    fn with_ancestors<'b>(names: impl Iterator<Item = &'b str>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for n in names {
            let mut end = 0;
            while let Some(i) = n[end..].find('/') {
                end += i;
                out.insert(n[..end].to_string());
                end += 1;
            }
            out.insert(n.to_string());
        }
        out
    }
}

fn children_attribute(names: &Names, name: &str) -> &'static str {
    if names.has_children(name) {
        "\\HasChildren"
    } else {
        "\\HasNoChildren"
    }
}

pub async fn list(
    session: &Session,
    user: &SignedIn,
    reference: &str,
    patterns: &[String],
    opts: &ListOptions,
    tag: &str,
) -> Vec<u8> {
    let mut out = Vec::new();
    // An empty pattern asks for the hierarchy delimiter (RFC 9051 §6.3.9).
    if patterns.len() == 1 && patterns[0].is_empty() {
        out.extend_from_slice(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
        out.extend(tagged(tag, "OK", "LIST completed"));
        return out;
    }
    let store = &session.ctx.store;
    let (all, subscribed) = match (store.mailboxes(user.account).await, store.subscriptions(user.account).await) {
        (Ok(a), Ok(s)) => (a, s),
        (Err(e), _) | (_, Err(e)) => return tagged(tag, "NO", &crate::errors::store_failure(&e)),
    };
    let names = Names::new(&all, subscribed);
    let pats: Vec<String> = patterns.iter().filter_map(|p| full_pattern(session, reference, p)).collect();
    // RFC 5258 §3 / RFC 9051 §7.3.1: \NonExistent for a name with no
    // mailbox; plain RFC 3501 LIST says \Noselect.
    let missing = if opts.extended || session.rev2 { "\\NonExistent" } else { "\\Noselect" };
    let candidates = if opts.subscribed && !opts.recursive {
        names.subscribed.clone()
    } else {
        Names::with_ancestors(names.existing.keys().copied().chain(names.subscribed.iter().map(String::as_str)))
    };
    for name in &candidates {
        if !pats.iter().any(|p| matches(p, name)) {
            continue;
        }
        let mailbox = names.existing.get(name.as_str()).copied();
        let is_subscribed = names.subscribed.contains(name);
        let childinfo = opts.subscribed && opts.recursive && names.hidden_subscribed_child(name, &pats);
        if opts.subscribed && !is_subscribed && !childinfo {
            continue;
        }
        if !opts.subscribed && mailbox.is_none() && !names.has_children(name) {
            continue; // only a subscription, or an ancestor of one
        }
        if opts.special_use && mailbox.and_then(special_attribute).is_none() {
            continue;
        }
        let mut attrs = Vec::new();
        match mailbox {
            Some(m) => {
                attrs.push(children_attribute(&names, name));
                attrs.extend(special_attribute(m));
            }
            None if names.has_children(name) => attrs.extend([missing, "\\HasChildren"]),
            None => attrs.push(missing),
        }
        if is_subscribed && (opts.subscribed || opts.return_subscribed) {
            attrs.push("\\Subscribed");
        }
        out.extend(format!("* LIST ({}) \"/\" ", attrs.join(" ")).into_bytes());
        out.extend(session.encode_name(name));
        if childinfo {
            out.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
        }
        out.extend_from_slice(b"\r\n");
        if let (Some(m), false) = (mailbox, opts.status.is_empty()) {
            out.extend_from_slice(b"* STATUS ");
            out.extend(session.encode_name(name));
            out.extend(format!(" ({})\r\n", status_items(m, &opts.status)).into_bytes());
        }
    }
    out.extend(tagged(tag, "OK", "LIST completed"));
    out
}

/// The untagged LIST that RFC 9051 §6.3.2 sends on SELECT in IMAP4rev2.
pub fn selected_line(session: &Session, all: &[Mailbox], subscribed: Vec<String>, m: &Mailbox) -> Vec<u8> {
    let names = Names::new(all, subscribed);
    let mut attrs = vec![children_attribute(&names, &m.name)];
    attrs.extend(special_attribute(m));
    if names.subscribed.contains(&m.name) {
        attrs.push("\\Subscribed");
    }
    let mut out = format!("* LIST ({}) \"/\" ", attrs.join(" ")).into_bytes();
    out.extend(session.encode_name(&m.name));
    out.extend_from_slice(b"\r\n");
    out
}

/// LSUB (RFC 3501 §6.3.9): subscribed names; a parent that `%` stopped at,
/// not subscribed itself but with subscribed children, comes as \Noselect.
pub async fn lsub(session: &Session, user: &SignedIn, reference: &str, pattern: &str, tag: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let store = &session.ctx.store;
    let (all, subscribed) = match (store.mailboxes(user.account).await, store.subscriptions(user.account).await) {
        (Ok(a), Ok(s)) => (a, s),
        (Err(e), _) | (_, Err(e)) => return tagged(tag, "NO", &crate::errors::store_failure(&e)),
    };
    let names = Names::new(&all, subscribed);
    let Some(p) = full_pattern(session, reference, pattern) else { return tagged(tag, "OK", "LSUB completed") };
    let pats = [p];
    for name in Names::with_ancestors(names.subscribed.iter().map(String::as_str)) {
        if !matches(&pats[0], &name) {
            continue;
        }
        let attrs = if names.subscribed.contains(&name) {
            ""
        } else if names.hidden_subscribed_child(&name, &pats) {
            "\\Noselect"
        } else {
            continue;
        };
        out.extend(format!("* LSUB ({attrs}) \"/\" ").into_bytes());
        out.extend(session.encode_name(&name));
        out.extend_from_slice(b"\r\n");
    }
    out.extend(tagged(tag, "OK", "LSUB completed"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", "a/b/c"));
        assert!(matches("%", "INBOX") && !matches("%", "a/b"));
        assert!(matches("a/%", "a/b") && !matches("a/%", "a/b/c"));
        assert!(matches("a/*", "a/b/c") && !matches("a/*", "a"));
        assert!(matches("inbox", "INBOX") && matches("InBox", "INBOX"));
        assert!(matches("客户/*", "客户/报价"));
        assert!(matches("a/%/c", "a/b/c") && !matches("a/%/c", "a/b/x/c"));
        let hostile = "*a".repeat(30) + "b";
        assert!(!matches(&hostile, &"a".repeat(60)), "no exponential backtracking");
    }
}
