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

use encoding_rs::{Encoding, REPLACEMENT, UTF_8, X_USER_DEFINED};
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::parsers::MessageStream;
use mail_parser::{Encoding as Transfer, Header, HeaderValue, Message, MessagePart, MimeHeaders};

/// How much of the message the detector reads.
const DETECT_BYTES: usize = 64 * 1024;
/// How much of a part's raw body is decoded again: base64 is 4/3 of its
/// bytes, quoted-printable up to three times, and the text is cut at
/// `MAX_TEXT` after.
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

impl<'m, 'x> Unlabelled<'m, 'x> {
    pub fn new(msg: &'m Message<'x>) -> Self {
        Unlabelled { msg, chosen: OnceCell::new() }
    }

    /// A top-level header field read again when mail-parser's reading
    /// `parsed` has U+FFFD and its raw bytes are not UTF-8: the bytes
    /// decoded, then parsed as mail-parser parses the field (encoded words
    /// decoded, addresses apart), so that one raw byte does not undo the
    /// rest of the field. None: keep mail-parser's.
    pub fn field(&self, h: &Header, parsed: &str) -> Option<HeaderValue<'static>> {
        if !parsed.contains(REPLACED) {
            return None;
        }
        let raw = self.msg.raw_message().get(h.offset_start as usize..h.offset_end as usize)?;
        let raw = &raw[..raw.len().min(FIELD_BYTES)];
        if !not_utf8(raw) {
            return None;
        }
        let mut text = self.decode(None, raw).into_bytes();
        text.extend_from_slice(b"\r\n");
        let mut stream = MessageStream::new(&text);
        let value = match &h.value {
            HeaderValue::Address(_) => stream.parse_address(),
            HeaderValue::Text(_) | HeaderValue::TextList(_) => stream.parse_unstructured(),
            _ => return None,
        };
        Some(value.into_owned())
    }

    /// A text part whose offsets are in `offsets_in` (see
    /// [`offsets_of_attached`]): `parsed` unless the part has no charset
    /// mail-parser knows (none, one only encoding_rs knows, or "us-ascii",
    /// which says nothing about 8-bit bytes) and has 8-bit bytes, then its
    /// bytes decoded.
    pub fn part(&self, offsets_in: &[u8], part: &MessagePart, parsed: &str) -> Option<String> {
        let label = part.content_type().and_then(|ct| ct.attribute("charset"));
        let ascii = label.is_some_and(is_ascii_label);
        if label.is_some_and(|cs| !ascii && charset_decoder(cs.as_bytes()).is_some()) {
            return None;
        }
        // Read as "us-ascii", 8-bit bytes come out as Latin-1 letters;
        // read without a charset, as U+FFFD.
        if if ascii { parsed.is_ascii() } else { !parsed.contains(REPLACED) } {
            return None;
        }
        let raw = offsets_in.get(part.offset_body as usize..part.offset_end as usize)?;
        // Content reads at most MAX_TEXT of text: decode no more than
        // could give it, in whole lines (a base64 quantum or a
        // quoted-printable escape is never cut).
        let raw = match raw.len() > DECODE_BYTES {
            true => raw[..DECODE_BYTES].rsplitn(2, |&b| b == b'\n').last().unwrap_or_default(),
            false => raw,
        };
        // mail-parser's own MIME decoders: as lenient as when it read the
        // part (a stray "=" in quoted-printable stays).
        let bytes = match part.encoding {
            Transfer::Base64 => decoded(MessageStream::new(raw).decode_base64_mime(b""))?,
            Transfer::QuotedPrintable => decoded(MessageStream::new(raw).decode_quoted_printable_mime(b""))?,
            Transfer::None => Cow::Borrowed(raw),
        };
        match not_utf8(&bytes) {
            // UTF-8 under an ASCII label: mail-parser read it as Latin-1.
            false => ascii.then(|| String::from_utf8_lossy(&bytes).into_owned()),
            true => {
                // A label encoding_rs knows and mail-parser does not
                // ("x-gbk"), else an HTML part's own <meta charset>.
                let own = label
                    .filter(|_| !ascii)
                    .and_then(|cs| Encoding::for_label(cs.trim().as_bytes()))
                    .or_else(|| meta_charset(&bytes))
                    .filter(|&e| usable(e));
                Some(self.decode(own, &bytes))
            }
        }
    }

    fn decode(&self, own: Option<&'static Encoding>, bytes: &[u8]) -> String {
        let encoding = own.unwrap_or_else(|| {
            *self.chosen.get_or_init(|| declared(self.msg).unwrap_or_else(|| detect(self.msg, bytes)))
        });
        encoding.decode_without_bom_handling(bytes).0.into_owned()
    }
}

/// The charset an HTML text names near its top (`<meta charset=gbk>` or
/// `<meta http-equiv="Content-Type" content="text/html; charset=gbk">`),
/// where a browser looks for it (HTML §13.2.3.2 reads the first 1,024
/// bytes).
fn meta_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(1024)];
    let at = head.windows(8).position(|w| w.eq_ignore_ascii_case(b"charset="))? + 8;
    let label: Vec<u8> = head[at..]
        .iter()
        .skip_while(|&&b| b == b'"' || b == b'\'')
        .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        .copied()
        .collect();
    Encoding::for_label(&label)
}

/// Whether `bytes` are not UTF-8 (a character cut at the very end counts
/// as UTF-8: the text was cut there).
fn not_utf8(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_err_and(|e| e.error_len().is_some())
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
    l.contains("ascii") || matches!(l.as_str(), "us" | "iso646-us" | "cp367" | "ibm367" | "csascii")
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
/// quoted-printable).
fn detect(msg: &Message, text: &[u8]) -> &'static Encoding {
    let mut d = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    let raw = msg.raw_message();
    d.feed(&raw[..raw.len().min(DETECT_BYTES)], false);
    d.feed(b"\n", false);
    d.feed(&text[..text.len().min(DETECT_BYTES)], true);
    d.guess(None, chardetng::Utf8Detection::Deny)
}

#[cfg(test)]
mod tests {
    use crate::content::Content;

    fn gb(text: &str) -> Vec<u8> {
        encoding_rs::GBK.encode(text).0.into_owned()
    }

    fn message(head: &[u8], body: &[u8]) -> Vec<u8> {
        [b"From: a@b.test\r\nTo: c@d.test\r\n".as_slice(), head, b"\r\n", body, b"\r\n"].concat()
    }

    #[test]
    fn a_raw_gbk_subject_and_a_body_without_charset_are_read() {
        let head = [b"Subject: ".as_slice(), &gb("代开发票 优惠"), b"\r\nContent-Type: text/plain\r\n"].concat();
        let raw = message(&head, &gb("尊敬的客户您好，本公司常年代开发票，优惠促销，请加微信联系。"));
        let c = Content::parse(&raw);
        assert_eq!(c.subject, "代开发票 优惠");
        assert!(c.body.contains("代开发票") && c.body.contains("加微信"), "{}", c.body);
    }

    /// A raw subject in the charset the body declares (ISO-8859-7; from
    /// the subject's three bytes the detector guesses another).
    #[test]
    fn a_raw_subject_takes_the_charset_the_body_declares() {
        let iso = |t: &str| encoding_rs::ISO_8859_7.encode(t).0.into_owned();
        let head =
            [b"Subject: ".as_slice(), &iso("Ώρα"), b"\r\nContent-Type: text/plain; charset=iso-8859-7\r\n"].concat();
        let c = Content::parse(&message(&head, b"plain text"));
        assert_eq!(c.subject, "ώρα");
        assert_eq!(c.subject_text, "Ώρα");
    }

    /// An HTML part without a MIME charset is read in the one its <meta>
    /// names (ISO-8859-7; from three bytes the detector guesses another).
    #[test]
    fn html_meta_charset() {
        let iso = encoding_rs::ISO_8859_7.encode("Ώρα").0.into_owned();
        let html = [
            b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-7\"></head><body>"
                .as_slice(),
            &iso,
            b"</body></html>",
        ]
        .concat();
        let c = Content::parse(&message(b"Subject: x\r\nContent-Type: text/html\r\n", &html));
        assert!(c.body.contains("ώρα"), "{}", c.body);
    }

    /// One raw byte does not undo the encoded words of the field.
    #[test]
    fn encoded_words_next_to_raw_bytes() {
        let head = [b"Subject: =?UTF-8?B?5L+D6ZSA?= ".as_slice(), &gb("特价"), b"\r\n"].concat();
        let c = Content::parse(&message(&head, b"body"));
        assert_eq!(c.subject, "促销 特价");
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
            assert!(c.body.starts_with("促销价格 a"), "{label}: {}", c.body);
        }
    }

    #[test]
    fn us_ascii_over_eight_bits_and_base64_without_charset() {
        use base64::Engine;
        let koi8 = encoding_rs::KOI8_R.encode("Скидки на все товары только сегодня, звоните нам").0.into_owned();
        let head = b"Subject: hi\r\nContent-Type: text/plain; charset=us-ascii\r\n";
        let c = Content::parse(&message(head, &koi8));
        assert!(c.body.contains("скидки на все товары"), "{}", c.body);
        let sjis = encoding_rs::SHIFT_JIS.encode("今すぐお電話ください、特別なご案内です。").0.into_owned();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&sjis);
        let head = b"Subject: hi\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n";
        let c = Content::parse(&message(head, b64.as_bytes()));
        assert!(c.body.contains("特別なご案内"), "{}", c.body);
    }

    #[test]
    fn a_raw_display_name_and_other_fields() {
        let head = [b"Subject: x\r\nX-Note: ".as_slice(), &gb("广告"), b"\r\n"].concat();
        let mut raw = message(&head, b"body");
        let from = [b"From: \"".as_slice(), &gb("张经理"), b"\" <a@b.test>\r\n"].concat();
        raw.splice(0..b"From: a@b.test\r\n".len(), from);
        let c = Content::parse(&raw);
        assert_eq!(c.from_name, "张经理");
        assert_eq!(c.from_address, "a@b.test");
        assert!(c.headers.iter().any(|(n, v)| n == "x-note" && v == "广告"), "{:?}", c.headers);
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
            assert!(c.body.contains("see below") && c.body.contains("内附报价单"), "{cte}: {}", c.body);
        }
    }

    /// A long part is decoded again only as far as the text is read.
    #[test]
    fn a_long_part_is_cut_at_a_line() {
        let line = gb("促销价格表第一行内容\r\n");
        let body: Vec<u8> = line.iter().copied().cycle().take(line.len() * 20_000).collect();
        let c = Content::parse(&message(b"Subject: x\r\nContent-Type: text/plain\r\n", &body));
        assert!(c.body.starts_with("促销价格表第一行内容"), "{}", &c.body[..60]);
        assert!(c.body.len() <= crate::content::MAX_TEXT + 1);
        assert!(!c.body.contains('\u{FFFD}'));
    }

    #[test]
    fn utf8_and_labelled_text_are_left_as_parsed() {
        let head = "Subject: 促销 ünïcödé\r\nContent-Type: text/plain; charset=utf-8\r\n".as_bytes();
        let c = Content::parse(&message(head, "正文 text".as_bytes()));
        assert_eq!(c.subject, "促销 ünïcödé");
        assert_eq!(c.body.trim(), "正文 text");
    }
}
