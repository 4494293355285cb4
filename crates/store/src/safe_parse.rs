//! What mail-parser may be given. It parses iteratively, with one exception:
//! a message/rfc822 (or message/global, or a multipart/digest child without
//! Content-Type) sent base64 or quoted-printable is decoded and parsed again
//! by recursion, and `into_owned` then recurses once per message enclosed in
//! it and copies the whole decoded text at each level. One such part holding
//! a chain of 10,000 messages overflows the stack; with padding it takes
//! gigabytes. RFC 2046 §5.2.1 forbids those encodings there anyway.
//!
//! So no such part may reach mail-parser's decoder. [`prepare`] finds them
//! with a parse in which no part is decoded at all (every line mail-parser
//! would read as a Content-Transfer-Encoding field is renamed: that parse is
//! safe by construction), and changes their declared type in a copy
//! (`message/...` becomes `xessage/...`, an opaque part mail-parser decodes
//! but does not parse), or renames their encoding when they have no type.
//! It repeats until a parse finds none, since a misparsed part can hide the
//! next one; if that takes too long it gives up decoding altogether. Every
//! change keeps the length, so offsets into the copy are offsets into the
//! message.

use std::borrow::Cow;
use std::collections::HashSet;

use mail_parser::{HeaderName, Message, MessageParser, MessagePart, MimeHeaders, PartType};
use std::sync::OnceLock;

/// Rounds of finding and changing encoded enclosed messages before giving up
/// on decoding.
const MAX_ROUNDS: usize = 8;

/// The bytes to give mail-parser, and what was changed in them.
pub struct Prepared<'a> {
    pub bytes: Cow<'a, [u8]>,
    /// Where the first letter of a renamed Content-Transfer-Encoding field
    /// name is.
    renamed: Vec<u32>,
    /// Where a Content-Type field whose type was changed starts.
    retyped: HashSet<u32>,
}

impl Prepared<'_> {
    /// Whether mail-parser was told this part is not a message.
    pub fn retyped(&self, p: &MessagePart) -> bool {
        !self.retyped.is_empty()
            && p.headers.iter().any(|h| h.name == HeaderName::ContentType && self.retyped.contains(&h.offset_field))
    }

    /// The encoding a part declared in a field that was renamed for parsing
    /// (the last such field, as mail-parser would read it).
    pub fn renamed_encoding(&self, p: &MessagePart, raw: &[u8]) -> Option<String> {
        renamed_fields(p, &self.renamed).last().map(|h| field_value(h, raw))
    }
}

/// The fields of `p` whose name holds one of the renamed positions.
fn renamed_fields<'a>(p: &'a MessagePart, renamed: &[u32]) -> Vec<&'a mail_parser::Header<'a>> {
    p.headers
        .iter()
        .filter(|h| {
            // `renamed` is sorted: is there a position in [field, value)?
            let i = renamed.partition_point(|&pos| pos < h.offset_field);
            renamed.get(i).is_some_and(|&pos| pos < h.offset_start)
        })
        .collect()
}

fn field_value(h: &mail_parser::Header, raw: &[u8]) -> String {
    let value = raw.get(h.offset_start as usize..h.offset_end as usize).unwrap_or_default();
    String::from_utf8_lossy(value).trim().to_ascii_lowercase()
}

pub fn prepare(raw: &[u8]) -> Prepared<'_> {
    let mut bytes: Cow<[u8]> = Cow::Borrowed(raw);
    let mut renamed = Vec::new();
    let mut retyped = HashSet::new();
    for _ in 0..MAX_ROUNDS {
        let (plain, lines) = without_encodings(&bytes);
        // Only the structure matters here: the MIME fields are parsed,
        // every other field is kept raw (cheaper).
        static STRUCTURE: OnceLock<MessageParser> = OnceLock::new();
        let parser = STRUCTURE.get_or_init(|| MessageParser::new().with_mime_headers());
        let found = match parser.parse(plain.as_ref()) {
            Some(msg) => {
                let found = encoded_messages(&msg, &bytes, &lines);
                crate::mime::drop_flat(msg);
                found
            }
            None => Vec::new(),
        };
        if found.is_empty() {
            renamed.sort_unstable();
            return Prepared { bytes, renamed, retyped };
        }
        let copy = bytes.to_mut();
        for f in found {
            match f.content_type {
                Some((field, value)) if retype(copy, value) => drop(retyped.insert(field)),
                _ => {
                    for pos in f.encoding_names {
                        copy[pos as usize] = b'X';
                        renamed.push(pos);
                    }
                }
            }
        }
    }
    // Still finding more: parse nothing decoded.
    let (plain, lines) = without_encodings(raw);
    Prepared { bytes: plain, renamed: lines, retyped: HashSet::new() }
}

/// An enclosed message sent encoded: where its encoding fields' names start,
/// and its Content-Type field (start, value range), if it has one.
struct Found {
    encoding_names: Vec<u32>,
    content_type: Option<(u32, (usize, usize))>,
}

/// The message parts (at any depth, walked without recursion) whose renamed
/// encoding field says base64, quoted-printable or anything but an identity
/// encoding.
fn encoded_messages(msg: &Message, original: &[u8], renamed: &[u32]) -> Vec<Found> {
    let mut found = Vec::new();
    let mut stack: Vec<&Message> = vec![msg];
    while let Some(m) = stack.pop() {
        // A part without Content-Type in a multipart/digest is a message
        // (RFC 2046 §5.1.5), whatever became of it in this parse.
        let in_digest: HashSet<usize> = m
            .parts
            .iter()
            .filter(|p| {
                p.content_type().is_some_and(|ct| ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("digest")))
            })
            .filter_map(|p| match &p.body {
                PartType::Multipart(children) => Some(children.iter().map(|&c| c as usize)),
                _ => None,
            })
            .flatten()
            .collect();
        for (index, p) in m.parts.iter().enumerate() {
            if let PartType::Message(inner) = &p.body {
                stack.push(inner);
            }
            // What mail-parser would decode and parse again: a part declared
            // a message, however this parse read its body.
            let declared = match p.content_type() {
                Some(ct) => {
                    ct.ctype().eq_ignore_ascii_case("message")
                        && ct
                            .subtype()
                            .is_some_and(|s| s.eq_ignore_ascii_case("rfc822") || s.eq_ignore_ascii_case("global"))
                }
                None => in_digest.contains(&index),
            };
            if !declared {
                continue;
            }
            // Any of its encoding fields (mail-parser reads the last one).
            let fields = renamed_fields(p, renamed);
            let identity =
                |h: &&mail_parser::Header| matches!(field_value(h, original).as_str(), "" | "7bit" | "8bit" | "binary");
            if fields.iter().all(identity) {
                continue;
            }
            let encoding_names = fields
                .iter()
                .filter_map(|h| {
                    let i = renamed.partition_point(|&pos| pos < h.offset_field);
                    renamed.get(i).copied()
                })
                .collect();
            let content_type = p
                .headers
                .iter()
                .find(|h| h.name == HeaderName::ContentType)
                .map(|h| (h.offset_field, (h.offset_start as usize, h.offset_end as usize)));
            found.push(Found { encoding_names, content_type });
        }
    }
    found
}

/// `message/...` becomes `xessage/...` in a Content-Type value; false when
/// the value does not start with "message".
fn retype(bytes: &mut [u8], (start, end): (usize, usize)) -> bool {
    let Some(value) = bytes.get_mut(start..end.min(start + 4096)) else { return false };
    let at = value.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(value.len());
    if value.len() >= at + 7 && value[at..at + 7].eq_ignore_ascii_case(b"message") {
        value[at] = b'x';
        true
    } else {
        false
    }
}

/// A copy in which every Content-Transfer-Encoding field name, wherever it
/// stands (mail-parser may start reading a header mid-line, after a boundary,
/// after whitespace, after colons), is renamed, and where (sorted) the
/// renamed letters are. Renaming a look-alike in a body changes nothing that
/// matters: this copy is only read for its structure.
pub fn without_encodings(bytes: &[u8]) -> (Cow<'_, [u8]>, Vec<u32>) {
    let mut out: Cow<[u8]> = Cow::Borrowed(bytes);
    let mut renamed = Vec::new();
    for at in memchr::memchr2_iter(b'c', b'C', bytes) {
        if is_encoding_field_name(&bytes[at..]) {
            out.to_mut()[at] = b'X';
            renamed.push(at as u32);
        }
    }
    (out, renamed)
}

/// Whether `rest` starts with a Content-Transfer-Encoding field name as
/// mail-parser reads names (whitespace anywhere in it dropped, case ignored,
/// no line break) followed by its colon.
fn is_encoding_field_name(rest: &[u8]) -> bool {
    const NAME: &[u8] = b"content-transfer-encoding";
    let mut len = 0;
    for &b in rest {
        match b {
            b'\n' => return false,
            b':' => return len == NAME.len(),
            b if b.is_ascii_whitespace() => {}
            b if len < NAME.len() && b.eq_ignore_ascii_case(&NAME[len]) => len += 1,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_as_mail_parser_reads_them() {
        for line in [
            &b"Content-Transfer-Encoding: base64"[..],
            b"content-transfer-encoding:base64",
            b":Content-Transfer-Encoding: base64",
            b" Content-Transfer- Encoding : base64",
            b"\rContent-Transfer-Encoding: base64",
            b"--eContent-Transfer-Encoding: base64",
        ] {
            let (_, renamed) = without_encodings(line);
            assert_eq!(renamed.len(), 1, "{}", String::from_utf8_lossy(line));
        }
        for line in
            [&b"Content-Type: text/plain"[..], b"Content-Transfer-Encodings: x", b"Content-Transfer\n-Encoding: x"]
        {
            assert!(without_encodings(line).1.is_empty(), "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn ordinary_mail_is_parsed_as_it_is() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n";
        let p = prepare(raw);
        assert!(matches!(p.bytes, Cow::Borrowed(_)));
    }
}
