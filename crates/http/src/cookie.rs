//! The session cookie: a random token the browser keeps; the store keeps only
//! its SHA-256. HttpOnly (no script reads it), SameSite=Strict (no other site
//! sends it), Secure over HTTPS, and an expiry.

use axum::http::header::{HeaderMap, COOKIE, SET_COOKIE};
use axum::http::HeaderValue;

use crate::Client;

pub const NAME: &str = "caravel_session";

/// 32 random bytes, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

/// The store's key for a token (tokens are random: SHA-256 is enough).
pub fn token_hash(token: &str) -> String {
    caravel_auth::secret_hash(token)
}

/// The anti-forgery token of a session (RFC-free "synchronizer token",
/// derived so nothing more is stored): pages read it from the sign-in
/// answer or `GET /api/v1/session` and send it as `X-CSRF-Token` with every
/// request that changes something. Another site can make the browser send
/// the cookie (it is HttpOnly, SameSite=Strict besides) but cannot read
/// this.
pub fn csrf(token: &str) -> String {
    caravel_auth::secret_hash(&format!("caravel-csrf:{token}"))
}

/// The session token the request carries, if any.
pub fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == NAME && value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|(_, value)| value.to_ascii_lowercase())
}

/// `Set-Cookie` for `token`, valid `max_age` seconds (0 removes it).
pub fn set(headers: &mut HeaderMap, client: &Client, token: &str, max_age: i64) {
    let secure = if client.https { "; Secure" } else { "" };
    let value = format!("{NAME}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}");
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.append(SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_a_well_formed_session_cookie() {
        let token = new_token();
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(&format!("theme=dark; {NAME}={token}; x=1")).expect("header"));
        assert_eq!(super::token(&h), Some(token));
        h.insert(COOKIE, HeaderValue::from_static("caravel_session=short"));
        assert_eq!(super::token(&h), None);
    }

    /// Random Cookie headers: a token or none, never a panic.
    #[test]
    fn random_cookie_headers_never_panic() {
        let mut next = caravel_testkit::xorshift(0x2545_f491_4f6c_dd1d);
        let alphabet = b"caravel_session=;; =abcdef0123456789\x7f\xff \t";
        for _ in 0..5000 {
            let len = (next() % 120) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| alphabet[(next() as usize) % alphabet.len()]).collect();
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_bytes(&bytes) {
                h.insert(COOKIE, v);
            }
            if let Some(t) = token(&h) {
                assert_eq!(t.len(), 64);
            }
        }
    }

    #[test]
    fn cookie_flags() {
        let mut h = HeaderMap::new();
        set(&mut h, &Client { ip: [127, 0, 0, 1].into(), https: true }, "abc", 600);
        let v = h.get(SET_COOKIE).expect("set").to_str().expect("text");
        assert_eq!(v, "caravel_session=abc; Path=/; Max-Age=600; HttpOnly; SameSite=Strict; Secure");
        let mut h = HeaderMap::new();
        set(&mut h, &Client { ip: [127, 0, 0, 1].into(), https: false }, "abc", 0);
        assert!(!h.get(SET_COOKIE).expect("set").to_str().expect("text").contains("Secure"));
    }
}
