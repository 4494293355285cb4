//! Wires the crates into a running server: store, TLS, listeners, handlers.

use std::net::SocketAddr;
use std::sync::Arc;

use caravel_config::Config;
use caravel_net::{bind_all, serve, Service};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::commands::open_store_for_serving;
use crate::router::Router;
use caravel_filter::{thresholds::Thresholds, SpamFilter};
use caravel_net::tls::Certificates;
use caravel_smtp::pipeline::{MimeDepthStage, Pipeline, SizeStage};

/// A started server; [`Server::stop`] stops it gracefully.
pub struct Server {
    pub addrs: Vec<(Service, SocketAddr)>,
    pub store: Arc<dyn caravel_store::Store>,
    /// The certificates in use; reloaded when their files change.
    pub certificates: Arc<Certificates>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    watcher: JoinHandle<()>,
    /// The outbound queue worker.
    delivery: JoinHandle<()>,
    /// Signature reloads and updates, quarantine retention and notices.
    av_tasks: JoinHandle<()>,
    /// Certificates from `[acme]`, obtained and renewed.
    acme: Option<JoinHandle<()>>,
    pub antivirus: Arc<caravel_antivirus::Engine>,
    /// The clock auto-replies read (a test may stop it at a chosen hour).
    pub clock: caravel_store::Clock,
}

/// How long one DNS query may take (two tries per server).
const DNS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The queue worker's settings from `[delivery]`.
fn worker_config(config: &Config) -> caravel_delivery::worker::WorkerConfig {
    use caravel_delivery::route::{Relay, Routes};
    let d = &config.delivery;
    let relay = |r: &caravel_config::Relay| Relay {
        host: r.host.clone(),
        port: r.port,
        credentials: r.user.clone().zip(r.password.clone()),
    };
    let secs = |t: std::time::Duration| t.as_secs() as i64;
    caravel_delivery::worker::WorkerConfig {
        hostname: config.hostname.clone(),
        schedule: caravel_delivery::schedule::Schedule {
            retry_secs: d.retry.iter().map(|t| secs(*t)).collect(),
            delay_notice_secs: secs(d.delay_notice),
            expire_secs: secs(d.expire),
        },
        routes: Routes {
            per_domain: d.routes.iter().map(|(domain, r)| (domain.clone(), relay(r))).collect(),
            smarthost: d.smarthost.as_ref().map(relay),
        },
        mx_port: d.mx_port,
        https_port: d.https_port,
        max_connections: d.max_connections,
        max_connections_per_domain: d.max_connections_per_domain,
        timeouts: caravel_delivery::transport::Timeouts { connect: d.connect_timeout, reply: d.reply_timeout },
    }
}

/// Refuses a data directory that other users can change (they could read or
/// replace mail, password hashes and keys); warns when they can read it.
fn check_data_dir(config: &Config) -> Result<(), String> {
    if !matches!(config.store, caravel_config::StoreConfig::Sqlite) || !config.data_dir.exists() {
        return Ok(());
    }
    let audit = caravel_store::private::audit(&config.data_dir)
        .map_err(|e| format!("cannot check {}: {e}", config.data_dir.display()))?;
    for w in &audit.warn {
        tracing::warn!("data_dir: {w}");
    }
    match audit.refuse.first() {
        Some(first) => Err(format!("refusing to start: {first}")),
        None => Ok(()),
    }
}

/// How often certificate files are checked for a renewal.
const CERT_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

impl Server {
    /// Opens the store, prepares TLS and binds every listener; any failure is
    /// reported before anything is served.
    pub async fn start(config: Config) -> Result<Server, String> {
        check_data_dir(&config)?;
        let store = open_store_for_serving(&config).await?;
        // Other nodes may use this store: what one process kept in memory
        // (POP3 maildrop locks, send limits, the address ban) lives in it.
        let shared = store.shared().then(|| store.clone() as Arc<dyn caravel_store::Coordination>);
        let orphans = store.recover().await.map_err(|e| format!("store recovery failed: {e}"))?;
        if orphans > 0 {
            tracing::info!(orphans, "removed blob files left by deliveries interrupted by a crash");
        }
        let certificates = Certificates::from_config(&config)?;
        let tls = caravel_net::tls::acceptor(certificates.clone())?;
        let listeners = bind_all(&config.listen)?;
        let addrs = listeners.iter().map(|l| (l.service, l.addr)).collect();
        // One authenticator (and one set of password-check threads) for all protocols.
        let auth = Arc::new(caravel_auth::Authenticator::with_policy(store.clone(), sign_in_policy(&config.security)));
        let dns = caravel_dns::Resolver::new(&config.dns.resolvers, DNS_TIMEOUT)?;
        let clock = caravel_store::Clock::default();
        let spam = Arc::new(spam_filter(&config, store.clone()));
        // The server's model ready before the first message needs it (read
        // from data_dir/spam, or trained).
        tokio::spawn({
            let spam = spam.clone();
            async move { spam.prepare().await }
        });
        let engine = crate::antivirus::open_engine(&config)?;
        let av_tasks = tokio::spawn(crate::antivirus::run_tasks(config.clone(), engine.clone(), store.clone()));
        let av_stage: Option<Box<dyn caravel_smtp::pipeline::Stage>> = config
            .antivirus
            .enabled
            .then(|| Box::new(crate::antivirus::stage(&config, engine.clone(), store.clone())) as Box<_>);
        let (mx, submission, submissions) =
            caravel_smtp::session_configs(&config.hostname, &config.limits, &config.smtp, shared.clone());
        let smtp_backend =
            Arc::new(caravel_smtp::StoreBackend::new(store.clone(), auth.clone(), &config.hostname, clock.clone()));
        let smtp = Arc::new(caravel_smtp::SmtpServer {
            mx,
            submission,
            submissions,
            backend: smtp_backend.clone(),
            pipeline: Arc::new(
                Pipeline::with_thresholds(
                    [
                        Box::new(SizeStage { max: config.limits.max_message_size })
                            as Box<dyn caravel_smtp::pipeline::Stage>,
                        Box::new(MimeDepthStage { max: config.limits.max_mime_depth }),
                        Box::new(caravel_filter::HopLimit { max: config.smtp.max_hops }),
                    ]
                    .into_iter()
                    .chain(av_stage)
                    .chain::<[Box<dyn caravel_smtp::pipeline::Stage>; 3]>([
                        Box::new(caravel_filter::AuthenticationStage {
                            dns: dns.clone(),
                            hostname: config.hostname.clone(),
                            store: store.clone(),
                        }),
                        Box::new(spam.clone()),
                        Box::new(caravel_filter::dnsbl::DnsblStage {
                            dns: dns.clone(),
                            ip_zones: config.spam.dnsbl.clone(),
                            uri_zones: config.spam.uribl.clone(),
                            score: config.spam.dnsbl_score,
                            timeout: config.spam.dnsbl_timeout,
                        }),
                    ])
                    .collect(),
                    spam_thresholds(&config.spam),
                )
                .with_lists(spam.clone())
                .with_file_limits(crate::antivirus::av_limits(&config)),
            ),
            timeouts: caravel_smtp::Timeouts {
                command: config.smtp.command_timeout,
                data: config.smtp.data_timeout,
                auth_failure_delay: config.smtp.auth_failure_delay,
            },
        });
        let pop3 = Arc::new(caravel_pop3::Pop3Server {
            config: Arc::new(caravel_pop3::Config {
                hostname: config.hostname.clone(),
                max_errors: config.pop3.max_errors,
            }),
            maildrops: Arc::new(caravel_pop3::StoreMaildrops::new(store.clone(), auth.clone())),
            locks: shared.clone().map(caravel_pop3::Locks::shared).unwrap_or_default(),
            idle_timeout: config.pop3.idle_timeout,
            auth_failure_delay: config.pop3.auth_failure_delay,
        });
        let imap = Arc::new(caravel_imap::ImapServer {
            ctx: Arc::new(caravel_imap::Context::new(
                caravel_imap::Config {
                    hostname: config.hostname.clone(),
                    max_sessions_per_user: config.imap.max_sessions_per_user,
                    max_bad: config.imap.max_errors,
                    max_message_size: config.limits.max_message_size,
                },
                store.clone(),
                auth.clone(),
            )),
            idle_timeout: config.imap.idle_timeout,
            auth_failure_delay: config.imap.auth_failure_delay,
        });
        let troubleshooter =
            Arc::new(crate::trace::Troubleshooter { config: config.clone(), store: store.clone(), spam: spam.clone() });
        let http = Arc::new(caravel_http::HttpServer::new(caravel_http::State {
            hostname: config.hostname.clone(),
            store: store.clone(),
            auth,
            admin: caravel_admin::Admin::new(store.clone()),
            setup: caravel_admin::client_setup::ClientSetup::new(&config.hostname, |key| {
                listeners.iter().find(|l| l.service.key() == key).map(|l| l.addr.port())
            }),
            mta_sts: config.mta_sts.clone(),
            metrics_allow: config.metrics.allow.clone(),
            data_dir: Some(config.data_dir.clone()),
            troubleshoot: Some(troubleshooter.clone()),
            ops: Some(troubleshooter),
            acme: Some(certificates.challenges.clone()),
            submission: Some(Arc::new(crate::web_submit::WebSubmission {
                config: smtp.submission.clone(),
                backend: smtp_backend,
                pipeline: smtp.pipeline.clone(),
            })),
            sms: crate::sms::Webhook::from_config(&config.sms).map(|w| Arc::new(w) as Arc<dyn caravel_http::SmsSender>),
            listeners: listeners.iter().map(|l| l.addr).collect(),
        }));
        let handler = Arc::new(Router { smtp, pop3, imap, http });
        let dane = if config.dns.dnssec {
            let anchors = match &config.dns.trust_anchor {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .map_err(|e| format!("cannot read [dns] trust_anchor {}: {e}", path.display()))?,
                ),
                None => None,
            };
            Some(caravel_dns::dnssec::Validating::new(&config.dns.resolvers, DNS_TIMEOUT, anchors.as_deref())?)
        } else {
            None
        };
        let worker = caravel_delivery::worker::Worker::new(
            store.clone(),
            dns,
            dane,
            worker_config(&config),
            caravel_delivery::transport::opportunistic_tls(),
        );
        let delivery = tokio::spawn(worker.run());
        let (stop, stopped) = oneshot::channel::<()>();
        let limits = config.limits.clone();
        let task = tokio::spawn(async move {
            serve(listeners, handler, tls, &limits, async {
                let _ = stopped.await;
            })
            .await
        });
        // After the listeners: the CA's validation reaches them.
        let acme = config.acme.clone().map(|acme| {
            let host = Arc::new(HostedNames { store: store.clone() as Arc<dyn caravel_store::Store> });
            let manager = caravel_acme::Manager {
                config: acme,
                hostname: config.hostname.clone(),
                data_dir: config.data_dir.clone(),
                certs: certificates.clone(),
                host,
            };
            tokio::spawn(manager.run())
        });
        let watched = certificates.clone();
        let watcher = tokio::spawn(async move {
            loop {
                tokio::time::sleep(CERT_CHECK).await;
                let watched = watched.clone();
                let _ = tokio::task::spawn_blocking(move || watched.reload_if_changed()).await;
            }
        });
        Ok(Server {
            addrs,
            store,
            certificates,
            stop: Some(stop),
            task: Some(task),
            watcher,
            delivery,
            av_tasks,
            acme,
            antivirus: engine,
            clock,
        })
    }

    /// The first address `service` listens on.
    pub fn addr(&self, service: Service) -> Option<SocketAddr> {
        self.addrs.iter().find(|(s, _)| *s == service).map(|(_, a)| *a)
    }

    /// Reloads the TLS certificates now (SIGHUP); the old ones stay on error.
    pub fn reload_tls(&self) -> Result<(), String> {
        self.certificates.reload()
    }

    /// Stops accepting, lets sessions finish (up to the grace period), returns.
    pub async fn stop(mut self) {
        self.watcher.abort();
        self.av_tasks.abort();
        if let Some(a) = &self.acme {
            a.abort();
        }
        // An attempt cut short is recorded as nothing: it is tried again.
        self.delivery.abort();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.watcher.abort();
        self.av_tasks.abort();
        if let Some(a) = &self.acme {
            a.abort();
        }
        self.delivery.abort();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The `[security]` section as the authenticator takes it.
fn sign_in_policy(s: &caravel_config::Security) -> caravel_auth::SignInPolicy {
    let secs = |d: std::time::Duration| d.as_secs() as i64;
    caravel_auth::SignInPolicy {
        lock: caravel_store::LockPolicy {
            max_failures: s.max_failed_logins,
            window_secs: secs(s.failure_window),
            lock_secs: secs(s.lockout),
        },
        ban: caravel_auth::guard::BanPolicy {
            max_failures: s.ip_max_failed_logins,
            window_secs: secs(s.failure_window),
            ban_secs: secs(s.ip_ban),
        },
    }
}

/// What ACME asks the running server: the hosted domains (their published
/// names are certified), and where outcomes go (the mail log).
struct HostedNames {
    store: Arc<dyn caravel_store::Store>,
}

#[async_trait::async_trait]
impl caravel_acme::Host for HostedNames {
    async fn domains(&self) -> Result<Vec<String>, String> {
        let domains = self.store.list_domains().await.map_err(|e| format!("the store did not answer: {e}"))?;
        Ok(domains.into_iter().map(|d| d.name).collect())
    }

    async fn record(&self, what: &str) {
        let event = caravel_store::MailEvent {
            ts: caravel_store::now_millis(),
            kind: caravel_store::EventKind::Certificate,
            message_id: None,
            sender: None,
            recipient: None,
            detail: what.to_string(),
            session: Some("acme".into()),
        };
        if let Err(e) = self.store.record(event).await {
            tracing::warn!(error = %e, "the certificate event is not in the mail log");
        }
    }
}

/// The spam stage, keeping its trained model in `data_dir/spam`.
pub fn spam_filter(config: &Config, store: Arc<dyn caravel_store::Store>) -> SpamFilter {
    SpamFilter::new(store, spam_settings(&config.spam)).with_model_dir(config.data_dir.join("spam"))
}

/// The spam stage's settings from `[spam]`.
pub fn spam_settings(s: &caravel_config::Spam) -> caravel_filter::SpamSettings {
    caravel_filter::SpamSettings {
        enabled: s.enabled,
        default_rules: s.default_rules,
        min_messages: s.min_messages,
        max_examples: s.max_examples,
        correspondent_score: s.correspondent_score,
        correspondents_kept: s.correspondents_kept,
        outbound_reject: s.outbound_reject,
        greylist: s.greylisting.then_some(caravel_store::filter_data::GreyPolicy {
            delay: s.greylist_delay.as_secs() as i64,
            lifetime: s.greylist_lifetime.as_secs() as i64,
            retry_window: s.greylist_retry_window.as_secs() as i64,
            auto_allow: s.greylist_auto_allow,
        }),
    }
}

/// The junk, quarantine and reject thresholds of `[spam]`.
pub fn spam_thresholds(s: &caravel_config::Spam) -> Thresholds {
    let limits = |t: &caravel_config::SpamThresholds| caravel_filter::thresholds::Limits {
        junk: t.junk,
        quarantine: t.quarantine,
        reject: t.reject,
    };
    Thresholds {
        global: limits(&s.thresholds),
        domains: s.domains.iter().map(|(d, t)| (d.clone(), limits(t))).collect(),
        users: s.users.iter().map(|(u, t)| (u.clone(), limits(t))).collect(),
    }
}
