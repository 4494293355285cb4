//! Mailboxes, messages and the mail log in SQLite.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::broadcast;

use super::directory::insert_mailbox;
use super::inline::{self, INLINE_MAX};
use super::{found, SqliteStore};
use crate::blobs::BlobStore;
use crate::header_cache::{self, HeaderRow, MailboxHeaders};
use crate::indexing::{decode_stored, Indexed};
use crate::mime::{self, BodyPart, Envelope};
use crate::model::merge_flags;
use crate::stored_envelope;
use crate::{
    now_millis, AccountId, Delivery, DeliveryOutcome, EventKind, EventQuery, FlagMode, Flags, MailEvent, MailLog,
    MailStore, Mailbox, MailboxChange, MailboxId, MailboxTarget, MessageMeta, QueuedMessage, QueuedRecipient, Result,
    SpecialUse, StoreError, Stored,
};

/// Drops one reference per counted message from each blob; blobs left with
/// none lose their row and go to the trash (unlinked by a later transaction).
pub(crate) fn release_blob_counts(c: &Connection, counts: &[(String, i64)]) -> Result<()> {
    for (hash, n) in counts {
        let left: i64 = c
            .prepare_cached("UPDATE blobs SET refcount = refcount - ?2 WHERE hash = ?1 RETURNING refcount")?
            .query_row(params![hash, n], |r| r.get(0))?;
        if left <= 0 {
            let in_file: bool = c
                .prepare_cached("DELETE FROM blobs WHERE hash = ?1 RETURNING data IS NULL")?
                .query_row([hash], |r| r.get(0))?;
            if in_file {
                c.prepare_cached("INSERT OR IGNORE INTO blob_trash (hash) VALUES (?1)")?.execute([hash])?;
            }
        }
    }
    Ok(())
}

/// `(blob, count)` pairs selected by `sql` for one parameter; release them
/// with [`release_blob_counts`] once the messages are deleted.
pub(crate) fn blob_counts(c: &Connection, sql: &str, param: i64) -> Result<Vec<(String, i64)>> {
    let mut st = c.prepare(sql)?;
    let counts = st.query_map([param], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    Ok(counts)
}

pub(crate) const MAILBOX_COLUMNS: &str = "id, account_id, name, special_use, uidvalidity, uidnext, highestmodseq,
     EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name),
     messages, size, unseen, deleted, recent_uid,
     (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id AND m.uid >= mailboxes.recent_uid)";

pub(crate) fn mailbox_from_row(r: &rusqlite::Row) -> rusqlite::Result<Mailbox> {
    Ok(Mailbox {
        id: r.get(0)?,
        account: r.get(1)?,
        name: r.get(2)?,
        special_use: r.get::<_, Option<String>>(3)?.as_deref().and_then(SpecialUse::from_name),
        uidvalidity: r.get::<_, i64>(4)? as u32,
        uidnext: r.get::<_, i64>(5)? as u32,
        highestmodseq: r.get::<_, i64>(6)? as u64,
        subscribed: r.get(7)?,
        messages: r.get::<_, i64>(8)? as u32,
        size: r.get::<_, i64>(9)? as u64,
        unseen: r.get::<_, i64>(10)? as u32,
        deleted: r.get::<_, i64>(11)? as u32,
        first_recent: r.get::<_, i64>(12)? as u32,
        recent: r.get::<_, i64>(13)? as u32,
    })
}

fn find_mailbox(c: &Connection, account: AccountId, target: &MailboxTarget) -> Result<Option<MailboxId>> {
    let id = match target {
        MailboxTarget::Special(u) => c
            .query_row(
                "SELECT id FROM mailboxes WHERE account_id = ?1 AND special_use = ?2",
                params![account, u.default_name()],
                |r| r.get(0),
            )
            .optional()?,
        MailboxTarget::Name(n) => c
            .query_row("SELECT id FROM mailboxes WHERE account_id = ?1 AND name = ?2", params![account, n], |r| {
                r.get(0)
            })
            .optional()?,
    };
    Ok(id)
}

/// The delivery's blob is on disk and has a row (or is about to get one).
/// Runs under the write lock, where the trash cannot unlink it behind us.
fn ensure_blob(c: &Connection, blobs: &BlobStore, hash: &str, raw: &[u8]) -> Result<()> {
    let known: bool =
        c.prepare_cached("SELECT EXISTS (SELECT 1 FROM blobs WHERE hash = ?1)")?.query_row([hash], |r| r.get(0))?;
    if !known {
        let path = blobs.path(hash);
        if !path.exists() {
            // Unlinked from the trash after our write: write it again.
            blobs.write_at(&path, raw)?;
        }
    }
    Ok(())
}

/// Raises the mailbox's HIGHESTMODSEQ and returns it (RFC 7162 §3.1.1).
fn next_modseq(c: &Connection, mailbox: MailboxId) -> Result<u64> {
    let m: i64 = found(
        c.prepare_cached(
            "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?1 RETURNING highestmodseq",
        )?
        .query_row([mailbox], |r| r.get(0)),
        || format!("no mailbox {mailbox}"),
    )?;
    Ok(m as u64)
}

fn current_modseq(c: &Connection, mailbox: MailboxId) -> Result<u64> {
    let m: i64 = found(
        c.prepare_cached("SELECT highestmodseq FROM mailboxes WHERE id = ?1")?.query_row([mailbox], |r| r.get(0)),
        || format!("no mailbox {mailbox}"),
    )?;
    Ok(m as u64)
}

/// Removes `uids` from a mailbox inside the caller's transaction: counters,
/// quota, blob references and the QRESYNC `vanished` record. Returns the UIDs
/// that were there and the new modseq.
pub(crate) fn expunge_uids(c: &Connection, mailbox: MailboxId, uids: &[u32]) -> Result<(Vec<u32>, u64)> {
    let mut removed = Vec::new();
    let mut freed = 0i64;
    let (mut unseen, mut deleted) = (0i64, 0i64);
    for &uid in uids {
        let row: Option<(String, i64, i64)> = c
            .prepare_cached("DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2 RETURNING blob, size, flags")?
            .query_row(params![mailbox, uid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((blob, size, flags)) = row else { continue };
        release_blob_counts(c, &[(blob, 1)])?;
        freed += size;
        let (u, d) = Flags(flags as u8).counts();
        unseen += u;
        deleted += d;
        removed.push(uid);
    }
    if removed.is_empty() {
        return Ok((removed, 0));
    }
    let modseq = next_modseq(c, mailbox)?;
    c.execute(
        "UPDATE mailboxes SET messages = messages - ?2, size = size - ?3, unseen = unseen - ?4, deleted = deleted - ?5
         WHERE id = ?1",
        params![mailbox, removed.len() as i64, freed, unseen, deleted],
    )?;
    c.execute(
        "UPDATE accounts SET used = used - ?2 WHERE id = (SELECT account_id FROM mailboxes WHERE id = ?1)",
        params![mailbox, freed],
    )?;
    for uid in &removed {
        c.prepare_cached("INSERT OR REPLACE INTO vanished (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)")?
            .execute(params![mailbox, uid, modseq as i64])?;
    }
    Ok((removed, modseq))
}

struct Parsed {
    hash: String,
    /// The body as its `blobs` row keeps it (codec, bytes), for bodies up to
    /// `INLINE_MAX`; larger ones are in their file.
    inline: Option<(i64, Vec<u8>)>,
    index: Indexed,
}

fn store_one(c: &Connection, d: &Delivery, p: &Parsed, t: &crate::Target) -> Result<Stored> {
    let size = (d.raw.len() + t.prefix.len()) as i64;
    let (quota, used, address): (Option<i64>, i64, String) = found(
        c.prepare_cached("SELECT quota, used, address FROM accounts WHERE id = ?1")?
            .query_row([t.account], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))),
        || format!("account {} no longer exists", t.account),
    )?;
    if let Some(q) = quota.filter(|_| t.check_quota) {
        if used + size > q {
            return Err(StoreError::OverQuota(format!("{address} has used {used} of {q} bytes")));
        }
    }
    let mailbox = match find_mailbox(c, t.account, &t.mailbox)? {
        Some(m) => m,
        // A user may have deleted a special folder: fall back to INBOX.
        None => find_mailbox(c, t.account, &MailboxTarget::Special(SpecialUse::Inbox))?
            .ok_or_else(|| StoreError::NotFound(format!("{address} has no INBOX")))?,
    };
    let (uid, modseq): (i64, i64) = c
        .prepare_cached(
            "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1,
                messages = messages + 1, size = size + ?2, unseen = unseen + ?3, deleted = deleted + ?4
         WHERE id = ?1 RETURNING uidnext - 1, highestmodseq",
        )?
        .query_row(params![mailbox, size, t.flags.counts().0, t.flags.counts().1], |r| Ok((r.get(0)?, r.get(1)?)))?;
    add_blob_ref(c, d, p)?;
    c.prepare_cached(
        "INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob, prefix, envelope, structure,
                               s_subject, s_from, s_to, s_cc, s_bcc, internal_zone)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?
    .execute(params![
        mailbox,
        uid,
        modseq,
        t.flags.0,
        t.keywords.join(" "),
        d.internal_date,
        size,
        p.hash,
        t.prefix,
        p.index.envelope,
        p.index.structure,
        p.index.search.subject,
        p.index.search.from,
        p.index.search.to,
        p.index.search.cc,
        p.index.search.bcc,
        d.internal_zone
    ])?;
    super::sorting::insert_keys(c, (mailbox, uid), &p.index.sort_keys, d.internal_date, size)?;
    c.prepare_cached("UPDATE accounts SET used = used + ?2 WHERE id = ?1")?.execute(params![t.account, size])?;
    if t.user_filed && super::filter_data::is_junk(c, mailbox)? {
        super::filter_data::queue_learning(c, mailbox, &[uid as u32], true)?;
    }
    let folder: String =
        c.prepare_cached("SELECT name FROM mailboxes WHERE id = ?1")?.query_row([mailbox], |r| r.get(0))?;
    insert_event(
        c,
        &MailEvent {
            ts: now_millis(),
            kind: EventKind::Delivered,
            message_id: p.index.message_id.clone(),
            sender: Some(d.sender.clone()),
            recipient: Some(address),
            detail: format!("stored in {folder} as UID {uid}"),
            session: Some(d.session.clone()),
        },
    )?;
    Ok(Stored { mailbox, uid: uid as u32, modseq: modseq as u64 })
}

/// One more reference to the delivery's blob (creating its row).
fn add_blob_ref(c: &Connection, d: &Delivery, p: &Parsed) -> Result<()> {
    let (codec, data) = match &p.inline {
        Some((codec, data)) => (*codec, Some(data.as_slice())),
        None => (inline::STORED, None),
    };
    c.prepare_cached(
        "INSERT INTO blobs (hash, size, refcount, data, codec) VALUES (?1, ?2, 1, ?3, ?4)
         ON CONFLICT (hash) DO UPDATE SET refcount = refcount + 1",
    )?
    .execute(params![p.hash, d.raw.len() as i64, data, codec])?;
    Ok(())
}

/// Puts the message in the outbound queue for its remote recipients.
fn enqueue(c: &Connection, d: &Delivery, p: &Parsed) -> Result<i64> {
    add_blob_ref(c, d, p)?;
    let now = crate::now_secs();
    let id: i64 = c
        .prepare_cached(
            "INSERT INTO queue (blob, sender, created, envid, ret, session, sign_as)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        )?
        .query_row(params![p.hash, d.sender, now, d.dsn.envid, d.dsn.ret, d.session, d.sign_as], |r| r.get(0))?;
    for r in &d.remote {
        c.prepare_cached(
            "INSERT OR IGNORE INTO queue_recipients (queue_id, address, notify, orcpt, next_attempt)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![id, r.address, r.notify, r.orcpt, now])?;
        insert_event(
            c,
            &MailEvent {
                ts: now_millis(),
                kind: EventKind::Queued,
                message_id: p.index.message_id.clone(),
                sender: Some(d.sender.clone()),
                recipient: Some(r.address.clone()),
                detail: format!("queued for remote delivery as {id}"),
                session: Some(d.session.clone()),
            },
        )?;
    }
    Ok(id)
}

pub(crate) fn insert_event(c: &Connection, e: &MailEvent) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO mail_log (ts, kind, message_id, sender, recipient, detail, session)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![e.ts, e.kind.as_str(), e.message_id, e.sender, e.recipient, e.detail, e.session])?;
    Ok(())
}

fn in_savepoint<R>(c: &Connection, f: impl FnOnce() -> Result<R>) -> Result<R> {
    c.execute_batch("SAVEPOINT target")?;
    let out = f();
    match &out {
        Ok(_) => c.execute_batch("RELEASE target")?,
        Err(_) => c.execute_batch("ROLLBACK TO target; RELEASE target")?,
    }
    out
}

/// The columns of a [`MessageMeta`], for [`meta_from_row`].
const META_SELECT: &str =
    "SELECT uid, modseq, flags, keywords, internal_date, size, blob, prefix, internal_zone FROM messages";

fn meta_from_row(r: &rusqlite::Row) -> rusqlite::Result<MessageMeta> {
    let keywords: String = r.get(3)?;
    Ok(MessageMeta {
        uid: r.get::<_, i64>(0)? as u32,
        modseq: r.get::<_, i64>(1)? as u64,
        flags: Flags(r.get::<_, i64>(2)? as u8),
        keywords: keywords.split_whitespace().map(str::to_string).collect(),
        internal_date: r.get(4)?,
        internal_zone: r.get(8)?,
        size: r.get::<_, i64>(5)? as u64,
        blob: r.get(6)?,
        prefix: r.get(7)?,
    })
}

/// Runs `select` (rows of `mailbox`, its first column the UID) for just the
/// rows of `uids`, in UID order, and hands each to `f`: one range scan when
/// the UIDs lie close together (a FETCH range), one index lookup each when
/// they are scattered. The cost follows the request, never the mailbox.
fn for_each_uid_row(
    c: &Connection,
    select: &str,
    uid_column: &str,
    mailbox: MailboxId,
    uids: &[u32],
    mut f: impl FnMut(u32, &rusqlite::Row) -> Result<()>,
) -> Result<()> {
    let mut wanted: Vec<u32> = uids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let (Some(&lo), Some(&hi)) = (wanted.first(), wanted.last()) else { return Ok(()) };
    let span = (hi - lo) as usize + 1;
    if span <= 2 * wanted.len() + 64 {
        let mut st = c.prepare_cached(&format!("{select} AND {uid_column} BETWEEN ?2 AND ?3 ORDER BY {uid_column}"))?;
        let mut rows = st.query(params![mailbox, lo, hi])?;
        while let Some(r) = rows.next()? {
            let uid = r.get::<_, i64>(0)? as u32;
            if wanted.binary_search(&uid).is_ok() {
                f(uid, r)?;
            }
        }
    } else {
        let mut st = c.prepare_cached(&format!("{select} AND {uid_column} = ?2"))?;
        for uid in wanted {
            let mut rows = st.query(params![mailbox, uid])?;
            if let Some(r) = rows.next()? {
                f(uid, r)?;
            }
        }
    }
    Ok(())
}

impl SqliteStore {
    /// SEARCH of one header field from the decoded text kept per message
    /// (and cached per mailbox); None when some message has none.
    async fn search_headers(&self, mailbox: MailboxId, field: &str, needle: &str) -> Result<Option<Vec<u32>>> {
        let (field, needle) = (field.to_string(), needle.to_lowercase());
        let cache = self.header_cache.clone();
        self.read(move |c| {
            // One snapshot for the counters and the rows read to catch up.
            let tx = c.unchecked_transaction()?;
            let (uidvalidity, uidnext, messages) = found(
                tx.prepare_cached("SELECT uidvalidity, uidnext, messages FROM mailboxes WHERE id = ?1")?
                    .query_row([mailbox], |r| {
                        Ok((r.get::<_, u32>(0)?, r.get::<_, u32>(1)?, r.get::<_, i64>(2)? as usize))
                    }),
                || format!("mailbox {mailbox}"),
            )?;
            let entry = cache.entry(mailbox, uidvalidity);
            let mut headers = entry.lock().unwrap_or_else(|e| e.into_inner());
            if headers.uidvalidity != uidvalidity {
                *headers = MailboxHeaders::new(uidvalidity);
            }
            if headers.uidnext < uidnext {
                let Some(rows) = header_rows(&tx, mailbox, headers.uidnext)? else {
                    // Rows stored before migration 4 have no decoded text.
                    drop(headers);
                    cache.forget(mailbox);
                    return Ok(None);
                };
                headers.append(rows);
                headers.uidnext = uidnext;
            }
            if headers.len() != messages {
                let mut st = tx.prepare_cached("SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid")?;
                let present = st.query_map([mailbox], |r| r.get::<_, u32>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
                headers.retain(&present);
            }
            let hits = headers.search(&field, &needle);
            let bytes = headers.bytes();
            drop(headers);
            cache.settle(mailbox, bytes);
            Ok(hits)
        })
        .await
    }

    /// Off the runtime and outside the write lock: writes and fsyncs the
    /// blob, and parses the message once.
    async fn prepare(&self, raw: Arc<Vec<u8>>) -> Result<Parsed> {
        let blobs = self.blobs.clone();
        tokio::task::spawn_blocking(move || -> Result<_> {
            let (hash, inline) = if raw.len() <= INLINE_MAX {
                let (codec, data) = inline::pack(&raw);
                (BlobStore::hash(&raw), Some((codec, data.into_owned())))
            } else {
                (blobs.write(&raw)?.hash, None)
            };
            Ok(Parsed { hash, inline, index: Indexed::of(&raw)? })
        })
        .await
        .map_err(|e| StoreError::Backend(format!("delivery task failed: {e}")))?
    }
}

#[async_trait]
impl MailStore for SqliteStore {
    async fn mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>> {
        self.read(move |c| {
            let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ?1 ORDER BY name");
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map([account], mailbox_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn mailbox(&self, id: MailboxId) -> Result<Option<Mailbox>> {
        self.read(move |c| {
            let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?1");
            Ok(c.prepare_cached(&sql)?.query_row([id], mailbox_from_row).optional()?)
        })
        .await
    }

    async fn create_mailbox(&self, account: AccountId, name: &str) -> Result<Mailbox> {
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(format!("{name:?} is not a valid mailbox name")));
        }
        let name = name.to_string();
        self.writer
            .write(move |c| {
                let Some(id) = insert_mailbox(c, account, &name, None)? else {
                    return Err(StoreError::Conflict(format!("mailbox {name} already exists")));
                };
                let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?1");
                Ok(c.query_row(&sql, [id], mailbox_from_row)?)
            })
            .await
            .inspect(|_| self.notifier.publish_account(account))
    }

    async fn deliver(&self, delivery: Delivery) -> Result<DeliveryOutcome> {
        if delivery.targets.is_empty() && delivery.remote.is_empty() {
            return Ok(DeliveryOutcome { stored: Vec::new(), queued: None });
        }
        let parsed = self.prepare(delivery.raw.clone()).await?;

        let blobs = self.blobs.clone();
        let d = Arc::new(delivery);
        let job_d = d.clone();
        let results = self
            .writer
            .write(move |c| {
                if job_d.raw.len() > INLINE_MAX {
                    ensure_blob(c, &blobs, &parsed.hash, &job_d.raw)?;
                }
                let results: Vec<Result<Stored>> =
                    job_d.targets.iter().map(|t| in_savepoint(c, || store_one(c, &job_d, &parsed, t))).collect();
                let queued = if job_d.remote.is_empty() { None } else { Some(enqueue(c, &job_d, &parsed)?) };
                if queued.is_none() && results.iter().all(|r| r.is_err()) {
                    // Nothing references the blob we may have written.
                    c.execute(
                        "INSERT OR IGNORE INTO blob_trash (hash) SELECT ?1 WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE hash = ?1)",
                        [&parsed.hash],
                    )?;
                }
                Ok(DeliveryOutcome { stored: results, queued })
            })
            .await?;
        if results.queued.is_some() {
            self.queue_signal.notify_one();
        }
        for s in results.stored.iter().flatten() {
            self.notifier.publish(s.mailbox, MailboxChange::Appended { uid: s.uid, modseq: s.modseq });
        }
        Ok(results)
    }

    async fn deliver_all(&self, deliveries: Vec<Delivery>) -> Result<Vec<Stored>> {
        let mut prepared = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            let parsed = self.prepare(d.raw.clone()).await?;
            prepared.push((d, parsed));
        }
        let blobs = self.blobs.clone();
        // One job: an error anywhere rolls every message back (the writer
        // runs each job in a savepoint). Blob files written for it are left
        // for `recover` to remove.
        let stored = self
            .writer
            .write(move |c| {
                let mut out = Vec::new();
                for (d, p) in &prepared {
                    if d.raw.len() > INLINE_MAX {
                        ensure_blob(c, &blobs, &p.hash, &d.raw)?;
                    }
                    for t in &d.targets {
                        if find_mailbox(c, t.account, &t.mailbox)?.is_none() {
                            return Err(StoreError::NotFound("the mailbox no longer exists".into()));
                        }
                        out.push(store_one(c, d, p, t)?);
                    }
                }
                Ok(out)
            })
            .await?;
        for s in &stored {
            self.notifier.publish(s.mailbox, MailboxChange::Appended { uid: s.uid, modseq: s.modseq });
        }
        Ok(stored)
    }

    async fn queue_summary(&self) -> Result<(u64, Option<i64>)> {
        self.read(|c| {
            let (n, oldest): (i64, Option<i64>) =
                c.query_row("SELECT count(*), min(created) FROM queue", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok((n as u64, oldest))
        })
        .await
    }

    async fn queued(&self) -> Result<Vec<QueuedMessage>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT q.id, q.sender, b.size, q.created, r.address, r.status, r.attempts, r.next_attempt, r.last_error
                 FROM queue q JOIN blobs b ON b.hash = q.blob JOIN queue_recipients r ON r.queue_id = q.id
                 ORDER BY q.id, r.address",
            )?;
            let mut out: Vec<QueuedMessage> = Vec::new();
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                let rcpt = QueuedRecipient {
                    address: r.get(4)?,
                    status: r.get(5)?,
                    attempts: r.get::<_, i64>(6)? as u32,
                    next_attempt: r.get(7)?,
                    last_error: r.get(8)?,
                };
                match out.last_mut() {
                    Some(m) if m.id == id => m.recipients.push(rcpt),
                    _ => out.push(QueuedMessage {
                        id,
                        sender: r.get(1)?,
                        size: r.get::<_, i64>(2)? as u64,
                        created: r.get(3)?,
                        recipients: vec![rcpt],
                    }),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn retry_queued(&self, id: Option<i64>, now: i64) -> Result<u64> {
        self.writer
            .write(move |c| {
                if let Some(id) = id {
                    super::found(
                        c.query_row("SELECT id FROM queue WHERE id = ?1", [id], |r| r.get::<_, i64>(0)),
                        || format!("no queued message {id}"),
                    )?;
                }
                let n = c.execute(
                    "UPDATE queue_recipients SET next_attempt = ?2
                     WHERE status = 'pending' AND (?1 IS NULL OR queue_id = ?1)",
                    params![id, now],
                )?;
                Ok(n as u64)
            })
            .await
            .inspect(|_| self.queue_signal.notify_one())
    }

    async fn del_queued(&self, id: i64) -> Result<()> {
        self.writer
            .write(move |c| {
                let blob: String =
                    super::found(c.query_row("SELECT blob FROM queue WHERE id = ?1", [id], |r| r.get(0)), || {
                        format!("no queued message {id}")
                    })?;
                c.execute("DELETE FROM queue_recipients WHERE queue_id = ?1", [id])?;
                c.execute("DELETE FROM queue WHERE id = ?1", [id])?;
                release_blob_counts(c, &[(blob, 1)])
            })
            .await
    }

    async fn messages(&self, mailbox: MailboxId) -> Result<Vec<MessageMeta>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!("{META_SELECT} WHERE mailbox_id = ?1 ORDER BY uid"))?;
            let rows = st.query_map([mailbox], meta_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn messages_changed(&self, mailbox: MailboxId, uids: &[u32], from: Option<u32>) -> Result<Vec<MessageMeta>> {
        let uids = uids.to_vec();
        self.read(move |c| {
            let mut out = Vec::new();
            for_each_uid_row(c, &format!("{META_SELECT} WHERE mailbox_id = ?1"), "uid", mailbox, &uids, |_, r| {
                out.push(meta_from_row(r)?);
                Ok(())
            })?;
            if let Some(from) = from {
                let mut st =
                    c.prepare_cached(&format!("{META_SELECT} WHERE mailbox_id = ?1 AND uid >= ?2 ORDER BY uid"))?;
                let rows = st.query_map(params![mailbox, from], meta_from_row)?;
                for m in rows {
                    out.push(m?);
                }
            }
            out.sort_by_key(|m| m.uid);
            out.dedup_by_key(|m| m.uid);
            Ok(out)
        })
        .await
    }

    async fn structure(&self, mailbox: MailboxId, uid: u32) -> Result<(Envelope, BodyPart)> {
        let blobs = self.blobs.clone();
        self.read(move |c| {
            let row: StructureRow = found(
                c.query_row(
                    "SELECT envelope, structure, length(prefix), blob FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
                    params![mailbox, uid],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                ),
                || format!("no message with UID {uid}"),
            )?;
            decode_structure(c, &blobs, (mailbox, uid), row)
        })
        .await
    }

    async fn structures(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
    ) -> Result<std::collections::HashMap<u32, (Envelope, BodyPart)>> {
        let uids = uids.to_vec();
        let blobs = self.blobs.clone();
        self.read(move |c| {
            let mut out = std::collections::HashMap::with_capacity(uids.len());
            let select = "SELECT uid, envelope, structure, length(prefix), blob FROM messages WHERE mailbox_id = ?1";
            for_each_uid_row(c, select, "uid", mailbox, &uids, |uid, r| {
                let row = (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
                // One damaged message (structure and bytes both unreadable)
                // is left out; the range is still answered.
                match decode_structure(c, &blobs, (mailbox, uid), row) {
                    Ok(structure) => drop(out.insert(uid, structure)),
                    Err(e) => tracing::error!(mailbox, uid, error = %e, "message unreadable; left out of the answer"),
                }
                Ok(())
            })?;
            Ok(out)
        })
        .await
    }

    async fn envelopes_of(&self, mailbox: MailboxId, uids: &[u32]) -> Result<std::collections::HashMap<u32, Envelope>> {
        let uids = uids.to_vec();
        self.read(move |c| {
            let mut out = std::collections::HashMap::with_capacity(uids.len());
            let select = "SELECT uid, envelope FROM messages WHERE mailbox_id = ?1";
            for_each_uid_row(c, select, "uid", mailbox, &uids, |uid, r| {
                // One damaged envelope is left out (logged); the SORT or
                // THREAD is still answered.
                match stored_envelope::decode(&r.get::<_, EnvelopeBytes>(1)?.0) {
                    Ok(env) => drop(out.insert(uid, env)),
                    Err(e) => tracing::error!(mailbox, uid, error = %e, "stored envelope unreadable; left out"),
                }
                Ok(())
            })?;
            Ok(out)
        })
        .await
    }

    async fn sorted_uids(&self, mailbox: MailboxId, criteria: &[crate::sort_keys::SortCriterion]) -> Result<Vec<u32>> {
        self.sorted(mailbox, criteria).await
    }

    async fn thread_keys(&self, mailbox: MailboxId) -> Result<Vec<(u32, crate::sort_keys::ThreadKeys)>> {
        self.threading_keys(mailbox).await
    }

    async fn read_messages(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>> {
        let uids = uids.to_vec();
        let blobs = self.blobs.clone();
        self.read(move |c| {
            let mut out = Vec::with_capacity(uids.len());
            let select = format!(
                "SELECT m.uid, {MESSAGE_BYTES} FROM messages m JOIN blobs b ON b.hash = m.blob WHERE m.mailbox_id = ?1"
            );
            for_each_uid_row(c, &select, "m.uid", mailbox, &uids, |uid, r| {
                out.push((uid, message_bytes(&blobs, r, 1)??));
                Ok(())
            })?;
            Ok(out)
        })
        .await
    }

    async fn read_blob(&self, hash: &str) -> Result<Vec<u8>> {
        let blobs = self.blobs.clone();
        let hash = hash.to_string();
        self.read(move |c| blob_bytes(c, &blobs, &hash)).await
    }

    async fn set_flags(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        flags: Flags,
        keywords: &[String],
        mode: FlagMode,
    ) -> Result<u64> {
        let uids = uids.to_vec();
        let keywords = keywords.to_vec();
        let (modseq, changed) = self
            .writer
            .write(move |c| {
                let mut updates = Vec::new();
                let (mut unseen_delta, mut deleted_delta) = (0i64, 0i64);
                let in_junk = super::filter_data::is_junk(c, mailbox)?;
                for uid in uids {
                    let row: Option<(i64, String)> = c
                        .prepare_cached("SELECT flags, keywords FROM messages WHERE mailbox_id = ?1 AND uid = ?2")?
                        .query_row(params![mailbox, uid], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    let Some((old_flags, old_kw)) = row else { continue };
                    let old_kw: Vec<String> = old_kw.split_whitespace().map(str::to_string).collect();
                    let (new, new_kw) = merge_flags(Flags(old_flags as u8), &old_kw, flags, &keywords, mode);
                    // A client marking junk ($Junk) or not junk ($NotJunk)
                    // teaches the classifier (RFC 5788 keywords).
                    let newly = |k: &str| {
                        new_kw.iter().any(|x| x.eq_ignore_ascii_case(k))
                            && !old_kw.iter().any(|x| x.eq_ignore_ascii_case(k))
                    };
                    // Only where it means a change of mind: $Junk outside the
                    // Junk folder, $NotJunk inside it (clients that tag every
                    // message they classify must not teach the server its own
                    // verdicts).
                    if newly("$Junk") && !in_junk {
                        super::filter_data::queue_learning(c, mailbox, &[uid], true)?;
                    } else if newly("$NotJunk") && in_junk {
                        super::filter_data::queue_learning(c, mailbox, &[uid], false)?;
                    }
                    if new.0 != old_flags as u8 || new_kw != old_kw {
                        let (ou, od) = Flags(old_flags as u8).counts();
                        let (nu, nd) = new.counts();
                        unseen_delta += nu - ou;
                        deleted_delta += nd - od;
                        updates.push((uid, new, new_kw.join(" ")));
                    }
                }
                if updates.is_empty() {
                    return Ok((current_modseq(c, mailbox)?, Vec::new()));
                }
                let modseq = next_modseq(c, mailbox)?;
                c.prepare_cached("UPDATE mailboxes SET unseen = unseen + ?2, deleted = deleted + ?3 WHERE id = ?1")?
                    .execute(params![mailbox, unseen_delta, deleted_delta])?;
                for (uid, new, kw) in &updates {
                    c.prepare_cached(
                        "UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5 WHERE mailbox_id = ?1 AND uid = ?2",
                    )?
                    .execute(params![mailbox, uid, new.0, kw, modseq as i64])?;
                }
                Ok((modseq, updates.into_iter().map(|(uid, _, _)| uid).collect()))
            })
            .await?;
        if !changed.is_empty() {
            self.notifier.publish(mailbox, MailboxChange::FlagsChanged { uids: changed, modseq });
        }
        Ok(modseq)
    }

    async fn expunge(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<u32>> {
        let uids = uids.to_vec();
        let (removed, modseq) = self.writer.write(move |c| expunge_uids(c, mailbox, &uids)).await?;
        if !removed.is_empty() {
            self.notifier.publish(mailbox, MailboxChange::Expunged { uids: removed.clone(), modseq });
        }
        Ok(removed)
    }

    async fn header_search(&self, mailbox: MailboxId, field: &str, needle: &str) -> Result<Option<Vec<u32>>> {
        if !header_cache::FIELDS.contains(&field) {
            return Ok(None);
        }
        match self.search_headers(mailbox, field, needle).await? {
            Some(hits) => Ok(Some(hits)),
            // Messages without their header text: computed once, then the
            // search is answered from it (None again only if some message
            // cannot be read).
            None if self.fill_search_text(mailbox).await? > 0 => self.search_headers(mailbox, field, needle).await,
            None => Ok(None),
        }
    }

    async fn claim_recent(&self, mailbox: MailboxId) -> Result<(u32, u32)> {
        self.writer
            .write(move |c| {
                let (first, next): (i64, i64) = found(
                    c.query_row("SELECT recent_uid, uidnext FROM mailboxes WHERE id = ?1", [mailbox], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    }),
                    || format!("mailbox {mailbox}"),
                )?;
                if first < next {
                    c.execute("UPDATE mailboxes SET recent_uid = ?2 WHERE id = ?1", params![mailbox, next])?;
                }
                Ok((first as u32, next as u32))
            })
            .await
    }

    async fn vanished_since(&self, mailbox: MailboxId, modseq: u64) -> Result<Vec<u32>> {
        self.read(move |c| {
            let mut st =
                c.prepare_cached("SELECT uid FROM vanished WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid")?;
            let rows = st.query_map(params![mailbox, modseq as i64], |r| r.get::<_, i64>(0).map(|u| u as u32))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    fn watch(&self, mailbox: MailboxId) -> broadcast::Receiver<MailboxChange> {
        self.notifier.subscribe(mailbox)
    }

    fn watch_account(&self, account: AccountId) -> broadcast::Receiver<()> {
        self.notifier.subscribe_account(account)
    }
}

#[async_trait]
impl MailLog for SqliteStore {
    async fn record(&self, event: MailEvent) -> Result<()> {
        self.writer.write(move |c| insert_event(c, &event)).await
    }

    async fn events(&self, q: EventQuery) -> Result<Vec<MailEvent>> {
        self.read(move |c| {
            let limit = if q.limit == 0 { 1000 } else { q.limit } as i64;
            let order = if q.newest { "DESC" } else { "ASC" };
            let mut st = c.prepare(&format!(
                "SELECT ts, kind, message_id, sender, recipient, detail, session FROM mail_log
                 WHERE (?1 IS NULL OR message_id = ?1) AND (?2 IS NULL OR sender = ?2 COLLATE NOCASE)
                   AND (?3 IS NULL OR recipient = ?3 COLLATE NOCASE) AND (?4 IS NULL OR session = ?4)
                   AND (?5 IS NULL OR ts >= ?5) AND (?6 IS NULL OR kind = ?6)
                 ORDER BY id {order} LIMIT ?7"
            ))?;
            let kind = q.kind.map(|k| k.as_str());
            let rows =
                st.query_map(params![q.message_id, q.sender, q.recipient, q.session, q.since, kind, limit], |r| {
                    let kind: String = r.get(1)?;
                    Ok(MailEvent {
                        ts: r.get(0)?,
                        kind: EventKind::parse(&kind).unwrap_or(EventKind::Received),
                        message_id: r.get(2)?,
                        sender: r.get(3)?,
                        recipient: r.get(4)?,
                        detail: r.get(5)?,
                        session: r.get(6)?,
                    })
                })?;
            let mut events: Vec<MailEvent> = rows.collect::<rusqlite::Result<_>>()?;
            if q.newest {
                events.reverse();
            }
            Ok(events)
        })
        .await
    }
}

/// Decoded header text of the messages of `mailbox` from UID `from` on, or
/// None if one of them has none (stored before migration 4).
/// A blob's bytes, kept in its row (small ones) or in its file.
fn blob_bytes(c: &Connection, blobs: &BlobStore, hash: &str) -> Result<Vec<u8>> {
    let row: Option<StoredBody> = c
        .prepare_cached("SELECT data, codec, size FROM blobs WHERE hash = ?1")?
        .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    match row {
        Some(row) => stored_body(blobs, hash, row),
        None => Err(StoreError::NotFound("no such message data".into())),
    }
}

/// A `blobs` row's `data`, `codec` and `size`.
pub(crate) type StoredBody = (Option<Vec<u8>>, i64, i64);

/// The bytes of a blob from its row: inflated from the row, or read from its
/// file when the row holds none.
pub(crate) fn stored_body(blobs: &BlobStore, hash: &str, (data, codec, size): StoredBody) -> Result<Vec<u8>> {
    match data {
        Some(data) => inline::unpack(hash, codec, data, size),
        None => blobs.read(hash).map_err(|e| StoreError::Backend(format!("blob {hash}: {e}"))),
    }
}

/// The columns `message_bytes` reads, from `messages m` joined with
/// `blobs b` on the blob's hash.
pub(crate) const MESSAGE_BYTES: &str = "m.prefix, m.blob, b.data, b.codec, b.size";

/// A message's bytes, its own header prefix then its body, from the
/// `MESSAGE_BYTES` columns starting at `at`. The outer error is the query's,
/// the inner one a body that cannot be read (left to the caller: skipped or
/// fatal). A missing `blobs` row (LEFT JOIN) reads as a body in a file.
pub(crate) fn message_bytes(blobs: &BlobStore, r: &rusqlite::Row, at: usize) -> Result<Result<Vec<u8>>> {
    let mut raw: Vec<u8> = r.get(at)?;
    let hash: String = r.get(at + 1)?;
    let row =
        (r.get(at + 2)?, r.get::<_, Option<i64>>(at + 3)?.unwrap_or(0), r.get::<_, Option<i64>>(at + 4)?.unwrap_or(0));
    Ok(stored_body(blobs, &hash, row).map(|body| {
        raw.extend_from_slice(&body);
        raw
    }))
}

/// A message row's stored envelope and structure (JSON), the length of its
/// own header prefix, and its body blob.
type StructureRow = (EnvelopeBytes, String, i64, String);

/// A stored envelope: a BLOB (`stored_envelope`), or TEXT (JSON) as older
/// versions wrote it.
pub(crate) struct EnvelopeBytes(pub Vec<u8>);

impl rusqlite::types::FromSql for EnvelopeBytes {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        Ok(EnvelopeBytes(value.as_bytes()?.to_vec()))
    }
}

/// Reads a message's stored envelope and structure. One whose stored form
/// cannot be read (written before the MIME depth limit, or damaged) is
/// analyzed again from its bytes, so one message never makes a FETCH of a
/// whole range fail; `store check` lists such messages.
fn decode_structure(
    c: &Connection,
    blobs: &BlobStore,
    (mailbox, uid): (MailboxId, u32),
    (env, body, prefix_len, blob): StructureRow,
) -> Result<(Envelope, BodyPart)> {
    let (env, mut body) = match decode_stored(&env.0, &body) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(mailbox, uid, error = %e, "stored structure unreadable; analyzing the message again");
            mime::analyze(&blob_bytes(c, blobs, &blob)?)
        }
    };
    // The structure was computed on the shared body; this copy's own header
    // lines come first.
    body.shift(prefix_len as u64);
    Ok((env, body))
}

fn header_rows(c: &Connection, mailbox: MailboxId, from: u32) -> Result<Option<Vec<HeaderRow>>> {
    let mut st = c.prepare_cached(
        "SELECT uid, s_subject, s_from, s_to, s_cc, s_bcc FROM messages
         WHERE mailbox_id = ?1 AND uid >= ?2 ORDER BY uid",
    )?;
    let mut rows = st.query(params![mailbox, from])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut fields: [String; 5] = Default::default();
        for (i, f) in fields.iter_mut().enumerate() {
            match r.get::<_, Option<String>>(i + 1)? {
                Some(text) => *f = text,
                None => return Ok(None),
            }
        }
        out.push(HeaderRow { uid: r.get(0)?, fields });
    }
    Ok(Some(out))
}
