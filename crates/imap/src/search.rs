//! SEARCH keys (RFC 9051 §6.4.4): parsing, and matching against a message.
//! Header and body keys compare decoded text (RFC 2047 words, charsets,
//! transfer encodings), so `SUBJECT 报价` finds a GB2312-encoded subject.

use caravel_store::{Flags, MessageMeta};
use mail_parser::{MessageParser, MimeHeaders};

use crate::cursor::{err, Cursor, PResult, SequenceSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Seq(SequenceSet),
    Uid(SequenceSet),
    Flag(Flags, bool),
    Keyword(String, bool),
    New,
    Old,
    Recent,
    Larger(u64),
    Smaller(u64),
    /// INTERNALDATE before/on/since (days since the epoch).
    Before(i64),
    On(i64),
    Since(i64),
    SentBefore(i64),
    SentOn(i64),
    SentSince(i64),
    Header(String, String),
    Body(String),
    Text(String),
    ModSeq(u64),
    /// A header key the store already answered: these UIDs match.
    /// Sorted ascending; looked up by binary search.
    UidIn(Vec<u32>),
    Not(Box<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    And(Vec<SearchKey>),
}

/// Keys, and the ESEARCH return options when `RETURN (...)` was given.
pub fn parse_search(c: &mut Cursor) -> PResult<(Vec<SearchKey>, Option<Vec<String>>)> {
    let start = c.pos;
    let esearch = if c.atom().map(|a| a.eq_ignore_ascii_case("RETURN")).unwrap_or(false) {
        c.pos = start;
        Some(return_options(c)?)
    } else {
        c.pos = start;
        None
    };
    let start = c.pos;
    if c.atom().map(|a| a.eq_ignore_ascii_case("CHARSET")).unwrap_or(false) {
        c.sp()?;
        let charset = c.astring_utf8()?.to_ascii_uppercase();
        if charset != "UTF-8" && charset != "US-ASCII" {
            return err("[BADCHARSET (UTF-8 US-ASCII)] unsupported charset");
        }
        c.sp()?;
    } else {
        c.pos = start;
    }
    let mut keys = vec![key(c, 0)?];
    while c.eat(b' ') {
        keys.push(key(c, 0)?);
    }
    Ok((keys, esearch))
}

/// `RETURN (options) SP` of SEARCH and SORT.
pub fn return_options(c: &mut Cursor) -> PResult<Vec<String>> {
    let word = c.atom()?;
    if !word.eq_ignore_ascii_case("RETURN") {
        return err("expected RETURN");
    }
    c.sp()?;
    c.expect(b'(')?;
    let mut opts = Vec::new();
    while !c.eat(b')') {
        let _ = c.eat(b' ');
        let opt = c.atom()?.to_ascii_uppercase();
        // RFC 4731 §3.1, RFC 5182, RFC 5267 §4 (CONTEXT, UPDATE) and
        // RFC 9394 (PARTIAL): anything else is BAD (RFC 4466 §2.6).
        match opt.as_str() {
            "MIN" | "MAX" | "ALL" | "COUNT" | "SAVE" | "UPDATE" | "CONTEXT" => opts.push(opt),
            "PARTIAL" => {
                c.sp()?;
                let (a, b) = partial_range(c)?;
                opts.push(format!("PARTIAL {a}:{b}"));
            }
            _ => return err("unknown SEARCH return option"),
        }
    }
    c.sp()?;
    Ok(opts)
}

/// RFC 9394 partial-range: `a:b` from the first result or `-a:-b` from the
/// last (1 and -1 being the first and the last), in either order; given
/// back low end first.
fn partial_range(c: &mut Cursor) -> PResult<(i64, i64)> {
    let one = |c: &mut Cursor| -> PResult<i64> {
        let negative = c.eat(b'-');
        let n = c.number()? as i64;
        if n == 0 {
            return err("PARTIAL ranges start at 1 (or -1 from the end)");
        }
        Ok(if negative { -n } else { n })
    };
    let a = one(c)?;
    c.expect(b':')?;
    let b = one(c)?;
    if (a < 0) != (b < 0) {
        return err("both ends of a PARTIAL range count from the same side");
    }
    Ok(if a.abs() <= b.abs() { (a, b) } else { (b, a) })
}

/// The part of `results` a PARTIAL range names.
pub fn partial_slice(results: &[u32], range: (i64, i64)) -> &[u32] {
    let n = results.len() as i64;
    let (lo, hi) = match range {
        (a, b) if a > 0 => (a - 1, b),
        // -1 is the last: -a:-b is [n-b, n-a+1).
        (a, b) => (n + b, n + a + 1),
    };
    let lo = lo.clamp(0, n) as usize;
    let hi = hi.clamp(0, n) as usize;
    if lo >= hi {
        return &[];
    }
    &results[lo..hi]
}

/// Nesting of parentheses, NOT and OR allowed in one SEARCH; deeper is BAD
/// (unbounded recursion would overflow the stack on hostile input).
const MAX_DEPTH: usize = 64;

fn text(c: &mut Cursor) -> PResult<String> {
    c.sp()?;
    Ok(String::from_utf8_lossy(&c.astring()?).into_owned())
}

fn key(c: &mut Cursor, depth: usize) -> PResult<SearchKey> {
    if depth > MAX_DEPTH {
        return err("search keys nested too deeply");
    }
    if c.eat(b'(') {
        let mut keys = vec![key(c, depth + 1)?];
        while c.eat(b' ') {
            keys.push(key(c, depth + 1)?);
        }
        c.expect(b')')?;
        return Ok(SearchKey::And(keys));
    }
    if c.peek().is_some_and(|b| b.is_ascii_digit() || b == b'*' || b == b'$') {
        return Ok(SearchKey::Seq(c.sequence_set()?));
    }
    let word = c.atom()?.to_ascii_uppercase();
    let date = |c: &mut Cursor| -> PResult<i64> {
        c.sp()?;
        c.date()
    };
    Ok(match word.as_str() {
        "ALL" => SearchKey::All,
        "ANSWERED" => SearchKey::Flag(Flags::ANSWERED, true),
        "UNANSWERED" => SearchKey::Flag(Flags::ANSWERED, false),
        "DELETED" => SearchKey::Flag(Flags::DELETED, true),
        "UNDELETED" => SearchKey::Flag(Flags::DELETED, false),
        "DRAFT" => SearchKey::Flag(Flags::DRAFT, true),
        "UNDRAFT" => SearchKey::Flag(Flags::DRAFT, false),
        "FLAGGED" => SearchKey::Flag(Flags::FLAGGED, true),
        "UNFLAGGED" => SearchKey::Flag(Flags::FLAGGED, false),
        "SEEN" => SearchKey::Flag(Flags::SEEN, true),
        "UNSEEN" => SearchKey::Flag(Flags::SEEN, false),
        "NEW" => SearchKey::New,
        "OLD" => SearchKey::Old,
        "RECENT" => SearchKey::Recent,
        "KEYWORD" => SearchKey::Keyword(text(c)?, true),
        "UNKEYWORD" => SearchKey::Keyword(text(c)?, false),
        "LARGER" => {
            c.sp()?;
            SearchKey::Larger(c.number64()?)
        }
        "SMALLER" => {
            c.sp()?;
            SearchKey::Smaller(c.number64()?)
        }
        "BEFORE" => SearchKey::Before(date(c)?),
        "ON" => SearchKey::On(date(c)?),
        "SINCE" => SearchKey::Since(date(c)?),
        "SENTBEFORE" => SearchKey::SentBefore(date(c)?),
        "SENTON" => SearchKey::SentOn(date(c)?),
        "SENTSINCE" => SearchKey::SentSince(date(c)?),
        "FROM" | "TO" | "CC" | "BCC" | "SUBJECT" => SearchKey::Header(word.to_ascii_lowercase(), text(c)?),
        "HEADER" => {
            let field = text(c)?.to_ascii_lowercase();
            SearchKey::Header(field, text(c)?)
        }
        "BODY" => SearchKey::Body(text(c)?),
        "TEXT" => SearchKey::Text(text(c)?),
        "UID" => {
            c.sp()?;
            SearchKey::Uid(c.sequence_set()?)
        }
        "MODSEQ" => {
            // RFC 7162 §3.1.5: MODSEQ [entry-name SP entry-type-req SP] value.
            // Flags share the message's one mod-sequence here, so the entry
            // named does not narrow the match.
            c.sp()?;
            if c.peek() == Some(b'"') {
                let entry = String::from_utf8_lossy(&c.astring()?).to_ascii_lowercase();
                if !entry.starts_with("/flags/") {
                    return err("MODSEQ entry names are /flags/<flag>");
                }
                c.sp()?;
                let kind = c.atom()?.to_ascii_lowercase();
                if !matches!(kind.as_str(), "priv" | "shared" | "all") {
                    return err("MODSEQ entry type is priv, shared or all");
                }
                c.sp()?;
            }
            SearchKey::ModSeq(c.number64()?)
        }
        "NOT" => {
            c.sp()?;
            SearchKey::Not(Box::new(key(c, depth + 1)?))
        }
        "OR" => {
            c.sp()?;
            let a = key(c, depth + 1)?;
            c.sp()?;
            SearchKey::Or(Box::new(a), Box::new(key(c, depth + 1)?))
        }
        _ => return err("unknown SEARCH key"),
    })
}

/// Header fields the stored envelope answers without reading the message.
const ENVELOPE_FIELDS: [&str; 7] = ["subject", "from", "to", "cc", "bcc", "message-id", "in-reply-to"];

/// The (field, text) of every header key, for the store to answer first.
pub fn header_keys(keys: &[SearchKey], out: &mut Vec<(String, String)>) {
    for k in keys {
        match k {
            SearchKey::Header(f, n) => out.push((f.clone(), n.clone())),
            SearchKey::Not(k) => header_keys(std::slice::from_ref(k), out),
            SearchKey::Or(a, b) => {
                header_keys(std::slice::from_ref(a), out);
                header_keys(std::slice::from_ref(b), out);
            }
            SearchKey::And(ks) => header_keys(ks, out),
            _ => {}
        }
    }
}

/// Replaces header keys the store answered with their UID sets.
/// Replaces header keys the store answered, and `$` (RFC 5182: the saved
/// result, as UIDs), with UID sets.
pub fn substitute(
    key: SearchKey,
    answers: &std::collections::HashMap<(String, String), Vec<u32>>,
    saved: &[u32],
) -> SearchKey {
    let again = |k: SearchKey| substitute(k, answers, saved);
    match key {
        SearchKey::Header(f, n) => match answers.get(&(f.clone(), n.clone())) {
            Some(uids) => SearchKey::UidIn(uids.clone()),
            None => SearchKey::Header(f, n),
        },
        SearchKey::Seq(SequenceSet::Saved) | SearchKey::Uid(SequenceSet::Saved) => SearchKey::UidIn(saved.to_vec()),
        SearchKey::Not(k) => SearchKey::Not(Box::new(again(*k))),
        SearchKey::Or(a, b) => SearchKey::Or(Box::new(again(*a)), Box::new(again(*b))),
        SearchKey::And(ks) => SearchKey::And(ks.into_iter().map(again).collect()),
        other => other,
    }
}

/// Whether any key is MODSEQ: it turns CONDSTORE on, and the reply gives the
/// highest mod-sequence of the matches (RFC 7162 §3.1.5).
pub fn uses_modseq(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::ModSeq(_) => true,
        SearchKey::Not(k) => uses_modseq(std::slice::from_ref(k)),
        SearchKey::Or(a, b) => uses_modseq(std::slice::from_ref(a)) || uses_modseq(std::slice::from_ref(b)),
        SearchKey::And(ks) => uses_modseq(ks),
        _ => false,
    })
}

/// Whether any key needs the stored envelope.
pub fn needs_envelope(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::Header(f, _) => ENVELOPE_FIELDS.contains(&f.as_str()),
        SearchKey::Not(k) => needs_envelope(std::slice::from_ref(k)),
        SearchKey::Or(a, b) => needs_envelope(std::slice::from_ref(a)) || needs_envelope(std::slice::from_ref(b)),
        SearchKey::And(ks) => needs_envelope(ks),
        _ => false,
    })
}

/// Whether any key needs the message's content.
pub fn needs_content(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::Header(f, _) => !ENVELOPE_FIELDS.contains(&f.as_str()),
        SearchKey::Body(_) | SearchKey::Text(_) => true,
        SearchKey::SentBefore(_) | SearchKey::SentOn(_) | SearchKey::SentSince(_) => true,
        SearchKey::Not(k) => needs_content(std::slice::from_ref(k)),
        SearchKey::Or(a, b) => needs_content(std::slice::from_ref(a)) || needs_content(std::slice::from_ref(b)),
        SearchKey::And(ks) => needs_content(ks),
        _ => false,
    })
}

/// One message as SEARCH sees it.
pub struct Candidate<'a> {
    pub seq: u32,
    pub meta: &'a MessageMeta,
    pub largest_seq: u32,
    pub largest_uid: u32,
    /// The whole message, when a key needs it.
    pub raw: Option<&'a [u8]>,
    /// The envelope stored at delivery, when a key needs it.
    pub envelope: Option<&'a caravel_store::mime::Envelope>,
    /// \Recent to this session (always false in IMAP4rev2).
    pub recent: bool,
}

/// Decodes RFC 2047 words in a raw header value.
fn decoded(raw: &str) -> String {
    if !raw.contains("=?") {
        return raw.to_string();
    }
    let h = format!("Subject: {raw}\r\n\r\n");
    MessageParser::default()
        .parse(h.as_bytes())
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_else(|| raw.to_string())
}

fn envelope_values(e: &caravel_store::mime::Envelope, field: &str) -> Vec<String> {
    let addrs = |list: &[caravel_store::mime::EnvelopeAddress]| -> Vec<String> {
        list.iter()
            .map(|a| {
                format!(
                    "{} <{}@{}>",
                    a.name.as_deref().unwrap_or(""),
                    a.mailbox.as_deref().unwrap_or(""),
                    a.host.as_deref().unwrap_or("")
                )
            })
            .collect()
    };
    match field {
        "subject" => e.subject.iter().flat_map(|s| [s.clone(), decoded(s)]).collect(),
        "from" => addrs(&e.from),
        "to" => addrs(&e.to),
        "cc" => addrs(&e.cc),
        "bcc" => addrs(&e.bcc),
        "message-id" => e.message_id.iter().cloned().collect(),
        "in-reply-to" => e.in_reply_to.iter().cloned().collect(),
        _ => Vec::new(),
    }
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

fn header_text(raw: &[u8], field: &str) -> Vec<String> {
    // The top header only: nothing of the body is parsed.
    let Some(msg) = MessageParser::default().parse_headers(raw) else { return vec![] };
    let mut out = Vec::new();
    for h in msg.headers() {
        if h.name.as_str().eq_ignore_ascii_case(field) {
            if let Some(raw_value) = raw.get(h.offset_start as usize..h.offset_end as usize) {
                out.push(String::from_utf8_lossy(raw_value).into_owned());
            }
            match &h.value {
                mail_parser::HeaderValue::Text(t) => out.push(t.to_string()),
                mail_parser::HeaderValue::TextList(l) => out.extend(l.iter().map(|t| t.to_string())),
                mail_parser::HeaderValue::Address(a) => out.push(caravel_store::mime::address_search_text(a)),
                _ => {}
            }
        }
    }
    out
}

fn body_text(raw: &[u8]) -> String {
    // Bounded against hostile nesting (see caravel_store::mime::with_parsed).
    caravel_store::mime::with_parsed(raw, decoded_text).unwrap_or_else(|| String::from_utf8_lossy(raw).into_owned())
}

fn decoded_text(msg: &mail_parser::Message) -> String {
    let mut out = String::new();
    for i in 0..msg.text_body_count() {
        if let Some(t) = msg.body_text(i) {
            out.push_str(&t);
            out.push('\n');
        }
    }
    for i in 0..msg.html_body_count() {
        if let Some(t) = msg.body_html(i) {
            out.push_str(&t);
            out.push('\n');
        }
    }
    for part in msg.attachments() {
        if let Some(name) = part.attachment_name() {
            out.push_str(name);
            out.push('\n');
        }
    }
    out
}

/// For a plain ASCII message with no transfer encoding, the decoded body is
/// its raw body: search that directly instead of parsing the MIME tree.
fn plain_body(raw: &[u8]) -> Option<&[u8]> {
    if !raw.is_ascii() {
        return None;
    }
    let lower_has = |needle: &[u8]| raw.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle));
    // A multipart body holds part headers and boundaries, which BODY must
    // not match: only a single-part message takes the fast path.
    if lower_has(b"base64")
        || lower_has(b"quoted-printable")
        || lower_has(b"=?")
        || lower_has(b"text/html")
        || lower_has(b"multipart/")
        || lower_has(b"message/")
    {
        return None;
    }
    let start = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4).unwrap_or(raw.len());
    Some(&raw[start..])
}

fn body_contains(raw: &[u8], needle: &str) -> bool {
    match plain_body(raw) {
        Some(body) if needle.is_ascii() => {
            let n = needle.as_bytes();
            n.is_empty() || body.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
        }
        _ => contains_ci(&body_text(raw), needle),
    }
}

fn sent_day(raw: &[u8]) -> Option<i64> {
    let msg = MessageParser::default().parse_headers(raw)?;
    let d = msg.date()?;
    // RFC 9051 §6.4.4: the date as written, its time and zone disregarded.
    Some(crate::cursor::days_from_civil(d.year as i64, d.month as i64, d.day as i64))
}

pub fn matches(key: &SearchKey, m: &Candidate) -> bool {
    // RFC 9051 §6.4.4: the internal date's own day, in its own zone.
    let day = (m.meta.internal_date + m.meta.internal_zone as i64 * 60).div_euclid(86400);
    match key {
        SearchKey::All => true,
        SearchKey::Seq(set) => set.contains(m.seq, m.largest_seq),
        SearchKey::Uid(set) => set.contains(m.meta.uid, m.largest_uid),
        SearchKey::Flag(f, on) => m.meta.flags.contains(*f) == *on,
        SearchKey::Keyword(k, on) => m.meta.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) == *on,
        // RFC 3501 §6.4.4: NEW is RECENT UNSEEN; OLD is NOT RECENT.
        SearchKey::Recent => m.recent,
        SearchKey::New => m.recent && !m.meta.flags.contains(Flags::SEEN),
        SearchKey::Old => !m.recent,
        SearchKey::Larger(n) => m.meta.size > *n,
        SearchKey::Smaller(n) => m.meta.size < *n,
        SearchKey::Before(d) => day < *d,
        SearchKey::On(d) => day == *d,
        SearchKey::Since(d) => day >= *d,
        SearchKey::SentBefore(d) => m.raw.and_then(sent_day).is_some_and(|s| s < *d),
        SearchKey::SentOn(d) => m.raw.and_then(sent_day).is_some_and(|s| s == *d),
        SearchKey::SentSince(d) => m.raw.and_then(sent_day).is_some_and(|s| s >= *d),
        SearchKey::Header(field, needle) => {
            let values = match m.envelope {
                Some(e) if ENVELOPE_FIELDS.contains(&field.as_str()) => envelope_values(e, field),
                _ => m.raw.map(|r| header_text(r, field)).unwrap_or_default(),
            };
            // An empty string matches every message that has the field.
            !values.is_empty() && values.iter().any(|v| contains_ci(v, needle))
        }
        SearchKey::Body(needle) => m.raw.is_some_and(|r| body_contains(r, needle)),
        SearchKey::Text(needle) => m.raw.is_some_and(|r| {
            contains_ci(&String::from_utf8_lossy(r), needle) || contains_ci(&body_text(r), needle) || {
                let decoded_subject = header_text(r, "subject").join(" ");
                contains_ci(&decoded_subject, needle)
            }
        }),
        SearchKey::ModSeq(n) => m.meta.modseq >= *n,
        SearchKey::UidIn(uids) => uids.binary_search(&m.meta.uid).is_ok(),
        SearchKey::Not(k) => !matches(k, m),
        SearchKey::Or(a, b) => matches(a, m) || matches(b, m),
        SearchKey::And(keys) => keys.iter().all(|k| matches(k, m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<SearchKey> {
        parse_search(&mut Cursor::new(s.as_bytes())).expect(s).0
    }

    fn meta() -> MessageMeta {
        MessageMeta {
            uid: 7,
            modseq: 3,
            flags: Flags::SEEN,
            keywords: vec!["$Work".into()],
            internal_date: 86400 * 10 + 5,
            internal_zone: 0,
            size: 500,
            blob: String::new(),
            prefix: vec![],
        }
    }

    #[test]
    fn keys_match() {
        let raw = "From: =?UTF-8?B?5p2O5Lyf?= <li@far.test>\r\nSubject: =?GB2312?B?sai827Wl?=\r\nDate: Mon, 12 Jan 1970 10:00:00 +0000\r\n\r\nPlease find the 报价 attached.\r\n".as_bytes();
        let m = meta();
        let cand = Candidate {
            seq: 2,
            meta: &m,
            largest_seq: 5,
            largest_uid: 9,
            raw: Some(raw),
            envelope: None,
            recent: false,
        };
        let all = |s: &str| parse(s).iter().all(|k| matches(k, &cand));
        assert!(all("SEEN UNFLAGGED KEYWORD $work"));
        assert!(all("CHARSET UTF-8 SUBJECT \"报价单\""), "GB2312 subject decoded");
        assert!(all("FROM \"李伟\"") && all("FROM li@far.test"));
        assert!(all("BODY \"报价\"") && all("TEXT attached"));
        assert!(!all("BODY missing"));
        let plain = b"Subject: needle in header\r\n\r\nPlain ASCII Body text\r\n";
        let c2 = Candidate {
            seq: 1,
            meta: &m,
            largest_seq: 1,
            largest_uid: 9,
            raw: Some(plain),
            envelope: None,
            recent: false,
        };
        assert!(parse("BODY \"ascii body\"").iter().all(|k| matches(k, &c2)), "fast path, any case");
        assert!(!parse("BODY needle").iter().all(|k| matches(k, &c2)), "BODY does not look at the header");
        let multi = b"Subject: m\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\nX-Part: hidden\r\n\r\nvisible words\r\n--zz--\r\n";
        let c3 = Candidate { raw: Some(multi), ..c2 };
        assert!(parse("BODY visible").iter().all(|k| matches(k, &c3)));
        assert!(!parse("BODY hidden").iter().all(|k| matches(k, &c3)), "a part's header is not body text");
        assert!(!parse("BODY zz").iter().all(|k| matches(k, &c3)), "nor a boundary");
        assert!(all("2 UID 7 LARGER 100 SMALLER 1000"));
        assert!(all("ON 11-Jan-1970 SENTON 12-Jan-1970 SINCE 1-Jan-1970 BEFORE 12-Jan-1970"));
        assert!(all("OR DELETED SEEN") && all("NOT DELETED") && all("(SEEN NOT FLAGGED)"));
        assert!(all("HEADER Date 1970") && !all("HEADER X-Missing \"\""));
        assert!(parse_search(&mut Cursor::new(b"CHARSET KOI8-R ALL")).is_err());
        let deep = format!("{}ALL{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_search(&mut Cursor::new(deep.as_bytes())).is_err(), "deep nesting refused, no overflow");
        let nots = "NOT ".repeat(10_000) + "ALL";
        assert!(parse_search(&mut Cursor::new(nots.as_bytes())).is_err());
        assert!(needs_envelope(&parse("NOT SUBJECT x")) && !needs_content(&parse("NOT SUBJECT x")));
        assert!(needs_content(&parse("HEADER X-Mailer y")) && !needs_content(&parse("SEEN 1:*")));
        let (env, _) = caravel_store::mime::analyze(raw);
        let by_env = Candidate {
            seq: 2,
            meta: &m,
            largest_seq: 5,
            largest_uid: 9,
            raw: None,
            envelope: Some(&env),
            recent: false,
        };
        assert!(
            parse("SUBJECT \"报价单\" FROM \"李伟\"").iter().all(|k| matches(k, &by_env)),
            "from the envelope alone"
        );
    }
}
