//! Sign-in secrets: password hashing (argon2id), the password policy, and
//! generated passwords. Two-factor codes and lockout arrive with sign-in security.

pub mod password;

pub use password::{generate_password, hash_password, check_policy, verify_password};
