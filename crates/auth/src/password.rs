//! Passwords are stored as argon2id PHC strings (RFC 9106, OWASP parameters:
//! 19 MiB, 2 passes, 1 lane), never in clear, and checked in constant time by
//! the argon2 crate.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 10;

/// Longest password accepted (argon2 hashes anything, but a megabyte "password"
/// is an attack on CPU, not a secret).
pub const MAX_LENGTH: usize = 256;

/// A small list of the most common passwords; refused whatever their length.
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password123",
    "passw0rd",
    "123456789",
    "1234567890",
    "12345678910",
    "qwertyuiop",
    "qwerty123",
    "iloveyou",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "welcome123",
    "letmein123",
    "administrator",
    "changeme",
    "changeme123",
    "trustno1",
    "starwars",
    "dragon123",
    "monkey123",
    "abc1234567",
    "0987654321",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "zaq12wsx",
    "asdfghjkl",
    "mustang123",
    "superman1",
];

fn hasher() -> Argon2<'static> {
    // m=19 MiB, t=2, p=1: OWASP's recommended argon2id minimum.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Says why `password` is too weak for `address`, or `Ok` if it is acceptable.
pub fn check_policy(password: &str, address: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars == 0 {
        return Err("the password is empty".into());
    }
    if chars < MIN_LENGTH {
        return Err(format!("the password is too short: {chars} characters, at least {MIN_LENGTH} needed"));
    }
    if password.len() > MAX_LENGTH {
        return Err(format!("the password is longer than {MAX_LENGTH} bytes"));
    }
    if password.chars().any(char::is_control) {
        return Err("the password contains control characters".into());
    }
    let lower = password.to_lowercase();
    let distinct: std::collections::HashSet<char> = lower.chars().collect();
    if distinct.len() < 4 {
        return Err("the password is too simple: use more different characters".into());
    }
    if COMMON.contains(&lower.as_str()) {
        return Err("the password is one of the most common passwords".into());
    }
    let local = address.split('@').next().unwrap_or("").to_lowercase();
    if lower == address.to_lowercase() || (local.len() >= 3 && lower.contains(&local)) {
        return Err("the password must not contain the user's name or address".into());
    }
    Ok(())
}

/// Hashes a password into an argon2id PHC string with a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    hasher().verify_password(password.as_bytes(), hash).is_ok()
}

/// A random password of 20 characters from an alphabet without look-alikes
/// (no 0/O, 1/l/I), about 115 bits.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..20).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect()
}

/// Random characters from `alphabet`, in groups of `group` joined by `-`.
fn grouped(alphabet: &[u8], groups: usize, group: usize) -> String {
    (0..groups)
        .map(|_| (0..group).map(|_| alphabet[rand::random_range(0..alphabet.len())] as char).collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// An app password: 16 lower-case letters in groups of four (75 bits),
/// easy to type on a phone. Dashes and spaces are ignored when it is used.
pub fn generate_app_password() -> String {
    grouped(b"abcdefghijklmnopqrstuvwxyz", 4, 4)
}

/// A single-use recovery code for the second factor: 10 characters without
/// look-alikes in two groups (about 49 bits).
pub fn generate_recovery_code() -> String {
    grouped(b"abcdefghjkmnpqrstuvwxyz23456789", 2, 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(h, hash_password("correct horse battery").expect("hash"), "salted");
    }

    #[test]
    fn weak_passwords_are_refused() {
        let a = "maria@example.com";
        for bad in [
            "",
            "short",
            "aaaaaaaaaaaa",
            "ababababab",
            "password123",
            "PASSWORD123",
            "maria2026!!",
            "x".repeat(300).as_str(),
        ] {
            assert!(check_policy(bad, a).is_err(), "{bad:?} accepted");
        }
        assert!(check_policy("Tr4de-Route-Lisbon", a).is_ok());
    }

    #[test]
    fn generated_passwords_pass_the_policy() {
        for _ in 0..20 {
            let p = generate_password();
            assert_eq!(p.len(), 20);
            check_policy(&p, "someone@example.com").expect("generated password is strong");
        }
    }
}
