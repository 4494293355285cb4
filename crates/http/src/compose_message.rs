//! The message the webmail's composer makes, free of I/O: addresses as
//! people type them parsed and checked, the MIME built by mail-builder
//! (RFC 2047 words in the header, RFC 2231 file names, quoted-printable
//! or base64 bodies, so no line is longer than SMTP allows), the answer's
//! threading fields (RFC 5322 §3.6.4), and a refused submission's reply
//! said in plain words.

use mail_builder::headers::address::Address as MbAddress;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::{Header, HeaderType};
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;

/// Most recipients one message names (To, Cc and Bcc together); the
/// server's `[smtp] max_recipients` still applies when it is sent.
pub const MAX_RECIPIENTS: usize = 500;
/// Longest display name kept, in characters.
const MAX_NAME: usize = 64;
/// Most ids kept in References (the first and the newest, RFC 5322 §3.6.4
/// lets a long chain be cut in the middle).
const MAX_REFERENCES: usize = 20;

/// One person: a display name (maybe) and an address checked by the
/// store's parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: Option<String>,
    pub address: String,
}

/// `Name <addr>`, `"Name" <addr>`, `<addr>` or `addr`, as typed.
pub fn parse_person(typed: &str) -> Result<Person, String> {
    let typed = typed.trim();
    let (name, address) = match (typed.rfind('<'), typed.ends_with('>')) {
        (Some(open), true) => (typed[..open].trim().trim_matches('"').trim(), &typed[open + 1..typed.len() - 1]),
        _ => ("", typed),
    };
    let address = address.trim();
    // A bracket or line end left in the name is a mistyped address.
    let bad = name.contains(['<', '>', '\r', '\n'])
        || address.is_empty()
        || address.chars().any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c))
        || caravel_store::Address::parse(address).is_err();
    if bad {
        return Err(format!("\"{typed}\" is not an email address."));
    }
    // A display name is a name: longer ones are cut (an encoded word is
    // never folded, and a header line must stay under 998 octets).
    let name = unquote(name).chars().filter(|c| !c.is_control()).take(MAX_NAME).collect::<String>();
    Ok(Person { name: (!name.is_empty()).then_some(name), address: address.to_string() })
}

/// A quoted name's text: `\x` is `x`.
fn unquote(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// Every entry of a field, each possibly holding several addresses
/// separated by commas or semicolons.
pub fn parse_people(field: &[String]) -> Result<Vec<Person>, String> {
    let mut out = Vec::new();
    for entry in field {
        for one in split_addresses(entry) {
            out.push(parse_person(&one)?);
        }
    }
    Ok(out)
}

/// Splits on `,` and `;` outside quotes and angle brackets (`\"` inside
/// quotes is a quote, RFC 5322 §3.2.4).
fn split_addresses(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut angle, mut escaped) = (Vec::new(), String::new(), false, false, false);
    for c in s.chars() {
        if escaped {
            escaped = false;
            cur.push(c);
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' | ';' if !quoted && !angle => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

/// A file to attach.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Everything the message is made of, resolved.
#[derive(Debug, Clone, Default)]
pub struct Composed {
    pub from: Option<Person>,
    pub to: Vec<Person>,
    pub cc: Vec<Person>,
    pub bcc: Vec<Person>,
    pub subject: String,
    pub text: String,
    /// Already made safe.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Whole messages forwarded as `message/rfc822` (RFC 2046 §5.2.1).
    pub forwarded: Vec<(String, Vec<u8>)>,
    /// The Message-ID answered, and the References to write.
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Without angle brackets.
    pub message_id: String,
    /// Unix seconds.
    pub date: i64,
}

fn address<'a>(p: &'a Person) -> MbAddress<'a> {
    MbAddress::new_address(p.name.as_deref(), p.address.as_str())
}

fn list<'a>(people: &'a [Person]) -> MbAddress<'a> {
    MbAddress::new_list(people.iter().map(address).collect())
}

/// An id without its angle brackets (mail-builder adds them).
fn bare(id: &str) -> &str {
    id.trim().trim_start_matches('<').trim_end_matches('>')
}

/// The message's bytes, CRLF line ends. `Bcc:` is written (a draft keeps
/// it; the submission removes it, RFC 6409 §8.1).
pub fn build(c: &Composed) -> std::io::Result<Vec<u8>> {
    let mut m = MessageBuilder::new().message_id(c.message_id.as_str()).date(c.date);
    if let Some(from) = &c.from {
        m = m.from(address(from));
    }
    for (name, people) in [("To", &c.to), ("Cc", &c.cc), ("Bcc", &c.bcc)] {
        if !people.is_empty() {
            m = m.header(name, HeaderType::Address(list(people)));
        }
    }
    m = m.subject(c.subject.as_str());
    if let Some(id) = &c.in_reply_to {
        m = m.in_reply_to(bare(id));
    }
    if !c.references.is_empty() {
        let ids: Vec<&str> = c.references.iter().map(|r| bare(r)).collect();
        m = m.references(MessageId::new_list(ids.into_iter()));
    }
    let mut m = m.text_body(plain(&c.text));
    if let Some(html) = &c.html {
        m = m.html_body(plain(html));
    }
    for a in &c.attachments {
        m.attachments
            .get_or_insert_with(Vec::new)
            .push(base64_part(&a.content_type, &a.bytes)?.attachment(a.name.as_str()));
    }
    for (name, raw) in &c.forwarded {
        m.attachments.get_or_insert_with(Vec::new).push(forwarded_part(raw)?.attachment(name.as_str()));
    }
    m.write_to_vec()
}

/// Text as typed, with line ends the builder turns into CRLF: no lone CR
/// and no NUL, so nothing in a body can end SMTP's DATA early at the next
/// hop (SMTP smuggling) or be refused as binary.
fn plain(text: &str) -> String {
    text.replace("\r\n", "\n").chars().filter(|c| *c != '\r' && *c != '\0').collect()
}

/// Every line end CRLF (a lone CR or LF becomes one), NULs dropped.
fn crlf_lines(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    let mut bytes = raw.iter().copied().filter(|b| *b != 0).peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'\r' => {
                bytes.next_if_eq(&b'\n');
                out.extend_from_slice(b"\r\n");
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
    }
    out
}

/// An attachment in base64 whatever its type: a text file's bytes (lone
/// CR, NUL, long lines) then reach every recipient unchanged.
fn base64_part<'a>(content_type: &'a str, bytes: &[u8]) -> std::io::Result<MimePart<'a>> {
    let mut encoded = Vec::with_capacity(bytes.len() * 4 / 3 + bytes.len() / 38 + 4);
    mail_builder::encoders::base64::base64_encode_mime(bytes, &mut encoded, false)?;
    let text = String::from_utf8(encoded).map_err(std::io::Error::other)?;
    Ok(MimePart::new(content_type, text).transfer_encoding("base64"))
}

/// A message forwarded whole: `message/rfc822` unencoded as RFC 2046
/// §5.2.1 asks (8bit when it must, submitted with BODY=8BITMIME), its line
/// ends made CRLF and NULs dropped; one whose lines SMTP cannot carry
/// (over 998 octets) goes in base64 instead, which readers still open.
fn forwarded_part(raw: &[u8]) -> std::io::Result<MimePart<'static>> {
    let mut clean = crlf_lines(raw);
    if !clean.ends_with(b"\r\n") {
        clean.extend_from_slice(b"\r\n");
    }
    // RFC 5322 §2.1.1: 998 octets a line, its CRLF aside.
    if clean.split(|b| *b == b'\n').any(|l| l.strip_suffix(b"\r").unwrap_or(l).len() > 998) {
        return base64_part("message/rfc822", &clean);
    }
    let encoding = if clean.is_ascii() { "7bit" } else { "8bit" };
    Ok(MimePart::new("message/rfc822", clean).transfer_encoding(encoding))
}

/// `message` with a Bcc field on top, written as [`build`] writes it: the
/// Sent copy shows whom the sender copied blindly (the submission removed
/// the field, RFC 6409 §8.1).
pub fn with_bcc(message: Vec<u8>, bcc: &[Person]) -> Vec<u8> {
    if bcc.is_empty() {
        return message;
    }
    let mut out = b"Bcc: ".to_vec();
    if list(bcc).write_header(&mut out, "Bcc: ".len()).is_err() {
        return message;
    }
    out.extend_from_slice(&message);
    out
}

/// References for an answer: the original's References (or its
/// In-Reply-To) and its Message-ID, long chains cut in the middle.
pub fn references(original_references: &[String], original_id: Option<&str>) -> Vec<String> {
    let mut ids: Vec<String> = original_references.to_vec();
    if let Some(id) = original_id {
        ids.push(id.to_string());
    }
    ids.dedup();
    if ids.len() > MAX_REFERENCES {
        let tail = ids.split_off(ids.len() - (MAX_REFERENCES - 1));
        ids.truncate(1);
        ids.extend(tail);
    }
    ids
}

/// A refused submission in words an office worker acts on; the reply
/// itself follows for whoever asks the administrator.
pub fn refusal_words(code: u16, text: &str, recipient: Option<&str>) -> String {
    let status = text.split_whitespace().next().unwrap_or_default();
    let detail: Vec<&str> = status.split('.').collect();
    let who = recipient.unwrap_or("a recipient");
    let why = match (code, detail.as_slice()) {
        (553, [_, "7", "1"]) => "you may not send from that address: choose one of your own in From.".to_string(),
        (550, [_, "1", "1"]) => format!("{who} does not exist on this server (check the spelling of the address)."),
        (_, [_, "1", _]) => format!("{who} is not an address mail can be sent to."),
        (452, [_, "5", "3"]) => "too many recipients in one message: send it in smaller groups.".to_string(),
        (_, [_, "2", "2"]) => format!("the mailbox of {who} is full."),
        (_, [_, "3", "4"]) => "the message is larger than the server accepts: remove or shrink attachments.".into(),
        (450..=452, [_, "7", _]) | (_, [_, "7", "0"]) if text.to_lowercase().contains("per hour") => {
            "you have sent to too many recipients this hour: wait a while before sending more.".into()
        }
        (_, [_, "7", _]) => "the server's outgoing checks refused it (for example, it looked like spam).".into(),
        (400..=499, _) => {
            "the server could not send it just now: it is kept in Drafts; try again in a few minutes.".into()
        }
        _ => "the server refused it.".into(),
    };
    let reply = format!("{code} {text}");
    format!("Not sent: {why} The server said: {reply}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MimeHeaders;

    fn p(s: &str) -> Person {
        parse_person(s).expect(s)
    }

    #[test]
    fn typed_addresses_are_parsed_with_their_names() {
        assert_eq!(p("chen@buyer.test"), Person { name: None, address: "chen@buyer.test".into() });
        assert_eq!(
            p("  \"Chen, Jing\" <chen@buyer.test> "),
            Person { name: Some("Chen, Jing".into()), address: "chen@buyer.test".into() }
        );
        assert_eq!(p("陈静 <chen@buyer.test>").name.as_deref(), Some("陈静"));
        assert_eq!(p("<x@y.test>").address, "x@y.test");
        let all = parse_people(&["\"Chen, Jing\" <chen@buyer.test>, bob@x.test; 李 <li@y.test>".into()]).expect("ok");
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].name.as_deref(), Some("Chen, Jing"));
    }

    #[test]
    fn what_could_reach_an_smtp_command_line_is_refused() {
        for bad in [
            "",
            "no at sign",
            "a@b.test>\r\nRCPT TO:<c@d.test",
            "a@b.test>\r\nRCPT TO:<c@d.test>",
            "a b@c.test",
            "<a@b.test> x",
            "a@",
            "@b.test",
        ] {
            assert!(parse_person(bad).is_err(), "{bad:?} accepted");
        }
    }

    fn composed() -> Composed {
        Composed {
            from: Some(p("Li Wei <li@export.test>")),
            to: vec![p("陈静 <chen@buyer.test>")],
            bcc: vec![p("boss@export.test")],
            subject: "Re: 询价 RFQ 42".into(),
            text: "您好，报价如下。\n".repeat(200),
            attachments: vec![Attachment {
                name: "报价单 2026.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: vec![0, 1, 2, 255],
            }],
            in_reply_to: Some("<rfq-1@partner.test>".into()),
            references: references(&["<a@x.test>".into()], Some("<rfq-1@partner.test>")),
            message_id: "abc.1@mail.export.test".into(),
            date: 1_796_000_000,
            ..Composed::default()
        }
    }

    #[test]
    fn the_message_reads_back_as_written_and_threads() {
        let raw = build(&composed()).expect("built");
        let m = mail_parser::MessageParser::default().parse(&raw).expect("parses");
        assert_eq!(m.subject(), Some("Re: 询价 RFQ 42"));
        assert_eq!(m.from().and_then(|a| a.first()).and_then(|a| a.name()), Some("Li Wei"));
        assert_eq!(m.to().and_then(|a| a.first()).and_then(|a| a.name()), Some("陈静"));
        assert_eq!(m.in_reply_to().as_text(), Some("rfq-1@partner.test"));
        let refs: Vec<&str> = m.references().as_text_list().unwrap_or_default().iter().map(|r| r.as_ref()).collect();
        assert_eq!(refs, ["a@x.test", "rfq-1@partner.test"]);
        assert_eq!(m.message_id(), Some("abc.1@mail.export.test"));
        assert!(m.body_text(0).is_some_and(|t| t.starts_with("您好，报价如下。")));
        let a = m.attachments().next().expect("attachment");
        assert_eq!(a.attachment_name(), Some("报价单 2026.pdf"));
        assert_eq!(a.contents(), [0, 1, 2, 255]);
        // Seven-bit, CRLF, no line over RFC 5322's 78 + CRLF in the header
        // or 998 anywhere: it passes any relay unchanged.
        assert!(raw.is_ascii());
        assert!(raw.split(|b| *b == b'\n').all(|l| l.len() <= 999 && (l.is_empty() || l.ends_with(b"\r"))));
        assert!(String::from_utf8_lossy(&raw).contains("\r\nBcc: "));
    }

    #[test]
    fn a_forwarded_message_is_attached_whole_and_unencoded() {
        let original = "From: a@x.test\r\nSubject: orig\r\n\r\n正文\r\n".as_bytes().to_vec();
        let c = Composed { forwarded: vec![("orig.eml".into(), original.clone())], ..composed() };
        let raw = build(&c).expect("built");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("Content-Type: message/rfc822"));
        assert!(text.contains("Content-Transfer-Encoding: 8bit"));
        assert!(raw.windows(original.len()).any(|w| w == original.as_slice()));
    }

    /// What SMTP would refuse at DATA (and what smuggles a second message
    /// past the next hop) cannot come out of the builder.
    fn smtp_clean(raw: &[u8]) -> bool {
        let lines_ok = raw.split(|b| *b == b'\n').all(|l| l.strip_suffix(b"\r").unwrap_or(l).len() <= 998);
        let ends_ok = raw.iter().enumerate().all(|(i, b)| match b {
            b'\r' => raw.get(i + 1) == Some(&b'\n'),
            b'\n' => i > 0 && raw[i - 1] == b'\r',
            _ => true,
        });
        lines_ok && ends_ok && !raw.contains(&0)
    }

    #[test]
    fn bare_line_ends_and_nuls_never_reach_the_message() {
        let smuggle = "hi\r.\r\nMAIL FROM:<ceo@x.test>\r\n\0\n.\n";
        let long_line = "x".repeat(5000);
        let forwarded = format!("Subject: a\r\n\r\nbody\r.\r\n\0{long_line}\n");
        let c = Composed {
            text: smuggle.into(),
            html: Some(smuggle.into()),
            attachments: vec![Attachment {
                name: "a.txt".into(),
                content_type: "text/plain".into(),
                bytes: smuggle.as_bytes().to_vec(),
            }],
            forwarded: vec![
                ("f.eml".into(), forwarded.into_bytes()),
                ("g.eml".into(), b"Subject: b\r\n\r\nx\ry\n\0".to_vec()),
            ],
            ..composed()
        };
        let raw = build(&c).expect("built");
        assert!(smtp_clean(&raw), "{}", String::from_utf8_lossy(&raw));
        // The text file's bytes themselves arrive unchanged (base64).
        let m = mail_parser::MessageParser::default().parse(&raw).expect("parses");
        let a = m.attachments().find(|a| a.attachment_name() == Some("a.txt")).expect("a.txt");
        assert_eq!(a.contents(), smuggle.as_bytes());
    }

    /// Found by fuzzing: a long display name (one encoded word, never
    /// folded), and a forwarded message whose only line is 999 octets.
    #[test]
    fn no_line_passes_998_octets() {
        let long_name = format!("{} <chen@buyer.test>", "陈".repeat(400));
        for line in [998, 999, 1500] {
            let c = Composed {
                to: parse_people(std::slice::from_ref(&long_name)).expect("parsed"),
                forwarded: vec![("f.eml".into(), vec![b'x'; line])],
                ..composed()
            };
            let raw = build(&c).expect("built");
            assert!(smtp_clean(&raw), "forwarded line of {line}");
        }
    }

    #[test]
    fn quoted_names_with_commas_and_quotes_survive() {
        let all = parse_people(&[r#""Chen \"CJ\", Jing" <chen@buyer.test>, bob@x.test"#.into()]).expect("ok");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].name.as_deref(), Some(r#"Chen "CJ", Jing"#));
    }

    #[test]
    fn the_sent_copy_gets_its_bcc_back() {
        let copy = with_bcc(b"Subject: x\r\n\r\nbody\r\n".to_vec(), &[p("老板 <boss@export.test>"), p("x@y.test")]);
        let m = mail_parser::MessageParser::default().parse(&copy).expect("parses");
        let bcc: Vec<_> = m.bcc().map(|a| a.iter().filter_map(|x| x.address()).collect()).unwrap_or_default();
        assert_eq!(bcc, ["boss@export.test", "x@y.test"]);
        assert_eq!(m.subject(), Some("x"));
        assert_eq!(with_bcc(b"a".to_vec(), &[]), b"a");
    }

    #[test]
    fn long_reference_chains_keep_the_first_and_the_newest() {
        let chain: Vec<String> = (0..40).map(|i| format!("<{i}@x.test>")).collect();
        let refs = references(&chain, Some("<new@x.test>"));
        assert_eq!(refs.len(), MAX_REFERENCES);
        assert_eq!(refs[0], "<0@x.test>");
        assert_eq!(refs.last().map(String::as_str), Some("<new@x.test>"));
    }

    #[test]
    fn refusals_are_said_in_plain_words_with_the_reply() {
        let w = refusal_words(
            550,
            "5.1.1 <nobody@export.test>: Recipient address rejected: User unknown",
            Some("nobody@export.test"),
        );
        assert!(w.starts_with("Not sent: nobody@export.test does not exist"), "{w}");
        assert!(w.contains("550 5.1.1"));
        assert!(refusal_words(553, "5.7.1 Sender address <x@y> is not owned by user li@export.test", None)
            .contains("you may not send from that address"));
        assert!(refusal_words(451, "4.3.0 Temporary storage failure", None).contains("kept in Drafts"));
        assert!(refusal_words(550, "5.7.1 spam", None).contains("outgoing checks"));
    }
}
