//! Content transfer encodings for the parts a signature changes (RFC 2045
//! §6.7 quoted-printable, §6.8 base64), written as mail programs write
//! them: lines of at most 76 characters, CRLF line ends.

use base64::Engine;

/// Base64 in lines of 76 characters, each ending in CRLF.
pub fn encode_base64_lines(data: &[u8]) -> Vec<u8> {
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = Vec::with_capacity(text.len() + text.len() / 76 * 2 + 2);
    for chunk in text.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Quoted-printable: line breaks (CRLF or LF) stay line breaks, other bytes
/// outside printable ASCII and '=' are escaped, white space at the end of a
/// line is escaped, and long lines get soft breaks (`=` CRLF) so that no
/// encoded line passes 76 characters.
pub fn encode_quoted_printable(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 3 / 2);
    let text = data.strip_suffix(b"\n").map(|d| d.strip_suffix(b"\r").unwrap_or(d));
    let ends_in_break = text.is_some();
    let lines: Vec<&[u8]> = text.unwrap_or(data).split(|b| *b == b'\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut width = 0;
        for (j, &b) in line.iter().enumerate() {
            let last = j + 1 == line.len();
            let literal = matches!(b, 33..=60 | 62..=126) || (matches!(b, b' ' | b'\t') && !last);
            let token_len = if literal { 1 } else { 3 };
            // Room for the token and, unless it ends the line, a soft break.
            let room = if last { 76 } else { 75 };
            if width + token_len > room {
                out.extend_from_slice(b"=\r\n");
                width = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(format!("={b:02X}").as_bytes());
            }
            width += token_len;
        }
        if i + 1 < lines.len() || ends_in_break {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// Whether a line is longer than SMTP carries (RFC 5321 §4.5.3.1.6: 998
/// characters before the CRLF).
pub fn long_lines(data: &[u8]) -> bool {
    data.split(|b| *b == b'\n').any(|l| l.strip_suffix(b"\r").unwrap_or(l).len() > 998)
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravel_store::mime::{decode_base64, decode_quoted_printable};

    #[test]
    fn quoted_printable_round_trips_and_keeps_lines_short() {
        let text = "Grüße aus Shenzhen = 深圳 \r\ntrailing tab\t\r\n".to_string() + &"x".repeat(200) + "\r\n";
        let encoded = encode_quoted_printable(text.as_bytes());
        assert!(encoded.split(|b| *b == b'\n').all(|l| l.len() <= 77), "{}", String::from_utf8_lossy(&encoded));
        assert!(encoded.is_ascii());
        assert_eq!(decode_quoted_printable(&encoded), text.as_bytes());
        assert!(String::from_utf8_lossy(&encoded).contains("Shenzhen =3D =E6=B7=B1=E5=9C=B3=20\r\n"));
        assert!(String::from_utf8_lossy(&encoded).contains("trailing tab=09\r\n"));
    }

    #[test]
    fn base64_lines_round_trip() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let encoded = encode_base64_lines(&data);
        assert!(encoded.split(|b| *b == b'\n').all(|l| l.len() <= 78));
        assert_eq!(decode_base64(&encoded), data);
    }

    #[test]
    fn only_lines_over_998_are_long() {
        assert!(!long_lines(&[b'a'; 998]));
        assert!(long_lines(&[b'a'; 999]));
        assert!(!long_lines(b"short\r\nlines\n"));
    }
}
