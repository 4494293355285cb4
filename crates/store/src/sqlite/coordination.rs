//! Leases and windowed counts in the embedded store (see coordination.rs):
//! the single writer makes each check-and-change atomic.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::{Coordination, Result};

#[async_trait]
impl Coordination for SqliteStore {
    fn shared(&self) -> bool {
        false
    }

    async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> Result<bool> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.writer
            .write(move |c| {
                let n = c.execute(
                    "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                     WHERE leases.until <= ?4 OR leases.holder = excluded.holder",
                    params![name, holder, until, now],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.writer
            .write(move |c| {
                c.execute("DELETE FROM leases WHERE name = ?1 AND holder = ?2", params![name, holder])?;
                Ok(())
            })
            .await
    }

    async fn lease_until(&self, name: &str, now: i64) -> Result<Option<i64>> {
        let name = name.to_string();
        self.read(move |c| {
            Ok(c.query_row("SELECT until FROM leases WHERE name = ?1 AND until > ?2", params![name, now], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn add_events(&self, name: &str, n: u64, max: u64, now: i64, window: i64) -> Result<Option<u64>> {
        let name = name.to_string();
        self.writer
            .write(move |c| {
                c.execute("DELETE FROM rate_events WHERE name = ?1 AND ts <= ?2", params![name, now - window])?;
                let used: i64 =
                    c.query_row("SELECT coalesce(sum(n), 0) FROM rate_events WHERE name = ?1", [&name], |r| r.get(0))?;
                let total = used as u64 + n;
                if total > max {
                    return Ok(None);
                }
                c.execute("INSERT INTO rate_events (name, ts, n) VALUES (?1, ?2, ?3)", params![name, now, n as i64])?;
                Ok(Some(total))
            })
            .await
    }
}
