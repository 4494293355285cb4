//! DKIM keys in the embedded store.

use async_trait::async_trait;
use rusqlite::params;

use super::{delete_one, SqliteStore};
use crate::{DkimKey, DkimKeys, Result, StoreError};

#[async_trait]
impl DkimKeys for SqliteStore {
    async fn add_dkim_key(&self, key: DkimKey) -> Result<()> {
        self.writer
            .write(move |c| {
                let n = c.execute(
                    "INSERT OR IGNORE INTO dkim_keys (domain, selector, algorithm, private_key, public_key, created)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![key.domain, key.selector, key.algorithm, key.private_key, key.public_key, key.created],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict(format!("{} already has a key {}", key.domain, key.selector)));
                }
                Ok(())
            })
            .await
    }

    async fn dkim_keys(&self, domain: &str) -> Result<Vec<DkimKey>> {
        let domain = domain.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT domain, selector, algorithm, private_key, public_key, created FROM dkim_keys
                 WHERE domain = ?1 ORDER BY created DESC, selector DESC",
            )?;
            let rows = st.query_map([domain], |r| {
                Ok(DkimKey {
                    domain: r.get(0)?,
                    selector: r.get(1)?,
                    algorithm: r.get(2)?,
                    private_key: r.get(3)?,
                    public_key: r.get(4)?,
                    created: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn del_dkim_key(&self, domain: &str, selector: &str) -> Result<()> {
        let (domain, selector) = (domain.to_string(), selector.to_string());
        self.writer
            .write(move |c| {
                let sql = "DELETE FROM dkim_keys WHERE domain = ?1 AND selector = ?2";
                delete_one(c, sql, params![domain, selector], || format!("{domain} has no key {selector}"))
            })
            .await
    }
}
