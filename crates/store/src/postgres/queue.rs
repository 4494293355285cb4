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
impl OutboundQueue for PgStore {
    async fn due(&self, now: i64, limit: usize, busy: &[i64]) -> Result<Vec<QueueJob>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn next_due(&self) -> Result<Option<i64>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn record_attempt(&self, attempt: Attempt) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    fn queue_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        unimplemented!()
    }
}
