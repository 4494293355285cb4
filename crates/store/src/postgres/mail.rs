//! Mailboxes and messages in PostgreSQL (the `MailStore` trait), written by
//! several nodes at once.
//!
//! How the races between nodes are settled:
//! - A delivery locks the mailbox rows it writes to (by ascending id), then
//!   the accounts (by ascending id), then takes its blob row by upsert: the
//!   lock order of mailboxes.rs, so two transactions never wait on each
//!   other in a cycle. UIDs and MODSEQs are raised under the mailbox lock
//!   (`UPDATE … RETURNING`), so they are never given twice and a reader
//!   never sees a UID below `uidnext` appear later; quotas are checked and
//!   `accounts.used` is raised under the account lock.
//! - A delivery is acknowledged only after its transaction committed; the
//!   change is published (this node's watchers, other nodes by NOTIFY) only
//!   then.
//! - Everything computed from a message (envelope, structure, search text,
//!   sort keys) is computed once, before the transaction
//!   (crate::indexing), so no lock is held while parsing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio::sync::broadcast;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, Row};

use super::mailboxes::{
    expunge_uids, insert_mailbox, load_mailbox, mailbox_from_row, next_modseq, release_blobs, MAILBOX_COLUMNS,
};
use super::PgStore;
use crate::blobs::BlobStore;
use crate::header_cache::{self, HeaderRow, MailboxHeaders};
use crate::indexing::{decode_stored, sort_order_by, Indexed};
use crate::mime::{self, BodyPart, Envelope};
use crate::model::merge_flags;
use crate::sort_keys::{SortCriterion, ThreadKeys};
use crate::sqlite::inline::{self, INLINE_MAX};
use crate::{
    now_millis, now_secs, stored_envelope, AccountId, Delivery, DeliveryOutcome, EventKind, FlagMode, Flags, MailEvent,
    MailStore, Mailbox, MailboxChange, MailboxId, MailboxTarget, MessageMeta, QueuedMessage, QueuedRecipient, Result,
    SpecialUse, StoreError, Stored, Target,
};

type Params<'a> = [&'a (dyn ToSql + Sync)];

/// Runs `sql` as a statement prepared once per connection: one round trip
/// per run instead of two (the database is across a network).
pub(crate) async fn query(c: &impl GenericClient, sql: &str, params: &Params<'_>) -> Result<Vec<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

pub(crate) async fn query_one(c: &impl GenericClient, sql: &str, params: &Params<'_>) -> Result<Row> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_one(&statement, params).await?)
}

pub(crate) async fn query_opt(c: &impl GenericClient, sql: &str, params: &Params<'_>) -> Result<Option<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&statement, params).await?)
}

pub(crate) async fn execute(c: &impl GenericClient, sql: &str, params: &Params<'_>) -> Result<u64> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

fn uid_list(uids: &[u32]) -> Vec<i64> {
    uids.iter().map(|&u| i64::from(u)).collect()
}

/// A message ready to store: its blob row and what is kept about it.
struct Prepared {
    raw: Arc<Vec<u8>>,
    hash: String,
    /// The body as its row keeps it (codec, bytes) when compressed; None:
    /// the bytes as they are (`inline::STORED`).
    packed: Option<(i64, Vec<u8>)>,
    index: Indexed,
}

impl Prepared {
    /// Off the async runtime: hashing, compressing and parsing are CPU work
    /// proportional to the message.
    async fn of(raw: Arc<Vec<u8>>) -> Result<Prepared> {
        tokio::task::spawn_blocking(move || {
            let hash = BlobStore::hash(&raw);
            // Every body lives in its row here; like SQLite's rows, only
            // those up to INLINE_MAX are compressed (`unpack` refuses to
            // inflate larger ones, and PostgreSQL compresses large values
            // itself when it moves them out of line).
            let packed = if raw.len() <= INLINE_MAX {
                match inline::pack(&raw) {
                    (inline::STORED, _) => None,
                    (codec, data) => Some((codec, data.into_owned())),
                }
            } else {
                None
            };
            let index = Indexed::of(&raw)?;
            Ok(Prepared { raw, hash, packed, index })
        })
        .await
        .map_err(|e| StoreError::Backend(format!("delivery task failed: {e}")))?
    }

    /// `(codec, data)` of the blob row.
    fn row(&self) -> (i64, &[u8]) {
        match &self.packed {
            Some((codec, data)) => (*codec, data),
            None => (inline::STORED, &self.raw),
        }
    }
}

/// A mailbox row a delivery holds locked.
struct LockedMailbox {
    id: MailboxId,
    account: AccountId,
    name: String,
    special_use: Option<String>,
}

/// An account row a delivery holds locked, with what it has used so far
/// (this delivery's earlier copies included).
struct LockedAccount {
    quota: Option<i64>,
    used: i64,
    address: String,
}

/// The rows a delivery may write to, locked in order (mailboxes.rs).
struct Locked {
    /// By ascending id.
    mailboxes: Vec<LockedMailbox>,
    accounts: HashMap<AccountId, LockedAccount>,
}

impl Locked {
    /// Locks every mailbox the targets may land in (with `inbox_fallback`,
    /// each account's INBOX too), then their accounts. Rows are locked in id
    /// order (`ORDER BY … FOR NO KEY UPDATE` locks as it returns them); NO
    /// KEY UPDATE leaves foreign-key checks of other transactions free.
    async fn take(c: &impl GenericClient, targets: &[&Target], inbox_fallback: bool) -> Result<Locked> {
        if targets.is_empty() {
            return Ok(Locked { mailboxes: Vec::new(), accounts: HashMap::new() });
        }
        // (account, name) pairs wanted by name, and by role (special use).
        let mut by_name: Vec<(i64, &str)> = Vec::new();
        let mut by_role: Vec<(i64, &str)> = Vec::new();
        for t in targets {
            match &t.mailbox {
                MailboxTarget::Name(n) => by_name.push((t.account, n)),
                MailboxTarget::Special(u) => by_role.push((t.account, u.default_name())),
            }
            if inbox_fallback {
                by_role.push((t.account, SpecialUse::Inbox.default_name()));
            }
        }
        let (name_accounts, names): (Vec<i64>, Vec<&str>) = by_name.into_iter().unzip();
        let (role_accounts, roles): (Vec<i64>, Vec<&str>) = by_role.into_iter().unzip();
        let rows = query(
            c,
            "SELECT id, account_id, name, special_use FROM mailboxes
             WHERE (account_id, name) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))
                OR (account_id, special_use) IN (SELECT * FROM unnest($3::bigint[], $4::text[]))
             ORDER BY id FOR NO KEY UPDATE",
            &[&name_accounts, &names, &role_accounts, &roles],
        )
        .await?;
        let mailboxes = rows
            .iter()
            .map(|r| LockedMailbox { id: r.get(0), account: r.get(1), name: r.get(2), special_use: r.get(3) })
            .collect();
        let mut ids: Vec<AccountId> = targets.iter().map(|t| t.account).collect();
        ids.sort_unstable();
        ids.dedup();
        let rows = query(
            c,
            "SELECT id, quota, used, address FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
            &[&ids],
        )
        .await?;
        let accounts = rows
            .iter()
            .map(|r| (r.get(0), LockedAccount { quota: r.get(1), used: r.get(2), address: r.get(3) }))
            .collect();
        Ok(Locked { mailboxes, accounts })
    }

    fn find(&self, account: AccountId, target: &MailboxTarget) -> Option<&LockedMailbox> {
        self.mailboxes.iter().find(|m| {
            m.account == account
                && match target {
                    MailboxTarget::Special(u) => m.special_use.as_deref() == Some(u.default_name()),
                    MailboxTarget::Name(n) => m.name == *n,
                }
        })
    }

    /// Where target `t` of message `msg` goes, or why it cannot: the
    /// account is gone, over its quota, or (without `inbox_fallback`) the
    /// mailbox is gone. Counts the copy against the account's quota.
    fn place(&mut self, msg: usize, raw_len: usize, t: &Target, inbox_fallback: bool) -> Result<Copy> {
        let size = (raw_len + t.prefix.len()) as i64;
        // MULTIAPPEND names its mailbox: a missing one fails first, with no
        // INBOX fallback (RFC 3502 §6).
        if !inbox_fallback && self.find(t.account, &t.mailbox).is_none() {
            return Err(StoreError::NotFound("the mailbox no longer exists".into()));
        }
        let Some(account) = self.accounts.get(&t.account) else {
            return Err(StoreError::NotFound(format!("account {} no longer exists", t.account)));
        };
        if let Some(q) = account.quota.filter(|_| t.check_quota) {
            if account.used + size > q {
                return Err(StoreError::OverQuota(format!(
                    "{} has used {} of {q} bytes",
                    account.address, account.used
                )));
            }
        }
        let address = account.address.clone();
        let mailbox = match self.find(t.account, &t.mailbox) {
            Some(m) => m,
            // A user may have deleted a special folder: fall back to INBOX.
            None => self
                .find(t.account, &MailboxTarget::Special(SpecialUse::Inbox))
                .ok_or_else(|| StoreError::NotFound(format!("{address} has no INBOX")))?,
        };
        let copy = Copy {
            msg,
            mailbox: mailbox.id,
            account: t.account,
            folder: mailbox.name.clone(),
            address,
            size,
            flags: t.flags,
            keywords: t.keywords.join(" "),
            prefix: t.prefix.clone(),
            // An APPEND into Junk teaches the filter; its own Junk
            // deliveries do not (it would learn its own verdicts).
            learn_spam: t.user_filed && mailbox.special_use.as_deref() == Some(SpecialUse::Junk.default_name()),
        };
        if let Some(account) = self.accounts.get_mut(&t.account) {
            account.used += size;
        }
        Ok(copy)
    }
}

/// One copy of a message to store, its target checked.
struct Copy {
    /// Index of its message in the batch.
    msg: usize,
    mailbox: MailboxId,
    account: AccountId,
    folder: String,
    address: String,
    size: i64,
    flags: Flags,
    keywords: String,
    prefix: Vec<u8>,
    learn_spam: bool,
}

/// A message of a batch with its delivery.
type Message<'a> = (&'a Delivery, &'a Prepared);

/// Adds references to blobs, creating their rows: one upsert, in hash order
/// (two transactions taking the same blobs never wait on each other in a
/// cycle), counts summed per hash (one statement may not touch a row twice).
async fn add_blob_refs(c: &impl GenericClient, refs: &[(&Prepared, i64)]) -> Result<()> {
    let mut by_hash: BTreeMap<&str, (&Prepared, i64)> = BTreeMap::new();
    for &(p, n) in refs.iter().filter(|(_, n)| *n > 0) {
        by_hash.entry(&p.hash).or_insert((p, 0)).1 += n;
    }
    if by_hash.is_empty() {
        return Ok(());
    }
    let (mut hashes, mut sizes, mut counts, mut codecs, mut data) = (vec![], vec![], vec![], vec![], vec![]);
    for (hash, (p, n)) in &by_hash {
        let (codec, bytes) = p.row();
        hashes.push(*hash);
        sizes.push(p.raw.len() as i64);
        counts.push(*n);
        codecs.push(codec);
        data.push(bytes);
    }
    execute(
        c,
        "INSERT INTO blobs (hash, size, refcount, codec, data)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bytea[])
         ON CONFLICT (hash) DO UPDATE SET refcount = blobs.refcount + EXCLUDED.refcount",
        &[&hashes, &sizes, &counts, &codecs, &data],
    )
    .await?;
    Ok(())
}

/// Gives each copy its UID and MODSEQ: one update of the (locked) mailbox
/// rows raises `uidnext` and `highestmodseq` by the number of copies each
/// gets, with the counters; the copies of one mailbox take the values in
/// order.
async fn allocate(c: &impl GenericClient, copies: &[Copy]) -> Result<Vec<(i64, i64)>> {
    let mut per: BTreeMap<MailboxId, [i64; 4]> = BTreeMap::new();
    for copy in copies {
        let (unseen, deleted) = copy.flags.counts();
        let e = per.entry(copy.mailbox).or_default();
        *e = [e[0] + 1, e[1] + copy.size, e[2] + unseen, e[3] + deleted];
    }
    let ids: Vec<i64> = per.keys().copied().collect();
    let column = |i: usize| per.values().map(|v| v[i]).collect::<Vec<i64>>();
    let rows = query(
        c,
        "UPDATE mailboxes m SET uidnext = m.uidnext + v.n, highestmodseq = m.highestmodseq + v.n,
                messages = m.messages + v.n, size = m.size + v.size, unseen = m.unseen + v.unseen,
                deleted = m.deleted + v.deleted
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
              AS v(id, n, size, unseen, deleted)
         WHERE m.id = v.id
         RETURNING m.id, m.uidnext - v.n, m.highestmodseq - v.n",
        &[&ids, &column(0), &column(1), &column(2), &column(3)],
    )
    .await?;
    // The next (UID, MODSEQ - 1) of each mailbox.
    let mut next: HashMap<MailboxId, (i64, i64)> = rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect();
    copies
        .iter()
        .map(|copy| {
            let n = next.get_mut(&copy.mailbox).ok_or_else(|| StoreError::NotFound("the mailbox is gone".into()))?;
            n.0 += 1;
            n.1 += 1;
            Ok((n.0 - 1, n.1))
        })
        .collect()
}

/// Stores the copies of a batch of messages inside the caller's
/// transaction, which holds their mailbox and account rows (`Locked`) and
/// their blobs' rows. A few set-based statements, whatever the number of
/// copies: messages, sort keys, quota, the mail log, spam learning.
async fn store_copies(c: &impl GenericClient, messages: &[Message<'_>], copies: &[Copy]) -> Result<Vec<Stored>> {
    if copies.is_empty() {
        return Ok(Vec::new());
    }
    let ids = allocate(c, copies).await?;
    insert_messages(c, messages, copies, &ids).await?;
    insert_sort_keys(c, messages, copies, &ids).await?;
    let mut used: BTreeMap<AccountId, i64> = BTreeMap::new();
    for copy in copies {
        *used.entry(copy.account).or_default() += copy.size;
    }
    execute(
        c,
        "UPDATE accounts a SET used = a.used + v.size FROM unnest($1::bigint[], $2::bigint[]) AS v(id, size)
         WHERE a.id = v.id",
        &[&used.keys().copied().collect::<Vec<_>>(), &used.values().copied().collect::<Vec<_>>()],
    )
    .await?;
    let learn: Vec<(AccountId, &str, bool)> = copies
        .iter()
        .filter(|copy| copy.learn_spam)
        .map(|copy| (copy.account, messages[copy.msg].1.hash.as_str(), true))
        .collect();
    queue_learning(c, &learn).await?;
    let events: Vec<MailEvent> = copies
        .iter()
        .zip(&ids)
        .map(|(copy, (uid, _))| {
            let (d, p) = messages[copy.msg];
            MailEvent {
                ts: now_millis(),
                kind: EventKind::Delivered,
                message_id: p.index.message_id.clone(),
                sender: Some(d.sender.clone()),
                recipient: Some(copy.address.clone()),
                detail: format!("stored in {} as UID {uid}", copy.folder),
                session: Some(d.session.clone()),
            }
        })
        .collect();
    insert_events(c, &events).await?;
    Ok(copies
        .iter()
        .zip(ids)
        .map(|(copy, (uid, modseq))| Stored { mailbox: copy.mailbox, uid: uid as u32, modseq: modseq as u64 })
        .collect())
}

/// The message rows: per-copy columns joined with the per-message ones, so
/// that a message stored for fifty recipients sends its structure once.
async fn insert_messages(
    c: &impl GenericClient,
    messages: &[Message<'_>],
    copies: &[Copy],
    ids: &[(i64, i64)],
) -> Result<()> {
    let mailbox: Vec<i64> = copies.iter().map(|x| x.mailbox).collect();
    let uid: Vec<i64> = ids.iter().map(|x| x.0).collect();
    let modseq: Vec<i64> = ids.iter().map(|x| x.1).collect();
    let flags: Vec<i64> = copies.iter().map(|x| i64::from(x.flags.0)).collect();
    let keywords: Vec<&str> = copies.iter().map(|x| x.keywords.as_str()).collect();
    let size: Vec<i64> = copies.iter().map(|x| x.size).collect();
    let prefix: Vec<&[u8]> = copies.iter().map(|x| x.prefix.as_slice()).collect();
    let msg: Vec<i64> = copies.iter().map(|x| x.msg as i64 + 1).collect();
    let internal_date: Vec<i64> = messages.iter().map(|(d, _)| d.internal_date).collect();
    let internal_zone: Vec<i64> = messages.iter().map(|(d, _)| i64::from(d.internal_zone)).collect();
    let blob: Vec<&str> = messages.iter().map(|(_, p)| p.hash.as_str()).collect();
    let envelope: Vec<&[u8]> = messages.iter().map(|(_, p)| p.index.envelope.as_slice()).collect();
    let structure: Vec<&str> = messages.iter().map(|(_, p)| p.index.structure.as_str()).collect();
    let text = |f: fn(&mime::SearchText) -> &str| messages.iter().map(|(_, p)| f(&p.index.search)).collect::<Vec<_>>();
    execute(
        c,
        "INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, size, prefix, internal_date, internal_zone,
                               blob, envelope, structure, s_subject, s_from, s_to, s_cc, s_bcc)
         SELECT c.mailbox_id, c.uid, c.modseq, c.flags, c.keywords, c.size, c.prefix, m.internal_date,
                m.internal_zone, m.blob, m.envelope, m.structure, m.s_subject, m.s_from, m.s_to, m.s_cc, m.s_bcc
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[],
                     $7::bytea[], $8::bigint[]) AS c(mailbox_id, uid, modseq, flags, keywords, size, prefix, msg)
         JOIN unnest($9::bigint[], $10::bigint[], $11::text[], $12::bytea[], $13::text[], $14::text[],
                     $15::text[], $16::text[], $17::text[], $18::text[])
              WITH ORDINALITY AS m(internal_date, internal_zone, blob, envelope, structure, s_subject, s_from,
                                   s_to, s_cc, s_bcc, msg)
           ON m.msg = c.msg",
        &[
            &mailbox,
            &uid,
            &modseq,
            &flags,
            &keywords,
            &size,
            &prefix,
            &msg,
            &internal_date,
            &internal_zone,
            &blob,
            &envelope,
            &structure,
            &text(|s| &s.subject),
            &text(|s| &s.from),
            &text(|s| &s.to),
            &text(|s| &s.cc),
            &text(|s| &s.bcc),
        ],
    )
    .await?;
    Ok(())
}

/// The SORT and THREAD keys of the copies (crate::sort_keys), computed at
/// delivery: PostgreSQL has no messages stored without them.
async fn insert_sort_keys(
    c: &impl GenericClient,
    messages: &[Message<'_>],
    copies: &[Copy],
    ids: &[(i64, i64)],
) -> Result<()> {
    let mailbox: Vec<i64> = copies.iter().map(|x| x.mailbox).collect();
    let uid: Vec<i64> = ids.iter().map(|x| x.0).collect();
    let size: Vec<i64> = copies.iter().map(|x| x.size).collect();
    let msg: Vec<i64> = copies.iter().map(|x| x.msg as i64 + 1).collect();
    let keys = |f: fn(&crate::sort_keys::SortKeys) -> &str| {
        messages.iter().map(|(_, p)| f(&p.index.sort_keys)).collect::<Vec<_>>()
    };
    let arrival: Vec<i64> = messages.iter().map(|(d, _)| d.internal_date).collect();
    // The sent date, or else the INTERNALDATE (RFC 5256 §2.2).
    let date: Vec<i64> = messages.iter().map(|(d, p)| p.index.sort_keys.date.unwrap_or(d.internal_date)).collect();
    let reply: Vec<bool> = messages.iter().map(|(_, p)| p.index.sort_keys.reply).collect();
    let message_id: Vec<Option<&str>> = messages.iter().map(|(_, p)| p.index.sort_keys.message_id.as_deref()).collect();
    let refs: Vec<String> = messages.iter().map(|(_, p)| p.index.sort_keys.references.join(" ")).collect();
    execute(
        c,
        "INSERT INTO sort_keys (mailbox_id, uid, size, arrival, date, subject, reply, from_addr, to_addr, cc_addr,
                                from_display, to_display, message_id, refs)
         SELECT c.mailbox_id, c.uid, c.size, m.arrival, m.date, m.subject, m.reply, m.from_addr, m.to_addr,
                m.cc_addr, m.from_display, m.to_display, m.message_id, m.refs
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS c(mailbox_id, uid, size, msg)
         JOIN unnest($5::bigint[], $6::bigint[], $7::text[], $8::boolean[], $9::text[], $10::text[], $11::text[],
                     $12::text[], $13::text[], $14::text[], $15::text[])
              WITH ORDINALITY AS m(arrival, date, subject, reply, from_addr, to_addr, cc_addr, from_display,
                                   to_display, message_id, refs, msg)
           ON m.msg = c.msg",
        &[
            &mailbox,
            &uid,
            &size,
            &msg,
            &arrival,
            &date,
            &keys(|k| &k.subject),
            &reply,
            &keys(|k| &k.from),
            &keys(|k| &k.to),
            &keys(|k| &k.cc),
            &keys(|k| &k.display_from),
            &keys(|k| &k.display_to),
            &message_id,
            &refs,
        ],
    )
    .await?;
    Ok(())
}

/// Puts the message in the outbound queue for its remote recipients (the
/// caller has counted the queue's reference to the blob).
async fn enqueue(c: &impl GenericClient, d: &Delivery, p: &Prepared) -> Result<i64> {
    let now = now_secs();
    let id: i64 = query_one(
        c,
        "INSERT INTO queue (blob, sender, created, envid, ret, session, sign_as)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        &[&p.hash, &d.sender, &now, &d.dsn.envid, &d.dsn.ret, &d.session, &d.sign_as],
    )
    .await?
    .get(0);
    let address: Vec<&str> = d.remote.iter().map(|r| r.address.as_str()).collect();
    let notify: Vec<Option<&str>> = d.remote.iter().map(|r| r.notify.as_deref()).collect();
    let orcpt: Vec<Option<&str>> = d.remote.iter().map(|r| r.orcpt.as_deref()).collect();
    // A recipient given twice is queued once.
    execute(
        c,
        "INSERT INTO queue_recipients (queue_id, address, notify, orcpt, next_attempt)
         SELECT $1, r.address, r.notify, r.orcpt, $5 FROM unnest($2::text[], $3::text[], $4::text[])
                AS r(address, notify, orcpt)
         ON CONFLICT DO NOTHING",
        &[&id, &address, &notify, &orcpt, &now],
    )
    .await?;
    let events: Vec<MailEvent> = d
        .remote
        .iter()
        .map(|r| MailEvent {
            ts: now_millis(),
            kind: EventKind::Queued,
            message_id: p.index.message_id.clone(),
            sender: Some(d.sender.clone()),
            recipient: Some(r.address.clone()),
            detail: format!("queued for remote delivery as {id}"),
            session: Some(d.session.clone()),
        })
        .collect();
    insert_events(c, &events).await?;
    Ok(id)
}

/// Writes mail-log events in one statement, in order (their ids follow it).
pub(crate) async fn insert_events(c: &impl GenericClient, events: &[MailEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ts: Vec<i64> = events.iter().map(|e| e.ts).collect();
    let kind: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let message_id: Vec<Option<&str>> = events.iter().map(|e| e.message_id.as_deref()).collect();
    let sender: Vec<Option<&str>> = events.iter().map(|e| e.sender.as_deref()).collect();
    let recipient: Vec<Option<&str>> = events.iter().map(|e| e.recipient.as_deref()).collect();
    let detail: Vec<&str> = events.iter().map(|e| e.detail.as_str()).collect();
    let session: Vec<Option<&str>> = events.iter().map(|e| e.session.as_deref()).collect();
    execute(
        c,
        "INSERT INTO mail_log (ts, kind, message_id, sender, recipient, detail, session)
         SELECT ts, kind, message_id, sender, recipient, detail, session
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
              WITH ORDINALITY AS e(ts, kind, message_id, sender, recipient, detail, session, n)
         ORDER BY n",
        &[&ts, &kind, &message_id, &sender, &recipient, &detail, &session],
    )
    .await?;
    Ok(())
}

/// Queues messages a user filed as spam or as not spam, by (account, blob,
/// spam), to be learnt by the filter: in the transaction of the change, so
/// that none is lost or learnt without having happened.
pub(crate) async fn queue_learning(c: &impl GenericClient, rows: &[(AccountId, &str, bool)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let account: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let hash: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let spam: Vec<bool> = rows.iter().map(|r| r.2).collect();
    execute(
        c,
        "INSERT INTO spam_learn_queue (account, hash, spam)
         SELECT account, hash, spam FROM unnest($1::bigint[], $2::text[], $3::boolean[])
                WITH ORDINALITY AS l(account, hash, spam, n)
         ORDER BY n",
        &[&account, &hash, &spam],
    )
    .await?;
    Ok(())
}

/// The columns of a [`MessageMeta`], for [`meta_from_row`].
const META_SELECT: &str =
    "SELECT uid, modseq, flags, keywords, internal_date, size, blob, prefix, internal_zone FROM messages";

fn meta_from_row(r: &Row) -> MessageMeta {
    let keywords: &str = r.get(3);
    MessageMeta {
        uid: r.get::<_, i64>(0) as u32,
        modseq: r.get::<_, i64>(1) as u64,
        flags: Flags(r.get::<_, i64>(2) as u8),
        keywords: keywords.split_whitespace().map(str::to_string).collect(),
        internal_date: r.get(4),
        internal_zone: r.get::<_, i64>(8) as i32,
        size: r.get::<_, i64>(5) as u64,
        blob: r.get(6),
        prefix: r.get(7),
    }
}

/// A blob's bytes from its row's `data`, `codec` and `size`.
fn unpack(hash: &str, data: Vec<u8>, codec: i64, size: i64) -> Result<Vec<u8>> {
    inline::unpack(hash, codec, data, size)
}

async fn blob_bytes(c: &impl GenericClient, hash: &str) -> Result<Vec<u8>> {
    match query_opt(c, "SELECT data, codec, size FROM blobs WHERE hash = $1", &[&hash]).await? {
        Some(r) => unpack(hash, r.get(0), r.get(1), r.get(2)),
        None => Err(StoreError::NotFound("no such message data".into())),
    }
}

/// The columns [`structure_of`] reads.
const STRUCTURE_SELECT: &str =
    "SELECT uid, envelope, structure, length(prefix)::bigint, blob FROM messages WHERE mailbox_id = $1";

/// A message's stored envelope and structure, shifted past its own header
/// prefix. One whose stored form cannot be read is analyzed again from its
/// bytes, so one message never makes a FETCH of a whole range fail.
async fn structure_of(c: &impl GenericClient, mailbox: MailboxId, r: &Row) -> Result<(Envelope, BodyPart)> {
    let uid = r.get::<_, i64>(0);
    let (env, mut body) = match decode_stored(r.get(1), r.get(2)) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(mailbox, uid, error = %e, "stored structure unreadable; analyzing the message again");
            mime::analyze(&blob_bytes(c, r.get(4)).await?)
        }
    };
    // The structure was computed on the shared body; this copy's own header
    // lines come first.
    body.shift(r.get::<_, i64>(3) as u64);
    Ok((env, body))
}

impl PgStore {
    /// SEARCH of one header field from the decoded text kept per message,
    /// cached per mailbox in this node (crate::header_cache) and brought up
    /// to date from the mailbox's counters. None when some message has no
    /// text, or when other searches kept changing the entry meanwhile.
    async fn search_headers(&self, mailbox: MailboxId, field: &str, needle: &str) -> Result<Option<Vec<u32>>> {
        let needle = needle.to_lowercase();
        for _ in 0..3 {
            let mut c = self.client().await?;
            // One snapshot for the counters and the rows read to catch up:
            // every UID below `uidnext` is then in it (UIDs are given under
            // the mailbox lock and committed with it).
            let tx =
                c.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
            let Some(counters) =
                query_opt(&tx, "SELECT uidvalidity, uidnext, messages FROM mailboxes WHERE id = $1", &[&mailbox])
                    .await?
            else {
                return Err(StoreError::NotFound(format!("mailbox {mailbox}")));
            };
            let (uidvalidity, uidnext, messages) =
                (counters.get::<_, i64>(0) as u32, counters.get::<_, i64>(1) as u32, counters.get::<_, i64>(2));
            let entry = self.header_cache.entry(mailbox, uidvalidity);
            let seen = state(&entry);
            // The entry is from an older snapshot than this one, or of a
            // mailbox that had this id before (then it starts again).
            let reset = seen.0 != uidvalidity || seen.1 > uidnext;
            let (from, kept) = if reset { (1, 0) } else { (seen.1, seen.2) };
            let rows = if from < uidnext {
                let Some(rows) = header_rows(&tx, mailbox, from).await? else {
                    self.header_cache.forget(mailbox);
                    return Ok(None);
                };
                rows
            } else {
                Vec::new()
            };
            // Messages expunged since: the UIDs that are left.
            let present = if (kept + rows.len()) as i64 != messages {
                let uids =
                    query(&tx, "SELECT uid FROM messages WHERE mailbox_id = $1 ORDER BY uid", &[&mailbox]).await?;
                Some(uids.iter().map(|r| r.get::<_, i64>(0) as u32).collect::<Vec<u32>>())
            } else {
                None
            };
            tx.commit().await?;
            let update = Update { seen, reset, uidvalidity, uidnext, rows, present };
            if let Some((hits, bytes)) = update.apply(&entry, field, &needle) {
                self.header_cache.settle(mailbox, bytes);
                return Ok(hits);
            }
        }
        Ok(None)
    }
}

/// (UIDVALIDITY, UIDNEXT, messages held) of a cache entry.
fn state(entry: &Mutex<MailboxHeaders>) -> (u32, u32, usize) {
    let h = entry.lock().unwrap_or_else(|e| e.into_inner());
    (h.uidvalidity, h.uidnext, h.len())
}

/// What a search read to bring a cache entry up to date.
struct Update {
    /// The entry's state it started from.
    seen: (u32, u32, usize),
    reset: bool,
    uidvalidity: u32,
    uidnext: u32,
    rows: Vec<HeaderRow>,
    present: Option<Vec<u32>>,
}

impl Update {
    /// Applies the update and searches, under the entry's lock: the hits and
    /// the entry's size; None when another search changed the entry since
    /// `seen` (the caller reads again).
    fn apply(self, entry: &Mutex<MailboxHeaders>, field: &str, needle: &str) -> Option<(Option<Vec<u32>>, usize)> {
        let mut h = entry.lock().unwrap_or_else(|e| e.into_inner());
        if (h.uidvalidity, h.uidnext, h.len()) != self.seen {
            return None;
        }
        if self.reset {
            *h = MailboxHeaders::new(self.uidvalidity);
        }
        h.append(self.rows);
        h.uidnext = self.uidnext;
        if let Some(present) = &self.present {
            h.retain(present);
        }
        Some((h.search(field, needle), h.bytes()))
    }
}

/// Decoded header text of the messages of `mailbox` from UID `from` on, or
/// None if one of them has none.
async fn header_rows(c: &impl GenericClient, mailbox: MailboxId, from: u32) -> Result<Option<Vec<HeaderRow>>> {
    let rows = query(
        c,
        "SELECT uid, s_subject, s_from, s_to, s_cc, s_bcc FROM messages
         WHERE mailbox_id = $1 AND uid >= $2 ORDER BY uid",
        &[&mailbox, &i64::from(from)],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut fields: [String; 5] = Default::default();
        for (i, f) in fields.iter_mut().enumerate() {
            match r.get::<_, Option<String>>(i + 1) {
                Some(text) => *f = text,
                None => return Ok(None),
            }
        }
        out.push(HeaderRow { uid: r.get::<_, i64>(0) as u32, fields });
    }
    Ok(Some(out))
}

impl PgStore {
    fn publish_stored(&self, stored: &[&Stored]) {
        for s in stored {
            self.publish(s.mailbox, MailboxChange::Appended { uid: s.uid, modseq: s.modseq });
        }
    }
}

#[async_trait]
impl MailStore for PgStore {
    async fn mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>> {
        let c = self.client().await?;
        // Byte order, as the embedded store lists them.
        let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = $1 ORDER BY name COLLATE \"C\"");
        Ok(query(&c, &sql, &[&account]).await?.iter().map(mailbox_from_row).collect())
    }

    async fn mailbox(&self, id: MailboxId) -> Result<Option<Mailbox>> {
        let c = self.client().await?;
        load_mailbox(&**c, id).await
    }

    async fn create_mailbox(&self, account: AccountId, name: &str) -> Result<Mailbox> {
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(format!("{name:?} is not a valid mailbox name")));
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let Some(id) = insert_mailbox(&*tx, account, name, None).await? else {
            return Err(StoreError::Conflict(format!("mailbox {name} already exists")));
        };
        let mailbox = load_mailbox(&*tx, id)
            .await?
            .ok_or_else(|| StoreError::Backend(format!("mailbox {id} vanished while created")))?;
        tx.commit().await?;
        self.publish_account(account);
        Ok(mailbox)
    }

    async fn deliver(&self, delivery: Delivery) -> Result<DeliveryOutcome> {
        if delivery.targets.is_empty() && delivery.remote.is_empty() {
            return Ok(DeliveryOutcome { stored: Vec::new(), queued: None });
        }
        let p = Prepared::of(delivery.raw.clone()).await?;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let targets: Vec<&Target> = delivery.targets.iter().collect();
        let mut locked = Locked::take(&tx, &targets, true).await?;
        // Each target succeeds or fails on its own; the failures are known
        // before anything is written, under the locks.
        let mut outcomes: Vec<Result<usize>> = Vec::with_capacity(targets.len());
        let mut copies = Vec::new();
        for t in &targets {
            outcomes.push(locked.place(0, delivery.raw.len(), t, true).map(|copy| {
                copies.push(copy);
                copies.len() - 1
            }));
        }
        let queue_ref = i64::from(!delivery.remote.is_empty());
        add_blob_refs(&tx, &[(&p, copies.len() as i64 + queue_ref)]).await?;
        let stored = store_copies(&tx, &[(&delivery, &p)], &copies).await?;
        let queued = if delivery.remote.is_empty() { None } else { Some(enqueue(&tx, &delivery, &p).await?) };
        tx.commit().await?;
        let stored: Vec<Result<Stored>> = outcomes.into_iter().map(|o| o.map(|i| stored[i].clone())).collect();
        self.publish_stored(&stored.iter().flatten().collect::<Vec<_>>());
        if queued.is_some() {
            self.signal_queue();
        }
        Ok(DeliveryOutcome { stored, queued })
    }

    async fn deliver_all(&self, deliveries: Vec<Delivery>) -> Result<Vec<Stored>> {
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let mut prepared = Vec::with_capacity(deliveries.len());
        for d in &deliveries {
            prepared.push(Prepared::of(d.raw.clone()).await?);
        }
        let messages: Vec<Message> = deliveries.iter().zip(&prepared).collect();
        let mut c = self.client().await?;
        // One transaction: an error anywhere (returned before the commit)
        // rolls every message back.
        let tx = c.transaction().await?;
        let targets: Vec<&Target> = deliveries.iter().flat_map(|d| &d.targets).collect();
        let mut locked = Locked::take(&tx, &targets, false).await?;
        let mut copies = Vec::with_capacity(targets.len());
        for (msg, d) in deliveries.iter().enumerate() {
            for t in &d.targets {
                copies.push(locked.place(msg, d.raw.len(), t, false)?);
            }
        }
        let refs: Vec<(&Prepared, i64)> =
            deliveries.iter().zip(&prepared).map(|(d, p)| (p, d.targets.len() as i64)).collect();
        add_blob_refs(&tx, &refs).await?;
        let stored = store_copies(&tx, &messages, &copies).await?;
        tx.commit().await?;
        self.publish_stored(&stored.iter().collect::<Vec<_>>());
        Ok(stored)
    }

    async fn queued(&self) -> Result<Vec<QueuedMessage>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT q.id, q.sender, b.size, q.created, r.address, r.status, r.attempts, r.next_attempt, r.last_error
             FROM queue q JOIN blobs b ON b.hash = q.blob JOIN queue_recipients r ON r.queue_id = q.id
             ORDER BY q.id, r.address COLLATE \"C\"",
            &[],
        )
        .await?;
        let mut out: Vec<QueuedMessage> = Vec::new();
        for r in &rows {
            let id: i64 = r.get(0);
            let rcpt = QueuedRecipient {
                address: r.get(4),
                status: r.get(5),
                attempts: r.get::<_, i64>(6) as u32,
                next_attempt: r.get(7),
                last_error: r.get(8),
            };
            match out.last_mut() {
                Some(m) if m.id == id => m.recipients.push(rcpt),
                _ => out.push(QueuedMessage {
                    id,
                    sender: r.get(1),
                    size: r.get::<_, i64>(2) as u64,
                    created: r.get(3),
                    recipients: vec![rcpt],
                }),
            }
        }
        Ok(out)
    }

    async fn queue_summary(&self) -> Result<(u64, Option<i64>)> {
        let c = self.client().await?;
        let r = query_one(&c, "SELECT count(*), min(created) FROM queue", &[]).await?;
        Ok((r.get::<_, i64>(0) as u64, r.get(1)))
    }

    async fn retry_queued(&self, id: Option<i64>, now: i64) -> Result<u64> {
        let c = self.client().await?;
        let n = execute(
            &c,
            "UPDATE queue_recipients SET next_attempt = $2
             WHERE status = 'pending' AND ($1::bigint IS NULL OR queue_id = $1)",
            &[&id, &now],
        )
        .await?;
        if let Some(id) = id.filter(|_| n == 0) {
            if query_opt(&c, "SELECT 1 FROM queue WHERE id = $1", &[&id]).await?.is_none() {
                return Err(StoreError::NotFound(format!("no queued message {id}")));
            }
        }
        self.signal_queue();
        Ok(n)
    }

    async fn del_queued(&self, id: i64) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Its recipients go with it (ON DELETE CASCADE).
        let Some(row) = query_opt(&tx, "DELETE FROM queue WHERE id = $1 RETURNING blob", &[&id]).await? else {
            return Err(StoreError::NotFound(format!("no queued message {id}")));
        };
        release_blobs(&*tx, &[(row.get(0), 1)]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn messages(&self, mailbox: MailboxId) -> Result<Vec<MessageMeta>> {
        let c = self.client().await?;
        let sql = format!("{META_SELECT} WHERE mailbox_id = $1 ORDER BY uid");
        Ok(query(&c, &sql, &[&mailbox]).await?.iter().map(meta_from_row).collect())
    }

    async fn messages_changed(&self, mailbox: MailboxId, uids: &[u32], from: Option<u32>) -> Result<Vec<MessageMeta>> {
        let c = self.client().await?;
        let sql = format!(
            "{META_SELECT} WHERE mailbox_id = $1 AND (uid = ANY($2) OR ($3::bigint IS NOT NULL AND uid >= $3))
             ORDER BY uid"
        );
        let from = from.map(i64::from);
        Ok(query(&c, &sql, &[&mailbox, &uid_list(uids), &from]).await?.iter().map(meta_from_row).collect())
    }

    async fn structure(&self, mailbox: MailboxId, uid: u32) -> Result<(Envelope, BodyPart)> {
        let c = self.client().await?;
        let sql = format!("{STRUCTURE_SELECT} AND uid = $2");
        match query_opt(&c, &sql, &[&mailbox, &i64::from(uid)]).await? {
            Some(r) => structure_of(&c, mailbox, &r).await,
            None => Err(StoreError::NotFound(format!("no message with UID {uid}"))),
        }
    }

    async fn structures(&self, mailbox: MailboxId, uids: &[u32]) -> Result<HashMap<u32, (Envelope, BodyPart)>> {
        let c = self.client().await?;
        let sql = format!("{STRUCTURE_SELECT} AND uid = ANY($2)");
        let rows = query(&c, &sql, &[&mailbox, &uid_list(uids)]).await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            let uid = r.get::<_, i64>(0) as u32;
            // One damaged message (structure and bytes both unreadable) is
            // left out; the range is still answered.
            match structure_of(&c, mailbox, r).await {
                Ok(structure) => drop(out.insert(uid, structure)),
                Err(e) => tracing::error!(mailbox, uid, error = %e, "message unreadable; left out of the answer"),
            }
        }
        Ok(out)
    }

    async fn sorted_uids(&self, mailbox: MailboxId, criteria: &[SortCriterion]) -> Result<Vec<u32>> {
        let c = self.client().await?;
        let sql = format!("SELECT uid FROM sort_keys WHERE mailbox_id = $1 ORDER BY {}", sort_order_by(criteria));
        // Not cached: clients choose the criteria, so there is no bound on
        // the number of different statements.
        Ok(c.query(&sql, &[&mailbox]).await?.iter().map(|r| r.get::<_, i64>(0) as u32).collect())
    }

    async fn thread_keys(&self, mailbox: MailboxId) -> Result<Vec<(u32, ThreadKeys)>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT uid, date, subject, reply, message_id, refs FROM sort_keys WHERE mailbox_id = $1 ORDER BY uid",
            &[&mailbox],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let refs: &str = r.get(5);
                let keys = ThreadKeys {
                    date: r.get(1),
                    subject: r.get(2),
                    reply: r.get(3),
                    message_id: r.get(4),
                    references: refs.split_whitespace().map(str::to_string).collect(),
                };
                (r.get::<_, i64>(0) as u32, keys)
            })
            .collect())
    }

    async fn envelopes_of(&self, mailbox: MailboxId, uids: &[u32]) -> Result<HashMap<u32, Envelope>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT uid, envelope FROM messages WHERE mailbox_id = $1 AND uid = ANY($2)",
            &[&mailbox, &uid_list(uids)],
        )
        .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            let uid = r.get::<_, i64>(0) as u32;
            // One damaged envelope is left out (logged); the SORT or THREAD
            // is still answered.
            match stored_envelope::decode(r.get(1)) {
                Ok(env) => drop(out.insert(uid, env)),
                Err(e) => tracing::error!(mailbox, uid, error = %e, "stored envelope unreadable; left out"),
            }
        }
        Ok(out)
    }

    async fn read_blob(&self, hash: &str) -> Result<Vec<u8>> {
        let c = self.client().await?;
        blob_bytes(&c, hash).await
    }

    async fn read_messages(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT m.uid, m.prefix, m.blob, b.data, b.codec, b.size FROM messages m JOIN blobs b ON b.hash = m.blob
             WHERE m.mailbox_id = $1 AND m.uid = ANY($2) ORDER BY m.uid",
            &[&mailbox, &uid_list(uids)],
        )
        .await?;
        rows.into_iter()
            .map(|r| {
                let mut raw: Vec<u8> = r.get(1);
                let hash: &str = r.get(2);
                raw.extend_from_slice(&unpack(hash, r.get(3), r.get(4), r.get(5))?);
                Ok((r.get::<_, i64>(0) as u32, raw))
            })
            .collect()
    }

    async fn set_flags(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        flags: Flags,
        keywords: &[String],
        mode: FlagMode,
    ) -> Result<u64> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // The mailbox row first (lock order): its messages' flags are then
        // ours to read and change until the commit.
        let Some(mb) = query_opt(
            &tx,
            "SELECT account_id, special_use, highestmodseq FROM mailboxes WHERE id = $1 FOR UPDATE",
            &[&mailbox],
        )
        .await?
        else {
            return Err(StoreError::NotFound(format!("no mailbox {mailbox}")));
        };
        let (account, in_junk) =
            (mb.get::<_, i64>(0), mb.get::<_, Option<&str>>(1) == Some(SpecialUse::Junk.default_name()));
        let rows = query(
            &tx,
            "SELECT uid, flags, keywords, blob FROM messages WHERE mailbox_id = $1 AND uid = ANY($2) ORDER BY uid",
            &[&mailbox, &uid_list(uids)],
        )
        .await?;
        let mut changed: Vec<(i64, i64, String)> = Vec::new();
        let mut learn: Vec<(AccountId, &str, bool)> = Vec::new();
        let (mut unseen_delta, mut deleted_delta) = (0i64, 0i64);
        for r in &rows {
            let old = Flags(r.get::<_, i64>(1) as u8);
            let old_kw: Vec<String> = r.get::<_, &str>(2).split_whitespace().map(str::to_string).collect();
            let (new, new_kw) = merge_flags(old, &old_kw, flags, keywords, mode);
            // A client marking junk ($Junk) or not junk ($NotJunk) teaches
            // the classifier (RFC 5788 keywords), only where it means a
            // change of mind: $Junk outside the Junk folder, $NotJunk inside
            // it (clients that tag every message they classify must not
            // teach the server its own verdicts).
            let newly = |k: &str| {
                new_kw.iter().any(|x| x.eq_ignore_ascii_case(k)) && !old_kw.iter().any(|x| x.eq_ignore_ascii_case(k))
            };
            if newly("$Junk") && !in_junk {
                learn.push((account, r.get(3), true));
            } else if newly("$NotJunk") && in_junk {
                learn.push((account, r.get(3), false));
            }
            if new != old || new_kw != old_kw {
                let ((ou, od), (nu, nd)) = (old.counts(), new.counts());
                unseen_delta += nu - ou;
                deleted_delta += nd - od;
                changed.push((r.get(0), i64::from(new.0), new_kw.join(" ")));
            }
        }
        queue_learning(&tx, &learn).await?;
        if changed.is_empty() {
            tx.commit().await?;
            return Ok(mb.get::<_, i64>(2) as u64);
        }
        let modseq = next_modseq(&*tx, mailbox).await?;
        execute(
            &tx,
            "UPDATE mailboxes SET unseen = unseen + $2, deleted = deleted + $3 WHERE id = $1",
            &[&mailbox, &unseen_delta, &deleted_delta],
        )
        .await?;
        let uid: Vec<i64> = changed.iter().map(|x| x.0).collect();
        let new_flags: Vec<i64> = changed.iter().map(|x| x.1).collect();
        let new_keywords: Vec<&str> = changed.iter().map(|x| x.2.as_str()).collect();
        execute(
            &tx,
            "UPDATE messages m SET flags = v.flags, keywords = v.keywords, modseq = $2
             FROM unnest($3::bigint[], $4::bigint[], $5::text[]) AS v(uid, flags, keywords)
             WHERE m.mailbox_id = $1 AND m.uid = v.uid",
            &[&mailbox, &(modseq as i64), &uid, &new_flags, &new_keywords],
        )
        .await?;
        tx.commit().await?;
        let uids = uid.into_iter().map(|u| u as u32).collect();
        self.publish(mailbox, MailboxChange::FlagsChanged { uids, modseq });
        Ok(modseq)
    }

    async fn expunge(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<u32>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let (removed, modseq) = match expunge_uids(&*tx, mailbox, uids).await {
            Ok(done) => done,
            // As in the embedded store: nothing of a mailbox that is gone.
            Err(StoreError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        tx.commit().await?;
        if !removed.is_empty() {
            self.publish(mailbox, MailboxChange::Expunged { uids: removed.clone(), modseq });
        }
        Ok(removed)
    }

    async fn header_search(&self, mailbox: MailboxId, field: &str, needle: &str) -> Result<Option<Vec<u32>>> {
        if !header_cache::FIELDS.contains(&field) {
            return Ok(None);
        }
        self.search_headers(mailbox, field, needle).await
    }

    async fn claim_recent(&self, mailbox: MailboxId) -> Result<(u32, u32)> {
        let c = self.client().await?;
        // One statement: the old value is read under the row lock the
        // update takes (FOR UPDATE in the subquery), so two nodes claiming
        // at once get disjoint ranges.
        let row = query_opt(
            &c,
            "UPDATE mailboxes m SET recent_uid = m.uidnext
             FROM (SELECT id, recent_uid FROM mailboxes WHERE id = $1 FOR UPDATE) old
             WHERE m.id = old.id
             RETURNING old.recent_uid, m.uidnext",
            &[&mailbox],
        )
        .await?;
        match row {
            Some(r) => Ok((r.get::<_, i64>(0) as u32, r.get::<_, i64>(1) as u32)),
            None => Err(StoreError::NotFound(format!("mailbox {mailbox}"))),
        }
    }

    async fn vanished_since(&self, mailbox: MailboxId, modseq: u64) -> Result<Vec<u32>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT uid FROM vanished WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid",
            &[&mailbox, &(modseq as i64)],
        )
        .await?;
        Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u32).collect())
    }

    fn watch(&self, mailbox: MailboxId) -> broadcast::Receiver<MailboxChange> {
        self.notifier.subscribe(mailbox)
    }

    fn watch_account(&self, account: AccountId) -> broadcast::Receiver<()> {
        self.notifier.subscribe_account(account)
    }
}
