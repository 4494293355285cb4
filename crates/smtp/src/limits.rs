//! Limits that depend on who is sending or receiving: the largest message
//! per domain and per user (below the global `max_message_size`), and how
//! many recipients a signed-in user may send to per hour (a stolen password
//! must not send a flood from the company's address).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caravel_config::units::format_size;
use caravel_store::Coordination;

use crate::reply::Reply;

#[derive(Debug, Clone, Default)]
pub struct SizeLimits {
    pub global: u64,
    pub domains: Vec<(String, u64)>,
    pub users: Vec<(String, u64)>,
}

impl SizeLimits {
    /// The largest message for `address`: its own limit, else its
    /// domain's, and never above the global one.
    pub fn for_address(&self, address: &str) -> u64 {
        let a = address.to_lowercase();
        let domain = a.rsplit_once('@').map_or("", |(_, d)| d);
        let own = self.users.iter().find(|(u, _)| *u == a).or_else(|| self.domains.iter().find(|(d, _)| d == domain));
        own.map_or(self.global, |(_, l)| (*l).min(self.global))
    }

    /// 552 5.3.4 in words: how large, the limit, and whose it is.
    pub fn refusal(&self, size: u64, address: &str, sending: bool) -> Option<Reply> {
        let limit = self.for_address(address);
        (size > limit).then(|| {
            let whose = match (limit == self.global, sending) {
                (true, _) => "this server's limit".to_string(),
                (false, true) => format!("the limit for mail from {address}"),
                (false, false) => format!("the limit for mail to {address}"),
            };
            Reply::new(
                552,
                "5.3.4",
                format!("Message too large: {} bytes ({}), {whose} is {}", size, mb(size), format_size(limit)),
            )
        })
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1 << 20) as f64)
}

/// Recipients per user in a sliding hour: in memory (a restart forgets),
/// or, when several nodes share the store, counted in it.
pub struct SendLimiter {
    per_hour: usize,
    sent: Mutex<HashMap<String, VecDeque<(Instant, usize)>>>,
    shared: Option<Arc<dyn Coordination>>,
}

const HOUR: Duration = Duration::from_secs(3600);

impl SendLimiter {
    /// `per_hour` 0: no limit.
    pub fn new(per_hour: usize) -> SendLimiter {
        SendLimiter { per_hour, sent: Mutex::default(), shared: None }
    }

    /// A limit every node sharing `store` counts against together.
    pub fn shared(per_hour: usize, store: Arc<dyn Coordination>) -> SendLimiter {
        SendLimiter { shared: Some(store), ..SendLimiter::new(per_hour) }
    }

    /// Whether `user` may add `n` more recipients now; if so they count.
    pub async fn take(&self, user: &str, n: usize, now: Instant) -> Result<(), Reply> {
        if self.per_hour == 0 {
            return Ok(());
        }
        if let Some(store) = &self.shared {
            let name = format!("send:{}", user.to_lowercase());
            let counted = store.add_events(
                &name,
                n as u64,
                self.per_hour as u64,
                caravel_store::now_secs(),
                HOUR.as_secs() as i64,
            );
            return match counted.await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(self.refusal(user)),
                Err(e) => Err(Reply::new(
                    451,
                    "4.3.0",
                    format!("Temporary failure: the sending limit could not be checked ({e})"),
                )),
            };
        }
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let log = sent.entry(user.to_lowercase()).or_default();
        while log.front().is_some_and(|(t, _)| now.duration_since(*t) >= HOUR) {
            log.pop_front();
        }
        let used: usize = log.iter().map(|(_, n)| n).sum();
        if used + n > self.per_hour {
            return Err(self.refusal(user));
        }
        log.push_back((now, n));
        if sent.len() > 100_000 {
            sent.retain(|_, l| l.back().is_some_and(|(t, _)| now.duration_since(*t) < HOUR));
        }
        Ok(())
    }

    fn refusal(&self, user: &str) -> Reply {
        // RFC 3463 §3.5: 5.4.5 is "system congestion"; Gmail and others
        // use it for a sending quota, and clients show the text.
        Reply::new(
            550,
            "5.4.5",
            format!(
                "Sending limit reached: {user} may send to {} recipients per hour; try again later or ask your administrator",
                self.per_hour
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_size_limit_below_the_global_one() {
        let l = SizeLimits {
            global: 50 << 20,
            domains: vec![("small.test".into(), 10 << 20)],
            users: vec![("boss@small.test".into(), 100 << 20)],
        };
        assert_eq!(l.for_address("clerk@Small.test"), 10 << 20);
        assert_eq!(l.for_address("boss@small.test"), 50 << 20, "never above the global limit");
        assert_eq!(l.for_address("a@other.test"), 50 << 20);
        let r = l.refusal(60 << 20, "clerk@small.test", true).expect("refused");
        assert_eq!(
            r.lines[0],
            "5.3.4 Message too large: 62914560 bytes (60.0 MB), the limit for mail from clerk@small.test is 10M"
        );
        assert!(l.refusal(1 << 20, "clerk@small.test", false).is_none());
    }

    #[tokio::test]
    async fn recipients_per_hour_slide() {
        let l = SendLimiter::new(3);
        let t0 = Instant::now();
        assert!(l.take("a@x.test", 2, t0).await.is_ok());
        assert!(l.take("A@x.test", 1, t0).await.is_ok());
        let refused = l.take("a@x.test", 1, t0 + Duration::from_secs(10)).await.expect_err("over");
        assert!(refused.lines[0].contains("Sending limit reached"), "{:?}", refused.lines);
        assert!(l.take("b@x.test", 3, t0).await.is_ok(), "per user");
        assert!(l.take("a@x.test", 3, t0 + HOUR).await.is_ok(), "an hour later");
        assert!(SendLimiter::new(0).take("a@x.test", 1_000_000, t0).await.is_ok());
    }

    /// Two limiters on one store (two nodes) count together.
    #[tokio::test]
    async fn a_shared_limit_counts_every_node() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Coordination> =
            Arc::new(caravel_store::sqlite::SqliteStore::open(dir.path()).expect("store"));
        let (a, b) = (SendLimiter::shared(3, store.clone()), SendLimiter::shared(3, store));
        let now = Instant::now();
        assert!(a.take("a@x.test", 2, now).await.is_ok());
        assert!(b.take("A@x.test", 1, now).await.is_ok());
        let refused = b.take("a@x.test", 1, now).await.expect_err("over, counted on both");
        assert!(refused.lines[0].contains("Sending limit reached"), "{:?}", refused.lines);
        assert!(a.take("b@x.test", 3, now).await.is_ok(), "per user");
    }
}
