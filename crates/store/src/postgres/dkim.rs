//! STUB: replaced by the real implementation.
#![allow(unused_variables)]

use super::PgStore;
#[allow(unused_imports)]
use crate::filter_data::*;
#[allow(unused_imports)]
use crate::quarantine::*;
#[allow(unused_imports)]
use crate::*;
use async_trait::async_trait;

#[async_trait]
impl DkimKeys for PgStore {
    async fn add_dkim_key(&self, key: DkimKey) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn dkim_keys(&self, domain: &str) -> Result<Vec<DkimKey>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn del_dkim_key(&self, domain: &str, selector: &str) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
}
