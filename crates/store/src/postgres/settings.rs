//! Settings in PostgreSQL: one row per document, and the dates auto-replies
//! were sent. Every write is one statement, so nodes writing at once never
//! lose one another's change half-way.

use async_trait::async_trait;

use super::PgStore;
use crate::settings::Settings;
use crate::{now_secs, Result};

/// Reply records older than this are forgotten (longer than any sensible
/// "once per N days").
const REPLY_MEMORY: i64 = 366 * 86400;

#[async_trait]
impl Settings for PgStore {
    async fn settings(&self, scope: &str, kind: &str) -> Result<Vec<(String, String)>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT name, value FROM settings WHERE scope = $1 AND kind = $2 ORDER BY name COLLATE \"C\"",
            )
            .await?;
        Ok(c.query(&st, &[&scope, &kind]).await?.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn put_setting(&self, scope: &str, kind: &str, name: &str, value: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO settings (scope, kind, name, value, updated) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (scope, kind, name) DO UPDATE SET value = EXCLUDED.value, updated = EXCLUDED.updated",
            &[&scope, &kind, &name, &value, &now_secs()],
        )
        .await?;
        Ok(())
    }

    async fn add_setting(&self, scope: &str, kind: &str, name: &str, value: &str) -> Result<bool> {
        let c = self.client().await?;
        // ON CONFLICT DO NOTHING waits for a concurrent insert of the same
        // key: of two callers, one inserts, the other sees it (false).
        let n = c
            .execute(
                "INSERT INTO settings (scope, kind, name, value, updated) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (scope, kind, name) DO NOTHING",
                &[&scope, &kind, &name, &value, &now_secs()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn del_setting(&self, scope: &str, kind: &str, name: &str) -> Result<bool> {
        let c = self.client().await?;
        let n = c
            .execute("DELETE FROM settings WHERE scope = $1 AND kind = $2 AND name = $3", &[&scope, &kind, &name])
            .await?;
        Ok(n > 0)
    }

    async fn claim_reply(&self, scope: &str, key: &str, now: i64, every: i64) -> Result<bool> {
        let c = self.client().await?;
        // One upsert: a first reply inserts, a later one moves `sent` only
        // when the last is older than the period. Two deliveries at once
        // (on any nodes) serialize on the row and the second finds it
        // claimed (RFC 3834 §2, RFC 5230 §4.2).
        let st = c
            .prepare_cached(
                "INSERT INTO reply_log (scope, key, sent) VALUES ($1, $2, $3)
                 ON CONFLICT (scope, key) DO UPDATE SET sent = EXCLUDED.sent WHERE reply_log.sent <= $3 - $4
                 RETURNING 1",
            )
            .await?;
        let claimed = c.query_opt(&st, &[&scope, &key.to_lowercase(), &now, &every]).await?.is_some();
        if claimed {
            c.execute("DELETE FROM reply_log WHERE sent < $1", &[&(now - REPLY_MEMORY)]).await?;
        }
        Ok(claimed)
    }
}

#[cfg(test)]
mod races {
    use crate::postgres::security::races::{at_once, two_nodes};
    use crate::settings::Settings;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_reply_and_one_first_value() {
        let (a, b, _) = two_nodes().await;
        let claims = at_once(&a, &b, 8, |s, i| async move {
            s.claim_reply("server", "Buyer@far.test", 1000 + i as i64, 86400).await.expect("claim")
        })
        .await;
        assert_eq!(claims.iter().filter(|ok| **ok).count(), 1, "one auto-reply per period");
        let added = at_once(&a, &b, 8, |s, i| async move {
            s.add_setting("server", "secret", "srs", &format!("v{i}")).await.expect("add")
        })
        .await;
        assert_eq!(added.iter().filter(|ok| **ok).count(), 1, "one value wins");
    }
}
