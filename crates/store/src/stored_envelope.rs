//! How an envelope is kept beside its message: a compact binary form that
//! FETCH ENVELOPE decodes several times faster than the JSON older versions
//! wrote (which is still read: it starts with `{`, the binary form with its
//! version byte).
//!
//! ```text
//! 0x01                      version
//! date subject              text fields
//! from sender reply-to to cc bcc
//!                           address lists: count, then per address
//!                           name adl mailbox host (text fields)
//! in-reply-to message-id    text fields
//! ```
//! A text field is a LEB128 length plus one (0: absent) and its UTF-8 bytes;
//! a count is a LEB128 number.

use crate::mime::{Envelope, EnvelopeAddress};

const VERSION: u8 = 1;

/// The stored form of `env`.
pub fn encode(env: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(VERSION);
    text(&mut out, env.date.as_deref());
    text(&mut out, env.subject.as_deref());
    for list in [&env.from, &env.sender, &env.reply_to, &env.to, &env.cc, &env.bcc] {
        number(&mut out, list.len() as u64);
        for a in list {
            for field in [&a.name, &a.adl, &a.mailbox, &a.host] {
                text(&mut out, field.as_deref());
            }
        }
    }
    text(&mut out, env.in_reply_to.as_deref());
    text(&mut out, env.message_id.as_deref());
    out
}

/// An envelope from its stored form, binary or JSON. Damaged input is an
/// error, never a panic or an allocation larger than the input.
pub fn decode(stored: &[u8]) -> Result<Envelope, String> {
    match stored.first() {
        Some(b'{') => serde_json::from_slice(stored).map_err(|e| e.to_string()),
        Some(&VERSION) => {
            let mut r = Reader { rest: &stored[1..] };
            let mut env = Envelope { date: r.text()?, subject: r.text()?, ..Envelope::default() };
            for list in [&mut env.from, &mut env.sender, &mut env.reply_to, &mut env.to, &mut env.cc, &mut env.bcc] {
                let count = r.number()?;
                // Each address takes at least four bytes: a count beyond
                // what is left is damage, not a reason to allocate.
                if count > r.rest.len() as u64 / 4 {
                    return Err(format!("{count} addresses in {} bytes", r.rest.len()));
                }
                for _ in 0..count {
                    list.push(EnvelopeAddress { name: r.text()?, adl: r.text()?, mailbox: r.text()?, host: r.text()? });
                }
            }
            env.in_reply_to = r.text()?;
            env.message_id = r.text()?;
            if !r.rest.is_empty() {
                return Err(format!("{} bytes after the envelope", r.rest.len()));
            }
            Ok(env)
        }
        Some(other) => Err(format!("unknown envelope format {other:#04x}")),
        None => Err("empty envelope".into()),
    }
}

fn number(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn text(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => number(out, 0),
        Some(s) => {
            number(out, s.len() as u64 + 1);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn number(&mut self) -> Result<u64, String> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.rest.split_first().ok_or("envelope cut short")?;
            self.rest = rest;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err("length too long".into())
    }

    fn text(&mut self) -> Result<Option<String>, String> {
        let n = self.number()?;
        if n == 0 {
            return Ok(None);
        }
        let len = usize::try_from(n - 1).map_err(|_| "length too long")?;
        if len > self.rest.len() {
            return Err(format!("a field of {len} bytes in {}", self.rest.len()));
        }
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        String::from_utf8(bytes.to_vec()).map(Some).map_err(|_| "a field is not UTF-8".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        let addr = |name: Option<&str>, mailbox: &str, host: Option<&str>| EnvelopeAddress {
            name: name.map(str::to_string),
            adl: None,
            mailbox: Some(mailbox.to_string()),
            host: host.map(str::to_string),
        };
        Envelope {
            date: Some("Sat, 05 Dec 2026 10:00:00 +0800".into()),
            subject: Some("=?UTF-8?B?5oql5Lu3?= quotation \"FOB\"".into()),
            from: vec![addr(Some("李伟"), "li", Some("buyer.example"))],
            sender: vec![],
            reply_to: vec![EnvelopeAddress { adl: Some("@relay".into()), ..addr(None, "r", Some("x.example")) }],
            // A group: start and end markers.
            to: vec![addr(None, "team", None), addr(None, "a", Some("b.example")), EnvelopeAddress::default()],
            cc: vec![],
            bcc: vec![],
            in_reply_to: None,
            message_id: Some("<1@buyer.example>".into()),
        }
    }

    #[test]
    fn round_trip_and_smaller_than_json() {
        for env in [sample(), Envelope::default()] {
            let stored = encode(&env);
            assert_eq!(decode(&stored).expect("decode"), env);
            let json = serde_json::to_vec(&env).expect("json");
            assert!(stored.len() * 2 < json.len(), "{} vs {}", stored.len(), json.len());
        }
    }

    #[test]
    fn json_written_by_older_versions_is_read() {
        let env = sample();
        assert_eq!(decode(&serde_json::to_vec(&env).expect("json")).expect("decode"), env);
    }

    #[test]
    fn damaged_forms_are_errors() {
        let stored = encode(&sample());
        for cut in 0..stored.len() {
            assert!(decode(&stored[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = stored.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        // A huge address count or field length in a few bytes.
        assert!(decode(&[VERSION, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        assert!(decode(&[VERSION, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        assert!(decode(&[VERSION, 0x03, 0xff, 0xfe]).is_err(), "not UTF-8");
        assert!(decode(&[7]).is_err());
        assert!(decode(b"{not json").is_err());
    }
}
