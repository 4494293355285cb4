//! The POP3 session state machine (RFC 1939 §3): AUTHORIZATION, TRANSACTION,
//! UPDATE. Lines in, replies out; socket work is the driver's.

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use caravel_auth::sasl::{self, SaslError};
use caravel_auth::{SignIn, SignedIn};
use caravel_store::{AccountId, Coordination};

use crate::backend::{Maildrops, Snapshot, TempFailure};
use crate::command::{self, Command, ParseError};

/// What the driver does after writing the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Command,
    /// The next line is a SASL response.
    AuthResponse,
    StartTls,
    Close,
}

#[derive(Debug)]
pub struct Step {
    pub reply: Vec<u8>,
    pub next: Next,
    pub auth_failed: bool,
}

const APP_PASSWORD_REQUIRED: &str =
    "[AUTH] Two-factor sign-in is on for this account: create an app password for this mail program and use it instead";
const LOCKED: &str = "[AUTH] Account locked after too many failed sign-ins; try again later or ask your administrator";
const BANNED: &str = "[SYS/TEMP] Too many failed sign-ins from your address; try again later";

fn ok(text: &str) -> Step {
    Step { reply: format!("+OK {text}\r\n").into_bytes(), next: Next::Command, auth_failed: false }
}

fn err(text: &str) -> Step {
    Step { reply: format!("-ERR {text}\r\n").into_bytes(), next: Next::Command, auth_failed: false }
}

/// How long a maildrop lease in a shared store lasts without renewal: a
/// node that dies holding one frees the maildrop after this.
const LEASE_SECS: i64 = 600;

/// How often a session renews its lease (well within [`LEASE_SECS`]).
const LEASE_RENEWAL: std::time::Duration = std::time::Duration::from_secs(120);

/// The maildrops that have a POP3 session in TRANSACTION state (RFC 1939
/// §8: one maildrop, one session; IMAP is not blocked): in this process's
/// memory, or, when several nodes share the store, as leases in it.
#[derive(Default, Clone)]
pub struct Locks {
    local: Arc<Mutex<HashSet<AccountId>>>,
    shared: Option<Arc<dyn Coordination>>,
}

/// Releases the maildrop lock when the session ends, however it ends.
pub struct LockGuard {
    locks: Locks,
    account: AccountId,
    /// In a shared store: the lease's holder name and its renewal task.
    lease: Option<(String, tokio::task::JoinHandle<()>)>,
    /// Set when a renewal found the lease gone or could not renew it before
    /// it ended: the maildrop may be another session's now.
    lost: Arc<std::sync::atomic::AtomicBool>,
}

impl LockGuard {
    fn lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        match (self.lease.take(), &self.locks.shared) {
            (Some((holder, renewal)), Some(store)) => {
                renewal.abort();
                let (store, name) = (store.clone(), lease_name(self.account));
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move {
                        if let Err(e) = store.release_lease(&name, &holder).await {
                            tracing::warn!(error = %e, "POP3 maildrop lease not released; it lapses by itself");
                        }
                    });
                }
            }
            _ => {
                self.locks.local.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.account);
            }
        }
    }
}

fn lease_name(account: AccountId) -> String {
    format!("pop3:{account}")
}

impl Locks {
    /// Locks kept as leases in `store`, which other nodes share.
    pub fn shared(store: Arc<dyn Coordination>) -> Locks {
        Locks { local: Arc::default(), shared: Some(store) }
    }

    /// The account's lock, None while another session holds it.
    async fn take(&self, account: AccountId) -> Result<Option<LockGuard>, TempFailure> {
        let Some(store) = &self.shared else {
            let mut set = self.local.lock().unwrap_or_else(|e| e.into_inner());
            return Ok(set.insert(account).then(|| LockGuard {
                locks: self.clone(),
                account,
                lease: None,
                lost: Arc::default(),
            }));
        };
        let holder = format!("{:016x}", rand_u64());
        let now = caravel_store::now_secs();
        let name = lease_name(account);
        match store.take_lease(&name, &holder, now, now + LEASE_SECS).await {
            Ok(false) => Ok(None),
            Err(e) => Err(TempFailure(format!("the mailbox lock could not be taken: {e}"))),
            Ok(true) => {
                let (store, renewed_by) = (store.clone(), holder.clone());
                let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let mark = lost.clone();
                let renewal = tokio::spawn(async move {
                    let mut until = now + LEASE_SECS;
                    loop {
                        tokio::time::sleep(LEASE_RENEWAL).await;
                        let now = caravel_store::now_secs();
                        match store.take_lease(&name, &renewed_by, now, now + LEASE_SECS).await {
                            Ok(true) => until = now + LEASE_SECS,
                            Ok(false) => {
                                tracing::warn!("POP3 maildrop lease taken by another session after it lapsed");
                                mark.store(true, std::sync::atomic::Ordering::Relaxed);
                                return;
                            }
                            Err(e) if now >= until => {
                                tracing::warn!(error = %e, "POP3 maildrop lease lapsed: it could not be renewed");
                                mark.store(true, std::sync::atomic::Ordering::Relaxed);
                                return;
                            }
                            Err(e) => tracing::warn!(error = %e, "POP3 maildrop lease not renewed; trying again"),
                        }
                    }
                });
                Ok(Some(LockGuard { locks: self.clone(), account, lease: Some((holder, renewal)), lost }))
            }
        }
    }
}

/// A random holder name (the std hasher's per-process random keys, mixed
/// with a counter: unique without another dependency).
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.finish()
}

pub struct Config {
    pub hostname: String,
    /// Error replies before the session is closed.
    pub max_errors: usize,
}

enum State {
    Authorization { user: Option<String> },
    Transaction { snapshot: Snapshot, deleted: BTreeSet<usize>, _lock: LockGuard },
}

pub struct Session<M: Maildrops> {
    cfg: Arc<Config>,
    maildrops: Arc<M>,
    locks: Locks,
    tls: bool,
    /// TLS is possible here (STLS offered while not yet active).
    starttls_available: bool,
    state: State,
    sasl_pending: bool,
    errors: usize,
    /// The client's address, for lockout and the address ban.
    peer: IpAddr,
    /// Counted in the signed-in sessions while the maildrop is open.
    signed_in: Option<caravel_metrics::Held>,
}

impl<M: Maildrops> Session<M> {
    pub fn new(cfg: Arc<Config>, maildrops: Arc<M>, locks: Locks, tls: bool, peer: IpAddr) -> Session<M> {
        Session {
            signed_in: None,
            peer,
            cfg,
            maildrops,
            locks,
            tls,
            starttls_available: !tls,
            state: State::Authorization { user: None },
            sasl_pending: false,
            errors: 0,
        }
    }

    pub fn greeting(&self) -> Vec<u8> {
        format!("+OK {} Caravel POP3 ready\r\n", self.cfg.hostname).into_bytes()
    }

    pub fn timeout_reply(&self) -> Vec<u8> {
        b"-ERR Disconnected for inactivity\r\n".to_vec()
    }

    pub fn shutdown_reply(&self) -> Vec<u8> {
        b"-ERR [SYS/TEMP] Server shutting down, try again later\r\n".to_vec()
    }

    pub fn tls_started(&mut self) {
        self.tls = true;
        self.starttls_available = false;
    }

    pub fn line_too_long(&mut self) -> Step {
        self.error("Line too long")
    }

    fn error(&mut self, text: &str) -> Step {
        self.errors += 1;
        if self.errors >= self.cfg.max_errors {
            let mut s = err(&format!("{text}; too many errors, closing connection"));
            s.next = Next::Close;
            return s;
        }
        err(text)
    }

    fn capa(&self) -> Step {
        let mut lines =
            vec!["+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"];
        lines.push("EXPIRE NEVER");
        lines.push("UTF8");
        lines.push("IMPLEMENTATION Caravel");
        if self.tls {
            // RFC 2595 §4: offer plain-text sign-in only where it is protected.
            if matches!(self.state, State::Authorization { .. }) {
                lines.push("USER");
                lines.push("SASL PLAIN");
            }
        } else if self.starttls_available {
            lines.push("STLS");
        }
        let mut reply = lines.join("\r\n");
        reply.push_str("\r\n.\r\n");
        Step { reply: reply.into_bytes(), next: Next::Command, auth_failed: false }
    }

    pub async fn line(&mut self, line: &[u8]) -> Step {
        if std::mem::take(&mut self.sasl_pending) {
            return self.sasl_response(&String::from_utf8_lossy(line)).await;
        }
        let cmd = match command::parse(line) {
            Ok(c) => c,
            Err(ParseError::Unknown) => return self.error("Unknown command"),
            Err(ParseError::Syntax(why)) => return self.error(why),
        };
        match (&self.state, cmd) {
            (_, Command::Capa) => self.capa(),
            (_, Command::Noop) if matches!(self.state, State::Transaction { .. }) => ok(""),
            (_, Command::Quit) => self.quit().await,
            (State::Authorization { .. }, Command::Stls) => {
                if !self.starttls_available {
                    return self.error("TLS is already active");
                }
                Step { reply: b"+OK Begin TLS negotiation\r\n".to_vec(), next: Next::StartTls, auth_failed: false }
            }
            (State::Authorization { .. }, Command::Utf8) => ok("UTF8 enabled"),
            (State::Authorization { .. }, Command::User(name)) => {
                if !self.tls {
                    return self.error("[AUTH] Plain-text sign-in is not allowed before TLS; use STLS or port 995");
                }
                self.state = State::Authorization { user: Some(name) };
                ok("Send your password")
            }
            (State::Authorization { user }, Command::Pass(password)) => {
                let Some(user) = user.clone() else {
                    return self.error("Send USER first");
                };
                self.state = State::Authorization { user: None };
                if !self.tls {
                    return self.error("[AUTH] Plain-text sign-in is not allowed before TLS; use STLS or port 995");
                }
                self.sign_in(&user, &password).await
            }
            (State::Authorization { .. }, Command::Auth { mechanism, initial }) => {
                if !self.tls {
                    return self.error("[AUTH] Sign-in is not allowed before TLS; use STLS or port 995");
                }
                if mechanism != "PLAIN" {
                    return self.error("Unsupported SASL mechanism; use PLAIN");
                }
                match initial {
                    Some(resp) => self.sasl_response(&resp).await,
                    None => {
                        self.sasl_pending = true;
                        Step { reply: b"+ \r\n".to_vec(), next: Next::AuthResponse, auth_failed: false }
                    }
                }
            }
            (State::Authorization { .. }, _) => self.error("Sign in first"),
            (State::Transaction { .. }, Command::Stls | Command::User(_) | Command::Pass(_) | Command::Auth { .. }) => {
                self.error("Already signed in")
            }
            (State::Transaction { .. }, cmd) => self.transaction(cmd).await,
        }
    }

    async fn sasl_response(&mut self, response: &str) -> Step {
        match sasl::plain(response) {
            Ok(c) => self.sign_in(&c.username, &c.password).await,
            Err(SaslError::Cancelled) => self.error("Authentication cancelled"),
            Err(SaslError::Malformed) => self.error("Cannot decode the response"),
            Err(SaslError::AuthzidNotAllowed) => self.error("[AUTH] Authorization as another user is not allowed"),
        }
    }

    async fn sign_in(&mut self, username: &str, password: &str) -> Step {
        // RFC 3206 response codes: [AUTH] for credentials, [SYS/TEMP] for
        // a condition that will pass.
        let user: SignedIn = match self.maildrops.authenticate(username, password, self.peer).await {
            Ok(SignIn::Ok(u)) => u,
            Ok(SignIn::Failed) => {
                tracing::info!(username, "sign-in failed");
                let mut s = self.error("[AUTH] Authentication failed");
                s.auth_failed = true;
                return s;
            }
            Ok(SignIn::AppPasswordRequired) => {
                let mut s = self.error(APP_PASSWORD_REQUIRED);
                s.auth_failed = true;
                return s;
            }
            Ok(SignIn::Locked) => return self.error(LOCKED),
            Ok(SignIn::Banned) => return self.error(BANNED),
            // [SYS/PERM]: not the password, and trying again will not help
            // until an administrator acts (a program should not ask for a
            // new password).
            Ok(SignIn::ProtocolOff(p, address)) => {
                tracing::info!(user = %address, protocol = p.key(), "sign-in refused: protocol turned off");
                return self.error(&format!("[SYS/PERM] {}", caravel_auth::protocol_off_text(p, &address)));
            }
            Err(e) => {
                // Before sign-in, the details go to the log only.
                tracing::error!(error = %e.0, "sign-in could not be checked");
                return err("[SYS/TEMP] Sign-in is not possible right now; try again later");
            }
        };
        let lock = match self.locks.take(user.account).await {
            Ok(Some(lock)) => lock,
            Ok(None) => return err("[IN-USE] Another POP3 session is using this mailbox"),
            Err(e) => return err(&format!("[SYS/TEMP] {}", e.0)),
        };
        match self.maildrops.open(&user).await {
            Ok(snapshot) => {
                tracing::info!(user = %user.address, messages = snapshot.messages.len(), "signed in");
                let n = snapshot.messages.len();
                let size: u64 = snapshot.messages.iter().map(|m| m.size).sum();
                self.state = State::Transaction { snapshot, deleted: BTreeSet::new(), _lock: lock };
                self.signed_in = Some(caravel_metrics::Held::new(
                    &caravel_metrics::global().sessions_signed_in,
                    &[("protocol", "pop3")],
                ));
                ok(&format!("Mailbox open, {n} messages ({size} octets)"))
            }
            Err(e) => err(&format!("[SYS/TEMP] {}", e.0)),
        }
    }

    /// A message number that exists and is not marked deleted (0-based index).
    fn index(&self, n: u32) -> Option<usize> {
        let State::Transaction { snapshot, deleted, .. } = &self.state else { return None };
        let i = (n as usize).checked_sub(1)?;
        (i < snapshot.messages.len() && !deleted.contains(&i)).then_some(i)
    }

    async fn transaction(&mut self, cmd: Command) -> Step {
        let State::Transaction { snapshot, deleted, .. } = &self.state else {
            return self.error("Sign in first");
        };
        let live = || snapshot.messages.iter().enumerate().filter(|(i, _)| !deleted.contains(i));
        let uidl = |m: &caravel_store::MessageMeta| format!("{:08x}{:08x}", snapshot.uidvalidity, m.uid);
        match cmd {
            Command::Stat => {
                let (n, size) = live().fold((0, 0u64), |(n, s), (_, m)| (n + 1, s + m.size));
                ok(&format!("{n} {size}"))
            }
            Command::List(None) | Command::Uidl(None) => {
                let is_uidl = matches!(cmd, Command::Uidl(_));
                let mut out = String::from("+OK\r\n");
                for (i, m) in live() {
                    let value = if is_uidl { uidl(m) } else { m.size.to_string() };
                    out.push_str(&format!("{} {value}\r\n", i + 1));
                }
                out.push_str(".\r\n");
                Step { reply: out.into_bytes(), next: Next::Command, auth_failed: false }
            }
            Command::List(Some(n)) | Command::Uidl(Some(n)) => {
                let is_uidl = matches!(cmd, Command::Uidl(_));
                match self.index(n) {
                    Some(i) => {
                        let State::Transaction { snapshot, .. } = &self.state else { return err("") };
                        let m = &snapshot.messages[i];
                        let value = if is_uidl {
                            format!("{:08x}{:08x}", snapshot.uidvalidity, m.uid)
                        } else {
                            m.size.to_string()
                        };
                        ok(&format!("{n} {value}"))
                    }
                    None => self.error("No such message"),
                }
            }
            Command::Retr(n) | Command::Top(n, _) => {
                let Some(i) = self.index(n) else { return self.error("No such message") };
                let State::Transaction { snapshot, .. } = &self.state else { return err("") };
                let meta = snapshot.messages[i].clone();
                let raw = match self.maildrops.read(&meta).await {
                    Ok(r) => r,
                    Err(e) => return err(&format!("[SYS/TEMP] {}", e.0)),
                };
                let body_lines = match cmd {
                    Command::Top(_, lines) => Some(lines as usize),
                    _ => None,
                };
                let mut reply = format!("+OK {} octets\r\n", meta.size).into_bytes();
                stuff(&raw, body_lines, &mut reply);
                Step { reply, next: Next::Command, auth_failed: false }
            }
            Command::Dele(n) => match self.index(n) {
                Some(i) => {
                    if let State::Transaction { deleted, .. } = &mut self.state {
                        deleted.insert(i);
                    }
                    ok(&format!("Message {n} deleted"))
                }
                None => self.error("No such message"),
            },
            Command::Rset => {
                if let State::Transaction { deleted, .. } = &mut self.state {
                    deleted.clear();
                }
                ok("")
            }
            Command::Noop => ok(""),
            _ => self.error("Not allowed now"),
        }
    }

    /// QUIT: in TRANSACTION, enter UPDATE and remove the deleted messages
    /// (RFC 1939 §6); only then is anything removed.
    async fn quit(&mut self) -> Step {
        let state = std::mem::replace(&mut self.state, State::Authorization { user: None });
        let mut step = match state {
            State::Transaction { snapshot, deleted, _lock } => {
                let uids: Vec<u32> = deleted.iter().map(|&i| snapshot.messages[i].uid).collect();
                if !uids.is_empty() && _lock.lost() {
                    // Another session may have the maildrop now: removing
                    // what this one marked could remove what it still shows.
                    err("[IN-USE] The mailbox lock was lost (the store was unreachable too long); nothing was deleted")
                } else if uids.is_empty() {
                    ok(&format!("{} closing connection", self.cfg.hostname))
                } else {
                    match self.maildrops.expunge(snapshot.mailbox, &uids).await {
                        Ok(()) => ok(&format!("{} messages deleted, closing connection", uids.len())),
                        // RFC 1939 §6: the UPDATE state may fail; nothing is lost.
                        Err(e) => err(&format!("[SYS/TEMP] Some deleted messages not removed: {}", e.0)),
                    }
                }
            }
            State::Authorization { .. } => ok(&format!("{} closing connection", self.cfg.hostname)),
        };
        step.next = Next::Close;
        step
    }
}

pub use caravel_store::mime::dot_stuff as stuff;
