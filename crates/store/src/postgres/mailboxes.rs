//! What several trait implementations share about mailboxes, counters and
//! blob references, all inside the caller's transaction.
//!
//! Lock order, so that two nodes never wait on each other in a cycle (which
//! PostgreSQL would break by aborting one): mailbox rows (by id, ascending),
//! then account rows, then blob rows. A transaction that changes a
//! mailbox's messages locks that mailbox row first ([`lock_mailbox`] or
//! [`next_modseq`]), which also serializes UID and MODSEQ allocation across
//! nodes.

use tokio_postgres::{GenericClient, Row};

use crate::{AccountId, Flags, Mailbox, MailboxId, Result, SpecialUse, StoreError};

pub(crate) const MAILBOX_COLUMNS: &str = "id, account_id, name, special_use, uidvalidity, uidnext, highestmodseq,
     EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name),
     messages, size, unseen, deleted, recent_uid,
     (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id AND m.uid >= mailboxes.recent_uid)";

pub(crate) fn mailbox_from_row(r: &Row) -> Mailbox {
    Mailbox {
        id: r.get(0),
        account: r.get(1),
        name: r.get(2),
        special_use: r.get::<_, Option<String>>(3).as_deref().and_then(SpecialUse::from_name),
        uidvalidity: r.get::<_, i64>(4) as u32,
        uidnext: r.get::<_, i64>(5) as u32,
        highestmodseq: r.get::<_, i64>(6) as u64,
        subscribed: r.get(7),
        messages: r.get::<_, i64>(8) as u32,
        size: r.get::<_, i64>(9) as u64,
        unseen: r.get::<_, i64>(10) as u32,
        deleted: r.get::<_, i64>(11) as u32,
        first_recent: r.get::<_, i64>(12) as u32,
        recent: r.get::<_, i64>(13) as u32,
    }
}

/// One mailbox by id, None once deleted.
pub(crate) async fn load_mailbox(c: &impl GenericClient, id: MailboxId) -> Result<Option<Mailbox>> {
    let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = $1");
    Ok(c.query_opt(&sql, &[&id]).await?.as_ref().map(mailbox_from_row))
}

/// Creates a mailbox (its id from a sequence: never given twice) with a new
/// UIDVALIDITY; `None` when the account already has one of that name.
pub(crate) async fn insert_mailbox(
    c: &impl GenericClient,
    account: AccountId,
    name: &str,
    special_use: Option<&str>,
) -> Result<Option<MailboxId>> {
    let uidvalidity = next_uidvalidity(c, account).await?;
    let row = c
        .query_opt(
            "INSERT INTO mailboxes (account_id, name, special_use, uidvalidity) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING RETURNING id",
            &[&account, &name, &special_use, &i64::from(uidvalidity)],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// A UIDVALIDITY above every other the account ever had, so a mailbox
/// deleted and created again never reuses one (RFC 3501 §2.3.1.1). One
/// upsert: two nodes creating mailboxes at once get different values.
pub(crate) async fn next_uidvalidity(c: &impl GenericClient, account: AccountId) -> Result<u32> {
    // The time keeps values apart across a restore from backup.
    let floor = crate::now_secs() as u32 as i64;
    let next: i64 = c
        .query_one(
            "INSERT INTO serials (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = GREATEST(serials.value + 1, EXCLUDED.value)
             RETURNING value",
            &[&format!("uidvalidity:{account}"), &floor],
        )
        .await?
        .get(0);
    u32::try_from(next).map_err(|_| StoreError::Invalid("the account has run out of UIDVALIDITY values".into()))
}

/// Locks the mailbox row until the transaction ends (NotFound when gone).
pub(crate) async fn lock_mailbox(c: &impl GenericClient, mailbox: MailboxId) -> Result<()> {
    match c.query_opt("SELECT 1 FROM mailboxes WHERE id = $1 FOR UPDATE", &[&mailbox]).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound(format!("no mailbox {mailbox}"))),
    }
}

/// Raises the mailbox's HIGHESTMODSEQ and returns it (RFC 7162 §3.1.1); the
/// row stays locked until the transaction ends.
pub(crate) async fn next_modseq(c: &impl GenericClient, mailbox: MailboxId) -> Result<u64> {
    let row = c
        .query_opt(
            "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = $1 RETURNING highestmodseq",
            &[&mailbox],
        )
        .await?;
    match row {
        Some(r) => Ok(r.get::<_, i64>(0) as u64),
        None => Err(StoreError::NotFound(format!("no mailbox {mailbox}"))),
    }
}

/// Drops `n` references from each blob; a blob left with none is deleted
/// (its body with it: it lives in the row).
pub(crate) async fn release_blobs(c: &impl GenericClient, counts: &[(String, i64)]) -> Result<()> {
    for (hash, n) in counts {
        let left = c
            .query_opt("UPDATE blobs SET refcount = refcount - $2 WHERE hash = $1 RETURNING refcount", &[hash, n])
            .await?;
        if left.is_some_and(|r| r.get::<_, i64>(0) <= 0) {
            c.execute("DELETE FROM blobs WHERE hash = $1 AND refcount <= 0", &[hash]).await?;
        }
    }
    Ok(())
}

/// Removes `uids` from a mailbox inside the caller's transaction: counters,
/// quota, blob references and the QRESYNC `vanished` record. Returns the
/// UIDs that were there and the new modseq (0 when none was).
pub(crate) async fn expunge_uids(c: &impl GenericClient, mailbox: MailboxId, uids: &[u32]) -> Result<(Vec<u32>, u64)> {
    lock_mailbox(c, mailbox).await?;
    let wanted: Vec<i64> = uids.iter().map(|&u| i64::from(u)).collect();
    let rows = c
        .query(
            "DELETE FROM messages WHERE mailbox_id = $1 AND uid = ANY($2) RETURNING uid, blob, size, flags",
            &[&mailbox, &wanted],
        )
        .await?;
    if rows.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let mut removed = Vec::with_capacity(rows.len());
    let (mut freed, mut unseen, mut deleted) = (0i64, 0i64, 0i64);
    let mut blobs: std::collections::BTreeMap<String, i64> = Default::default();
    for r in &rows {
        removed.push(r.get::<_, i64>(0) as u32);
        *blobs.entry(r.get(1)).or_default() += 1;
        freed += r.get::<_, i64>(2);
        let (u, d) = Flags(r.get::<_, i64>(3) as u8).counts();
        unseen += u;
        deleted += d;
    }
    removed.sort_unstable();
    let modseq = next_modseq(c, mailbox).await?;
    c.execute(
        "UPDATE mailboxes SET messages = messages - $2, size = size - $3, unseen = unseen - $4, deleted = deleted - $5
         WHERE id = $1",
        &[&mailbox, &(removed.len() as i64), &freed, &unseen, &deleted],
    )
    .await?;
    c.execute(
        "UPDATE accounts SET used = used - $2 WHERE id = (SELECT account_id FROM mailboxes WHERE id = $1)",
        &[&mailbox, &freed],
    )
    .await?;
    c.execute("DELETE FROM sort_keys WHERE mailbox_id = $1 AND uid = ANY($2)", &[&mailbox, &wanted]).await?;
    c.execute(
        "INSERT INTO vanished (mailbox_id, uid, modseq) SELECT $1, u, $3 FROM unnest($2::bigint[]) AS u
         ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq",
        &[&mailbox, &removed.iter().map(|&u| i64::from(u)).collect::<Vec<_>>(), &(modseq as i64)],
    )
    .await?;
    release_blobs(c, &blobs.into_iter().collect::<Vec<_>>()).await?;
    Ok((removed, modseq))
}
