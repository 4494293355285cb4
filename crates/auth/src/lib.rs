//! Sign-in: password hashing (argon2id) and policy, SASL decoding, and the
//! check of a user's credentials against the store. Two-factor codes and
//! lockout arrive with sign-in security.

pub mod password;
pub mod sasl;
mod verify;

pub use password::{check_policy, generate_password, hash_password, verify_password};
pub use verify::{Authenticator, SignedIn};
