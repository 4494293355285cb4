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
impl Directory for PgStore {
    async fn add_domain(&self, name: &str) -> Result<Domain> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn list_domains(&self) -> Result<Vec<Domain>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn set_domain_protocols(&self, name: &str, protocols: Protocols) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn del_domain(&self, name: &str) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn add_user(&self, user: NewUser) -> Result<User> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn get_user(&self, address: &Address) -> Result<Option<User>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn user_by_id(&self, account: AccountId) -> Result<Option<User>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn list_users(&self) -> Result<Vec<User>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn update_user(&self, address: &Address, update: UserUpdate) -> Result<User> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn del_user(&self, address: &Address) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn unlock_user(&self, address: &Address) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn add_alias(&self, alias: &Address, targets: &[String]) -> Result<Alias> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn list_aliases(&self) -> Result<Vec<Alias>> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn del_alias(&self, alias: &Address) -> Result<()> {
        Err(StoreError::Backend("not built yet".into()))
    }
    async fn resolve(&self, address: &Address) -> Result<Recipient> {
        Err(StoreError::Backend("not built yet".into()))
    }
}
