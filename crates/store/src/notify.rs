//! In-process change notification: a delivery, flag change or expunge on a
//! mailbox is published to every session watching it (IMAP IDLE, POP3).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::model::{AccountId, MailboxChange, MailboxId};

/// Events a slow watcher may fall behind by before it is told it lagged
/// (it then re-reads the mailbox state).
const CHANNEL_CAPACITY: usize = 256;

#[derive(Default)]
pub struct Notifier {
    channels: Mutex<HashMap<MailboxId, broadcast::Sender<MailboxChange>>>,
    /// Per account: its mailboxes were created, deleted, renamed or
    /// (un)subscribed (IMAP NOTIFY MailboxName and SubscriptionChange).
    accounts: Mutex<HashMap<AccountId, broadcast::Sender<()>>>,
}

impl Notifier {
    pub fn subscribe_account(&self, account: AccountId) -> broadcast::Receiver<()> {
        let mut map = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(account).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0).subscribe()
    }

    pub fn publish_account(&self, account: AccountId) {
        let mut map = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = map.get(&account) {
            if tx.send(()).is_err() {
                map.remove(&account);
            }
        }
    }

    pub fn subscribe(&self, mailbox: MailboxId) -> broadcast::Receiver<MailboxChange> {
        let mut map = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(mailbox).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0).subscribe()
    }

    /// Tells every watcher of every mailbox and account to read its state
    /// again: changes may have been missed.
    pub fn resync_all(&self) {
        let mut map = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, tx| tx.send(MailboxChange::Resync).is_ok());
        drop(map);
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts.retain(|_, tx| tx.send(()).is_ok());
    }

    pub fn publish(&self, mailbox: MailboxId, change: MailboxChange) {
        let mut map = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = map.get(&mailbox) {
            if tx.send(change).is_err() {
                // Nobody listens any more: forget the channel.
                map.remove(&mailbox);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resync_reaches_every_watcher() {
        let n = Notifier::default();
        let (mut m1, mut m2, mut acct) = (n.subscribe(1), n.subscribe(2), n.subscribe_account(7));
        n.resync_all();
        assert_eq!(m1.try_recv().ok(), Some(MailboxChange::Resync));
        assert_eq!(m2.try_recv().ok(), Some(MailboxChange::Resync));
        assert!(acct.try_recv().is_ok(), "account watchers read their mailbox list again");
    }
}
