//! Text in eight bits without a charset that says which. Older mail
//! programs, many of them in China, Japan, Korea and Russia, write a
//! `Subject:` in raw GBK, Big5, Shift_JIS, EUC-KR or KOI8-R (RFC 2047 asks
//! for encoded words; RFC 6532 allows raw UTF-8 only), and send text parts
//! with no charset, or "us-ascii", over 8-bit bytes. mail-parser reads such
//! bytes as UTF-8 and gets U+FFFD, so the keyword rules and the classifier
//! would read noise where a person reads 促销.
//!
//! As mail programs do, the charset a text part of the message declares is
//! the first guess (a raw GBK subject comes with a body in gb2312); without
//! one, a detector (chardetng, Firefox's) reads the message's bytes. Only
//! text that is not UTF-8 is decoded again: a message that is UTF-8 or
//! labelled costs one scan for U+FFFD per field and part.

use std::borrow::Cow;
use std::cell::OnceCell;

use encoding_rs::{Encoding, REPLACEMENT, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252, X_USER_DEFINED};
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::parsers::MessageStream;
use mail_parser::{Encoding as Transfer, Header, HeaderName, HeaderValue, Message, MessagePart, MimeHeaders};

/// How much of the message the detector reads.
const DETECT_BYTES: usize = 64 * 1024;
/// How much of a text part's raw body is decoded again (twice that for
/// HTML): base64 is 4/3 of its bytes, quoted-printable up to three times,
/// and each reading gets half of `MAX_TEXT` of text (HTML four times that)
/// after.
const DECODE_BYTES: usize = 4 * crate::content::MAX_TEXT;
/// How much of a header field's raw value is decoded again (the text is
/// cut at 4 KB after).
const FIELD_BYTES: usize = 16 * 1024;

/// The replacement character mail-parser leaves for bytes that are not
/// UTF-8.
const REPLACED: char = '\u{FFFD}';

/// The unlabelled text of one message, decoded with one charset for the
/// whole message (decided on first use).
pub struct Unlabelled<'m, 'x> {
    msg: &'m Message<'x>,
    chosen: OnceCell<&'static Encoding>,
}

/// A header field read again in its charset.
pub struct Reread {
    /// The field as mail-parser parses it, from the decoded text.
    pub value: HeaderValue<'static>,
    /// Whether the bytes look like text in a legacy charset (see
    /// `legacy`): then this reading is the likelier one, to show first.
    pub legacy: bool,
}

impl<'m, 'x> Unlabelled<'m, 'x> {
    pub fn new(msg: &'m Message<'x>) -> Self {
        Unlabelled { msg, chosen: OnceCell::new() }
    }

    /// A top-level header field read again when mail-parser's reading
    /// `parsed` has U+FFFD and its raw bytes are not UTF-8: the bytes
    /// decoded, then parsed as the message's fields are (encoded words,
    /// addresses, raw fields alike). The caller reads both readings: which
    /// one a person sees depends on the mail program, and the sender
    /// controls how much of the field looks like which.
    pub fn field(&self, h: &Header, parsed: &str) -> Option<Reread> {
        if !parsed.contains(REPLACED) {
            return None;
        }
        let raw = self.msg.raw_message().get(h.offset_start as usize..h.offset_end as usize)?;
        let raw = &raw[..raw.len().min(FIELD_BYTES)];
        if !not_utf8(raw) {
            return None;
        }
        let value = caravel_store::mime::parse_field(h.name.as_str(), &self.decode(None, raw))?;
        Some(Reread { value, legacy: legacy(raw) })
    }

    /// An attachment's name whose field is not UTF-8 (a raw GBK
    /// `filename="发票.pdf"`), read again, in the part's own charset if it
    /// has one, from the field mail-parser took `parsed` from: the
    /// `Content-Disposition` filename if it has one, else the
    /// `Content-Type` name. The part's fields count offsets in
    /// `offsets_in`.
    pub fn attachment_name(&self, offsets_in: &[u8], part: &MessagePart, parsed: &str) -> Option<String> {
        if !parsed.contains(REPLACED) {
            return None;
        }
        let (field, attribute) = match part.content_disposition().and_then(|cd| cd.attribute("filename")) {
            Some(_) => (HeaderName::ContentDisposition, "filename"),
            None => (HeaderName::ContentType, "name"),
        };
        let h = part.headers.iter().rev().find(|h| h.name == field)?;
        let raw = offsets_in.get(h.offset_start as usize..h.offset_end as usize)?;
        let raw = &raw[..raw.len().min(FIELD_BYTES)];
        if !not_utf8(raw) {
            return None;
        }
        let own = part.content_type().and_then(|ct| ct.attribute("charset")).filter(|cs| !is_ascii_label(cs));
        let own = own.and_then(|cs| Encoding::for_label(cs.trim().as_bytes())).filter(|&e| usable(e));
        let value = caravel_store::mime::parse_field(field.as_str(), &self.decode(own, raw))?;
        value.as_content_type()?.attribute(attribute).filter(|name| *name != parsed).map(str::to_string)
    }

    /// A text part whose offsets are in `offsets_in` (see
    /// [`offsets_of_attached`]), read again when it has no charset
    /// mail-parser decodes (none, one only encoding_rs knows, or "us-ascii",
    /// which says nothing about 8-bit bytes: mail-parser reads it as
    /// windows-1252) and its bytes are not UTF-8. The caller reads both
    /// readings. None for a part that says UTF-8 (mail-parser has no
    /// decoder of its own for that label: this is the common case).
    pub fn part(&self, offsets_in: &[u8], part: &MessagePart, parsed: &str, html: bool) -> Option<String> {
        let label = part.content_type().and_then(|ct| ct.attribute("charset"));
        let ascii = label.is_some_and(is_ascii_label);
        if label.is_some_and(|cs| !ascii && charset_decoder(cs.as_bytes()).is_some()) {
            return None;
        }
        let own = label.filter(|_| !ascii).and_then(|cs| Encoding::for_label(cs.trim().as_bytes()));
        if own == Some(UTF_8) {
            return None;
        }
        // Read as "us-ascii", 8-bit bytes come out as windows-1252
        // letters; read without a charset, as U+FFFD.
        if if ascii { parsed.is_ascii() } else { !parsed.contains(REPLACED) } {
            return None;
        }
        let raw = offsets_in.get(part.offset_body as usize..part.offset_end as usize)?;
        // Content reads at most MAX_TEXT of text: decode no more than
        // could give it, in whole lines (a base64 quantum or a
        // quoted-printable escape is never cut).
        let most = if html { 2 * DECODE_BYTES } else { DECODE_BYTES };
        let raw = match raw.len() > most {
            true => raw[..most].rsplitn(2, |&b| b == b'\n').last().unwrap_or_default(),
            false => raw,
        };
        // mail-parser's own MIME decoders: as lenient as when it read the
        // part (a stray "=" in quoted-printable stays).
        let bytes = match part.encoding {
            Transfer::Base64 => decoded(MessageStream::new(raw).decode_base64_mime(b""))?,
            Transfer::QuotedPrintable => decoded(MessageStream::new(raw).decode_quoted_printable_mime(b""))?,
            Transfer::None => Cow::Borrowed(raw),
        };
        if !not_utf8(&bytes) {
            // UTF-8 under an ASCII label: mail-parser read it as windows-1252.
            return ascii.then(|| String::from_utf8_lossy(&bytes).into_owned());
        }
        // An HTML part's <meta>. One that says UTF-8 (or UTF-16) adds
        // nothing to mail-parser's reading: the message's charset then.
        let meta = if html && own.is_none_or(|e| !usable(e)) { meta_charset(&bytes) } else { None };
        let text = self.decode(own.filter(|&e| usable(e)).or(meta.filter(|&e| e != UTF_8)), &bytes);
        // The same text twice would only halve what is read of it.
        (text != parsed).then_some(text)
    }

    fn decode(&self, own: Option<&'static Encoding>, bytes: &[u8]) -> String {
        let encoding = own.unwrap_or_else(|| {
            *self.chosen.get_or_init(|| declared(self.msg).unwrap_or_else(|| detect(self.msg, bytes)))
        });
        encoding.decode_without_bom_handling(bytes).0.into_owned()
    }
}

/// The charset a `<meta>` tag near the top of an HTML text names
/// (`<meta charset="gbk">`, or `<meta http-equiv="Content-Type"
/// content="text/html; charset=gbk">`), found as a browser's prescan
/// finds it (HTML §13.2.3.2): in the first 1,024 bytes, past comments and
/// the attributes of other tags (quotes respected), the first `<meta>`
/// that names one. UTF-16 there is UTF-8, as in a browser.
fn meta_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = bytes[..bytes.len().min(1024)].to_ascii_lowercase();
    let mut at = 0;
    while at < head.len() {
        let rest = &head[at..];
        let second = rest.get(1).copied().unwrap_or(0);
        at += if rest.starts_with(b"<!--") {
            // "<!-->" and "<!--->" end where they start.
            find(&rest[2..], b"-->").map_or(rest.len(), |p| p + 5)
        } else if rest.starts_with(b"<meta") && rest.get(5).is_some_and(|&b| b.is_ascii_whitespace() || b == b'/') {
            let (attributes, used) = attributes(&rest[5..]);
            if let Some(e) = charset_of(&attributes) {
                return Some(e);
            }
            5 + used
        } else if rest[0] == b'<'
            && (second.is_ascii_alphabetic() || (second == b'/' && rest.get(2).is_some_and(u8::is_ascii_alphabetic)))
        {
            // Another tag: its name, then its attributes.
            let name =
                rest[1..].iter().position(|&b| b.is_ascii_whitespace() || b == b'>').map_or(rest.len(), |p| p + 1);
            name + attributes(&rest[name..]).1
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") || rest.starts_with(b"<?") {
            rest.iter().position(|&b| b == b'>').map_or(rest.len(), |p| p + 1)
        } else {
            1
        };
    }
    None
}

/// The charset a `<meta>` tag's attributes name: `charset`, or the
/// charset in `content` with `http-equiv="content-type"`. An ASCII label
/// says nothing of 8-bit bytes, and one 8-bit text cannot be read in
/// (ISO-2022, HZ) names nothing; x-user-defined is windows-1252.
fn charset_of(attributes: &[Attribute]) -> Option<&'static Encoding> {
    let value = |name: &[u8]| attributes.iter().find(|(n, _)| n.as_slice() == name).map(|(_, v)| v.as_slice());
    let label = match (value(b"charset"), value(b"http-equiv"), value(b"content")) {
        (Some(label), _, _) => label,
        (None, Some(b"content-type"), Some(content)) => charset_in_content(content)?,
        _ => return None,
    };
    let label = std::str::from_utf8(label).ok().map(str::trim).filter(|l| !l.is_empty() && !is_ascii_label(l))?;
    match Encoding::for_label(label.as_bytes())? {
        e if e == UTF_16LE || e == UTF_16BE => Some(UTF_8),
        e if e == X_USER_DEFINED => Some(WINDOWS_1252),
        e => (e == UTF_8 || usable(e)).then_some(e),
    }
}

/// The label after "charset=" in a `content` value (HTML §2.6.6: each
/// "charset" is tried until one is followed by "=").
fn charset_in_content(content: &[u8]) -> Option<&[u8]> {
    let mut from = 0;
    while let Some(at) = find(&content[from..], b"charset") {
        from += at + 7;
        let Some(rest) = content[from..].trim_ascii_start().strip_prefix(b"=") else { continue };
        let rest = rest.trim_ascii_start();
        let rest = rest.strip_prefix(b"\"").or_else(|| rest.strip_prefix(b"'")).unwrap_or(rest);
        let end = rest.iter().position(|&b| b == b';' || b == b'"' || b == b'\'' || b.is_ascii_whitespace());
        return Some(&rest[..end.unwrap_or(rest.len())]);
    }
    None
}

/// An attribute of a tag: its name and value.
type Attribute = (Vec<u8>, Vec<u8>);

/// A tag's attributes (lowercase already) as name and value, values
/// quoted with " or ' or unquoted, up to the `>` that ends the tag outside
/// quotes; and how many bytes that took, the `>` included.
fn attributes(tag: &[u8]) -> (Vec<Attribute>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    let skip = |at: usize, f: &dyn Fn(u8) -> bool| tag[at..].iter().position(|&b| !f(b)).map_or(tag.len(), |p| at + p);
    loop {
        at = skip(at, &|b| b.is_ascii_whitespace() || b == b'/');
        match tag.get(at) {
            None => return (out, tag.len()),
            Some(b'>') => return (out, at + 1),
            _ => {}
        }
        let name_end = skip(at, &|b| !(b.is_ascii_whitespace() || matches!(b, b'=' | b'/' | b'>'))).max(at + 1);
        let name = tag[at..name_end].to_vec();
        at = skip(name_end, &|b| b.is_ascii_whitespace());
        if tag.get(at) != Some(&b'=') {
            out.push((name, Vec::new()));
            continue;
        }
        at = skip(at + 1, &|b| b.is_ascii_whitespace());
        let value = match tag.get(at) {
            Some(&q @ (b'"' | b'\'')) => {
                let end = tag[at + 1..].iter().position(|&b| b == q).map_or(tag.len(), |p| at + 1 + p);
                let value = tag[at + 1..end].to_vec();
                at = (end + 1).min(tag.len());
                value
            }
            _ => {
                let end = skip(at, &|b| !(b.is_ascii_whitespace() || b == b'>'));
                let value = tag[at..end].to_vec();
                at = end;
                value
            }
        };
        out.push((name, value));
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether `bytes` have a sequence that is not UTF-8 (a character cut at
/// the very end aside: the text was cut there).
fn not_utf8(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_err_and(|e| e.error_len().is_some())
}

/// Whether `bytes` are likelier text in a legacy charset than UTF-8: some
/// sequence is not UTF-8 (a character cut at the very end aside: the text
/// was cut there), and those outnumber the characters past ASCII that are.
/// UTF-8 with a stray byte (a Latin-1 footer, a field cut short) is
/// likelier UTF-8; GBK, Big5 or KOI8-R text seldom makes a UTF-8
/// sequence. Only an order: the sender picks both counts.
fn legacy(bytes: &[u8]) -> bool {
    if !not_utf8(bytes) {
        return false;
    }
    let (mut good, mut bad) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        good += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        bad += usize::from(!chunk.invalid().is_empty());
    }
    bad > good
}

fn decoded((end, bytes): (usize, Cow<'_, [u8]>)) -> Option<Cow<'_, [u8]>> {
    (end != usize::MAX).then_some(bytes)
}

/// A charset that text in eight bits can be read in: ASCII as ASCII
/// (not UTF-16, not ISO-2022, whose decoders would turn the whole text
/// into other characters or one U+FFFD), and not UTF-8 (the text is not).
fn usable(e: &'static Encoding) -> bool {
    e.is_ascii_compatible() && e != UTF_8 && e != X_USER_DEFINED && e != REPLACEMENT
}

/// The bytes the offsets of an attached message's parts count in, given
/// the part `holder` that holds it and the bytes its own offsets count in.
/// mail-parser reads an attached message written as it is in place, with
/// offsets in the enclosing bytes (its `raw_message` is only its own
/// slice); one in base64 or quoted-printable, when it parses one, from its
/// decoded bytes.
pub fn offsets_of_attached<'a>(holder: &MessagePart, enclosing: &'a [u8], attached: &'a Message) -> &'a [u8] {
    match holder.encoding {
        Transfer::None => enclosing,
        _ => attached.raw_message(),
    }
}

fn is_ascii_label(label: &str) -> bool {
    let l = label.trim().to_ascii_lowercase();
    l.contains("ascii")
        || l.starts_with("ansi_x3.4")
        || l.starts_with("iso646")
        || l.starts_with("iso_646")
        || matches!(l.as_str(), "us" | "646" | "iso-ir-6" | "cp367" | "ibm367")
}

/// The first charset a part of the message declares that 8-bit text can
/// be read in.
fn declared(msg: &Message) -> Option<&'static Encoding> {
    msg.parts
        .iter()
        .filter_map(|p| p.content_type()?.attribute("charset"))
        .filter(|cs| !is_ascii_label(cs))
        .filter_map(|cs| Encoding::for_label(cs.trim().as_bytes()))
        .find(|&e| usable(e))
}

/// The detector's guess from the message's bytes and `text` (a part's
/// decoded bytes, which the raw message has only in base64 or
/// quoted-printable), with the sender's top-level domain as a hint.
fn detect(msg: &Message, text: &[u8]) -> &'static Encoding {
    let mut d = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    let raw = msg.raw_message();
    d.feed(&raw[..raw.len().min(DETECT_BYTES)], false);
    d.feed(b"\n", false);
    d.feed(&text[..text.len().min(DETECT_BYTES)], true);
    // The sender's top-level domain tells short text apart (a few bytes
    // of GBK are also EUC-KR): chardetng weighs .cn, .kr, .jp, .ru ...
    d.guess(sender_tld(msg).as_deref().map(str::as_bytes), chardetng::Utf8Detection::Deny)
}

/// The From: address's top-level domain as chardetng takes it: lowercase
/// ASCII, an internationalized one in Punycode (.中国 is xn--fiqs8s).
fn sender_tld(msg: &Message) -> Option<String> {
    let address = msg.from()?.first()?.address()?;
    let domain = address.rsplit_once('@')?.1.trim_end_matches('.');
    let ascii = match domain.is_ascii() {
        true => domain.to_ascii_lowercase(),
        false => idna::domain_to_ascii(domain).ok()?,
    };
    let tld = ascii.rsplit('.').next()?;
    (!tld.is_empty() && tld.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')).then(|| tld.to_string())
}

#[cfg(test)]
mod tests {
    use crate::content::Content;

    fn gb(text: &str) -> Vec<u8> {
        encoding_rs::GBK.encode(text).0.into_owned()
    }

    /// Both readings of the body.
    fn all(c: &Content) -> String {
        format!("{} {}", c.body, c.again)
    }

    /// The text Content reads from an HTML body with no MIME charset.
    fn html_text(html: &[u8]) -> String {
        all(&Content::parse(&message(b"Subject: x\r\nContent-Type: text/html\r\n", html)))
    }

    /// A message with a text part and an attachment with these fields.
    fn with_attachment(fields: &[u8]) -> Vec<u8> {
        let body = [
            b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n--b1\r\n".as_slice(),
            fields,
            b"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b1--\r\n",
        ]
        .concat();
        message(b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n", &body)
    }

    fn message(head: &[u8], body: &[u8]) -> Vec<u8> {
        [b"From: a@b.test\r\nTo: c@d.test\r\n".as_slice(), head, b"\r\n", body, b"\r\n"].concat()
    }

    #[test]
    fn a_raw_gbk_subject_and_a_body_without_charset_are_read() {
        let head = [b"Subject: ".as_slice(), &gb("代开发票 优惠"), b"\r\nContent-Type: text/plain\r\n"].concat();
        let raw = message(&head, &gb("尊敬的客户您好，本公司常年代开发票，优惠促销，请加微信联系。"));
        let c = Content::parse(&raw);
        assert!(c.subject.starts_with("代开发票 优惠 "), "{}", c.subject);
        assert_eq!(c.subject_text, "代开发票 优惠");
        assert!(all(&c).contains("代开发票") && all(&c).contains("加微信"), "{}", all(&c));
    }

    /// A raw subject in the charset the body declares (ISO-8859-7; from
    /// the subject's three bytes the detector guesses another).
    #[test]
    fn a_raw_subject_takes_the_charset_the_body_declares() {
        let iso = |t: &str| encoding_rs::ISO_8859_7.encode(t).0.into_owned();
        let head =
            [b"Subject: ".as_slice(), &iso("Ώρα"), b"\r\nContent-Type: text/plain; charset=iso-8859-7\r\n"].concat();
        let c = Content::parse(&message(&head, b"plain text"));
        assert!(c.subject.starts_with("ώρα "), "{}", c.subject);
        assert_eq!(c.subject_text, "Ώρα");
    }

    /// An HTML part without a MIME charset is read in the one its <meta>
    /// names (ISO-8859-7; from three bytes the detector guesses another),
    /// as a browser's prescan finds it: comments are skipped, <metadata>
    /// is not a <meta>, and content= counts only with http-equiv.
    #[test]
    fn html_meta_charset() {
        let iso = encoding_rs::ISO_8859_7.encode("Ώρα").0.into_owned();
        let equiv = b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-7\">";
        let decoys = b"<!-- <meta charset=iso-8859-5> --><metadata charset=iso-8859-5>\
                       <meta content=\"x; charset=iso-8859-5\"><meta charset=iso-8859-7>";
        for head in [equiv.as_slice(), decoys.as_slice()] {
            let body = html_text(&[head, b"<p>", &iso].concat());
            assert!(body.contains(" ώρα"), "{body}");
        }
    }

    /// One raw byte does not undo the encoded words of the field.
    #[test]
    fn encoded_words_next_to_raw_bytes() {
        let head = [b"Subject: =?UTF-8?B?5L+D6ZSA?= ".as_slice(), &gb("特价"), b"\r\n"].concat();
        let c = Content::parse(&message(&head, b"body"));
        assert!(c.subject.starts_with("促销 特价 "), "{}", c.subject);
    }

    /// A part in UTF-16 or ISO-2022 elsewhere in the message is not the
    /// charset of the 8-bit text (its decoder would turn all of it into
    /// other characters); a sloppy quoted-printable body ("a=b") is read
    /// as mail-parser read it (its decoder drops the stray "=b").
    #[test]
    fn other_parts_labels_and_sloppy_quoted_printable() {
        for label in ["utf-16", "hz-gb-2312", "iso-2022-jp"] {
            let qp: String = gb("促销价格").iter().map(|b| format!("={b:02X}")).collect();
            let body = format!(
                "--b1\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
                 {qp} a=b\r\n--b1\r\nContent-Type: text/plain; charset={label}; name=a.txt\r\n\
                 Content-Disposition: attachment\r\n\r\nx\r\n--b1--\r\n"
            );
            let head = b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n";
            let c = Content::parse(&message(head, body.as_bytes()));
            assert!(all(&c).contains("促销价格 a"), "{label}: {}", all(&c));
        }
    }

    #[test]
    fn us_ascii_over_eight_bits_and_base64_without_charset() {
        use base64::Engine;
        let koi8 = encoding_rs::KOI8_R.encode("Скидки на все товары только сегодня, звоните нам").0.into_owned();
        let head = b"Subject: hi\r\nContent-Type: text/plain; charset=us-ascii\r\n";
        let c = Content::parse(&message(head, &koi8));
        assert!(all(&c).contains("скидки на все товары"), "{}", all(&c));
        let sjis = encoding_rs::SHIFT_JIS.encode("今すぐお電話ください、特別なご案内です。").0.into_owned();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&sjis);
        let head = b"Subject: hi\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n";
        let c = Content::parse(&message(head, b64.as_bytes()));
        assert!(all(&c).contains("特別なご案内"), "{}", all(&c));
    }

    #[test]
    fn a_raw_display_name_and_other_fields() {
        let head = [b"Subject: x\r\nX-Note: ".as_slice(), &gb("广告"), b"\r\n"].concat();
        let mut raw = message(&head, b"body");
        let from = [b"From: \"".as_slice(), &gb("张经理"), b"\" <a@b.test>\r\n"].concat();
        raw.splice(0..b"From: a@b.test\r\n".len(), from);
        let c = Content::parse(&raw);
        assert!(c.from_name.starts_with("张经理 "), "{}", c.from_name);
        assert_eq!(c.from_address, "a@b.test");
        assert!(c.headers.iter().any(|(n, v)| n == "x-note" && v.starts_with("广告 ")), "{:?}", c.headers);
    }

    /// The parts of a message attached as it is have offsets in the
    /// enclosing message's bytes, not in the attached one's.
    #[test]
    fn parts_of_attached_messages() {
        let inner = message(b"Subject: inner\r\nContent-Type: text/plain\r\n", &gb("内附报价单，请查收。"));
        for (cte, body) in [("7bit", inner.clone()), ("8bit", inner)] {
            let head = b"Subject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n";
            let outer = [
                b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee below\r\n--b1\r\n".as_slice(),
                format!("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: {cte}\r\n\r\n").as_bytes(),
                &body,
                b"\r\n--b1--\r\n",
            ]
            .concat();
            let c = Content::parse(&message(head, &outer));
            assert!(all(&c).contains("see below") && all(&c).contains("内附报价单"), "{cte}: {}", all(&c));
        }
    }

    /// A long part is decoded again only as far as the text is read.
    #[test]
    fn a_long_part_is_cut_at_a_line() {
        let line = gb("促销价格表第一行内容\r\n");
        let body: Vec<u8> = line.iter().copied().cycle().take(line.len() * 20_000).collect();
        let c = Content::parse(&message(b"Subject: x\r\nContent-Type: text/plain\r\n", &body));
        assert!(all(&c).contains(" 促销价格表第一行内容"), "{}", all(&c).chars().take(60).collect::<String>());
        // Each reading within its own budget.
        assert!(all(&c).len() <= 2 * crate::content::MAX_TEXT + 2);
    }

    /// UTF-8 with a stray byte (a field cut short, a Latin-1 footer) is
    /// likelier UTF-8: its UTF-8 reading comes first (the re-read one, all
    /// noise, only after it).
    #[test]
    fn mostly_utf8_stays_utf8() {
        let head = [b"Subject: ".as_slice(), "促销活动".as_bytes(), b"\xff\r\nContent-Type: text/plain\r\n"].concat();
        let body = ["正文内容".as_bytes(), b" caf\xe9"].concat();
        let c = Content::parse(&message(&head, &body));
        assert!(c.subject.starts_with("促销活动"), "{}", c.subject);
        assert!(all(&c).starts_with("正文内容 caf"), "{}", all(&c));
    }

    /// The last From: is the one mail-parser and mail programs read; its
    /// name is read again (Shift_JIS trail bytes include "c" and "\\", so
    /// mail-parser's reading follows it).
    #[test]
    fn the_from_name_read_again() {
        let sjis = |t: &str| encoding_rs::SHIFT_JIS.encode(t).0.into_owned();
        let raw = [
            b"From: \"".as_slice(),
            &gb("甲方"),
            b"\" <first@a.test>\r\nFrom: \"",
            &sjis("営業代表"),
            b"\" <Sales@B.test>\r\nSubject: x\r\n\r\nbody\r\n",
        ]
        .concat();
        let c = Content::parse(&raw);
        assert!(c.from_name.starts_with("営業代表 "), "{}", c.from_name);
    }

    /// The From address stays the one DMARC judged, read as bytes (by
    /// mail-parser, as mail-auth reads it): read in Shift_JIS, the "\\" of
    /// 表 no longer escapes the quote and another address would appear.
    #[test]
    fn the_from_address_is_never_read_again() {
        let sjis = encoding_rs::SHIFT_JIS.encode("代表").0.into_owned();
        let raw = [
            b"From: \"".as_slice(),
            &sjis,
            b"\" <sales@b.test>\r\nSubject: x\r\nContent-Type: text/plain; charset=shift_jis\r\n\r\nbody\r\n",
        ]
        .concat();
        let as_bytes = caravel_store::mime::with_parsed(&raw, |m| {
            m.from().and_then(|f| f.first()?.address()).unwrap_or_default().to_lowercase()
        });
        let c = Content::parse(&raw);
        assert_ne!(as_bytes.as_deref(), Some("sales@b.test"), "the case reads differently as bytes");
        assert_eq!(Some(c.from_address), as_bytes);
        assert!(c.from_name.starts_with("代表"), "{}", c.from_name);
    }

    /// One stray lead byte does not hide the ASCII word after it: GBK
    /// reads "\x81v" as one character, so mail-parser's reading is kept
    /// next to the decoded one.
    #[test]
    fn a_stray_lead_byte_hides_no_word() {
        let head = b"Subject: Buy \x81viagra now\r\nContent-Type: text/plain; charset=gbk\r\n";
        let c = Content::parse(&message(head, b"body"));
        assert!(c.subject.contains("viagra"), "{}", c.subject);
        let c = Content::parse(&message(b"Subject: x\r\nContent-Type: text/plain\r\n", b"Buy \x81viagra now"));
        assert!(all(&c).contains("viagra"), "{}", all(&c));
    }

    /// The prescan, as a browser's: UTF-16 is UTF-8, x-user-defined
    /// windows-1252, ISO-2022 and ASCII labels name nothing; comments
    /// (even empty ones), other tags' attributes, <metadata>, a content=
    /// without http-equiv="content-type" and quoted ">" are passed over.
    #[test]
    fn the_meta_prescan() {
        use encoding_rs::{BIG5, GBK, UTF_8, WINDOWS_1252};
        let cases: [(&str, Option<&'static encoding_rs::Encoding>); 11] = [
            ("<meta charset=\"utf-16\">", Some(UTF_8)),
            ("<meta charset=x-user-defined>", Some(WINDOWS_1252)),
            ("<meta charset=iso-2022-kr>", None),
            ("<meta http-equiv=\"Content-Type\" content=\"text/html; charset=big5\">", Some(BIG5)),
            ("<p title=\"<meta charset=utf-16>\"><meta charset=gbk>", Some(GBK)),
            ("<!--><meta charset=gbk>", Some(GBK)),
            ("<!-- <meta charset=utf-16> --><meta charset=gbk>", Some(GBK)),
            ("<meta http-equiv=refresh content=\"0;charset=utf-16\"><meta charset=gbk>", Some(GBK)),
            ("<meta content=\"x; charset=big5\" name=a><metadata charset=big5><meta charset=gbk>", Some(GBK)),
            ("<meta name=\"a>b\" charset=gbk>", Some(GBK)),
            ("<meta charset=us-ascii><meta charset=gbk>", Some(GBK)),
        ];
        for (html, want) in cases {
            assert_eq!(super::meta_charset(html.as_bytes()), want, "{html}");
        }
    }

    /// Only an HTML part's <meta> names its charset, and an ASCII label in
    /// it says nothing: plain text quoting "charset=iso-8859-5" and HTML
    /// with <meta charset=us-ascii> are still read as the GBK they are.
    #[test]
    fn meta_only_in_html_and_not_ascii() {
        let text = [
            b"<meta charset=iso-8859-5> Content-Type: text/plain; charset=iso-8859-5\r\n".as_slice(),
            &gb("本周特价促销活动"),
        ]
        .concat();
        let c = Content::parse(&message(b"Subject: x\r\nContent-Type: text/plain\r\n", &text));
        assert!(all(&c).contains("本周特价促销活动"), "{}", all(&c));
        let html = [b"<meta charset=\"us-ascii\"><p>".as_slice(), &gb("本周特价促销活动"), b"</p>"].concat();
        let body = html_text(&html);
        assert!(body.contains("本周特价促销活动"), "{body}");
    }

    /// A raw GBK attachment name, as Chinese mail programs write it, is
    /// read for keyword rules on attachment names, next to mail-parser's
    /// reading; and it is read again from the field mail-parser took it
    /// from (a raw Content-Type name does not replace a Content-Disposition
    /// filename).
    #[test]
    fn attachment_names() {
        let names = |from: &[u8], fields: &[&[u8]]| {
            let raw = [from, &with_attachment(&fields.concat())[b"From: a@b.test\r\n".len()..]].concat();
            Content::parse(&raw).attachments
        };
        // From a .cn sender: eight bytes of GBK alone are also EUC-KR.
        let cd = b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"".as_slice();
        let found = names(b"From: a@sales.example.cn\r\n", &[cd, &gb("代开发票.pdf"), b"\""]);
        assert_eq!(found[0], "代开发票.pdf");
        assert_eq!(found.len(), 2, "and as mail-parser read it: {found:?}");
        let exe = b"\"\r\nContent-Disposition: attachment; filename=\"\xc3\xa9\xffinv.exe\"".as_slice();
        let found = names(b"From: a@b.test\r\n", &[b"Content-Type: application/pdf; name=\"", &gb("发票.pdf"), exe]);
        assert!(found.iter().all(|n| n.ends_with("inv.exe")), "{found:?}");
    }

    /// A field mail-parser keeps raw (X-...) stays raw when read again: its
    /// encoded words are not decoded here either.
    #[test]
    fn raw_fields_stay_raw() {
        let head = [b"Subject: x\r\nX-Note: =?UTF-8?B?5L+D6ZSA?= ".as_slice(), &gb("特价"), b"\r\n"].concat();
        let c = Content::parse(&message(&head, b"body"));
        let note = c.headers.iter().find(|(n, _)| n == "x-note").map(|(_, v)| v.as_str());
        assert!(note.is_some_and(|n| n.starts_with("=?utf-8?b?5l+d6zsa?= 特价 ")), "{note:?}");
    }

    #[test]
    fn the_senders_top_level_domain() {
        let tld = |from: &str| {
            let raw = format!("From: {from}\r\nSubject: x\r\n\r\nbody\r\n");
            caravel_store::mime::with_parsed(raw.as_bytes(), super::sender_tld).flatten()
        };
        assert_eq!(tld("a@Sales.Example.CN").as_deref(), Some("cn"));
        assert_eq!(tld("a@例子.中国").as_deref(), Some("xn--fiqs8s"));
        assert_eq!(tld("a@b.test.").as_deref(), Some("test"));
        assert_eq!(tld("nobody").as_deref(), None);
    }

    /// The sender picks how much of a text looks like which charset: both
    /// readings are always read. UTF-8 padded with stray bytes (in an HTML
    /// comment, after a subject) keeps mail-parser's reading; GBK padded
    /// with valid UTF-8 keeps the re-read one; an unclosed comment in one
    /// reading of an HTML part does not swallow the other.
    #[test]
    fn padding_hides_neither_reading() {
        let html = ["<p>本周特价促销，加微信</p><!--".as_bytes(), &[0xff; 11], b"-->"].concat();
        assert!(html_text(&html).contains("本周特价促销"));
        let head = ["Subject: 本周特价促销".as_bytes(), &[0xff; 7], b"\r\n"].concat();
        assert!(Content::parse(&message(&head, b"body")).subject.contains("本周特价促销"));
        let body = [gb("代开发票").as_slice(), "中文中文中文中文中文中文".as_bytes()].concat();
        let raw =
            [b"From: a@sales.example.cn\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\n".as_slice(), &body].concat();
        assert!(all(&Content::parse(&raw)).contains("代开发票"));
        let html = b"<p>Buy \x81viagra now</p><!--";
        let head = b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n";
        let parts = [
            b"--b1\r\nContent-Type: text/html\r\n\r\n".as_slice(),
            html,
            b"\r\n--b1\r\nContent-Type: text/plain; charset=gbk\r\n\r\nx\r\n--b1--\r\n",
        ]
        .concat();
        assert!(all(&Content::parse(&message(head, &parts))).contains("viagra"));
    }

    /// A part labelled UTF-8 is read as mail-parser reads it (it has no
    /// decoder of its own for the label: the common path).
    #[test]
    fn a_part_labelled_utf8_is_not_read_again() {
        let c = Content::parse(&message(b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n", &gb("代开发票")));
        assert!(!all(&c).contains("代开发票"), "{}", all(&c));
    }

    /// The last Subject, the one shown, is read and shown however many
    /// fields come before it (more than eight Subjects, more than 200
    /// fields).
    #[test]
    fn the_last_of_many_subjects() {
        let head: String = (1..=9).map(|i| format!("Subject: {}\r\n", if i == 9 { "final" } else { "s" })).collect();
        assert!(Content::parse(&message(head.as_bytes(), b"body")).subject.contains("final"));
        let fields: String = (0..200).map(|i| format!("X-F{i}: x\r\n")).collect();
        let head = [b"Subject: x\xff\r\n".as_slice(), fields.as_bytes(), b"Subject: VIAGRA\r\n"].concat();
        let c = Content::parse(&message(&head, b"body"));
        assert!(c.subject.contains("viagra"), "{}", c.subject);
        assert_eq!(c.subject_text, "VIAGRA");
    }

    /// A part read again has a budget of its own: mail-parser's reading of
    /// it, and of the parts after it, is read as far as before (one stray
    /// byte in a 33 KB part must not push the next part out).
    #[test]
    fn reading_again_takes_nothing_from_mail_parsers_reading() {
        let text = [b"\xff".as_slice(), &b"plain words ".repeat(2_800)].concat();
        let body = [
            b"--b1\r\nContent-Type: text/plain\r\n\r\n".as_slice(),
            &text,
            b"\r\n--b1\r\nContent-Type: text/html\r\n\r\n<a href=\"http://bad.example/x\">click</a>\r\n--b1--\r\n",
        ]
        .concat();
        let head = b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n";
        let c = Content::parse(&message(head, &body));
        assert_eq!(c.html_parts, 1);
        assert!(c.link_hosts.iter().any(|h| h == "bad.example"), "{:?}", c.link_hosts);
    }

    #[test]
    fn utf8_and_labelled_text_are_left_as_parsed() {
        let head = "Subject: 促销 ünïcödé\r\nContent-Type: text/plain; charset=utf-8\r\n".as_bytes();
        let c = Content::parse(&message(head, "正文 text".as_bytes()));
        assert_eq!(c.subject, "促销 ünïcödé");
        assert_eq!(all(&c).trim(), "正文 text");
    }
}
