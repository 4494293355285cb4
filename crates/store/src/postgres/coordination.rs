//! Leases and windowed counts shared by every node (see coordination.rs).
//! A lease is one conditional upsert; a count takes a transaction-scoped
//! advisory lock on its name, so two nodes counting at once cannot both
//! pass a limit that only one of them may.

use async_trait::async_trait;

use super::PgStore;
use crate::{Coordination, Result};

#[async_trait]
impl Coordination for PgStore {
    fn shared(&self) -> bool {
        true
    }

    async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> Result<bool> {
        let row = self
            .client()
            .await?
            .query_opt(
                "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
                 WHERE leases.until <= $4 OR leases.holder = EXCLUDED.holder
                 RETURNING 1",
                &[&name, &holder, &until, &now],
            )
            .await?;
        Ok(row.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        self.client().await?.execute("DELETE FROM leases WHERE name = $1 AND holder = $2", &[&name, &holder]).await?;
        Ok(())
    }

    async fn lease_until(&self, name: &str, now: i64) -> Result<Option<i64>> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT until FROM leases WHERE name = $1 AND until > $2", &[&name, &now])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn add_events(&self, name: &str, n: u64, max: u64, now: i64, window: i64) -> Result<Option<u64>> {
        prune_now_and_then(self, now).await?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&name]).await?;
        tx.execute("DELETE FROM rate_events WHERE name = $1 AND ts <= $2", &[&name, &(now - window)]).await?;
        let used: i64 =
            tx.query_one("SELECT coalesce(sum(n), 0)::bigint FROM rate_events WHERE name = $1", &[&name]).await?.get(0);
        let total = used as u64 + n;
        if total > max {
            return Ok(None);
        }
        tx.execute("INSERT INTO rate_events (name, ts, n) VALUES ($1, $2, $3)", &[&name, &now, &(n as i64)]).await?;
        tx.commit().await?;
        Ok(Some(total))
    }
}

/// Events older than any window in use, and leases long over, are deleted
/// every few minutes: names that are never counted again (an address that
/// failed once) would otherwise stay forever.
async fn prune_now_and_then(store: &PgStore, now: i64) -> Result<()> {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    const EVERY: i64 = 600;
    /// Longer than the longest window (a day, text-message codes).
    const KEEP: i64 = 8 * 86_400;
    let last = LAST.load(Ordering::Relaxed);
    if now - last < EVERY || LAST.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err() {
        return Ok(());
    }
    let c = store.client().await?;
    c.execute("DELETE FROM rate_events WHERE ts < $1", &[&(now - KEEP)]).await?;
    c.execute("DELETE FROM leases WHERE until < $1", &[&(now - KEEP)]).await?;
    Ok(())
}
