//! One-time codes: HOTP (RFC 4226) and TOTP (RFC 6238) as authenticator apps
//! compute them: HMAC-SHA-1, 6 digits, 30-second steps. A code is accepted
//! for the current step and one step either side (RFC 6238 §5.2: clock drift
//! and typing time), and the caller keeps the last accepted step so no code
//! is taken twice.

use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;

/// RFC 6238 §4.1: X, the time step.
pub const PERIOD: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps accepted on either side of now.
pub const DRIFT: i64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// HOTP(K, C) (RFC 4226 §5.3): dynamic truncation of HMAC(K, C), `digits` long.
pub fn hotp(key: &[u8], counter: u64, digits: u32, algorithm: Algorithm) -> String {
    let msg = counter.to_be_bytes();
    let mac: Vec<u8> = match algorithm {
        Algorithm::Sha1 => mac::<hmac::Hmac<sha1::Sha1>>(key, &msg),
        Algorithm::Sha256 => mac::<hmac::Hmac<sha2::Sha256>>(key, &msg),
        Algorithm::Sha512 => mac::<hmac::Hmac<sha2::Sha512>>(key, &msg),
    };
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    let code = binary % 10u32.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

fn mac<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length (RFC 2104 §3).
    let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// The time step of `unix` seconds (RFC 6238 §4.2, T0 = 0).
pub fn step(unix: i64) -> i64 {
    unix.div_euclid(PERIOD)
}

/// The 6-digit code of `unix` seconds.
pub fn code_at(key: &[u8], unix: i64) -> String {
    hotp(key, step(unix) as u64, DIGITS, Algorithm::Sha1)
}

/// The step whose code `code` is, within the drift window around `now` and
/// after `last_step`; None if it matches none. Compared in constant time.
pub fn matching_step(key: &[u8], code: &str, now: i64, last_step: i64) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now_step = step(now);
    let mut found = None;
    // Every candidate is computed, so the time taken says nothing.
    for s in (now_step - DRIFT)..=(now_step + DRIFT) {
        let expected = hotp(key, s as u64, DIGITS, Algorithm::Sha1);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && s > last_step && found.is_none() {
            found = Some(s);
        }
    }
    found
}

/// A new secret: 160 bits, the length RFC 4226 §4 (R6) recommends.
pub fn new_secret() -> Vec<u8> {
    let mut key = vec![0u8; 20];
    rand::fill(&mut key[..]);
    key
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 §6 base32 without padding, as otpauth:// URIs carry secrets.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for &b in data {
        buffer = (buffer << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes base32 (any case, spaces and padding ignored).
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = BASE32.iter().position(|&x| x == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The Key URI authenticator apps scan: otpauth://totp/ISSUER:ACCOUNT?...
pub fn otpauth_uri(issuer: &str, account: &str, key: &[u8]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
        enc(issuer),
        enc(account),
        base32_encode(key),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trips_and_matches_rfc4648() {
        // RFC 4648 §10 test vectors (padding dropped).
        for (plain, enc) in [("", ""), ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foobar", "MZXW6YTBOI")] {
            assert_eq!(base32_encode(plain.as_bytes()), enc);
            assert_eq!(base32_decode(enc).expect("decode"), plain.as_bytes());
        }
        assert_eq!(base32_decode("mzxw 6ytb oi==").expect("lenient"), b"foobar");
        assert!(base32_decode("MZ1").is_none());
    }

    #[test]
    fn a_code_is_accepted_once_and_only_near_now() {
        let key = b"12345678901234567890";
        let now = 1_800_000_000;
        let code = code_at(key, now);
        assert_eq!(matching_step(key, &code, now, 0), Some(step(now)));
        assert_eq!(matching_step(key, &code, now + 30, 0), Some(step(now)), "one step late is fine");
        assert_eq!(matching_step(key, &code, now + 90, 0), None, "three steps late is not");
        assert_eq!(matching_step(key, &code, now, step(now)), None, "replay of a used step refused");
        assert_eq!(matching_step(key, "12345", now, 0), None);
        assert_eq!(matching_step(key, "abcdef", now, 0), None);
    }

    #[test]
    fn uri_names_issuer_and_account() {
        let uri = otpauth_uri("Caravel mail", "ana@example.test", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/Caravel%20mail:ana@example.test?secret=MZXW6YTBOI&issuer=Caravel%20mail&algorithm=SHA1&digits=6&period=30"
        );
    }
}
