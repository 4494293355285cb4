//! The data the store keeps, as the protocols see it.

use serde::{Deserialize, Serialize};

pub type AccountId = i64;
pub type MailboxId = i64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// ASCII (punycode) form, the one used on the wire.
    pub name: String,
    /// Unicode form for people.
    pub display: String,
    pub users: u64,
    pub aliases: u64,
    /// What new accounts of the domain may use.
    pub protocols: Protocols,
}

/// The mail protocols an account may sign in to, as a business mail console
/// switches them per account (the web console is always on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protocols {
    /// Sending: SMTP AUTH on the submission ports.
    pub smtp: bool,
    pub imap: bool,
    pub pop3: bool,
}

impl Default for Protocols {
    fn default() -> Self {
        Protocols { smtp: true, imap: true, pop3: true }
    }
}

/// One of the switchable protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Smtp,
    Imap,
    Pop3,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Smtp, Protocol::Imap, Protocol::Pop3];

    /// The lowercase name, as in `caravel user set --imap off`.
    pub fn key(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtp",
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
        }
    }

    /// The name people know it by.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Smtp => "Sending mail (SMTP)",
            Protocol::Imap => "IMAP",
            Protocol::Pop3 => "POP3",
        }
    }

    fn bit(self) -> i64 {
        match self {
            Protocol::Smtp => 1,
            Protocol::Imap => 2,
            Protocol::Pop3 => 4,
        }
    }
}

impl Protocols {
    pub fn allows(self, p: Protocol) -> bool {
        match p {
            Protocol::Smtp => self.smtp,
            Protocol::Imap => self.imap,
            Protocol::Pop3 => self.pop3,
        }
    }

    pub fn set(&mut self, p: Protocol, on: bool) {
        match p {
            Protocol::Smtp => self.smtp = on,
            Protocol::Imap => self.imap = on,
            Protocol::Pop3 => self.pop3 = on,
        }
    }

    /// The stored form: a bit set per protocol turned off, so that a
    /// missing value (0) means everything on.
    pub fn off_bits(self) -> i64 {
        Protocol::ALL.iter().filter(|p| !self.allows(**p)).map(|p| p.bit()).sum()
    }

    pub fn from_off_bits(bits: i64) -> Protocols {
        let mut p = Protocols::default();
        for q in Protocol::ALL {
            p.set(q, bits & q.bit() == 0);
        }
        p
    }
}

/// An account that can sign in and receive mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: AccountId,
    pub address: String,
    pub name: Option<String>,
    /// Bytes; `None` is unlimited.
    pub quota: Option<u64>,
    /// Bytes of mail the account holds now.
    pub used: u64,
    pub recovery: Option<String>,
    /// Consecutive failed sign-ins since the last success or unlock.
    pub failed_logins: u32,
    /// Unix seconds until which sign-in is refused, if locked.
    pub locked_until: Option<i64>,
    /// Two-factor sign-in is on (TOTP confirmed): mail clients need app passwords.
    pub totp_enabled: bool,
    /// The mail protocols it may sign in to.
    pub protocols: Protocols,
    /// A mobile number for text-message codes (E.164, `+8613800138000`).
    pub phone: Option<String>,
    pub role: Role,
    #[serde(skip)]
    pub password_hash: String,
}

/// A password for one mail client or device, usable instead of the account
/// password (and the only kind accepted by IMAP, POP3 and SMTP once two-factor
/// sign-in is on). Only a hash of it is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppPassword {
    pub name: String,
    /// Unix seconds.
    pub created: i64,
    pub last_used: Option<i64>,
}

/// When repeated failed sign-ins lock an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockPolicy {
    /// This many failures within `window_secs` lock the account.
    pub max_failures: u32,
    pub window_secs: i64,
    /// The first lock lasts this long; each further lock before a success
    /// lasts twice as long as the one before.
    pub lock_secs: i64,
}

/// An account's failed sign-in counters after one more failure
/// ([`LockPolicy::after_failure`]), as both backends store them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCount {
    pub failed_logins: i64,
    /// The start of the counting window; None once the failures locked it,
    /// so that the next failure after the lock counts from 1.
    pub first_failure: Option<i64>,
    /// Set when this failure locks the account (and `lock_count` goes up).
    pub locked_until: Option<i64>,
}

impl LockPolicy {
    /// Counts one more failure at `now` on an account that had
    /// `failed_logins` since `first_failure` and was locked `lock_count`
    /// times since its last success.
    pub fn after_failure(
        &self,
        now: i64,
        failed_logins: i64,
        first_failure: Option<i64>,
        lock_count: i64,
    ) -> FailureCount {
        // A failure outside the window starts a new one.
        let (failures, first) = match first_failure {
            Some(f) if now - f < self.window_secs => (failed_logins + 1, f),
            _ => (1, now),
        };
        if failures < i64::from(self.max_failures) {
            return FailureCount { failed_logins: failures, first_failure: Some(first), locked_until: None };
        }
        // Locked: 15 minutes, then 30, 60 ... for repeated locks, at most a
        // day (or the configured lock, if longer): repeated attacks must not
        // lock the owner out for good. The count stays visible beside the
        // lock (`user list`).
        let cap = self.lock_secs.max(86_400);
        let until = now.saturating_add(self.lock_secs.saturating_mul(1 << lock_count.clamp(0, 20)).min(cap));
        FailureCount { failed_logins: failures, first_failure: None, locked_until: Some(until) }
    }
}

/// A web sign-in session (the cookie itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub account: AccountId,
    pub created: i64,
    pub expires: i64,
    /// Password given; the second factor is still awaited.
    pub pending: bool,
    /// An emailed code: its hash, when it stops working, when it was sent,
    /// how many were sent and how many wrong tries it had.
    pub code_hash: Option<String>,
    pub code_expires: i64,
    pub code_sent: i64,
    pub codes_sent: u32,
    pub code_failures: u32,
}

/// A DKIM signing key (RFC 6376; Ed25519 per RFC 8463).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkimKey {
    /// ASCII form of the domain.
    pub domain: String,
    pub selector: String,
    /// "ed25519-sha256" or "rsa-sha256".
    pub algorithm: String,
    /// PKCS#8 PEM.
    #[serde(skip_serializing)]
    pub private_key: String,
    /// The `p=` value of the DNS record (base64).
    pub public_key: String,
    pub created: i64,
}

/// The account's second factor, as the sign-in code needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TotpState {
    /// Base32 secret: set by enrollment, active once `enabled`.
    pub secret: Option<String>,
    pub enabled: bool,
    /// The last time step whose code was accepted (no code is taken twice).
    pub last_step: i64,
}

/// What `add_user` needs; the password arrives already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub address: crate::Address,
    pub name: Option<String>,
    pub quota: Option<u64>,
    pub password_hash: String,
}

/// Fields of an account to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub name: Option<String>,
    /// `Some(None)` removes the quota.
    pub quota: Option<Option<u64>>,
    pub recovery: Option<String>,
    pub password_hash: Option<String>,
    pub protocols: Option<Protocols>,
    /// `Some(None)` removes the number.
    pub phone: Option<Option<String>>,
    pub role: Option<Role>,
}

/// What an account may administer in the web console and the API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Its own mail and settings only.
    #[default]
    User,
    /// The accounts, aliases and settings of its own domain.
    DomainAdmin,
    /// Everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::DomainAdmin => "domain-admin",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        [Role::User, Role::DomainAdmin, Role::Admin].into_iter().find(|r| r.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    pub address: String,
    pub targets: Vec<String>,
}

/// Where mail for an address goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A local account.
    Account(Box<User>),
    /// An alias that expands to these addresses (local or remote).
    Alias(Vec<String>),
    /// The domain is ours but nobody has this address.
    UnknownUser,
    /// The domain is not one of ours.
    NotLocal,
}

/// RFC 6154 special-use attributes of the standard mailboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpecialUse {
    Inbox,
    Sent,
    Drafts,
    Junk,
    Trash,
    Archive,
}

impl SpecialUse {
    pub const ALL: [SpecialUse; 6] = [
        SpecialUse::Inbox,
        SpecialUse::Sent,
        SpecialUse::Drafts,
        SpecialUse::Junk,
        SpecialUse::Trash,
        SpecialUse::Archive,
    ];

    /// The mailbox name created for each new account.
    pub fn default_name(self) -> &'static str {
        match self {
            SpecialUse::Inbox => "INBOX",
            SpecialUse::Sent => "Sent",
            SpecialUse::Drafts => "Drafts",
            SpecialUse::Junk => "Junk",
            SpecialUse::Trash => "Trash",
            SpecialUse::Archive => "Archive",
        }
    }

    /// The IMAP attribute (RFC 6154 §2); INBOX has none.
    pub fn attribute(self) -> Option<&'static str> {
        match self {
            SpecialUse::Inbox => None,
            SpecialUse::Sent => Some("\\Sent"),
            SpecialUse::Drafts => Some("\\Drafts"),
            SpecialUse::Junk => Some("\\Junk"),
            SpecialUse::Trash => Some("\\Trash"),
            SpecialUse::Archive => Some("\\Archive"),
        }
    }

    pub fn from_name(s: &str) -> Option<SpecialUse> {
        SpecialUse::ALL.into_iter().find(|u| u.default_name() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub id: MailboxId,
    pub account: AccountId,
    pub name: String,
    pub special_use: Option<SpecialUse>,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: u64,
    pub subscribed: bool,
    pub messages: u32,
    pub unseen: u32,
    /// Messages flagged \Deleted (STATUS DELETED, RFC 9051).
    pub deleted: u32,
    pub size: u64,
    /// The lowest UID no IMAP4rev1 session has yet seen as \Recent
    /// (RFC 3501 §2.3.2), and how many messages are at or above it.
    pub first_recent: u32,
    pub recent: u32,
}

/// IMAP system flags (RFC 9051 §2.3.2) as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Flags(pub u8);

impl Flags {
    /// What one message with these flags adds to its mailbox's `unseen`
    /// and `deleted` counters (both backends keep them per mailbox).
    pub fn counts(self) -> (i64, i64) {
        (i64::from(!self.contains(Flags::SEEN)), i64::from(self.contains(Flags::DELETED)))
    }

    pub const SEEN: Flags = Flags(1);
    pub const ANSWERED: Flags = Flags(2);
    pub const FLAGGED: Flags = Flags(4);
    pub const DELETED: Flags = Flags(8);
    pub const DRAFT: Flags = Flags(16);

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
    pub fn minus(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
}

/// How a flag change combines with the flags a message has (IMAP STORE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagMode {
    Replace,
    Add,
    Remove,
}

/// The flags and keywords a message has after a STORE-like change. Keywords
/// compare case-insensitively (RFC 9051 §2.3.2) and keep their first spelling.
pub fn merge_flags(
    old: Flags,
    old_keywords: &[String],
    flags: Flags,
    keywords: &[String],
    mode: FlagMode,
) -> (Flags, Vec<String>) {
    let mut kw: Vec<String> = Vec::new();
    let add = |k: &String, kw: &mut Vec<String>| {
        if !kw.iter().any(|x| x.eq_ignore_ascii_case(k)) {
            kw.push(k.clone());
        }
    };
    match mode {
        FlagMode::Replace => {
            keywords.iter().for_each(|k| add(k, &mut kw));
            (flags, kw)
        }
        FlagMode::Add => {
            old_keywords.iter().chain(keywords).for_each(|k| add(k, &mut kw));
            (old.union(flags), kw)
        }
        FlagMode::Remove => {
            old_keywords
                .iter()
                .filter(|x| !keywords.iter().any(|k| k.eq_ignore_ascii_case(x)))
                .for_each(|k| add(k, &mut kw));
            (old.minus(flags), kw)
        }
    }
}

/// Per-message metadata, without the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    pub uid: u32,
    pub modseq: u64,
    pub flags: Flags,
    pub keywords: Vec<String>,
    /// Unix seconds.
    pub internal_date: i64,
    /// The zone the internal date was given in, minutes east of UTC (IMAP
    /// APPEND keeps it, RFC 9051 §6.3.12; SEARCH SINCE uses its day).
    pub internal_zone: i32,
    /// RFC822.SIZE: `prefix` plus the blob.
    pub size: u64,
    /// Content address of the shared body.
    pub blob: String,
    /// Per-recipient header lines that come before the blob.
    pub prefix: Vec<u8>,
}

/// Which mailbox of an account a delivery goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxTarget {
    Special(SpecialUse),
    Name(String),
}

/// One copy of a message for one account.
#[derive(Debug, Clone)]
pub struct Target {
    pub account: AccountId,
    pub mailbox: MailboxTarget,
    pub flags: Flags,
    pub keywords: Vec<String>,
    /// Header lines for this recipient only (e.g. `Delivered-To`), stored
    /// with the message row and placed before the shared body.
    pub prefix: Vec<u8>,
    /// Refuse the copy if it would put the account over its quota. SMTP checks
    /// at RCPT time instead and lets the accepted message in.
    pub check_quota: bool,
    /// The user put it there (IMAP APPEND), so a copy landing in Junk is
    /// learnt as spam. The filter's own Junk deliveries are not: the
    /// classifier would learn its own verdicts.
    pub user_filed: bool,
}

impl Target {
    /// The account's mailbox with the given role, no extra header, quota checked.
    pub fn new(account: AccountId, mailbox: MailboxTarget) -> Target {
        Target {
            account,
            mailbox,
            flags: Flags::default(),
            keywords: Vec::new(),
            prefix: Vec::new(),
            check_quota: true,
            user_filed: false,
        }
    }
}

/// A remote recipient to queue for outbound delivery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteRecipient {
    pub address: String,
    /// DSN NOTIFY and ORCPT as given (RFC 3461).
    pub notify: Option<String>,
    pub orcpt: Option<String>,
}

/// DSN parameters of the whole message (RFC 3461 §4.3, §4.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dsn {
    pub envid: Option<String>,
    pub ret: Option<String>,
}

/// A message to store for one or more accounts and to queue for remote
/// recipients, in one transaction; its body is stored once.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub raw: std::sync::Arc<Vec<u8>>,
    /// Unix seconds.
    pub internal_date: i64,
    /// Minutes east of UTC of the internal date (0 unless APPEND gave one).
    pub internal_zone: i32,
    pub targets: Vec<Target>,
    /// Recipients elsewhere: queued for the delivery agent.
    pub remote: Vec<RemoteRecipient>,
    pub dsn: Dsn,
    /// Who sent it (envelope sender), for the mail log.
    pub sender: String,
    /// The session that received it, for the mail log.
    pub session: String,
    /// The domain whose DKIM keys may sign the remote copies although the
    /// envelope sender is in another domain (or null): the From: domain
    /// the submission checked the user may send as, an auto-reply's.
    pub sign_as: Option<String>,
}

/// What became of a delivery.
#[derive(Debug)]
pub struct DeliveryOutcome {
    /// One result per target, in order.
    pub stored: Vec<Result<Stored, crate::StoreError>>,
    /// The queue id, when there were remote recipients.
    pub queued: Option<i64>,
}

/// A queued message as `caravel queue list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedMessage {
    pub id: i64,
    pub sender: String,
    pub size: u64,
    pub created: i64,
    pub recipients: Vec<QueuedRecipient>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedRecipient {
    pub address: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt: i64,
    pub last_error: Option<String>,
}

/// A queued message with its recipients that are due now, as the delivery
/// worker takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueJob {
    pub id: i64,
    /// The envelope sender ('' for the null reverse-path).
    pub sender: String,
    /// The body's blob.
    pub blob: String,
    /// When it was queued (Unix seconds).
    pub created: i64,
    pub envid: Option<String>,
    pub ret: Option<String>,
    /// The sender was already told that it is late.
    pub delay_notice_sent: bool,
    /// See [`Delivery::sign_as`].
    pub sign_as: Option<String>,
    /// Pending recipients whose next attempt is due.
    pub recipients: Vec<JobRecipient>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecipient {
    pub address: String,
    pub notify: Option<String>,
    pub orcpt: Option<String>,
    /// Attempts made so far.
    pub attempts: u32,
}

/// What became of one recipient in a delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientResult {
    /// Accepted by the next server (the detail names it and quotes its reply).
    Delivered { detail: String },
    /// Try again at `at` (Unix seconds).
    Retry { at: i64, error: String },
    /// Given up; the sender was told (or is not to be told).
    Failed { error: String },
}

/// One attempt at a queued message, recorded in one transaction with its
/// mail-log events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub queue_id: i64,
    /// The message's Message-ID, for the mail log.
    pub message_id: Option<String>,
    pub results: Vec<(String, RecipientResult)>,
    /// The "delayed" notice was sent with this attempt.
    pub delay_notice_sent: bool,
}

/// Where one target's copy landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub mailbox: MailboxId,
    pub uid: u32,
    pub modseq: u64,
}

/// What the change notifier publishes for a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxChange {
    Appended {
        uid: u32,
        modseq: u64,
    },
    FlagsChanged {
        uids: Vec<u32>,
        modseq: u64,
    },
    Expunged {
        uids: Vec<u32>,
        modseq: u64,
    },
    /// Changes may have been missed (another node's notifications while the
    /// connection that carries them was down): read the mailbox's state
    /// again, as after a lag.
    Resync,
}

/// The operator's mail log: one event in a message's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailEvent {
    /// Unix milliseconds.
    pub ts: i64,
    pub kind: EventKind,
    pub message_id: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    /// Reason or outcome in plain words.
    pub detail: String,
    pub session: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Received,
    Rejected,
    Delivered,
    Queued,
    Bounced,
    /// A delivery attempt failed temporarily; it will be retried.
    Deferred,
    /// An account was locked after repeated failed sign-ins.
    Locked,
    /// An address was banned after failed sign-ins across accounts.
    Banned,
    /// A sign-in to an existing account was refused (wrong password or
    /// code, an app password needed, a protocol turned off): how and from
    /// where, for the doctor's "an old phone with the old password".
    SignInFailed,
    /// Held in the quarantine (spam over the threshold, a suspicious
    /// attachment, a virus kept for the administrator).
    Quarantined,
    /// A TLS certificate obtained from ACME, or an attempt that failed
    /// (with the CA's reason).
    Certificate,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Received => "received",
            EventKind::Rejected => "rejected",
            EventKind::Delivered => "delivered",
            EventKind::Queued => "queued",
            EventKind::Bounced => "bounced",
            EventKind::Deferred => "deferred",
            EventKind::Locked => "locked",
            EventKind::Banned => "banned",
            EventKind::SignInFailed => "sign-in-failed",
            EventKind::Quarantined => "quarantined",
            EventKind::Certificate => "certificate",
        }
    }
    pub fn parse(s: &str) -> Option<EventKind> {
        [
            EventKind::Received,
            EventKind::Rejected,
            EventKind::Delivered,
            EventKind::Queued,
            EventKind::Bounced,
            EventKind::Deferred,
            EventKind::Locked,
            EventKind::Banned,
            EventKind::SignInFailed,
            EventKind::Quarantined,
            EventKind::Certificate,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Which events to read back from the mail log.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub message_id: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    /// Only events in this session (one SMTP connection).
    pub session: Option<String>,
    /// Only events at or after this time (Unix milliseconds).
    pub since: Option<i64>,
    /// Only events of this kind.
    pub kind: Option<EventKind>,
    /// The newest `limit` events (still returned oldest first).
    pub newest: bool,
    pub limit: usize,
}

/// The result of a consistency check of a store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub messages: u64,
    pub blobs: u64,
    pub problems: Vec<String>,
}

/// What `store compact` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    /// Bodies that were kept as they came and are now compressed.
    pub bodies: u64,
    /// Their stored bytes before and after.
    pub stored_before: u64,
    pub stored_after: u64,
    /// The database file (with its WAL) before and after; it shrinks only
    /// when the compaction ends with a vacuum.
    pub file_before: u64,
    pub file_after: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn merge_flags_modes() {
        let old = Flags::SEEN.union(Flags::FLAGGED);
        let old_kw = kw(&["$Forwarded", "Work"]);
        let (f, k) = merge_flags(old, &old_kw, Flags::DRAFT, &kw(&["work", "Urgent"]), FlagMode::Add);
        assert_eq!(f, Flags(Flags::SEEN.0 | Flags::FLAGGED.0 | Flags::DRAFT.0));
        assert_eq!(k, kw(&["$Forwarded", "Work", "Urgent"]));
        let (f, k) = merge_flags(old, &old_kw, Flags::SEEN, &kw(&["WORK"]), FlagMode::Remove);
        assert_eq!(f, Flags::FLAGGED);
        assert_eq!(k, kw(&["$Forwarded"]));
        let (f, k) = merge_flags(old, &old_kw, Flags::ANSWERED, &kw(&["a", "A"]), FlagMode::Replace);
        assert_eq!(f, Flags::ANSWERED);
        assert_eq!(k, kw(&["a"]));
    }
}
