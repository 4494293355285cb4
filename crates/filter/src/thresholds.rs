//! Where a score sends a message: the junk, quarantine and reject
//! thresholds of `[spam]`, globally, per domain and per user (the most
//! specific setting wins).

use crate::pipeline::Verdict;

/// One set of thresholds. A score at or above `junk` files the message in
/// Junk; `quarantine` and `reject` are off when `None`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub junk: f64,
    pub quarantine: Option<f64>,
    pub reject: Option<f64>,
}

impl Default for Limits {
    /// SpamAssassin's required score (5) for Junk; quarantine at 12 and
    /// refusal at 20, where false positives are very rare (rspamd refuses at 15).
    fn default() -> Self {
        Limits { junk: 5.0, quarantine: Some(12.0), reject: Some(20.0) }
    }
}

impl Limits {
    pub fn verdict(&self, score: f64) -> Verdict {
        if self.reject.is_some_and(|r| score >= r) {
            Verdict::Reject {
                code: 550,
                enhanced: "5.7.1",
                text: format!("The message looks like spam (score {score:.1}); it was refused"),
            }
        } else if self.quarantine.is_some_and(|q| score >= q) {
            Verdict::Quarantine
        } else if score >= self.junk {
            Verdict::Junk
        } else {
            Verdict::Accept
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thresholds {
    pub global: Limits,
    /// (domain, limits), domain in lowercase ASCII.
    pub domains: Vec<(String, Limits)>,
    /// (address, limits), address in lowercase.
    pub users: Vec<(String, Limits)>,
}

impl Thresholds {
    pub fn for_address(&self, address: &str) -> Limits {
        let address = address.to_lowercase();
        if let Some((_, l)) = self.users.iter().find(|(a, _)| *a == address) {
            return *l;
        }
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        self.domains.iter().find(|(d, _)| d == domain).map_or(self.global, |(_, l)| *l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_setting_wins() {
        let t = Thresholds {
            global: Limits::default(),
            domains: vec![("x.test".into(), Limits { junk: 4.0, quarantine: None, reject: None })],
            users: vec![("boss@x.test".into(), Limits { junk: 8.0, quarantine: None, reject: None })],
        };
        assert_eq!(t.for_address("Boss@X.test").junk, 8.0);
        assert_eq!(t.for_address("clerk@x.test").junk, 4.0);
        assert_eq!(t.for_address("a@other.test").junk, 5.0);
        assert_eq!(t.for_address("clerk@x.test").verdict(30.0), Verdict::Junk);
        assert!(matches!(t.for_address("a@other.test").verdict(30.0), Verdict::Reject { .. }));
        assert_eq!(t.for_address("a@other.test").verdict(12.0), Verdict::Quarantine);
    }
}
