//! The queue worker: takes due recipients from the store, routes them (a
//! relay, or the MX), delivers each domain's recipients in one transaction,
//! records every outcome, and tells the sender of failures and delays
//! (RFC 3464). Connections are bounded overall and per destination domain.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use caravel_dns::Resolver;
use caravel_store::{now_secs, Attempt, QueueJob, RecipientResult, Store};
use tokio::sync::Semaphore;
use tokio_rustls::rustls::ClientConfig;

use crate::client::{Client, Envelope, Outcome, Recipient, Reply, Settings};
use crate::dsn::{self, RecipientStatus};
use crate::mta_sts::{Mode, MtaSts};
use crate::route::{by_domain, Relay, Route, Routes};
use crate::schedule::{Next, Schedule};
use crate::sign::Signer;
use crate::transport::{self, Timeouts};
use caravel_dns::dnssec::{Secure, Validating};

/// How the worker behaves; from `[delivery]`.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Our name in EHLO and in reports.
    pub hostname: String,
    pub schedule: Schedule,
    pub routes: Routes,
    /// The port of MX hosts (25).
    pub mx_port: u16,
    /// The port MTA-STS policies are fetched from (443).
    pub https_port: u16,
    pub max_connections: usize,
    pub max_connections_per_domain: usize,
    pub timeouts: Timeouts,
}

pub struct Worker {
    store: Arc<dyn Store>,
    dns: Resolver,
    cfg: WorkerConfig,
    tls: Arc<ClientConfig>,
    /// Certificate-checking TLS, where MTA-STS asks for it.
    verified_tls: Arc<ClientConfig>,
    mta_sts: MtaSts,
    /// DNSSEC-validated lookups for DANE, when `[dns] dnssec` is on.
    dane: Option<Validating>,
    signer: Signer,
    connections: Arc<Semaphore>,
    per_domain: Mutex<HashMap<String, Arc<Semaphore>>>,
    busy: Mutex<HashSet<i64>>,
    /// Attempts under way per destination domain (running or waiting for
    /// one of its connections).
    in_flight: Mutex<HashMap<String, usize>>,
}

fn addresses(job: &QueueJob) -> Vec<String> {
    job.recipients.iter().map(|r| r.address.clone()).collect()
}

/// What one look at the queue did.
struct Taken {
    /// Attempts started.
    started: usize,
    /// Something due was left for later (its domain, or the worker, was busy).
    waiting: bool,
}

/// Longest sleep between looks at the queue. The store's signal wakes the
/// worker at once for mail queued by this process; this bounds the wait for
/// changes made by another one (`caravel queue retry`, another node).
const IDLE_POLL: Duration = Duration::from_secs(2);

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        dns: Resolver,
        dane: Option<Validating>,
        cfg: WorkerConfig,
        tls: Arc<ClientConfig>,
    ) -> Arc<Worker> {
        let verified_tls = crate::mta_sts::verified_tls();
        Arc::new(Worker {
            dane,
            mta_sts: MtaSts::new(dns.clone(), verified_tls.clone(), cfg.https_port),
            verified_tls,
            signer: Signer::new(store.clone()),
            connections: Arc::new(Semaphore::new(cfg.max_connections.max(1))),
            per_domain: Mutex::new(HashMap::new()),
            busy: Mutex::new(HashSet::new()),
            in_flight: Mutex::new(HashMap::new()),
            store,
            dns,
            cfg,
            tls,
        })
    }

    /// Runs until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        let signal = self.store.queue_signal();
        let finished = Arc::new(tokio::sync::Notify::new());
        loop {
            // Register for wake-ups before looking, so none is missed.
            let queued = signal.notified();
            let done = finished.notified();
            tokio::pin!(queued, done);
            queued.as_mut().enable();
            done.as_mut().enable();
            let sleep = match self.take_due(&finished).await {
                // Everything due is under way or waits for a busy domain:
                // a finished attempt (or new mail) wakes the loop.
                Ok(Taken { started: 0, waiting: true }) => IDLE_POLL,
                Ok(_) => self.until_next_due().await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbound queue");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = queued => {}
                _ = done => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// Starts a task for every due message not already being delivered,
    /// as many as there are free connections.
    async fn take_due(self: &Arc<Self>, finished: &Arc<tokio::sync::Notify>) -> Result<Taken, String> {
        let busy: Vec<i64> = self.busy.lock().map_err(|_| "poisoned")?.iter().copied().collect();
        let room = self.cfg.max_connections.saturating_sub(busy.len());
        if room == 0 {
            return Ok(Taken { started: 0, waiting: !busy.is_empty() });
        }
        // Messages for a domain with enough attempts under way are passed
        // over, so one slow domain cannot hold every slot: when a look finds
        // only such messages, a longer look follows.
        let now = now_secs();
        let mut jobs = self.store.due(now, room, &busy).await.map_err(|e| e.to_string())?;
        if jobs.len() == room && jobs.iter().all(|j| self.all_domains_saturated(&addresses(j))) {
            jobs = self.store.due(now, room * 4, &busy).await.map_err(|e| e.to_string())?;
        }
        let mut taken = Taken { started: 0, waiting: !busy.is_empty() };
        // Handed out but not started: given back at once, so that another
        // node sharing the store can take them (a claim would hold them).
        let mut passed_over = Vec::new();
        for job in jobs {
            if job.recipients.is_empty() {
                passed_over.push(job.id);
                continue;
            }
            if taken.started == room || self.all_domains_saturated(&addresses(&job)) {
                taken.waiting = true;
                passed_over.push(job.id);
                continue;
            }
            taken.started += 1;
            self.busy.lock().map_err(|_| "poisoned")?.insert(job.id);
            let domains: Vec<String> =
                by_domain(job.recipients.iter().map(|r| r.address.as_str())).into_keys().collect();
            self.count_in_flight(&domains, true);
            let me = self.clone();
            let finished = finished.clone();
            tokio::spawn(async move {
                let id = job.id;
                me.attempt(job).await;
                if let Ok(mut busy) = me.busy.lock() {
                    busy.remove(&id);
                }
                me.count_in_flight(&domains, false);
                finished.notify_one();
            });
        }
        self.store.release(&passed_over).await.map_err(|e| e.to_string())?;
        Ok(taken)
    }

    /// Every domain of these recipients has enough attempts under way
    /// (twice its connection limit, or half of all slots if more), so that a
    /// connection freed is taken at once by an attempt already waiting,
    /// while the other half of the slots stays free for other domains.
    fn all_domains_saturated(&self, addresses: &[String]) -> bool {
        let Ok(in_flight) = self.in_flight.lock() else { return false };
        let enough = (self.cfg.max_connections_per_domain.max(1) * 2).max(self.cfg.max_connections / 2);
        by_domain(addresses.iter().map(|a| a.as_str()))
            .keys()
            .all(|domain| in_flight.get(domain).copied().unwrap_or(0) >= enough)
    }

    fn count_in_flight(&self, domains: &[String], started: bool) {
        let Ok(mut in_flight) = self.in_flight.lock() else { return };
        for d in domains {
            let n = in_flight.entry(d.clone()).or_insert(0);
            *n = if started { *n + 1 } else { n.saturating_sub(1) };
            if *n == 0 {
                in_flight.remove(d);
            }
        }
    }

    async fn until_next_due(&self) -> Duration {
        match self.store.next_due().await {
            Ok(Some(at)) => Duration::from_secs((at - now_secs()).clamp(0, IDLE_POLL.as_secs() as i64) as u64)
                .max(Duration::from_millis(200)),
            _ => IDLE_POLL,
        }
    }

    /// One attempt at one queued message.
    async fn attempt(self: &Arc<Self>, job: QueueJob) {
        let raw = match self.store.read_blob(&job.blob).await {
            Ok(raw) => raw,
            Err(e) => {
                let error = format!("the queued message cannot be read: {e}");
                tracing::error!(queue = job.id, %error);
                let outcomes = job
                    .recipients
                    .iter()
                    .map(|r| {
                        (
                            r.address.clone(),
                            Outcome::Temporary(Reply { code: 451, text: format!("4.3.0 {error}") }),
                            None,
                        )
                    })
                    .collect();
                // Retried on the schedule, and given up at expiry like any other failure.
                self.conclude(&job, b"", None, outcomes).await;
                return;
            }
        };
        let message_id = header_value(&raw, "Message-ID");
        let signed = Arc::new(self.signer.sign(&raw, &job.sender, job.sign_as.as_deref()).await);
        let mut outcomes: Vec<(String, Outcome, Option<Hop>)> = Vec::new();
        let domains = by_domain(job.recipients.iter().map(|r| r.address.as_str()));
        let mut tasks = tokio::task::JoinSet::new();
        for (domain, addresses) in domains {
            let recipients: Vec<Recipient> = job
                .recipients
                .iter()
                .filter(|r| addresses.contains(&r.address))
                .map(|r| Recipient { address: r.address.clone(), notify: r.notify.clone(), orcpt: r.orcpt.clone() })
                .collect();
            let env = Envelope {
                from: job.sender.clone(),
                eight_bit: signed.iter().any(|b| *b >= 0x80),
                smtputf8: !job.sender.is_ascii()
                    || recipients.iter().any(|r| !r.address.is_ascii())
                    || !headers_of(&signed).is_ascii(),
                recipients,
                message: signed.clone(),
                ret: job.ret.clone(),
                envid: job.envid.clone(),
            };
            let me = self.clone();
            tasks.spawn(async move {
                let started = std::time::Instant::now();
                let outcome = me.deliver_domain(&domain, env).await;
                caravel_metrics::global().delivery_attempt_seconds.observe(caravel_metrics::since(started));
                outcome
            });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(list) => outcomes.extend(list),
                Err(e) => tracing::error!(queue = job.id, error = %e, "a delivery task failed"),
            }
        }
        // A recipient whose task failed still gets a result: tried again later.
        for r in &job.recipients {
            if !outcomes.iter().any(|(a, _, _)| *a == r.address) {
                let reply = Reply { code: 451, text: "4.3.0 internal error during delivery".into() };
                outcomes.push((r.address.clone(), Outcome::Temporary(reply), None));
            }
        }
        self.conclude(&job, &raw, message_id, outcomes).await;
    }

    /// Turns outcomes into queue results, reports and notices.
    async fn conclude(
        &self,
        job: &QueueJob,
        raw: &[u8],
        message_id: Option<String>,
        outcomes: Vec<(String, Outcome, Option<Hop>)>,
    ) {
        let now = now_secs();
        let mut results = Vec::new();
        let mut failed = Vec::new();
        let mut delayed = Vec::new();
        let mut relayed = Vec::new();
        for (address, outcome, hop) in outcomes {
            let host = hop.as_ref().map(|h| h.name.clone());
            let next_hop_reports = hop.as_ref().is_some_and(|h| h.reports);
            let rcpt = job.recipients.iter().find(|r| r.address == address);
            let attempts = rcpt.map(|r| r.attempts).unwrap_or(0) + 1;
            let said = |reply: &Reply| match &host {
                Some(h) => format!("{h} said: {}", reply.line()),
                None => reply.line(),
            };
            let status = |action, reply: &Reply| RecipientStatus {
                recipient: address.clone(),
                original_recipient: rcpt.and_then(|r| r.orcpt.clone()),
                action,
                status: reply.status(),
                remote_mta: host.clone(),
                reply: Some(reply.line()),
            };
            let wants = |what: &str| notify_wants(rcpt.and_then(|r| r.notify.as_deref()), what);
            match outcome {
                Outcome::Delivered(reply) => {
                    // RFC 3461 §5.2.2: asked for SUCCESS, but the next hop
                    // cannot carry the request on: say "relayed" now.
                    if wants("SUCCESS") && !next_hop_reports {
                        relayed
                            .push(RecipientStatus { status: "2.0.0".into(), ..status(dsn::Action::Relayed, &reply) });
                    }
                    results.push((address.clone(), RecipientResult::Delivered { detail: said(&reply) }));
                }
                Outcome::Permanent(reply) => {
                    if wants("FAILURE") {
                        failed.push(status(dsn::Action::Failed, &reply));
                    }
                    results.push((address.clone(), RecipientResult::Failed { error: said(&reply) }));
                }
                Outcome::Temporary(reply) => match self.cfg.schedule.after_failure(job.created, attempts, now) {
                    Next::RetryAt(at) => {
                        if wants("DELAY") {
                            delayed.push(status(dsn::Action::Delayed, &reply));
                        }
                        results.push((address.clone(), RecipientResult::Retry { at, error: said(&reply) }));
                    }
                    Next::GiveUp => {
                        if wants("FAILURE") {
                            failed.push(status(dsn::Action::Failed, &reply));
                        }
                        let error = format!("given up after {attempts} attempts; last: {}", said(&reply));
                        results.push((address.clone(), RecipientResult::Failed { error }));
                    }
                },
            }
        }
        let original = dsn::Original {
            sender: &job.sender,
            message: raw,
            envid: job.envid.as_deref(),
            return_full: job.ret.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("FULL")),
            arrival: job.created,
        };
        if !failed.is_empty() {
            self.notify_sender(&original, &failed).await;
        }
        if !relayed.is_empty() {
            self.notify_sender(&original, &relayed).await;
        }
        let notice_due = self.cfg.schedule.delay_notice_due(job.created, job.delay_notice_sent, now);
        let notice_sent = notice_due && !delayed.is_empty() && self.notify_sender(&original, &delayed).await;
        self.record(job, message_id, results, notice_sent).await;
    }

    /// Sends a report to the sender unless it is itself a report; true when sent.
    async fn notify_sender(&self, original: &dsn::Original<'_>, statuses: &[RecipientStatus]) -> bool {
        if !dsn::should_report(original.sender) {
            return false;
        }
        let boundary = format!("report-{}-{}", now_secs(), rand_suffix());
        let date = caravel_store::rfc5322_date(now_secs());
        let report = dsn::report(&self.cfg.hostname, original, statuses, &date, &boundary);
        // The null reverse-path: nobody answers a report (RFC 5321 §4.5.5).
        match caravel_store::send_system_mail(self.store.as_ref(), original.sender, "", report, "delivery report").await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(sender = original.sender, error = %e, "cannot send a delivery report");
                false
            }
        }
    }

    async fn record(
        &self,
        job: &QueueJob,
        message_id: Option<String>,
        results: Vec<(String, RecipientResult)>,
        delay_notice_sent: bool,
    ) {
        let metrics = caravel_metrics::global();
        for (_, r) in &results {
            match r {
                RecipientResult::Delivered { .. } => {
                    caravel_metrics::inc(&metrics.messages_delivered, &[("destination", "remote")])
                }
                RecipientResult::Retry { .. } => {
                    metrics.messages_deferred.inc();
                }
                RecipientResult::Failed { .. } => {
                    metrics.messages_bounced.inc();
                }
            }
        }
        let attempt = Attempt { queue_id: job.id, message_id, results, delay_notice_sent };
        // Not recorded means delivered again later: try hard.
        for wait in [1, 5, 30] {
            match self.store.record_attempt(attempt.clone()).await {
                Ok(()) => return,
                Err(e) => tracing::error!(queue = job.id, error = %e, "cannot record a delivery attempt; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
        if let Err(e) = self.store.record_attempt(attempt).await {
            tracing::error!(queue = job.id, error = %e, "cannot record a delivery attempt; it will be made again");
        }
    }

    /// The slot for one more connection to `domain` (bounded per domain).
    fn domain_slots(&self, domain: &str) -> Arc<Semaphore> {
        let mut map = self.per_domain.lock().unwrap_or_else(|p| p.into_inner());
        // Drop idle entries now and then so the map stays small.
        if map.len() > 10_000 {
            let max = self.cfg.max_connections_per_domain;
            map.retain(|_, s| s.available_permits() < max);
        }
        map.entry(domain.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.cfg.max_connections_per_domain.max(1))))
            .clone()
    }

    /// Delivers `env` (all recipients in `domain`) and returns, per
    /// recipient, its outcome and the host that gave it.
    async fn deliver_domain(&self, domain: &str, env: Envelope) -> Vec<(String, Outcome, Option<Hop>)> {
        let addresses: Vec<String> = env.recipients.iter().map(|r| r.address.clone()).collect();
        let all = |outcome: Outcome| addresses.iter().map(|a| (a.clone(), outcome.clone(), None)).collect::<Vec<_>>();
        let (hosts, port, relay) = match self.cfg.routes.relay_for(domain) {
            Some(relay) => (vec![relay.host.clone()], relay.port, Some(relay.clone())),
            None => match crate::resolve::route(&self.dns, domain).await {
                Ok(Route::Hosts(hosts)) => (hosts, self.cfg.mx_port, None),
                Ok(Route::NullMx) => {
                    return all(Outcome::Permanent(Reply {
                        code: 556,
                        text: format!("5.1.10 {domain} says it accepts no mail (null MX)"),
                    }))
                }
                Ok(Route::NoMailHost) => {
                    return all(Outcome::Permanent(Reply {
                        code: 550,
                        text: format!("5.1.2 {domain} does not exist or has no mail server"),
                    }))
                }
                Err(e) => return all(Outcome::Temporary(Reply { code: 451, text: format!("4.4.3 {e}") })),
            },
        };
        // RFC 8461 §5: only the policy's MX hosts, over verified TLS.
        let mut verify = false;
        let mut hosts = hosts;
        if relay.is_none() {
            if let Some(policy) = self.mta_sts.policy(domain).await {
                let allowed: Vec<String> = hosts.iter().filter(|h| policy.allows(h)).cloned().collect();
                match policy.mode {
                    Mode::Enforce if allowed.is_empty() => {
                        let text = format!(
                            "4.7.5 none of {domain}'s MX hosts ({}) is in its MTA-STS policy",
                            hosts.join(", ")
                        );
                        return all(Outcome::Temporary(Reply { code: 451, text }));
                    }
                    Mode::Enforce => {
                        hosts = allowed;
                        verify = true;
                    }
                    Mode::Testing if allowed.len() < hosts.len() => {
                        tracing::warn!(domain, "MX hosts outside the MTA-STS policy (testing mode: delivered anyway)")
                    }
                    _ => {}
                }
            }
        }
        let dane_applies = match (&self.dane, &relay) {
            (Some(v), None) => match v.mx_is_secure(domain).await {
                Ok(secure) => secure,
                Err(e) => return all(Outcome::Temporary(Reply { code: 451, text: format!("4.7.5 {e}") })),
            },
            _ => false,
        };
        let slots = self.domain_slots(domain);
        let Ok(_domain_slot) = slots.acquire_owned().await else {
            return all(Outcome::Temporary(Reply { code: 451, text: "4.3.0 shutting down".into() }));
        };
        let mut last = all(Outcome::Temporary(Reply { code: 451, text: "4.4.1 no host could be tried".into() }));
        for host in &hosts {
            let ips = match host.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => match self.dns.addresses(host).await {
                    Ok(ips) if !ips.is_empty() => ips,
                    Ok(_) => {
                        let text = format!("4.4.4 {host} has no address");
                        last = all(Outcome::Temporary(Reply { code: 451, text }));
                        continue;
                    }
                    Err(e) => {
                        last = all(Outcome::Temporary(Reply { code: 451, text: format!("4.4.3 {e}") }));
                        continue;
                    }
                },
            };
            // RFC 7672: signed TLSA records for a host from a signed MX
            // lookup decide how to check its certificate.
            let dane = match (&self.dane, dane_applies) {
                (Some(v), true) => match v.tlsa(host, port).await {
                    Ok(Secure::Yes(records)) => Some(crate::dane::usable(&records)),
                    Ok(Secure::No) => None,
                    Err(e) => {
                        // §2.2: a failed lookup of a signed zone is no reason to go without.
                        last = all(Outcome::Temporary(Reply { code: 451, text: format!("4.7.5 {e}") }));
                        continue;
                    }
                },
                _ => None,
            };
            for ip in ips {
                let Ok(_connection) = self.connections.clone().acquire_owned().await else {
                    return last;
                };
                let settings = Settings {
                    hostname: self.cfg.hostname.clone(),
                    tls_possible: true,
                    tls_required: verify || dane.is_some() || relay.as_ref().is_some_and(|r| r.credentials.is_some()),
                    credentials: relay.as_ref().and_then(|r: &Relay| r.credentials.clone()),
                };
                let client = Client::new(settings, env.clone());
                // A password goes only to a relay that proves who it is.
                let verify = verify || relay.as_ref().is_some_and(|r| r.credentials.is_some());
                let tls = match &dane {
                    // DANE wins over MTA-STS (RFC 8461 §2). Records that are all
                    // unusable still demand TLS, unauthenticated (RFC 7672 §2.2).
                    Some(records) if !records.is_empty() => crate::dane::tls_config(records.clone()),
                    Some(_) => self.tls.clone(),
                    None if verify => self.verified_tls.clone(),
                    None => self.tls.clone(),
                };
                let transport::Attempted { outcomes, began, peer_reports } =
                    transport::attempt(client, None, SocketAddr::new(ip, port), host, tls, self.cfg.timeouts).await;
                // No transaction and nothing permanent: this host could not
                // take it (down, refusing, TLS failing); the next may.
                let unreachable = !began && outcomes.iter().all(|o| matches!(o, Outcome::Temporary(_)));
                let hop = Hop { name: host.clone(), reports: peer_reports };
                last = addresses.iter().cloned().zip(outcomes).map(|(a, o)| (a, o, Some(hop.clone()))).collect();
                if !unreachable {
                    return last;
                }
                // RFC 5321 §5.1: this host could not be reached; try the next address or MX.
            }
        }
        last
    }
}

/// The server that answered for a recipient.
#[derive(Debug, Clone)]
struct Hop {
    name: String,
    /// It offered DSN, so it carries NOTIFY on itself.
    reports: bool,
}

/// NOTIFY (RFC 3461 §4.1): absent means failures are reported, and so
/// are delays (the server's choice), not successes; NEVER means nothing.
fn notify_wants(notify: Option<&str>, what: &str) -> bool {
    match notify {
        None => what != "SUCCESS",
        Some(n) => n.split(',').any(|v| v.trim().eq_ignore_ascii_case(what)),
    }
}

/// The unfolded value of the first `name` header.
pub fn header_value(raw: &[u8], name: &str) -> Option<String> {
    let headers = headers_of(raw);
    let mut lines = headers.split("\r\n").peekable();
    while let Some(line) = lines.next() {
        let Some((field, value)) = line.split_once(':') else { continue };
        if !field.trim().eq_ignore_ascii_case(name) {
            continue;
        }
        let mut value = value.trim().to_string();
        while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
            value.push(' ');
            value.push_str(next.trim());
            lines.next();
        }
        return Some(value.trim().to_string());
    }
    None
}

/// The header block as text.
fn headers_of(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end])
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now_secs());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_never_silences_and_absent_reports() {
        assert!(notify_wants(None, "FAILURE"));
        assert!(notify_wants(Some("SUCCESS,FAILURE"), "FAILURE"));
        assert!(!notify_wants(Some("NEVER"), "FAILURE"));
        assert!(!notify_wants(Some("FAILURE"), "DELAY"));
        assert!(!notify_wants(None, "SUCCESS") && notify_wants(Some("SUCCESS"), "SUCCESS"));
    }

    #[test]
    fn header_values_are_unfolded() {
        let raw = b"From: a@x.test\r\nMessage-ID:\r\n <m1@x.test>\r\nSubject: hi\r\n\r\nMessage-ID: body";
        assert_eq!(header_value(raw, "message-id").as_deref(), Some("<m1@x.test>"));
        assert_eq!(header_value(raw, "To"), None);
    }
}
