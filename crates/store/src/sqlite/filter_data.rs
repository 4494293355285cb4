//! The spam filter's rules, learnt examples, learning queue and greylist
//! in the embedded store.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::{delete_one, SqliteStore};
use crate::filter_data::CLIENT_COUNT_EVERY;
use crate::filter_data::{example_hash, pack_features, unpack_features};
use crate::filter_data::{FilterData, FilterRule, FilterState, GreyPolicy, Learn, LearnJob, LearnReport, SpamExamples};
use crate::{AccountId, Result, StoreError};

fn filter_generation(c: &Connection) -> Result<i64> {
    Ok(c.prepare_cached("SELECT value FROM filter_generation WHERE id = 0")?.query_row([], |r| r.get(0))?)
}

fn scope_generations(c: &Connection, scopes: &[i64]) -> Result<Vec<i64>> {
    let mut st = c.prepare_cached("SELECT generation FROM spam_scopes WHERE scope = ?1")?;
    scopes.iter().map(|s| Ok(st.query_row([s], |r| r.get(0)).optional()?.unwrap_or(0))).collect()
}

/// A scope's examples (their features unpacked only when `features`),
/// totals, generation and fingerprint, in one read transaction: all of one
/// moment.
fn read_examples(c: &Connection, scope: i64, features: bool) -> Result<SpamExamples> {
    let c = c.unchecked_transaction()?;
    let head: Option<(u32, u32, i64)> = c
        .query_row("SELECT spam, ham, generation FROM spam_scopes WHERE scope = ?1", [scope], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((spam_messages, ham_messages, generation)) = head else { return Ok(SpamExamples::default()) };
    let mut out = SpamExamples { spam_messages, ham_messages, generation, ..SpamExamples::default() };
    let mut st = c.prepare_cached("SELECT spam, features FROM spam_learnt WHERE scope = ?1 ORDER BY digest")?;
    let mut rows = st.query([scope])?;
    while let Some(r) = rows.next()? {
        let spam: bool = r.get(0)?;
        // Borrowed from the row: nothing copied.
        let packed = match r.get_ref(1)? {
            rusqlite::types::ValueRef::Blob(b) => b,
            _ => &[],
        };
        out.fingerprint = out.fingerprint.wrapping_add(example_hash(spam, packed));
        if features {
            out.examples.push((spam, unpack_features(packed)));
        }
    }
    Ok(out)
}

fn bump_filter_generation(c: &Connection) -> Result<()> {
    c.execute("UPDATE filter_generation SET value = value + 1 WHERE id = 0", [])?;
    Ok(())
}

/// Whether `mailbox` has the special use `role` (its default name: "Trash").
pub(crate) fn is_role(c: &Connection, mailbox: crate::MailboxId, role: &str) -> Result<bool> {
    let r: Option<String> = c
        .prepare_cached("SELECT special_use FROM mailboxes WHERE id = ?1")?
        .query_row([mailbox], |r| r.get(0))
        .optional()?
        .flatten();
    Ok(r.as_deref() == Some(role))
}

pub(crate) fn is_junk(c: &Connection, mailbox: crate::MailboxId) -> Result<bool> {
    is_role(c, mailbox, "Junk")
}

/// Queues messages a user filed as spam or as not spam, to be learnt by the
/// filter (in the same transaction as the move: none is lost or learnt
/// without having happened).
pub(crate) fn queue_learning(c: &Connection, mailbox: crate::MailboxId, uids: &[u32], spam: bool) -> Result<()> {
    let mut st = c.prepare_cached(
        "INSERT INTO spam_learn_queue (account, hash, spam)
         SELECT b.account_id, m.blob, ?3 FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
         WHERE m.mailbox_id = ?1 AND m.uid = ?2",
    )?;
    for uid in uids {
        st.execute(params![mailbox, uid, spam])?;
    }
    Ok(())
}

#[async_trait]
impl FilterData for SqliteStore {
    async fn add_filter_rule(&self, rule: FilterRule) -> Result<FilterRule> {
        self.writer
            .write(move |c| {
                let n = c.execute(
                    "INSERT OR IGNORE INTO filter_rules (kind, pattern, scope, place, action, created)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![rule.kind, rule.pattern, rule.scope, rule.place, rule.action, rule.created],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict(format!(
                        "the {} rule {} exists already",
                        rule.kind, rule.pattern
                    )));
                }
                bump_filter_generation(c)?;
                Ok(FilterRule { id: c.last_insert_rowid(), ..rule })
            })
            .await
    }

    async fn del_filter_rule(&self, kind: &str, pattern: &str, scope: &str) -> Result<()> {
        let (kind, pattern, scope) = (kind.to_string(), pattern.to_string(), scope.to_string());
        self.writer
            .write(move |c| {
                let sql = "DELETE FROM filter_rules WHERE kind = ?1 AND pattern = ?2 AND scope = ?3";
                delete_one(c, sql, params![kind, pattern, scope], || format!("no {kind} rule {pattern}"))?;
                bump_filter_generation(c)
            })
            .await
    }

    async fn filter_rules(&self) -> Result<Vec<FilterRule>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, kind, pattern, scope, place, action, created FROM filter_rules ORDER BY kind, scope, id",
            )?;
            let rows = st.query_map([], |r| {
                Ok(FilterRule {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    pattern: r.get(2)?,
                    scope: r.get(3)?,
                    place: r.get(4)?,
                    action: r.get(5)?,
                    created: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn filter_generation(&self) -> Result<i64> {
        self.read(filter_generation).await
    }

    async fn filter_state(&self, scopes: &[i64]) -> Result<FilterState> {
        let scopes = scopes.to_vec();
        self.read(move |c| {
            let learning_pending: bool =
                c.prepare_cached("SELECT EXISTS (SELECT 1 FROM spam_learn_queue)")?.query_row([], |r| r.get(0))?;
            Ok(FilterState { rules: filter_generation(c)?, learning_pending, scopes: scope_generations(c, &scopes)? })
        })
        .await
    }

    async fn spam_examples(&self, scope: i64) -> Result<SpamExamples> {
        self.read(move |c| read_examples(c, scope, true)).await
    }

    async fn spam_examples_summary(&self, scope: i64) -> Result<SpamExamples> {
        self.read(move |c| read_examples(c, scope, false)).await
    }

    async fn spam_generations(&self, scopes: &[i64]) -> Result<Vec<i64>> {
        let scopes = scopes.to_vec();
        self.read(move |c| scope_generations(c, &scopes)).await
    }

    async fn spam_learn(&self, scope: i64, messages: Vec<Learn>) -> Result<LearnReport> {
        self.writer.write(move |c| learn(c, scope, &messages)).await
    }

    async fn spam_trim(&self, scope: i64, keep: u32) -> Result<(u32, u32)> {
        self.writer
            .write(move |tx| {
                let mut gone = [0u32; 2];
                for (i, spam) in [true, false].into_iter().enumerate() {
                    // Everything after the newest `keep` (the index walks it).
                    gone[i] = tx
                        .prepare_cached(
                            "DELETE FROM spam_learnt WHERE scope = ?1 AND spam = ?2 AND digest IN
                             (SELECT digest FROM spam_learnt WHERE scope = ?1 AND spam = ?2
                              ORDER BY seq DESC, digest DESC LIMIT -1 OFFSET ?3)",
                        )?
                        .execute(params![scope, spam, keep])? as u32;
                }
                if gone != [0, 0] {
                    tx.execute(
                        "UPDATE spam_scopes SET spam = max(0, spam - ?2), ham = max(0, ham - ?3),
                         generation = generation + 1 WHERE scope = ?1",
                        params![scope, gone[0], gone[1]],
                    )?;
                }
                Ok((gone[0], gone[1]))
            })
            .await
    }

    async fn spam_learn_jobs(&self, limit: usize) -> Result<Vec<LearnJob>> {
        self.read(move |c| {
            let mut st =
                c.prepare_cached("SELECT id, account, hash, spam FROM spam_learn_queue ORDER BY id LIMIT ?1")?;
            let rows = st.query_map([limit as i64], |r| {
                Ok(LearnJob { id: r.get(0)?, account: r.get(1)?, hash: r.get(2)?, spam: r.get(3)? })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn note_correspondents(
        &self,
        account: AccountId,
        addresses: &[String],
        now: i64,
        keep: u32,
        forget_before: i64,
    ) -> Result<()> {
        let addresses = addresses.to_vec();
        self.writer
            .write(move |tx| {
                let mut st = tx.prepare_cached(
                    "INSERT INTO correspondents (account, address, last_seen) VALUES (?1, ?2, ?3)
                     ON CONFLICT (account, address) DO UPDATE SET last_seen = max(last_seen, ?3)",
                )?;
                for a in &addresses {
                    st.execute(params![account, a, now])?;
                }
                tx.prepare_cached("DELETE FROM correspondents WHERE account = ?1 AND last_seen < ?2")?
                    .execute(params![account, forget_before])?;
                tx.prepare_cached(
                    "DELETE FROM correspondents WHERE account = ?1 AND address IN
                     (SELECT address FROM correspondents WHERE account = ?1
                      ORDER BY last_seen DESC, address LIMIT -1 OFFSET ?2)",
                )?
                .execute(params![account, keep])?;
                Ok(())
            })
            .await
    }

    async fn correspondent(&self, account: AccountId, address: &str) -> Result<Option<i64>> {
        let address = address.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT last_seen FROM correspondents WHERE account = ?1 AND address = ?2")?
                .query_row(params![account, address], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn greylist(&self, client: &str, triple: &str, now: i64, policy: GreyPolicy) -> Result<Option<i64>> {
        let (client, triple) = (client.to_string(), triple.to_string());
        let GreyPolicy { delay, lifetime, auto_allow, .. } = policy;
        self.writer
            .write(move |c| {
                if auto_allow > 0 {
                    let known: Option<(i64, i64)> = c
                        .prepare_cached(
                            "SELECT passes, last_pass FROM greylist_clients WHERE client = ?1 AND last_pass > ?2",
                        )?
                        .query_row(params![client, now - lifetime], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    if let Some((_, last)) = known.filter(|k| k.0 >= auto_allow as i64) {
                        if now - last > policy.refresh_every() {
                            c.prepare_cached("UPDATE greylist_clients SET last_pass = ?2 WHERE client = ?1")?
                                .execute(params![client, now])?;
                        }
                        return Ok(None);
                    }
                }
                let row: Option<(i64, i64, bool)> = c
                    .prepare_cached("SELECT first_seen, last_seen, passed FROM greylist WHERE triple = ?1")?
                    .query_row([&triple], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                let wait = match row {
                    Some((_, last, true)) if now - last < lifetime => None,
                    Some((first, last, false)) if now - last < lifetime && now - first < policy.too_late() => {
                        let waited = now - first;
                        (waited < delay).then_some(delay - waited)
                    }
                    _ => {
                        // New, forgotten or retried too late: start again
                        // (and forget a few other old triples and clients
                        // while here).
                        for (table, key, age) in
                            [("greylist", "triple", "last_seen"), ("greylist_clients", "client", "last_pass")]
                        {
                            c.prepare_cached(&format!(
                                "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {age} < ?1 LIMIT 100)"
                            ))?
                            .execute([now - lifetime])?;
                        }
                        c.prepare_cached(
                            "INSERT OR REPLACE INTO greylist (triple, first_seen, last_seen, passed) VALUES (?1, ?2, ?2, 0)",
                        )?
                        .execute(params![triple, now])?;
                        return Ok(Some(delay));
                    }
                };
                c.prepare_cached("UPDATE greylist SET last_seen = ?2, passed = ?3 WHERE triple = ?1")?.execute(
                    params![triple, now, wait.is_none()],
                )?;
                if wait.is_none() && row.is_some_and(|r| !r.2) {
                    // Passing for the first time: a pass for its client,
                    // counted at most once an hour.
                    c.prepare_cached(
                        "INSERT INTO greylist_clients (client, passes, last_pass, last_count) VALUES (?1, 1, ?2, ?2)
                         ON CONFLICT (client) DO UPDATE SET
                           passes = CASE WHEN ?2 - last_pass >= ?3 THEN 1
                                         WHEN ?2 - last_count >= ?4 THEN passes + 1 ELSE passes END,
                           last_count = CASE WHEN ?2 - last_pass >= ?3 OR ?2 - last_count >= ?4
                                             THEN ?2 ELSE last_count END,
                           last_pass = ?2",
                    )?
                    .execute(params![client, now, lifetime, CLIENT_COUNT_EVERY])?;
                }
                Ok(wait)
            })
            .await
    }

    async fn spam_learn_done(&self, ids: &[i64]) -> Result<()> {
        let ids = ids.to_vec();
        self.writer
            .write(move |c| {
                let mut st = c.prepare_cached("DELETE FROM spam_learn_queue WHERE id = ?1")?;
                for id in ids {
                    st.execute([id])?;
                }
                Ok(())
            })
            .await
    }
}

/// The scope's newest `seq` (0 when empty): the largest of each kind, so
/// that the (scope, spam, seq) index answers it from its ends.
const NEWEST: &str = "SELECT coalesce(max(m), 0) FROM
    (SELECT max(seq) AS m FROM spam_learnt WHERE scope = ?1 AND spam = 0
     UNION ALL SELECT max(seq) FROM spam_learnt WHERE scope = ?1 AND spam = 1)";

/// Keeps each message's features under its digest (changing its label
/// when it was learnt as the other kind before) and the scope's totals, in
/// one transaction.
fn learn(c: &Connection, scope: i64, messages: &[Learn]) -> Result<LearnReport> {
    let mut report = LearnReport::default();
    let (mut dspam, mut dham) = (0i64, 0i64);
    {
        // Each example learnt (or learnt again) is the scope's newest.
        let mut seq: i64 = c.prepare_cached(NEWEST)?.query_row([scope], |r| r.get(0))?;
        let mut before = c.prepare_cached("SELECT spam FROM spam_learnt WHERE scope = ?1 AND digest = ?2")?;
        let mut keep = c.prepare_cached(
            "INSERT OR REPLACE INTO spam_learnt (scope, digest, spam, features, seq) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for m in messages {
            let was: Option<bool> = before.query_row(params![scope, m.digest], |r| r.get(0)).optional()?;
            let Some((s, h)) = report.count(was, m.spam) else { continue };
            dspam += s;
            dham += h;
            seq += 1;
            keep.execute(params![scope, m.digest, m.spam, pack_features(&m.features), seq])?;
        }
    }
    if report.learnt + report.relearnt == 0 {
        // Nothing new: the models trained from these examples stand.
        return Ok(report);
    }
    c.execute(
        "INSERT INTO spam_scopes (scope, spam, ham, generation) VALUES (?1, max(0, ?2), max(0, ?3), 1)
         ON CONFLICT (scope) DO UPDATE SET spam = max(0, spam + ?2), ham = max(0, ham + ?3), generation = generation + 1",
        params![scope, dspam, dham],
    )?;
    Ok(report)
}
