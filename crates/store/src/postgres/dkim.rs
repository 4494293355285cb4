//! DKIM signing keys in PostgreSQL, shared by every node (each signs with
//! the same keys).

use async_trait::async_trait;

use super::PgStore;
use crate::{DkimKey, DkimKeys, Result, StoreError};

#[async_trait]
impl DkimKeys for PgStore {
    async fn add_dkim_key(&self, key: DkimKey) -> Result<()> {
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO dkim_keys (domain, selector, algorithm, private_key, public_key, created)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[&key.domain, &key.selector, &key.algorithm, &key.private_key, &key.public_key, &key.created],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("{} already has a key {}", key.domain, key.selector)));
        }
        Ok(())
    }

    async fn dkim_keys(&self, domain: &str) -> Result<Vec<DkimKey>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT domain, selector, algorithm, private_key, public_key, created FROM dkim_keys
                 WHERE domain = $1 ORDER BY created DESC, selector DESC",
            )
            .await?;
        let rows = c.query(&st, &[&domain]).await?;
        Ok(rows
            .iter()
            .map(|r| DkimKey {
                domain: r.get(0),
                selector: r.get(1),
                algorithm: r.get(2),
                private_key: r.get(3),
                public_key: r.get(4),
                created: r.get(5),
            })
            .collect())
    }

    async fn del_dkim_key(&self, domain: &str, selector: &str) -> Result<()> {
        let c = self.client().await?;
        let n = c.execute("DELETE FROM dkim_keys WHERE domain = $1 AND selector = $2", &[&domain, &selector]).await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("{domain} has no key {selector}")));
        }
        Ok(())
    }
}
