//! When to try again (RFC 5321 §4.5.4.1: retry at least 30 minutes apart
//! once the first attempts failed, give up after 4-5 days), when to warn the
//! sender that a message is late, and when to give up.

/// The retry plan of the outbound queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Waits after the 1st, 2nd ... failed attempt; the last repeats.
    pub retry_secs: Vec<i64>,
    /// After this long undelivered, the sender gets a "delayed" notice (once).
    pub delay_notice_secs: i64,
    /// After this long the message is given up and bounced.
    pub expire_secs: i64,
}

impl Default for Schedule {
    /// 1 m, 5 m, 15 m, 30 m, 1 h, 2 h, then every 4 h; a notice after 4 h;
    /// given up after 5 days.
    fn default() -> Self {
        Schedule {
            retry_secs: vec![60, 300, 900, 1800, 3600, 7200, 14_400],
            delay_notice_secs: 4 * 3600,
            expire_secs: 5 * 86_400,
        }
    }
}

/// What the queue does next with a recipient that failed temporarily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time (Unix seconds).
    RetryAt(i64),
    /// Too old: bounce it.
    GiveUp,
}

impl Schedule {
    /// After `attempts` failed attempts (1 or more) of a message queued at
    /// `queued`, failing last at `now`.
    pub fn after_failure(&self, queued: i64, attempts: u32, now: i64) -> Next {
        let expires = queued.saturating_add(self.expire_secs);
        if now >= expires {
            return Next::GiveUp;
        }
        let index = (attempts.max(1) as usize - 1).min(self.retry_secs.len().saturating_sub(1));
        let wait = self.retry_secs.get(index).copied().unwrap_or(3600).max(1);
        // The last try is at the expiry, not past it.
        Next::RetryAt(now.saturating_add(wait).min(expires))
    }

    /// Whether the "delayed" notice is due now (and was not sent yet).
    pub fn delay_notice_due(&self, queued: i64, notice_sent: bool, now: i64) -> bool {
        !notice_sent && now - queued >= self.delay_notice_secs && now - queued < self.expire_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_plan_then_repeat_the_last_wait() {
        let s = Schedule::default();
        let q = 1_000_000;
        let waits: Vec<i64> = (1..=9)
            .map(|n| match s.after_failure(q, n, q + 10) {
                Next::RetryAt(t) => t - (q + 10),
                Next::GiveUp => -1,
            })
            .collect();
        assert_eq!(waits, vec![60, 300, 900, 1800, 3600, 7200, 14_400, 14_400, 14_400]);
    }

    #[test]
    fn the_last_try_is_at_expiry_and_then_it_is_given_up() {
        let s = Schedule::default();
        let q = 0;
        let near_end = s.expire_secs - 100;
        assert_eq!(s.after_failure(q, 20, near_end), Next::RetryAt(s.expire_secs));
        assert_eq!(s.after_failure(q, 21, s.expire_secs), Next::GiveUp);
    }

    #[test]
    fn one_delay_notice_after_four_hours_and_none_once_expired() {
        let s = Schedule::default();
        assert!(!s.delay_notice_due(0, false, 4 * 3600 - 1));
        assert!(s.delay_notice_due(0, false, 4 * 3600));
        assert!(!s.delay_notice_due(0, true, 5 * 3600), "once");
        assert!(!s.delay_notice_due(0, false, s.expire_secs), "a bounce, not a delay notice");
    }

    #[test]
    fn odd_plans_do_not_panic() {
        let s = Schedule { retry_secs: vec![], delay_notice_secs: 0, expire_secs: i64::MAX };
        assert_eq!(s.after_failure(i64::MAX - 5, 0, i64::MAX - 4), Next::RetryAt(i64::MAX));
    }
}
