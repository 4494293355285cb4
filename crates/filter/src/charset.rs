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

use std::cell::OnceCell;

use encoding_rs::{Encoding, UTF_8};
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{Encoding as Transfer, Header, Message, MessagePart, MimeHeaders};

/// How much of the message the detector reads.
const DETECT_BYTES: usize = 64 * 1024;

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

    /// A header field's value as text: `parsed` (mail-parser's reading)
    /// unless its raw bytes are not UTF-8, then those bytes decoded and
    /// unfolded (RFC 5322 §2.2.3).
    pub fn field(&self, h: &Header, parsed: &str) -> Option<String> {
        if !parsed.contains(REPLACED) {
            return None;
        }
        let raw = self.msg.raw_message().get(h.offset_start as usize..h.offset_end as usize)?;
        if std::str::from_utf8(raw).is_ok() {
            return None;
        }
        let text = self.decode(raw);
        Some(text.replace("\r\n", "").replace('\n', "").trim().to_string())
    }

    /// The display name of a `From:` field whose raw bytes are not UTF-8:
    /// what comes before the address, without quotes.
    pub fn display_name(&self, h: &Header, parsed: &str) -> Option<String> {
        let value = self.field(h, parsed)?;
        let name = value.rsplit_once('<').map_or("", |(name, _)| name);
        Some(name.trim().trim_matches('"').trim().to_string())
    }

    /// A text part's text: `parsed` unless the part has no charset
    /// mail-parser knows (none, an unknown one, or "us-ascii", which says
    /// nothing about 8-bit bytes) and has 8-bit bytes, then its bytes
    /// decoded.
    pub fn part(&self, part: &MessagePart, parsed: &str) -> Option<String> {
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
        let raw = self.msg.raw_message().get(part.offset_body as usize..part.offset_end as usize)?;
        let bytes = match part.encoding {
            Transfer::Base64 => mail_parser::decoders::base64::base64_decode(raw)?,
            Transfer::QuotedPrintable => mail_parser::decoders::quoted_printable::quoted_printable_decode(raw)?,
            Transfer::None => raw.to_vec(),
        };
        match std::str::from_utf8(&bytes) {
            // UTF-8 under an ASCII label: mail-parser read it as Latin-1.
            Ok(text) => ascii.then(|| text.to_string()),
            Err(_) => Some(self.decode(&bytes)),
        }
    }

    fn decode(&self, bytes: &[u8]) -> String {
        let encoding = *self.chosen.get_or_init(|| declared(self.msg).unwrap_or_else(|| detect(self.msg, bytes)));
        encoding.decode_without_bom_handling(bytes).0.into_owned()
    }
}

fn is_ascii_label(label: &str) -> bool {
    let l = label.trim().to_ascii_lowercase();
    l.contains("ascii") || matches!(l.as_str(), "us" | "iso646-us" | "cp367" | "ibm367" | "csascii")
}

/// The first legacy charset a part of the message declares.
fn declared(msg: &Message) -> Option<&'static Encoding> {
    msg.parts
        .iter()
        .filter_map(|p| p.content_type()?.attribute("charset"))
        .filter(|cs| !is_ascii_label(cs))
        .filter_map(|cs| Encoding::for_label(cs.trim().as_bytes()))
        .find(|&e| e != UTF_8)
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

    #[test]
    fn a_raw_subject_takes_the_charset_the_body_declares() {
        let big5 = |t: &str| encoding_rs::BIG5.encode(t).0.into_owned();
        let head =
            [b"Subject: ".as_slice(), &big5("特價促銷"), b"\r\nContent-Type: text/plain; charset=big5\r\n"].concat();
        let c = Content::parse(&message(&head, &big5("本週特價")));
        assert_eq!(c.subject, "特價促銷");
        assert!(c.body.contains("本週特價"));
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

    #[test]
    fn utf8_and_labelled_text_are_left_as_parsed() {
        let head = "Subject: 促销 ünïcödé\r\nContent-Type: text/plain; charset=utf-8\r\n".as_bytes();
        let c = Content::parse(&message(head, "正文 text".as_bytes()));
        assert_eq!(c.subject, "促销 ünïcödé");
        assert_eq!(c.body.trim(), "正文 text");
    }
}
