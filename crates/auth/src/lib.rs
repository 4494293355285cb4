//! Sign-in: password hashing (argon2id) and policy, SASL decoding, the check
//! of credentials against the store with account lockout and a per-address
//! ban, TOTP second factor codes, app passwords and QR codes for enrollment.

pub mod cache;
pub mod guard;
pub mod password;
pub mod qr;
pub mod sasl;
pub mod token;
pub mod totp;
mod verify;

pub use password::{
    check_policy, generate_app_password, generate_password, generate_recovery_code, hash_password, verify_password,
};
pub use verify::{protocol_off_text, secret_hash, Authenticator, SignIn, SignInPolicy, SignedIn};

/// Whether two secrets are equal, in time that does not depend on where
/// they differ (a token compared byte by byte leaks its prefix).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
