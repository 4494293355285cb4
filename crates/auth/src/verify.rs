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

type Check = (String, String, tokio::sync::oneshot::Sender<bool>);

/// A few threads that do nothing but argon2 checks. Each check takes 19 MiB;
/// on the runtime's blocking pool every one of hundreds of threads would keep
/// its own freed 19 MiB in its malloc arena (1 MB of RSS per IMAP session was
/// measured that way). Here memory stays at threads x 19 MiB, and a flood of
/// sign-ins costs time, not memory.
struct HashThreads {
    queue: std::sync::mpsc::SyncSender<Check>,
}

impl HashThreads {
    fn start(threads: usize) -> HashThreads {
        let (queue, rx) = std::sync::mpsc::sync_channel::<Check>(1024);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("password-check-{i}")).spawn(move || loop {
                let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok((password, hash, reply)) = job else { return };
                let _ = reply.send(crate::verify_password(&password, &hash));
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-check thread");
            }
        }
        HashThreads { queue }
    }
}

pub struct Authenticator {
    directory: Arc<dyn Directory>,
    checks: HashThreads,
    /// A real hash to verify against when the user does not exist, so that
    /// "no such user" takes as long as "wrong password".
    dummy_hash: String,
}

impl Authenticator {
    pub fn new(directory: Arc<dyn Directory>) -> Authenticator {
        let dummy_hash = crate::hash_password("caravel-dummy-password").unwrap_or_default();
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Authenticator { directory, dummy_hash, checks: HashThreads::start(threads) }
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
        // argon2 takes tens of milliseconds of CPU: off the async threads.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let queue = self.checks.queue.clone();
        let job = (password.to_string(), hash, tx);
        tokio::task::spawn_blocking(move || queue.send(job))
            .await
            .map_err(|e| StoreError::Backend(format!("password check failed: {e}")))?
            .map_err(|_| StoreError::Backend("the password checker has stopped".into()))?;
        let ok = rx.await.map_err(|_| StoreError::Backend("the password check was lost".into()))?;
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
