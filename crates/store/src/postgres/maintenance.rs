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
impl Maintenance for PgStore {
    async fn check(&self) -> Result<CheckReport> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn recover(&self) -> Result<u64> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn compact(&self, vacuum: bool) -> Result<CompactReport> {
        Err(StoreError::Backend("not built yet".into()))
    }
}
