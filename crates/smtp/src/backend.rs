//! What a session needs from the rest of the server, as one narrow trait: the
//! store-backed implementation lives in `store_backend.rs`; unit tests use a
//! fake.

use std::net::IpAddr;

use async_trait::async_trait;
use caravel_auth::{SignIn, SignedIn};
use caravel_store::{AccountId, Dsn, MailEvent, RemoteRecipient};

/// A failure the client should retry (4xx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempFailure(pub String);

impl TempFailure {
    /// Words the store uses for a full disk (`StoreError::Full`).
    pub const FULL: &'static str = "mail storage full";
    /// Starts the text of a permanent refusal (every recipient's rules
    /// refused the message): 550 rather than 451.
    pub const REFUSED: &'static str = "refused: ";

    /// The recipients' rules refuse the message, with this text.
    pub fn refused(&self) -> Option<&str> {
        self.0.strip_prefix(Self::REFUSED)
    }

    /// The disk is full (452 4.3.1 rather than 451 4.3.0).
    pub fn is_full(&self) -> bool {
        self.0.starts_with(Self::FULL)
    }
}

/// A local account a recipient address leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRecipient {
    pub account: AccountId,
    /// The account's address (for Delivered-To).
    pub address: String,
    /// The account cannot take a message of the announced size.
    pub over_quota: bool,
    /// DSN NOTIFY and ORCPT given at RCPT (RFC 3461).
    pub notify: Option<String>,
    pub orcpt: Option<String>,
    /// Where the filter files this recipient's copy.
    pub folder: Folder,
    /// Header fields for this recipient's copy only (`X-Spam-Status`).
    pub headers: String,
    /// Why the filter put it where it did (for the quarantine).
    pub reason: String,
    /// The RCPT address that led here (the account's own, or an alias).
    pub via: String,
    /// Other RCPT addresses that led to this account (it is one copy).
    pub also_via: Vec<String>,
}

/// A copy for an outside address, held in the quarantine with the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldRemote {
    pub address: String,
    /// The aliases here that forward to it: their domains' administrators
    /// answer for the copy.
    pub via: Vec<String>,
    /// The filter's verdict on the copy, X-Spam fields and reasons: that of
    /// the first of its aliases whose copy the filter held (empty when
    /// only the virus scanner held it), and that alias.
    pub headers: String,
    pub reason: String,
    pub verdict_by: String,
}

/// The folder a recipient's copy goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Folder {
    #[default]
    Inbox,
    Junk,
    /// Held in the quarantine, in nobody's mailbox.
    Quarantine,
}

/// Where mail for an address goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Local accounts and/or remote addresses (an alias may have both).
    Deliver { local: Vec<LocalRecipient>, remote: Vec<String> },
    /// The domain is ours but no such user or alias.
    UnknownUser,
    /// Not one of our domains.
    NotLocal,
}

/// A message accepted at the end of DATA, ready to be stored and queued.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// This message's id (in the Received header and the reply).
    pub id: String,
    /// The Message-ID header, for the mail log.
    pub message_id: Option<String>,
    pub sender: String,
    /// The message with the Received header already in front.
    pub message: Vec<u8>,
    pub local: Vec<LocalRecipient>,
    pub remote: Vec<RemoteRecipient>,
    pub dsn: Dsn,
    pub session: String,
    /// Remote recipients held in the quarantine with the local ones: the
    /// virus scanner held the whole message, or the filter held or refused
    /// the copies an alias forwards outside.
    pub held_remote: Vec<HeldRemote>,
    /// Why the virus scanner held the whole message, if it did (else any
    /// held copies are held as spam).
    pub held_by_scanner: Option<String>,
    /// The subject, when anything is held.
    pub held_subject: String,
    /// The From: domain a signed-in sender may send as (DKIM signs for it).
    pub sign_as: Option<String>,
    /// The envelope sender is shown to be the sender's: signed in here, SPF
    /// passed for it, or its domain signed a message it wrote (DKIM).
    /// Reports after the 250 that nobody asked for (a mail rule's refusal)
    /// go only to such senders: to a forged one they would be backscatter.
    pub sender_verified: bool,
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Resolves a recipient; `size` is the SIZE the client announced (or 0).
    async fn lookup(&self, address: &str, size: u64) -> Result<Lookup, TempFailure>;
    /// Signs in from `peer` (lockout and the address ban apply).
    async fn authenticate(&self, username: &str, password: &str, peer: IpAddr) -> Result<SignIn, TempFailure>;
    /// Whether a signed-in user may use `from` as sender: their own address
    /// or an alias that delivers to them.
    async fn may_send_as(&self, user: &SignedIn, from: &str) -> Result<bool, TempFailure>;
    /// A message `user` submits to `recipients` with what their settings
    /// add (signature, company footer); unchanged by default.
    async fn personalize(&self, _user: &SignedIn, message: Vec<u8>, _recipients: &[String]) -> Vec<u8> {
        message
    }
    /// Stores and queues. `Err` answers 451.
    async fn deliver(&self, message: Accepted) -> Result<(), TempFailure>;
    /// Writes an event to the operator's mail log.
    async fn log(&self, event: MailEvent);
}
