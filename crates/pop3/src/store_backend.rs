//! [`Maildrops`] over the store and the authenticator.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use caravel_auth::{Authenticator, SignIn, SignedIn};
use caravel_store::{MailboxId, MessageMeta, SpecialUse, Store};

use crate::backend::{Maildrops, Snapshot, TempFailure};

pub struct StoreMaildrops {
    store: Arc<dyn Store>,
    auth: Arc<Authenticator>,
}

impl StoreMaildrops {
    pub fn new(store: Arc<dyn Store>, auth: Arc<Authenticator>) -> StoreMaildrops {
        StoreMaildrops { store, auth }
    }
}

/// Storage trouble in general words; the details go to the log, not to the
/// client.
fn temp(e: caravel_store::StoreError) -> TempFailure {
    tracing::error!(error = %e, "POP3 storage failure");
    TempFailure(match e {
        caravel_store::StoreError::Full(_) => "Mail storage is full, try again later".into(),
        _ => "Storage failure, try again later".into(),
    })
}

#[async_trait]
impl Maildrops for StoreMaildrops {
    async fn authenticate(&self, username: &str, password: &str, peer: IpAddr) -> Result<SignIn, TempFailure> {
        self.auth.verify(username, password, peer, caravel_store::Protocol::Pop3).await.map_err(temp)
    }

    async fn open(&self, user: &SignedIn) -> Result<Snapshot, TempFailure> {
        let inbox = self
            .store
            .mailboxes(user.account)
            .await
            .map_err(temp)?
            .into_iter()
            .find(|m| m.special_use == Some(SpecialUse::Inbox))
            .ok_or_else(|| TempFailure("the account has no INBOX".into()))?;
        let messages = self.store.messages(inbox.id).await.map_err(temp)?;
        Ok(Snapshot { mailbox: inbox.id, uidvalidity: inbox.uidvalidity, messages })
    }

    async fn read(&self, meta: &MessageMeta) -> Result<Vec<u8>, TempFailure> {
        self.store.read_message(meta).await.map_err(temp)
    }

    async fn expunge(&self, mailbox: MailboxId, uids: &[u32]) -> Result<(), TempFailure> {
        self.store.expunge(mailbox, uids).await.map_err(temp).map(|_| ())
    }
}
