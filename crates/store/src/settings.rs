//! What users and administrators set for their mail (signatures, profiles,
//! auto-replies, mail rules, holiday calendars): named JSON documents per
//! scope and kind. The store keeps them; `caravel-personal` gives them
//! their types and meaning, so a new setting needs no new table.
//!
//! Scopes: `account:ID` (goes with the account), `alias:ADDRESS` (goes
//! with the alias), `domain:NAME`, `server`.

use async_trait::async_trait;

use crate::{AccountId, Result};

/// The scope of an account's settings.
pub fn account_scope(account: AccountId) -> String {
    format!("account:{account}")
}

/// The scope of a shared alias's settings (its auto-reply), lowercased.
pub fn alias_scope(address: &str) -> String {
    format!("alias:{}", address.to_lowercase())
}

/// The scope of a domain's settings (lowercased).
pub fn domain_scope(domain: &str) -> String {
    format!("domain:{}", domain.to_ascii_lowercase())
}

#[async_trait]
pub trait Settings: Send + Sync {
    /// Every `(name, value)` of `kind` in `scope`, by name.
    async fn settings(&self, scope: &str, kind: &str) -> Result<Vec<(String, String)>>;
    /// Creates or replaces one.
    async fn put_setting(&self, scope: &str, kind: &str, name: &str, value: &str) -> Result<()>;
    /// Creates one unless it exists; whether it was created (of two callers
    /// at once, one wins and both then read the same value).
    async fn add_setting(&self, scope: &str, kind: &str, name: &str, value: &str) -> Result<bool>;
    /// Whether it existed.
    async fn del_setting(&self, scope: &str, kind: &str, name: &str) -> Result<bool>;
    /// Reply-once bookkeeping for auto-replies (RFC 3834 §2, RFC 5230 §4.2):
    /// true, and `now` recorded, when nothing was recorded for `key` in
    /// `scope` after `now - every`; false otherwise. Atomic: two deliveries
    /// at once claim it once.
    async fn claim_reply(&self, scope: &str, key: &str, now: i64, every: i64) -> Result<bool>;
}
