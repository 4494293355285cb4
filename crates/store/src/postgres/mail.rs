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
impl MailStore for PgStore {
    async fn mailboxes(&self, account: AccountId) -> Result<Vec<Mailbox>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn mailbox(&self, id: MailboxId) -> Result<Option<Mailbox>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn create_mailbox(&self, account: AccountId, name: &str) -> Result<Mailbox> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn deliver(&self, delivery: Delivery) -> Result<DeliveryOutcome> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn deliver_all(&self, deliveries: Vec<Delivery>) -> Result<Vec<Stored>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn queued(&self) -> Result<Vec<QueuedMessage>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn queue_summary(&self) -> Result<(u64, Option<i64>)> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn retry_queued(&self, id: Option<i64>, now: i64) -> Result<u64> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn del_queued(&self, id: i64) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn messages(&self, mailbox: MailboxId) -> Result<Vec<MessageMeta>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn messages_changed(&self, mailbox: MailboxId, uids: &[u32], from: Option<u32>) -> Result<Vec<MessageMeta>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn structure(&self, mailbox: MailboxId, uid: u32) -> Result<(mime::Envelope, mime::BodyPart)> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn structures(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
    ) -> Result<std::collections::HashMap<u32, (mime::Envelope, mime::BodyPart)>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn sorted_uids(&self, mailbox: MailboxId, criteria: &[sort_keys::SortCriterion]) -> Result<Vec<u32>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn thread_keys(&self, mailbox: MailboxId) -> Result<Vec<(u32, sort_keys::ThreadKeys)>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn envelopes_of(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
    ) -> Result<std::collections::HashMap<u32, mime::Envelope>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn read_blob(&self, hash: &str) -> Result<Vec<u8>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn read_messages(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn set_flags(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        flags: Flags,
        keywords: &[String],
        mode: FlagMode,
    ) -> Result<u64> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn expunge(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<u32>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn header_search(&self, mailbox: MailboxId, field: &str, needle: &str) -> Result<Option<Vec<u32>>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn claim_recent(&self, mailbox: MailboxId) -> Result<(u32, u32)> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn vanished_since(&self, mailbox: MailboxId, modseq: u64) -> Result<Vec<u32>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    fn watch(&self, mailbox: MailboxId) -> broadcast::Receiver<MailboxChange> {
        unimplemented!()
    }
    fn watch_account(&self, account: AccountId) -> broadcast::Receiver<()> {
        unimplemented!()
    }
}
