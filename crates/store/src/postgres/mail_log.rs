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
impl MailLog for PgStore {
    async fn record(&self, event: MailEvent) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn events(&self, query: EventQuery) -> Result<Vec<MailEvent>> {
        Err(StoreError::Backend("not built yet".into()))
    }
}
