//! The DATA phase (RFC 5321 §4.1.1.4, §4.5.2): collects the message until
//! `<CRLF>.<CRLF>`, removes dot-stuffing, and enforces the limits.
//!
//! Only `<CRLF>.<CRLF>` ends the data. A bare LF or bare CR anywhere marks the
//! message as refused (it is still read to its real end), so no
//! `<LF>.<LF>`/`<CR>.<CR>`-style sequence can end one message early and smuggle
//! a second one past a filter or a relay (CVE-2023-51764/51765/51766).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataError {
    /// Larger than the size limit (552 5.3.4).
    TooBig,
    /// A line longer than the limit (500 5.5.2 per RFC 5321 §4.5.3.1.6).
    LineTooLong,
    /// A bare CR or LF (554 5.6.0).
    BareLineEnding,
    /// A NUL byte (554 5.6.0): without BINARYMIME (RFC 3030 §3) the data is
    /// text, and a next hop that drops NULs would see another message.
    Nul,
}

/// How a chunk of input ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Feed {
    /// All input consumed; more is needed.
    More,
    /// The end was found after `consumed` bytes; the rest belongs to the next command.
    Done { consumed: usize, result: Result<Vec<u8>, DataError> },
}

pub struct DataReceiver {
    message: Vec<u8>,
    /// The line being read (up to its LF), kept to `max_line + 1` bytes.
    line: Vec<u8>,
    /// The true length of the line and its last two bytes.
    line_len: usize,
    tail: [u8; 2],
    /// Whether the previous line ended in CRLF (true at the start).
    after_crlf: bool,
    max_size: u64,
    max_line: usize,
    error: Option<DataError>,
}

impl DataReceiver {
    /// `max_line` counts the CRLF (RFC 5321 §4.5.3.1.6: 1000).
    pub fn new(max_size: u64, max_line: usize) -> DataReceiver {
        DataReceiver {
            message: Vec::new(),
            line: Vec::new(),
            line_len: 0,
            tail: [0; 2],
            after_crlf: true,
            max_size,
            max_line,
            error: None,
        }
    }

    pub fn feed(&mut self, input: &[u8]) -> Feed {
        let mut pos = 0;
        while pos < input.len() {
            let rest = &input[pos..];
            match rest.iter().position(|&b| b == b'\n') {
                None => {
                    self.push_partial(rest);
                    return Feed::More;
                }
                Some(i) => {
                    self.push_partial(&rest[..=i]);
                    pos += i + 1;
                    if self.finish_line() {
                        let result = match self.error {
                            Some(e) => Err(e),
                            None => Ok(std::mem::take(&mut self.message)),
                        };
                        return Feed::Done { consumed: pos, result };
                    }
                }
            }
        }
        Feed::More
    }

    fn push_partial(&mut self, bytes: &[u8]) {
        // Keep at most one byte over the limit: enough to know it was exceeded.
        let room = (self.max_line + 1).saturating_sub(self.line.len());
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.line_len += bytes.len();
        for &b in bytes.iter().rev().take(2).rev() {
            self.tail = [self.tail[1], b];
        }
    }

    /// Handles the complete line in `self.line`; true at the end of the data.
    fn finish_line(&mut self) -> bool {
        let line = std::mem::take(&mut self.line);
        let len = std::mem::take(&mut self.line_len);
        let crlf = len >= 2 && self.tail == *b"\r\n";
        self.tail = [0; 2];
        if self.after_crlf && line == b".\r\n" {
            return true;
        }
        if len > self.max_line {
            self.fail(DataError::LineTooLong);
        }
        let stored_body = &line[..line.len().min(len - if crlf { 2 } else { 1 })];
        if !crlf || stored_body.contains(&b'\r') {
            self.fail(DataError::BareLineEnding);
        }
        if stored_body.contains(&0) {
            self.fail(DataError::Nul);
        }
        // RFC 5321 §4.5.2: a leading dot was doubled by the sender.
        let content = if self.after_crlf && line.first() == Some(&b'.') { &line[1..] } else { &line[..] };
        if self.error.is_none() {
            if (self.message.len() + content.len()) as u64 > self.max_size {
                self.fail(DataError::TooBig);
            } else {
                self.message.extend_from_slice(content);
            }
        }
        self.after_crlf = crlf;
        false
    }

    fn fail(&mut self, e: DataError) {
        if self.error.is_none() {
            self.error = Some(e);
            // Nothing more will be stored; free what was.
            self.message = Vec::new();
        }
    }
}

/// Checks a BDAT chunk for bare CR/LF (the same rule as DATA); `prev_cr`
/// carries a CR that ended the previous chunk.
pub fn bare_line_ending(chunk: &[u8], prev_cr: bool) -> bool {
    let mut cr = prev_cr;
    for &b in chunk {
        match b {
            b'\n' if !cr => return true,
            _ if cr && b != b'\n' => return true,
            _ => {}
        }
        cr = b == b'\r';
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (Feed, DataReceiver) {
        let mut r = DataReceiver::new(1 << 20, 1000);
        let f = r.feed(input);
        (f, r)
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf_and_unstuffs() {
        let (f, _) = run(b"Subject: x\r\n\r\n..leading dot\r\n.\r\nMAIL FROM:<a@b.c>\r\n");
        let Feed::Done { consumed, result } = f else { panic!("not done") };
        assert_eq!(result, Ok(b"Subject: x\r\n\r\n.leading dot\r\n".to_vec()));
        assert_eq!(consumed, 32);
    }

    #[test]
    fn empty_message_and_split_input() {
        let mut r = DataReceiver::new(100, 1000);
        assert_eq!(r.feed(b".\r"), Feed::More);
        assert_eq!(r.feed(b"\n"), Feed::Done { consumed: 1, result: Ok(vec![]) });
        let mut r = DataReceiver::new(100, 1000);
        for b in b"a\r\nb\r\n.\r" {
            assert_eq!(r.feed(&[*b]), Feed::More);
        }
        assert_eq!(r.feed(b"\n"), Feed::Done { consumed: 1, result: Ok(b"a\r\nb\r\n".to_vec()) });
    }

    /// Every smuggling end-of-data variant (bare LF / bare CR around the dot)
    /// neither ends the message nor is accepted.
    #[test]
    fn smuggling_sequences_never_end_the_data() {
        let fakes: &[&[u8]] =
            &[b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\r\n", b"\r\n.\r", b"\n.\r", b"\r.\n", b"\r\n.\r\r\n"];
        for fake in fakes {
            let mut input = b"Subject: one\r\n\r\nbody".to_vec();
            input.extend_from_slice(fake);
            input.extend_from_slice(b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@y.test>\r\nDATA\r\nsmuggled\r\n.\r\n");
            let (f, _) = run(&input);
            match f {
                Feed::Done { consumed, result } => {
                    assert_eq!(consumed, input.len(), "{fake:?} ended the data early");
                    assert_eq!(result, Err(DataError::BareLineEnding), "{fake:?} accepted");
                }
                Feed::More => panic!("{fake:?}: the real end was not found"),
            }
        }
    }

    #[test]
    fn limits() {
        let mut r = DataReceiver::new(10, 1000);
        let f = r.feed(b"0123456789abc\r\n.\r\n");
        assert!(matches!(f, Feed::Done { result: Err(DataError::TooBig), .. }));
        let mut r = DataReceiver::new(1 << 20, 10);
        let f = r.feed(b"0123456789abc\r\n.\r\n");
        assert!(matches!(f, Feed::Done { result: Err(DataError::LineTooLong), .. }));
        let mut r = DataReceiver::new(1 << 20, 10);
        assert!(matches!(r.feed(b"01234567\r\n.\r\n"), Feed::Done { result: Ok(_), .. }), "1000 counts the CRLF");
    }

    /// Random input, fed whole and in random pieces, gives the same outcome
    /// at the same place (a cheap stand-in for a fuzzer on stable Rust).
    #[test]
    fn any_split_of_any_input_gives_the_same_result() {
        let mut next = caravel_testkit::xorshift(0x9e37_79b9_7f4a_7c15);
        let alphabet: &[&[u8]] = &[b"a", b"\r\n", b"\r", b"\n", b".", b"..", b"\r\n.\r\n", b"xyz", b"\xff"];
        for _ in 0..2000 {
            let mut input = Vec::new();
            for _ in 0..(next() % 40) {
                input.extend_from_slice(alphabet[(next() % alphabet.len() as u64) as usize]);
            }
            input.extend_from_slice(b"\r\n.\r\n");
            let whole = DataReceiver::new(64, 20).feed(&input);
            let mut r = DataReceiver::new(64, 20);
            let mut pos = 0;
            let split = loop {
                let n = 1 + (next() % 7) as usize;
                let end = (pos + n).min(input.len());
                match r.feed(&input[pos..end]) {
                    Feed::More => pos = end,
                    Feed::Done { consumed, result } => break Feed::Done { consumed: pos + consumed, result },
                }
                assert!(pos < input.len(), "the end was never found in {input:?}");
            };
            assert_eq!(whole, split, "{input:?}");
        }
    }

    #[test]
    fn nul_bytes_are_refused_in_data() {
        let mut r = DataReceiver::new(1000, 1000);
        match r.feed(b"Subject: x\r\n\r\nbody\0with nul\r\n.\r\n") {
            Feed::Done { result, .. } => assert_eq!(result, Err(DataError::Nul)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bdat_bare_line_endings() {
        assert!(!bare_line_ending(b"a\r\nb\r\n", false));
        assert!(bare_line_ending(b"a\nb", false));
        assert!(bare_line_ending(b"a\rb", false));
        assert!(!bare_line_ending(b"\nb", true), "CR at the end of the previous chunk");
        assert!(bare_line_ending(b"x", true));
    }
}
