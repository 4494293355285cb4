//! Checking a user name and password against the store, in constant time
//! whether or not the user exists.

use std::sync::Arc;

use caravel_store::{AccountId, Address, Directory, StoreError};

/// Who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub account: AccountId,
    pub address: String,
}

pub struct Authenticator {
    directory: Arc<dyn Directory>,
    /// Each argon2 check takes 19 MiB: at most this many run at once, so a
    /// flood of sign-ins costs time, not all the memory.
    checks: Arc<tokio::sync::Semaphore>,
    /// A real hash to verify against when the user does not exist, so that
    /// "no such user" takes as long as "wrong password".
    dummy_hash: String,
}

impl Authenticator {
    pub fn new(directory: Arc<dyn Directory>) -> Authenticator {
        let dummy_hash = crate::hash_password("caravel-dummy-password").unwrap_or_default();
        let parallel = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) * 2;
        Authenticator { directory, dummy_hash, checks: Arc::new(tokio::sync::Semaphore::new(parallel)) }
    }

    /// `Ok(None)` for a wrong user name or password (the caller cannot tell
    /// which, on purpose); `Err` for a store failure (a temporary error).
    pub async fn verify(&self, username: &str, password: &str) -> Result<Option<SignedIn>, StoreError> {
        let user = match Address::parse(username) {
            Ok(address) => self.directory.get_user(&address).await?,
            Err(_) => None,
        };
        let (hash, signed_in) = match &user {
            Some(u) => (u.password_hash.clone(), Some(SignedIn { account: u.id, address: u.address.clone() })),
            None => (self.dummy_hash.clone(), None),
        };
        let password = password.to_string();
        let _permit = self.checks.acquire().await.map_err(|e| StoreError::Backend(e.to_string()))?;
        // argon2 takes tens of milliseconds of CPU: off the async threads.
        let ok = tokio::task::spawn_blocking(move || crate::verify_password(&password, &hash))
            .await
            .map_err(|e| StoreError::Backend(format!("password check failed: {e}")))?;
        if let Some(user) = &user {
            // Shared by every protocol, so lockout (sign-in security) sees all
            // attempts. A success with nothing to clear writes nothing.
            if !ok || user.failed_logins > 0 {
                self.directory.record_sign_in(user.id, ok).await?;
            }
        }
        Ok(if ok { signed_in } else { None })
    }
}
