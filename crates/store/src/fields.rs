//! Header fields of a message or MIME part as raw bytes (RFC 5322 §2.2):
//! what changes a header in place (submission hygiene, signatures) needs,
//! keeping every other byte as it was.

/// Where the header ends: just after the CRLF that closes its last field
/// (the blank line and the body follow), or the whole message when it has
/// no blank line.
pub fn header_end(message: &[u8]) -> usize {
    if message.starts_with(b"\r\n") {
        return 0;
    }
    message.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2).unwrap_or(message.len())
}

/// The header's fields, each with its continuation lines and CRLFs.
pub fn fields(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = head;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = 0;
        loop {
            match rest[end..].windows(2).position(|w| w == b"\r\n") {
                Some(p) => {
                    end += p + 2;
                    // A line starting with white space continues the field.
                    if !rest.get(end).is_some_and(|b| *b == b' ' || *b == b'\t') {
                        break;
                    }
                }
                None => {
                    end = rest.len();
                    break;
                }
            }
        }
        let (field, tail) = rest.split_at(end);
        rest = tail;
        Some(field)
    })
}

/// A field's name (before the colon, white space trimmed).
pub fn field_name(field: &[u8]) -> &[u8] {
    let name = field.split(|b| *b == b':').next().unwrap_or_default();
    name.trim_ascii()
}

/// `head` with every field named `name` removed and `replacement` (a whole
/// field with its CRLF, or nothing) added at the end.
pub fn replace_field(head: &[u8], name: &str, replacement: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 64);
    for field in fields(head) {
        if !field_name(field).eq_ignore_ascii_case(name.as_bytes()) {
            out.extend_from_slice(field);
        }
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    if let Some(r) = replacement {
        out.extend_from_slice(r.as_bytes());
    }
    out
}

/// The unfolded value of the first field named `name`.
pub fn field_value(head: &[u8], name: &str) -> Option<String> {
    let field = fields(head).find(|f| field_name(f).eq_ignore_ascii_case(name.as_bytes()))?;
    let colon = field.iter().position(|b| *b == b':')?;
    let value = String::from_utf8_lossy(&field[colon + 1..]);
    Some(value.split("\r\n").map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_their_continuation_lines() {
        let head = b"A: 1\r\nB: 2\r\n\t3\r\nC: 4";
        let all: Vec<&[u8]> = fields(head).collect();
        assert_eq!(all, vec![&b"A: 1\r\n"[..], b"B: 2\r\n\t3\r\n", b"C: 4"]);
        assert_eq!(field_value(head, "b").as_deref(), Some("2 3"));
        assert_eq!(replace_field(head, "b", Some("B: x\r\n")), b"A: 1\r\nC: 4\r\nB: x\r\n");
        assert_eq!(header_end(b"A: 1\r\n\r\nbody"), 6);
        assert_eq!(header_end(b"\r\nbody"), 0);
    }
}
