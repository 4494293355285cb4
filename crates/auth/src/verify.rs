//! Checking a user name and password against the store, in constant time
//! whether or not the user exists.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use caravel_store::{
    now_millis, now_secs, AccountId, Accounts, Address, EventKind, LockPolicy, MailEvent, Protocol, StoreError, User,
};

use crate::guard::{BanPolicy, Counter, IpGuard};

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

/// The sign-in rules: account lockout and the per-address ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInPolicy {
    pub lock: LockPolicy,
    pub ban: BanPolicy,
}

impl Default for SignInPolicy {
    /// 5 failures in 15 minutes lock an account for 15 minutes (doubling);
    /// 20 failures from one address in 15 minutes ban it for an hour.
    fn default() -> Self {
        SignInPolicy {
            lock: LockPolicy { max_failures: 5, window_secs: 900, lock_secs: 900 },
            ban: BanPolicy { max_failures: 20, window_secs: 900, ban_secs: 3600 },
        }
    }
}

/// What the credentials turned out to be.
enum Checked {
    Password(User),
    AppPassword(User),
    Refused(SignIn),
}

/// The outcome of a sign-in, for each protocol to word in its own way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    Ok(SignedIn),
    /// Wrong user name or password (the caller cannot tell which, on purpose).
    Failed,
    /// The account is locked after repeated failures.
    Locked,
    /// The account password was right, but two-factor sign-in is on: mail
    /// clients must use an app password.
    AppPasswordRequired,
    /// Too many failures from this address: it is banned for a while.
    Banned,
    /// The credentials were right, but the account may not use this
    /// protocol (an administrator turned it off). The account's address
    /// as stored (not as typed) is for the reply.
    ProtocolOff(Protocol, String),
}

/// Counts a refused sign-in (a wrong password or code; not a lock or ban
/// in force, which are counted when they start).
fn count_failure(outcome: &SignIn, protocol: &'static str) {
    if *outcome == SignIn::Failed {
        caravel_metrics::inc(&caravel_metrics::global().sign_in_failures, &[("protocol", protocol)]);
    }
}

/// What a mail program shows when `protocol` is turned off for `username`:
/// what happened and where it is turned on again.
pub fn protocol_off_text(protocol: Protocol, address: &str) -> String {
    format!(
        "{} is turned off for this account. An administrator can turn it on in the management console \
         (Users, {address}, Protocols) or with: caravel user set {address} --{} on",
        protocol.label(),
        protocol.key()
    )
}

pub struct Authenticator {
    accounts: Arc<dyn Accounts>,
    checks: HashThreads,
    policy: SignInPolicy,
    ips: IpGuard,
    /// Failures for names that are no account "lock" them too, so a
    /// "locked" answer never tells that an account exists.
    unknown: Counter<String>,
    /// One sign-in attempt per account at a time: parallel guesses all see
    /// the failures counted before them (no burst gets past the lock).
    gates: std::sync::Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<()>>>>,
    /// Passwords verified lately (see [`crate::cache`]).
    verified: crate::cache::CredentialCache,
    /// argon2id checks run, dummy ones included (tests and metrics).
    checks_run: std::sync::atomic::AtomicU64,
}

/// SHA-256 of an app password or recovery code, as the store keeps it.
pub fn secret_hash(secret: &str) -> String {
    use sha2::Digest;
    // Spaces and dashes are how the secret was shown, not part of it.
    let clean: String = secret.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_lowercase();
    hex::encode(sha2::Sha256::digest(clean.as_bytes()))
}

/// The lease an address ban is kept as in a shared store.
fn ban_lease(ip: IpAddr) -> String {
    format!("ban:{}", crate::guard::key(ip))
}

impl Authenticator {
    pub fn new(accounts: Arc<dyn Accounts>) -> Authenticator {
        Authenticator::with_policy(accounts, SignInPolicy::default())
    }

    pub fn with_policy(accounts: Arc<dyn Accounts>, policy: SignInPolicy) -> Authenticator {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let as_ban = BanPolicy {
            max_failures: policy.lock.max_failures,
            window_secs: policy.lock.window_secs,
            ban_secs: policy.lock.lock_secs,
        };
        Authenticator {
            accounts,
            checks: HashThreads::new(threads),
            policy,
            ips: IpGuard::new(policy.ban),
            unknown: Counter::new(as_ban),
            gates: Default::default(),
            verified: Default::default(),
            checks_run: Default::default(),
        }
    }

    /// How many argon2id checks have run.
    pub fn password_checks(&self) -> u64 {
        self.checks_run.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits for the account's other sign-in attempts to finish; hold the
    /// guard until this attempt's failure (if any) is counted.
    pub async fn gate(&self, account: AccountId) -> tokio::sync::OwnedMutexGuard<()> {
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
            if gates.len() > 10_000 {
                gates.retain(|_, g| Arc::strong_count(g) > 1);
            }
            gates.entry(account).or_default().clone()
        };
        gate.lock_owned().await
    }

    /// Whether `ip` is banned now (checked before anything else).
    pub fn banned(&self, ip: IpAddr) -> bool {
        self.ips.banned(ip, now_secs())
    }

    /// Checks a password with argon2 on the check threads.
    async fn password_matches(&self, password: &str, hash: String) -> Result<bool, StoreError> {
        self.checks_run.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // argon2 takes tens of milliseconds of CPU: off the async threads.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = (password.to_string(), hash, tx);
        // A full queue (a flood of sign-ins) is refused at once, as a
        // temporary failure: waiting would tie up threads the store needs.
        self.checks.queue.try_send(job).map_err(|e| match e {
            std::sync::mpsc::TrySendError::Full(_) => {
                StoreError::Backend("too many sign-ins at once; try again".into())
            }
            std::sync::mpsc::TrySendError::Disconnected(_) => {
                StoreError::Backend("the password checker has stopped".into())
            }
        })?;
        self.checks.ensure_worker();
        rx.await.map_err(|_| StoreError::Backend("the password check was lost".into()))
    }

    /// Signs in a mail client (IMAP, POP3, SMTP AUTH) from `ip`: the account
    /// password, or an app password; only an app password once two-factor
    /// sign-in is on. Failures count towards the account lock and the
    /// address ban. `Err` is a store failure (a temporary error).
    /// `protocol` is the one signed in to: an account with it turned off
    /// is refused, once its credentials are proved (nobody learns the
    /// switch without the password).
    pub async fn verify(
        &self,
        username: &str,
        password: &str,
        ip: IpAddr,
        protocol: Protocol,
    ) -> Result<SignIn, StoreError> {
        let over = protocol.key().to_uppercase();
        Ok(match self.check(username, password, ip, true, &over).await? {
            Checked::Password(user) | Checked::AppPassword(user) if !user.protocols.allows(protocol) => {
                let why = format!("{over} is turned off for the account: sign-in over {over} from {ip} refused");
                self.log(EventKind::SignInFailed, &user.address, why).await;
                SignIn::ProtocolOff(protocol, user.address)
            }
            Checked::Password(user) if user.totp_enabled => {
                let why = format!(
                    "the account password was used over {over} from {ip}, but two-factor sign-in is on: \
                     the program needs an app password"
                );
                self.log(EventKind::SignInFailed, &user.address, why).await;
                SignIn::AppPasswordRequired
            }
            Checked::Password(user) | Checked::AppPassword(user) => {
                SignIn::Ok(SignedIn { account: user.id, address: user.address })
            }
            Checked::Refused(outcome) => {
                count_failure(&outcome, protocol.key());
                outcome
            }
        })
    }

    /// The first step of a web sign-in: the account password only (app
    /// passwords are for mail programs). `Ok(user)` with `user.totp_enabled`
    /// means a second factor must follow ([`Authenticator::second_factor_failed`]
    /// counts its wrong codes).
    pub async fn verify_web(
        &self,
        username: &str,
        password: &str,
        ip: IpAddr,
    ) -> Result<Result<User, SignIn>, StoreError> {
        Ok(match self.check(username, password, ip, false, "the web").await? {
            Checked::Password(user) | Checked::AppPassword(user) => Ok(user),
            Checked::Refused(outcome) => {
                count_failure(&outcome, "web");
                Err(outcome)
            }
        })
    }

    /// A wrong second-factor code counts as a failed sign-in: six digits
    /// must not be guessable by trying (lockout and ban apply).
    pub async fn second_factor_failed(&self, user: &User, ip: IpAddr) -> Result<(), StoreError> {
        let now = now_secs();
        count_failure(&SignIn::Failed, "web");
        self.failure(user, ip, now, "a wrong second-factor code", "the web").await
    }

    async fn check(
        &self,
        username: &str,
        password: &str,
        ip: IpAddr,
        app_passwords: bool,
        over: &str,
    ) -> Result<Checked, StoreError> {
        let now = now_secs();
        if self.ips.banned(ip, now) || self.banned_by_other_nodes(ip, now).await? {
            return Ok(Checked::Refused(SignIn::Banned));
        }
        let address = Address::parse(username).ok();
        let user = match &address {
            Some(a) => self.accounts.get_user(a).await?,
            None => None,
        };
        let Some(user) = user else {
            // "No such user" takes as long as "wrong password", and locks
            // like an account does.
            let name = username.to_lowercase();
            self.password_matches(password, DUMMY_HASH.to_string()).await?;
            if self.unknown_locked(&name, now).await? {
                return Ok(Checked::Refused(SignIn::Locked));
            }
            self.address_failure(ip, now, username).await;
            return Ok(Checked::Refused(SignIn::Failed));
        };
        let _gate = self.gate(user.id).await;
        // Read again under the gate: an attempt just before may have locked it.
        let user = match &address {
            Some(a) => self.accounts.get_user(a).await?.unwrap_or(user),
            None => user,
        };
        // App passwords are long random secrets: they work through a lock,
        // so an attacker locking the account does not cut off its phones.
        // They do not clear the failures (those may be second-factor guesses).
        if app_passwords && self.accounts.use_app_password(user.id, &secret_hash(password)).await? {
            return Ok(Checked::AppPassword(user));
        }
        if user.locked_until.is_some_and(|t| t > now) {
            // As slow as any refusal: the answer's timing tells nothing more.
            self.password_matches(password, DUMMY_HASH.to_string()).await?;
            return Ok(Checked::Refused(SignIn::Locked));
        }
        // Taken on trust for the cache's TTL from the argon2id check that
        // proved it, not from each use.
        let matches = if self.verified.verified(user.id, &user.password_hash, password) {
            true
        } else if self.password_matches(password, user.password_hash.clone()).await? {
            self.verified.remember(user.id, &user.password_hash, password);
            true
        } else {
            false
        };
        if matches {
            // With a second factor to come, the failures stay until it succeeds.
            if !user.totp_enabled && (user.failed_logins > 0 || user.locked_until.is_some()) {
                self.accounts.record_success(user.id).await?;
            }
            return Ok(Checked::Password(user));
        }
        self.failure(&user, ip, now, "a wrong password", over).await?;
        Ok(Checked::Refused(SignIn::Failed))
    }

    /// Counts a failure for the account and the address; logs a lock.
    /// `what` failed over `over` (IMAP, POP3, SMTP, the web): logged for
    /// the account's owner to find (an old phone with the old password).
    async fn failure(&self, user: &User, ip: IpAddr, now: i64, what: &str, over: &str) -> Result<(), StoreError> {
        self.log(EventKind::SignInFailed, &user.address, format!("{what} over {over} from {ip}")).await;
        self.address_failure(ip, now, &user.address).await;
        if let Some(until) = self.accounts.record_failure(user.id, now, self.policy.lock).await? {
            let minutes = (until - now + 59) / 60;
            tracing::warn!(user = %user.address, %ip, minutes, "account locked after repeated failed sign-ins");
            self.log(
                EventKind::Locked,
                &user.address,
                format!(
                    "account locked for {minutes} minutes after {} failed sign-ins; the last from {ip}",
                    self.policy.lock.max_failures
                ),
            )
            .await;
        }
        Ok(())
    }

    /// A completed sign-in (after the second factor) clears failures.
    pub async fn succeeded(&self, user: &User) -> Result<(), StoreError> {
        self.accounts.record_success(user.id).await
    }

    /// Whether a name no account has is "locked" as an account would be
    /// after as many failures (so the answers do not tell which names
    /// exist); counts this failure. With a store other nodes share, the
    /// count and the lock are kept there, like real accounts' locks.
    async fn unknown_locked(&self, name: &str, now: i64) -> Result<bool, StoreError> {
        if !self.accounts.shared() {
            if self.unknown.banned(&name.to_string(), now) {
                return Ok(true);
            }
            self.unknown.failure(name.to_string(), now);
            return Ok(false);
        }
        let lease = format!("unknown-lock:{name}");
        if self.accounts.lease_until(&lease, now).await?.is_some() {
            return Ok(true);
        }
        let lock = self.policy.lock;
        let counted =
            self.accounts.add_events(&format!("unknown-failures:{name}"), 1, u64::MAX, now, lock.window_secs).await?;
        if counted.is_some_and(|total| total >= u64::from(lock.max_failures)) {
            self.accounts.take_lease(&lease, "lock", now, now.saturating_add(lock.lock_secs)).await?;
        }
        Ok(false)
    }

    /// With a store other nodes share: whether one of them banned `ip`
    /// (then this node remembers the ban too, for its cheap checks).
    async fn banned_by_other_nodes(&self, ip: IpAddr, now: i64) -> Result<bool, StoreError> {
        if !self.accounts.shared() {
            return Ok(false);
        }
        match self.accounts.lease_until(&ban_lease(ip), now).await? {
            Some(until) => {
                self.ips.ban(ip, until);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Counts a failed sign-in from `ip`: in memory, or, with a store other
    /// nodes share, in the store, so failures on every node add up to one
    /// ban that every node enforces. True when this failure bans `ip`.
    async fn count_address_failure(&self, ip: IpAddr, now: i64) -> bool {
        if !self.accounts.shared() {
            return self.ips.failure(ip, now);
        }
        let p = self.policy.ban;
        let name = format!("signin-failures:{}", crate::guard::key(ip));
        match self.accounts.add_events(&name, 1, u64::MAX, now, p.window_secs).await {
            Ok(Some(total)) if total >= u64::from(p.max_failures) => {
                let until = now.saturating_add(p.ban_secs);
                self.ips.ban(ip, until);
                // Taken by one node only: the others find it already held.
                match self.accounts.take_lease(&ban_lease(ip), "ban", now, until).await {
                    Ok(taken) => taken && total == u64::from(p.max_failures),
                    Err(e) => {
                        tracing::warn!(error = %e, %ip, "the address ban could not be shared with other nodes");
                        false
                    }
                }
            }
            Ok(_) => false,
            Err(e) => {
                // The store is failing: count here, so a ban still happens.
                tracing::warn!(error = %e, %ip, "failed sign-in counted on this node only");
                self.ips.failure(ip, now)
            }
        }
    }

    async fn address_failure(&self, ip: IpAddr, now: i64, username: &str) {
        if self.count_address_failure(ip, now).await {
            let minutes = self.policy.ban.ban_secs / 60;
            tracing::warn!(%ip, minutes, "address banned after repeated failed sign-ins");
            self.log(
                EventKind::Banned,
                username,
                format!(
                    "{ip} banned for {minutes} minutes after {} failed sign-ins across accounts",
                    self.policy.ban.max_failures
                ),
            )
            .await;
        }
    }

    async fn log(&self, kind: EventKind, who: &str, detail: String) {
        let metrics = caravel_metrics::global();
        match kind {
            EventKind::Locked => metrics.account_locks.inc(),
            EventKind::Banned => metrics.address_bans.inc(),
            _ => 0,
        };
        let event = MailEvent {
            ts: now_millis(),
            kind,
            message_id: None,
            sender: None,
            recipient: Some(who.to_string()),
            detail,
            session: None,
        };
        if let Err(e) = self.accounts.record(event).await {
            tracing::error!(error = %e, "cannot write the mail log");
        }
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

#[cfg(test)]
mod cache_tests {
    use super::*;
    use caravel_store::{Directory, NewUser, Security, UserUpdate};

    /// The credential cache spares argon2id for a password verified lately,
    /// and never outlives a password change, a lock or two-factor sign-in.
    #[tokio::test]
    async fn verified_passwords_are_cached_and_never_outlive_a_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(caravel_store::sqlite::SqliteStore::open(dir.path()).expect("store"));
        store.add_domain("example.test").await.expect("domain");
        let address = Address::parse("ana@example.test").expect("address");
        let hash = crate::hash_password("First-Password-2026").expect("hash");
        store
            .add_user(NewUser { address: address.clone(), name: None, quota: None, password_hash: hash })
            .await
            .expect("user");
        let auth = Authenticator::new(store.clone());
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let ok = |s: SignIn| matches!(s, SignIn::Ok(_));
        assert!(ok(auth.verify("ana@example.test", "First-Password-2026", ip, Protocol::Imap).await.expect("verify")));
        let after_first = auth.password_checks();
        for _ in 0..4 {
            assert!(ok(auth
                .verify("ana@example.test", "First-Password-2026", ip, Protocol::Imap)
                .await
                .expect("verify")));
        }
        assert_eq!(auth.password_checks(), after_first, "four more sign-ins, no argon2id");
        let wrong = auth.verify("ana@example.test", "Wrong-Password-2026", ip, Protocol::Imap).await.expect("verify");
        assert_eq!(wrong, SignIn::Failed);
        assert_eq!(auth.password_checks(), after_first + 1, "a wrong password is always checked");
        // A password change: the old one fails at once.
        let new_hash = crate::hash_password("Second-Password-2026").expect("hash");
        store
            .update_user(&address, UserUpdate { password_hash: Some(new_hash), ..Default::default() })
            .await
            .expect("change");
        assert_eq!(
            auth.verify("ana@example.test", "First-Password-2026", ip, Protocol::Imap).await.expect("verify"),
            SignIn::Failed
        );
        assert!(ok(auth.verify("ana@example.test", "Second-Password-2026", ip, Protocol::Imap).await.expect("verify")));
        // A protocol turned off: refused by name, for a cached password too,
        // and only once the password is right.
        let pop3_off = caravel_store::Protocols { pop3: false, ..Default::default() };
        store.update_user(&address, UserUpdate { protocols: Some(pop3_off), ..Default::default() }).await.expect("off");
        assert_eq!(
            auth.verify("ANA@example.test", "Second-Password-2026", ip, Protocol::Pop3).await.expect("verify"),
            SignIn::ProtocolOff(Protocol::Pop3, "ana@example.test".into())
        );
        assert_eq!(
            auth.verify("ana@example.test", "Wrong-Password-2026", ip, Protocol::Pop3).await.expect("verify"),
            SignIn::Failed
        );
        assert!(ok(auth.verify("ana@example.test", "Second-Password-2026", ip, Protocol::Imap).await.expect("verify")));
        store
            .update_user(&address, UserUpdate { protocols: Some(Default::default()), ..Default::default() })
            .await
            .expect("on");
        // Two-factor sign-in turned on: the cached password is not enough.
        let id = store.get_user(&address).await.expect("get").expect("user").id;
        store.set_totp_secret(id, Some("JBSWY3DPEHPK3PXP".into())).await.expect("secret");
        store.enable_totp(id, Vec::new()).await.expect("2fa");
        assert_eq!(
            auth.verify("ana@example.test", "Second-Password-2026", ip, Protocol::Imap).await.expect("verify"),
            SignIn::AppPasswordRequired
        );
        // A locked account stays locked for a cached password.
        let other_ip: IpAddr = "127.0.0.2".parse().expect("ip");
        let mut outcome = SignIn::Failed;
        for _ in 0..6 {
            outcome =
                auth.verify("ana@example.test", "Guess-Password-2026", other_ip, Protocol::Imap).await.expect("verify");
        }
        assert_eq!(outcome, SignIn::Locked);
        assert_eq!(
            auth.verify("ana@example.test", "Second-Password-2026", ip, Protocol::Imap).await.expect("verify"),
            SignIn::Locked
        );
    }
}
