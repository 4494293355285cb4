//! NOTIFY (RFC 5465): the client names mailboxes and events once; the
//! server then tells it of them as they happen, between commands as well as
//! in IDLE. Other mailboxes' message events come as STATUS, mailbox
//! creation, deletion and renaming as LIST (MailboxName), subscription
//! changes as LIST (SubscriptionChange). The selected mailbox's events are
//! the usual EXISTS, EXPUNGE and FETCH, sent without waiting for a command.
//!
//! Each watched mailbox's change channel, and the account's mailbox-list
//! channel, forward a wake-up into one queue; on wake-up the session reads
//! the mailbox list and compares it with what it last told the client.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use caravel_store::{AccountId, Mailbox, MailboxId, Store, StoreError};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// Event groups, and mailbox names in them, one NOTIFY SET may have.
pub const MAX_GROUPS: usize = 32;
pub const MAX_NAMES: usize = 1000;

/// Which mailboxes an event group covers (RFC 5465 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Selected,
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Events {
    pub message_new: bool,
    pub message_expunge: bool,
    pub flag_change: bool,
    pub mailbox_name: bool,
    pub subscription_change: bool,
}

impl Events {
    fn messages(&self) -> bool {
        self.message_new || self.message_expunge || self.flag_change
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub filter: Filter,
    pub events: Events,
}

/// `NOTIFY SET [STATUS] groups` (mailbox names already decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub status: bool,
    pub groups: Vec<Group>,
    /// SELECTED-DELAYED: expunges wait for a command that may report them.
    pub delayed: bool,
}

impl Spec {
    /// NOTIFY SET checked against RFC 5465 §5 and made a watch; `Err` is the
    /// tagged reply (BAD for a malformed set, NO [BADEVENT] for an event this
    /// server does not report).
    pub fn from_request(req: crate::command::NotifyRequest, utf8: bool) -> Result<Spec, (&'static str, String)> {
        const SUPPORTED: &str = "[BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)]";
        if req.groups.len() > MAX_GROUPS || req.groups.iter().map(|g| g.mailboxes.len()).sum::<usize>() > MAX_NAMES {
            return Err(("NO", "[LIMIT] Too many event groups or mailbox names".into()));
        }
        let delayed = req.groups.iter().any(|g| g.filter == "SELECTED-DELAYED");
        let mut groups = Vec::new();
        for g in req.groups {
            let mut events = Events::default();
            for e in &g.events {
                match e.as_str() {
                    "MESSAGENEW" => events.message_new = true,
                    "MESSAGEEXPUNGE" => events.message_expunge = true,
                    "FLAGCHANGE" => events.flag_change = true,
                    "MAILBOXNAME" => events.mailbox_name = true,
                    "SUBSCRIPTIONCHANGE" => events.subscription_change = true,
                    _ => return Err(("NO", format!("{SUPPORTED} {e} is not reported"))),
                }
            }
            if g.fetch_attributes {
                return Err(("NO", format!("{SUPPORTED} MessageNew takes no fetch attributes here")));
            }
            // RFC 5465 §5: MessageNew and MessageExpunge go together, and
            // FlagChange needs both.
            if events.message_new != events.message_expunge || (events.flag_change && !events.message_new) {
                return Err(("BAD", "MessageNew and MessageExpunge go together; FlagChange needs both".into()));
            }
            let names = |list: Vec<String>| -> Result<Vec<String>, (&'static str, String)> {
                list.iter().map(|n| crate::session::mailbox_name(n, utf8).map_err(|e| ("BAD", e.to_string()))).collect()
            };
            let filter = match g.filter.as_str() {
                "SELECTED" | "SELECTED-DELAYED" => Filter::Selected,
                "INBOXES" => Filter::Inboxes,
                "PERSONAL" => Filter::Personal,
                "SUBSCRIBED" => Filter::Subscribed,
                "SUBTREE" => Filter::Subtree(names(g.mailboxes)?),
                _ => Filter::Mailboxes(names(g.mailboxes)?),
            };
            groups.push(Group { filter, events });
        }
        Ok(Spec { status: req.status, groups, delayed })
    }

    /// The message events of the selected mailbox (SELECTED or
    /// SELECTED-DELAYED), when it asked for any.
    pub fn selected(&self) -> Option<Events> {
        self.groups.iter().find(|g| g.filter == Filter::Selected).map(|g| g.events).filter(Events::messages)
    }

    /// The events of the first group whose filter covers `name` (RFC 5465
    /// §6: the first match applies).
    fn events_for(&self, name: &str, subscribed: &BTreeSet<String>) -> Option<Events> {
        self.groups
            .iter()
            .find(|g| match &g.filter {
                Filter::Selected => false,
                Filter::Inboxes => name == "INBOX",
                Filter::Personal => true,
                Filter::Subscribed => subscribed.contains(name),
                Filter::Subtree(roots) => roots.iter().any(|r| name == r || name.starts_with(&format!("{r}/"))),
                Filter::Mailboxes(names) => names.iter().any(|n| n == name),
            })
            .map(|g| g.events)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    name: String,
    messages: u32,
    uidnext: u32,
    uidvalidity: u32,
    highestmodseq: u64,
}

impl Snapshot {
    fn of(m: &Mailbox) -> Snapshot {
        Snapshot {
            name: m.name.clone(),
            messages: m.messages,
            uidnext: m.uidnext,
            uidvalidity: m.uidvalidity,
            highestmodseq: m.highestmodseq,
        }
    }

    fn status(&self, flag_change: bool) -> String {
        let modseq = if flag_change { format!(" HIGHESTMODSEQ {}", self.highestmodseq) } else { String::new() };
        format!("MESSAGES {} UIDNEXT {} UIDVALIDITY {}{modseq}", self.messages, self.uidnext, self.uidvalidity)
    }
}

/// A session's active NOTIFY.
pub struct Notify {
    pub spec: Spec,
    account: AccountId,
    known: HashMap<MailboxId, Snapshot>,
    subscribed: BTreeSet<String>,
    /// Wake-ups coalesce: one pending wake-up however many changes.
    wake: Arc<tokio::sync::Notify>,
    watching: HashMap<MailboxId, JoinHandle<()>>,
    account_watch: JoinHandle<()>,
}

impl Drop for Notify {
    fn drop(&mut self) {
        self.account_watch.abort();
        for task in self.watching.values() {
            task.abort();
        }
    }
}

/// Forwards every change on `rx` as a wake-up, until the channel closes or
/// the task is aborted (when NOTIFY ends).
fn forward<T: Clone + Send + 'static>(
    mut rx: broadcast::Receiver<T>,
    wake: Arc<tokio::sync::Notify>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => wake.notify_one(),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

/// Writes a LIST line for a NOTIFY event.
fn list_line(out: &mut Vec<u8>, attrs: &str, name: &[u8], extra: &[u8]) {
    out.extend(format!("* LIST ({attrs}) \"/\" ").into_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(extra);
    out.extend_from_slice(b"\r\n");
}

impl Notify {
    /// Starts watching; with STATUS, the initial STATUS of every mailbox a
    /// group with message events covers (RFC 5465 §3.1).
    pub async fn start(
        store: &dyn Store,
        account: AccountId,
        spec: Spec,
        selected: Option<MailboxId>,
        encode: &(dyn Fn(&str) -> Vec<u8> + Sync),
    ) -> Result<(Notify, Vec<u8>), StoreError> {
        let wake = Arc::new(tokio::sync::Notify::new());
        let account_watch = forward(store.watch_account(account), wake.clone());
        let mut notify = Notify {
            spec,
            account,
            known: HashMap::new(),
            subscribed: BTreeSet::new(),
            wake,
            watching: HashMap::new(),
            account_watch,
        };
        let boxes = store.mailboxes(account).await?;
        notify.subscribed = store.subscriptions(account).await?.into_iter().collect();
        let mut out = Vec::new();
        for m in &boxes {
            let snapshot = Snapshot::of(m);
            if let Some(events) = notify.spec.events_for(&m.name, &notify.subscribed) {
                if events.messages() {
                    notify.watching.insert(m.id, forward(store.watch(m.id), notify.wake.clone()));
                    if notify.spec.status && Some(m.id) != selected {
                        out.extend_from_slice(b"* STATUS ");
                        out.extend(encode(&m.name));
                        out.extend(format!(" ({})\r\n", snapshot.status(events.flag_change)).into_bytes());
                    }
                }
            }
            notify.known.insert(m.id, snapshot);
        }
        Ok((notify, out))
    }

    /// Waits for the next change to anything watched.
    pub async fn changed(&mut self) {
        self.wake.notified().await;
    }

    /// What changed since the last report, as RFC 5465 §5 says to tell it.
    pub async fn report(
        &mut self,
        store: &dyn Store,
        selected: Option<MailboxId>,
        encode: &(dyn Fn(&str) -> Vec<u8> + Sync),
    ) -> Vec<u8> {
        let (Ok(boxes), Ok(subs)) = (store.mailboxes(self.account).await, store.subscriptions(self.account).await)
        else {
            return Vec::new();
        };
        let subscribed: BTreeSet<String> = subs.into_iter().collect();
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for m in &boxes {
            seen.insert(m.id);
            let now = Snapshot::of(m);
            let events = self.spec.events_for(&m.name, &subscribed).unwrap_or_default();
            match self.known.get(&m.id) {
                None if events.mailbox_name => list_line(&mut out, "", &encode(&m.name), b""),
                Some(before) if before.name != m.name && events.mailbox_name => {
                    let mut old = b" (\"OLDNAME\" (".to_vec();
                    old.extend(encode(&before.name));
                    old.extend_from_slice(b"))");
                    list_line(&mut out, "", &encode(&m.name), &old);
                }
                Some(before) if events.messages() && Some(m.id) != selected => {
                    let counts = before.messages != now.messages
                        || before.uidnext != now.uidnext
                        || before.uidvalidity != now.uidvalidity;
                    let flags = events.flag_change && before.highestmodseq != now.highestmodseq;
                    if (counts && (events.message_new || events.message_expunge)) || flags {
                        out.extend_from_slice(b"* STATUS ");
                        out.extend(encode(&m.name));
                        out.extend(format!(" ({})\r\n", now.status(events.flag_change)).into_bytes());
                    }
                }
                _ => {}
            }
            if events.messages() && !self.watching.contains_key(&m.id) {
                self.watching.insert(m.id, forward(store.watch(m.id), self.wake.clone()));
            }
            self.known.insert(m.id, now);
        }
        let gone: Vec<MailboxId> = self.known.keys().copied().filter(|id| !seen.contains(id)).collect();
        for id in gone {
            if let Some(before) = self.known.remove(&id) {
                if self.spec.events_for(&before.name, &self.subscribed).is_some_and(|e| e.mailbox_name) {
                    list_line(&mut out, "\\NonExistent", &encode(&before.name), b"");
                }
            }
            if let Some(task) = self.watching.remove(&id) {
                task.abort();
            }
        }
        for name in subscribed.symmetric_difference(&self.subscribed) {
            let events =
                self.spec.events_for(name, &subscribed).or_else(|| self.spec.events_for(name, &self.subscribed));
            if events.is_some_and(|e| e.subscription_change) {
                let attrs = if subscribed.contains(name) { "\\Subscribed" } else { "" };
                list_line(&mut out, attrs, &encode(name), b"");
            }
        }
        self.subscribed = subscribed;
        out
    }
}
