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
impl Folders for PgStore {
    async fn rename_mailbox(&self, account: AccountId, from: &str, to: &str) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn delete_mailbox(&self, account: AccountId, name: &str) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn set_subscribed(&self, account: AccountId, name: &str, subscribed: bool) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn subscriptions(&self, account: AccountId) -> Result<Vec<String>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn urlauth_key(&self, mailbox: MailboxId, key: Option<Vec<u8>>) -> Result<Option<Vec<u8>>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn reset_urlauth_keys(&self, account: AccountId, mailbox: Option<MailboxId>) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn copy_messages(
        &self,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
        expunge_source: bool,
    ) -> Result<Vec<(u32, u32)>> {
        Err(StoreError::Backend("not built yet".into()))
    }
}
