//! What the tests of several crates share.

pub mod postgres;

/// The deterministic generator (xorshift64) of the randomized robustness
/// tests, a stand-in for a fuzzer on stable Rust: the same seed gives the
/// same inputs, so a failure can be replayed.
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed.max(1);
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// The shape of a hostile, deeply nested MIME message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// multipart/mixed inside multipart/mixed, `levels` times.
    Multipart,
    /// message/rfc822 enclosing message/rfc822, `levels` times.
    Message,
    /// multipart/mixed and message/rfc822 taking turns, `levels` in all.
    Alternating,
}

/// A message whose MIME tree nests `levels` containers deep, with a text leaf
/// at the bottom; `from` and `to` name the envelope of the outer header. The
/// shape of the messages that stopped or blinded the server (issue 12).
pub fn nested_message(kind: Nesting, levels: usize, from: &str, to: &str) -> Vec<u8> {
    let mut head = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: nested {levels}\r\nMessage-ID: <nested{levels}@test>\r\nMIME-Version: 1.0\r\n"
    );
    let mut tail = String::new();
    for level in 0..levels {
        let multipart = match kind {
            Nesting::Multipart => true,
            Nesting::Message => false,
            Nesting::Alternating => level % 2 == 0,
        };
        if multipart {
            head.push_str(&format!("Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"));
            tail.insert_str(0, &format!("\r\n--b{level}--\r\n"));
        } else {
            head.push_str("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n");
        }
    }
    head.push_str("Content-Type: text/plain\r\n\r\nthe bottom\r\n");
    head.push_str(&tail);
    head.into_bytes()
}

/// A message whose one part is a base64-encoded message/rfc822 (which RFC
/// 2046 §5.2.1 forbids, and mail-parser decodes and parses by recursion)
/// holding a chain of `levels` enclosed messages and `padding` bytes of text.
pub fn encoded_nested_message(levels: usize, padding: usize) -> Vec<u8> {
    let mut inner = nested_message(Nesting::Message, levels, "in@x.test", "in@y.test");
    inner.extend(std::iter::repeat_n(b'x', padding));
    let mut m = b"From: <a@x.test>\r\nTo: <b@y.test>\r\nSubject: encoded\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"e\"\r\n\r\n--e\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--e\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    m.extend(base64_lines(&inner));
    m.extend_from_slice(b"--e--\r\n");
    m
}

/// RFC 2045 §6.8 base64 in lines of 76 characters, each ending in CRLF.
pub fn base64_lines(data: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(data.len() * 4 / 3 + data.len() / 38 + 4);
    let mut line = 0;
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i) & 63) as usize] } else { b'=' });
        }
        line += 4;
        if line == 76 {
            out.extend_from_slice(b"\r\n");
            line = 0;
        }
    }
    if line > 0 {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            let want = if encoded.is_empty() { String::new() } else { format!("{encoded}\r\n") };
            assert_eq!(String::from_utf8(super::base64_lines(plain.as_bytes())).expect("ascii"), want);
        }
    }

    #[test]
    fn same_seed_same_numbers_and_never_stuck_at_zero() {
        let (mut a, mut b) = (super::xorshift(7), super::xorshift(7));
        assert!((0..100).all(|_| a() == b()));
        let mut z = super::xorshift(0);
        assert_ne!(z(), 0);
    }
}
