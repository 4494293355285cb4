//! The delivery worker's view of the outbound queue, shared by every node.
//!
//! Each node's worker takes due messages with a claim: `due()` picks them
//! with `FOR UPDATE SKIP LOCKED` and writes its node name and a lease end
//! into `queue.claimed_by` / `claimed_until` in the same statement, so two
//! nodes never attempt one recipient at the same time; `record_attempt`
//! clears the claim. A node that dies mid-attempt leaves its claims behind;
//! they lapse at the lease's end and another node takes the messages then.
//! Leases are read against the caller's clock (the worker's `now`): the
//! few seconds nodes' clocks may differ are nothing against a lease.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};

use super::mail::{execute, insert_events, query, query_opt};
use super::mailboxes::release_blobs;
use super::PgStore;
use crate::{Attempt, EventKind, JobRecipient, MailEvent, OutboundQueue, QueueJob, RecipientResult, Result};

/// How long a claim on a queued message lasts (seconds).
///
/// Longer than an attempt, or a second node would deliver the message again
/// while the first is still at it. The delivery worker (crates/delivery)
/// bounds one connection at 6 reply timeouts (transport.rs: 30 minutes
/// with the default `reply_timeout` of 5 minutes), and an attempt adds to
/// that its DNS and MTA-STS lookups (20 s at most), addresses that cannot
/// be reached (one `connect_timeout`, 60 s, each) and the retries of its
/// record (36 s). An hour covers that with room to spare; the claims of the
/// messages a worker is busy with are also renewed each time it looks at
/// the queue again (see [`renew_claims`]), which covers longer configured
/// timeouts while the worker has a free slot.
///
/// What it costs: the messages a node was attempting when it died wait up
/// to an hour before another node takes them, within the spacing of the
/// retry plan (RFC 5321 §4.5.4.1: 30 minutes or more once the first
/// attempts failed). A delivery made twice would be worse than a delay.
pub(crate) const CLAIM_LEASE: i64 = 3600;

#[async_trait]
impl OutboundQueue for PgStore {
    async fn due(&self, now: i64, limit: usize, busy: &[i64]) -> Result<Vec<QueueJob>> {
        let c = self.client().await?;
        renew_claims(&c, self.node(), now, busy).await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // One statement picks and claims: rows another node is claiming at
        // this instant are skipped (SKIP LOCKED), rows another node claimed
        // before are left out until their lease ends (the condition is
        // checked again on the row's newest version once it is locked).
        // This node's own claims are taken again unless busy: the worker
        // may have passed over a message it was given (no free slot).
        let claimed = query(
            &c,
            "WITH due AS (SELECT queue_id, min(next_attempt) AS at FROM queue_recipients
                          WHERE status = 'pending' AND next_attempt <= $1 GROUP BY queue_id),
             picked AS (SELECT q.id, due.at FROM queue q JOIN due ON due.queue_id = q.id
                        WHERE q.id <> ALL($2)
                          AND (q.claimed_by IS NULL OR q.claimed_by = $3 OR q.claimed_until <= $1)
                        ORDER BY due.at, q.id LIMIT $4 FOR UPDATE OF q SKIP LOCKED)
             UPDATE queue q SET claimed_by = $3, claimed_until = $1 + $5 FROM picked WHERE q.id = picked.id
             RETURNING q.id, q.sender, q.blob, q.created, q.envid, q.ret, q.notice_sent, q.sign_as, picked.at",
            &[&now, &busy, &self.node(), &limit, &CLAIM_LEASE],
        )
        .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let mut order: Vec<(i64, i64)> = claimed.iter().map(|r| (r.get(8), r.get(0))).collect();
        order.sort_unstable();
        let ids: Vec<i64> = order.iter().map(|(_, id)| *id).collect();
        let mut recipients = due_recipients(&c, &ids, now).await?;
        let mut jobs: HashMap<i64, QueueJob> = claimed
            .iter()
            .map(|r| {
                let id = r.get(0);
                let job = QueueJob {
                    id,
                    sender: r.get(1),
                    blob: r.get(2),
                    created: r.get(3),
                    envid: r.get(4),
                    ret: r.get(5),
                    delay_notice_sent: r.get(6),
                    sign_as: r.get(7),
                    recipients: recipients.remove(&id).unwrap_or_default(),
                };
                (id, job)
            })
            .collect();
        // Earliest due first; a message whose recipients went meanwhile
        // (`caravel queue del`) is left out.
        Ok(ids.iter().filter_map(|id| jobs.remove(id)).filter(|j| !j.recipients.is_empty()).collect())
    }

    async fn release(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let c = self.client().await?;
        execute(
            &c,
            "UPDATE queue SET claimed_by = NULL, claimed_until = 0 WHERE id = ANY($1) AND claimed_by = $2",
            &[&ids, &self.node()],
        )
        .await?;
        Ok(())
    }

    async fn next_due(&self) -> Result<Option<i64>> {
        // The earliest pending recipient of a message no other node holds
        // (along the (status, next_attempt) index: claims by others are
        // few), or the end of another node's claim if that comes first.
        let c = self.client().await?;
        let row = query_opt(
            &c,
            "SELECT least(
             (SELECT r.next_attempt FROM queue_recipients r JOIN queue q ON q.id = r.queue_id
              WHERE r.status = 'pending'
                AND NOT (q.claimed_by IS NOT NULL AND q.claimed_by <> $1 AND q.claimed_until > $2)
              ORDER BY r.next_attempt LIMIT 1),
             (SELECT min(greatest(r.next_attempt, q.claimed_until)) FROM queue q
              JOIN queue_recipients r ON r.queue_id = q.id
              WHERE q.claimed_by IS NOT NULL AND q.claimed_by <> $1 AND q.claimed_until > $2
                AND r.status = 'pending'))",
            &[&self.node(), &crate::now_secs()],
        )
        .await?;
        Ok(row.and_then(|r| r.get(0)))
    }

    async fn record_attempt(&self, attempt: Attempt) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        record(&tx, self.node(), &attempt).await?;
        tx.commit().await?;
        Ok(())
    }

    fn queue_signal(&self) -> Arc<tokio::sync::Notify> {
        self.queue_signal.clone()
    }
}

/// Extends this node's claims on the messages its worker is still busy
/// with (their attempt outlasting the lease must not hand them to another
/// node). Only claims past half their lease are written, so a worker
/// looking at the queue every few seconds rarely writes.
async fn renew_claims(c: &impl GenericClient, node: &str, now: i64, busy: &[i64]) -> Result<()> {
    if busy.is_empty() {
        return Ok(());
    }
    execute(
        c,
        "UPDATE queue SET claimed_until = $3::bigint + $4::bigint
         WHERE id = ANY($1) AND claimed_by = $2 AND claimed_until < $3::bigint + $4::bigint / 2",
        &[&busy, &node, &now, &CLAIM_LEASE],
    )
    .await?;
    Ok(())
}

/// The pending recipients due at `now` of each message, by address.
async fn due_recipients(c: &impl GenericClient, ids: &[i64], now: i64) -> Result<HashMap<i64, Vec<JobRecipient>>> {
    let rows = query(
        c,
        "SELECT queue_id, address, notify, orcpt, attempts FROM queue_recipients
         WHERE queue_id = ANY($1) AND status = 'pending' AND next_attempt <= $2 ORDER BY queue_id, address COLLATE \"C\"",
        &[&ids, &now],
    )
    .await?;
    let mut out: HashMap<i64, Vec<JobRecipient>> = HashMap::new();
    for r in rows {
        out.entry(r.get(0)).or_default().push(JobRecipient {
            address: r.get(1),
            notify: r.get(2),
            orcpt: r.get(3),
            attempts: r.get::<_, i64>(4) as u32,
        });
    }
    Ok(out)
}

/// One attempt's results, in the caller's transaction: delivered and failed
/// recipients leave, the others wait; the claim ends; a message with no
/// recipient left goes, and its body once unused.
async fn record(c: &Transaction<'_>, node: &str, a: &Attempt) -> Result<()> {
    // Locked first (queue row, then blob rows: the lock order of deletes).
    let row = query_opt(c, "SELECT sender FROM queue WHERE id = $1 FOR UPDATE", &[&a.queue_id]).await?;
    // Deleted by `caravel queue del` while the attempt ran.
    let Some(row) = row else { return Ok(()) };
    let sender: String = row.get(0);
    let mut done: Vec<&str> = Vec::new();
    let (mut later, mut at, mut errors): (Vec<&str>, Vec<i64>, Vec<&str>) = Default::default();
    let ts = crate::now_millis();
    let mut events = Vec::with_capacity(a.results.len());
    for (address, result) in &a.results {
        let (kind, detail) = match result {
            RecipientResult::Delivered { detail } => {
                done.push(address);
                (EventKind::Delivered, detail)
            }
            RecipientResult::Failed { error } => {
                done.push(address);
                (EventKind::Bounced, error)
            }
            RecipientResult::Retry { at: when, error } => {
                later.push(address);
                at.push(*when);
                errors.push(error);
                (EventKind::Deferred, error)
            }
        };
        events.push(MailEvent {
            ts,
            kind,
            message_id: a.message_id.clone(),
            sender: Some(sender.clone()),
            recipient: Some(address.clone()),
            detail: detail.clone(),
            session: Some(format!("queue {}", a.queue_id)),
        });
    }
    if !done.is_empty() {
        execute(c, "DELETE FROM queue_recipients WHERE queue_id = $1 AND address = ANY($2)", &[&a.queue_id, &done])
            .await?;
    }
    if !later.is_empty() {
        execute(
            c,
            "UPDATE queue_recipients r SET attempts = r.attempts + 1, next_attempt = u.at, last_error = u.error
             FROM unnest($2::text[], $3::bigint[], $4::text[]) AS u(address, at, error)
             WHERE r.queue_id = $1 AND r.address = u.address",
            &[&a.queue_id, &later, &at, &errors],
        )
        .await?;
    }
    insert_events(c, &events).await?;
    // The claim ends with the attempt, unless it lapsed and another node
    // holds the message now.
    execute(
        c,
        "UPDATE queue SET notice_sent = notice_sent OR $2,
           claimed_until = CASE WHEN claimed_by = $3 THEN 0 ELSE claimed_until END,
           claimed_by = CASE WHEN claimed_by = $3 THEN NULL ELSE claimed_by END
         WHERE id = $1",
        &[&a.queue_id, &a.delay_notice_sent, &node],
    )
    .await?;
    let gone = query_opt(
        c,
        "DELETE FROM queue WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM queue_recipients WHERE queue_id = $1)
         RETURNING blob",
        &[&a.queue_id],
    )
    .await?;
    if let Some(r) = gone {
        release_blobs(&**c, &[(r.get(0), 1)]).await?;
    }
    Ok(())
}
