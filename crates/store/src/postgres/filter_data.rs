//! The spam filter's rules, learnt examples, learning queue and greylist
//! in PostgreSQL. Several nodes learn and greylist at once: every change is
//! one upsert or runs under the row locks of the thing it counts, so that
//! the same message learnt on two nodes is counted once.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::mail::{execute, query, query_one, query_opt};
use super::PgStore;
use crate::filter_data::CLIENT_COUNT_EVERY;
use crate::filter_data::{example_hash, pack_features, unpack_features};
use crate::filter_data::{FilterData, FilterRule, FilterState, GreyPolicy, Learn, LearnJob, LearnReport, SpamExamples};
use crate::{AccountId, Result, StoreError};

/// The generation of each scope of `$1` (0 when it never learnt), in order.
const SCOPE_GENERATIONS: &str = "ARRAY(SELECT coalesce(s.generation, 0)
     FROM unnest($1::bigint[]) WITH ORDINALITY AS u(scope, n) LEFT JOIN spam_scopes s ON s.scope = u.scope
     ORDER BY u.n)";

/// A count read back (never negative: updates clamp at 0).
fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(if n < 0 { 0 } else { u32::MAX })
}

impl PgStore {
    /// A scope's examples (their features unpacked only when `features`),
    /// totals, generation and fingerprint: one statement (one snapshot, one
    /// round trip), the totals and the examples from the same rows.
    async fn read_examples(&self, scope: i64, features: bool) -> Result<SpamExamples> {
        let rows = query(
            &self.client().await?,
            "SELECT s.spam, s.ham, s.generation, l.spam, l.features FROM spam_scopes s
               LEFT JOIN spam_learnt l ON l.scope = s.scope
             WHERE s.scope = $1 ORDER BY l.digest",
            &[&scope],
        )
        .await?;
        let Some(first) = rows.first() else { return Ok(SpamExamples::default()) };
        let mut out = SpamExamples {
            spam_messages: count(first.get(0)),
            ham_messages: count(first.get(1)),
            generation: first.get(2),
            ..SpamExamples::default()
        };
        for r in &rows {
            let (Some(spam), Some(packed)) = (r.get::<_, Option<bool>>(3), r.get::<_, Option<&[u8]>>(4)) else {
                continue;
            };
            out.fingerprint = out.fingerprint.wrapping_add(example_hash(spam, packed));
            if features {
                out.examples.push((spam, unpack_features(packed)));
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl FilterData for PgStore {
    async fn filter_state(&self, scopes: &[i64]) -> Result<FilterState> {
        // One statement: one snapshot for the three answers.
        let sql = format!(
            "SELECT (SELECT value FROM filter_generation WHERE id = 0),
             EXISTS (SELECT 1 FROM spam_learn_queue), {SCOPE_GENERATIONS}"
        );
        let row = query_one(&self.client().await?, &sql, &[&scopes]).await?;
        Ok(FilterState { rules: row.get(0), learning_pending: row.get(1), scopes: row.get(2) })
    }

    async fn add_filter_rule(&self, rule: FilterRule) -> Result<FilterRule> {
        // The rule and the generation in one statement: other nodes see both or neither.
        let row = query_opt(
            &self.client().await?,
            "WITH added AS (
                 INSERT INTO filter_rules (kind, pattern, scope, place, action, created)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id),
             bumped AS (
                 UPDATE filter_generation SET value = value + 1
                 WHERE id = 0 AND EXISTS (SELECT 1 FROM added))
             SELECT id FROM added",
            &[&rule.kind, &rule.pattern, &rule.scope, &rule.place, &rule.action, &rule.created],
        )
        .await?;
        match row {
            Some(r) => Ok(FilterRule { id: r.get(0), ..rule }),
            None => Err(StoreError::Conflict(format!("the {} rule {} exists already", rule.kind, rule.pattern))),
        }
    }

    async fn del_filter_rule(&self, kind: &str, pattern: &str, scope: &str) -> Result<()> {
        let removed: i64 = query_one(
            &self.client().await?,
            "WITH removed AS (
                 DELETE FROM filter_rules WHERE kind = $1 AND pattern = $2 AND scope = $3 RETURNING id),
             bumped AS (
                 UPDATE filter_generation SET value = value + 1
                 WHERE id = 0 AND EXISTS (SELECT 1 FROM removed))
             SELECT count(*) FROM removed",
            &[&kind, &pattern, &scope],
        )
        .await?
        .get(0);
        match removed {
            0 => Err(StoreError::NotFound(format!("no {kind} rule {pattern}"))),
            _ => Ok(()),
        }
    }

    async fn filter_rules(&self) -> Result<Vec<FilterRule>> {
        let sql = "SELECT id, kind, pattern, scope, place, action, created FROM filter_rules ORDER BY kind, scope, id";
        let rows = query(&self.client().await?, sql, &[]).await?;
        Ok(rows
            .iter()
            .map(|r| FilterRule {
                id: r.get(0),
                kind: r.get(1),
                pattern: r.get(2),
                scope: r.get(3),
                place: r.get(4),
                action: r.get(5),
                created: r.get(6),
            })
            .collect())
    }

    async fn filter_generation(&self) -> Result<i64> {
        let row = query_one(&self.client().await?, "SELECT value FROM filter_generation WHERE id = 0", &[]).await?;
        Ok(row.get(0))
    }

    async fn spam_examples(&self, scope: i64) -> Result<SpamExamples> {
        self.read_examples(scope, true).await
    }

    async fn spam_examples_summary(&self, scope: i64) -> Result<SpamExamples> {
        self.read_examples(scope, false).await
    }

    async fn spam_generations(&self, scopes: &[i64]) -> Result<Vec<i64>> {
        let row = query_one(&self.client().await?, &format!("SELECT {SCOPE_GENERATIONS}"), &[&scopes]).await?;
        Ok(row.get(0))
    }

    async fn spam_learn(&self, scope: i64, messages: Vec<Learn>) -> Result<LearnReport> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let report = learn(&tx, scope, &messages).await?;
        tx.commit().await?;
        Ok(report)
    }

    async fn spam_trim(&self, scope: i64, keep: u32) -> Result<(u32, u32)> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let mut gone = [0u32; 2];
        for (i, spam) in [true, false].into_iter().enumerate() {
            // Everything after the newest `keep`. Rows another node holds
            // (learning them again, or trimming too) are skipped: no lock
            // waits on learn's order, and no row is counted twice; what is
            // left over goes next time.
            let row = query_one(
                &tx,
                "WITH gone AS (
                   DELETE FROM spam_learnt WHERE scope = $1 AND spam = $2 AND digest IN
                     (SELECT digest FROM spam_learnt WHERE scope = $1 AND spam = $2
                      ORDER BY seq DESC, digest DESC OFFSET $3 FOR UPDATE SKIP LOCKED)
                   RETURNING 1)
                 SELECT count(*) FROM gone",
                &[&scope, &spam, &i64::from(keep)],
            )
            .await?;
            gone[i] = count(row.get(0));
        }
        if gone != [0, 0] {
            execute(
                &tx,
                "UPDATE spam_scopes SET spam = greatest(0, spam - $2), ham = greatest(0, ham - $3),
                 generation = generation + 1 WHERE scope = $1",
                &[&scope, &i64::from(gone[0]), &i64::from(gone[1])],
            )
            .await?;
        }
        tx.commit().await?;
        Ok((gone[0], gone[1]))
    }

    async fn spam_learn_jobs(&self, limit: usize) -> Result<Vec<LearnJob>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = "SELECT id, account, hash, spam FROM spam_learn_queue ORDER BY id LIMIT $1";
        let rows = query(&self.client().await?, sql, &[&limit]).await?;
        Ok(rows.iter().map(|r| LearnJob { id: r.get(0), account: r.get(1), hash: r.get(2), spam: r.get(3) }).collect())
    }

    async fn spam_learn_done(&self, ids: &[i64]) -> Result<()> {
        execute(&self.client().await?, "DELETE FROM spam_learn_queue WHERE id = ANY($1)", &[&ids]).await?;
        Ok(())
    }

    async fn note_correspondents(
        &self,
        account: AccountId,
        addresses: &[String],
        now: i64,
        keep: u32,
        forget_before: i64,
    ) -> Result<()> {
        let c = self.client().await?;
        // Sorted: two nodes noting the same addresses lock them in one order.
        let mut addresses = addresses.to_vec();
        addresses.sort();
        addresses.dedup();
        execute(
            &c,
            "INSERT INTO correspondents (account, address, last_seen) SELECT $1, a, $3 FROM unnest($2::text[]) AS a
             ON CONFLICT (account, address) DO UPDATE SET
               last_seen = GREATEST(correspondents.last_seen, EXCLUDED.last_seen)",
            &[&account, &addresses, &now],
        )
        .await?;
        execute(&c, "DELETE FROM correspondents WHERE account = $1 AND last_seen < $2", &[&account, &forget_before])
            .await?;
        execute(
            &c,
            "DELETE FROM correspondents WHERE account = $1 AND address IN
             (SELECT address FROM correspondents WHERE account = $1
              ORDER BY last_seen DESC, address OFFSET $2 FOR UPDATE SKIP LOCKED)",
            &[&account, &(keep as i64)],
        )
        .await?;
        Ok(())
    }

    async fn correspondent(&self, account: AccountId, address: &str) -> Result<Option<i64>> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            "SELECT last_seen FROM correspondents WHERE account = $1 AND address = $2",
            &[&account, &address],
        )
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn greylist(&self, client: &str, triple: &str, now: i64, policy: GreyPolicy) -> Result<Option<i64>> {
        let GreyPolicy { delay, lifetime, auto_allow, .. } = policy;
        let c = self.client().await?;
        if auto_allow > 0 {
            let row = query_opt(
                &c,
                "SELECT passes, last_pass FROM greylist_clients WHERE client = $1 AND last_pass > $2",
                &[&client, &(now - lifetime)],
            )
            .await?;
            if let Some(r) = row.filter(|r| r.get::<_, i64>(0) >= auto_allow as i64) {
                if now - r.get::<_, i64>(1) > policy.refresh_every() {
                    execute(
                        &c,
                        "UPDATE greylist_clients SET last_pass = greatest(last_pass, $2) WHERE client = $1",
                        &[&client, &now],
                    )
                    .await?;
                }
                return Ok(None);
            }
        }
        // One upsert decides, under the row's lock: a triple seen within
        // `lifetime` (and, while it waits, before it is too late) keeps its
        // first sighting and passes once it waited `delay`; a new,
        // forgotten or late one starts again now. The subquery reads the
        // row as the statement's snapshot has it: whether it had passed
        // already. Two nodes passing the same triple at once may both see
        // it waiting; the client's count below moves once an hour at most
        // whatever they do.
        let row = query_one(
            &c,
            "INSERT INTO greylist (triple, first_seen, last_seen, passed) VALUES ($1, $2, $2, false)
             ON CONFLICT (triple) DO UPDATE SET
               first_seen = CASE WHEN $2 - greylist.last_seen < $4
                                  AND (greylist.passed OR $2 - greylist.first_seen < $5)
                             THEN greylist.first_seen ELSE $2 END,
               passed = CASE WHEN $2 - greylist.last_seen < $4
                              AND (greylist.passed OR $2 - greylist.first_seen < $5)
                             THEN greylist.passed OR $2 - greylist.first_seen >= $3 ELSE false END,
               last_seen = $2
             RETURNING first_seen, passed, (SELECT g.passed FROM greylist g WHERE g.triple = $1)",
            &[&triple, &now, &delay, &lifetime, &policy.too_late()],
        )
        .await?;
        let (first, passed, before): (i64, bool, Option<bool>) = (row.get(0), row.get(1), row.get(2));
        if passed {
            if before == Some(false) {
                // Passing for the first time: a pass for its client,
                // counted at most once an hour.
                execute(
                    &c,
                    "INSERT INTO greylist_clients (client, passes, last_pass, last_count) VALUES ($1, 1, $2, $2)
                     ON CONFLICT (client) DO UPDATE SET
                       passes = CASE WHEN $2 - greylist_clients.last_pass >= $3 THEN 1
                                     WHEN $2 - greylist_clients.last_count >= $4 THEN greylist_clients.passes + 1
                                     ELSE greylist_clients.passes END,
                       last_count = CASE WHEN $2 - greylist_clients.last_pass >= $3
                                          OR $2 - greylist_clients.last_count >= $4
                                         THEN $2 ELSE greylist_clients.last_count END,
                       last_pass = $2",
                    &[&client, &now, &lifetime, &CLIENT_COUNT_EVERY],
                )
                .await?;
            }
            return Ok(None);
        }
        if first == now {
            // New, forgotten or late: forget a few other old triples and
            // clients while here (skipping those another node is touching).
            for (table, key, age) in [("greylist", "triple", "last_seen"), ("greylist_clients", "client", "last_pass")]
            {
                let sql = format!(
                    "DELETE FROM {table} WHERE {key} IN
                     (SELECT {key} FROM {table} WHERE {age} < $1 LIMIT 100 FOR UPDATE SKIP LOCKED)"
                );
                execute(&c, &sql, &[&(now - lifetime)]).await?;
            }
        }
        Ok(Some(delay - (now - first)))
    }
}

/// Keeps each message's features under its digest (changing its label
/// when it was learnt as the other kind before) and the scope's totals, in
/// the caller's transaction.
///
/// Atomic per message across nodes: the `spam_learnt` upsert changes a
/// digest's row only when it is new or its kind changes, and it returns the
/// rows it changed; the totals move for those alone. A node learning the
/// same message at the same time waits on that row and then finds it
/// learnt. Rows are locked in one order everywhere (digests sorted, then
/// the scope) so that two learners never deadlock.
async fn learn(c: &impl GenericClient, scope: i64, messages: &[Learn]) -> Result<LearnReport> {
    // The kind (and features) each digest ends with (the last time it appears).
    let last: BTreeMap<&str, &Learn> = messages.iter().map(|m| (m.digest.as_str(), m)).collect();
    let digests: Vec<&str> = last.keys().copied().collect();
    let kinds: Vec<bool> = last.values().map(|m| m.spam).collect();
    let features: Vec<Vec<u8>> = last.values().map(|m| pack_features(&m.features)).collect();
    // Each digest's age within the batch: where it last appears (the
    // messages are learnt in their order, as on SQLite).
    let position: HashMap<&str, i64> =
        messages.iter().enumerate().map(|(i, m)| (m.digest.as_str(), i as i64 + 1)).collect();
    let ages: Vec<i64> = last.keys().map(|d| position.get(d).copied().unwrap_or(0)).collect();
    let rows = query(
        c,
        "INSERT INTO spam_learnt (scope, digest, spam, relearnt, features, seq)
         SELECT $1, d, k, 0, f, (SELECT coalesce(max(seq), 0) FROM spam_learnt WHERE scope = $1) + a
           FROM unnest($2::text[], $3::boolean[], $4::bytea[], $5::bigint[]) AS u(d, k, f, a) ORDER BY d
         ON CONFLICT (scope, digest) DO UPDATE
           SET spam = EXCLUDED.spam, features = EXCLUDED.features, relearnt = spam_learnt.relearnt + 1,
               seq = EXCLUDED.seq
         WHERE spam_learnt.spam <> EXCLUDED.spam
         RETURNING digest, relearnt = 0",
        &[&scope, &digests, &kinds, &features, &ages],
    )
    .await?;
    // What each digest was before: a row inserted was unknown; a row
    // updated was the other kind; no row was already the kind it ends with.
    let mut before: HashMap<&str, Option<bool>> = last.iter().map(|(d, m)| (*d, Some(m.spam))).collect();
    for r in &rows {
        let (digest, inserted): (String, bool) = (r.get(0), r.get(1));
        if let Some((d, m)) = last.get_key_value(digest.as_str()) {
            before.insert(d, if inserted { None } else { Some(!m.spam) });
        }
    }
    // The messages in their order, as if learnt one after the other.
    let mut report = LearnReport::default();
    let (mut dspam, mut dham) = (0i64, 0i64);
    for m in messages {
        let state = before.entry(m.digest.as_str()).or_insert(None);
        let Some((s, h)) = report.count(*state, m.spam) else { continue };
        *state = Some(m.spam);
        dspam += s;
        dham += h;
    }
    if report.learnt + report.relearnt == 0 {
        // Nothing new: the models trained from these examples stand.
        return Ok(report);
    }
    execute(
        c,
        "INSERT INTO spam_scopes (scope, spam, ham, generation)
         VALUES ($1, greatest(0, $2::bigint), greatest(0, $3::bigint), 1)
         ON CONFLICT (scope) DO UPDATE SET spam = greatest(0, spam_scopes.spam + $2),
           ham = greatest(0, spam_scopes.ham + $3), generation = spam_scopes.generation + 1",
        &[&scope, &dspam, &dham],
    )
    .await?;
    Ok(report)
}
