//! Mailbox rename, delete, subscription, and copy/move of messages.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::directory::{insert_mailbox, next_uidvalidity};
use super::mail::expunge_uids;
use super::{found, SqliteStore};
use crate::{AccountId, Folders, MailboxChange, MailboxId, Result, StoreError};

fn mailbox_id(c: &Connection, account: AccountId, name: &str) -> Result<MailboxId> {
    c.query_row("SELECT id FROM mailboxes WHERE account_id = ?1 AND name = ?2", params![account, name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no mailbox {name}")))
}

/// RFC 9051 §6.3.6: RENAME creates the superior names the new name needs.
fn create_parents(c: &Connection, account: AccountId, name: &str) -> Result<()> {
    let mut end = 0;
    while let Some(i) = name[end..].find('/') {
        end += i;
        let parent = &name[..end];
        end += 1;
        let exists: bool = c.query_row(
            "SELECT EXISTS (SELECT 1 FROM mailboxes WHERE account_id = ?1 AND name = ?2)",
            params![account, parent],
            |r| r.get(0),
        )?;
        if !exists {
            insert_mailbox(c, account, parent, None)?;
        }
    }
    Ok(())
}

#[async_trait]
impl Folders for SqliteStore {
    async fn rename_mailbox(&self, account: AccountId, from: &str, to: &str) -> Result<()> {
        let (from, to) = (from.to_string(), to.to_string());
        let emptied = self
            .writer
            .write(move |c| {
                let id = mailbox_id(c, account, &from)?;
                let taken: bool = c.query_row(
                    "SELECT EXISTS (SELECT 1 FROM mailboxes WHERE account_id = ?1 AND name = ?2)",
                    params![account, to],
                    |r| r.get(0),
                )?;
                if taken {
                    return Err(StoreError::Conflict(format!("mailbox {to} already exists")));
                }
                if to.starts_with(&format!("{from}/")) {
                    return Err(StoreError::Invalid(format!("{from} cannot be moved inside itself")));
                }
                // A child's new name may be taken too (from/x becomes to/x):
                // refuse before anything moves.
                let clash: Option<String> = c
                    .query_row(
                        "SELECT t.name FROM mailboxes f JOIN mailboxes t ON t.account_id = f.account_id
                           AND t.name = ?3 || substr(f.name, length(?2) + 1)
                         WHERE f.account_id = ?1 AND substr(f.name, 1, length(?2)) = ?2 LIMIT 1",
                        params![account, format!("{from}/"), format!("{to}/")],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(name) = clash {
                    return Err(StoreError::Conflict(format!("mailbox {name} already exists")));
                }
                if from == "INBOX" {
                    // RFC 9051 §6.3.6: the messages move to a new mailbox; INBOX stays, empty.
                    let new_id = insert_mailbox(c, account, &to, None)?
                        .ok_or_else(|| StoreError::Conflict(format!("mailbox {to} already exists")))?;
                    create_parents(c, account, &to)?;
                    let moved: Vec<u32> = {
                        let mut st = c.prepare("SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid")?;
                        let r = st.query_map([id], |r| r.get::<_, i64>(0).map(|u| u as u32))?;
                        r.collect::<rusqlite::Result<_>>()?
                    };
                    let modseq: i64 =
                        c.query_row("SELECT highestmodseq FROM mailboxes WHERE id = ?1", [id], |r| r.get(0))?;
                    c.execute("UPDATE messages SET mailbox_id = ?2 WHERE mailbox_id = ?1", params![id, new_id])?;
                    c.execute("UPDATE sort_keys SET mailbox_id = ?2 WHERE mailbox_id = ?1", params![id, new_id])?;
                    c.execute(
                        "UPDATE mailboxes SET (messages, size, uidnext, highestmodseq, unseen, deleted) =
                           (SELECT messages, size, uidnext, highestmodseq, unseen, deleted FROM mailboxes WHERE id = ?1)
                         WHERE id = ?2",
                        params![id, new_id],
                    )?;
                    let uidvalidity = next_uidvalidity(c, account)?;
                    c.execute(
                        "UPDATE mailboxes SET messages = 0, size = 0, unseen = 0, deleted = 0, uidvalidity = ?2 WHERE id = ?1",
                        params![id, uidvalidity],
                    )?;
                    return Ok(Some((id, moved, modseq as u64)));
                }
                // Children follow (from/x becomes to/x), and so do subscriptions.
                // A clash between mailboxes is an error; between subscriptions, one is kept.
                for update in ["UPDATE mailboxes", "UPDATE OR REPLACE subscriptions"] {
                    c.execute(
                        &format!(
                            "{update} SET name = ?3 || substr(name, length(?2) + 1)
                             WHERE account_id = ?1 AND substr(name, 1, length(?2)) = ?2"
                        ),
                        params![account, format!("{from}/"), format!("{to}/")],
                    )?;
                }
                c.execute(
                    "UPDATE OR REPLACE subscriptions SET name = ?3 WHERE account_id = ?1 AND name = ?2",
                    params![account, from, to],
                )?;
                c.execute("UPDATE mailboxes SET name = ?2 WHERE id = ?1", params![id, to])?;
                create_parents(c, account, &to)?;
                Ok(None)
            })
            .await?;
        self.notifier.publish_account(account);
        // Sessions that have INBOX selected see its messages leave.
        if let Some((inbox, uids, modseq)) = emptied {
            if !uids.is_empty() {
                self.notifier.publish(inbox, MailboxChange::Expunged { uids, modseq });
            }
        }
        Ok(())
    }

    async fn delete_mailbox(&self, account: AccountId, name: &str) -> Result<()> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
        }
        let name = name.to_string();
        let (id, removed, modseq) = self
            .writer
            .write(move |c| {
                let id = mailbox_id(c, account, &name)?;
                let uids: Vec<u32> = {
                    let mut st = c.prepare("SELECT uid FROM messages WHERE mailbox_id = ?1")?;
                    let r = st.query_map([id], |r| r.get::<_, i64>(0).map(|u| u as u32))?;
                    r.collect::<rusqlite::Result<_>>()?
                };
                let (removed, modseq) = expunge_uids(c, id, &uids)?;
                c.execute("DELETE FROM vanished WHERE mailbox_id = ?1", [id])?;
                c.execute("DELETE FROM urlauth_keys WHERE mailbox_id = ?1", [id])?;
                c.execute("DELETE FROM mailboxes WHERE id = ?1", [id])?;
                Ok((id, removed, modseq))
            })
            .await?;
        // Its id is never given again; what was cached under it goes now.
        self.header_cache.forget(id);
        self.notifier.publish_account(account);
        if !removed.is_empty() {
            self.notifier.publish(id, MailboxChange::Expunged { uids: removed, modseq });
        }
        Ok(())
    }

    async fn set_subscribed(&self, account: AccountId, name: &str, subscribed: bool) -> Result<()> {
        let name = name.to_string();
        self.writer
            .write(move |c| {
                if subscribed {
                    // Only an existing mailbox can be subscribed (RFC 9051 §6.3.7 allows the check).
                    mailbox_id(c, account, &name)?;
                    c.execute("INSERT OR IGNORE INTO subscriptions VALUES (?1, ?2)", params![account, name])?;
                } else {
                    let n = c.execute(
                        "DELETE FROM subscriptions WHERE account_id = ?1 AND name = ?2",
                        params![account, name],
                    )?;
                    if n == 0 {
                        mailbox_id(c, account, &name)?;
                    }
                }
                Ok(())
            })
            .await?;
        self.notifier.publish_account(account);
        Ok(())
    }

    async fn subscriptions(&self, account: AccountId) -> Result<Vec<String>> {
        self.read(move |c| {
            let mut st = c.prepare_cached("SELECT name FROM subscriptions WHERE account_id = ?1 ORDER BY name")?;
            let rows = st.query_map([account], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn urlauth_key(&self, mailbox: MailboxId, key: Option<Vec<u8>>) -> Result<Option<Vec<u8>>> {
        let lookup = move |c: &Connection| -> Result<Option<Vec<u8>>> {
            Ok(c.query_row("SELECT key FROM urlauth_keys WHERE mailbox_id = ?1", [mailbox], |r| r.get(0)).optional()?)
        };
        let Some(key) = key else { return self.read(move |c| lookup(c)).await };
        self.writer
            .write(move |c| {
                let account: i64 = found(
                    c.query_row("SELECT account_id FROM mailboxes WHERE id = ?1", [mailbox], |r| r.get(0)),
                    || format!("mailbox {mailbox}"),
                )?;
                c.execute(
                    "INSERT OR IGNORE INTO urlauth_keys (mailbox_id, account_id, key) VALUES (?1, ?2, ?3)",
                    params![mailbox, account, key],
                )?;
                lookup(c)
            })
            .await
    }

    async fn reset_urlauth_keys(&self, account: AccountId, mailbox: Option<MailboxId>) -> Result<()> {
        self.writer
            .write(move |c| {
                match mailbox {
                    Some(m) => c.execute(
                        "DELETE FROM urlauth_keys WHERE account_id = ?1 AND mailbox_id = ?2",
                        params![account, m],
                    )?,
                    None => c.execute("DELETE FROM urlauth_keys WHERE account_id = ?1", [account])?,
                };
                Ok(())
            })
            .await
    }

    async fn copy_messages(
        &self,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
        expunge_source: bool,
    ) -> Result<Vec<(u32, u32)>> {
        let uids = uids.to_vec();
        let (pairs, dest_modseq, removed, src_modseq) = self
            .writer
            .write(move |c| {
                let (quota, used): (Option<i64>, i64) = c.query_row(
                    "SELECT a.quota, a.used FROM accounts a JOIN mailboxes b ON b.account_id = a.id WHERE b.id = ?1",
                    [to],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                let total: i64 = {
                    let mut sum = 0;
                    for uid in &uids {
                        let size: Option<i64> = c
                            .prepare_cached("SELECT size FROM messages WHERE mailbox_id = ?1 AND uid = ?2")?
                            .query_row(params![from, uid], |r| r.get(0))
                            .optional()?;
                        sum += size.unwrap_or(0);
                    }
                    sum
                };
                let same_account: bool = c.query_row(
                    "SELECT (SELECT account_id FROM mailboxes WHERE id = ?1) = (SELECT account_id FROM mailboxes WHERE id = ?2)",
                    params![from, to],
                    |r| r.get(0),
                )?;
                // A move within one account does not grow it.
                let grows = !(expunge_source && same_account);
                if let Some(q) = quota {
                    if grows && used + total > q {
                        return Err(StoreError::OverQuota(format!("{used} of {q} bytes used")));
                    }
                }
                let mut pairs = Vec::new();
                let mut modseq = 0;
                for uid in &uids {
                    let exists: bool = c
                        .prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE mailbox_id = ?1 AND uid = ?2)")?
                        .query_row(params![from, uid], |r| r.get(0))?;
                    if !exists {
                        continue;
                    }
                    let (new_uid, m): (i64, i64) = c
                        .prepare_cached(
                            "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1,
                               messages = messages + 1,
                               size = size + (SELECT size FROM messages WHERE mailbox_id = ?2 AND uid = ?3),
                               unseen = unseen + (SELECT flags & 1 = 0 FROM messages WHERE mailbox_id = ?2 AND uid = ?3),
                               deleted = deleted + (SELECT flags & 8 = 8 FROM messages WHERE mailbox_id = ?2 AND uid = ?3)
                             WHERE id = ?1 RETURNING uidnext - 1, highestmodseq",
                        )?
                        .query_row(params![to, from, uid], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    c.prepare_cached(
                        "INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob, prefix, envelope, structure,
                                               s_subject, s_from, s_to, s_cc, s_bcc, internal_zone)
                         SELECT ?1, ?2, ?3, flags, keywords, internal_date, size, blob, prefix, envelope, structure,
                                s_subject, s_from, s_to, s_cc, s_bcc, internal_zone
                         FROM messages WHERE mailbox_id = ?4 AND uid = ?5",
                    )?
                    .execute(params![to, new_uid, m, from, uid])?;
                    super::sorting::copy_keys(c, (from, *uid as i64), (to, new_uid))?;
                    c.prepare_cached(
                        "UPDATE blobs SET refcount = refcount + 1 WHERE hash = (SELECT blob FROM messages WHERE mailbox_id = ?1 AND uid = ?2)",
                    )?
                    .execute(params![from, uid])?;
                    c.prepare_cached(
                        "UPDATE accounts SET used = used + (SELECT size FROM messages WHERE mailbox_id = ?2 AND uid = ?3)
                         WHERE id = (SELECT account_id FROM mailboxes WHERE id = ?1)",
                    )?
                    .execute(params![to, from, uid])?;
                    pairs.push((*uid, new_uid as u32));
                    modseq = m as u64;
                }
                // A user moving mail into Junk says "spam"; out of Junk
                // (but not to the Trash), "not spam".
                let (from_junk, to_junk) = (super::filter_data::is_junk(c, from)?, super::filter_data::is_junk(c, to)?);
                let copied: Vec<u32> = pairs.iter().map(|p| p.1).collect();
                if to_junk && !from_junk {
                    super::filter_data::queue_learning(c, to, &copied, true)?;
                } else if from_junk && !to_junk && !super::filter_data::is_role(c, to, "Trash")? {
                    super::filter_data::queue_learning(c, to, &copied, false)?;
                }
                let (removed, src_modseq) = if expunge_source {
                    let moved: Vec<u32> = pairs.iter().map(|p| p.0).collect();
                    expunge_uids(c, from, &moved)?
                } else {
                    (Vec::new(), 0)
                };
                Ok((pairs, modseq, removed, src_modseq))
            })
            .await?;
        for (_, new_uid) in &pairs {
            self.notifier.publish(to, MailboxChange::Appended { uid: *new_uid, modseq: dest_modseq });
        }
        if !removed.is_empty() {
            self.notifier.publish(from, MailboxChange::Expunged { uids: removed, modseq: src_modseq });
        }
        Ok(pairs)
    }
}
