//! SORT and THREAD keys in the `sort_keys` table (see [`crate::sort_keys`]):
//! written with each message, read as one ordered walk.
//!
//! A message stored before the table existed (or by a path that does not
//! write keys) has none; the first SORT or THREAD of its mailbox notices the
//! count differs from the mailbox's and computes the missing keys then, once.

use rusqlite::{params, Connection};

use super::mail::{message_bytes, EnvelopeBytes, MESSAGE_BYTES};
use super::{SqliteStore, CHUNK};
use crate::blobs::BlobStore;
use crate::indexing::{sort_column, sort_order_by};
use crate::model::MailboxId;
use crate::sort_keys::{SortCriterion, SortKeys, ThreadKeys};
use crate::Result;

/// Writes one message's keys. `date` is the sent date, or else the
/// INTERNALDATE (RFC 5256 §2.2).
pub(crate) fn insert_keys(
    c: &Connection,
    (mailbox, uid): (MailboxId, i64),
    keys: &SortKeys,
    internal_date: i64,
    size: i64,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO sort_keys (mailbox_id, uid, arrival, size, date, subject, reply, from_addr, to_addr,
                                           cc_addr, from_display, to_display, message_id, refs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        mailbox,
        uid,
        internal_date,
        size,
        keys.date.unwrap_or(internal_date),
        keys.subject,
        keys.reply,
        keys.from,
        keys.to,
        keys.cc,
        keys.display_from,
        keys.display_to,
        keys.message_id,
        keys.references.join(" "),
    ])?;
    Ok(())
}

/// A copy's keys are the original's (COPY, MOVE).
pub(crate) fn copy_keys(c: &Connection, from: (MailboxId, i64), to: (MailboxId, i64)) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO sort_keys (mailbox_id, uid, arrival, size, date, subject, reply, from_addr, to_addr,
                                           cc_addr, from_display, to_display, message_id, refs)
         SELECT ?3, ?4, arrival, size, date, subject, reply, from_addr, to_addr, cc_addr, from_display, to_display,
                message_id, refs
         FROM sort_keys WHERE mailbox_id = ?1 AND uid = ?2",
    )?
    .execute(params![from.0, from.1, to.0, to.1])?;
    Ok(())
}

impl SqliteStore {
    /// Computes the keys a mailbox's messages lack (stored before keys were,
    /// or copied without them) and drops keys of messages that are gone.
    pub(crate) async fn ensure_sort_keys(&self, mailbox: MailboxId) -> Result<()> {
        let complete = self
            .read(move |c| {
                let (messages, keyed): (i64, i64) = c
                    // The mailbox's message counter, kept with every change,
                    // rather than a count of its messages.
                    .prepare_cached(
                        "SELECT coalesce((SELECT messages FROM mailboxes WHERE id = ?1), 0),
                                (SELECT count(*) FROM sort_keys WHERE mailbox_id = ?1)",
                    )?
                    .query_row([mailbox], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(messages == keyed)
            })
            .await?;
        if complete {
            return Ok(());
        }
        // In chunks, each its own write transaction: on a large mailbox
        // stored before keys existed, deliveries go on between chunks
        // instead of waiting for the whole mailbox to be parsed.
        self.writer.write(move |c| drop_stale_keys(c, mailbox)).await?;
        let blobs = self.blobs.clone();
        let mut filled = 0;
        self.write_in_chunks(move |c, after| fill_keys(c, &blobs, mailbox, after), |n| filled += n).await?;
        if filled > 0 {
            tracing::info!(
                mailbox,
                messages = filled,
                "SORT and THREAD keys computed for messages stored without them"
            );
        }
        Ok(())
    }

    pub(crate) async fn sorted(&self, mailbox: MailboxId, criteria: &[SortCriterion]) -> Result<Vec<u32>> {
        self.ensure_sort_keys(mailbox).await?;
        if let [one] = criteria {
            return self.sorted_by_one(mailbox, *one).await;
        }
        let sql = format!("SELECT uid FROM sort_keys WHERE mailbox_id = ?1 ORDER BY {}", sort_order_by(criteria));
        self.read(move |c| {
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map([mailbox], |r| r.get::<_, i64>(0).map(|u| u as u32))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    /// One criterion, the usual SORT (DATE) or (REVERSE DATE): read in
    /// ascending order, which for DATE is a walk of the `sort_keys_date`
    /// index, and turned around here for REVERSE, with each run of equal
    /// keys put back in UID order (ties are never reversed, RFC 5256 §3).
    async fn sorted_by_one(&self, mailbox: MailboxId, criterion: SortCriterion) -> Result<Vec<u32>> {
        let column = sort_column(criterion.key);
        let sql = format!("SELECT uid, {column} FROM sort_keys WHERE mailbox_id = ?1 ORDER BY {column}, uid");
        let rows: Vec<(u32, rusqlite::types::Value)> = self
            .read(move |c| {
                let mut st = c.prepare_cached(&sql)?;
                let rows = st.query_map([mailbox], |r| Ok((r.get::<_, i64>(0)? as u32, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await?;
        Ok(if criterion.reverse { reverse_keeping_ties(rows) } else { rows.into_iter().map(|(uid, _)| uid).collect() })
    }

    pub(crate) async fn threading_keys(&self, mailbox: MailboxId) -> Result<Vec<(u32, ThreadKeys)>> {
        self.ensure_sort_keys(mailbox).await?;
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT uid, date, subject, reply, message_id, refs FROM sort_keys WHERE mailbox_id = ?1 ORDER BY uid",
            )?;
            let rows = st.query_map([mailbox], |r| {
                let refs: String = r.get(5)?;
                Ok((
                    r.get::<_, i64>(0)? as u32,
                    ThreadKeys {
                        date: r.get(1)?,
                        subject: r.get(2)?,
                        reply: r.get(3)?,
                        message_id: r.get(4)?,
                        references: refs.split_whitespace().map(str::to_string).collect(),
                    },
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }
}

/// `rows` in ascending key order (ties by UID) turned into descending key
/// order with ties still by UID.
fn reverse_keeping_ties<K: PartialEq>(mut rows: Vec<(u32, K)>) -> Vec<u32> {
    rows.reverse();
    let mut out = Vec::with_capacity(rows.len());
    for run in rows.chunk_by(|a, b| a.1 == b.1) {
        out.extend(run.iter().rev().map(|(uid, _)| *uid));
    }
    out
}

/// Drops the keys of messages that are gone.
fn drop_stale_keys(c: &Connection, mailbox: MailboxId) -> Result<()> {
    c.prepare_cached(
        "DELETE FROM sort_keys WHERE mailbox_id = ?1
           AND uid NOT IN (SELECT uid FROM messages WHERE mailbox_id = ?1)",
    )?
    .execute([mailbox])?;
    Ok(())
}

/// The missing keys of up to `CHUNK` messages of a mailbox with UIDs
/// above `after`, from each message's stored envelope and header. Returns
/// the last UID looked at (None when there are no more) and the number of
/// keys written.
fn fill_keys(c: &Connection, blobs: &BlobStore, mailbox: MailboxId, after: i64) -> Result<(Option<i64>, usize)> {
    let mut st = c.prepare_cached(&format!(
        "SELECT m.uid, m.envelope, m.internal_date, m.size,
                EXISTS (SELECT 1 FROM sort_keys k WHERE k.mailbox_id = m.mailbox_id AND k.uid = m.uid), {MESSAGE_BYTES}
         FROM messages m LEFT JOIN blobs b ON b.hash = m.blob
         WHERE m.mailbox_id = ?1 AND m.uid > ?2 ORDER BY m.uid LIMIT ?3"
    ))?;
    let mut rows = st.query(params![mailbox, after, CHUNK])?;
    let (mut last, mut filled) = (None, 0);
    while let Some(r) = rows.next()? {
        let uid: i64 = r.get(0)?;
        last = Some(uid);
        if r.get::<_, bool>(4)? {
            continue;
        }
        // A damaged envelope sorts as an empty one rather than failing SORT.
        let envelope = crate::stored_envelope::decode(&r.get::<_, EnvelopeBytes>(1)?.0).unwrap_or_default();
        let raw = match message_bytes(blobs, r, 5)? {
            Ok(raw) => raw,
            Err(e) => {
                tracing::warn!(mailbox, uid, error = %e, "message body unreadable; threaded without its references");
                r.get(5)?
            }
        };
        insert_keys(c, (mailbox, uid), &SortKeys::of(&envelope, &raw), r.get(2)?, r.get(3)?)?;
        filled += 1;
    }
    Ok((last, filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversing_keeps_ties_in_uid_order() {
        let rows = vec![(3, 1), (5, 1), (1, 2), (2, 4), (4, 4), (6, 4)];
        assert_eq!(reverse_keeping_ties(rows), [2, 4, 6, 1, 3, 5]);
        assert!(reverse_keeping_ties(Vec::<(u32, i64)>::new()).is_empty());
    }
}
