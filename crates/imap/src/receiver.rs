//! Splits the client's byte stream into whole commands (RFC 9051 §2.2.1,
//! §4.3): a command is a line that may carry literals `{n}` / `{n+}` (RFC 7888
//! LITERAL+), each followed by CRLF and n raw bytes. No I/O: the driver feeds
//! bytes and acts on what comes out.

#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole command, literals included as they arrived.
    Command(Vec<u8>),
    /// A synchronizing literal was announced: send a continuation request.
    Continue,
    /// The command went over a limit; it was discarded (the tag, if known, is given).
    TooLong { tag: Option<String>, literal: bool },
}

pub struct Receiver {
    buf: Vec<u8>,
    /// Where the scan for the next CRLF starts.
    scan: usize,
    /// Bytes of literal still to take before scanning again.
    literal_left: usize,
    /// Bytes of a refused LITERAL+ literal still to throw away.
    discard_left: usize,
    /// Skipping the rest of a refused command up to its end of line.
    skipping: bool,
    max_line: usize,
    max_literal: usize,
    max_command: usize,
}

impl Receiver {
    pub fn new(max_line: usize, max_literal: usize) -> Receiver {
        Receiver {
            buf: Vec::new(),
            scan: 0,
            literal_left: 0,
            discard_left: 0,
            skipping: false,
            max_line,
            max_literal,
            max_command: max_literal.saturating_add(64 * max_line),
        }
    }

    /// Bytes that belong to no command yet (after a STARTTLS, discarded).
    pub fn clear(&mut self) {
        *self = Receiver::new(self.max_line, self.max_literal);
    }

    /// Takes the bytes received after the last command, which belong to no
    /// command yet (after COMPRESS they are compressed and must be decoded).
    pub fn take_pending(&mut self) -> Vec<u8> {
        let pending = std::mem::take(&mut self.buf);
        self.clear();
        pending
    }

    pub fn feed(&mut self, input: &[u8]) {
        // A refused literal's bytes are dropped as they arrive, never stored.
        let drop = self.discard_left.min(input.len());
        self.discard_left -= drop;
        self.buf.extend_from_slice(&input[drop..]);
    }

    /// Nothing of a next command has arrived: no partial line, no literal
    /// under way. Only then may NOTIFY speak up unasked (RFC 3501 §7.4.1:
    /// an EXPUNGE while the client sends a command would renumber it).
    pub fn between_commands(&self) -> bool {
        self.buf.is_empty() && self.literal_left == 0 && self.discard_left == 0 && !self.skipping
    }

    /// The largest literal accepted from now on (small before sign-in).
    pub fn set_max_literal(&mut self, max: usize) {
        self.max_literal = max;
        self.max_command = max.saturating_add(64 * self.max_line);
    }

    /// The next event, or `None` when more bytes are needed.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if self.literal_left > 0 {
                let have = self.buf.len() - self.scan;
                let take = have.min(self.literal_left);
                self.scan += take;
                self.literal_left -= take;
                if self.literal_left > 0 {
                    return None;
                }
            }
            let rest = &self.buf[self.scan..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                let line_len = self.buf.len() - self.line_start();
                if line_len > self.max_line {
                    let tag = self.tag();
                    self.buf.clear();
                    self.scan = 0;
                    self.skipping = true;
                    return Some(Event::TooLong { tag, literal: false });
                }
                return None;
            };
            let end = self.scan + nl + 1;
            if std::mem::take(&mut self.skipping) {
                self.buf.drain(..end);
                self.scan = 0;
                continue;
            }
            let line = &self.buf[self.scan..end];
            if line.len() > self.max_line {
                let tag = self.tag();
                self.buf.drain(..end);
                self.scan = 0;
                return Some(Event::TooLong { tag, literal: false });
            }
            match literal_marker(line) {
                Some((n, sync)) => {
                    if n > self.max_literal || end + n > self.max_command {
                        let tag = self.tag();
                        self.buf.drain(..end);
                        self.scan = 0;
                        if !sync {
                            // LITERAL+ (RFC 7888 §5): the bytes come anyway;
                            // throw them away, then the rest of their line.
                            let have = self.buf.len().min(n);
                            self.buf.drain(..have);
                            self.discard_left = n - have;
                            self.skipping = true;
                        }
                        return Some(Event::TooLong { tag, literal: true });
                    }
                    self.scan = end;
                    self.literal_left = n;
                    if sync {
                        return Some(Event::Continue);
                    }
                }
                None => {
                    let cmd: Vec<u8> = self.buf.drain(..end).collect();
                    self.scan = 0;
                    return Some(Event::Command(cmd));
                }
            }
        }
    }

    fn line_start(&self) -> usize {
        self.scan
    }

    fn tag(&self) -> Option<String> {
        let end = self.buf.iter().position(|&b| b == b' ' || b == b'\r' || b == b'\n')?;
        let tag = &self.buf[..end];
        (!tag.is_empty() && tag.iter().all(|&b| b.is_ascii_graphic() && b != b'+' && b != b'{'))
            .then(|| String::from_utf8_lossy(tag).into_owned())
    }
}

/// `{n}` or `{n+}` (or `{n-}` for LITERAL-) at the end of a line.
fn literal_marker(line: &[u8]) -> Option<(usize, bool)> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    let mut sync = true;
    if let Some(d) = digits.strip_suffix(b"+").or_else(|| digits.strip_suffix(b"-")) {
        digits = d;
        sync = false;
    }
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok().map(|n| (n, sync))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(r: &mut Receiver) -> Vec<Event> {
        std::iter::from_fn(|| r.next_event()).collect()
    }

    #[test]
    fn plain_commands_and_partial_lines() {
        let mut r = Receiver::new(8192, 1 << 20);
        r.feed(b"a1 NOOP\r\na2 CAPA");
        assert_eq!(events(&mut r), vec![Event::Command(b"a1 NOOP\r\n".to_vec())]);
        r.feed(b"BILITY\r\n");
        assert_eq!(events(&mut r), vec![Event::Command(b"a2 CAPABILITY\r\n".to_vec())]);
    }

    #[test]
    fn synchronizing_and_non_synchronizing_literals() {
        let mut r = Receiver::new(8192, 1 << 20);
        r.feed(b"a LOGIN {5}\r\n");
        assert_eq!(events(&mut r), vec![Event::Continue]);
        r.feed(b"alice {3+}\r\npw!\r\n");
        assert_eq!(events(&mut r), vec![Event::Command(b"a LOGIN {5}\r\nalice {3+}\r\npw!\r\n".to_vec())]);
    }

    #[test]
    fn a_literal_may_hold_crlf_and_braces() {
        let mut r = Receiver::new(8192, 1 << 20);
        r.feed(b"a APPEND INBOX {11+}\r\nx\r\n{3}\r\nabc\r\nb NOOP\r\n");
        assert_eq!(
            events(&mut r),
            vec![
                Event::Command(b"a APPEND INBOX {11+}\r\nx\r\n{3}\r\nabc\r\n".to_vec()),
                Event::Command(b"b NOOP\r\n".to_vec())
            ]
        );
    }

    /// NOTIFY may speak between commands only: not after part of a line, nor
    /// while a literal is coming.
    #[test]
    fn between_commands_means_nothing_pending() {
        let mut r = Receiver::new(8192, 1 << 20);
        assert!(r.between_commands());
        r.feed(b"a COPY 5 {7}\r\n");
        assert_eq!(events(&mut r), vec![Event::Continue]);
        assert!(!r.between_commands(), "a literal is on its way");
        r.feed(b"Archive\r\n");
        assert_eq!(events(&mut r).len(), 1);
        assert!(r.between_commands());
        r.feed(b"b NOO");
        assert_eq!(events(&mut r), vec![]);
        assert!(!r.between_commands(), "half a command");
    }

    #[test]
    fn limits() {
        let mut r = Receiver::new(40, 10);
        r.feed(b"t1 APPEND INBOX {11}\r\n");
        assert_eq!(events(&mut r), vec![Event::TooLong { tag: Some("t1".into()), literal: true }]);
        r.feed(b"t2 NOOP ");
        r.feed(&[b'x'; 50]);
        assert_eq!(events(&mut r), vec![Event::TooLong { tag: Some("t2".into()), literal: false }]);
        r.feed(b"more junk\r\nt3 NOOP\r\n");
        assert_eq!(events(&mut r), vec![Event::Command(b"t3 NOOP\r\n".to_vec())]);
        // A refused LITERAL+ literal is thrown away as it arrives.
        r.feed(b"t4 APPEND INBOX {100000+}\r\n");
        assert_eq!(events(&mut r), vec![Event::TooLong { tag: Some("t4".into()), literal: true }]);
        for _ in 0..100 {
            r.feed(&[b'z'; 1000]);
            assert!(r.buf.len() < 100, "nothing of the literal is kept");
        }
        r.feed(b"\r\nt5 NOOP\r\n");
        assert_eq!(events(&mut r), vec![Event::Command(b"t5 NOOP\r\n".to_vec())]);
    }
}
