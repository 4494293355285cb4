//! Per-address brute-force protection: failed sign-ins from one address,
//! across all accounts and protocols, ban it for a while. IPv6 addresses
//! count per /64, as one host usually holds the whole prefix.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

/// Entries kept before old ones are pruned.
const PRUNE_AT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanPolicy {
    /// This many failures within `window_secs` ban the address.
    pub max_failures: u32,
    pub window_secs: i64,
    pub ban_secs: i64,
}

#[derive(Default)]
struct Entry {
    failures: VecDeque<i64>,
    banned_until: i64,
}

/// Failures per key within a window; enough of them ban the key for a while.
/// Bounded: at [`PRUNE_AT`] entries old ones go, and if that is not enough
/// every key not banned is forgotten (a flood of fresh keys cannot grow it).
pub struct Counter<K> {
    policy: BanPolicy,
    entries: Mutex<HashMap<K, Entry>>,
}

impl<K: std::hash::Hash + Eq> Counter<K> {
    pub fn new(policy: BanPolicy) -> Counter<K> {
        Counter { policy, entries: Mutex::new(HashMap::new()) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn banned(&self, key: &K, now: i64) -> bool {
        self.entries().get(key).is_some_and(|e| e.banned_until > now)
    }

    /// Counts a failure; true when it bans the key (this failure only).
    pub fn failure(&self, key: K, now: i64) -> bool {
        let p = self.policy;
        let mut entries = self.entries();
        if entries.len() >= PRUNE_AT {
            entries.retain(|_, e| e.banned_until > now || e.failures.back().is_some_and(|&t| now - t < p.window_secs));
            if entries.len() >= PRUNE_AT {
                entries.retain(|_, e| e.banned_until > now);
            }
        }
        let e = entries.entry(key).or_default();
        while e.failures.front().is_some_and(|&t| now - t >= p.window_secs) {
            e.failures.pop_front();
        }
        e.failures.push_back(now);
        if e.failures.len() >= p.max_failures as usize && e.banned_until <= now {
            e.banned_until = now.saturating_add(p.ban_secs);
            e.failures.clear();
            return true;
        }
        false
    }

    pub fn lift(&self, key: &K) {
        self.entries().remove(key);
    }

    /// Bans `key` until `until` (a ban decided elsewhere: another node).
    pub fn ban(&self, key: K, until: i64) {
        let mut entries = self.entries();
        let e = entries.entry(key).or_default();
        e.banned_until = e.banned_until.max(until);
    }
}

/// The key an address counts under: itself, or its /64 for IPv6.
pub fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED)),
        v4 => v4,
    }
}

/// The per-address ban.
pub struct IpGuard(Counter<IpAddr>);

impl IpGuard {
    pub fn new(policy: BanPolicy) -> IpGuard {
        IpGuard(Counter::new(policy))
    }

    /// Whether `ip` is banned at `now`.
    pub fn banned(&self, ip: IpAddr, now: i64) -> bool {
        self.0.banned(&key(ip), now)
    }

    /// Counts a failure; true when it bans the address (this failure only).
    pub fn failure(&self, ip: IpAddr, now: i64) -> bool {
        self.0.failure(key(ip), now)
    }

    /// Lifts a ban (and forgets the failures) of `ip`.
    pub fn lift(&self, ip: IpAddr) {
        self.0.lift(&key(ip))
    }

    /// Bans `ip` until `until`, as another node decided.
    pub fn ban(&self, ip: IpAddr, until: i64) {
        self.0.ban(key(ip), until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: BanPolicy = BanPolicy { max_failures: 3, window_secs: 60, ban_secs: 600 };

    #[test]
    fn failures_within_the_window_ban_for_a_while() {
        let g = IpGuard::new(P);
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        assert!(!g.failure(ip, 100) && !g.failure(ip, 110));
        assert!(g.failure(ip, 120), "third failure bans");
        assert!(g.banned(ip, 121) && g.banned(ip, 719) && !g.banned(ip, 720));
        assert!(!g.banned("192.0.2.8".parse().expect("ip"), 121), "other addresses are not");
    }

    #[test]
    fn slow_failures_never_ban() {
        let g = IpGuard::new(P);
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        for i in 0..10 {
            assert!(!g.failure(ip, i * 31));
        }
    }

    #[test]
    fn a_flood_of_new_keys_stays_bounded_and_bans_survive_it() {
        let c: Counter<u32> = Counter::new(P);
        for _ in 0..3 {
            c.failure(u32::MAX, 10);
        }
        for k in 0..(PRUNE_AT as u32 * 3) {
            c.failure(k, 11);
        }
        assert!(c.entries().len() <= PRUNE_AT, "{}", c.entries().len());
        assert!(c.banned(&u32::MAX, 12), "a ban is never pruned while it lasts");
    }

    #[test]
    fn ipv6_counts_per_slash_64_and_mapped_v4_as_v4() {
        let g = IpGuard::new(P);
        for host in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"] {
            g.failure(host.parse().expect("ip"), 10);
        }
        assert!(g.banned("2001:db8:1:2::99".parse().expect("ip"), 11));
        assert!(!g.banned("2001:db8:1:3::1".parse().expect("ip"), 11));
        for _ in 0..3 {
            g.failure("::ffff:192.0.2.9".parse().expect("ip"), 10);
        }
        assert!(g.banned("192.0.2.9".parse().expect("ip"), 11));
    }
}
