//! LIST and LSUB (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 6154
//! SPECIAL-USE, RFC 5819 LIST-STATUS).

use caravel_auth::SignedIn;
use caravel_store::Mailbox;

use crate::command::StatusItem;
use crate::session::{mailbox_name, special_attribute, status_items, tagged, Session};

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

fn attributes(m: &Mailbox, all: &[Mailbox], subscribed_flag: bool, special_use: bool) -> String {
    let prefix = format!("{}/", m.name);
    let children = all.iter().any(|o| o.name.starts_with(&prefix));
    let mut attrs = vec![if children { "\\HasChildren" } else { "\\HasNoChildren" }];
    if subscribed_flag && m.subscribed {
        attrs.push("\\Subscribed");
    }
    if let Some(a) = special_attribute(m) {
        let _ = special_use;
        attrs.push(a);
    }
    attrs.join(" ")
}

#[allow(clippy::too_many_arguments)]
pub async fn list(
    session: &Session,
    user: &SignedIn,
    reference: &str,
    patterns: &[String],
    subscribed: bool,
    special_use: bool,
    status: &[StatusItem],
    tag: &str,
) -> Vec<u8> {
    let mut out = Vec::new();
    // An empty pattern asks for the hierarchy delimiter (RFC 9051 §6.3.9).
    if patterns.len() == 1 && patterns[0].is_empty() {
        out.extend_from_slice(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
        out.extend(tagged(tag, "OK", "LIST completed"));
        return out;
    }
    let all = match session.ctx.store.mailboxes(user.account).await {
        Ok(a) => a,
        Err(e) => return tagged(tag, "NO", &format!("[UNAVAILABLE] {e}")),
    };
    let pats: Vec<String> = patterns.iter().filter_map(|p| full_pattern(session, reference, p)).collect();
    for m in &all {
        if !pats.iter().any(|p| matches(p, &m.name)) {
            continue;
        }
        if subscribed && !m.subscribed {
            continue;
        }
        if special_use && special_attribute(m).is_none() {
            continue;
        }
        out.extend(format!("* LIST ({}) \"/\" ", attributes(m, &all, subscribed, special_use)).into_bytes());
        out.extend(session.encode_name(&m.name));
        out.extend_from_slice(b"\r\n");
        if !status.is_empty() {
            out.extend_from_slice(b"* STATUS ");
            out.extend(session.encode_name(&m.name));
            out.extend(format!(" ({})\r\n", status_items(m, status)).into_bytes());
        }
    }
    out.extend(tagged(tag, "OK", "LIST completed"));
    out
}

pub async fn lsub(session: &Session, user: &SignedIn, reference: &str, pattern: &str, tag: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let all = match session.ctx.store.mailboxes(user.account).await {
        Ok(a) => a,
        Err(e) => return tagged(tag, "NO", &format!("[UNAVAILABLE] {e}")),
    };
    let Some(p) = full_pattern(session, reference, pattern) else { return tagged(tag, "OK", "LSUB completed") };
    for m in all.iter().filter(|m| m.subscribed && matches(&p, &m.name)) {
        out.extend_from_slice(b"* LSUB () \"/\" ");
        out.extend(session.encode_name(&m.name));
        out.extend_from_slice(b"\r\n");
    }
    let _ = mailbox_name;
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
