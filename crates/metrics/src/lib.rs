//! The server's counters, gauges and latency histograms, exposed at
//! `/metrics` in the Prometheus / OpenMetrics text format.
//!
//! One process-wide set ([`global`]): the listeners, the protocols, the
//! filters and the delivery worker each count what they see, with no
//! handle to pass around (as Postfix's and Stalwart's counters are global
//! to the process). Labels take values from small fixed sets only (a
//! service, a protocol, a reason class), never addresses or free text, so
//! the number of series stays bounded whatever the traffic.

use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// One label, `name="value"`.
pub type Labels = Vec<(&'static str, &'static str)>;

type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge>;

/// Seconds, from 1 ms to 1 minute.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 60.0];

pub struct Metrics {
    registry: Registry,
    pub connections: Counters,
    pub connections_refused: Counters,
    pub connections_open: Gauges,
    pub sessions_signed_in: Gauges,
    pub messages_received: Counters,
    pub messages_rejected: Counters,
    pub messages_delivered: Counters,
    pub messages_queued: Counter,
    pub messages_deferred: Counter,
    pub messages_bounced: Counter,
    pub filter_verdicts: Counters,
    pub sign_in_failures: Counters,
    pub account_locks: Counter,
    pub address_bans: Counter,
    pub smtp_data_seconds: Family<Labels, Histogram>,
    pub delivery_attempt_seconds: Histogram,
    pub imap_command_seconds: Histogram,
    /// Set when `/metrics` is read: the queue and the store.
    pub queue_messages: Gauge,
    pub queue_oldest_seconds: Gauge,
    pub store_bytes: Gauge,
    pub build_info: Family<Labels, Gauge>,
}

fn latency() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("caravel");
        let m = Metrics {
            connections: Counters::default(),
            connections_refused: Counters::default(),
            connections_open: Gauges::default(),
            sessions_signed_in: Gauges::default(),
            messages_received: Counters::default(),
            messages_rejected: Counters::default(),
            messages_delivered: Counters::default(),
            messages_queued: Counter::default(),
            messages_deferred: Counter::default(),
            messages_bounced: Counter::default(),
            filter_verdicts: Counters::default(),
            sign_in_failures: Counters::default(),
            account_locks: Counter::default(),
            address_bans: Counter::default(),
            smtp_data_seconds: Family::new_with_constructor(latency),
            delivery_attempt_seconds: latency(),
            imap_command_seconds: latency(),
            queue_messages: Gauge::default(),
            queue_oldest_seconds: Gauge::default(),
            store_bytes: Gauge::default(),
            build_info: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register("connections", "Connections accepted, by service", m.connections.clone());
        r.register(
            "connections_refused",
            "Connections refused (too many in all or from one address), by service",
            m.connections_refused.clone(),
        );
        r.register("connections_open", "Connections open now, by service", m.connections_open.clone());
        r.register("sessions_signed_in", "Signed-in mail sessions now, by protocol", m.sessions_signed_in.clone());
        r.register("messages_received", "Messages accepted (250 after DATA), by service", m.messages_received.clone());
        r.register("messages_rejected", "Recipients or messages refused, by reason", m.messages_rejected.clone());
        r.register(
            "messages_delivered",
            "Messages delivered, to a local mailbox or to a remote server",
            m.messages_delivered.clone(),
        );
        r.register("messages_queued", "Recipients queued for remote delivery", m.messages_queued.clone());
        r.register("messages_deferred", "Remote delivery attempts that failed for now", m.messages_deferred.clone());
        r.register(
            "messages_bounced",
            "Recipients given up on (a report went to the sender)",
            m.messages_bounced.clone(),
        );
        r.register("filter_verdicts", "Verdicts of the filters on received messages", m.filter_verdicts.clone());
        r.register("sign_in_failures", "Failed sign-ins, by protocol", m.sign_in_failures.clone());
        r.register("account_locks", "Accounts locked after failed sign-ins", m.account_locks.clone());
        r.register("address_bans", "Addresses banned after failed sign-ins", m.address_bans.clone());
        r.register(
            "smtp_data_seconds",
            "From the end of a message's data to the reply (filters and storage), by service",
            m.smtp_data_seconds.clone(),
        );
        r.register(
            "delivery_attempt_seconds",
            "One remote delivery attempt, connection to reply",
            m.delivery_attempt_seconds.clone(),
        );
        r.register(
            "imap_command_seconds",
            "IMAP commands, from the command to its completion",
            m.imap_command_seconds.clone(),
        );
        r.register("queue_messages", "Messages in the outbound queue", m.queue_messages.clone());
        r.register("queue_oldest_seconds", "Age of the oldest queued message", m.queue_oldest_seconds.clone());
        r.register("store_bytes", "Bytes the store takes on disk", m.store_bytes.clone());
        r.register("build_info", "The running version", m.build_info.clone());
        m.build_info.get_or_create(&vec![("version", env!("CARGO_PKG_VERSION"))]).set(1);
        // Series that exist from the start (at 0), so that a rate over
        // them is defined before the first event.
        for service in ["smtp", "submission", "submissions"] {
            drop(m.messages_received.get_or_create(&vec![("service", service)]));
        }
        for protocol in ["smtp", "imap", "pop3", "web"] {
            drop(m.sign_in_failures.get_or_create(&vec![("protocol", protocol)]));
        }
        for verdict in ["accept", "junk", "quarantine", "reject"] {
            drop(m.filter_verdicts.get_or_create(&vec![("verdict", verdict)]));
        }
        for destination in ["local", "remote"] {
            drop(m.messages_delivered.get_or_create(&vec![("destination", destination)]));
        }
        Metrics { registry, ..m }
    }

    /// The whole exposition (OpenMetrics text, which Prometheus's text
    /// parser reads too).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Counts `family`'s series `labels` up by one.
pub fn inc(family: &Counters, labels: &[(&'static str, &'static str)]) {
    family.get_or_create(&labels.to_vec()).inc();
}

/// A gauge series that goes up now and down again when dropped (an open
/// connection, a signed-in session).
pub struct Held {
    gauge: Gauge,
}

impl Held {
    pub fn new(family: &Gauges, labels: &[(&'static str, &'static str)]) -> Held {
        let gauge = family.get_or_create(&labels.to_vec()).clone();
        gauge.inc();
        Held { gauge }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// The reason class of a refusal, from its reply (`550 5.1.1 ...`): the
/// enhanced status code (RFC 3463) and a few words of ours. A fixed set,
/// so that the label has few values.
pub fn rejection_reason(reply: &str) -> &'static str {
    let lower = reply.to_ascii_lowercase();
    // The enhanced status code, wherever it stands (after the reply code,
    // or first when the log kept the reply's text only).
    let code = lower
        .split_whitespace()
        .find(|w| w.len() <= 9 && w.split('.').count() == 3 && w.split('.').all(|p| p.parse::<u16>().is_ok()))
        .unwrap_or("");
    let has = |w: &str| lower.contains(w);
    if has("virus") || has("malware") || has("infected") {
        "virus"
    } else if has("spam") {
        "spam"
    } else if has("greylist") {
        "greylisted"
    } else if has("block") {
        "blocked"
    } else if has("dmarc") || has("spf") || has("dkim") || has("not authenticated") {
        "authentication"
    } else if has("relay") {
        "relay_denied"
    } else if code == "5.1.1" || code == "5.1.0" {
        "unknown_recipient"
    } else if code.ends_with(".2.2") || has("mailbox full") {
        "mailbox_full"
    } else if code.ends_with(".3.4") || code.ends_with(".2.3") || has("too large") {
        "too_large"
    } else if has("too many") || has("rate") || has("limit") {
        "rate_limit"
    } else if code.starts_with("5.5") || code.starts_with("5.6") {
        "protocol"
    } else if code.starts_with("5.7") || code.starts_with("4.7") {
        "policy"
    } else if lower.starts_with('4') {
        "temporary"
    } else {
        "other"
    }
}

/// Seconds since `start`, for a histogram.
pub fn since(start: std::time::Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// Keeps a value computed at most once per interval (the store's size).
pub struct Every {
    at: AtomicU64,
    secs: u64,
}

impl Every {
    pub const fn new(secs: u64) -> Every {
        Every { at: AtomicU64::new(0), secs }
    }

    /// Whether the interval has passed since the last `true` (the first
    /// call is `true`).
    pub fn due(&self, now_secs: u64) -> bool {
        use std::sync::atomic::Ordering;
        let last = self.at.load(Ordering::Relaxed);
        (last == 0 || now_secs >= last + self.secs)
            && self.at.compare_exchange(last, now_secs.max(1), Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_come_from_a_small_set() {
        assert_eq!(rejection_reason("550 5.1.1 No such user here"), "unknown_recipient");
        assert_eq!(rejection_reason("552 5.2.2 The mailbox is full"), "mailbox_full");
        assert_eq!(rejection_reason("552 5.3.4 Message too large: the limit is 50 MB"), "too_large");
        assert_eq!(rejection_reason("550 5.7.1 The message looks like spam: ..."), "spam");
        assert_eq!(rejection_reason("550 5.7.1 Sender blocked by the recipient"), "blocked");
        assert_eq!(rejection_reason("554 5.7.1 Virus found: Eicar-Test-Signature"), "virus");
        assert_eq!(rejection_reason("451 4.7.1 Greylisted, come back later"), "greylisted");
        assert_eq!(rejection_reason("550 5.7.1 Relay access denied"), "relay_denied");
        assert_eq!(rejection_reason("550 5.7.1 DMARC policy of example.com says reject"), "authentication");
        assert_eq!(rejection_reason("500 5.5.2 Syntax error"), "protocol");
        assert_eq!(rejection_reason("whatever"), "other");
        assert_eq!(rejection_reason("4.2.2 <bob@example.test>: Mailbox full, try again later"), "mailbox_full");
        assert_eq!(rejection_reason("5.3.4 Message size exceeds fixed maximum message size of 20000"), "too_large");
    }

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let m = global();
        inc(&m.messages_rejected, &[("reason", "spam")]);
        {
            let _open = Held::new(&m.connections_open, &[("service", "imaps")]);
            m.imap_command_seconds.observe(0.003);
            let text = m.render();
            assert!(text.contains("caravel_connections_open{service=\"imaps\"} 1"), "{text}");
        }
        let text = m.render();
        assert!(text.contains("caravel_connections_open{service=\"imaps\"} 0"), "{text}");
        assert!(text.contains("caravel_messages_rejected_total{reason=\"spam\"}"), "{text}");
        assert!(text.contains("caravel_imap_command_seconds_bucket{le=\"0.005\"}"), "{text}");
        assert!(text.contains("caravel_build_info{version="), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn every_interval() {
        let e = Every::new(60);
        assert!(e.due(1000));
        assert!(!e.due(1030));
        assert!(e.due(1060));
    }
}
