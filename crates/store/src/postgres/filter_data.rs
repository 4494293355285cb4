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
impl FilterData for PgStore {
    async fn filter_state(&self, scopes: &[i64]) -> Result<FilterState> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn add_filter_rule(&self, rule: FilterRule) -> Result<FilterRule> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn del_filter_rule(&self, kind: &str, pattern: &str, scope: &str) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn filter_rules(&self) -> Result<Vec<FilterRule>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn filter_generation(&self) -> Result<i64> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn spam_counts(&self, scope: i64) -> Result<SpamCounts> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn spam_generations(&self, scopes: &[i64]) -> Result<Vec<i64>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn spam_learn(&self, scope: i64, messages: Vec<Learn>) -> Result<LearnReport> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn spam_learn_jobs(&self, limit: usize) -> Result<Vec<LearnJob>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn spam_learn_done(&self, ids: &[i64]) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn greylist(&self, triple: &str, now: i64, delay: i64, lifetime: i64) -> Result<Option<i64>> {
        Err(StoreError::Backend("not built yet".into()))
    }
}
