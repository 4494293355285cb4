//! Connection limits: a total across all listeners and a count per client IP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Clone)]
pub struct ConnectionLimits {
    total: Arc<Semaphore>,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max_per_ip: usize,
}

/// Held for the life of a connection; releases its slots when dropped.
pub struct Slot {
    _total: OwnedSemaphorePermit,
    ip: IpAddr,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// The key one client's connections are counted under: IPv4-mapped IPv6
/// addresses count as IPv4, and an IPv6 client is its /64 (one host or
/// subscriber usually has a whole /64 to pick addresses from).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl ConnectionLimits {
    pub fn new(max_total: usize, max_per_ip: usize) -> ConnectionLimits {
        ConnectionLimits {
            total: Arc::new(Semaphore::new(max_total)),
            per_ip: Arc::new(Mutex::new(HashMap::new())),
            max_per_ip,
        }
    }

    /// Waits for a free slot overall. Taken before `accept`, so that excess
    /// clients wait in the kernel's backlog instead of in memory.
    pub async fn reserve(&self) -> Option<OwnedSemaphorePermit> {
        self.total.clone().acquire_owned().await.ok()
    }

    /// Admits a connection from `ip` with a reserved slot, or returns `None`
    /// if that address already has the most connections allowed.
    pub fn admit(&self, ip: IpAddr, reserved: OwnedSemaphorePermit) -> Option<Slot> {
        let ip = client_key(ip);
        let mut map = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return None;
        }
        *n += 1;
        Some(Slot { _total: reserved, ip, per_ip: self.per_ip.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn per_ip_limit_and_release() {
        let limits = ConnectionLimits::new(10, 2);
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let other: IpAddr = "127.0.0.2".parse().expect("ip");
        let a = limits.admit(ip, limits.reserve().await.expect("slot")).expect("first");
        let _b = limits.admit(ip, limits.reserve().await.expect("slot")).expect("second");
        assert!(limits.admit(ip, limits.reserve().await.expect("slot")).is_none(), "third refused");
        assert!(limits.admit(other, limits.reserve().await.expect("slot")).is_some(), "other IP admitted");
        drop(a);
        assert!(limits.admit(ip, limits.reserve().await.expect("slot")).is_some(), "slot released");
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        assert_eq!(client_key(a), client_key(b));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(client_key(mapped), "192.0.2.1".parse::<IpAddr>().expect("ip"));
    }

    #[tokio::test]
    async fn total_limit_waits() {
        let limits = ConnectionLimits::new(1, 5);
        let held = limits.reserve().await.expect("slot");
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), limits.reserve()).await;
        assert!(waiting.is_err(), "second reservation waits");
        drop(held);
        assert!(limits.reserve().await.is_some());
    }
}
