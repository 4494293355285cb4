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
impl Security for PgStore {
    async fn record_failure(&self, account: AccountId, now: i64, policy: LockPolicy) -> Result<Option<i64>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn record_success(&self, account: AccountId) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn totp(&self, account: AccountId) -> Result<TotpState> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn set_totp_secret(&self, account: AccountId, secret: Option<String>) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn enable_totp(&self, account: AccountId, recovery_hashes: Vec<String>) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn use_totp_step(&self, account: AccountId, step: i64) -> Result<bool> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn use_recovery_code(&self, account: AccountId, hash: &str) -> Result<bool> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn add_app_password(&self, account: AccountId, name: &str, hash: &str) -> Result<AppPassword> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn app_passwords(&self, account: AccountId) -> Result<Vec<AppPassword>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn del_app_password(&self, account: AccountId, name: &str) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn use_app_password(&self, account: AccountId, hash: &str) -> Result<bool> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn create_web_session(&self, token_hash: &str, session: WebSession) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn web_session(&self, token_hash: &str, now: i64) -> Result<Option<WebSession>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn update_web_session(&self, token_hash: &str, session: WebSession) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn delete_web_session(&self, token_hash: &str) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn revoke_all(&self, account: AccountId, app_passwords: bool) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn create_reset_token(
        &self,
        token_hash: &str,
        account: AccountId,
        now: i64,
        expires: i64,
        not_after_last: i64,
    ) -> Result<bool> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn reset_token_account(&self, token_hash: &str, now: i64) -> Result<Option<AccountId>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn take_reset_token(&self, token_hash: &str, now: i64) -> Result<Option<(AccountId, i64)>> {
        Err(StoreError::Backend("not built yet".into()))
    }
}
