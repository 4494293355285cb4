//! The spam filter's rules, counts, learning queue and greylist in
//! PostgreSQL. Several nodes learn and greylist at once: every change is one
//! upsert or runs under the row locks of the thing it counts, so that the
//! same message learnt on two nodes is counted once.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::mail::{execute, query, query_one, query_opt};
use super::PgStore;
use crate::filter_data::{FilterData, FilterRule, FilterState, Learn, LearnJob, LearnReport, SpamCounts};
use crate::{Result, StoreError};

/// The generation of each scope of `$1` (0 when it never learnt), in order.
const SCOPE_GENERATIONS: &str = "ARRAY(SELECT coalesce(s.generation, 0)
     FROM unnest($1::bigint[]) WITH ORDINALITY AS u(scope, n) LEFT JOIN spam_scopes s ON s.scope = u.scope
     ORDER BY u.n)";

/// Tokens are u64 hashes; PostgreSQL's bigint is i64: the bits are kept.
fn to_sql(token: u64) -> i64 {
    token as i64
}

fn from_sql(token: i64) -> u64 {
    token as u64
}

/// A count read back (never negative: updates clamp at 0).
fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(if n < 0 { 0 } else { u32::MAX })
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

    async fn spam_counts(&self, scope: i64) -> Result<SpamCounts> {
        // One statement (one snapshot, one round trip) whatever the number
        // of tokens: the three arrays are filled from the same rows in the
        // same order.
        let row = query_opt(
            &self.client().await?,
            "SELECT s.spam, s.ham, s.generation, t.tokens, t.spams, t.hams FROM spam_scopes s,
               LATERAL (SELECT array_agg(token) AS tokens, array_agg(spam) AS spams, array_agg(ham) AS hams
                        FROM spam_tokens WHERE scope = s.scope) t
             WHERE s.scope = $1",
            &[&scope],
        )
        .await?;
        let Some(r) = row else { return Ok(SpamCounts::default()) };
        let (tokens, spams, hams): (Option<Vec<i64>>, Option<Vec<i64>>, Option<Vec<i64>>) =
            (r.get(3), r.get(4), r.get(5));
        let tokens = tokens
            .unwrap_or_default()
            .into_iter()
            .zip(spams.unwrap_or_default())
            .zip(hams.unwrap_or_default())
            .map(|((t, s), h)| (from_sql(t), count(s), count(h)))
            .collect();
        Ok(SpamCounts { spam_messages: count(r.get(0)), ham_messages: count(r.get(1)), tokens, generation: r.get(2) })
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

    async fn greylist(&self, triple: &str, now: i64, delay: i64, lifetime: i64) -> Result<Option<i64>> {
        let c = self.client().await?;
        // One upsert decides, under the row's lock: a triple seen within
        // `lifetime` keeps its first sighting and passes once it waited
        // `delay`; a new or forgotten one starts again now.
        let row = query_one(
            &c,
            "INSERT INTO greylist (triple, first_seen, last_seen, passed) VALUES ($1, $2, $2, false)
             ON CONFLICT (triple) DO UPDATE SET
               first_seen = CASE WHEN $2 - greylist.last_seen < $4 THEN greylist.first_seen ELSE $2 END,
               passed = CASE WHEN $2 - greylist.last_seen < $4
                             THEN greylist.passed OR $2 - greylist.first_seen >= $3 ELSE false END,
               last_seen = $2
             RETURNING first_seen, passed",
            &[&triple, &now, &delay, &lifetime],
        )
        .await?;
        let (first, passed): (i64, bool) = (row.get(0), row.get(1));
        if passed {
            return Ok(None);
        }
        if first == now {
            // New, or forgotten: forget a few other old triples while here
            // (skipping those another node is touching).
            execute(
                &c,
                "DELETE FROM greylist WHERE triple IN
                 (SELECT triple FROM greylist WHERE last_seen < $1 LIMIT 100 FOR UPDATE SKIP LOCKED)",
                &[&(now - lifetime)],
            )
            .await?;
        }
        Ok(Some(delay - (now - first)))
    }
}

/// Adds each message's tokens to the scope's counts (moving them when the
/// message was learnt as the other kind before), in the caller's transaction.
///
/// Atomic per message across nodes: the `spam_learnt` upsert changes a
/// digest's row only when it is new or its kind changes, and it returns the
/// rows it changed; the counts move for those alone. A node learning the
/// same message at the same time waits on that row and then finds it
/// learnt. Rows are locked in one order everywhere (digests sorted, then
/// tokens sorted, then the scope) so that two learners never deadlock.
async fn learn(c: &impl GenericClient, scope: i64, messages: &[Learn]) -> Result<LearnReport> {
    // The kind each digest ends with (the last time it appears).
    let last: BTreeMap<&str, bool> = messages.iter().map(|m| (m.digest.as_str(), m.spam)).collect();
    let (digests, kinds): (Vec<&str>, Vec<bool>) = last.iter().map(|(d, k)| (*d, *k)).unzip();
    let rows = query(
        c,
        "INSERT INTO spam_learnt (scope, digest, spam, relearnt)
         SELECT $1, d, k, 0 FROM unnest($2::text[], $3::boolean[]) AS u(d, k) ORDER BY d
         ON CONFLICT (scope, digest) DO UPDATE SET spam = EXCLUDED.spam, relearnt = spam_learnt.relearnt + 1
         WHERE spam_learnt.spam <> EXCLUDED.spam
         RETURNING digest, relearnt = 0",
        &[&scope, &digests, &kinds],
    )
    .await?;
    // What each digest was before: a row inserted was unknown; a row
    // updated was the other kind; no row was already the kind it ends with.
    let mut before: HashMap<&str, Option<bool>> = last.iter().map(|(d, k)| (*d, Some(*k))).collect();
    for r in &rows {
        let (digest, inserted): (String, bool) = (r.get(0), r.get(1));
        if let Some((d, k)) = last.get_key_value(digest.as_str()) {
            before.insert(d, if inserted { None } else { Some(!k) });
        }
    }
    // The messages in their order, as if learnt one after the other.
    let mut report = LearnReport::default();
    let (mut dspam, mut dham) = (0i64, 0i64);
    let mut deltas: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for m in messages {
        let state = before.entry(m.digest.as_str()).or_insert(None);
        let (s, h) = match (*state, m.spam) {
            (Some(was), now) if was == now => {
                report.unchanged += 1;
                continue;
            }
            (Some(_), true) => (1, -1),
            (Some(_), false) => (-1, 1),
            (None, true) => (1, 0),
            (None, false) => (0, 1),
        };
        if state.is_some() {
            report.relearnt += 1;
        } else {
            report.learnt += 1;
        }
        *state = Some(m.spam);
        dspam += s;
        dham += h;
        for t in &m.tokens {
            let d = deltas.entry(to_sql(*t)).or_default();
            d.0 += s;
            d.1 += h;
        }
    }
    add_token_counts(c, scope, &deltas, report.relearnt > 0).await?;
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

/// Adds (spam, ham) deltas to the tokens' counts, never below 0, and drops
/// the tokens left at 0 after a relearn. Set-based, tokens in ascending
/// order: the additions are one upsert; the subtractions then touch rows
/// that upsert locked already (a move takes from one kind what it gives
/// the other, so a token with a negative delta has a positive one too).
async fn add_token_counts(
    c: &impl GenericClient,
    scope: i64,
    deltas: &BTreeMap<i64, (i64, i64)>,
    relearnt: bool,
) -> Result<()> {
    let split = |pick: fn(i64) -> i64| {
        let mut out: (Vec<i64>, Vec<i64>, Vec<i64>) = Default::default();
        for (&t, &(s, h)) in deltas {
            if pick(s) != 0 || pick(h) != 0 {
                out.0.push(t);
                out.1.push(pick(s));
                out.2.push(pick(h));
            }
        }
        out
    };
    let (tokens, spams, hams) = split(|n| n.max(0));
    if !tokens.is_empty() {
        execute(
            c,
            "INSERT INTO spam_tokens (scope, token, spam, ham)
             SELECT $1, t, s, h FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS u(t, s, h) ORDER BY t
             ON CONFLICT (scope, token) DO UPDATE
             SET spam = spam_tokens.spam + EXCLUDED.spam, ham = spam_tokens.ham + EXCLUDED.ham",
            &[&scope, &tokens, &spams, &hams],
        )
        .await?;
    }
    let (tokens, spams, hams) = split(|n| n.min(0));
    if !tokens.is_empty() {
        execute(
            c,
            "UPDATE spam_tokens t SET spam = greatest(0, t.spam + u.s), ham = greatest(0, t.ham + u.h)
             FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS u(token, s, h)
             WHERE t.scope = $1 AND t.token = u.token",
            &[&scope, &tokens, &spams, &hams],
        )
        .await?;
    }
    if relearnt {
        let touched: Vec<i64> = deltas.keys().copied().collect();
        execute(
            c,
            "DELETE FROM spam_tokens WHERE scope = $1 AND token = ANY($2) AND spam = 0 AND ham = 0",
            &[&scope, &touched],
        )
        .await?;
    }
    Ok(())
}
