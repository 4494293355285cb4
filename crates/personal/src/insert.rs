//! Puts a signature into a message's text, whatever its MIME shape, and
//! changes nothing else: the text/plain and text/html parts of a
//! multipart/alternative (inside multipart/mixed or multipart/related too),
//! or the single text part; never an attachment. Each part keeps its
//! charset and transfer encoding when they can carry the signature (a GBK
//! part stays GBK and base64 stays base64); a part that cannot (Chinese in
//! a us-ascii or Latin-1 part) becomes UTF-8, and 7bit text that gains
//! 8-bit characters becomes quoted-printable (RFC 2045 §6.2).
//!
//! Signed and encrypted messages (S/MIME, PGP/MIME, inline PGP) are left
//! alone: any change breaks the signature or cannot reach the text.

use caravel_store::fields::{field_value, replace_field};
use caravel_store::mime::{analyze_limited, decode_base64, decode_quoted_printable, BodyPart};

use crate::quote::quote_start;
use crate::transfer::{encode_base64_lines, encode_quoted_printable, long_lines};

/// How deep the MIME tree is searched for the text (a message's body is
/// near the top; deeper nesting is attachments).
const MAX_DEPTH: usize = 8;

/// A signature with its variables filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    /// HTML for text/html parts; without it the text is used, escaped.
    pub html: Option<String>,
    /// Whether the text follows a "-- " line (a signature) or only a blank
    /// line (a company footer under it).
    pub separator: bool,
}

/// Why a message was left as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// S/MIME or PGP: signed or encrypted.
    Protected,
    /// The text already holds the signature (the client added it).
    AlreadyThere,
    /// No text part to put it in (only attachments, or an unknown charset).
    NoText,
    /// A bare CR or LF: SMTP refuses such messages (smtp/src/data.rs), so
    /// only other callers can pass one, and it is left as it came.
    Malformed,
}

/// The message with `signature` added to its text parts.
pub fn insert(raw: &[u8], signature: &Rendered) -> Result<Vec<u8>, Skipped> {
    if bare_line_ends(raw) {
        return Err(Skipped::Malformed);
    }
    let (_, root) = analyze_limited(raw, MAX_DEPTH);
    let decoded = text_parts(raw, &root)?;
    if decoded.iter().any(|(part, text)| already_there(text, part.subtype == "html", signature)) {
        return Err(Skipped::AlreadyThere);
    }
    // Replace from the end, so earlier offsets stay valid.
    let mut decoded = decoded;
    decoded.sort_by_key(|(part, _)| std::cmp::Reverse(part.header_start));
    let mut out = raw.to_vec();
    for (part, text) in &decoded {
        let html = part.subtype == "html";
        let new_text = if html { add_html(text, signature) } else { add_text(text, signature) };
        let (start, body_start, end) = (part.header_start as usize, part.body_start as usize, part.end as usize);
        let replacement = encode_part(&raw[start..body_start], part, &new_text, &raw[body_start..end]);
        out.splice(start..end, replacement);
    }
    // The result must read as the same message with the signature in it:
    // input so odd that the change would alter its structure (a header
    // that starts with a continuation line, say) is left as it came.
    let (_, new_root) = analyze_limited(&out, MAX_DEPTH);
    let same_shape = leaf_count(&new_root) == leaf_count(&root);
    let found = text_parts(&out, &new_root)
        .is_ok_and(|parts| parts.iter().any(|(p, t)| already_there(t, p.subtype == "html", signature)));
    if !same_shape || !found {
        return Err(Skipped::Malformed);
    }
    Ok(out)
}

/// The decoded text parts that hold the message's own text.
fn text_parts<'a>(raw: &[u8], root: &'a BodyPart) -> Result<Vec<(&'a BodyPart, String)>, Skipped> {
    if is_protected(root) {
        return Err(Skipped::Protected);
    }
    let mut targets = Vec::new();
    body_parts(root, &mut targets, 0);
    let mut decoded = Vec::new();
    for part in targets {
        let Some(text) = decode(raw, part) else { continue };
        if text.contains("-----BEGIN PGP ") {
            return Err(Skipped::Protected);
        }
        decoded.push((part, text));
    }
    if decoded.is_empty() {
        return Err(Skipped::NoText);
    }
    Ok(decoded)
}

fn leaf_count(p: &BodyPart) -> usize {
    match p.parts.is_empty() {
        true => 1,
        false => p.parts.iter().map(leaf_count).sum(),
    }
}

fn bare_line_ends(raw: &[u8]) -> bool {
    raw.iter().enumerate().any(|(i, &b)| match b {
        b'\n' => i == 0 || raw[i - 1] != b'\r',
        b'\r' => raw.get(i + 1) != Some(&b'\n'),
        _ => false,
    })
}

/// Whether any part signs or encrypts (RFC 1847, RFC 3156, RFC 8551).
fn is_protected(p: &BodyPart) -> bool {
    let t = (p.media_type.as_str(), p.subtype.as_str());
    matches!(
        t,
        ("multipart", "signed")
            | ("multipart", "encrypted")
            | ("application", "pkcs7-mime")
            | ("application", "x-pkcs7-mime")
            | ("application", "pgp-encrypted")
            | ("application", "pgp-signature")
    ) || p.parts.iter().any(is_protected)
}

/// The parts that hold the message's own text: at most one text/plain and
/// one text/html, not attachments.
fn body_parts<'a>(p: &'a BodyPart, out: &mut Vec<&'a BodyPart>, depth: usize) {
    if depth > MAX_DEPTH || is_attachment(p) {
        return;
    }
    match (p.media_type.as_str(), p.subtype.as_str()) {
        ("text", "plain" | "html") if !out.iter().any(|o| o.subtype == p.subtype) => out.push(p),
        // RFC 2046 §5.1.4: the alternatives of one text.
        ("multipart", "alternative") => p.parts.iter().for_each(|c| body_parts(c, out, depth + 1)),
        // RFC 2046 §5.1.3 and RFC 2387 §3.2: the first part is the body
        // (the root of a related set), the rest attachments or resources.
        ("multipart", _) => {
            if let Some(first) = p.parts.first() {
                body_parts(first, out, depth + 1)
            }
        }
        _ => {}
    }
}

fn is_attachment(p: &BodyPart) -> bool {
    p.disposition.as_ref().is_some_and(|(d, _)| d == "attachment")
}

fn param<'a>(p: &'a BodyPart, name: &str) -> Option<&'a str> {
    p.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The part's text, decoded from its transfer encoding and charset; None
/// for a charset we cannot read.
fn decode(raw: &[u8], p: &BodyPart) -> Option<String> {
    let body = &raw[p.body_start as usize..p.end as usize];
    let bytes = match p.encoding.as_deref() {
        Some("base64") => decode_base64(body),
        Some("quoted-printable") => decode_quoted_printable(body),
        _ => body.to_vec(),
    };
    let label = param(p, "charset").unwrap_or("us-ascii");
    // Bytes the label does not describe (Latin-1 sent as us-ascii, broken
    // UTF-8) would be rewritten as replacement characters: such a part is
    // left as it came.
    if is_ascii_label(label) {
        return String::from_utf8(bytes).ok();
    }
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes())?;
    let (text, malformed) = encoding.decode_without_bom_handling(&bytes);
    (!malformed).then(|| text.into_owned())
}

fn is_ascii_label(label: &str) -> bool {
    let l = label.trim().to_ascii_lowercase();
    l == "us-ascii" || l == "ascii" || l == "ansi_x3.4-1968"
}

/// Text with white space collapsed and, for HTML, tags and the common
/// entities removed: what a reader sees, for the "already there" test.
fn visible(text: &str, html: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' if html => in_tag = true,
            '>' if html => {
                in_tag = false;
                out.push(' ');
            }
            _ if in_tag => {}
            _ => out.push(c),
        }
    }
    let out = if html { decode_entities(&out) } else { out };
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The character references a signature's HTML may hold (the ones
/// `escape_html` writes, &nbsp; and numeric ones).
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let name = &after[..e];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" | "#39" => '\'',
                "nbsp" => ' ',
                _ => match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                    Some(hex) => char::from_u32(u32::from_str_radix(hex, 16).ok()?)?,
                    None => char::from_u32(name.strip_prefix('#')?.parse().ok()?)?,
                },
            };
            Some((c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether the signature is already in the part (a client that also
/// signs, or the server inserting twice): its text in a text part, its
/// HTML (as text) in an HTML part.
fn already_there(text: &str, html: bool, signature: &Rendered) -> bool {
    let needle = match (&signature.html, html) {
        (Some(h), true) => visible(h, true),
        _ => visible(&signature.text, false),
    };
    // Only the new text counts: a signature in the quoted history is the
    // one of an earlier message.
    let fresh = &text[..quote_start(text, html).unwrap_or(text.len())];
    !needle.is_empty() && visible(fresh, html).contains(&needle)
}

/// RFC 3676 §4.3: the signature follows a line of "-- ". Lines end as the
/// part's own do (a base64 part may hold bare LFs).
fn add_text(text: &str, signature: &Rendered) -> String {
    let eol = if text.contains('\n') && !text.contains("\r\n") { "\n" } else { "\r\n" };
    // Above a reply's quoted history, else at the end.
    let (new, quoted) = text.split_at(quote_start(text, false).unwrap_or(text.len()));
    let mut out = new.to_string();
    if !quoted.is_empty() {
        out.truncate(out.trim_end().len());
        out.push_str(eol);
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(eol);
    }
    out.push_str(eol);
    if signature.separator {
        out.push_str("-- ");
        out.push_str(eol);
    }
    out.push_str(&signature.text.replace("\r\n", "\n").replace('\n', eol));
    if !out.ends_with(eol) {
        out.push_str(eol);
    }
    if !quoted.is_empty() {
        out.push_str(eol);
        out.push_str(quoted);
    }
    out
}

/// Above a reply's quoted history, else before `</body>`, else before
/// `</html>`, else at the end.
fn add_html(text: &str, signature: &Rendered) -> String {
    let block = format!(
        "<div class=\"caravel-signature\">{}</div>",
        match &signature.html {
            Some(h) => h.clone(),
            None => html_from_text(&signature.text),
        }
    );
    let lower = text.to_ascii_lowercase();
    let at = quote_start(text, true)
        .or_else(|| lower.rfind("</body"))
        .or_else(|| lower.rfind("</html"))
        .unwrap_or(text.len());
    let mut out = String::with_capacity(text.len() + block.len() + 2);
    out.push_str(&text[..at]);
    out.push_str(&block);
    if at == text.len() && !out.ends_with('\n') {
        out.push_str("\r\n");
    }
    out.push_str(&text[at..]);
    out
}

/// Plain text as HTML: escaped, line breaks kept.
pub fn html_from_text(text: &str) -> String {
    let escaped = escape_html(text);
    escaped.lines().collect::<Vec<_>>().join("<br>\r\n")
}

pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The part's header and body for `text`: the same charset and transfer
/// encoding where they can carry it, else UTF-8 and/or quoted-printable,
/// with the header's fields changed to say so.
fn encode_part(head: &[u8], p: &BodyPart, text: &str, old_body: &[u8]) -> Vec<u8> {
    let label = param(p, "charset").unwrap_or("us-ascii");
    let (bytes, charset_changed) = encode_charset(text, label);
    let encoding = p.encoding.as_deref().unwrap_or("7bit");
    let (body, new_encoding) = match encoding {
        "base64" => (encode_base64_lines(&bytes), None),
        "quoted-printable" => (encode_quoted_printable(&bytes), None),
        _ if long_lines(&bytes) || (encoding != "8bit" && encoding != "binary" && !bytes.is_ascii()) => {
            (encode_quoted_printable(&bytes), Some("quoted-printable"))
        }
        _ => (bytes, None),
    };
    // The body ended as it did before (mail-parser's end is before the
    // CRLF that precedes a boundary, or the message's end).
    let body = match (old_body.ends_with(b"\r\n"), body.ends_with(b"\r\n")) {
        (false, true) if !old_body.is_empty() => body[..body.len() - 2].to_vec(),
        _ => body,
    };
    // The header, blank line excluded, then changed fields.
    let blank = head.ends_with(b"\r\n\r\n") || head == b"\r\n";
    let mut fields = if blank { head[..head.len() - 2].to_vec() } else { head.to_vec() };
    if charset_changed {
        let value = field_value(&fields, "content-type").unwrap_or_else(|| format!("{}/{}", p.media_type, p.subtype));
        let field = format!("Content-Type: {}\r\n", with_charset(&value, "utf-8"));
        fields = replace_field(&fields, "content-type", Some(&field));
        if p.header_start == 0 && field_value(&fields, "mime-version").is_none() {
            fields = replace_field(&fields, "mime-version", Some("MIME-Version: 1.0\r\n"));
        }
    }
    if let Some(e) = new_encoding {
        fields =
            replace_field(&fields, "content-transfer-encoding", Some(&format!("Content-Transfer-Encoding: {e}\r\n")));
    }
    let mut out = fields;
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

/// `text` in the charset `label`, or in UTF-8 (true) when that charset
/// cannot hold every character or cannot be written.
fn encode_charset(text: &str, label: &str) -> (Vec<u8>, bool) {
    if is_ascii_label(label) {
        return (text.as_bytes().to_vec(), !text.is_ascii());
    }
    match encoding_rs::Encoding::for_label(label.as_bytes()) {
        Some(enc) if enc == encoding_rs::UTF_8 => (text.as_bytes().to_vec(), false),
        // UTF-16 and a few others are read but never written (WHATWG).
        Some(enc) if enc.output_encoding() == enc => {
            let (bytes, _, unmappable) = enc.encode(text);
            match unmappable {
                false => (bytes.into_owned(), false),
                true => (text.as_bytes().to_vec(), true),
            }
        }
        _ => (text.as_bytes().to_vec(), true),
    }
}

/// A Content-Type value with its charset parameter set to `charset`.
fn with_charset(value: &str, charset: &str) -> String {
    let mut parts: Vec<String> = split_params(value);
    parts.retain(|p| !p.trim().to_ascii_lowercase().starts_with("charset="));
    parts.insert(1.min(parts.len()), format!("charset={charset}"));
    parts.iter().map(|p| p.trim()).collect::<Vec<_>>().join("; ")
}

/// A header value split at the semicolons outside quotes.
fn split_params(value: &str) -> Vec<String> {
    let (mut parts, mut current, mut quoted) = (Vec::new(), String::new(), false);
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts.retain(|p| !p.trim().is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_parameter_is_replaced_in_place() {
        assert_eq!(
            with_charset("text/plain; charset=\"iso-8859-1\"; format=flowed", "utf-8"),
            "text/plain; charset=utf-8; format=flowed"
        );
        assert_eq!(with_charset("text/plain", "utf-8"), "text/plain; charset=utf-8");
    }

    #[test]
    fn visible_text_ignores_tags_and_spacing() {
        assert_eq!(visible("<p>Ana&nbsp;Li</p>\r\n<p>Sales</p>", true), "Ana Li Sales");
        let sig = |text: &str| Rendered { text: text.into(), html: None, separator: true };
        assert!(already_there("Regards\r\n-- \r\nAna Li\r\n  Sales", false, &sig("Ana Li\nSales")));
        assert!(!already_there("Regards", false, &sig("")));
        let html = Rendered { html: Some("<b>Ana</b> &amp; Li".into()), ..sig("Ana Li, Sales") };
        assert!(already_there("<p>x</p><div><b>Ana</b> &amp; Li</div>", true, &html));
        assert!(!already_there("<p>x</p><div><b>Ana</b> &amp; Li</div>", false, &html));
    }
}
