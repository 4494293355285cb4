//! SORT and THREAD (RFC 5256): base subjects, sort keys from the stored
//! envelope, and the ORDEREDSUBJECT and REFERENCES threading algorithms.

use std::cmp::Ordering;
use std::collections::HashMap;

use caravel_store::mime::Envelope;

use crate::cursor::{err, Cursor, PResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    pub key: SortKey,
    pub reverse: bool,
}

pub fn parse_criteria(c: &mut Cursor) -> PResult<Vec<SortCriterion>> {
    c.expect(b'(')?;
    let mut out = Vec::new();
    let mut reverse = false;
    loop {
        if c.eat(b')') {
            break;
        }
        if !out.is_empty() || reverse {
            c.sp()?;
        }
        let word = c.atom()?.to_ascii_uppercase();
        let key = match word.as_str() {
            "REVERSE" => {
                reverse = true;
                continue;
            }
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            _ => return err("unknown SORT criterion"),
        };
        out.push(SortCriterion { key, reverse });
        reverse = false;
    }
    if out.is_empty() || reverse {
        return err("SORT needs at least one criterion");
    }
    Ok(out)
}

/// RFC 5256 §2.1 base subject: without "Re:", "Fwd:", "[blob]" prefixes and
/// "(fwd)" trailers, white space collapsed, compared case-insensitively.
pub fn base_subject(subject: &str) -> String {
    let decoded = decode_words(subject);
    let mut s: String = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
    loop {
        let before = s.clone();
        // Trailers: "(fwd)" and white space.
        loop {
            let t = s.trim_end();
            if let Some(rest) =
                t.strip_suffix("(fwd)").or_else(|| t.strip_suffix("(FWD)")).or_else(|| t.strip_suffix("(Fwd)"))
            {
                s = rest.to_string();
            } else {
                s = t.to_string();
                break;
            }
        }
        // Leaders: blobs and re/fw/fwd with optional blob, then ':'.
        loop {
            let t = s.trim_start().to_string();
            let mut done = true;
            for prefix in ["re", "fwd", "fw"] {
                // ASCII-only comparison: byte offsets stay valid for any text.
                let head = t.get(..prefix.len());
                if head.is_some_and(|h| h.eq_ignore_ascii_case(prefix)) {
                    let rest_orig = &t[prefix.len()..];
                    let after_blob = strip_blob(rest_orig).unwrap_or(rest_orig);
                    if let Some(after) = after_blob.trim_start().strip_prefix(':') {
                        s = after.to_string();
                        done = false;
                        break;
                    }
                }
            }
            if done {
                if let Some(after) = strip_blob(&t) {
                    if !after.trim().is_empty() {
                        s = after.to_string();
                        continue;
                    }
                }
                s = t;
                break;
            }
        }
        // "[fwd: ... ]" wrapper.
        if let Some(inner) =
            s.strip_prefix("[fwd:").or_else(|| s.strip_prefix("[Fwd:")).or_else(|| s.strip_prefix("[FWD:"))
        {
            if let Some(inner) = inner.strip_suffix(']') {
                s = inner.to_string();
            }
        }
        if s == before {
            break;
        }
    }
    s.trim().to_lowercase()
}

fn strip_blob(s: &str) -> Option<&str> {
    let t = s.trim_start();
    let rest = t.strip_prefix('[')?;
    let end = rest.find(']')?;
    if rest[..end].contains('[') {
        return None;
    }
    Some(&rest[end + 1..])
}

/// Decodes RFC 2047 encoded words of a raw header value (for sorting).
fn decode_words(s: &str) -> String {
    if !s.contains("=?") {
        return s.to_string();
    }
    let header = format!("Subject: {s}\r\n\r\n");
    mail_parser::MessageParser::default()
        .parse(header.as_bytes())
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_else(|| s.to_string())
}

/// What sorting and threading need to know about one message.
pub struct SortItem<'a> {
    pub seq: u32,
    pub uid: u32,
    pub size: u64,
    pub internal_date: i64,
    pub envelope: &'a Envelope,
    /// Message ids named in References (in order), or in In-Reply-To.
    pub references: Vec<String>,
}

fn sent_date(e: &Envelope, internal: i64) -> i64 {
    e.date
        .as_deref()
        .and_then(|d| {
            let h = format!("Date: {d}\r\n\r\n");
            mail_parser::MessageParser::default().parse(h.as_bytes()).and_then(|m| m.date().map(|d| d.to_timestamp()))
        })
        .unwrap_or(internal)
}

fn first_mailbox(list: &[caravel_store::mime::EnvelopeAddress], display: bool) -> String {
    list.first()
        .map(|a| {
            if display {
                if let Some(n) = a.name.as_deref().filter(|n| !n.is_empty()) {
                    return decode_words(n).to_lowercase();
                }
            }
            format!("{}@{}", a.mailbox.as_deref().unwrap_or(""), a.host.as_deref().unwrap_or("")).to_lowercase()
        })
        .unwrap_or_default()
}

fn compare(a: &SortItem, b: &SortItem, c: &SortCriterion) -> Ordering {
    let o = match c.key {
        SortKey::Arrival => a.internal_date.cmp(&b.internal_date),
        SortKey::Date => sent_date(a.envelope, a.internal_date).cmp(&sent_date(b.envelope, b.internal_date)),
        SortKey::Size => a.size.cmp(&b.size),
        SortKey::Subject => base_subject(a.envelope.subject.as_deref().unwrap_or(""))
            .cmp(&base_subject(b.envelope.subject.as_deref().unwrap_or(""))),
        SortKey::From => first_mailbox(&a.envelope.from, false).cmp(&first_mailbox(&b.envelope.from, false)),
        SortKey::To => first_mailbox(&a.envelope.to, false).cmp(&first_mailbox(&b.envelope.to, false)),
        SortKey::Cc => first_mailbox(&a.envelope.cc, false).cmp(&first_mailbox(&b.envelope.cc, false)),
        SortKey::DisplayFrom => first_mailbox(&a.envelope.from, true).cmp(&first_mailbox(&b.envelope.from, true)),
        SortKey::DisplayTo => first_mailbox(&a.envelope.to, true).cmp(&first_mailbox(&b.envelope.to, true)),
    };
    if c.reverse {
        o.reverse()
    } else {
        o
    }
}

/// Sorts by the criteria; ties are broken by sequence number (RFC 5256 §3).
pub fn sort(items: &mut [SortItem], criteria: &[SortCriterion]) {
    items.sort_by(|a, b| {
        criteria.iter().map(|c| compare(a, b, c)).find(|o| *o != Ordering::Equal).unwrap_or_else(|| a.seq.cmp(&b.seq))
    });
}

/// A thread: a message (or a missing one) and its replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub number: Option<u32>,
    pub children: Vec<Thread>,
}

/// RFC 5256 thread-list syntax: `(1 2 (3)(4))`.
pub fn render(threads: &[Thread]) -> String {
    fn one(t: &Thread, out: &mut String) {
        if let Some(n) = t.number {
            out.push_str(&n.to_string());
        }
        match t.children.len() {
            0 => {}
            1 if t.number.is_some() => {
                out.push(' ');
                one(&t.children[0], out);
            }
            _ => {
                if t.number.is_some() {
                    out.push(' ');
                }
                for c in &t.children {
                    out.push('(');
                    one(c, out);
                    out.push(')');
                }
            }
        }
    }
    let mut out = String::new();
    for t in threads {
        out.push('(');
        one(t, &mut out);
        out.push(')');
    }
    out
}

fn by_date(items: &[SortItem], n: u32) -> (i64, u32) {
    items
        .iter()
        .find(|i| i.seq == n || i.uid == n)
        .map(|i| (sent_date(i.envelope, i.internal_date), i.seq))
        .unwrap_or((0, n))
}

/// ORDEREDSUBJECT: messages grouped by base subject, each group sorted by
/// date; the first is the parent of the others (RFC 5256 §4).
pub fn ordered_subject(items: &[SortItem], number: impl Fn(&SortItem) -> u32) -> Vec<Thread> {
    let mut sorted: Vec<&SortItem> = items.iter().collect();
    sorted.sort_by_key(|i| {
        (base_subject(i.envelope.subject.as_deref().unwrap_or("")), sent_date(i.envelope, i.internal_date), i.seq)
    });
    let mut threads: Vec<(String, i64, Thread)> = Vec::new();
    for i in sorted {
        let subject = base_subject(i.envelope.subject.as_deref().unwrap_or(""));
        match threads.last_mut() {
            Some((s, _, t)) if *s == subject => t.children.push(Thread { number: Some(number(i)), children: vec![] }),
            _ => threads.push((
                subject,
                sent_date(i.envelope, i.internal_date),
                Thread { number: Some(number(i)), children: vec![] },
            )),
        }
    }
    threads.sort_by_key(|(_, d, t)| (*d, t.number));
    threads.into_iter().map(|(_, _, t)| t).collect()
}

/// The deepest thread built; replies below are threads of their own.
pub const MAX_THREAD_DEPTH: usize = 256;

/// REFERENCES (RFC 5256 §4, after Jamie Zawinski's algorithm).
pub fn references(items: &[SortItem], number: impl Fn(&SortItem) -> u32) -> Vec<Thread> {
    #[derive(Default)]
    struct Node {
        item: Option<usize>,
        parent: Option<usize>,
        children: Vec<usize>,
    }
    /// The sort date of a node (its message's, or its first reply's).
    type NodeDate<'a> = dyn Fn(usize, &[Node]) -> (i64, u32) + 'a;
    let mut nodes: Vec<Node> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    fn node_for(by_id: &mut HashMap<String, usize>, id: &str, nodes: &mut Vec<Node>) -> usize {
        *by_id.entry(id.to_string()).or_insert_with(|| {
            nodes.push(Node::default());
            nodes.len() - 1
        })
    }
    fn is_ancestor(nodes: &[Node], anc: usize, mut n: usize) -> bool {
        loop {
            if n == anc {
                return true;
            }
            match nodes[n].parent {
                Some(p) => n = p,
                None => return false,
            }
        }
    }
    fn link(nodes: &mut [Node], parent: usize, child: usize) {
        if parent == child || is_ancestor(nodes, child, parent) {
            return;
        }
        if let Some(old) = nodes[child].parent {
            nodes[old].children.retain(|&c| c != child);
        }
        nodes[child].parent = Some(parent);
        nodes[parent].children.push(child);
    }
    for (idx, item) in items.iter().enumerate() {
        // A missing or duplicate Message-ID gets a unique one.
        let id = match item.envelope.message_id.as_deref() {
            Some(m) if by_id.get(m).is_none_or(|&n| nodes[n].item.is_none()) => m.to_string(),
            _ => format!("<caravel-unique-{idx}>"),
        };
        let this = node_for(&mut by_id, &id, &mut nodes);
        nodes[this].item = Some(idx);
        let refs: Vec<usize> = item.references.iter().map(|r| node_for(&mut by_id, r, &mut nodes)).collect();
        for pair in refs.windows(2) {
            if nodes[pair[1]].parent.is_none() {
                link(&mut nodes, pair[0], pair[1]);
            }
        }
        match refs.last() {
            Some(&p) => link(&mut nodes, p, this),
            None => {
                if let Some(old) = nodes[this].parent.take() {
                    nodes[old].children.retain(|&c| c != this);
                }
            }
        }
    }
    // Every walk below recurses once per level: a chain deeper than
    // MAX_THREAD_DEPTH (a hostile run of replies) is cut into threads.
    let mut stack: Vec<(usize, usize)> =
        (0..nodes.len()).filter(|&n| nodes[n].parent.is_none()).map(|n| (n, 0)).collect();
    while let Some((n, depth)) = stack.pop() {
        if depth + 1 >= MAX_THREAD_DEPTH {
            for c in std::mem::take(&mut nodes[n].children) {
                nodes[c].parent = None;
                stack.push((c, 0));
            }
        }
        stack.extend(nodes[n].children.iter().map(|&c| (c, depth + 1)));
    }
    let date = |n: usize, nodes: &[Node]| -> (i64, u32) {
        // A node's date is its message's, or its first child's.
        fn first(nodes: &[Node], items: &[SortItem], n: usize) -> Option<(i64, u32)> {
            if let Some(i) = nodes[n].item {
                return Some((sent_date(items[i].envelope, items[i].internal_date), items[i].seq));
            }
            nodes[n].children.iter().filter_map(|&c| first(nodes, items, c)).min()
        }
        first(nodes, items, n).unwrap_or((i64::MAX, u32::MAX))
    };
    fn build(
        nodes: &[Node],
        n: usize,
        items: &[SortItem],
        number: &dyn Fn(&SortItem) -> u32,
        date: &NodeDate,
    ) -> Vec<Thread> {
        let mut kids: Vec<usize> = nodes[n].children.clone();
        kids.sort_by_key(|&c| date(c, nodes));
        let children: Vec<Thread> = kids.iter().flat_map(|&c| build(nodes, c, items, number, date)).collect();
        match nodes[n].item {
            Some(i) => vec![Thread { number: Some(number(&items[i])), children }],
            // A missing message with one reply is replaced by that reply; with
            // several it stays as an empty parent (RFC 5256 §4 step 4).
            None if children.len() <= 1 => children,
            None => vec![Thread { number: None, children }],
        }
    }
    let mut roots: Vec<usize> = (0..nodes.len()).filter(|&n| nodes[n].parent.is_none()).collect();
    roots.sort_by_key(|&r| date(r, &nodes));
    let mut threads: Vec<Thread> = Vec::new();
    let mut subject_of_thread: HashMap<String, usize> = HashMap::new();
    for r in roots {
        for t in build(&nodes, r, items, &number, &date) {
            // Step 5: threads whose roots share a base subject are merged.
            let root_item = first_item(&t).and_then(|n| items.iter().find(|i| number(i) == n));
            let subject =
                root_item.map(|i| base_subject(i.envelope.subject.as_deref().unwrap_or(""))).unwrap_or_default();
            if !subject.is_empty() {
                if let Some(&pos) = subject_of_thread.get(&subject) {
                    let existing = &mut threads[pos];
                    if existing.number.is_none() {
                        existing.children.push(t);
                    } else {
                        let old = std::mem::replace(existing, Thread { number: None, children: vec![] });
                        existing.children = vec![old, t];
                    }
                    continue;
                }
                subject_of_thread.insert(subject, threads.len());
            }
            threads.push(t);
        }
    }
    let _ = by_date;
    threads
}

fn first_item(t: &Thread) -> Option<u32> {
    t.number.or_else(|| t.children.iter().find_map(first_item))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects() {
        for (raw, base) in [
            ("Re: Quote", "quote"),
            ("RE: [sales] Fwd: Re: Quote (fwd)", "quote"),
            ("[Fwd: Quote]", "quote"),
            ("  Quote   for   March ", "quote for march"),
            ("Re[2]: Quote", "quote"),
            ("[only a blob]", "[only a blob]"),
            ("=?UTF-8?B?UmU6IOaKpeS7tw==?=", "报价"),
            ("Re: İİİ", "i̇i̇i̇"),
            ("ReKx", "rekx"),
        ] {
            assert_eq!(base_subject(raw), base, "{raw}");
        }
    }

    /// 5,000 messages, each replying to the one before: the chain is cut
    /// every MAX_THREAD_DEPTH levels instead of recursing 5,000 deep.
    #[test]
    fn a_hostile_reply_chain_is_cut_not_recursed() {
        const STACK: usize = 1 << 20;
        let n = 5000usize;
        let result = std::thread::Builder::new()
            .stack_size(STACK)
            .spawn(move || {
                let envelopes: Vec<Envelope> =
                    (0..n).map(|i| Envelope { message_id: Some(format!("<m{i}@x>")), ..Default::default() }).collect();
                let items: Vec<SortItem> = envelopes
                    .iter()
                    .enumerate()
                    .map(|(i, e)| SortItem {
                        seq: i as u32 + 1,
                        uid: i as u32 + 1,
                        size: 0,
                        internal_date: i as i64,
                        envelope: e,
                        references: if i == 0 { vec![] } else { vec![format!("<m{}@x>", i - 1)] },
                    })
                    .collect();
                let threads = references(&items, |i| i.seq);
                (threads.len(), render(&threads).len())
            })
            .expect("thread")
            .join()
            .expect("no stack overflow");
        assert_eq!(result.0, n.div_ceil(MAX_THREAD_DEPTH));
        assert!(result.1 > 4 * n, "every message is listed");
    }

    #[test]
    fn rendering() {
        let leaf = |n| Thread { number: Some(n), children: vec![] };
        let t = vec![
            Thread { number: Some(1), children: vec![leaf(2)] },
            Thread { number: Some(3), children: vec![leaf(4), leaf(5)] },
            Thread { number: None, children: vec![leaf(6), leaf(7)] },
        ];
        assert_eq!(render(&t), "(1 2)(3 (4)(5))((6)(7))");
    }
}
