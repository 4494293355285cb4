//! What several Caravel nodes sharing one store must agree on besides the
//! mail itself: exclusive leases (POP3's one session per maildrop, RFC 1939
//! §8; an address ban) and counts over a sliding window (the hourly send
//! limit, failed sign-ins per address).
//!
//! A store that one process owns (the embedded store) says so with
//! [`Coordination::shared`] = false, and the protocols then keep these in
//! memory, as before, at no cost per command.

use async_trait::async_trait;

use crate::Result;

#[async_trait]
pub trait Coordination: Send + Sync {
    /// Whether other processes (other nodes) may use this store at the same
    /// time, so that per-process state must live in it.
    fn shared(&self) -> bool;

    /// Takes lease `name` for `holder` until `until` (Unix seconds), or
    /// extends it when `holder` already has it; false while another holder's
    /// lease runs past `now`.
    async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> Result<bool>;

    /// Gives lease `name` back, if `holder` has it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;

    /// When lease `name` ends, if someone holds it past `now`.
    async fn lease_until(&self, name: &str, now: i64) -> Result<Option<i64>>;

    /// Counts `n` events of `name` at `now`, unless the events of the last
    /// `window` seconds plus `n` would exceed `max`: the total within the
    /// window with them, or None (nothing counted) over the limit.
    async fn add_events(&self, name: &str, n: u64, max: u64, now: i64, window: i64) -> Result<Option<u64>>;
}
