//! FETCH items (RFC 9051 §6.4.5): parsing, and rendering ENVELOPE,
//! BODYSTRUCTURE and body sections from the structure stored at delivery.

use caravel_store::mime::{BodyPart, Envelope, EnvelopeAddress};

use crate::cursor::{err, Cursor, PResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    All,
    Header,
    HeaderFields { not: bool, fields: Vec<String> },
    Text,
    Mime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: SectionText,
}

impl Section {
    /// `[]`: the whole message, cut out without its structure.
    pub fn is_whole(&self) -> bool {
        self.part.is_empty() && matches!(self.text, SectionText::All)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    Flags,
    Uid,
    InternalDate,
    Rfc822Size,
    Envelope,
    /// BODY: the structure without extension data.
    Body,
    BodyStructure,
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    ModSeq,
    Section {
        peek: bool,
        section: Section,
        partial: Option<(u32, u32)>,
    },
    /// BINARY[section] (RFC 3516): a part decoded; any other section (as
    /// Dovecot allows: HEADER, TEXT, MIME) as it is.
    Binary {
        peek: bool,
        section: Section,
        partial: Option<(u32, u32)>,
    },
    BinarySize {
        section: Section,
    },
}

impl FetchItem {
    /// Whether fetching it sets \Seen (RFC 9051 §6.4.5).
    pub fn sets_seen(&self) -> bool {
        matches!(
            self,
            FetchItem::Rfc822
                | FetchItem::Rfc822Text
                | FetchItem::Section { peek: false, .. }
                | FetchItem::Binary { peek: false, .. }
        )
    }
}

pub fn parse_fetch_items(c: &mut Cursor) -> PResult<Vec<FetchItem>> {
    if c.peek() == Some(b'(') {
        return c.paren_list(item);
    }
    let start = c.pos;
    let word = c.atom()?.to_ascii_uppercase();
    match word.as_str() {
        "ALL" => {
            return Ok(vec![FetchItem::Flags, FetchItem::InternalDate, FetchItem::Rfc822Size, FetchItem::Envelope])
        }
        "FAST" => return Ok(vec![FetchItem::Flags, FetchItem::InternalDate, FetchItem::Rfc822Size]),
        "FULL" => {
            return Ok(vec![
                FetchItem::Flags,
                FetchItem::InternalDate,
                FetchItem::Rfc822Size,
                FetchItem::Envelope,
                FetchItem::Body,
            ])
        }
        _ => {}
    }
    c.pos = start;
    Ok(vec![item(c)?])
}

fn part_numbers(c: &mut Cursor) -> PResult<Vec<u32>> {
    let mut part = Vec::new();
    while c.peek().is_some_and(|b| b.is_ascii_digit()) {
        let n = c.number()?;
        if n == 0 {
            return err("section part numbers start at 1");
        }
        part.push(n);
        if !c.eat(b'.') {
            break;
        }
    }
    Ok(part)
}

fn partial(c: &mut Cursor) -> PResult<Option<(u32, u32)>> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let origin = c.number()?;
    // `<origin>` alone (Dovecot and Cyrus accept it): to the end.
    if c.eat(b'>') {
        return Ok(Some((origin, u32::MAX)));
    }
    c.expect(b'.')?;
    let len = c.number()?;
    if len == 0 {
        return err("a partial length must be at least 1");
    }
    c.expect(b'>')?;
    Ok(Some((origin, len)))
}

fn item(c: &mut Cursor) -> PResult<FetchItem> {
    // Atoms stop at '[', so read the name by hand.
    let start = c.pos;
    while c.peek().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'8') {
        c.pos += 1;
    }
    let name = String::from_utf8_lossy(&c.b_slice(start)).to_ascii_uppercase();
    Ok(match name.as_str() {
        "FLAGS" => FetchItem::Flags,
        "UID" => FetchItem::Uid,
        "INTERNALDATE" => FetchItem::InternalDate,
        "RFC822.SIZE" => FetchItem::Rfc822Size,
        "ENVELOPE" => FetchItem::Envelope,
        "BODYSTRUCTURE" => FetchItem::BodyStructure,
        "RFC822" => FetchItem::Rfc822,
        "RFC822.HEADER" => FetchItem::Rfc822Header,
        "RFC822.TEXT" => FetchItem::Rfc822Text,
        "MODSEQ" => FetchItem::ModSeq,
        "BODY" if c.peek() != Some(b'[') => FetchItem::Body,
        "BODY" | "BODY.PEEK" => {
            c.expect(b'[')?;
            let section = section(c)?;
            c.expect(b']')?;
            FetchItem::Section { peek: name == "BODY.PEEK", section, partial: partial(c)? }
        }
        "BINARY" | "BINARY.PEEK" | "BINARY.SIZE" => {
            c.expect(b'[')?;
            let section = section(c)?;
            c.expect(b']')?;
            if name == "BINARY.SIZE" {
                FetchItem::BinarySize { section }
            } else {
                FetchItem::Binary { peek: name == "BINARY.PEEK", section, partial: partial(c)? }
            }
        }
        _ => return err("unknown FETCH item"),
    })
}

fn section(c: &mut Cursor) -> PResult<Section> {
    let part = part_numbers(c)?;
    // `]` in FETCH; the end of the text in a URL's ;SECTION= (RFC 5092).
    if c.peek() == Some(b']') || c.peek().is_none() {
        return Ok(Section { part, text: SectionText::All });
    }
    let start = c.pos;
    while c.peek().is_some_and(|b| b.is_ascii_alphabetic() || b == b'.') {
        c.pos += 1;
    }
    let word = String::from_utf8_lossy(&c.b_slice(start)).to_ascii_uppercase();
    let text = match word.as_str() {
        "HEADER" => SectionText::Header,
        "TEXT" => SectionText::Text,
        "MIME" if !part.is_empty() => SectionText::Mime,
        "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
            c.sp()?;
            let fields = c.paren_list(|c| Ok(String::from_utf8_lossy(&c.astring()?).to_string()))?;
            if fields.is_empty() {
                return err("HEADER.FIELDS needs at least one field");
            }
            SectionText::HeaderFields { not: word.ends_with(".NOT"), fields }
        }
        _ => return err("unknown section"),
    };
    Ok(Section { part, text })
}

/// A section spec written out (`1.2.HEADER`, `TEXT`, `HEADER.FIELDS (FROM)`),
/// as an IMAP URL's `;SECTION=` carries it (RFC 5092 §6).
pub fn parse_section(text: &str) -> Option<Section> {
    let mut c = Cursor::new(text.as_bytes());
    let s = section(&mut c).ok()?;
    c.end().ok()?;
    Some(s)
}

/// The section name as it appears in the response.
pub fn section_name(s: &Section) -> String {
    let mut out: String = s.part.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(".");
    let text = match &s.text {
        SectionText::All => String::new(),
        SectionText::Header => "HEADER".into(),
        SectionText::Text => "TEXT".into(),
        SectionText::Mime => "MIME".into(),
        SectionText::HeaderFields { not, fields } => {
            let names: Vec<String> = fields.iter().map(|f| quote_if_needed(f)).collect();
            format!("HEADER.FIELDS{} ({})", if *not { ".NOT" } else { "" }, names.join(" "))
        }
    };
    if !out.is_empty() && !text.is_empty() {
        out.push('.');
    }
    out.push_str(&text);
    out
}

fn quote_if_needed(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// Writes an IMAP string: quoted when short and plain, a literal otherwise.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    let plain = s.len() < 1024 && s.iter().all(|&b| b >= 0x20 && b != 0x7f && b < 0x80);
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        // Copy runs between the characters that need a backslash.
        let mut start = 0;
        for (i, &b) in s.iter().enumerate() {
            if b == b'"' || b == b'\\' {
                out.extend_from_slice(&s[start..i]);
                out.push(b'\\');
                start = i;
            }
        }
        out.extend_from_slice(&s[start..]);
        out.push(b'"');
    } else if s.contains(&0) {
        // NUL is not a CHAR8: only a literal8 may carry it (RFC 3516 §4.2,
        // RFC 9051 §4.3), whatever asked for the bytes.
        out.extend_from_slice(format!("~{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    }
}

/// Text decoded at delivery (display names, parameter values) goes back to
/// clients as an RFC 2047 encoded word when it is not ASCII, which every
/// IMAP4rev1 client can read (Dovecot sends the raw header text instead).
pub fn text(out: &mut Vec<u8>, s: &str) {
    if s.is_ascii() {
        string(out, s.as_bytes());
    } else {
        let word = format!("=?UTF-8?B?{}?=", caravel_auth::sasl::encode(s.as_bytes()));
        string(out, word.as_bytes());
    }
}

fn ntext(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => text(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

pub fn nstring(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s.as_bytes()),
        None => out.extend_from_slice(b"NIL"),
    }
}

fn addresses(out: &mut Vec<u8>, list: &[EnvelopeAddress]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        ntext(out, a.name.as_deref());
        out.push(b' ');
        nstring(out, a.adl.as_deref());
        out.push(b' ');
        nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

/// RFC 9051 §7.5.2 ENVELOPE.
pub fn envelope(out: &mut Vec<u8>, e: &Envelope) {
    out.push(b'(');
    nstring(out, e.date.as_deref());
    out.push(b' ');
    nstring(out, e.subject.as_deref());
    for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
        out.push(b' ');
        addresses(out, list);
    }
    out.push(b' ');
    nstring(out, e.in_reply_to.as_deref());
    out.push(b' ');
    nstring(out, e.message_id.as_deref());
    out.push(b')');
}

fn params(out: &mut Vec<u8>, params: &[(String, String)]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, k.as_bytes());
        out.push(b' ');
        text(out, v);
    }
    out.push(b')');
}

fn extension(out: &mut Vec<u8>, p: &BodyPart) {
    out.push(b' ');
    match &p.disposition {
        Some((kind, ps)) => {
            out.push(b'(');
            string(out, kind.as_bytes());
            out.push(b' ');
            params(out, ps);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    match p.language.len() {
        0 => out.extend_from_slice(b"NIL"),
        _ => {
            out.push(b'(');
            for (i, l) in p.language.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                string(out, l.as_bytes());
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    nstring(out, p.location.as_deref());
}

/// BODYSTRUCTURE (`extended`) or BODY (RFC 9051 §7.5.2).
pub fn body_structure(out: &mut Vec<u8>, p: &BodyPart, extended: bool) {
    out.push(b'(');
    if p.media_type == "multipart" {
        for child in &p.parts {
            body_structure(out, child, extended);
        }
        if p.parts.is_empty() {
            // A multipart with no parts still needs one: an empty text part.
            out.extend_from_slice(b"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)");
        }
        out.push(b' ');
        string(out, p.subtype.as_bytes());
        if extended {
            out.push(b' ');
            params(out, &p.params);
            extension(out, p);
        }
        out.push(b')');
        return;
    }
    string(out, p.media_type.as_bytes());
    out.push(b' ');
    string(out, p.subtype.as_bytes());
    out.push(b' ');
    params(out, &p.params);
    out.push(b' ');
    nstring(out, p.id.as_deref());
    out.push(b' ');
    ntext(out, p.description.as_deref());
    out.push(b' ');
    string(out, p.encoding.as_deref().unwrap_or("7bit").as_bytes());
    out.extend_from_slice(format!(" {}", p.end - p.body_start).as_bytes());
    if p.media_type == "message" && p.subtype == "rfc822" {
        if let Some(inner) = &p.message {
            out.push(b' ');
            envelope(out, &inner.0);
            out.push(b' ');
            body_structure(out, &inner.1, extended);
        }
        out.extend_from_slice(format!(" {}", p.lines).as_bytes());
    } else if p.media_type == "text" {
        out.extend_from_slice(format!(" {}", p.lines).as_bytes());
    }
    if extended {
        out.extend_from_slice(b" NIL");
        extension(out, p);
    }
    out.push(b')');
}

/// The part a section's part numbers name (RFC 3501 §6.4.5). At the top, the
/// message itself is the container: part 1 of a message that is not
/// multipart is its body, even when that body is a message/rfc822 (then
/// `1` is the whole enclosed message). Below the top, the parts of a
/// message/rfc822 part are those of the message it encloses (`3.1`, or `1.1`
/// for a message/rfc822 at the top); a part that is neither multipart nor a
/// message has no parts.
pub fn find_part<'a>(root: &'a BodyPart, path: &[u32]) -> Option<&'a BodyPart> {
    let mut cur = root;
    for (depth, &n) in path.iter().enumerate() {
        let container = if depth == 0 {
            cur
        } else {
            match &cur.message {
                Some(inner) if cur.media_type == "message" => &inner.1,
                _ if cur.media_type == "multipart" => cur,
                _ => return None,
            }
        };
        cur = if container.media_type == "multipart" {
            container.parts.get(n as usize - 1)?
        } else if n == 1 {
            container
        } else {
            return None;
        };
    }
    Some(cur)
}

/// The bytes of a section, or `None` if the section does not exist.
pub fn section_bytes(raw: &[u8], root: &BodyPart, s: &Section) -> Option<Vec<u8>> {
    let slice = |a: u64, b: u64| raw.get(a as usize..b as usize).map(<[u8]>::to_vec);
    let part = find_part(root, &s.part)?;
    // HEADER and TEXT of a part address the message it encloses.
    let message = if s.part.is_empty() { Some(root) } else { part.message.as_ref().map(|m| &m.1) };
    match &s.text {
        SectionText::All if s.part.is_empty() => Some(raw.to_vec()),
        SectionText::All => slice(part.body_start, part.end),
        SectionText::Mime => slice(part.header_start, part.body_start),
        SectionText::Header => {
            let m = message?;
            slice(m.header_start, m.body_start)
        }
        SectionText::Text => {
            let m = message?;
            slice(m.body_start, m.end)
        }
        SectionText::HeaderFields { not, fields } => {
            let m = message?;
            let head = slice(m.header_start, m.body_start)?;
            Some(filter_header(&head, fields, *not))
        }
    }
}

/// The header fields named in `fields` (or all but them), then the blank line.
pub fn filter_header(head: &[u8], fields: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
            let listed = fields.iter().any(|f| f.eq_ignore_ascii_case(&name));
            keep = listed != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Applies `<origin.length>`.
pub fn apply_partial(data: Vec<u8>, partial: Option<(u32, u32)>) -> Vec<u8> {
    match partial {
        None => data,
        Some((origin, len)) => {
            let start = (origin as usize).min(data.len());
            let end = start.saturating_add(len as usize).min(data.len());
            data[start..end].to_vec()
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn strings_are_quoted_with_escapes_or_sent_as_literals() {
        let show = |s: &[u8]| {
            let mut out = Vec::new();
            string(&mut out, s);
            String::from_utf8_lossy(&out).into_owned()
        };
        assert_eq!(show(b"plain text"), "\"plain text\"");
        assert_eq!(show(b"say \"hi\" \\o/"), "\"say \\\"hi\\\" \\\\o/\"");
        assert_eq!(show(b"\"\""), "\"\\\"\\\"\"");
        assert_eq!(show(b"line\r\nbreak"), "{11}\r\nline\r\nbreak");
        assert_eq!(show("报价".as_bytes()), "{6}\r\n报价");
    }
    use super::*;

    fn items(s: &str) -> Vec<FetchItem> {
        parse_fetch_items(&mut Cursor::new(s.as_bytes())).expect(s)
    }

    #[test]
    fn parses_items_and_macros() {
        assert_eq!(items("FAST").len(), 3);
        assert_eq!(items("(FLAGS UID)"), vec![FetchItem::Flags, FetchItem::Uid]);
        assert_eq!(
            items("BODY.PEEK[HEADER.FIELDS (From Subject)]<0.100>"),
            vec![FetchItem::Section {
                peek: true,
                section: Section {
                    part: vec![],
                    text: SectionText::HeaderFields { not: false, fields: vec!["From".into(), "Subject".into()] }
                },
                partial: Some((0, 100))
            }]
        );
        assert_eq!(
            items("BODY[1.2.MIME]"),
            vec![FetchItem::Section {
                peek: false,
                section: Section { part: vec![1, 2], text: SectionText::Mime },
                partial: None
            }]
        );
        assert_eq!(items("(BODY BODYSTRUCTURE)"), vec![FetchItem::Body, FetchItem::BodyStructure]);
        assert!(parse_fetch_items(&mut Cursor::new(b"BODY[0]")).is_err());
        assert!(parse_fetch_items(&mut Cursor::new(b"BODY[MIME]")).is_err());
    }

    const MSG: &[u8] = b"From: a@b.test\r\nSubject: hi\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner text\r\n--x--\r\n";

    #[test]
    fn sections_slice_the_message() {
        let (_, body) = caravel_store::mime::analyze(MSG);
        let sec = |part: Vec<u32>, text: SectionText| section_bytes(MSG, &body, &Section { part, text });
        assert_eq!(sec(vec![1], SectionText::All).expect("1"), b"hello");
        assert_eq!(sec(vec![1], SectionText::Mime).expect("1.MIME"), b"Content-Type: text/plain\r\n\r\n");
        assert_eq!(sec(vec![2], SectionText::Header).expect("2.HEADER"), b"Subject: inner\r\n\r\n");
        assert_eq!(sec(vec![2], SectionText::Text).expect("2.TEXT"), b"inner text");
        assert_eq!(sec(vec![2, 1], SectionText::All).expect("2.1"), b"inner text");
        assert!(sec(vec![3], SectionText::All).is_none());
        let fields =
            sec(vec![], SectionText::HeaderFields { not: false, fields: vec!["subject".into()] }).expect("fields");
        assert_eq!(fields, b"Subject: hi\r\n\r\n");
        let mut out = Vec::new();
        body_structure(&mut out, &body, true);
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.starts_with("((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)"),
            "{text}"
        );
        assert!(text.contains("\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 28 (NIL \"inner\""), "{text}");
        assert!(text.ends_with(" \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)"), "{text}");
    }
}
