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

/// The argon2id hash of a random password nobody knows, with the parameters
/// of every stored hash (a test checks they agree). A constant, not computed
/// at start: hashing takes 19 MiB that the allocator would keep.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$3fDSOP4MRSAxRQuwhvDCVw$0uyu0Icix8FmbwzZ57qzow3zTC2NcIfdxAX7zq0G2EY";

/// How long an idle password-check thread waits for work before it exits.
const IDLE_EXIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A few threads that do nothing but argon2 checks. Each check takes 19 MiB;
/// on the runtime's blocking pool every one of hundreds of threads would keep
/// its own freed 19 MiB in its malloc arena (1 MB of RSS per IMAP session was
/// measured that way). Here at most `max` threads run checks, and a thread
/// idle for [`IDLE_EXIT`] exits: the allocator keeps a thread's freed memory
/// until that thread allocates again or ends, so an idle server would
/// otherwise hold `max` x 19 MiB it no longer uses.
struct HashThreads {
    queue: std::sync::mpsc::SyncSender<Check>,
    jobs: Arc<std::sync::Mutex<std::sync::mpsc::Receiver<Check>>>,
    live: Arc<std::sync::atomic::AtomicUsize>,
    max: usize,
}

impl HashThreads {
    fn new(max: usize) -> HashThreads {
        let (queue, rx) = std::sync::mpsc::sync_channel::<Check>(1024);
        HashThreads { queue, jobs: Arc::new(std::sync::Mutex::new(rx)), live: Default::default(), max }
    }

    /// Starts a thread if fewer than `max` run; called after each submit.
    fn ensure_worker(&self) {
        use std::sync::atomic::Ordering;
        let live = self.live.load(Ordering::SeqCst);
        if live >= self.max || self.live.compare_exchange(live, live + 1, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return;
        }
        let (jobs, live) = (self.jobs.clone(), self.live.clone());
        let spawned = std::thread::Builder::new().name("password-check".into()).spawn(move || loop {
            let job = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv_timeout(IDLE_EXIT);
            match job {
                Ok((password, hash, reply)) => {
                    let _ = reply.send(crate::verify_password(&password, &hash));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    live.fetch_sub(1, Ordering::SeqCst);
                    // A job sent while this thread was leaving is still served.
                    match jobs.lock().unwrap_or_else(|e| e.into_inner()).try_recv() {
                        Ok((password, hash, reply)) => {
                            live.fetch_add(1, Ordering::SeqCst);
                            let _ = reply.send(crate::verify_password(&password, &hash));
                        }
                        Err(_) => return,
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    live.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
            }
        });
        if let Err(e) = spawned {
            self.live.fetch_sub(1, Ordering::SeqCst);
            tracing::error!(error = %e, "cannot start a password-check thread");
        }
    }
}

pub struct Authenticator {
    directory: Arc<dyn Directory>,
    checks: HashThreads,
}

impl Authenticator {
    pub fn new(directory: Arc<dyn Directory>) -> Authenticator {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Authenticator { directory, checks: HashThreads::new(threads) }
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
            // "No such user" takes as long as "wrong password".
            None => (DUMMY_HASH.to_string(), None),
        };
        // argon2 takes tens of milliseconds of CPU: off the async threads.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let queue = self.checks.queue.clone();
        let job = (password.to_string(), hash, tx);
        tokio::task::spawn_blocking(move || queue.send(job))
            .await
            .map_err(|e| StoreError::Backend(format!("password check failed: {e}")))?
            .map_err(|_| StoreError::Backend("the password checker has stopped".into()))?;
        self.checks.ensure_worker();
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let real = crate::hash_password("any password at all").expect("hash");
        let params = |h: &str| h.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(super::DUMMY_HASH), params(&real), "same algorithm, version, memory and time cost");
        assert!(!crate::verify_password("caravel-dummy-password", super::DUMMY_HASH));
    }
}
