//! Caravel's store: accounts, mailboxes, messages and the mail log, behind
//! narrow traits so that protocol code never knows which backend it talks to.
//!
//! # The embedded backend's on-disk layout (`data_dir/`)
//!
//! ```text
//! caravel.db, -wal, -shm   SQLite in WAL mode, synchronous=FULL: every index row
//! blobs/ab/cdef…           message bodies, named by SHA-256 of their content
//! blobs/tmp/               blobs being written (cleared at start-up)
//! tls/                     the self-signed certificate, when no [tls] is set
//! ```
//!
//! # Invariants
//!
//! 1. A `blobs` row exists only while its file exists and is durable: a blob is
//!    written (temp, fsync, rename) and its directory fsynced *before* the
//!    transaction that inserts its row commits.
//! 2. `blobs.refcount` equals the number of `messages` rows naming the blob; a
//!    blob whose count reaches 0 loses its row and is listed in `blob_trash`.
//!    Trash files are unlinked at the start of a later write transaction (under
//!    SQLite's write lock, so no other process can revive them mid-way) and only
//!    if no `blobs` row has reappeared for the hash.
//! 3. `mailboxes.messages`/`size` and `accounts.used` equal the counts and sums
//!    of their messages; `uidnext` is above every UID, `highestmodseq` at least
//!    every message's modseq.
//! 4. A delivery is acknowledged only after its transaction committed (fsync of
//!    the WAL). Concurrent deliveries share one commit (group commit).
//!
//! `caravel store check` verifies all of these.

pub mod address;
pub mod blobs;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod coordination;
mod error;
pub mod fields;
pub mod filter_data;
pub mod header_cache;
mod indexing;
pub mod mime;
pub mod model;
mod notify;
pub mod postgres;
pub mod private;
pub mod quarantine;
mod safe_parse;
pub mod settings;
pub mod sort_keys;
pub mod sqlite;
pub mod stored_envelope;
mod system_mail;
pub mod threads;

use async_trait::async_trait;
use tokio::sync::broadcast;

pub use address::Address;
pub use coordination::Coordination;
pub use error::{Result, StoreError};
pub use filter_data::FilterData;
pub use model::*;
pub use notify::Notifier;
pub use quarantine::{joined_reasons, same_recipient, Held, HeldKind, HeldVerdict, NewHeld, Quarantine};
pub use settings::Settings;
pub use system_mail::{send_mail_as, send_system_mail};

/// Domains, accounts and aliases.
#[async_trait]
pub trait Directory: Send + Sync {
    async fn add_domain(&self, name: &str) -> Result<Domain>;
    async fn list_domains(&self) -> Result<Vec<Domain>>;
    /// What new accounts of the domain may use (existing ones keep theirs).
    async fn set_domain_protocols(&self, name: &str, protocols: Protocols) -> Result<()>;
    /// Refused while the domain still has users or aliases.
    async fn del_domain(&self, name: &str) -> Result<()>;
    /// Creates the account and its standard mailboxes (INBOX, Sent, Drafts,
    /// Junk, Trash, Archive). The domain must exist.
    async fn add_user(&self, user: NewUser) -> Result<User>;
    async fn get_user(&self, address: &Address) -> Result<Option<User>>;
    async fn user_by_id(&self, account: AccountId) -> Result<Option<User>>;
    async fn list_users(&self) -> Result<Vec<User>>;
    async fn update_user(&self, address: &Address, update: UserUpdate) -> Result<User>;
    /// Deletes the account with all its mail.
    async fn del_user(&self, address: &Address) -> Result<()>;
    /// Clears failed sign-in counts and any lock.
    async fn unlock_user(&self, address: &Address) -> Result<()>;
    async fn add_alias(&self, alias: &Address, targets: &[String]) -> Result<Alias>;
    async fn list_aliases(&self) -> Result<Vec<Alias>>;
    async fn del_alias(&self, alias: &Address) -> Result<()>;
    /// Where mail for `address` goes.
    async fn resolve(&self, address: &Address) -> Result<Recipient>;
}

/// Sign-in security: failed sign-ins and lockout, the TOTP second factor,
/// recovery codes and app passwords. Secrets arrive hashed (codes and app
/// passwords) or as the TOTP key the authenticator app also holds.
#[async_trait]
pub trait Security: Send + Sync {
    /// Counts a failed sign-in of any protocol at `now` (Unix seconds). With
    /// `policy.max_failures` within the window the account is locked; the
    /// lock's end is returned then.
    async fn record_failure(&self, account: AccountId, now: i64, policy: LockPolicy) -> Result<Option<i64>>;
    /// A successful sign-in clears failures and the lock doubling.
    async fn record_success(&self, account: AccountId) -> Result<()>;
    async fn totp(&self, account: AccountId) -> Result<TotpState>;
    /// Enrollment: a new secret, not yet enforced (`enabled` false); None
    /// turns the second factor off and forgets the recovery codes.
    async fn set_totp_secret(&self, account: AccountId, secret: Option<String>) -> Result<()>;
    /// Confirmation: enforce the second factor and keep these recovery code hashes.
    async fn enable_totp(&self, account: AccountId, recovery_hashes: Vec<String>) -> Result<()>;
    /// Accepts the code of time step `step` once: true and remembered if it
    /// is newer than the last accepted one (RFC 6238 §5.2), else false.
    async fn use_totp_step(&self, account: AccountId, step: i64) -> Result<bool>;
    /// Consumes a recovery code (by hash): true if it existed.
    async fn use_recovery_code(&self, account: AccountId, hash: &str) -> Result<bool>;
    /// A name already taken by the account is a Conflict.
    async fn add_app_password(&self, account: AccountId, name: &str, hash: &str) -> Result<AppPassword>;
    async fn app_passwords(&self, account: AccountId) -> Result<Vec<AppPassword>>;
    async fn del_app_password(&self, account: AccountId, name: &str) -> Result<()>;
    /// Whether `hash` is one of the account's app passwords; records its use.
    async fn use_app_password(&self, account: AccountId, hash: &str) -> Result<bool>;
    async fn create_web_session(&self, token_hash: &str, session: WebSession) -> Result<()>;
    /// The session if it exists and has not expired at `now`.
    async fn web_session(&self, token_hash: &str, now: i64) -> Result<Option<WebSession>>;
    /// Replaces the session's state (second factor done, an emailed code).
    async fn update_web_session(&self, token_hash: &str, session: WebSession) -> Result<()>;
    async fn delete_web_session(&self, token_hash: &str) -> Result<()>;
    /// Signs the account out everywhere: every web session and, with
    /// `app_passwords`, every app password. A password change does both.
    async fn revoke_all(&self, account: AccountId, app_passwords: bool) -> Result<()>;
    /// A password-reset token (by hash) for `account`, usable until
    /// `expires`. Refused (false) if one was made after `not_after_last`
    /// (rate limit); older ones stay valid until they expire.
    async fn create_reset_token(
        &self,
        token_hash: &str,
        account: AccountId,
        now: i64,
        expires: i64,
        not_after_last: i64,
    ) -> Result<bool>;
    /// The account of a token that exists and has not expired (it stays).
    async fn reset_token_account(&self, token_hash: &str, now: i64) -> Result<Option<AccountId>>;
    /// Consumes a token: its account and expiry if it exists and has not expired.
    async fn take_reset_token(&self, token_hash: &str, now: i64) -> Result<Option<(AccountId, i64)>>;
}

/// Mailboxes and messages.
#[async_trait]
pub trait MailStore: Send + Sync {
    async fn mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>>;
    /// One mailbox by id (a session's counters after a change), None once
    /// deleted.
    async fn mailbox(&self, id: MailboxId) -> Result<Option<Mailbox>>;
    async fn create_mailbox(&self, account: AccountId, name: &str) -> Result<Mailbox>;
    /// Stores one message for every target and queues it for the remote
    /// recipients, in one transaction; the body is stored once. Each target
    /// succeeds or fails on its own (e.g. one account over quota).
    async fn deliver(&self, delivery: Delivery) -> Result<DeliveryOutcome>;
    /// Stores several messages, each for its targets, all or none (IMAP
    /// MULTIAPPEND, RFC 3502 §6): one failure and nothing is stored. A
    /// target whose mailbox is gone fails; there is no INBOX fallback. No
    /// remote recipients.
    async fn deliver_all(&self, deliveries: Vec<Delivery>) -> Result<Vec<Stored>>;
    /// The outbound queue.
    async fn queued(&self) -> Result<Vec<QueuedMessage>>;
    /// How many messages the queue holds and when the oldest came (Unix
    /// seconds), in one cheap read (for `/metrics` and the doctor).
    async fn queue_summary(&self) -> Result<(u64, Option<i64>)>;
    /// Makes the pending recipients of message `id` (every message: None)
    /// due now; returns how many recipients that touched.
    async fn retry_queued(&self, id: Option<i64>, now: i64) -> Result<u64>;
    /// Removes message `id` from the queue (its body goes once unused).
    async fn del_queued(&self, id: i64) -> Result<()>;
    async fn messages(&self, mailbox: MailboxId) -> Result<Vec<MessageMeta>>;
    /// The messages of `uids` that still exist, and with `from` every message
    /// from that UID on, in UID order: what a session's view needs after a
    /// change, without reading the whole mailbox.
    async fn messages_changed(&self, mailbox: MailboxId, uids: &[u32], from: Option<u32>) -> Result<Vec<MessageMeta>>;
    /// The envelope and MIME structure computed at delivery.
    async fn structure(&self, mailbox: MailboxId, uid: u32) -> Result<(mime::Envelope, mime::BodyPart)>;
    /// The structures of many messages at once (FETCH 1:* ENVELOPE).
    async fn structures(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
    ) -> Result<std::collections::HashMap<u32, (mime::Envelope, mime::BodyPart)>>;
    /// SORT (RFC 5256 §3): the UIDs of the mailbox's messages in the order
    /// of `criteria`, ties by UID; from keys computed when each message was
    /// stored.
    async fn sorted_uids(&self, mailbox: MailboxId, criteria: &[sort_keys::SortCriterion]) -> Result<Vec<u32>>;
    /// THREAD (RFC 5256 §3): every message's keys, in UID order.
    async fn thread_keys(&self, mailbox: MailboxId) -> Result<Vec<(u32, sort_keys::ThreadKeys)>>;
    /// The envelopes of just these messages (FETCH ENVELOPE, SEARCH SUBJECT,
    /// SORT), by UID: no body structure is read. A message whose stored
    /// envelope cannot be read is left out (and logged), as an expunged one.
    async fn envelopes_of(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
    ) -> Result<std::collections::HashMap<u32, mime::Envelope>>;
    async fn read_blob(&self, hash: &str) -> Result<Vec<u8>>;
    /// Several whole messages (prefix + blob) in one query, by UID; UIDs
    /// that no longer exist are left out (SEARCH BODY/TEXT over a mailbox).
    async fn read_messages(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>>;
    /// The whole message as a client sees it: its prefix, then its blob.
    async fn read_message(&self, meta: &MessageMeta) -> Result<Vec<u8>> {
        let blob = self.read_blob(&meta.blob).await?;
        if meta.prefix.is_empty() {
            return Ok(blob);
        }
        let mut out = Vec::with_capacity(meta.prefix.len() + blob.len());
        out.extend_from_slice(&meta.prefix);
        out.extend_from_slice(&blob);
        Ok(out)
    }
    /// Changes flags of `uids`; returns the new modseq.
    async fn set_flags(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        flags: Flags,
        keywords: &[String],
        mode: FlagMode,
    ) -> Result<u64>;
    /// Removes `uids` from the mailbox; returns those that were there.
    async fn expunge(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<u32>>;
    /// UIDs whose decoded `field` (subject, from, to, cc, bcc) contains
    /// `needle`, case-insensitively; `None` when the store cannot answer
    /// (another field, or messages stored before this was kept).
    async fn header_search(&self, mailbox: MailboxId, field: &str, needle: &str) -> Result<Option<Vec<u32>>>;
    /// Claims the messages no session has seen as \Recent yet (RFC 3501
    /// §2.3.2): returns the UID range `[first, next)` that is now this
    /// caller's; the next caller gets only newer ones.
    async fn claim_recent(&self, mailbox: MailboxId) -> Result<(u32, u32)>;
    /// UIDs expunged from `mailbox` after `modseq` (QRESYNC, RFC 7162 §3.2.5).
    async fn vanished_since(&self, mailbox: MailboxId, modseq: u64) -> Result<Vec<u32>>;
    /// Changes to `mailbox` made from now on, in this process.
    fn watch(&self, mailbox: MailboxId) -> broadcast::Receiver<MailboxChange>;
    /// A signal each time one of the account's mailboxes is created,
    /// deleted, renamed, subscribed or unsubscribed, from now on, in this
    /// process.
    fn watch_account(&self, account: AccountId) -> broadcast::Receiver<()>;
}

/// Mailbox management for IMAP: rename, delete, subscribe, copy and move.
#[async_trait]
pub trait Folders: Send + Sync {
    /// Renames a mailbox and its children (`a` and `a/...`). Renaming INBOX
    /// moves its messages to a new mailbox and leaves INBOX empty (RFC 9051 §6.3.6).
    async fn rename_mailbox(&self, account: AccountId, from: &str, to: &str) -> Result<()>;
    /// Deletes a mailbox with its messages; INBOX cannot be deleted.
    async fn delete_mailbox(&self, account: AccountId, name: &str) -> Result<()>;
    /// Subscribing needs an existing mailbox; a subscription outlives its
    /// mailbox until unsubscribed (RFC 9051 §6.3.7).
    async fn set_subscribed(&self, account: AccountId, name: &str, subscribed: bool) -> Result<()>;
    /// Every subscribed name, existing or not, sorted.
    async fn subscriptions(&self, account: AccountId) -> Result<Vec<String>>;
    /// The mailbox's URLAUTH access key (RFC 4467 §3): `key` is stored as
    /// the key when the mailbox has none yet. `None` when the mailbox has no
    /// key and `key` is `None` (nothing authorized with it can be valid).
    async fn urlauth_key(&self, mailbox: MailboxId, key: Option<Vec<u8>>) -> Result<Option<Vec<u8>>>;
    /// RESETKEY (RFC 4467 §4.1): forgets the key of one mailbox, or of every
    /// mailbox of the account, so the URLs made with it stop working.
    async fn reset_urlauth_keys(&self, account: AccountId, mailbox: Option<MailboxId>) -> Result<()>;
    /// Copies messages (body shared) and returns (source UID, new UID) pairs.
    /// With `expunge_source` it is a MOVE: the originals are removed in the
    /// same transaction.
    async fn copy_messages(
        &self,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
        expunge_source: bool,
    ) -> Result<Vec<(u32, u32)>>;
}

/// The operator's mail log, read by `caravel trace`.
#[async_trait]
pub trait MailLog: Send + Sync {
    async fn record(&self, event: MailEvent) -> Result<()>;
    async fn events(&self, query: EventQuery) -> Result<Vec<MailEvent>>;
}

/// The outbound queue as the delivery worker sees it.
#[async_trait]
pub trait OutboundQueue: Send + Sync {
    /// Messages with recipients due at `now`, earliest due first, at most `limit`
    /// messages; recipients whose message is in `busy` are left out.
    async fn due(&self, now: i64, limit: usize, busy: &[i64]) -> Result<Vec<QueueJob>>;
    /// Gives back messages `due` handed out that the worker did not start
    /// (no free slot, a busy domain), so other nodes sharing the store may
    /// take them now. Nothing to do where one process owns the store.
    async fn release(&self, ids: &[i64]) -> Result<()> {
        let _ = ids;
        Ok(())
    }
    /// When the next pending recipient is due (None: the queue is empty).
    async fn next_due(&self) -> Result<Option<i64>>;
    /// Records one attempt: delivered and failed recipients leave the queue,
    /// the others wait; a message with no recipient left goes (its body
    /// once unused). Each result is also a mail-log event.
    async fn record_attempt(&self, attempt: Attempt) -> Result<()>;
    /// Notified when something is queued or made due (the worker's wake-up).
    fn queue_signal(&self) -> std::sync::Arc<tokio::sync::Notify>;
}

/// Integrity checks.
#[async_trait]
pub trait Maintenance: Send + Sync {
    async fn check(&self) -> Result<CheckReport>;
    /// Crash recovery, run at server start: blob files that no index row
    /// names (written by deliveries a crash interrupted before their commit)
    /// are removed. Returns how many were found.
    async fn recover(&self) -> Result<u64>;
    /// Rewrites in their compact form what older versions kept longer
    /// (bodies stored uncompressed in their row), a chunk per write
    /// transaction while the server goes on. The space freed is reused by
    /// new mail; with `vacuum` the database file is then rewritten to give
    /// it back to the file system (writes wait meanwhile).
    async fn compact(&self, vacuum: bool) -> Result<CompactReport>;
}

/// DKIM signing keys (outbound mail signs with them; `caravel dns` prints
/// their records).
#[async_trait]
pub trait DkimKeys: Send + Sync {
    /// A selector already used for the domain is a Conflict.
    async fn add_dkim_key(&self, key: DkimKey) -> Result<()>;
    /// The domain's keys, newest first.
    async fn dkim_keys(&self, domain: &str) -> Result<Vec<DkimKey>>;
    async fn del_dkim_key(&self, domain: &str, selector: &str) -> Result<()>;
}

/// What sign-in needs: accounts, their security state, the mail log, and
/// what nodes sharing the store agree on (the address ban).
pub trait Accounts: Directory + Security + MailLog + Coordination {}
impl<T: Directory + Security + MailLog + Coordination> Accounts for T {}

/// Everything a backend provides.
pub trait Store:
    Accounts + MailStore + Folders + Maintenance + DkimKeys + OutboundQueue + FilterData + Quarantine + Settings
{
}
impl<T> Store for T where
    T: Accounts + MailStore + Folders + Maintenance + DkimKeys + OutboundQueue + FilterData + Quarantine + Settings
{
}

/// The server's clock: the system's, or a time a test set. Everything that
/// depends on the hour (auto-replies after hours) reads it.
#[derive(Debug, Clone, Default)]
pub struct Clock(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl Clock {
    /// Unix seconds.
    pub fn now(&self) -> i64 {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            0 => now_secs(),
            fixed => fixed,
        }
    }

    /// Stops the clock at `unix` seconds (0: the system's time again).
    pub fn set(&self, unix: i64) {
        self.0.store(unix, std::sync::atomic::Ordering::Relaxed)
    }
}

/// Current time in Unix seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The civil date (year, month 1-12, day 1-31) of a day count since
/// 1970-01-01 (Howard Hinnant's algorithm); for the date formats of SMTP
/// (RFC 5322) and IMAP (INTERNALDATE).
/// `Sat, 28 Nov 2026 13:36:41 +0000` (RFC 5322 §3.3), in UTC.
pub fn rfc5322_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix.div_euclid(86400);
    let secs = unix.rem_euclid(86400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Current time in Unix milliseconds.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
