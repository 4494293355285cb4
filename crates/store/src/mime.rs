//! The envelope and MIME structure of a message, computed once at delivery
//! (with mail-parser) and stored beside it, so that IMAP FETCH ENVELOPE,
//! BODYSTRUCTURE and BODY[section] never parse the message again.
//!
//! Offsets are absolute byte positions in the raw message, so a section is a
//! slice of the blob (RFC 9051 §6.4.5 part numbering follows `parts`).

use mail_parser::{Address as MpAddress, Message, MessageParser, MimeHeaders, PartType};
use std::sync::OnceLock;

use crate::safe_parse::{self, Prepared};
use serde::{Deserialize, Serialize};

/// RFC 9051 §7.5.2 ENVELOPE fields. Text fields are the raw header values
/// (unfolded); addresses are split into name, mailbox and host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub date: Option<String>,
    pub subject: Option<String>,
    pub from: Vec<EnvelopeAddress>,
    pub sender: Vec<EnvelopeAddress>,
    pub reply_to: Vec<EnvelopeAddress>,
    pub to: Vec<EnvelopeAddress>,
    pub cc: Vec<EnvelopeAddress>,
    pub bcc: Vec<EnvelopeAddress>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// One address; a group is a start marker (`mailbox` = group name, no host)
/// and an end marker (all `None`), as RFC 9051 §7.5.2 encodes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeAddress {
    pub name: Option<String>,
    /// The obsolete source route (`@relay:` of `<@relay:user@host>`, RFC
    /// 5322 §4.4), the envelope's "adl".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adl: Option<String>,
    pub mailbox: Option<String>,
    pub host: Option<String>,
}

/// One MIME part (RFC 2045/2046) with what BODYSTRUCTURE reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyPart {
    pub media_type: String,
    pub subtype: String,
    pub params: Vec<(String, String)>,
    pub id: Option<String>,
    pub description: Option<String>,
    pub encoding: Option<String>,
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Vec<String>,
    pub location: Option<String>,
    /// Offsets of this part's header, body and end in the raw message.
    pub header_start: u64,
    pub body_start: u64,
    pub end: u64,
    /// Lines of the body (text/* and message/rfc822).
    pub lines: u64,
    pub parts: Vec<BodyPart>,
    /// For message/rfc822: the enclosed message's envelope and structure.
    pub message: Option<Box<(Envelope, BodyPart)>>,
}

impl BodyPart {
    /// Moves every offset `n` bytes later, for header lines placed before the
    /// body this structure was computed on; they belong to the top header.
    pub fn shift(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        fn walk(p: &mut BodyPart, n: u64, top: bool) {
            if !top {
                p.header_start += n;
            }
            p.body_start += n;
            p.end += n;
            p.parts.iter_mut().for_each(|c| walk(c, n, false));
            if let Some(inner) = p.message.as_mut() {
                walk(&mut inner.1, n, false);
            }
        }
        walk(self, n, true);
    }
}

/// Decoded, lowercased header text that SEARCH compares against (subject,
/// and "name <address>" lines for the address fields), stored at delivery
/// so header searches run in the database instead of parsing messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchText {
    pub subject: String,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
}

/// Starts the stored text of every field the message has, so that SEARCH
/// `HEADER name ""` matches exactly the messages that have the field, even an
/// empty one (RFC 3501 §6.4.4); a needle never holds it.
pub const FIELD_PRESENT: char = '\u{1}';

pub fn search_text(raw: &[u8]) -> SearchText {
    let Some(msg) = MessageParser::default().parse_headers(raw) else { return SearchText::default() };
    let present = |name: &str| msg.header_raw(name).is_some();
    let field = |name: &str, a: Option<&MpAddress>| -> String {
        if !present(name) {
            return String::new();
        }
        format!("{FIELD_PRESENT}{}", a.map(address_search_text).unwrap_or_default()).to_lowercase()
    };
    let subject = match msg.header_raw("Subject") {
        Some(raw_subject) => {
            format!("{FIELD_PRESENT}{}\n{}", unfold(raw_subject), msg.subject().unwrap_or_default()).to_lowercase()
        }
        None => String::new(),
    };
    SearchText {
        subject,
        from: field("From", msg.from()),
        to: field("To", msg.to()),
        cc: field("Cc", msg.cc()),
        bcc: field("Bcc", msg.bcc()),
    }
}

/// What an address key (FROM, TO, CC, BCC) matches (RFC 3501 §6.4.4): a
/// `name <mailbox@host>` line per address, so the display name, the mailbox
/// and the domain all match, and the name of each group (`team:;` has no
/// address, and `TO team` still finds it).
pub fn address_search_text(a: &MpAddress) -> String {
    let line =
        |x: &mail_parser::Addr| format!("{} <{}>", x.name.as_deref().unwrap_or(""), x.address.as_deref().unwrap_or(""));
    let mut lines: Vec<String> = Vec::new();
    match a {
        MpAddress::List(list) => lines.extend(list.iter().filter(|x| is_address(x)).map(line)),
        MpAddress::Group(groups) => {
            for g in groups {
                if let Some(name) = &g.name {
                    lines.push(format!("{name}:"));
                }
                lines.extend(g.addresses.iter().filter(|x| is_address(x)).map(line));
            }
        }
    }
    lines.join("\n")
}

/// Bare LF becomes CRLF, as SMTP delivers and as IMAP sizes and POP3
/// dot-stuffing count; used wherever a message enters other than by SMTP
/// (import, IMAP APPEND). Unchanged input is returned without copying.
pub fn to_crlf(data: Vec<u8>) -> Vec<u8> {
    if !data.iter().enumerate().any(|(i, &b)| b == b'\n' && (i == 0 || data[i - 1] != b'\r')) {
        return data;
    }
    let mut out = Vec::with_capacity(data.len() + data.len() / 40);
    let mut prev = 0u8;
    for b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// The deepest MIME nesting the store keeps as structure. A part nested
/// deeper is kept as an opaque `application/octet-stream` leaf, so no walk
/// over a stored structure recurses further, and the stored JSON (two levels
/// per MIME level) stays inside serde_json's recursion limit of 128.
/// `[limits] max_mime_depth` (at most this) refuses deeper messages earlier.
pub const MAX_MIME_DEPTH: usize = 60;

/// How deeply a message's MIME parts nest: 0 for a single-part message, 1
/// for a multipart of single parts; each multipart and each message/rfc822
/// adds a level. Walked with an explicit stack, never by recursion.
pub fn nesting_depth(raw: &[u8]) -> usize {
    with_parsed(raw, message_depth).unwrap_or(0)
}

pub fn message_depth(msg: &Message) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Message, usize, usize)> = vec![(msg, 0, 0)];
    while let Some((m, index, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        match m.parts.get(index).map(|p| &p.body) {
            Some(PartType::Multipart(children)) => {
                // mail-parser numbers parts in document order, so a child
                // always comes after its parent: no cycle can form.
                stack.extend(children.iter().filter(|&&c| c as usize > index).map(|&c| (m, c as usize, depth + 1)))
            }
            Some(PartType::Message(inner)) => stack.push((inner, 0, depth + 1)),
            _ => {}
        }
    }
    deepest
}

/// Base64 as MIME has it (RFC 2045 §6.8): characters outside the alphabet
/// (line breaks, spaces, stray bytes) are ignored, and `=` ends the data.
pub fn decode_base64(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Quoted-printable decoding (RFC 2045 §6.7): whitespace at the end of a
/// line was added in transport and goes (rule 3); `=` ending a line, after
/// any such whitespace, is a soft break and joins it to the next (rule 5);
/// `=XX` is a byte; anything else is kept as it is. Hard line breaks keep
/// their form.
pub fn decode_quoted_printable(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    while !rest.is_empty() {
        let (line, eol, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let end = if i > 0 && rest[i - 1] == b'\r' { i - 1 } else { i };
                (&rest[..end], &rest[end..=i], &rest[i + 1..])
            }
            None => (rest, &b""[..], &b""[..]),
        };
        let mut line = line;
        while let [head @ .., b' ' | b'\t'] = line {
            line = head;
        }
        let soft = line.last() == Some(&b'=');
        if soft {
            line = &line[..line.len() - 1];
        }
        let mut i = 0;
        while i < line.len() {
            let hex = (line[i] == b'=')
                .then(|| line.get(i + 1..i + 3))
                .flatten()
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => {
                    out.push(line[i]);
                    i += 1;
                }
            }
        }
        if !soft {
            out.extend_from_slice(eol);
        }
        rest = next;
    }
    out
}

/// Parses `raw` with mail-parser and hands the message to `f`, safe against
/// hostile nesting (see [`crate::safe_parse`]); the result is dropped without
/// recursion. `None` when there is not even a header.
pub fn with_parsed<R>(raw: &[u8], f: impl FnOnce(&Message) -> R) -> Option<R> {
    with_prepared(raw, |msg, _| f(msg))
}

fn with_prepared<R>(raw: &[u8], f: impl FnOnce(&Message, &Prepared) -> R) -> Option<R> {
    let prepared = safe_parse::prepare(raw);
    let msg = parser().parse(prepared.bytes.as_ref())?;
    let out = f(&msg, &prepared);
    drop_flat(msg);
    Some(out)
}

/// One header field parsed as a message's fields are (`name: value`): for
/// a value read again in its charset (the spam filter's text of a raw GBK
/// field). `None` when it does not parse.
pub fn parse_field(name: &str, value: &str) -> Option<mail_parser::HeaderValue<'static>> {
    let text = format!("{name}:{}\r\n\r\n", value.trim_end_matches(['\r', '\n']));
    let msg = parser().parse(text.as_bytes())?;
    let value = msg.parts.first()?.headers.first()?.value.clone();
    Some(value.into_owned())
}

/// mail-parser's default parsing of every field, except `Received:`, kept
/// raw: nothing reads its parsed form (the spam filter reads the raw
/// field), and parsing it was a tenth of the time to classify a message.
fn parser() -> &'static MessageParser {
    static PARSER: OnceLock<MessageParser> = OnceLock::new();
    PARSER.get_or_init(|| {
        use mail_parser::HeaderName as H;
        let mut p =
            MessageParser::new().with_mime_headers().with_date_headers().with_address_headers().with_message_ids();
        p = p.header_id(H::ReturnPath).header_text(H::Subject).header_text(H::Comments);
        p = p.header_comma_separated(H::Keywords).header_comma_separated(H::ContentLanguage);
        for list in [H::ListArchive, H::ListHelp, H::ListId, H::ListOwner, H::ListPost, H::ListSubscribe] {
            p = p.header_address(list);
        }
        // Any other field (Received: among them) is raw.
        p.header_address(H::ListUnsubscribe)
    })
}

/// Drops a parsed message without recursing once per nested message/rfc822
/// level (the derived drop would, and 2,000 levels overflow a thread's stack):
/// enclosed messages are moved out onto a list first.
pub(crate) fn drop_flat(msg: Message<'_>) {
    let mut pending = vec![msg];
    let mut done = Vec::new();
    while let Some(mut m) = pending.pop() {
        for p in m.parts.iter_mut() {
            if let PartType::Message(_) = p.body {
                if let PartType::Message(inner) = std::mem::take(&mut p.body) {
                    pending.push(inner);
                }
            }
        }
        done.push(m);
    }
}

/// Parses a raw message into its envelope and structure, nesting at most
/// [`MAX_MIME_DEPTH`] levels.
pub fn analyze(raw: &[u8]) -> (Envelope, BodyPart) {
    analyze_limited(raw, MAX_MIME_DEPTH)
}

/// As [`analyze`], with parts below `max_depth` levels kept as opaque leaves.
pub fn analyze_limited(raw: &[u8], max_depth: usize) -> (Envelope, BodyPart) {
    let max_depth = max_depth.min(MAX_MIME_DEPTH);
    match with_prepared(raw, |msg, prepared| (envelope(msg), part(msg, 0, raw, 0, max_depth, prepared))) {
        Some(analyzed) => analyzed,
        // Not even a header: one text/plain part covering everything.
        None => (
            Envelope::default(),
            BodyPart {
                media_type: "text".into(),
                subtype: "plain".into(),
                params: vec![("charset".into(), "us-ascii".into())],
                end: raw.len() as u64,
                lines: count_lines(raw),
                ..Default::default()
            },
        ),
    }
}

fn envelope(msg: &Message) -> Envelope {
    let raw_text = |name: &str| msg.header_raw(name).map(unfold).filter(|s| !s.is_empty());
    let addrs = |v: Option<&MpAddress>| v.map(addresses).unwrap_or_default();
    let from = addrs(msg.from());
    // RFC 3501 §7.4.2: sender and reply-to, absent or present but empty,
    // are from.
    let or_from = |list: Vec<EnvelopeAddress>| if list.is_empty() { from.clone() } else { list };
    let sender = or_from(addrs(msg.sender()));
    let reply_to = or_from(addrs(msg.reply_to()));
    Envelope {
        date: raw_text("Date"),
        subject: raw_text("Subject"),
        from,
        sender,
        reply_to,
        to: addrs(msg.to()),
        cc: addrs(msg.cc()),
        bcc: addrs(msg.bcc()),
        in_reply_to: raw_text("In-Reply-To"),
        message_id: raw_text("Message-ID"),
    }
}

fn unfold(s: &str) -> String {
    s.replace("\r\n", "").replace('\n', "").trim().to_string()
}

/// Whether mail-parser's entry is an address at all: `group: (comment) ;`
/// gives an entry with the comment as its name and no address, which is not
/// a member (RFC 5322 §3.4), and must not become one in ENVELOPE or SEARCH.
fn is_address(a: &mail_parser::Addr) -> bool {
    a.address.as_deref().is_some_and(|x| !x.trim().is_empty())
}

fn addresses(a: &MpAddress) -> Vec<EnvelopeAddress> {
    let one = |addr: &mail_parser::Addr| {
        let mut full = addr.address.as_deref().unwrap_or("").trim();
        let mut adl = None;
        if let Some((route, rest)) = full.strip_prefix('@').and_then(|f| f.split_once(':')) {
            adl = Some(format!("@{route}"));
            full = rest;
        }
        // A NIL host would read as a group marker (RFC 9051 §7.5.2): an
        // address without a domain gets a placeholder, as Dovecot does.
        let (mailbox, host) = match full.rfind('@') {
            Some(i) => (Some(full[..i].to_string()), Some(full[i + 1..].to_string())),
            None => (Some(full.to_string()), Some("MISSING_DOMAIN".to_string())),
        };
        EnvelopeAddress { name: addr.name.as_ref().map(|n| n.to_string()), adl, mailbox, host }
    };
    match a {
        MpAddress::List(list) => list.iter().filter(|x| is_address(x)).map(one).collect(),
        MpAddress::Group(groups) => {
            let mut out = Vec::new();
            for g in groups {
                let members = g.addresses.iter().filter(|x| is_address(x)).map(one);
                match &g.name {
                    Some(name) => {
                        out.push(EnvelopeAddress { mailbox: Some(name.to_string()), ..Default::default() });
                        out.extend(members);
                        out.push(EnvelopeAddress::default());
                    }
                    None => out.extend(members),
                }
            }
            out
        }
    }
}

/// `base` shifts offsets of a nested message (mail-parser counts them from the
/// start of the enclosed message). `levels` is how many more levels of
/// nesting may follow; a container with none left becomes an opaque leaf.
/// The recursion is bounded by `levels` (at most [`MAX_MIME_DEPTH`]).
fn part(msg: &Message, index: usize, raw: &[u8], base: u64, levels: usize, prepared: &Prepared) -> BodyPart {
    let Some(p) = msg.parts.get(index) else {
        return BodyPart::default();
    };
    let (media_type, subtype, params) = match p.content_type() {
        Some(ct) => (
            ct.c_type.to_ascii_lowercase(),
            ct.c_subtype.as_deref().unwrap_or("").to_ascii_lowercase(),
            ct.attributes
                .as_ref()
                .map(|a| a.iter().map(|x| (x.name.to_string(), x.value.to_string())).collect())
                .unwrap_or_default(),
        ),
        None => default_type(&p.body),
    };
    let (media_type, subtype, mut params) = (media_type, subtype, params);
    // RFC 2045 §5.2: a text part without a charset is us-ascii.
    if media_type == "text" && !params.iter().any(|(k, _)| k.eq_ignore_ascii_case("charset")) {
        params.push(("charset".into(), "us-ascii".into()));
    }
    // On malformed input mail-parser's offsets can run past the message or
    // out of order (found by fuzzing): clamp them, so that every section is
    // a valid slice of the message.
    let len = raw.len() as u64;
    let header_start = (base + p.offset_header as u64).min(len);
    let body_start = (base + p.offset_body as u64).clamp(header_start, len);
    let end = (base + p.offset_end as u64).clamp(body_start, len);
    let body_bytes = raw.get(body_start as usize..end as usize).unwrap_or_default();
    let mut out = BodyPart {
        media_type,
        subtype,
        params,
        id: p.content_id().map(|s| format!("<{s}>")),
        description: p.content_description().map(str::to_string),
        encoding: p
            .content_transfer_encoding()
            .map(|s| s.to_ascii_lowercase())
            .or_else(|| prepared.renamed_encoding(p, raw)),
        disposition: p.content_disposition().map(|d| {
            let params = d
                .attributes
                .as_ref()
                .map(|a| a.iter().map(|x| (x.name.to_string(), x.value.to_string())).collect())
                .unwrap_or_default();
            (d.c_type.to_ascii_lowercase(), params)
        }),
        language: p
            .content_language()
            .as_text_list()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
        location: p.content_location().map(str::to_string),
        header_start,
        body_start,
        end,
        lines: count_lines(body_bytes),
        parts: Vec::new(),
        message: None,
    };
    if prepared.retyped(p) {
        // An enclosed message sent base64 or quoted-printable (RFC 2046
        // §5.2.1 forbids it): one opaque part, as mail-parser was told.
        opaque(&mut out);
        return out;
    }
    match &p.body {
        PartType::Multipart(_) | PartType::Message(_) if levels == 0 => opaque(&mut out),
        PartType::Multipart(children) => {
            // Children come after their parent in document order; anything
            // else would be a cycle.
            let children = children.iter().filter(|&&c| c as usize > index);
            out.parts = children.map(|&c| part(msg, c as usize, raw, base, levels - 1, prepared)).collect();
        }
        PartType::Message(inner) => {
            let env = envelope(inner);
            // mail-parser gives nested parts' offsets in the outer message already.
            let body = part(inner, 0, raw, base, levels - 1, prepared);
            out.message = Some(Box::new((env, body)));
        }
        _ => {}
    }
    out
}

/// A container too deep to describe: its body is one opaque leaf, still
/// readable as BODY[section] and as part of the whole message.
fn opaque(p: &mut BodyPart) {
    p.media_type = "application".into();
    p.subtype = "octet-stream".into();
    p.params.clear();
    p.parts.clear();
    p.message = None;
}

fn default_type(body: &PartType) -> (String, String, Vec<(String, String)>) {
    // RFC 2045 §5.2: no Content-Type means text/plain; charset=us-ascii.
    match body {
        PartType::Message(_) => ("message".into(), "rfc822".into(), vec![]),
        PartType::Binary(_) | PartType::InlineBinary(_) => ("application".into(), "octet-stream".into(), vec![]),
        _ => ("text".into(), "plain".into(), vec![("charset".into(), "us-ascii".into())]),
    }
}

fn count_lines(b: &[u8]) -> u64 {
    let n = b.iter().filter(|&&c| c == b'\n').count() as u64;
    if b.last().is_some_and(|&c| c != b'\n') {
        n + 1
    } else {
        n
    }
}

/// Appends the message (or its header and first `body_lines` lines) as the
/// wire form POP3 (RFC 1939 §3) and SMTP DATA (RFC 5321 §4.5.2) share: CRLF
/// line endings (a bare LF becomes CRLF), a leading dot doubled, and the
/// final `.` line.
pub fn dot_stuff(raw: &[u8], body_lines: Option<usize>, out: &mut Vec<u8>) {
    let mut in_body = false;
    let mut body_count = 0usize;
    let mut rest = raw;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if in_body {
            if let Some(max) = body_lines {
                if body_count >= max {
                    break;
                }
            }
            body_count += 1;
        }
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        if !in_body && line.is_empty() {
            in_body = true;
        }
        rest = next;
    }
    out.extend_from_slice(b".\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parser()` reads every field as mail-parser's default does, except
    /// `Received:` (raw), on real mail of every shape the repository has.
    #[test]
    fn the_parser_differs_from_the_default_only_in_received() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for dir in [
            "filter/tests/corpus",
            "filter/tests/golden",
            "caravel/tests/data/spam-sample/ham",
            "personal/tests/golden",
        ] {
            for e in std::fs::read_dir(root.join(dir)).expect("test mail") {
                files.push(e.expect("entry").path());
            }
        }
        let (mut fields, mut received) = (0, 0);
        for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "eml")) {
            let raw = std::fs::read(f).expect("read");
            let (Some(ours), Some(theirs)) = (parser().parse(&raw), MessageParser::default().parse(&raw)) else {
                continue;
            };
            assert_eq!(ours.parts.len(), theirs.parts.len(), "{}", f.display());
            for (a, b) in ours.parts.iter().zip(&theirs.parts) {
                assert_eq!(a.headers.len(), b.headers.len(), "{}", f.display());
                for (x, y) in a.headers.iter().zip(&b.headers) {
                    if x.name == mail_parser::HeaderName::Received {
                        received += 1;
                        assert!(matches!(x.value, mail_parser::HeaderValue::Text(_)), "raw");
                        continue;
                    }
                    fields += 1;
                    assert_eq!(x, y, "{}", f.display());
                }
            }
        }
        assert!(fields > 1000 && received > 100, "{fields} fields, {received} Received");
    }

    #[test]
    fn base64_is_decoded_as_mime_has_it() {
        assert_eq!(decode_base64(b"aGVs\r\nbG8gd29y\r\nbGQ=\r\n"), b"hello world");
        assert_eq!(decode_base64(b"  aGVs    \r\n bG8g  \r\n   d29y  \t \r\n    bGQ= \r\n"), b"hello world");
        assert_eq!(decode_base64(b"aGVsbG8"), b"hello", "no padding");
        assert_eq!(decode_base64(b"aG!Vs*bG8="), b"hello", "stray bytes ignored");
        assert_eq!(decode_base64(b"aGk=ignored"), b"hi", "= ends the data");
    }

    #[test]
    fn quoted_printable_is_decoded_for_binary() {
        assert_eq!(decode_quoted_printable(b"caf=C3=A9 =\r\nend"), "caf\u{e9} end".as_bytes());
        assert_eq!(decode_quoted_printable(b"=ZZ=4"), b"=ZZ=4");
        // Transport padding at line ends goes; `=` after it is a soft break.
        assert_eq!(decode_quoted_printable(b"foo \t\r\nbar=  \r\nbaz\tqux\r\n"), b"foo\r\nbarbaz\tqux\r\n");
        assert_eq!(decode_quoted_printable(b"a=20\r\nb=09\nc=\n"), b"a \r\nb\t\nc");
        assert_eq!(decode_quoted_printable(b"tail  "), b"tail");
        assert_eq!(decode_quoted_printable(b"=+A=-1"), b"=+A=-1", "two hex digits, no sign");
    }

    const MULTI: &[u8] = b"From: \"Ana Lopez\" <ana@example.com>\r\nTo: team: bo@example.org, cy@example.org;\r\nSubject: =?UTF-8?Q?Cotizaci=C3=B3n?=\r\nMessage-ID: <m1@example.com>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\nthere\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@example.net\r\nSubject: inner\r\n\r\ninner body\r\n--b1--\r\n";

    #[test]
    fn envelope_keeps_raw_subject_and_splits_addresses() {
        let (env, _) = analyze(MULTI);
        assert_eq!(env.subject.as_deref(), Some("=?UTF-8?Q?Cotizaci=C3=B3n?="));
        assert_eq!(env.message_id.as_deref(), Some("<m1@example.com>"));
        assert_eq!(env.from[0].name.as_deref(), Some("Ana Lopez"));
        assert_eq!(env.from[0].mailbox.as_deref(), Some("ana"));
        assert_eq!(env.from[0].host.as_deref(), Some("example.com"));
        assert_eq!(env.sender, env.from);
        // group start, two members, group end
        assert_eq!(env.to.len(), 4);
        assert_eq!(env.to[0].mailbox.as_deref(), Some("team"));
        assert_eq!(env.to[3], EnvelopeAddress::default());
    }

    #[test]
    fn structure_offsets_slice_the_raw_message() {
        let (_, body) = analyze(MULTI);
        assert_eq!((body.media_type.as_str(), body.subtype.as_str()), ("multipart", "mixed"));
        assert_eq!(body.parts.len(), 2);
        let text = &body.parts[0];
        assert_eq!(&MULTI[text.body_start as usize..text.end as usize], b"Hello\r\nthere");
        assert_eq!(text.params, vec![("charset".to_string(), "utf-8".to_string())]);
        let nested = &body.parts[1];
        assert_eq!(nested.subtype, "rfc822");
        let (inner_env, inner_body) = nested.message.as_deref().expect("nested message");
        assert_eq!(inner_env.subject.as_deref(), Some("inner"));
        assert_eq!(&MULTI[inner_body.body_start as usize..inner_body.end as usize], b"inner body");
    }

    /// Arbitrary bytes (mutations of real messages) never panic, and every
    /// offset stays inside the message.
    #[test]
    fn arbitrary_input_is_analyzed_without_panic() {
        let mut next = caravel_testkit::xorshift(0x2545_f491_4f6c_dd1d);
        fn check(part: &BodyPart, len: u64) {
            assert!(part.header_start <= part.body_start && part.body_start <= part.end && part.end <= len, "{part:?}");
            part.parts.iter().for_each(|p| check(p, len));
            if let Some(inner) = &part.message {
                check(&inner.1, len);
            }
        }
        for round in 0..3000 {
            let mut input = MULTI.to_vec();
            for _ in 0..(1 + next() % 16) {
                let at = (next() as usize) % input.len().max(1);
                match next() % 4 {
                    0 => input[at] = next() as u8,
                    1 => input.insert(at, b"\r\n-:;=\"<>"[(next() % 9) as usize]),
                    2 => {
                        input.remove(at);
                    }
                    _ => input.truncate(at),
                }
                if input.is_empty() {
                    break;
                }
            }
            let (_, body) = analyze(&input);
            check(&body, input.len() as u64);
            assert!(round < 3000);
        }
    }

    /// Runs `f` on a thread with a smaller stack than a tokio worker's
    /// (2 MiB), so a recursion per level would overflow here first.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let t = std::thread::Builder::new().stack_size(1 << 20).spawn(f).expect("thread");
        t.join().expect("no stack overflow or panic")
    }

    fn depth_of(part: &BodyPart) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(part, 0)];
        while let Some((p, d)) = stack.pop() {
            deepest = deepest.max(d);
            stack.extend(p.parts.iter().map(|c| (c, d + 1)));
            if let Some(inner) = &p.message {
                stack.push((&inner.1, d + 1));
            }
        }
        deepest
    }

    /// Issue 12: 1,000 multipart levels (the 68 KB message), 2,000 chained
    /// message/rfc822 levels and 1,000 alternating levels overflowed a
    /// worker's stack. Each is measured and analyzed on a 1 MiB stack, its
    /// stored structure stops at MAX_MIME_DEPTH, and it still reads back.
    #[test]
    fn hostile_nesting_is_bounded_without_recursion() {
        use caravel_testkit::{nested_message, Nesting};
        for (kind, levels) in [(Nesting::Multipart, 1000), (Nesting::Message, 2000), (Nesting::Alternating, 1000)] {
            let raw = nested_message(kind, levels, "a@x.test", "b@y.test");
            if kind == Nesting::Multipart {
                assert!((60_000..75_000).contains(&raw.len()), "the 68 KB message: {}", raw.len());
            }
            let (depth, body, json) = on_small_stack(move || {
                let depth = nesting_depth(&raw);
                let (_, body) = analyze(&raw);
                let json = serde_json::to_string(&body).expect("serializes");
                (depth, body, json)
            });
            assert_eq!(depth, levels, "{kind:?}");
            assert_eq!(depth_of(&body), MAX_MIME_DEPTH, "{kind:?}");
            let back: BodyPart = serde_json::from_str(&json).expect("the stored structure reads back");
            assert_eq!(back, body);
        }
    }

    /// A chain of 3,000 enclosed messages and 1 MB of padding, sent base64
    /// inside a message/rfc822 part (mail-parser alone would recurse 3,000
    /// levels and copy the megabyte at each: 3 GB), in every disguise found
    /// in review: plain, a headerless multipart/digest child, a boundary
    /// repeated mid-line, an encoded-word encoding value, a mangled field
    /// name. Each is analyzed on a small stack; the part is one opaque leaf
    /// and its siblings are all still there.
    #[test]
    fn encoded_enclosed_messages_are_never_parsed_by_recursion() {
        let mut chain = caravel_testkit::nested_message(caravel_testkit::Nesting::Message, 3000, "a@x", "b@y");
        chain.extend(std::iter::repeat_n(b'x', 1 << 20));
        let b64 = String::from_utf8(caravel_testkit::base64_lines(&chain)).expect("ascii");
        let pdf = "--e\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n";
        let cases = [
            format!("Content-Type: multipart/mixed; boundary=e\r\n\r\n--e\r\nContent-Type: text/plain\r\n\r\nsee\r\n--e\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}{pdf}--e--\r\n"),
            format!("Content-Type: multipart/digest; boundary=e\r\n\r\n--e\r\n\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}{pdf}--e--\r\n"),
            format!("Content-Type: multipart/mixed; boundary=e\r\n\r\nx--e\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}{pdf}--e--\r\n"),
            format!("Content-Type: multipart/mixed; boundary=e\r\n\r\n--e\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: =?us-ascii?Q?base64?=\r\n\r\n{b64}{pdf}--e--\r\n"),
            format!("Content-Type: multipart/mixed; boundary=e\r\n\r\n--e\r\nContent-Type: message/rfc822\r\n:Content-Transfer- Encoding: base64\r\n\r\n{b64}{pdf}--e--\r\n"),
            format!("Content -Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}"),
            // Found in a second review: a header on the boundary line, a
            // second encoding field (mail-parser reads the last), a field
            // after a bare CR.
            format!("Content-Type: multipart/mixed; boundary=e\r\n\r\n--eContent-Transfer-Encoding: base64\r\nContent-Type: message/rfc822\r\n\r\n{b64}--e--\r\n"),
            format!("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}"),
            format!("Content-Type: message/rfc822\r\n\rContent-Transfer-Encoding: base64\r\n\r\n{b64}"),
        ];
        for (i, case) in cases.into_iter().enumerate() {
            let raw = case.into_bytes();
            let (depth, body) = on_small_stack(move || (nesting_depth(&raw), analyze(&raw).1));
            assert!(depth <= 3, "case {i}: the encoded text is not a chain of messages: {depth}");
            let mut all = vec![&body];
            let mut k = 0;
            while k < all.len() {
                let p = all[k];
                all.extend(p.parts.iter());
                all.extend(p.message.as_ref().map(|m| &m.1));
                k += 1;
            }
            let encoded =
                |p: &&BodyPart| p.encoding.as_deref().is_some_and(|e| e.contains("base64")) && p.subtype != "pdf";
            let leaf =
                all.iter().find(|p| encoded(p)).unwrap_or_else(|| panic!("case {i}: the encoded part: {body:?}"));
            assert_eq!((leaf.media_type.as_str(), leaf.message.is_none()), ("application", true), "case {i}");
            if i < 5 {
                assert!(body.parts.iter().any(|p| p.subtype == "pdf"), "case {i}: the sibling after it: {body:?}");
            }
        }
        // Ordinary base64 parts keep their encoding and are decoded for search.
        let pdf = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8gd29ybGQ=\r\n--b--\r\n";
        let (_, body) = analyze(pdf);
        assert_eq!(body.parts[0].encoding.as_deref(), Some("base64"));
        let text = with_parsed(pdf, |m| m.body_text(0).map(|t| t.to_string())).flatten();
        assert_eq!(text.as_deref(), Some("Hello world"));
    }

    #[test]
    fn a_container_at_the_limit_becomes_an_opaque_leaf() {
        use caravel_testkit::{nested_message, Nesting};
        let raw = nested_message(Nesting::Multipart, 5, "a@x.test", "b@y.test");
        assert_eq!(nesting_depth(&raw), 5);
        let (_, full) = analyze_limited(&raw, 5);
        assert_eq!(depth_of(&full), 5);
        let (_, cut) = analyze_limited(&raw, 3);
        assert_eq!(depth_of(&cut), 3);
        let mut leaf = &cut;
        while let Some(child) = leaf.parts.first() {
            leaf = child;
        }
        assert_eq!((leaf.media_type.as_str(), leaf.subtype.as_str()), ("application", "octet-stream"));
        // The opaque leaf still slices the deeper parts' bytes.
        let inner = &raw[leaf.body_start as usize..leaf.end as usize];
        assert!(inner.windows(10).any(|w| w == b"the bottom"));
        assert_eq!(nesting_depth(MULTI), 2);
        assert_eq!(nesting_depth(b"Subject: plain\r\n\r\nbody\r\n"), 0);
    }

    /// Every input a fuzz target once failed on (fuzz/regressions/mime)
    /// keeps the invariants the target checks.
    #[test]
    fn fuzz_regressions_hold() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/mime");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("fuzz/regressions/mime") {
            let raw = std::fs::read(entry.expect("entry").path()).expect("read");
            let _ = nesting_depth(&raw);
            let (_, body) = analyze(&raw);
            let mut stack = vec![(&body, 0usize)];
            while let Some((p, depth)) = stack.pop() {
                assert!(depth <= MAX_MIME_DEPTH);
                assert!(p.header_start <= p.body_start && p.body_start <= p.end && p.end <= raw.len() as u64, "{p:?}");
                stack.extend(p.parts.iter().map(|c| (c, depth + 1)));
                if let Some(inner) = &p.message {
                    stack.push((&inner.1, depth + 1));
                }
            }
            let json = serde_json::to_string(&body).expect("json");
            assert_eq!(serde_json::from_str::<BodyPart>(&json).expect("reads back"), body);
            n += 1;
        }
        assert!(n >= 1);
    }

    /// RFC 3501 §7.4.2: a group is a start marker (NIL NIL name NIL), its
    /// members and an end marker; a comment in a group is no member.
    #[test]
    fn groups_in_envelopes_and_search_text() {
        let marker = |m: &str| EnvelopeAddress { mailbox: Some(m.into()), ..Default::default() };
        let end = EnvelopeAddress::default();
        let to = |field: &str| {
            let raw = format!("From: a@b.test\r\nTo: {field}\r\n\r\nbody\r\n");
            (analyze(raw.as_bytes()).0.to, search_text(raw.as_bytes()).to)
        };
        for field in ["groupname:;", "groupname: (comment) ;", "groupname: ;"] {
            let (env, text) = to(field);
            assert_eq!(env, vec![marker("groupname"), end.clone()], "{field}");
            assert_eq!(text, format!("{FIELD_PRESENT}groupname:"), "{field}");
        }
        let (env, text) = to("Team: \"Ana Lopez\" <ana@far.test>;, li@far.test");
        let ana = EnvelopeAddress {
            name: Some("Ana Lopez".into()),
            mailbox: Some("ana".into()),
            host: Some("far.test".into()),
            ..Default::default()
        };
        let li = EnvelopeAddress { mailbox: Some("li".into()), host: Some("far.test".into()), ..Default::default() };
        assert_eq!(env, vec![marker("Team"), ana, end, li]);
        assert_eq!(text, format!("{FIELD_PRESENT}team:\nana lopez <ana@far.test>\n <li@far.test>"));
        assert_eq!(to("(only a comment)").0, vec![], "no address invented");
        let absent = search_text(b"From: a@b.test\r\n\r\nbody\r\n");
        assert!(absent.subject.is_empty() && absent.to.is_empty(), "no field, no text: {absent:?}");
        let empty = search_text(b"From: a@b.test\r\nSubject:\r\nTo:\r\n\r\nbody\r\n");
        assert!(empty.subject.starts_with(FIELD_PRESENT) && empty.to.starts_with(FIELD_PRESENT), "{empty:?}");
    }

    #[test]
    fn headerless_input_is_one_text_part() {
        let (_, body) = analyze(b"");
        assert_eq!(body.media_type, "text");
    }
}
