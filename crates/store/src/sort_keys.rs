//! What SORT and THREAD compare of a message (RFC 5256, RFC 5957), computed
//! once when it is stored so that a SORT at 100,000 messages is one ordered
//! walk over compact keys, not a parse of every envelope: base subjects
//! (§2.1), sent dates (§2.2), the first address of From, To and Cc, display
//! names, and the message ids THREAD=REFERENCES links (§3).
//!
//! Strings are kept in their i;unicode-casemap form (RFC 5051 §2), so that
//! comparing them octet by octet (SQLite's BINARY collation, `String`'s
//! `Ord`) is comparing them as RFC 5256 §7 requires.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::mime::{Envelope, EnvelopeAddress};

/// A SORT criterion's key (RFC 5256 §3, RFC 5957 §3).
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

impl SortKey {
    /// The key a SORT criterion names, in any case.
    pub fn from_name(name: &str) -> Option<SortKey> {
        Some(match name.to_ascii_uppercase().as_str() {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            _ => return None,
        })
    }
}

/// One criterion: REVERSE turns only its own key around (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    pub key: SortKey,
    pub reverse: bool,
}

/// References kept per message for THREAD=REFERENCES: the nearest
/// ancestors are the last ones (RFC 5322 §3.6.4), and a hostile list of
/// thousands would cost quadratic time to link.
pub const MAX_REFERENCES: usize = 100;

/// A message's keys, from its envelope and header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortKeys {
    /// The sent date (§2.2) in UTC seconds; None when the Date header is
    /// missing or unparsable, for the INTERNALDATE to stand in.
    pub date: Option<i64>,
    /// The base subject (§2.1), case-mapped.
    pub subject: String,
    /// The subject marked a reply or forward (§3, REFERENCES step 5).
    pub reply: bool,
    /// FROM, TO, CC: the addr-mailbox of the first address (§3).
    pub from: String,
    pub to: String,
    pub cc: String,
    /// DISPLAYFROM, DISPLAYTO (RFC 5957 §3).
    pub display_from: String,
    pub display_to: String,
    /// The first valid Message-ID, normalized ([`message_ids`]).
    pub message_id: Option<String>,
    /// References' valid ids (the last [`MAX_REFERENCES`]), or else the first
    /// valid id of In-Reply-To.
    pub references: Vec<String>,
}

impl SortKeys {
    /// The keys of a message with this envelope; `raw` is the message (only
    /// its header is read, for References).
    pub fn of(envelope: &Envelope, raw: &[u8]) -> SortKeys {
        let (base, reply) = extract_base_subject(envelope.subject.as_deref().unwrap_or(""));
        SortKeys {
            date: envelope.date.as_deref().and_then(parse_date),
            subject: casemap(&base),
            reply,
            from: mailbox_key(&envelope.from),
            to: mailbox_key(&envelope.to),
            cc: mailbox_key(&envelope.cc),
            display_from: display_key(&envelope.from),
            display_to: display_key(&envelope.to),
            message_id: envelope.message_id.as_deref().and_then(first_message_id),
            references: references_of(raw),
        }
    }

    /// What THREAD reads of these keys; `internal_date` stands in for a
    /// missing sent date.
    pub fn into_thread_keys(self, internal_date: i64) -> ThreadKeys {
        ThreadKeys {
            date: self.date.unwrap_or(internal_date),
            subject: self.subject,
            reply: self.reply,
            message_id: self.message_id,
            references: self.references,
        }
    }
}

/// What THREAD needs of one message, as the store gives it back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadKeys {
    /// The sent date, or the INTERNALDATE (§2.2).
    pub date: i64,
    pub subject: String,
    pub reply: bool,
    pub message_id: Option<String>,
    pub references: Vec<String>,
}

fn parse_date(value: &str) -> Option<i64> {
    let header = format!("Date: {value}\r\n\r\n");
    let message = mail_parser::MessageParser::default().parse(header.as_bytes())?;
    let date = message.date()?;
    date.is_valid().then(|| date.to_timestamp())
}

/// FROM, TO, CC: the addr-mailbox of the first address (RFC 5256 §3); a
/// missing one is the empty string, which sorts first.
fn mailbox_key(list: &[EnvelopeAddress]) -> String {
    list.first().and_then(|a| a.mailbox.as_deref()).map(casemap).unwrap_or_default()
}

/// DISPLAYFROM, DISPLAYTO (RFC 5957 §3): the display name of the first
/// address, or its addr-spec when it has none.
fn display_key(list: &[EnvelopeAddress]) -> String {
    let Some(a) = list.first() else {
        return String::new();
    };
    match (a.name.as_deref().filter(|n| !n.is_empty()), a.mailbox.as_deref(), a.host.as_deref()) {
        (Some(name), _, _) => casemap(name),
        (None, Some(mailbox), Some(host)) => casemap(&format!("{mailbox}@{host}")),
        (None, Some(mailbox), None) => casemap(mailbox),
        (None, None, _) => String::new(),
    }
}

/// The message ids a message refers to (RFC 5256 §3): only valid ids count,
/// and a References field without one falls back to the first valid id of
/// In-Reply-To.
pub fn references_of(raw: &[u8]) -> Vec<String> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..end]).replace("\r\n ", " ").replace("\r\n\t", " ");
    let field = |name: &str| {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.to_string())
        })
    };
    let mut refs = field("references").map(|v| message_ids(&v)).unwrap_or_default();
    if !refs.is_empty() {
        refs.drain(..refs.len().saturating_sub(MAX_REFERENCES));
        return refs;
    }
    field("in-reply-to").map(|v| message_ids(&v).into_iter().take(1).collect()).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Base subject, RFC 5256 §2.1.

/// The base subject of a Subject header value (RFC 5256 §2.1), not yet
/// case-mapped: compare base subjects through [`casemap`].
pub fn base_subject(subject: &str) -> String {
    extract_base_subject(subject).0
}

/// RFC 5256 §2.1, step by step, and whether the message "is a reply or
/// forward" (§3, REFERENCES): the extraction removed a subj-refwd, a "(fwd)"
/// subj-trailer, or a subj-fwd-hdr and subj-fwd-trl. Removing a subj-blob or
/// white space alone does not make a reply.
pub fn extract_base_subject(subject: &str) -> (String, bool) {
    // (1) Encoded words decoded to UTF-8; tabs, continuations and runs of
    // white space become a single space.
    let collapsed = collapse_white_space(&decode_words(subject));
    let mut s = collapsed.as_str();
    let mut reply = false;
    loop {
        // (2) subj-trailer = "(fwd)" / WSP, removed until none is left.
        loop {
            if let Some(rest) = s.strip_suffix(is_wsp) {
                s = rest;
            } else if s.len() >= 5 && s.as_bytes()[s.len() - 5..].eq_ignore_ascii_case(b"(fwd)") {
                s = &s[..s.len() - 5];
                reply = true;
            } else {
                break;
            }
        }
        // (3) subj-leader, (4) a subj-blob that leaves a non-empty subj-base,
        // (5) repeated until neither matches.
        loop {
            let before = s.len();
            while let Some((rest, refwd)) = strip_leader(s) {
                s = rest;
                reply |= refwd;
            }
            if let Some(rest) = strip_blob(s).filter(|rest| !rest.is_empty()) {
                s = rest;
            }
            if s.len() == before {
                break;
            }
        }
        // (6) subj-fwd-hdr "[fwd:" ... subj-fwd-trl "]": removed, then back
        // to step (2).
        if s.len() >= 6 && s.as_bytes()[..5].eq_ignore_ascii_case(b"[fwd:") && s.ends_with(']') {
            s = &s[5..s.len() - 1];
            reply = true;
        } else {
            break;
        }
    }
    // (7) What is left is the base subject.
    (s.to_string(), reply)
}

/// WSP (RFC 5234): after step (1) only spaces remain, tabs are kept for
/// completeness.
fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn collapse_white_space(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_space = false;
    for c in s.chars() {
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

/// `subj-leader = (*subj-blob subj-refwd) / WSP`: the text after one leader,
/// and whether that leader held a subj-refwd.
fn strip_leader(s: &str) -> Option<(&str, bool)> {
    if let Some(rest) = s.strip_prefix(is_wsp) {
        return Some((rest, false));
    }
    let mut t = s;
    while let Some(rest) = strip_blob(t) {
        t = rest;
    }
    strip_refwd(t).map(|rest| (rest, true))
}

/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`, in any case.
fn strip_refwd(s: &str) -> Option<&str> {
    for word in [&b"re"[..], b"fwd", b"fw"] {
        if s.as_bytes().get(..word.len()).is_some_and(|head| head.eq_ignore_ascii_case(word)) {
            // The word is ASCII: the byte offset is a character boundary.
            let t = s[word.len()..].trim_start_matches(is_wsp);
            // A '[' that does not open a blob cannot be followed by ':'.
            let t = strip_blob(t).unwrap_or(t);
            if let Some(rest) = t.strip_prefix(':') {
                return Some(rest);
            }
        }
    }
    None
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`, BLOBCHAR being any character but
/// NUL, '[' and ']' (`%x01-5a / %x5c / %x5e-ff`).
fn strip_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find(['[', ']', '\0'])?;
    (rest.as_bytes()[end] == b']').then(|| rest[end + 1..].trim_start_matches(is_wsp))
}

/// Decodes the RFC 2047 encoded words of a raw header value.
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

// ---------------------------------------------------------------------------
// The i;unicode-casemap collation, RFC 5051 §2.

/// The i;unicode-casemap form of a string (RFC 5051 §2): every character is
/// replaced by its simple titlecase mapping, then by its full decomposition
/// (canonical and compatibility, formatting tags dropped). Two strings
/// compare as these forms compare octet by octet (`String`'s `Ord`).
///
/// Without the Unicode data tables at hand, the titlecase mapping is the
/// standard library's uppercase mapping where that is a single character,
/// corrected where the two differ (digraphs, Georgian, Greek with
/// ypogegrammeni); decompositions cover Latin, Greek, Cyrillic, general
/// punctuation, letterlike symbols, number forms, Latin ligatures, full-width
/// ASCII and Hangul syllables. Elsewhere a character stands for itself.
pub fn casemap(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        decompose(titlecase(c), &mut out);
    }
    out
}

/// The simple titlecase mapping (UnicodeData.txt field 14).
fn titlecase(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    let cp = c as u32;
    let mapped = match cp {
        // DŽ Dž dž, LJ Lj lj, NJ Nj nj, DZ Dz dz: the titlecase is the middle one.
        0x1C4..=0x1C6 => 0x1C5,
        0x1C7..=0x1C9 => 0x1C8,
        0x1CA..=0x1CC => 0x1CB,
        0x1F1..=0x1F3 => 0x1F2,
        // Georgian Mkhedruli has an uppercase (Mtavruli) but no titlecase.
        0x10D0..=0x10FA | 0x10FD..=0x10FF => cp,
        // Greek with ypogegrammeni: full uppercase takes two characters,
        // the simple titlecase is the prosgegrammeni letter.
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => cp + 8,
        0x1FB3 | 0x1FC3 | 0x1FF3 => cp + 9,
        _ => {
            let mut upper = c.to_uppercase();
            return match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                // No simple mapping (ß, ŉ, ligatures...): unchanged.
                _ => c,
            };
        }
    };
    char::from_u32(mapped).unwrap_or(c)
}

/// Appends the full decomposition of `c` (RFC 5051 §2 step 2b).
fn decompose(c: char, out: &mut String) {
    const S_BASE: u32 = 0xAC00;
    const L_BASE: u32 = 0x1100;
    const V_BASE: u32 = 0x1161;
    const T_BASE: u32 = 0x11A7;
    const T_COUNT: u32 = 28;
    const N_COUNT: u32 = 21 * T_COUNT;
    let cp = c as u32;
    let push = |out: &mut String, cp: u32| out.push(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER));
    match cp {
        // Hangul syllables (The Unicode Standard §3.12).
        0xAC00..=0xD7A3 => {
            let s = cp - S_BASE;
            push(out, L_BASE + s / N_COUNT);
            push(out, V_BASE + (s % N_COUNT) / T_COUNT);
            if !s.is_multiple_of(T_COUNT) {
                push(out, T_BASE + s % T_COUNT);
            }
        }
        // Full-width ASCII and the ideographic space (<wide>).
        0xFF01..=0xFF5E => push(out, cp - 0xFEE0),
        0x3000 => out.push(' '),
        _ => match decompositions().get(&c) {
            Some(d) => out.push_str(d),
            None => out.push(c),
        },
    }
}

fn decompositions() -> &'static HashMap<char, &'static str> {
    static TABLE: OnceLock<HashMap<char, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        DECOMPOSITIONS
            .split('|')
            .filter_map(|record| {
                let mut chars = record.chars();
                let key = chars.next()?;
                Some((key, chars.as_str()))
            })
            .collect()
    })
}

// ---------------------------------------------------------------------------
// Message ids.

/// The valid message ids of a header value (RFC 5322 §3.6.4 msg-id: with an
/// '@' and a closing '>'), normalized as RFC 5256 §3 requires so that
/// differently quoted forms of one id match: quotes, quoted-pair
/// backslashes, comments and white space removed, the result compared case
/// sensitively. `<"01KF8JCEOCBS0045PS"@xxx.yyy.com>` becomes
/// `<01KF8JCEOCBS0045PS@xxx.yyy.com>`. Invalid ids are skipped.
pub fn message_ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let (id, next) = parse_msg_id(&rest[start + 1..]);
        out.extend(id);
        rest = next;
    }
    out
}

pub fn first_message_id(value: &str) -> Option<String> {
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let (id, next) = parse_msg_id(&rest[start + 1..]);
        if id.is_some() {
            return id;
        }
        rest = next;
    }
    None
}

/// One msg-id after its '<': the normalized id if valid, and what follows.
fn parse_msg_id(s: &str) -> (Option<String>, &str) {
    let mut id = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '>' => {
                let valid = id.find('@').is_some_and(|at| at > 0 && at + 1 < id.len());
                return (valid.then(|| format!("<{id}>")), &s[i + 1..]);
            }
            // An unclosed id: start again from the next one.
            '<' => return (None, &s[i..]),
            '"' => loop {
                match chars.next() {
                    Some((_, '"')) | None => break,
                    Some((_, '\\')) => id.extend(chars.next().map(|(_, e)| e)),
                    Some((_, q)) => id.push(q),
                }
            },
            '(' => {
                let mut depth = 1;
                while depth > 0 {
                    match chars.next() {
                        None => break,
                        Some((_, '\\')) => {
                            chars.next();
                        }
                        Some((_, '(')) => depth += 1,
                        Some((_, ')')) => depth -= 1,
                        Some(_) => {}
                    }
                }
            }
            '\\' => id.extend(chars.next().map(|(_, e)| e)),
            c if c.is_whitespace() => {}
            c => id.push(c),
        }
    }
    (None, "")
}

/// Canonical and compatibility decompositions (UnicodeData.txt field 5,
/// applied until none is left) of the characters that are their own simple
/// titlecase in U+00A0..U+04FF, U+1E00..U+1FFF, U+2000..U+218F and
/// U+FB00..U+FB06. Records are separated by '|': the character, then its
/// decomposition. Generated from the Unicode Character Database 14.0.
static DECOMPOSITIONS: &str = "\
    \u{a0} |\u{a8} \u{308}|\u{aa}a|\u{af} \u{304}|\u{b2}2|\u{b3}3|\u{b4} \u{301}|\u{b8} \u{327}|\u{b9}1|\u{ba}o|\
    \u{bc}1\u{2044}4|\u{bd}1\u{2044}2|\u{be}3\u{2044}4|\u{c0}A\u{300}|\u{c1}A\u{301}|\u{c2}A\u{302}|\
    \u{c3}A\u{303}|\u{c4}A\u{308}|\u{c5}A\u{30a}|\u{c7}C\u{327}|\u{c8}E\u{300}|\u{c9}E\u{301}|\u{ca}E\u{302}|\
    \u{cb}E\u{308}|\u{cc}I\u{300}|\u{cd}I\u{301}|\u{ce}I\u{302}|\u{cf}I\u{308}|\u{d1}N\u{303}|\u{d2}O\u{300}|\
    \u{d3}O\u{301}|\u{d4}O\u{302}|\u{d5}O\u{303}|\u{d6}O\u{308}|\u{d9}U\u{300}|\u{da}U\u{301}|\u{db}U\u{302}|\
    \u{dc}U\u{308}|\u{dd}Y\u{301}|\u{100}A\u{304}|\u{102}A\u{306}|\u{104}A\u{328}|\u{106}C\u{301}|\u{108}C\u{302}|\
    \u{10a}C\u{307}|\u{10c}C\u{30c}|\u{10e}D\u{30c}|\u{112}E\u{304}|\u{114}E\u{306}|\u{116}E\u{307}|\
    \u{118}E\u{328}|\u{11a}E\u{30c}|\u{11c}G\u{302}|\u{11e}G\u{306}|\u{120}G\u{307}|\u{122}G\u{327}|\
    \u{124}H\u{302}|\u{128}I\u{303}|\u{12a}I\u{304}|\u{12c}I\u{306}|\u{12e}I\u{328}|\u{130}I\u{307}|\u{132}IJ|\
    \u{134}J\u{302}|\u{136}K\u{327}|\u{139}L\u{301}|\u{13b}L\u{327}|\u{13d}L\u{30c}|\u{13f}L\u{b7}|\
    \u{143}N\u{301}|\u{145}N\u{327}|\u{147}N\u{30c}|\u{149}\u{2bc}n|\u{14c}O\u{304}|\u{14e}O\u{306}|\
    \u{150}O\u{30b}|\u{154}R\u{301}|\u{156}R\u{327}|\u{158}R\u{30c}|\u{15a}S\u{301}|\u{15c}S\u{302}|\
    \u{15e}S\u{327}|\u{160}S\u{30c}|\u{162}T\u{327}|\u{164}T\u{30c}|\u{168}U\u{303}|\u{16a}U\u{304}|\
    \u{16c}U\u{306}|\u{16e}U\u{30a}|\u{170}U\u{30b}|\u{172}U\u{328}|\u{174}W\u{302}|\u{176}Y\u{302}|\
    \u{178}Y\u{308}|\u{179}Z\u{301}|\u{17b}Z\u{307}|\u{17d}Z\u{30c}|\u{1a0}O\u{31b}|\u{1af}U\u{31b}|\
    \u{1c5}Dz\u{30c}|\u{1c8}Lj|\u{1cb}Nj|\u{1cd}A\u{30c}|\u{1cf}I\u{30c}|\u{1d1}O\u{30c}|\u{1d3}U\u{30c}|\
    \u{1d5}U\u{308}\u{304}|\u{1d7}U\u{308}\u{301}|\u{1d9}U\u{308}\u{30c}|\u{1db}U\u{308}\u{300}|\
    \u{1de}A\u{308}\u{304}|\u{1e0}A\u{307}\u{304}|\u{1e2}\u{c6}\u{304}|\u{1e6}G\u{30c}|\u{1e8}K\u{30c}|\
    \u{1ea}O\u{328}|\u{1ec}O\u{328}\u{304}|\u{1ee}\u{1b7}\u{30c}|\u{1f0}j\u{30c}|\u{1f2}Dz|\u{1f4}G\u{301}|\
    \u{1f8}N\u{300}|\u{1fa}A\u{30a}\u{301}|\u{1fc}\u{c6}\u{301}|\u{1fe}\u{d8}\u{301}|\u{200}A\u{30f}|\
    \u{202}A\u{311}|\u{204}E\u{30f}|\u{206}E\u{311}|\u{208}I\u{30f}|\u{20a}I\u{311}|\u{20c}O\u{30f}|\
    \u{20e}O\u{311}|\u{210}R\u{30f}|\u{212}R\u{311}|\u{214}U\u{30f}|\u{216}U\u{311}|\u{218}S\u{326}|\
    \u{21a}T\u{326}|\u{21e}H\u{30c}|\u{226}A\u{307}|\u{228}E\u{327}|\u{22a}O\u{308}\u{304}|\u{22c}O\u{303}\u{304}|\
    \u{22e}O\u{307}|\u{230}O\u{307}\u{304}|\u{232}Y\u{304}|\u{2b0}h|\u{2b1}\u{266}|\u{2b2}j|\u{2b3}r|\
    \u{2b4}\u{279}|\u{2b5}\u{27b}|\u{2b6}\u{281}|\u{2b7}w|\u{2b8}y|\u{2d8} \u{306}|\u{2d9} \u{307}|\
    \u{2da} \u{30a}|\u{2db} \u{328}|\u{2dc} \u{303}|\u{2dd} \u{30b}|\u{2e0}\u{263}|\u{2e1}l|\u{2e2}s|\u{2e3}x|\
    \u{2e4}\u{295}|\u{340}\u{300}|\u{341}\u{301}|\u{343}\u{313}|\u{344}\u{308}\u{301}|\u{374}\u{2b9}|\
    \u{37a} \u{345}|\u{37e};|\u{384} \u{301}|\u{385} \u{308}\u{301}|\u{386}\u{391}\u{301}|\u{387}\u{b7}|\
    \u{388}\u{395}\u{301}|\u{389}\u{397}\u{301}|\u{38a}\u{399}\u{301}|\u{38c}\u{39f}\u{301}|\u{38e}\u{3a5}\u{301}|\
    \u{38f}\u{3a9}\u{301}|\u{390}\u{3b9}\u{308}\u{301}|\u{3aa}\u{399}\u{308}|\u{3ab}\u{3a5}\u{308}|\
    \u{3b0}\u{3c5}\u{308}\u{301}|\u{3d2}\u{3a5}|\u{3d3}\u{3a5}\u{301}|\u{3d4}\u{3a5}\u{308}|\u{3f4}\u{398}|\
    \u{3f9}\u{3a3}|\u{400}\u{415}\u{300}|\u{401}\u{415}\u{308}|\u{403}\u{413}\u{301}|\u{407}\u{406}\u{308}|\
    \u{40c}\u{41a}\u{301}|\u{40d}\u{418}\u{300}|\u{40e}\u{423}\u{306}|\u{419}\u{418}\u{306}|\u{476}\u{474}\u{30f}|\
    \u{4c1}\u{416}\u{306}|\u{4d0}\u{410}\u{306}|\u{4d2}\u{410}\u{308}|\u{4d6}\u{415}\u{306}|\u{4da}\u{4d8}\u{308}|\
    \u{4dc}\u{416}\u{308}|\u{4de}\u{417}\u{308}|\u{4e2}\u{418}\u{304}|\u{4e4}\u{418}\u{308}|\u{4e6}\u{41e}\u{308}|\
    \u{4ea}\u{4e8}\u{308}|\u{4ec}\u{42d}\u{308}|\u{4ee}\u{423}\u{304}|\u{4f0}\u{423}\u{308}|\u{4f2}\u{423}\u{30b}|\
    \u{4f4}\u{427}\u{308}|\u{4f8}\u{42b}\u{308}|\u{1e00}A\u{325}|\u{1e02}B\u{307}|\u{1e04}B\u{323}|\
    \u{1e06}B\u{331}|\u{1e08}C\u{327}\u{301}|\u{1e0a}D\u{307}|\u{1e0c}D\u{323}|\u{1e0e}D\u{331}|\u{1e10}D\u{327}|\
    \u{1e12}D\u{32d}|\u{1e14}E\u{304}\u{300}|\u{1e16}E\u{304}\u{301}|\u{1e18}E\u{32d}|\u{1e1a}E\u{330}|\
    \u{1e1c}E\u{327}\u{306}|\u{1e1e}F\u{307}|\u{1e20}G\u{304}|\u{1e22}H\u{307}|\u{1e24}H\u{323}|\u{1e26}H\u{308}|\
    \u{1e28}H\u{327}|\u{1e2a}H\u{32e}|\u{1e2c}I\u{330}|\u{1e2e}I\u{308}\u{301}|\u{1e30}K\u{301}|\u{1e32}K\u{323}|\
    \u{1e34}K\u{331}|\u{1e36}L\u{323}|\u{1e38}L\u{323}\u{304}|\u{1e3a}L\u{331}|\u{1e3c}L\u{32d}|\u{1e3e}M\u{301}|\
    \u{1e40}M\u{307}|\u{1e42}M\u{323}|\u{1e44}N\u{307}|\u{1e46}N\u{323}|\u{1e48}N\u{331}|\u{1e4a}N\u{32d}|\
    \u{1e4c}O\u{303}\u{301}|\u{1e4e}O\u{303}\u{308}|\u{1e50}O\u{304}\u{300}|\u{1e52}O\u{304}\u{301}|\
    \u{1e54}P\u{301}|\u{1e56}P\u{307}|\u{1e58}R\u{307}|\u{1e5a}R\u{323}|\u{1e5c}R\u{323}\u{304}|\u{1e5e}R\u{331}|\
    \u{1e60}S\u{307}|\u{1e62}S\u{323}|\u{1e64}S\u{301}\u{307}|\u{1e66}S\u{30c}\u{307}|\u{1e68}S\u{323}\u{307}|\
    \u{1e6a}T\u{307}|\u{1e6c}T\u{323}|\u{1e6e}T\u{331}|\u{1e70}T\u{32d}|\u{1e72}U\u{324}|\u{1e74}U\u{330}|\
    \u{1e76}U\u{32d}|\u{1e78}U\u{303}\u{301}|\u{1e7a}U\u{304}\u{308}|\u{1e7c}V\u{303}|\u{1e7e}V\u{323}|\
    \u{1e80}W\u{300}|\u{1e82}W\u{301}|\u{1e84}W\u{308}|\u{1e86}W\u{307}|\u{1e88}W\u{323}|\u{1e8a}X\u{307}|\
    \u{1e8c}X\u{308}|\u{1e8e}Y\u{307}|\u{1e90}Z\u{302}|\u{1e92}Z\u{323}|\u{1e94}Z\u{331}|\u{1e96}h\u{331}|\
    \u{1e97}t\u{308}|\u{1e98}w\u{30a}|\u{1e99}y\u{30a}|\u{1e9a}a\u{2be}|\u{1ea0}A\u{323}|\u{1ea2}A\u{309}|\
    \u{1ea4}A\u{302}\u{301}|\u{1ea6}A\u{302}\u{300}|\u{1ea8}A\u{302}\u{309}|\u{1eaa}A\u{302}\u{303}|\
    \u{1eac}A\u{323}\u{302}|\u{1eae}A\u{306}\u{301}|\u{1eb0}A\u{306}\u{300}|\u{1eb2}A\u{306}\u{309}|\
    \u{1eb4}A\u{306}\u{303}|\u{1eb6}A\u{323}\u{306}|\u{1eb8}E\u{323}|\u{1eba}E\u{309}|\u{1ebc}E\u{303}|\
    \u{1ebe}E\u{302}\u{301}|\u{1ec0}E\u{302}\u{300}|\u{1ec2}E\u{302}\u{309}|\u{1ec4}E\u{302}\u{303}|\
    \u{1ec6}E\u{323}\u{302}|\u{1ec8}I\u{309}|\u{1eca}I\u{323}|\u{1ecc}O\u{323}|\u{1ece}O\u{309}|\
    \u{1ed0}O\u{302}\u{301}|\u{1ed2}O\u{302}\u{300}|\u{1ed4}O\u{302}\u{309}|\u{1ed6}O\u{302}\u{303}|\
    \u{1ed8}O\u{323}\u{302}|\u{1eda}O\u{31b}\u{301}|\u{1edc}O\u{31b}\u{300}|\u{1ede}O\u{31b}\u{309}|\
    \u{1ee0}O\u{31b}\u{303}|\u{1ee2}O\u{31b}\u{323}|\u{1ee4}U\u{323}|\u{1ee6}U\u{309}|\u{1ee8}U\u{31b}\u{301}|\
    \u{1eea}U\u{31b}\u{300}|\u{1eec}U\u{31b}\u{309}|\u{1eee}U\u{31b}\u{303}|\u{1ef0}U\u{31b}\u{323}|\
    \u{1ef2}Y\u{300}|\u{1ef4}Y\u{323}|\u{1ef6}Y\u{309}|\u{1ef8}Y\u{303}|\u{1f08}\u{391}\u{313}|\
    \u{1f09}\u{391}\u{314}|\u{1f0a}\u{391}\u{313}\u{300}|\u{1f0b}\u{391}\u{314}\u{300}|\
    \u{1f0c}\u{391}\u{313}\u{301}|\u{1f0d}\u{391}\u{314}\u{301}|\u{1f0e}\u{391}\u{313}\u{342}|\
    \u{1f0f}\u{391}\u{314}\u{342}|\u{1f18}\u{395}\u{313}|\u{1f19}\u{395}\u{314}|\u{1f1a}\u{395}\u{313}\u{300}|\
    \u{1f1b}\u{395}\u{314}\u{300}|\u{1f1c}\u{395}\u{313}\u{301}|\u{1f1d}\u{395}\u{314}\u{301}|\
    \u{1f28}\u{397}\u{313}|\u{1f29}\u{397}\u{314}|\u{1f2a}\u{397}\u{313}\u{300}|\u{1f2b}\u{397}\u{314}\u{300}|\
    \u{1f2c}\u{397}\u{313}\u{301}|\u{1f2d}\u{397}\u{314}\u{301}|\u{1f2e}\u{397}\u{313}\u{342}|\
    \u{1f2f}\u{397}\u{314}\u{342}|\u{1f38}\u{399}\u{313}|\u{1f39}\u{399}\u{314}|\u{1f3a}\u{399}\u{313}\u{300}|\
    \u{1f3b}\u{399}\u{314}\u{300}|\u{1f3c}\u{399}\u{313}\u{301}|\u{1f3d}\u{399}\u{314}\u{301}|\
    \u{1f3e}\u{399}\u{313}\u{342}|\u{1f3f}\u{399}\u{314}\u{342}|\u{1f48}\u{39f}\u{313}|\u{1f49}\u{39f}\u{314}|\
    \u{1f4a}\u{39f}\u{313}\u{300}|\u{1f4b}\u{39f}\u{314}\u{300}|\u{1f4c}\u{39f}\u{313}\u{301}|\
    \u{1f4d}\u{39f}\u{314}\u{301}|\u{1f50}\u{3c5}\u{313}|\u{1f52}\u{3c5}\u{313}\u{300}|\
    \u{1f54}\u{3c5}\u{313}\u{301}|\u{1f56}\u{3c5}\u{313}\u{342}|\u{1f59}\u{3a5}\u{314}|\
    \u{1f5b}\u{3a5}\u{314}\u{300}|\u{1f5d}\u{3a5}\u{314}\u{301}|\u{1f5f}\u{3a5}\u{314}\u{342}|\
    \u{1f68}\u{3a9}\u{313}|\u{1f69}\u{3a9}\u{314}|\u{1f6a}\u{3a9}\u{313}\u{300}|\u{1f6b}\u{3a9}\u{314}\u{300}|\
    \u{1f6c}\u{3a9}\u{313}\u{301}|\u{1f6d}\u{3a9}\u{314}\u{301}|\u{1f6e}\u{3a9}\u{313}\u{342}|\
    \u{1f6f}\u{3a9}\u{314}\u{342}|\u{1f88}\u{391}\u{313}\u{345}|\u{1f89}\u{391}\u{314}\u{345}|\
    \u{1f8a}\u{391}\u{313}\u{300}\u{345}|\u{1f8b}\u{391}\u{314}\u{300}\u{345}|\
    \u{1f8c}\u{391}\u{313}\u{301}\u{345}|\u{1f8d}\u{391}\u{314}\u{301}\u{345}|\
    \u{1f8e}\u{391}\u{313}\u{342}\u{345}|\u{1f8f}\u{391}\u{314}\u{342}\u{345}|\u{1f98}\u{397}\u{313}\u{345}|\
    \u{1f99}\u{397}\u{314}\u{345}|\u{1f9a}\u{397}\u{313}\u{300}\u{345}|\u{1f9b}\u{397}\u{314}\u{300}\u{345}|\
    \u{1f9c}\u{397}\u{313}\u{301}\u{345}|\u{1f9d}\u{397}\u{314}\u{301}\u{345}|\
    \u{1f9e}\u{397}\u{313}\u{342}\u{345}|\u{1f9f}\u{397}\u{314}\u{342}\u{345}|\u{1fa8}\u{3a9}\u{313}\u{345}|\
    \u{1fa9}\u{3a9}\u{314}\u{345}|\u{1faa}\u{3a9}\u{313}\u{300}\u{345}|\u{1fab}\u{3a9}\u{314}\u{300}\u{345}|\
    \u{1fac}\u{3a9}\u{313}\u{301}\u{345}|\u{1fad}\u{3a9}\u{314}\u{301}\u{345}|\
    \u{1fae}\u{3a9}\u{313}\u{342}\u{345}|\u{1faf}\u{3a9}\u{314}\u{342}\u{345}|\u{1fb2}\u{3b1}\u{300}\u{345}|\
    \u{1fb4}\u{3b1}\u{301}\u{345}|\u{1fb6}\u{3b1}\u{342}|\u{1fb7}\u{3b1}\u{342}\u{345}|\u{1fb8}\u{391}\u{306}|\
    \u{1fb9}\u{391}\u{304}|\u{1fba}\u{391}\u{300}|\u{1fbb}\u{391}\u{301}|\u{1fbc}\u{391}\u{345}|\u{1fbd} \u{313}|\
    \u{1fbf} \u{313}|\u{1fc0} \u{342}|\u{1fc1} \u{308}\u{342}|\u{1fc2}\u{3b7}\u{300}\u{345}|\
    \u{1fc4}\u{3b7}\u{301}\u{345}|\u{1fc6}\u{3b7}\u{342}|\u{1fc7}\u{3b7}\u{342}\u{345}|\u{1fc8}\u{395}\u{300}|\
    \u{1fc9}\u{395}\u{301}|\u{1fca}\u{397}\u{300}|\u{1fcb}\u{397}\u{301}|\u{1fcc}\u{397}\u{345}|\
    \u{1fcd} \u{313}\u{300}|\u{1fce} \u{313}\u{301}|\u{1fcf} \u{313}\u{342}|\u{1fd2}\u{3b9}\u{308}\u{300}|\
    \u{1fd3}\u{3b9}\u{308}\u{301}|\u{1fd6}\u{3b9}\u{342}|\u{1fd7}\u{3b9}\u{308}\u{342}|\u{1fd8}\u{399}\u{306}|\
    \u{1fd9}\u{399}\u{304}|\u{1fda}\u{399}\u{300}|\u{1fdb}\u{399}\u{301}|\u{1fdd} \u{314}\u{300}|\
    \u{1fde} \u{314}\u{301}|\u{1fdf} \u{314}\u{342}|\u{1fe2}\u{3c5}\u{308}\u{300}|\u{1fe3}\u{3c5}\u{308}\u{301}|\
    \u{1fe4}\u{3c1}\u{313}|\u{1fe6}\u{3c5}\u{342}|\u{1fe7}\u{3c5}\u{308}\u{342}|\u{1fe8}\u{3a5}\u{306}|\
    \u{1fe9}\u{3a5}\u{304}|\u{1fea}\u{3a5}\u{300}|\u{1feb}\u{3a5}\u{301}|\u{1fec}\u{3a1}\u{314}|\
    \u{1fed} \u{308}\u{300}|\u{1fee} \u{308}\u{301}|\u{1fef}`|\u{1ff2}\u{3c9}\u{300}\u{345}|\
    \u{1ff4}\u{3c9}\u{301}\u{345}|\u{1ff6}\u{3c9}\u{342}|\u{1ff7}\u{3c9}\u{342}\u{345}|\u{1ff8}\u{39f}\u{300}|\
    \u{1ff9}\u{39f}\u{301}|\u{1ffa}\u{3a9}\u{300}|\u{1ffb}\u{3a9}\u{301}|\u{1ffc}\u{3a9}\u{345}|\u{1ffd} \u{301}|\
    \u{1ffe} \u{314}|\u{2000} |\u{2001} |\u{2002} |\u{2003} |\u{2004} |\u{2005} |\u{2006} |\u{2007} |\u{2008} |\
    \u{2009} |\u{200a} |\u{2011}\u{2010}|\u{2017} \u{333}|\u{2024}.|\u{2025}..|\u{2026}...|\u{202f} |\
    \u{2033}\u{2032}\u{2032}|\u{2034}\u{2032}\u{2032}\u{2032}|\u{2036}\u{2035}\u{2035}|\
    \u{2037}\u{2035}\u{2035}\u{2035}|\u{203c}!!|\u{203e} \u{305}|\u{2047}??|\u{2048}?!|\u{2049}!?|\
    \u{2057}\u{2032}\u{2032}\u{2032}\u{2032}|\u{205f} |\u{2070}0|\u{2071}i|\u{2074}4|\u{2075}5|\u{2076}6|\
    \u{2077}7|\u{2078}8|\u{2079}9|\u{207a}+|\u{207b}\u{2212}|\u{207c}=|\u{207d}(|\u{207e})|\u{207f}n|\u{2080}0|\
    \u{2081}1|\u{2082}2|\u{2083}3|\u{2084}4|\u{2085}5|\u{2086}6|\u{2087}7|\u{2088}8|\u{2089}9|\u{208a}+|\
    \u{208b}\u{2212}|\u{208c}=|\u{208d}(|\u{208e})|\u{2090}a|\u{2091}e|\u{2092}o|\u{2093}x|\u{2094}\u{259}|\
    \u{2095}h|\u{2096}k|\u{2097}l|\u{2098}m|\u{2099}n|\u{209a}p|\u{209b}s|\u{209c}t|\u{20a8}Rs|\u{2100}a/c|\
    \u{2101}a/s|\u{2102}C|\u{2103}\u{b0}C|\u{2105}c/o|\u{2106}c/u|\u{2107}\u{190}|\u{2109}\u{b0}F|\u{210a}g|\
    \u{210b}H|\u{210c}H|\u{210d}H|\u{210e}h|\u{210f}\u{127}|\u{2110}I|\u{2111}I|\u{2112}L|\u{2113}l|\u{2115}N|\
    \u{2116}No|\u{2119}P|\u{211a}Q|\u{211b}R|\u{211c}R|\u{211d}R|\u{2120}SM|\u{2121}TEL|\u{2122}TM|\u{2124}Z|\
    \u{2126}\u{3a9}|\u{2128}Z|\u{212a}K|\u{212b}A\u{30a}|\u{212c}B|\u{212d}C|\u{212f}e|\u{2130}E|\u{2131}F|\
    \u{2133}M|\u{2134}o|\u{2135}\u{5d0}|\u{2136}\u{5d1}|\u{2137}\u{5d2}|\u{2138}\u{5d3}|\u{2139}i|\u{213b}FAX|\
    \u{213c}\u{3c0}|\u{213d}\u{3b3}|\u{213e}\u{393}|\u{213f}\u{3a0}|\u{2140}\u{2211}|\u{2145}D|\u{2146}d|\
    \u{2147}e|\u{2148}i|\u{2149}j|\u{2150}1\u{2044}7|\u{2151}1\u{2044}9|\u{2152}1\u{2044}10|\u{2153}1\u{2044}3|\
    \u{2154}2\u{2044}3|\u{2155}1\u{2044}5|\u{2156}2\u{2044}5|\u{2157}3\u{2044}5|\u{2158}4\u{2044}5|\
    \u{2159}1\u{2044}6|\u{215a}5\u{2044}6|\u{215b}1\u{2044}8|\u{215c}3\u{2044}8|\u{215d}5\u{2044}8|\
    \u{215e}7\u{2044}8|\u{215f}1\u{2044}|\u{2160}I|\u{2161}II|\u{2162}III|\u{2163}IV|\u{2164}V|\u{2165}VI|\
    \u{2166}VII|\u{2167}VIII|\u{2168}IX|\u{2169}X|\u{216a}XI|\u{216b}XII|\u{216c}L|\u{216d}C|\u{216e}D|\u{216f}M|\
    \u{2189}0\u{2044}3|\u{fb00}ff|\u{fb01}fi|\u{fb02}fl|\u{fb03}ffi|\u{fb04}ffl|\u{fb05}st|\u{fb06}st|";

#[cfg(test)]
mod tests {
    use super::*;

    // ----- base subject (§2.1) -----

    #[test]
    fn base_subjects_follow_the_extraction_steps() {
        for (raw, base, reply) in [
            ("Re: [list] Fwd: Hello (fwd)", "Hello", true),
            ("[fwd: Re: x]", "x", true),
            ("RE:re: x", "x", true),
            ("Fw: x", "x", true),
            ("FWD: x", "x", true),
            ("fwd[2]: x", "x", true),
            ("Re[2]: Quote", "Quote", true),
            ("Re [2] : Quote", "Quote", true),
            ("Re : Quote", "Quote", true),
            ("[blob] ", "[blob]", false),
            ("[blob]", "[blob]", false),
            ("[blob] x", "x", false),
            ("[a] [b] x", "x", false),
            ("[a][b] Re: x", "x", true),
            ("Re: [blob]", "[blob]", true),
            ("x (fwd)", "x", true),
            ("x (FWD) (Fwd)  ", "x", true),
            ("(fwd)", "", true),
            ("Re:", "", true),
            ("Re: Re: ", "", true),
            ("", "", false),
            ("   ", "", false),
            ("[Fwd: x] (fwd)", "x", true),
            ("[fwd: [fwd: x]]", "x", true),
            ("[fwd:]", "", true),
            ("Re:Fwd:[fwd: Re: hi]", "hi", true),
            ("Hello [fwd: x]", "Hello [fwd: x]", false),
            ("[fwd: x", "[fwd: x", false),
            ("ReKx", "ReKx", false),
            ("Ref: x", "Ref: x", false),
            ("Fwx: y", "Fwx: y", false),
            ("re:[x]:y", ":y", true),
            ("\t Quote \t for   March ", "Quote for March", false),
            ("Quote\r\n for March", "Quote for March", false),
            // Only SP and HTAB are white space: a no-break space is text.
            ("Re:\u{a0}x", "\u{a0}x", true),
            ("[liste \u{e9}t\u{e9}] Fwd: x", "x", true),
            ("=?UTF-8?B?UmU6IOaKpeS7tw==?=", "\u{62a5}\u{4ef7}", true),
            ("=?ISO-8859-1?Q?Re=3A_caf=E9?=", "caf\u{e9}", true),
        ] {
            assert_eq!(extract_base_subject(raw), (base.to_string(), reply), "{raw:?}");
        }
    }

    #[test]
    fn base_subjects_compare_through_the_collation() {
        let key = |s: &str| casemap(&base_subject(s));
        assert_eq!(key("Re: hello WORLD"), key("HELLO world (fwd)"));
        assert_eq!(key("Re: caf\u{e9}"), key("CAFE\u{301}"));
        assert_ne!(key("cafe"), key("caf\u{e9}"));
    }

    // ----- i;unicode-casemap (RFC 5051) -----

    #[test]
    fn casemap_titlecases_and_decomposes() {
        assert_eq!(casemap("Hello, World"), "HELLO, WORLD");
        assert_eq!(casemap("\u{e9}"), "E\u{301}");
        assert_eq!(casemap("\u{c9}"), "E\u{301}");
        assert_eq!(casemap("\u{1ec7}"), "E\u{323}\u{302}");
        // dž: titlecase Dž, then <compat> D + ž, then z + caron.
        assert_eq!(casemap("\u{1c6}"), "Dz\u{30c}");
        assert_eq!(casemap("\u{1c4}"), casemap("\u{1c6}"));
        // No simple titlecase: unchanged, then decomposed.
        assert_eq!(casemap("\u{df}"), "\u{df}");
        assert_eq!(casemap("\u{fb01}"), "fi");
        assert_eq!(casemap("\u{ff41}\u{ff22}"), "AB");
        assert_eq!(casemap("\u{3a3}\u{3c3}\u{3c2}"), "\u{3a3}\u{3a3}\u{3a3}");
        assert_eq!(casemap("\u{10d0}"), "\u{10d0}");
        assert_eq!(casemap("\u{1f80}"), "\u{391}\u{313}\u{345}");
        assert_eq!(casemap("\u{d55c}"), "\u{1112}\u{1161}\u{11ab}");
        assert_eq!(casemap("\u{2126}"), "\u{3a9}");
        assert_eq!(casemap("\u{2026}"), "...");
        // Accented letters sort with their base letter.
        let mut words = vec!["zebra", "\u{e9}cole", "ecole", "F", "Eagle"];
        words.sort_by_key(|w| casemap(w));
        assert_eq!(words, ["Eagle", "ecole", "\u{e9}cole", "F", "zebra"]);
    }

    #[test]
    fn the_decomposition_table_is_well_formed() {
        let table = decompositions();
        assert!(table.len() > 600);
        let mut keys: Vec<char> = Vec::new();
        for record in DECOMPOSITIONS.split('|').filter(|r| !r.is_empty()) {
            let mut chars = record.chars();
            let key = chars.next().expect("key");
            assert!(!chars.as_str().is_empty(), "{key:?}");
            keys.push(key);
        }
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(keys, sorted, "sorted, no duplicates");
        // Fully decomposed: no output has a decomposition of its own.
        for d in table.values() {
            for c in d.chars() {
                assert!(!table.contains_key(&c), "{d:?}");
            }
        }
    }

    // ----- message ids -----

    #[test]
    fn message_ids_are_normalized_and_validated() {
        assert_eq!(message_ids("<a@b> <c@d>"), ["<a@b>", "<c@d>"]);
        assert_eq!(message_ids("<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>"), ["<01KF8JCEOCBS0045PS@xxx.yyy.com>"]);
        assert_eq!(message_ids(" <a (comment) @ b>"), ["<a@b>"]);
        assert_eq!(message_ids("<\"a>b\"@c>"), ["<a>b@c>"]);
        assert_eq!(message_ids("<no-at> <@x> <x@> <ok@x>"), ["<ok@x>"]);
        assert_eq!(message_ids("<broken <ok@x>"), ["<ok@x>"]);
        assert_eq!(message_ids("bob@x (Bob's message of <m@x>)"), ["<m@x>"]);
        assert_eq!(message_ids("<A@X> <a@x>"), ["<A@X>", "<a@x>"]);
        assert!(message_ids("").is_empty());
    }

    // ----- keys of SORT (§3) -----

    fn addr(name: Option<&str>, mailbox: &str, host: &str) -> EnvelopeAddress {
        EnvelopeAddress {
            name: name.map(str::to_string),
            mailbox: Some(mailbox.to_string()),
            host: Some(host.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn from_to_cc_are_the_mailbox_of_the_first_address() {
        let e = Envelope {
            from: vec![addr(Some("Aaron"), "zed", "a.example"), addr(None, "aaa", "x")],
            to: vec![addr(Some("Zoe"), "Bob", "x")],
            ..Default::default()
        };
        let k = SortKeys::of(&e, b"");
        assert_eq!((k.from.as_str(), k.to.as_str(), k.cc.as_str()), ("ZED", "BOB", ""));
    }

    #[test]
    fn display_keys_are_the_display_name_or_the_addr_spec() {
        let key = |from: EnvelopeAddress| SortKeys::of(&Envelope { from: vec![from], ..Default::default() }, b"");
        assert_eq!(key(addr(Some("Zach"), "aaa", "x")).display_from, "ZACH");
        assert_eq!(key(addr(Some(""), "bob", "x")).display_from, "BOB@X");
        assert_eq!(key(addr(Some("\u{c9}mile"), "e", "x")).display_from, "E\u{301}MILE");
        assert_eq!(SortKeys::of(&Envelope::default(), b"").display_to, "");
    }

    #[test]
    fn the_date_is_the_sent_date_in_utc() {
        let date = |d: &str| SortKeys::of(&Envelope { date: Some(d.into()), ..Default::default() }, b"").date;
        assert_eq!(date("Mon, 01 Jan 2001 00:01:33 +0000"), Some(978_307_293));
        assert_eq!(date("Sun, 31 Dec 2000 16:01:33 -0800"), Some(978_307_293));
        assert_eq!(date("not a date"), None);
        assert_eq!(SortKeys::of(&Envelope::default(), b"").date, None);
    }

    #[test]
    fn subject_and_thread_keys() {
        let e = Envelope {
            subject: Some("Re: [list] Order (fwd)".into()),
            message_id: Some(" <\"a.b\"@x> <c@d>".into()),
            ..Default::default()
        };
        let raw = b"References: <r1@x>\r\n <bad> <r2@x>\r\nIn-Reply-To: <i@x>\r\n\r\nbody <no@x>";
        let k = SortKeys::of(&e, raw);
        assert_eq!((k.subject.as_str(), k.reply), ("ORDER", true));
        assert_eq!(k.message_id.as_deref(), Some("<a.b@x>"));
        assert_eq!(k.references, ["<r1@x>", "<r2@x>"]);
        assert_eq!(references_of(b"In-Reply-To: <bad> <i@x> <j@x>\r\n\r\n"), ["<i@x>"]);
        let many: String = (0..150).map(|i| format!("<m{i}@x> ")).collect();
        let refs = references_of(format!("References: {many}\r\n\r\n").as_bytes());
        assert_eq!((refs.len(), refs[0].as_str()), (MAX_REFERENCES, "<m50@x>"));
    }
}
