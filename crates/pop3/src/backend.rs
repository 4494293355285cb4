//! What a POP3 session needs from the rest of the server.

use std::net::IpAddr;

use async_trait::async_trait;
use caravel_auth::{SignIn, SignedIn};
use caravel_store::{MailboxId, MessageMeta};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempFailure(pub String);

/// The maildrop as the session saw it at sign-in (RFC 1939 §5: message
/// numbers and sizes do not change during the session).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub mailbox: MailboxId,
    pub uidvalidity: u32,
    pub messages: Vec<MessageMeta>,
}

#[async_trait]
pub trait Maildrops: Send + Sync + 'static {
    /// Signs in from `peer` (lockout and the address ban apply).
    async fn authenticate(&self, username: &str, password: &str, peer: IpAddr) -> Result<SignIn, TempFailure>;
    /// The account's INBOX.
    async fn open(&self, user: &SignedIn) -> Result<Snapshot, TempFailure>;
    async fn read(&self, meta: &MessageMeta) -> Result<Vec<u8>, TempFailure>;
    /// Removes the messages deleted in the session (at QUIT only).
    async fn expunge(&self, mailbox: MailboxId, uids: &[u32]) -> Result<(), TempFailure>;
}
