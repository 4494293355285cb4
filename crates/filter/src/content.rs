//! The message as the spam stages read it, parsed once: the decoded
//! subject, body text (text parts and the visible text of HTML parts, every
//! charset converted to Unicode), header fields, attachment names and link
//! hosts, all in the folded form of [`crate::normalize`]. Work is bounded:
//! at most [`MAX_TEXT`] bytes of text and [`MAX_PARTS`] parts are read.

use std::borrow::Cow;
use std::sync::Arc;

use caravel_antivirus::containers::{message_parts, Budget, Limits};
use caravel_antivirus::{Child, Heuristic};

use mail_parser::{HeaderValue, Message, MimeHeaders, PartType};

use crate::charset::{offsets_of_attached, Unlabelled};
use crate::html::html_to_text;
use crate::normalize::fold;

/// Body text read per message: spam says what it has to say early, and
/// reading more costs every message (SpamAssassin and rspamd cut too).
pub const MAX_TEXT: usize = 64 * 1024;
/// MIME parts looked at per message.
pub const MAX_PARTS: usize = 256;
/// Header fields kept per message.
const MAX_FIELDS: usize = 200;
/// Bytes of one header field's value read (folding lets a field be
/// megabytes long).
const MAX_FIELD: usize = 4096;

#[derive(Debug, Default, Clone)]
pub struct Content {
    pub subject: String,
    pub body: String,
    /// (lowercase field name, folded decoded value), in message order;
    /// the fields this server adds on delivery are left out.
    pub headers: Vec<(String, String)>,
    pub attachments: Vec<String>,
    /// Hosts of links in text and HTML, lowercase.
    pub link_hosts: Vec<String>,
    /// The From: address and display name.
    pub from_address: String,
    pub from_name: String,
    pub text_parts: usize,
    pub html_parts: usize,
    pub images: usize,
    /// Lowercase charsets of text parts.
    pub charsets: Vec<String>,
    /// The top-level Content-Type, e.g. "multipart/alternative".
    pub content_type: String,
    /// HTML tag and attribute names (see [`crate::html::HtmlText::markup`]).
    pub markup: Vec<String>,
    /// Text parts read again in their charset, as a second reading next
    /// to `body` (8-bit text without a charset: see [`crate::charset`]),
    /// folded; empty for mail that is UTF-8 or labelled.
    pub again: String,
    /// Host names and addresses in the `Received:` fields, newest first.
    pub relays: Vec<String>,
    /// (lowercase type/subtype, transfer encoding) of each part.
    pub parts: Vec<String>,
    /// How deeply the MIME parts nest (see `caravel_store::mime::nesting_depth`).
    pub depth: usize,
    /// The subject as written (decoded, not folded), for the quarantine.
    pub subject_text: String,
    /// Every decoded part, for the virus scanner (shared: copies of the
    /// content do not copy them).
    pub files: Arc<Vec<Child>>,
    /// Parts left out of `files` (too many, too large).
    pub file_notes: Vec<(Heuristic, String)>,
}

/// Fields this server (or the SMTP session) puts on a message; a message
/// learnt from a mailbox has them, one classified at DATA does not.
pub fn added_here(name: &str) -> bool {
    matches!(name, "return-path" | "delivered-to" | "authentication-results")
        || name.starts_with("x-spam-")
        || name.starts_with("x-virus-")
}

/// This server's own `Received:` field (received.rs in the SMTP crate
/// writes "by HOST (Caravel)"): a stored message has it right below the
/// fields added at delivery, one classified at DATA does not, so learning
/// skips such a field there (and only there).
pub fn our_received(field: &[u8]) -> bool {
    field.windows(10).any(|w| w == b" (Caravel)")
}

impl Content {
    /// The text of a message (for the spam filter's training and
    /// classifying: no decoded files).
    pub fn parse(raw: &[u8]) -> Content {
        Content::parse_inner(raw, None)
    }

    /// The text and every decoded part (`files`, for the virus scanner),
    /// within `limits`.
    pub fn parse_with_files(raw: &[u8], limits: &Limits) -> Content {
        Content::parse_inner(raw, Some(limits))
    }

    fn parse_inner(raw: &[u8], limits: Option<&Limits>) -> Content {
        // A leading mbox "From " line is not a header field.
        let raw = match raw.starts_with(b"From ") {
            true => raw.iter().position(|&b| b == b'\n').map_or(&raw[..0], |p| &raw[p + 1..]),
            false => raw,
        };
        caravel_store::mime::with_parsed(raw, |m| read(m, limits)).unwrap_or_default()
    }

    /// Everything `where = any` searches, one string per place.
    pub fn places(&self) -> impl Iterator<Item = &str> {
        [self.subject.as_str(), self.body.as_str(), self.again.as_str(), self.from_name.as_str()]
            .into_iter()
            .chain(self.headers.iter().map(|(_, v)| v.as_str()))
            .chain(self.attachments.iter().map(|a| a.as_str()))
    }
}

fn read(msg: &Message, file_limits: Option<&Limits>) -> Content {
    let mut c = Content {
        depth: caravel_store::mime::message_depth(msg),
        subject: fold(cut(msg.subject().unwrap_or_default(), MAX_FIELD)),
        subject_text: cut(msg.subject().unwrap_or_default(), 998).to_string(),
        content_type: msg
            .content_type()
            .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase())
            .unwrap_or_default(),
        ..Content::default()
    };
    // Text in eight bits without a charset, read again in the message's.
    let unlabelled = Unlabelled::new(msg);
    if let Some(from) = msg.from().and_then(|f| f.first()) {
        c.from_address = from.address().unwrap_or_default().to_lowercase();
        let name = from.name().unwrap_or_default();
        // mail-parser reads the last From: field. Read again, only its
        // name is taken: the address stays the one DMARC judged (read as
        // bytes, as mail-auth reads it), whatever the decoding makes of
        // trail bytes such as "\" or "@".
        let field = msg.headers().iter().rev().find(|h| h.name == mail_parser::HeaderName::From);
        // Either part read with U+FFFD (no text joined for every message).
        let read_as = if name.contains('\u{FFFD}') { name } else { c.from_address.as_str() };
        let again = field.and_then(|h| unlabelled.field(h, read_as));
        let name = match &again {
            Some(r) => {
                let new = r.value.as_address().and_then(|a| a.first()?.name()).unwrap_or_default();
                Cow::Owned(both_readings(new, name, r.legacy))
            }
            None => Cow::Borrowed(cut(name, MAX_FIELD)),
        };
        c.from_name = fold(&name);
    }
    // Our `Received:` is the first field after those added at delivery.
    let mut past_ours = false;
    // Every Subject: field (RFC 5322 §3.6 allows one; mail-parser reads the
    // last, a mail program may show the first): rules see the first eight
    // and the last, wherever it is, each read once.
    let mut subjects: Vec<String> = Vec::new();
    let mut subjects_seen = 0;
    let mut last_subject = None;
    // Whether a Subject: was read again in its charset (`Unlabelled`), and
    // the last one as the quarantine shows it then.
    let mut redecoded = false;
    let mut shown = None;
    let read_field = |h| read_field(&unlabelled, h);
    for (i, h) in msg.headers().iter().enumerate() {
        let subject = h.name == mail_parser::HeaderName::Subject;
        if i >= MAX_FIELDS && !subject {
            continue;
        }
        let name = h.name.as_str().to_ascii_lowercase();
        if added_here(&name) {
            continue;
        }
        let first = !std::mem::replace(&mut past_ours, true);
        if name == "received" {
            let field = msg_raw_field(msg, h);
            // Ours is not one of the message's relays.
            let ours = first && our_received(field.as_bytes());
            if !ours && c.relays.len() < 40 {
                relays_of(&field, &mut c.relays);
            }
            continue;
        }
        if subject {
            subjects_seen += 1;
            last_subject = Some(h);
            if subjects_seen <= 8 {
                let (value, how) = read_field(h);
                redecoded |= how.is_some();
                subjects.push(value.into_owned());
                shown = how;
            }
            continue;
        }
        let (value, _) = read_field(h);
        if !value.is_empty() {
            c.headers.push((name, fold(&value)));
        }
    }
    if let Some(h) = last_subject.filter(|_| subjects_seen > 8) {
        let (value, how) = read_field(h);
        redecoded |= how.is_some();
        subjects.push(value.into_owned());
        shown = how;
    }
    if subjects_seen > 1 || redecoded {
        // In message order, each its share of two fields' length (a long
        // first one pushes no other out).
        let each = (2 * MAX_FIELD + 1) / subjects.len();
        c.subject = fold(&subjects.iter().map(|s| cut(s, each)).collect::<Vec<_>>().join(" "));
    }
    if let Some(shown) = shown {
        c.subject_text = shown;
    }
    let mut body = String::new();
    // Text parts read again in their charset (`Unlabelled::part`), with a
    // budget of their own: mail-parser's reading is read as it always was.
    let mut again_text = String::new();
    let mut again_hosts = Vec::new();
    // Each message with the bytes its parts' offsets count in.
    let mut stack: Vec<(&Message, &[u8])> = vec![(msg, msg.raw_message())];
    let mut parts = 0;
    // Attachment names read (a name read again counts once).
    let mut names_read = 0;
    while let Some((m, offsets_in)) = stack.pop() {
        for part in &m.parts {
            parts += 1;
            if parts > MAX_PARTS {
                break;
            }
            if c.parts.len() < 32 {
                let ct = part.content_type().map_or("text/plain".to_string(), |ct| {
                    format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase()
                });
                let cte = part.content_transfer_encoding().unwrap_or("7bit").to_ascii_lowercase();
                c.parts.push(format!("{ct} {cte}"));
            }
            if let Some(name) = part.attachment_name().filter(|_| names_read < 64) {
                names_read += 1;
                // Read again, and as mail-parser read it when that differs
                // (the webmail shows that one; a name's ".exe" must not
                // hide behind a trail byte).
                if let Some(again) = unlabelled.attachment_name(offsets_in, part, name) {
                    c.attachments.push(fold(cut(&again, 512)));
                }
                c.attachments.push(fold(cut(name, 512)));
            }
            let room = MAX_TEXT.saturating_sub(body.len());
            match &part.body {
                PartType::Text(t) if room > 0 => {
                    c.text_parts += 1;
                    note_charset(&mut c, part);
                    let again_room = MAX_TEXT.saturating_sub(again_text.len());
                    if let Some(again) = (again_room > 0).then(|| unlabelled.part(offsets_in, part, t, false)).flatten()
                    {
                        let again = cut(&again, again_room);
                        links_in_text(again, &mut again_hosts);
                        again_text.push_str(again);
                        again_text.push(' ');
                    }
                    let t = cut(t, room);
                    links_in_text(t, &mut c.link_hosts);
                    body.push_str(t);
                    body.push(' ');
                }
                PartType::Html(h) if room > 0 => {
                    c.html_parts += 1;
                    note_charset(&mut c, part);
                    // Each reading made text apart (an unclosed comment in
                    // one must not swallow the other).
                    let again_room = MAX_TEXT.saturating_sub(again_text.len());
                    if let Some(again) = (again_room > 0).then(|| unlabelled.part(offsets_in, part, h, true)).flatten()
                    {
                        let again = html_to_text(cut(&again, again_room.saturating_mul(4)));
                        again_hosts.extend(again.links.iter().filter_map(|l| host_of(l)));
                        links_in_text(&again.text, &mut again_hosts);
                        again_text.push_str(cut(&again.text, again_room));
                        again_text.push(' ');
                    }
                    let h = html_to_text(cut(h, room.saturating_mul(4)));
                    c.images += h.images;
                    c.markup.extend(h.markup);
                    c.link_hosts.extend(h.links.iter().filter_map(|l| host_of(l)));
                    links_in_text(&h.text, &mut c.link_hosts);
                    body.push_str(cut(&h.text, room));
                    body.push(' ');
                }
                PartType::Message(inner) => stack.push((inner, offsets_of_attached(part, offsets_in, inner))),
                _ => {}
            }
        }
    }
    c.body = fold(&body);
    c.again = fold(&again_text);
    c.link_hosts.extend(again_hosts);
    if let Some(limits) = file_limits {
        let mut budget = Budget::new(limits);
        c.files = Arc::new(message_parts(msg, &mut budget));
        c.file_notes = budget.notes;
    }
    c.link_hosts.sort_unstable();
    c.link_hosts.dedup();
    c
}

/// A field's text (`MAX_FIELD` of it, borrowed for ordinary mail): both
/// readings, each cut apart, when it was read again in its charset, and
/// the likelier one to show.
fn read_field<'h>(unlabelled: &Unlabelled, h: &'h mail_parser::Header) -> (Cow<'h, str>, Option<String>) {
    let value = header_text(&h.value);
    match unlabelled.field(h, &value) {
        Some(again) => {
            let text = header_text(&again.value);
            let shown = cut(if again.legacy { &text } else { &value }, 998).to_string();
            (Cow::Owned(both_readings(&text, &value, again.legacy)), Some(shown))
        }
        None => match value {
            Cow::Borrowed(v) => (Cow::Borrowed(cut(v, MAX_FIELD)), None),
            Cow::Owned(v) => (Cow::Owned(cut(&v, MAX_FIELD).to_string()), None),
        },
    }
}

/// A field's two readings, a re-read one and mail-parser's, each at most
/// `MAX_FIELD`: the likelier first (`legacy`: the re-read one); one if
/// they are the same.
fn both_readings(again: &str, parsed: &str, legacy: bool) -> String {
    let (first, second) = if legacy { (again, parsed) } else { (parsed, again) };
    match first == second {
        true => cut(first, MAX_FIELD).to_string(),
        false => format!("{} {}", cut(first, MAX_FIELD), cut(second, MAX_FIELD)),
    }
}

fn note_charset(c: &mut Content, part: &mail_parser::MessagePart) {
    if let Some(cs) = part.content_type().and_then(|ct| ct.attribute("charset")) {
        let cs = cs.to_ascii_lowercase();
        if !c.charsets.contains(&cs) && c.charsets.len() < 8 {
            c.charsets.push(cs);
        }
    }
}

/// The raw text of a header field as it came.
fn msg_raw_field(msg: &Message, h: &mail_parser::Header) -> String {
    let raw = msg.raw_message();
    raw.get(h.offset_start as usize..h.offset_end as usize)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// Host names and IPv4 addresses a `Received:` field names (its from and
/// by parts), lowercase.
fn relays_of(field: &str, out: &mut Vec<String>) {
    let head = field.split(';').next().unwrap_or("");
    for word in head.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '<' | '>')) {
        let w = word.trim_matches(|c: char| c == '.' || c == ',').to_ascii_lowercase();
        let ip = w.split('.').count() == 4 && w.split('.').all(|p| p.parse::<u8>().is_ok());
        let host = w.contains('.') && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if (ip || host) && out.len() < 40 {
            out.push(w);
        }
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
}

/// A header value as text: decoded words, names and addresses.
fn header_text<'a>(v: &'a HeaderValue<'_>) -> Cow<'a, str> {
    match v {
        HeaderValue::Text(t) => Cow::Borrowed(t.as_ref()),
        HeaderValue::TextList(l) => Cow::Owned(l.join(" ")),
        HeaderValue::Address(a) => Cow::Owned(
            a.iter()
                .map(|x| format!("{} {}", x.name().unwrap_or_default(), x.address().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => Cow::Borrowed(""),
    }
}

/// Hosts of `http://`, `https://` and `www.` links written in text.
fn links_in_text(text: &str, hosts: &mut Vec<String>) {
    let lower = text.to_ascii_lowercase();
    // At most this many places looked at (each costs up to 300 bytes).
    let mut budget = 2000;
    for start in ["http://", "https://", "www."] {
        let mut from = 0;
        while let Some(p) = lower[from..].find(start) {
            let at = from + p;
            from = at + start.len();
            budget -= 1;
            if hosts.len() >= 200 || budget == 0 {
                return;
            }
            hosts.extend(host_of(&lower[at..]));
        }
    }
}

/// The host of a URL (or of text starting `www.`), lowercase, without
/// user info or port; None when it does not look like a host name.
pub fn host_of(url: &str) -> Option<String> {
    // A host name is at most 253 bytes: never look further (hostile text
    // of one long "www.www.www…" would otherwise be walked once per "www.").
    let url = &url[..url.floor_char_boundary(300)];
    let rest = url.split_once("://").map_or(url, |(scheme, r)| if scheme.len() <= 10 { r } else { url });
    let authority = rest.split(['/', '?', '#', '"', '\'', '<', '>', ' ', '\t', '\r', '\n', ')']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next()?.trim_end_matches('.').to_ascii_lowercase();
    let ok = host.contains('.')
        && host.len() <= 253
        && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || !c.is_ascii());
    ok.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_only_when_asked_and_within_the_limits_given() {
        let raw = b"From: a@b.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n\r\ntwo\r\n--b--\r\n";
        assert!(Content::parse(raw).files.is_empty(), "training and classifying need no files");
        let all = Content::parse_with_files(raw, &Limits::default());
        assert_eq!(all.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["part 1", "a.bin"]);
        let one = Content::parse_with_files(raw, &Limits { max_files: 1, ..Limits::default() });
        assert_eq!(one.files.len(), 1);
        assert_eq!(one.file_notes.first().map(|n| n.0), Some(Heuristic::Limits));
    }

    #[test]
    fn hosts_of_links() {
        assert_eq!(host_of("http://user@Shop.Example:8080/x").as_deref(), Some("shop.example"));
        assert_eq!(host_of("www.pills.test/buy").as_deref(), Some("www.pills.test"));
        assert_eq!(host_of("http://localhost/"), None);
        let mut h = Vec::new();
        links_in_text("see https://a.example/x and www.b.example.", &mut h);
        assert_eq!(h, ["a.example", "www.b.example"]);
    }

    #[test]
    fn every_subject_field_is_read() {
        let c = Content::parse(b"From: a@b.test\r\nSubject: CHEAP PILLS\r\nSubject: Meeting notes\r\n\r\nHello\r\n");
        assert!(c.subject.contains("cheap pills") && c.subject.contains("meeting notes"), "{}", c.subject);
        let one = Content::parse(b"From: a@b.test\r\nSubject: Meeting notes\r\n\r\nHello\r\n");
        assert_eq!(one.subject, "meeting notes");
    }

    #[test]
    fn mbox_from_line_and_our_fields_are_skipped() {
        let c = Content::parse(
            b"From x@y Mon Jan 1 00:00:00 2002\nReturn-Path: <a@b>\nX-Spam-Status: No\nSubject: Hi There\n\nBody text\n",
        );
        assert_eq!(c.subject, "hi there");
        assert_eq!(c.body, "body text");
        assert!(c.headers.iter().all(|(n, _)| n == "subject"), "{:?}", c.headers);
    }
}
