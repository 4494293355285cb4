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
        let n = self.lines.len();
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i + 1 < n { '-' } else { ' ' };
            // A reply line never carries a CR or LF of its own.
            let clean: String = line.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            out.extend_from_slice(format!("{}{sep}{clean}\r\n", self.code).as_bytes());
        }
        if n == 0 {
            out.extend_from_slice(format!("{}\r\n", self.code).as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
