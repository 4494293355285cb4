//! The delivery worker's view of the outbound queue.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::mail::{insert_event, release_blob_counts};
use super::SqliteStore;
use crate::now_millis;
use crate::{Attempt, EventKind, JobRecipient, MailEvent, OutboundQueue, QueueJob, RecipientResult, Result};

#[async_trait]
impl OutboundQueue for SqliteStore {
    async fn due(&self, now: i64, limit: usize, busy: &[i64]) -> Result<Vec<QueueJob>> {
        // One read: the due messages (busy ones left out, the limit applied
        // in SQL along the (status, next_attempt) index), then each one.
        let busy = json_ids(busy);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT DISTINCT queue_id FROM queue_recipients
                 WHERE status = 'pending' AND next_attempt <= ?1
                   AND queue_id NOT IN (SELECT value FROM json_each(?2))
                 LIMIT ?3",
            )?;
            let ids: Vec<i64> =
                st.query_map(params![now, busy, limit], |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>()?;
            // A message deleted between the two statements is left out.
            ids.into_iter()
                .filter_map(|id| match job(c, id, now) {
                    Err(crate::StoreError::NotFound(_)) => None,
                    other => Some(other),
                })
                .collect()
        })
        .await
    }

    async fn next_due(&self) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(c.query_row("SELECT MIN(next_attempt) FROM queue_recipients WHERE status = 'pending'", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?)
        })
        .await
    }

    async fn record_attempt(&self, attempt: Attempt) -> Result<()> {
        self.writer.write(move |c| record(c, &attempt)).await
    }

    fn queue_signal(&self) -> Arc<tokio::sync::Notify> {
        self.queue_signal.clone()
    }
}

/// Message ids as a JSON array, for `json_each` in SQL.
fn json_ids(ids: &[i64]) -> String {
    format!("[{}]", ids.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(","))
}

fn job(c: &Connection, id: i64, now: i64) -> Result<QueueJob> {
    let row = c
        .prepare_cached("SELECT sender, blob, created, envid, ret, notice_sent, sign_as FROM queue WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)));
    type Row = (String, String, i64, Option<String>, Option<String>, i64, Option<String>);
    let (sender, blob, created, envid, ret, notice, sign_as): Row = match row {
        Ok(row) => row,
        Err(rusqlite::Error::QueryReturnedNoRows) => {
            return Err(crate::StoreError::NotFound(format!("queued message {id}")))
        }
        Err(e) => return Err(e.into()),
    };
    let mut st = c.prepare_cached(
        "SELECT address, notify, orcpt, attempts FROM queue_recipients
         WHERE queue_id = ?1 AND status = 'pending' AND next_attempt <= ?2 ORDER BY address",
    )?;
    let recipients = st
        .query_map(params![id, now], |r| {
            Ok(JobRecipient {
                address: r.get(0)?,
                notify: r.get(1)?,
                orcpt: r.get(2)?,
                attempts: r.get::<_, i64>(3)? as u32,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(QueueJob { id, sender, blob, created, envid, ret, delay_notice_sent: notice != 0, sign_as, recipients })
}

fn record(c: &Connection, a: &Attempt) -> Result<()> {
    let sender: Option<String> = match c.query_row("SELECT sender FROM queue WHERE id = ?1", [a.queue_id], |r| r.get(0))
    {
        Ok(s) => Some(s),
        // Deleted by `caravel queue del` while the attempt ran.
        Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for (address, result) in &a.results {
        let (kind, detail) = match result {
            RecipientResult::Delivered { detail } => {
                c.prepare_cached("DELETE FROM queue_recipients WHERE queue_id = ?1 AND address = ?2")?
                    .execute(params![a.queue_id, address])?;
                (EventKind::Delivered, detail.clone())
            }
            RecipientResult::Failed { error } => {
                c.prepare_cached("DELETE FROM queue_recipients WHERE queue_id = ?1 AND address = ?2")?
                    .execute(params![a.queue_id, address])?;
                (EventKind::Bounced, error.clone())
            }
            RecipientResult::Retry { at, error } => {
                c.prepare_cached(
                    "UPDATE queue_recipients SET attempts = attempts + 1, next_attempt = ?3, last_error = ?4
                     WHERE queue_id = ?1 AND address = ?2",
                )?
                .execute(params![a.queue_id, address, at, error])?;
                (EventKind::Deferred, error.clone())
            }
        };
        insert_event(
            c,
            &MailEvent {
                ts: now_millis(),
                kind,
                message_id: a.message_id.clone(),
                sender: sender.clone(),
                recipient: Some(address.clone()),
                detail,
                session: Some(format!("queue {}", a.queue_id)),
            },
        )?;
    }
    if a.delay_notice_sent {
        c.execute("UPDATE queue SET notice_sent = 1 WHERE id = ?1", [a.queue_id])?;
    }
    let left: i64 =
        c.query_row("SELECT COUNT(*) FROM queue_recipients WHERE queue_id = ?1", [a.queue_id], |r| r.get(0))?;
    if left == 0 {
        let blob: String = c.query_row("SELECT blob FROM queue WHERE id = ?1", [a.queue_id], |r| r.get(0))?;
        c.execute("DELETE FROM queue WHERE id = ?1", [a.queue_id])?;
        release_blob_counts(c, &[(blob, 1)])?;
    }
    Ok(())
}
