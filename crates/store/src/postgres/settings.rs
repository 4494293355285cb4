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
impl Settings for PgStore {
    async fn settings(&self, scope: &str, kind: &str) -> Result<Vec<(String, String)>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn put_setting(&self, scope: &str, kind: &str, name: &str, value: &str) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn add_setting(&self, scope: &str, kind: &str, name: &str, value: &str) -> Result<bool> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn del_setting(&self, scope: &str, kind: &str, name: &str) -> Result<bool> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn claim_reply(&self, scope: &str, key: &str, now: i64, every: i64) -> Result<bool> {
        Err(StoreError::Backend("not built yet".into()))
    }
}
