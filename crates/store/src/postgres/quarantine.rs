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
impl Quarantine for PgStore {
    async fn hold(&self, message: NewHeld) -> Result<i64> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn held(&self) -> Result<Vec<Held>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn held_message(&self, id: i64) -> Result<Option<(Held, Vec<u8>)>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn unhold(&self, id: i64) -> Result<bool> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn drop_held_recipient(&self, id: i64, address: &str) -> Result<Option<usize>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn expire_held(&self, before: i64) -> Result<u64> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn mark_held_notified(&self, ids: Vec<i64>) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn claim_held(&self, id: i64, now: i64, stale: i64) -> Result<bool> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn unclaim_held(&self, id: i64) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
}
