//! Change notifications across nodes: each change is published to this
//! process's watchers at once (mod.rs) and sent to the others with
//! `NOTIFY caravel, '<node> …'`; every node LISTENs on one connection and
//! republishes what other nodes sent to its own watchers (IMAP IDLE on node
//! B sees mail delivered on node A).
//!
//! Payloads (PostgreSQL allows under 8,000 bytes; longer UID lists are
//! split):
//!
//! ```text
//! <node> m <mailbox> a|f|e <modseq> <uid>,<uid>,…   a mailbox change
//! <node> a <account>                              its mailbox list changed
//! <node> q                                        the queue has work
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{stream, StreamExt};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::{AccountId, MailboxChange, MailboxId, Notifier};

const CHANNEL: &str = "caravel";

/// UIDs per notification: keeps a payload far under PostgreSQL's 8,000 bytes.
const UIDS_PER_PAYLOAD: usize = 500;

/// Notifications waiting to be sent; more are dropped (watchers then see
/// the change at their next command or poll, as after a lag).
const QUEUE: usize = 10_000;

/// Sends NOTIFYs from a background task, so that a commit does not wait for
/// them; what is waiting goes in one statement. While PostgreSQL cannot be
/// reached the payloads wait (up to [`QUEUE`]); if some had to be dropped,
/// the other nodes are told to read everything again (`r`) once it is back.
#[derive(Clone)]
pub(crate) struct Sender {
    tx: mpsc::Sender<String>,
    dropped: Arc<AtomicBool>,
}

/// Payloads sent in one statement at most.
const BATCH: usize = 256;

impl Sender {
    pub(crate) fn start(pool: deadpool_postgres::Pool, node: String) -> (Sender, tokio::task::AbortHandle) {
        let (tx, mut rx) = mpsc::channel::<String>(QUEUE);
        let dropped = Arc::new(AtomicBool::new(false));
        let lost = dropped.clone();
        let task = tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if lost.swap(false, Ordering::Relaxed) {
                    batch.insert(0, format!("{node} r"));
                }
                // Until it is sent: a change must reach the other nodes.
                while let Err(e) = send_batch(&pool, &batch).await {
                    tracing::debug!("NOTIFY to other nodes failed, trying again: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                batch.clear();
            }
        });
        (Sender { tx, dropped }, task.abort_handle())
    }

    pub(crate) fn mailbox(&self, node: &str, mailbox: MailboxId, change: &MailboxChange) {
        let (kind, uids, modseq) = match change {
            MailboxChange::Appended { uid, modseq } => ("a", std::slice::from_ref(uid), modseq),
            MailboxChange::FlagsChanged { uids, modseq } => ("f", uids.as_slice(), modseq),
            MailboxChange::Expunged { uids, modseq } => ("e", uids.as_slice(), modseq),
            MailboxChange::Resync => ("r", &[][..], &0),
        };
        for chunk in uids.chunks(UIDS_PER_PAYLOAD).chain(uids.is_empty().then_some(&[][..])) {
            let list: Vec<String> = chunk.iter().map(u32::to_string).collect();
            self.send(format!("{node} m {mailbox} {kind} {modseq} {}", list.join(",")));
        }
    }

    pub(crate) fn account(&self, node: &str, account: AccountId) {
        self.send(format!("{node} a {account}"));
    }

    pub(crate) fn queue(&self, node: &str) {
        self.send(format!("{node} q"));
    }

    fn send(&self, payload: String) {
        if self.tx.try_send(payload).is_err() {
            self.dropped.store(true, Ordering::Relaxed);
        }
    }
}

async fn send_batch(pool: &deadpool_postgres::Pool, batch: &[String]) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    client
        .execute("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", &[&CHANNEL, &batch])
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// What another node's payload asks this node to tell its watchers.
#[derive(Debug, PartialEq)]
enum Received {
    Mailbox(MailboxId, MailboxChange),
    Account(AccountId),
    Queue,
    /// The sender dropped notifications: every watcher reads again.
    Everything,
}

/// Parses a payload; None for this node's own (already published) or a
/// malformed one.
fn parse(payload: &str, own: &str) -> Option<Received> {
    let mut words = payload.split(' ');
    let node = words.next()?;
    if node == own {
        return None;
    }
    match words.next()? {
        "q" => Some(Received::Queue),
        "r" => Some(Received::Everything),
        "a" => Some(Received::Account(words.next()?.parse().ok()?)),
        "m" => {
            let mailbox = words.next()?.parse().ok()?;
            let kind = words.next()?;
            let modseq = words.next()?.parse().ok()?;
            let uids: Vec<u32> = match words.next() {
                Some("") | None => Vec::new(),
                Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>().ok()?,
            };
            let change = match kind {
                "a" => MailboxChange::Appended { uid: *uids.first()?, modseq },
                "f" => MailboxChange::FlagsChanged { uids, modseq },
                "e" => MailboxChange::Expunged { uids, modseq },
                "r" => MailboxChange::Resync,
                _ => return None,
            };
            Some(Received::Mailbox(mailbox, change))
        }
        _ => None,
    }
}

/// LISTENs on a connection of its own for as long as the store is open,
/// connecting again (every second) while PostgreSQL is unreachable. Each
/// (re)connection tells every watcher to read its state again and wakes the
/// queue worker: what other nodes sent meanwhile was missed.
pub(crate) fn listen(
    config: tokio_postgres::Config,
    node: String,
    notifier: Arc<Notifier>,
    queue_signal: Arc<tokio::sync::Notify>,
) -> tokio::task::AbortHandle {
    let task = tokio::spawn(async move {
        loop {
            match config.connect(NoTls).await {
                Ok((client, mut connection)) => {
                    let (tx, mut rx) = mpsc::unbounded_channel();
                    let driver = tokio::spawn(async move {
                        let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
                        while let Some(Ok(message)) = messages.next().await {
                            if let AsyncMessage::Notification(n) = message {
                                let _ = tx.send(n.payload().to_string());
                            }
                        }
                    });
                    if client.batch_execute(&format!("LISTEN {CHANNEL}")).await.is_ok() {
                        notifier.resync_all();
                        queue_signal.notify_one();
                        while let Some(payload) = rx.recv().await {
                            match parse(&payload, &node) {
                                Some(Received::Mailbox(mailbox, change)) => notifier.publish(mailbox, change),
                                Some(Received::Account(account)) => notifier.publish_account(account),
                                Some(Received::Queue) => queue_signal.notify_one(),
                                Some(Received::Everything) => notifier.resync_all(),
                                None => {}
                            }
                        }
                    }
                    driver.abort();
                    tracing::warn!("lost the PostgreSQL notification connection; connecting again");
                }
                Err(e) => tracing::debug!("cannot connect for notifications: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    task.abort_handle()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_skip_our_own() {
        let (tx, mut rx) = mpsc::channel(10);
        let sender = Sender { tx, dropped: Arc::default() };
        sender.mailbox("n1", 7, &MailboxChange::FlagsChanged { uids: vec![1, 5], modseq: 9 });
        sender.mailbox("n1", 7, &MailboxChange::Appended { uid: 3, modseq: 4 });
        sender.account("n1", 2);
        sender.queue("n1");
        let got: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(got, ["n1 m 7 f 9 1,5", "n1 m 7 a 4 3", "n1 a 2", "n1 q"]);
        assert_eq!(
            parse(&got[0], "n2"),
            Some(Received::Mailbox(7, MailboxChange::FlagsChanged { uids: vec![1, 5], modseq: 9 }))
        );
        assert_eq!(parse(&got[1], "n2"), Some(Received::Mailbox(7, MailboxChange::Appended { uid: 3, modseq: 4 })));
        assert_eq!(parse(&got[2], "n2"), Some(Received::Account(2)));
        assert_eq!(parse(&got[3], "n2"), Some(Received::Queue));
        assert_eq!(parse(&got[0], "n1"), None, "our own changes were published already");
        assert_eq!(parse("n2 m x", "n1"), None);
        sender.mailbox("n1", 7, &MailboxChange::Resync);
        let resync = rx.try_recv().expect("a resync payload");
        assert_eq!(parse(&resync, "n2"), Some(Received::Mailbox(7, MailboxChange::Resync)));
        assert_eq!(parse("n1 r", "n2"), Some(Received::Everything));
    }

    #[test]
    fn a_full_queue_marks_the_loss() {
        let (tx, _rx) = mpsc::channel(1);
        let sender = Sender { tx, dropped: Arc::default() };
        sender.queue("n1");
        assert!(!sender.dropped.load(Ordering::Relaxed));
        sender.queue("n1");
        assert!(sender.dropped.load(Ordering::Relaxed), "the next batch tells the others to read again");
    }

    #[test]
    fn long_uid_lists_are_split() {
        let (tx, mut rx) = mpsc::channel(10);
        let sender = Sender { tx, dropped: Arc::default() };
        let uids: Vec<u32> = (1..=1200).collect();
        sender.mailbox("n1", 1, &MailboxChange::Expunged { uids, modseq: 2 });
        let got: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|p| p.len() < 8000));
    }
}
