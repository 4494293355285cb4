//! Settings in the embedded store: one row per document, and the dates
//! auto-replies were sent.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::settings::Settings;
use crate::Result;

/// Reply records older than this are forgotten (longer than any sensible
/// "once per N days").
const REPLY_MEMORY: i64 = 366 * 86400;

#[async_trait]
impl Settings for SqliteStore {
    async fn settings(&self, scope: &str, kind: &str) -> Result<Vec<(String, String)>> {
        let (scope, kind) = (scope.to_string(), kind.to_string());
        self.read(move |c| {
            let mut st =
                c.prepare_cached("SELECT name, value FROM settings WHERE scope = ?1 AND kind = ?2 ORDER BY name")?;
            let rows = st.query_map(params![scope, kind], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn put_setting(&self, scope: &str, kind: &str, name: &str, value: &str) -> Result<()> {
        let (scope, kind, name, value) = (scope.to_string(), kind.to_string(), name.to_string(), value.to_string());
        self.writer
            .write(move |c| {
                c.execute(
                    "INSERT INTO settings (scope, kind, name, value, updated) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (scope, kind, name) DO UPDATE SET value = excluded.value, updated = excluded.updated",
                    params![scope, kind, name, value, crate::now_secs()],
                )?;
                Ok(())
            })
            .await
    }

    async fn add_setting(&self, scope: &str, kind: &str, name: &str, value: &str) -> Result<bool> {
        let (scope, kind, name, value) = (scope.to_string(), kind.to_string(), name.to_string(), value.to_string());
        self.writer
            .write(move |c| {
                let n = c.execute(
                    "INSERT INTO settings (scope, kind, name, value, updated) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (scope, kind, name) DO NOTHING",
                    params![scope, kind, name, value, crate::now_secs()],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn del_setting(&self, scope: &str, kind: &str, name: &str) -> Result<bool> {
        let (scope, kind, name) = (scope.to_string(), kind.to_string(), name.to_string());
        self.writer
            .write(move |c| {
                Ok(c.execute(
                    "DELETE FROM settings WHERE scope = ?1 AND kind = ?2 AND name = ?3",
                    params![scope, kind, name],
                )? > 0)
            })
            .await
    }

    async fn claim_reply(&self, scope: &str, key: &str, now: i64, every: i64) -> Result<bool> {
        let (scope, key) = (scope.to_string(), key.to_lowercase());
        self.writer
            .write(move |c| {
                let last: Option<i64> = c
                    .query_row("SELECT sent FROM reply_log WHERE scope = ?1 AND key = ?2", params![scope, key], |r| {
                        r.get(0)
                    })
                    .optional()?;
                if last.is_some_and(|t| t > now - every) {
                    return Ok(false);
                }
                c.execute(
                    "INSERT INTO reply_log (scope, key, sent) VALUES (?1, ?2, ?3)
                     ON CONFLICT (scope, key) DO UPDATE SET sent = excluded.sent",
                    params![scope, key, now],
                )?;
                c.execute("DELETE FROM reply_log WHERE sent < ?1", [now - REPLY_MEMORY])?;
                Ok(true)
            })
            .await
    }
}
