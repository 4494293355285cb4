//! Sign-in secrets: password hashing (argon2id), the password policy, and
//! generated passwords. Two-factor codes and lockout arrive with sign-in security.

pub mod password;

pub use password::{check_policy, generate_password, hash_password, verify_password};
