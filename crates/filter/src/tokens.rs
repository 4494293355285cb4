//! The features the learning classifier counts, as 64-bit hashes: words of
//! the subject and body, character pairs of CJK text (written without
//! spaces), link hosts, chosen header fields, and the message's shape.
//! Hashes are FNV-1a, fixed forever: they are what the store keeps.

use std::collections::HashSet;

use crate::content::Content;
use crate::normalize::is_cjk;

/// Words longer than this are counted by their first letter and length.
const MAX_WORD: usize = 24;
/// Tokens per message (a huge message adds no more evidence).
const MAX_TOKENS: usize = 4000;

/// A hasher for keys that are already hashes (SipHash over them cost a
/// tenth of the classifier's time): a 64-bit token is its own hash; a
/// 22-bit feature is multiplied out over the whole word, which the map's
/// probing needs (its top bits would all be 0).
#[derive(Default, Clone, Copy)]
pub struct PreHashed(u64);

impl std::hash::Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) ^ (*b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A map or set keyed by token hashes or features.
pub type TokenHasher = std::hash::BuildHasherDefault<PreHashed>;

pub fn hash(token: &str) -> u64 {
    hash_bytes(token.as_bytes())
}

/// 64-bit FNV-1a.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Collects distinct tokens.
struct Tokens {
    seen: HashSet<u64, TokenHasher>,
    /// The previous word of the text being read, for word pairs.
    prev: String,
}

impl Tokens {
    fn add(&mut self, token: &str) {
        if self.seen.len() < MAX_TOKENS {
            self.seen.insert(hash(token));
        }
    }
}

/// The distinct tokens of a message, in no order (`features` sorts what
/// it makes of them).
pub fn tokens(c: &Content) -> Vec<u64> {
    let mut t = Tokens { seen: HashSet::with_capacity_and_hasher(512, TokenHasher::default()), prev: String::new() };
    words(&mut t, "s:", &c.subject);
    for (name, value) in &c.headers {
        header(&mut t, name, value);
    }
    if !c.from_address.is_empty() {
        t.add(&format!("from:{}", c.from_address));
        if let Some((_, d)) = c.from_address.rsplit_once('@') {
            t.add(&format!("from@{d}"));
        }
    }
    words(&mut t, "fn:", &c.from_name);
    for host in &c.link_hosts {
        t.add(&format!("url:{host}"));
        // The registered part (last two labels) groups a sender's hosts.
        let labels: Vec<&str> = host.rsplitn(3, '.').collect();
        if labels.len() >= 2 {
            t.add(&format!("url@{}.{}", labels[1], labels[0]));
        }
    }
    for a in &c.attachments {
        let ext = a.rsplit_once('.').map_or("none", |(_, e)| e);
        t.add(&format!("att:{ext}"));
        words(&mut t, "an:", a);
    }
    shape(&mut t, c);
    for m in &c.markup {
        t.add(&format!("html:{m}"));
    }
    for p in &c.parts {
        t.add(&format!("part:{p}"));
    }
    for r in &c.relays {
        relay(&mut t, r);
    }
    words(&mut t, "", &c.body);
    words(&mut t, "", &c.again);
    t.seen.into_iter().collect()
}

/// Words (runs of letters, digits and a few joiners), pairs of adjacent
/// words (a phrase says more than its words), and CJK character pairs.
fn words(t: &mut Tokens, prefix: &str, text: &str) {
    let mut buf = String::new();
    t.prev.clear();
    for piece in text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '$' | '\'' | '-' | '.' | '!' | '%'))) {
        let piece = piece.trim_matches(|c: char| matches!(c, '.' | '-' | '\'' | '!'));
        if piece.is_empty() {
            continue;
        }
        // Split a mixed piece into its CJK and non-CJK runs (slices: no
        // copy for the common piece of one kind).
        let mut start = 0;
        let mut run_cjk = None;
        for (i, ch) in piece.char_indices() {
            let cjk = is_cjk(ch);
            if run_cjk.is_some_and(|r| r != cjk) {
                emit(t, prefix, &piece[start..i], !cjk, &mut buf);
                start = i;
            }
            run_cjk = Some(cjk);
        }
        emit(t, prefix, &piece[start..], run_cjk.unwrap_or(false), &mut buf);
        if t.seen.len() >= MAX_TOKENS {
            return;
        }
    }
}

fn emit(t: &mut Tokens, prefix: &str, run: &str, cjk: bool, buf: &mut String) {
    buf.clear();
    buf.push_str(prefix);
    if cjk {
        let chars: Vec<char> = run.chars().collect();
        if chars.len() == 1 {
            buf.push(chars[0]);
            t.add(buf);
        }
        for pair in chars.windows(2) {
            buf.truncate(prefix.len());
            buf.push(pair[0]);
            buf.push(pair[1]);
            t.add(buf);
        }
        return;
    }
    let n = run.chars().count();
    if n < 2 {
        return;
    }
    if n > MAX_WORD {
        // SpamBayes' "skip" tokens: long strings (encoded junk, hashes)
        // say something by their first letter and length.
        let first = run.chars().next().unwrap_or('?');
        buf.push_str(&format!("skip:{first}:{}", n / 10 * 10));
        t.add(buf);
        return;
    }
    buf.push_str(run);
    t.add(buf);
    if !t.prev.is_empty() {
        buf.truncate(prefix.len());
        buf.push_str(&t.prev);
        buf.push(' ');
        buf.push_str(run);
        t.add(buf);
    }
    t.prev.clear();
    t.prev.push_str(run);
    // Amounts and numbers are spelt many ways; their shape is a token too.
    if run.chars().any(|c| c.is_ascii_digit()) {
        buf.truncate(prefix.len());
        buf.push_str("num:");
        buf.extend(run.chars().map(|c| if c.is_ascii_digit() { '9' } else { c }));
        t.add(buf);
    }
}

/// A relay from `Received:`: the address's /16 and /24 networks, the host
/// name's words (dial-up and dynamic pools say "dsl", "dyn", "pool").
fn relay(t: &mut Tokens, r: &str) {
    let parts: Vec<&str> = r.split('.').collect();
    if parts.len() == 4 && parts.iter().all(|p| p.parse::<u8>().is_ok()) {
        t.add(&format!("rcv:{}.{}", parts[0], parts[1]));
        t.add(&format!("rcv:{}.{}.{}", parts[0], parts[1], parts[2]));
        return;
    }
    t.add(&format!("rcv:{r}"));
    for w in r.split(['.', '-']).filter(|w| w.len() > 1 && !w.chars().all(|c| c.is_ascii_digit())) {
        t.add(&format!("rcvw:{w}"));
    }
}

/// Header fields that say something about who sent the message and how.
fn header(t: &mut Tokens, name: &str, value: &str) {
    // The presence of each field name, once (mailers and lists differ).
    t.add(&format!("h:{name}"));
    match name {
        "to" | "cc" => {
            let n = value.matches('@').count();
            t.add(&format!("{name}:n{}", n.min(10)));
        }
        "reply-to" | "sender" | "errors-to" | "return-receipt-to" => {
            if let Some((_, d)) = value.rsplit_once('@') {
                t.add(&format!("{name}@{}", d.trim_end_matches(['>', ' '])));
            }
        }
        "x-mailer"
        | "user-agent"
        | "x-mailer-version"
        | "list-id"
        | "precedence"
        | "content-transfer-encoding"
        | "x-priority"
        | "x-msmail-priority"
        | "importance" => {
            let v: String = value.chars().take(40).collect();
            t.add(&format!("{name}:{v}"));
            words(t, "hv:", &v);
        }
        "message-id" => {
            if let Some((_, d)) = value.rsplit_once('@') {
                t.add(&format!("mid@{}", d.trim_end_matches(['>', ' '])));
            }
        }
        _ => {}
    }
}

/// How the message is built: part types, charsets, images, links.
fn shape(t: &mut Tokens, c: &Content) {
    t.add(&format!("ct:{}", c.content_type));
    if c.html_parts > 0 && c.text_parts == 0 {
        t.add("shape:html-only");
    }
    if c.text_parts > 0 && c.html_parts == 0 {
        t.add("shape:text-only");
    }
    for cs in &c.charsets {
        t.add(&format!("charset:{cs}"));
    }
    t.add(&format!("images:{}", c.images.min(5)));
    t.add(&format!("links:{}", c.link_hosts.len().min(5)));
    if c.subject.is_empty() {
        t.add("shape:no-subject");
    }
    let letters = c.subject.chars().filter(|c| c.is_alphabetic()).count();
    if letters > 0 && c.subject.chars().filter(|c| c.is_uppercase()).count() * 2 > letters {
        t.add("shape:subject-caps");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_text_gives_character_pairs() {
        let c = Content { body: "本周促销 sale".into(), ..Content::default() };
        let t = tokens(&c);
        for token in ["本周", "周促", "促销", "sale"] {
            assert!(t.contains(&hash(token)), "{token}");
        }
        assert!(!t.contains(&hash("本周促销")));
    }

    #[test]
    fn numbers_long_strings_and_hosts() {
        let c = Content {
            body: "only $19.99 today aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
            link_hosts: vec!["www.shop.example.com".into()],
            ..Content::default()
        };
        let t = tokens(&c);
        for token in ["$19.99", "num:$99.99", "skip:a:30", "url:www.shop.example.com", "url@example.com"] {
            assert!(t.contains(&hash(token)), "{token}");
        }
    }

    #[test]
    fn the_hash_never_changes() {
        // Stored counts are keyed by it: a change would forget all training.
        assert_eq!(hash("viagra"), 0x314f_c6a2_caa4_3411);
    }
}
