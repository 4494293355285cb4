//! The verified-credential cache (as Dovecot's auth cache): a mail program
//! that opens five connections pays for argon2id once.
//!
//! An entry is the proof that a password matched an account's stored hash:
//! its key is HMAC-SHA-256, under a random key made at start, of the
//! account, the stored hash and the password; nothing of the password is
//! kept. A password change changes the stored hash, so no old entry can
//! match again. Lock and two-factor state are read from the account on
//! every sign-in, before and after this check; app passwords (SHA-256, not
//! argon2) are never cached; failures are never cached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a verified password is taken on trust.
pub const TTL: Duration = Duration::from_secs(15 * 60);
/// Entries kept at most; past it, expired ones go, then all.
pub const MAX_ENTRIES: usize = 10_000;

pub struct CredentialCache {
    key: Vec<u8>,
    entries: Mutex<HashMap<[u8; 32], Instant>>,
    ttl: Duration,
}

impl Default for CredentialCache {
    fn default() -> Self {
        CredentialCache::with_ttl(TTL)
    }
}

impl CredentialCache {
    pub fn with_ttl(ttl: Duration) -> CredentialCache {
        CredentialCache { key: crate::token::random_key(), entries: Mutex::new(HashMap::new()), ttl }
    }

    fn slot(&self, account: i64, stored_hash: &str, password: &str) -> [u8; 32] {
        let mut message = Vec::with_capacity(stored_hash.len() + password.len() + 10);
        message.extend_from_slice(&account.to_be_bytes());
        message.extend_from_slice(stored_hash.as_bytes());
        message.push(0);
        message.extend_from_slice(password.as_bytes());
        crate::token::hmac_sha256(&self.key, &message)
    }

    /// Whether `password` was verified against `stored_hash` of `account`
    /// within the TTL.
    pub fn verified(&self, account: i64, stored_hash: &str, password: &str) -> bool {
        let slot = self.slot(account, stored_hash, password);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&slot) {
            Some(&expires) if expires > Instant::now() => true,
            Some(_) => {
                entries.remove(&slot);
                false
            }
            None => false,
        }
    }

    /// Records a successful argon2id check.
    pub fn remember(&self, account: i64, stored_hash: &str, password: &str) {
        let slot = self.slot(account, stored_hash, password);
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, &mut expires| expires > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(slot, now + self.ttl);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_proves_exactly_one_account_hash_and_password() {
        let cache = CredentialCache::default();
        cache.remember(1, "$argon2id$old", "secret");
        assert!(cache.verified(1, "$argon2id$old", "secret"));
        assert!(!cache.verified(1, "$argon2id$new", "secret"), "a changed password hash");
        assert!(!cache.verified(2, "$argon2id$old", "secret"), "another account");
        assert!(!cache.verified(1, "$argon2id$old", "Secret"), "another password");
        let short = CredentialCache::with_ttl(Duration::ZERO);
        short.remember(1, "h", "p");
        assert!(!short.verified(1, "h", "p") && short.is_empty(), "expired entries go");
        for n in 0..(MAX_ENTRIES + 5) as i64 {
            cache.remember(n, "h", "p");
        }
        assert!(cache.len() <= MAX_ENTRIES);
    }
}
