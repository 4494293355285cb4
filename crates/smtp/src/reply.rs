//! SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Each line's text, enhanced code included where it applies.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply: `code enhanced text`.
    pub fn new(code: u16, enhanced: &str, text: impl AsRef<str>) -> Reply {
        let text = text.as_ref();
        let line = if enhanced.is_empty() { text.to_string() } else { format!("{enhanced} {text}") };
        Reply { code, lines: vec![line] }
    }

    /// A reply without an enhanced code (greeting, EHLO, 354, 334).
    pub fn plain(code: u16, text: impl Into<String>) -> Reply {
        Reply { code, lines: vec![text.into()] }
    }

    pub fn multiline(code: u16, lines: Vec<String>) -> Reply {
        Reply { code, lines }
    }

    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // A reply line never carries a CR or LF of its own, and is at most
        // 512 octets with its code and CRLF (RFC 5321 §4.5.3.1.5): a longer
        // text (a spam refusal naming its reasons) goes on more lines, each
        // with the enhanced code (RFC 2034 §4).
        let lines: Vec<String> = self
            .lines
            .iter()
            .flat_map(|line| split_long(&line.chars().filter(|c| *c != '\r' && *c != '\n').collect::<String>()))
            .collect();
        let n = lines.len();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 < n { '-' } else { ' ' };
            out.extend_from_slice(format!("{}{sep}{line}\r\n", self.code).as_bytes());
        }
        if n == 0 {
            out.extend_from_slice(format!("{}\r\n", self.code).as_bytes());
        }
        out
    }
}

/// The most text a reply line holds: 512 octets less "NNN-" and CRLF.
const MAX_TEXT: usize = 512 - 6;

/// `line` in pieces of at most `MAX_TEXT` bytes, cut at a space where one
/// is near and never inside a character; each piece after the first starts
/// with the line's enhanced code (`5.7.1`), if it has one.
fn split_long(line: &str) -> Vec<String> {
    if line.len() <= MAX_TEXT {
        return vec![line.to_string()];
    }
    let enhanced = line.split_once(' ').map(|(c, _)| c).filter(|c| {
        c.len() <= 11
            && c.split('.').count() == 3
            && c.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    let prefix = enhanced.map_or(String::new(), |c| format!("{c} "));
    let mut out = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let room = if out.is_empty() { MAX_TEXT } else { MAX_TEXT - prefix.len() };
        let piece = if rest.len() <= room {
            rest
        } else {
            let mut end = room;
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            // At the last space in the final quarter, if there is one.
            match rest[..end].rfind(' ').filter(|&sp| sp > room * 3 / 4) {
                Some(sp) => &rest[..sp],
                None => &rest[..end],
            }
        };
        out.push(if out.is_empty() { piece.to_string() } else { format!("{prefix}{}", piece.trim_start()) });
        rest = rest[piece.len()..].trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_go_on_more_lines_of_at_most_512_octets() {
        let reasons = "the message contains words typical of spam: 发票代开; ".repeat(40);
        let bytes = Reply::new(550, "5.7.1", format!("Not sent: {reasons}")).to_bytes();
        let text = String::from_utf8(bytes).expect("utf-8 kept whole");
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert!(lines.len() > 3, "{lines:?}");
        assert!(lines.iter().all(|l| l.len() + 2 <= 512), "{lines:?}");
        assert!(lines[..lines.len() - 1].iter().all(|l| l.starts_with("550-5.7.1 ")), "{lines:?}");
        assert!(lines[lines.len() - 1].starts_with("550 5.7.1 "));
        let joined: String = lines.iter().map(|l| &l[10..]).collect::<Vec<_>>().join(" ");
        assert_eq!(
            joined.split_whitespace().collect::<Vec<_>>(),
            format!("Not sent: {reasons}").split_whitespace().collect::<Vec<_>>()
        );
        // Short replies are as they were.
        assert_eq!(Reply::new(250, "2.0.0", "Ok").to_bytes(), b"250 2.0.0 Ok\r\n");
    }

    #[test]
    fn formats() {
        assert_eq!(Reply::new(250, "2.1.0", "Ok").to_bytes(), b"250 2.1.0 Ok\r\n");
        assert_eq!(
            Reply::multiline(250, vec!["mail.example.test".into(), "PIPELINING".into()]).to_bytes(),
            b"250-mail.example.test\r\n250 PIPELINING\r\n"
        );
        assert_eq!(Reply::plain(354, "go\r\nahead").to_bytes(), b"354 goahead\r\n");
    }
}
