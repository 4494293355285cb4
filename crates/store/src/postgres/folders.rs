//! Mailbox rename, delete, subscriptions, URLAUTH keys, and copy/move of
//! messages, in PostgreSQL.
//!
//! Each change is one transaction that locks what it changes first, in the
//! order every transaction takes (mailbox rows by ascending id, then
//! account rows, then blob rows by hash): another node's delivery into a
//! mailbox being renamed, deleted or copied into waits for it, and sees the
//! result.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use deadpool_postgres::{GenericClient as CachedClient, Transaction};
use tokio_postgres::GenericClient;

use super::mail::{execute, query, query_one, query_opt, queue_learning};
use super::mailboxes::{expunge_uids, insert_mailbox, next_uidvalidity};
use super::{conflict, PgStore};
use crate::{AccountId, Flags, Folders, MailboxChange, MailboxId, Result, SpecialUse, StoreError};

/// The mailbox named `name` (`name` itself, or `name/...` with `children`),
/// locked in ascending id order; the named one first in the result.
async fn lock_tree(c: &impl GenericClient, account: AccountId, name: &str, children: bool) -> Result<Vec<MailboxId>> {
    let rows = c
        .query(
            "SELECT id, name = $2 FROM mailboxes
             WHERE account_id = $1 AND (name = $2 OR ($3 AND starts_with(name, $2 || '/')))
             ORDER BY id FOR UPDATE",
            &[&account, &name, &children],
        )
        .await?;
    let Some(named) = rows.iter().find(|r| r.get::<_, bool>(1)) else {
        return Err(StoreError::NotFound(format!("no mailbox {name}")));
    };
    let named: MailboxId = named.get(0);
    Ok(std::iter::once(named).chain(rows.iter().map(|r| r.get(0)).filter(|&id| id != named)).collect())
}

async fn exists(c: &impl GenericClient, account: AccountId, name: &str) -> Result<bool> {
    let row = c
        .query_one("SELECT EXISTS (SELECT 1 FROM mailboxes WHERE account_id = $1 AND name = $2)", &[&account, &name])
        .await?;
    Ok(row.get(0))
}

/// RFC 9051 §6.3.6: RENAME creates the superior names the new name needs.
async fn create_parents(c: &impl GenericClient, account: AccountId, name: &str) -> Result<()> {
    for (end, _) in name.match_indices('/') {
        let parent = &name[..end];
        // Checked first so that an existing parent costs no UIDVALIDITY; one
        // made meanwhile by another node is fine (the insert does nothing).
        if !exists(c, account, parent).await? {
            insert_mailbox(c, account, parent, None).await?;
        }
    }
    Ok(())
}

/// What a RENAME of INBOX took out of it, for its sessions.
struct Emptied {
    inbox: MailboxId,
    uids: Vec<u32>,
    modseq: u64,
}

async fn rename(c: &impl GenericClient, account: AccountId, from: &str, to: &str) -> Result<Option<Emptied>> {
    // The mailbox and the children that move with it (INBOX's stay), locked
    // until the commit: a delivery into any of them waits for the rename.
    let tree = lock_tree(c, account, from, from != "INBOX").await?;
    if exists(c, account, to).await? {
        return Err(StoreError::Conflict(format!("mailbox {to} already exists")));
    }
    if to.starts_with(&format!("{from}/")) {
        return Err(StoreError::Invalid(format!("{from} cannot be moved inside itself")));
    }
    // A child's new name may be taken too (from/x becomes to/x): refuse
    // before anything moves.
    let clash = c
        .query_opt(
            "SELECT t.name FROM mailboxes f JOIN mailboxes t ON t.account_id = f.account_id
               AND t.name = $3 || substr(f.name, length($2) + 1)
             WHERE f.account_id = $1 AND starts_with(f.name, $2) LIMIT 1",
            &[&account, &format!("{from}/"), &format!("{to}/")],
        )
        .await?;
    if let Some(row) = clash {
        return Err(StoreError::Conflict(format!("mailbox {} already exists", row.get::<_, String>(0))));
    }
    if from == "INBOX" {
        return rename_inbox(c, account, tree[0], to).await.map(Some);
    }
    // The mailbox and its children (from/x becomes to/x), and their
    // subscriptions; a subscription already under the new name is kept once.
    let renamed = "$3 || substr(name, length($2) + 1)";
    let matches = "account_id = $1 AND (name = $2 OR starts_with(name, $2 || '/'))";
    c.execute(&format!("UPDATE mailboxes SET name = {renamed} WHERE {matches}"), &[&account, &from, &to])
        .await
        .map_err(|e| conflict(e, || format!("a mailbox under {to} already exists")))?;
    c.execute(
        &format!(
            "INSERT INTO subscriptions (account_id, name) SELECT account_id, {renamed} FROM subscriptions
             WHERE {matches} ON CONFLICT DO NOTHING"
        ),
        &[&account, &from, &to],
    )
    .await?;
    c.execute(&format!("DELETE FROM subscriptions WHERE {matches}"), &[&account, &from]).await?;
    create_parents(c, account, to).await?;
    Ok(None)
}

/// RFC 9051 §6.3.6: renaming INBOX moves its messages to a new mailbox of
/// that name; INBOX stays, empty, with a new UIDVALIDITY (its UIDs now
/// name nothing).
async fn rename_inbox(c: &impl GenericClient, account: AccountId, inbox: MailboxId, to: &str) -> Result<Emptied> {
    let new_id = insert_mailbox(c, account, to, None)
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("mailbox {to} already exists")))?;
    create_parents(c, account, to).await?;
    let rows =
        c.query("UPDATE messages SET mailbox_id = $2 WHERE mailbox_id = $1 RETURNING uid", &[&inbox, &new_id]).await?;
    let mut uids: Vec<u32> = rows.iter().map(|r| r.get::<_, i64>(0) as u32).collect();
    uids.sort_unstable();
    c.execute("UPDATE sort_keys SET mailbox_id = $2 WHERE mailbox_id = $1", &[&inbox, &new_id]).await?;
    c.execute(
        "UPDATE mailboxes n SET (messages, size, uidnext, highestmodseq, unseen, deleted) =
           (SELECT messages, size, uidnext, highestmodseq, unseen, deleted FROM mailboxes WHERE id = $1)
         WHERE n.id = $2",
        &[&inbox, &new_id],
    )
    .await?;
    let uidvalidity = i64::from(next_uidvalidity(c, account).await?);
    let modseq: i64 = c
        .query_one(
            "UPDATE mailboxes SET messages = 0, size = 0, unseen = 0, deleted = 0, uidvalidity = $2 WHERE id = $1
             RETURNING highestmodseq",
            &[&inbox, &uidvalidity],
        )
        .await?
        .get(0);
    Ok(Emptied { inbox, uids, modseq: modseq as u64 })
}

/// What a copy did, for the sessions of both mailboxes.
#[derive(Default)]
struct Copied {
    /// (source UID, new UID, its MODSEQ)
    copies: Vec<(u32, u32, u64)>,
    /// The originals a MOVE removed, and the source's new MODSEQ.
    removed: Vec<u32>,
    src_modseq: u64,
}

/// One source message: (uid, size, flags, blob).
type Source = (i64, i64, Flags, String);

async fn copy(c: &Transaction<'_>, from: MailboxId, uids: &[u32], to: MailboxId, expunge: bool) -> Result<Copied> {
    // Both mailboxes locked, in ascending id order.
    let rows = query(
        c,
        "SELECT id, account_id, special_use FROM mailboxes WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        &[&vec![from, to]],
    )
    .await?;
    let boxes: HashMap<MailboxId, (AccountId, Option<String>)> =
        rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect();
    let Some((to_account, to_use)) = boxes.get(&to).cloned() else {
        return Err(StoreError::NotFound(format!("no mailbox {to}")));
    };
    // A source gone meanwhile has nothing to copy.
    let Some((from_account, from_use)) = boxes.get(&from).cloned() else { return Ok(Copied::default()) };
    let sources = sources(c, from, uids).await?;
    if sources.is_empty() {
        return Ok(Copied::default());
    }
    let total: i64 = sources.iter().map(|s| s.1).sum();
    // A move within one account does not grow it.
    let grows = !(expunge && from_account == to_account);
    check_quota(c, from_account, to_account, if grows { total } else { 0 }).await?;
    let copies = insert_copies(c, from, to, &sources).await?;
    execute(c, "UPDATE accounts SET used = used + $2 WHERE id = $1", &[&to_account, &total]).await?;
    add_blob_refs(c, &sources).await?;
    // A user moving mail into Junk says "spam"; out of Junk (but not to the
    // Trash), "not spam".
    let is = |role: &Option<String>, u: SpecialUse| role.as_deref() == Some(u.default_name());
    let (from_junk, to_junk) = (is(&from_use, SpecialUse::Junk), is(&to_use, SpecialUse::Junk));
    let verdict = if to_junk && !from_junk {
        Some(true)
    } else if from_junk && !to_junk && !is(&to_use, SpecialUse::Trash) {
        Some(false)
    } else {
        None
    };
    if let Some(spam) = verdict {
        let learn: Vec<(AccountId, &str, bool)> = sources.iter().map(|s| (to_account, s.3.as_str(), spam)).collect();
        queue_learning(c, &learn).await?;
    }
    let mut copied = Copied { copies, ..Copied::default() };
    if expunge {
        let moved: Vec<u32> = sources.iter().map(|s| s.0 as u32).collect();
        (copied.removed, copied.src_modseq) = expunge_uids(&**c, from, &moved).await?;
    }
    Ok(copied)
}

/// The messages of `uids` that are in the mailbox, in the order asked, each once.
async fn sources(c: &impl CachedClient, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<Source>> {
    let mut seen = HashSet::new();
    let wanted: Vec<i64> = uids.iter().map(|&u| i64::from(u)).filter(|u| seen.insert(*u)).collect();
    let sql = "SELECT uid, size, flags, blob FROM messages WHERE mailbox_id = $1 AND uid = ANY($2)";
    let rows = query(c, sql, &[&mailbox, &wanted]).await?;
    let mut found: HashMap<i64, Source> =
        rows.iter().map(|r| (r.get(0), (r.get(0), r.get(1), Flags(r.get::<_, i64>(2) as u8), r.get(3)))).collect();
    Ok(wanted.iter().filter_map(|u| found.remove(u)).collect())
}

/// Locks both accounts (ascending id) and refuses what would take the
/// destination's over its quota.
async fn check_quota(c: &impl CachedClient, from: AccountId, to: AccountId, grows: i64) -> Result<()> {
    let sql = "SELECT id, quota, used FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE";
    let rows = query(c, sql, &[&vec![from, to]]).await?;
    let Some(row) = rows.iter().find(|r| r.get::<_, i64>(0) == to) else {
        return Err(StoreError::NotFound(format!("no account {to}")));
    };
    let (quota, used): (Option<i64>, i64) = (row.get(1), row.get(2));
    match quota {
        Some(q) if grows > 0 && used + grows > q => Err(StoreError::OverQuota(format!("{used} of {q} bytes used"))),
        _ => Ok(()),
    }
}

/// The copies, with their sort keys and search text: every column of the
/// source row but its place. UIDs and MODSEQs come from one update of the
/// (locked) destination row, in the order of `sources`.
async fn insert_copies(
    c: &impl CachedClient,
    from: MailboxId,
    to: MailboxId,
    sources: &[Source],
) -> Result<Vec<(u32, u32, u64)>> {
    let n = sources.len() as i64;
    let (mut size, mut unseen, mut deleted) = (0i64, 0i64, 0i64);
    for s in sources {
        let (u, d) = s.2.counts();
        size += s.1;
        unseen += u;
        deleted += d;
    }
    let row = query_opt(
        c,
        "UPDATE mailboxes SET uidnext = uidnext + $2, highestmodseq = highestmodseq + $2,
           messages = messages + $2, size = size + $3, unseen = unseen + $4, deleted = deleted + $5
         WHERE id = $1 RETURNING uidnext - $2, highestmodseq - $2",
        &[&to, &n, &size, &unseen, &deleted],
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("no mailbox {to}")))?;
    let (first_uid, base_modseq): (i64, i64) = (row.get(0), row.get(1));
    let src: Vec<i64> = sources.iter().map(|s| s.0).collect();
    let uid: Vec<i64> = (0..n).map(|i| first_uid + i).collect();
    let modseq: Vec<i64> = (0..n).map(|i| base_modseq + 1 + i).collect();
    execute(
        c,
        "INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, internal_zone, size, blob,
                               prefix, envelope, structure, s_subject, s_from, s_to, s_cc, s_bcc)
         SELECT $1, u.uid, u.modseq, m.flags, m.keywords, m.internal_date, m.internal_zone, m.size, m.blob,
                m.prefix, m.envelope, m.structure, m.s_subject, m.s_from, m.s_to, m.s_cc, m.s_bcc
         FROM unnest($3::bigint[], $4::bigint[], $5::bigint[]) WITH ORDINALITY AS u(src, uid, modseq, n)
         JOIN messages m ON m.mailbox_id = $2 AND m.uid = u.src
         ORDER BY u.n",
        &[&to, &from, &src, &uid, &modseq],
    )
    .await?;
    // A copy sorts as its original (RFC 5256 keys computed once).
    execute(
        c,
        "INSERT INTO sort_keys (mailbox_id, uid, arrival, size, date, subject, reply, from_addr, to_addr, cc_addr,
                                from_display, to_display, message_id, refs)
         SELECT $1, u.uid, k.arrival, k.size, k.date, k.subject, k.reply, k.from_addr, k.to_addr, k.cc_addr,
                k.from_display, k.to_display, k.message_id, k.refs
         FROM unnest($3::bigint[], $4::bigint[]) AS u(src, uid)
         JOIN sort_keys k ON k.mailbox_id = $2 AND k.uid = u.src",
        &[&to, &from, &src, &uid],
    )
    .await?;
    Ok(src.iter().zip(&uid).zip(&modseq).map(|((s, u), m)| (*s as u32, *u as u32, *m as u64)).collect())
}

/// One more reference to each copied body: rows locked in hash order (the
/// order of every transaction taking several blobs), then counted.
async fn add_blob_refs(c: &impl CachedClient, sources: &[Source]) -> Result<()> {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for s in sources {
        *counts.entry(s.3.as_str()).or_default() += 1;
    }
    let (hashes, n): (Vec<&str>, Vec<i64>) = counts.into_iter().unzip();
    execute(c, "SELECT 1 FROM blobs WHERE hash = ANY($1) ORDER BY hash FOR UPDATE", &[&hashes]).await?;
    execute(
        c,
        "UPDATE blobs b SET refcount = b.refcount + v.n FROM unnest($1::text[], $2::bigint[]) AS v(hash, n)
         WHERE b.hash = v.hash",
        &[&hashes, &n],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl Folders for PgStore {
    async fn rename_mailbox(&self, account: AccountId, from: &str, to: &str) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let emptied = rename(&*tx, account, from, to).await?;
        tx.commit().await?;
        self.publish_account(account);
        // Sessions that have INBOX selected see its messages leave.
        if let Some(Emptied { inbox, uids, modseq }) = emptied {
            if !uids.is_empty() {
                self.publish(inbox, MailboxChange::Expunged { uids, modseq });
            }
        }
        Ok(())
    }

    async fn delete_mailbox(&self, account: AccountId, name: &str) -> Result<()> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let id = lock_tree(&*tx, account, name, false).await?[0];
        let uids: Vec<u32> = tx
            .query("SELECT uid FROM messages WHERE mailbox_id = $1", &[&id])
            .await?
            .iter()
            .map(|r| r.get::<_, i64>(0) as u32)
            .collect();
        let (removed, modseq) = expunge_uids(&*tx, id, &uids).await?;
        tx.execute("DELETE FROM vanished WHERE mailbox_id = $1", &[&id]).await?;
        tx.execute("DELETE FROM urlauth_keys WHERE mailbox_id = $1", &[&id]).await?;
        tx.execute("DELETE FROM mailboxes WHERE id = $1", &[&id]).await?;
        tx.commit().await?;
        // Its id is never given again; what was cached under it goes now.
        self.header_cache.forget(id);
        self.publish_account(account);
        if !removed.is_empty() {
            self.publish(id, MailboxChange::Expunged { uids: removed, modseq });
        }
        Ok(())
    }

    async fn set_subscribed(&self, account: AccountId, name: &str, subscribed: bool) -> Result<()> {
        let c = self.client().await?;
        // One statement each: whether the mailbox exists is read with the change.
        let known: bool = if subscribed {
            // Only an existing mailbox can be subscribed (RFC 9051 §6.3.7 allows the check).
            query_one(
                &c,
                "WITH mailbox AS (SELECT 1 FROM mailboxes WHERE account_id = $1 AND name = $2),
                 added AS (INSERT INTO subscriptions (account_id, name) SELECT $1, $2 FROM mailbox
                           ON CONFLICT DO NOTHING)
                 SELECT EXISTS (SELECT 1 FROM mailbox)",
                &[&account, &name],
            )
            .await?
            .get(0)
        } else {
            // A subscription outlives its mailbox: unsubscribing a name
            // that is neither subscribed nor a mailbox is the only error.
            query_one(
                &c,
                "WITH removed AS (DELETE FROM subscriptions WHERE account_id = $1 AND name = $2 RETURNING 1)
                 SELECT EXISTS (SELECT 1 FROM removed)
                     OR EXISTS (SELECT 1 FROM mailboxes WHERE account_id = $1 AND name = $2)",
                &[&account, &name],
            )
            .await?
            .get(0)
        };
        if !known {
            return Err(StoreError::NotFound(format!("no mailbox {name}")));
        }
        self.publish_account(account);
        Ok(())
    }

    async fn subscriptions(&self, account: AccountId) -> Result<Vec<String>> {
        // Byte order, as the embedded store sorts.
        let sql = "SELECT name FROM subscriptions WHERE account_id = $1 ORDER BY name COLLATE \"C\"";
        let rows = query(&self.client().await?, sql, &[&account]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn urlauth_key(&self, mailbox: MailboxId, key: Option<Vec<u8>>) -> Result<Option<Vec<u8>>> {
        let c = self.client().await?;
        let Some(key) = key else {
            let row = query_opt(&c, "SELECT key FROM urlauth_keys WHERE mailbox_id = $1", &[&mailbox]).await?;
            return Ok(row.map(|r| r.get(0)));
        };
        // Insert-if-absent and read in one statement: of two nodes making a
        // key at once, the second waits for the first's row and returns its
        // key (the no-op update is what returns the row that is there).
        let row = query_opt(
            &c,
            "INSERT INTO urlauth_keys (mailbox_id, account_id, key) SELECT id, account_id, $2 FROM mailboxes
             WHERE id = $1
             ON CONFLICT (mailbox_id) DO UPDATE SET key = urlauth_keys.key RETURNING key",
            &[&mailbox, &key],
        )
        .await?;
        match row {
            Some(r) => Ok(Some(r.get(0))),
            None => Err(StoreError::NotFound(format!("mailbox {mailbox}"))),
        }
    }

    async fn reset_urlauth_keys(&self, account: AccountId, mailbox: Option<MailboxId>) -> Result<()> {
        let c = self.client().await?;
        match mailbox {
            Some(m) => {
                let sql = "DELETE FROM urlauth_keys WHERE account_id = $1 AND mailbox_id = $2";
                execute(&c, sql, &[&account, &m]).await?
            }
            None => execute(&c, "DELETE FROM urlauth_keys WHERE account_id = $1", &[&account]).await?,
        };
        Ok(())
    }

    async fn copy_messages(
        &self,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
        expunge_source: bool,
    ) -> Result<Vec<(u32, u32)>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let copied = copy(&tx, from, uids, to, expunge_source).await?;
        tx.commit().await?;
        for &(_, uid, modseq) in &copied.copies {
            self.publish(to, MailboxChange::Appended { uid, modseq });
        }
        if !copied.removed.is_empty() {
            self.publish(from, MailboxChange::Expunged { uids: copied.removed, modseq: copied.src_modseq });
        }
        Ok(copied.copies.iter().map(|&(from, to, _)| (from, to)).collect())
    }
}
