//! Caravel's configuration: one TOML file, every key with a default in code.
//!
//! [`Config::load`] parses the whole file and reports every unknown key and bad
//! value at once, each with its key name and line (linkerd's "parse whole, fail
//! once"). The result is an immutable snapshot shared behind an `Arc`.

mod acme;
mod antivirus;
mod delivery;
mod mta_sts;
mod network;
mod reader;
mod sms;
mod spam;
pub mod units;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use acme::{Acme, AcmeChallenge, LETS_ENCRYPT};
pub use antivirus::{Antivirus, AvAction, ClamdFailure, Notify, QuarantineConfig};
pub use delivery::{Delivery, Relay};
pub use mta_sts::{MtaSts, StsMode};
pub use network::{Metrics, Network};
use reader::Reader;
pub use sms::{webhook_url_ok, Sms};
pub use spam::{Spam, Thresholds as SpamThresholds};

/// Everything the server and the admin commands need to know.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Name used in greetings, Received headers and the self-signed certificate.
    pub hostname: String,
    /// Where the server keeps everything: store, blobs, certificate, logs.
    pub data_dir: PathBuf,
    pub listen: Listen,
    /// `None`: a self-signed certificate for `hostname`, generated once into `data_dir`.
    pub tls: Option<TlsFiles>,
    /// `[tls.sni."HOST"]`: certificates chosen by the name the client asks
    /// for (SNI); `tls` (or the self-signed one) for every other name.
    pub tls_sni: Vec<(String, TlsFiles)>,
    pub dns: Dns,
    pub limits: Limits,
    pub smtp: Smtp,
    pub pop3: Pop3,
    pub security: Security,
    pub imap: Imap,
    pub store: StoreConfig,
    pub delivery: Delivery,
    pub spam: Spam,
    pub antivirus: Antivirus,
    pub quarantine: QuarantineConfig,
    pub mta_sts: MtaSts,
    /// `[acme]`: certificates from an ACME CA (None: files or self-signed).
    pub acme: Option<Acme>,
    pub metrics: Metrics,
    pub sms: Sms,
}

/// `[imap]`: limits of the IMAP listeners.
#[derive(Debug, Clone, PartialEq)]
pub struct Imap {
    /// RFC 9051 §5.4: an inactivity timer of at least 30 minutes.
    pub idle_timeout: Duration,
    /// Signed-in IMAP sessions one account may have at once.
    pub max_sessions_per_user: usize,
    /// BAD replies before the session is closed with BYE.
    pub max_errors: usize,
    /// Pause after a failed sign-in.
    pub auth_failure_delay: Duration,
}

impl Default for Imap {
    fn default() -> Self {
        Imap {
            idle_timeout: Duration::from_secs(1800),
            max_sessions_per_user: 50,
            max_errors: 10,
            auth_failure_delay: Duration::from_secs(2),
        }
    }
}

/// `[security]`: account lockout and the per-address ban, for sign-ins of
/// every protocol together.
#[derive(Debug, Clone, PartialEq)]
pub struct Security {
    /// Failed sign-ins within `failure_window` that lock an account.
    pub max_failed_logins: u32,
    pub failure_window: Duration,
    /// The first lock; each further one before a success lasts twice as long.
    pub lockout: Duration,
    /// Failed sign-ins from one address (any accounts) within
    /// `failure_window` that ban it.
    pub ip_max_failed_logins: u32,
    pub ip_ban: Duration,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            max_failed_logins: 5,
            failure_window: Duration::from_secs(900),
            lockout: Duration::from_secs(900),
            ip_max_failed_logins: 20,
            ip_ban: Duration::from_secs(3600),
        }
    }
}

/// `[pop3]`: limits of the POP3 listeners.
#[derive(Debug, Clone, PartialEq)]
pub struct Pop3 {
    /// RFC 1939 §3: an inactivity timer of at least 10 minutes.
    pub idle_timeout: Duration,
    /// Error replies before the session is closed.
    pub max_errors: usize,
    /// Pause after a failed sign-in.
    pub auth_failure_delay: Duration,
}

impl Default for Pop3 {
    fn default() -> Self {
        Pop3 { idle_timeout: Duration::from_secs(30 * 60), max_errors: 10, auth_failure_delay: Duration::from_secs(2) }
    }
}

/// `[smtp]`: limits and behaviour of the SMTP listeners.
#[derive(Debug, Clone, PartialEq)]
pub struct Smtp {
    /// Recipients per message; more get 452 4.5.3.
    pub max_recipients: usize,
    /// Recipients one signed-in user may send to per hour (0: no limit).
    pub max_recipients_per_hour: usize,
    /// Error replies in one session before it is closed with 421.
    pub max_errors: usize,
    /// Longest line of message text, CRLF included (RFC 5321: 1000).
    pub max_line_length: usize,
    /// Over-quota recipients get 552 5.2.2 (permanent) instead of 452 4.2.2.
    pub over_quota_permanent: bool,
    /// Waiting for a command (RFC 5321 §4.5.3.2.7: at least 5 minutes).
    pub command_timeout: Duration,
    /// Waiting for the next block of message data (§4.5.3.2.5).
    pub data_timeout: Duration,
    /// Pause after a failed AUTH.
    pub auth_failure_delay: Duration,
    /// Most `Received:` fields a message may carry (more: a mail loop).
    pub max_hops: usize,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            max_recipients: 100,
            max_recipients_per_hour: 1000,
            max_errors: 10,
            max_line_length: 1000,
            over_quota_permanent: false,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(180),
            auth_failure_delay: Duration::from_secs(2),
            max_hops: 50,
        }
    }
}

/// Listening sockets per service; an empty list means no such listener.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Listen {
    pub smtp: Vec<SocketAddr>,
    pub submission: Vec<SocketAddr>,
    pub submissions: Vec<SocketAddr>,
    pub imap: Vec<SocketAddr>,
    pub imaps: Vec<SocketAddr>,
    pub pop3: Vec<SocketAddr>,
    pub pop3s: Vec<SocketAddr>,
    pub http: Vec<SocketAddr>,
    pub https: Vec<SocketAddr>,
}

/// The services Caravel listens for, in the order of the `[listen]` table.
pub const SERVICES: [&str; 9] =
    ["smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http", "https"];

impl Listen {
    /// The standard ports on every IPv4 address.
    pub fn standard() -> Listen {
        let on = |port: u16| vec![SocketAddr::from(([0, 0, 0, 0], port))];
        Listen {
            smtp: on(25),
            submission: on(587),
            submissions: on(465),
            imap: on(143),
            imaps: on(993),
            pop3: on(110),
            pop3s: on(995),
            http: on(8080),
            https: on(443),
        }
    }

    /// The addresses of one service by its `[listen]` key.
    pub fn service(&self, name: &str) -> &[SocketAddr] {
        match name {
            "smtp" => &self.smtp,
            "submission" => &self.submission,
            "submissions" => &self.submissions,
            "imap" => &self.imap,
            "imaps" => &self.imaps,
            "pop3" => &self.pop3,
            "pop3s" => &self.pop3s,
            "http" => &self.http,
            "https" => &self.https,
            _ => &[],
        }
    }

    pub fn service_mut(&mut self, name: &str) -> Option<&mut Vec<SocketAddr>> {
        Some(match name {
            "smtp" => &mut self.smtp,
            "submission" => &mut self.submission,
            "submissions" => &mut self.submissions,
            "imap" => &mut self.imap,
            "imaps" => &mut self.imaps,
            "pop3" => &mut self.pop3,
            "pop3s" => &mut self.pop3s,
            "http" => &mut self.http,
            "https" => &mut self.https,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dns {
    /// Empty: the system's resolvers (`/etc/resolv.conf`).
    pub resolvers: Vec<SocketAddr>,
    /// Validate DNSSEC (for DANE, RFC 7672); the resolvers must pass
    /// DNSSEC records through.
    pub dnssec: bool,
    /// DNSKEY records to trust instead of the IANA root keys (a private
    /// root, e.g. in tests).
    pub trust_anchor: Option<PathBuf>,
}

/// Abuse and resource limits. Each has a default and a key in `[limits]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest message accepted (SMTP SIZE, IMAP APPEND).
    pub max_message_size: u64,
    /// Open connections across all listeners; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Open connections from one IP address; more are refused with a protocol error.
    pub max_connections_per_ip: usize,
    /// How long a POP3 or IMAP session may sit idle before it is closed,
    /// unless `[pop3]`/`[imap]` `idle_timeout` says otherwise.
    pub idle_timeout: Duration,
    /// Deepest MIME nesting (multipart and message/rfc822 levels) accepted.
    pub max_mime_depth: usize,
    /// (domain, largest message) for mail to or from a domain, below the global limit.
    pub domain_message_size: Vec<(String, u64)>,
    /// (address, largest message) for one user.
    pub user_message_size: Vec<(String, u64)>,
    /// On SIGTERM, how long open sessions may finish their work.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 50 << 20,
            max_connections: 2000,
            max_connections_per_ip: 50,
            idle_timeout: Duration::from_secs(30 * 60),
            max_mime_depth: 50,
            domain_message_size: Vec::new(),
            user_message_size: Vec::new(),
            shutdown_grace: Duration::from_secs(4),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum StoreConfig {
    /// SQLite (WAL) for metadata plus blob files, in `data_dir`.
    #[default]
    Sqlite,
    /// A PostgreSQL database that several nodes may share.
    Postgres { url: String },
}

/// One problem found in the configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub key: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// All the problems of one file, reported together.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigErrors {
    pub file: String,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(f, "{}: {n} configuration error{}", self.file, if n == 1 { "" } else { "s" })?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Default for Config {
    fn default() -> Self {
        Config {
            hostname: system_hostname(),
            data_dir: PathBuf::from("./caravel-data"),
            listen: Listen::standard(),
            tls: None,
            tls_sni: Vec::new(),
            dns: Dns::default(),
            limits: Limits::default(),
            smtp: Smtp::default(),
            pop3: Pop3::default(),
            security: Security::default(),
            imap: Imap::default(),
            store: StoreConfig::Sqlite,
            delivery: Delivery::default(),
            spam: Spam::default(),
            antivirus: Antivirus::default(),
            quarantine: QuarantineConfig::default(),
            mta_sts: MtaSts::default(),
            acme: None,
            metrics: Metrics::default(),
            sms: Sms { timeout: Duration::from_secs(10), ..Sms::default() },
        }
    }
}

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

impl Config {
    /// Reads `path`, or the defaults when `path` is `None` and `./caravel.toml`
    /// does not exist.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("caravel.toml"), false),
        };
        let file = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut config = Config::parse(&text).map_err(|errors| ConfigErrors { file, errors })?;
                // A relative data_dir is relative to the file that names it, so
                // `--config /etc/caravel.toml` means the same from any directory.
                if config.data_dir.is_relative() && text_sets_data_dir(&text) {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        config.data_dir = dir.join(&config.data_dir);
                    }
                }
                Ok(config)
            }
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(ConfigErrors {
                file,
                errors: vec![ConfigError { key: "(file)".into(), line: None, message: e.to_string() }],
            }),
        }
    }

    /// Parses the text of a configuration file.
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        let doc = match toml_edit::Document::parse(text.to_string()) {
            Ok(doc) => doc,
            Err(e) => {
                let mut r = Reader::new(text);
                r.error("(syntax)", e.span(), e.message().to_string());
                return Err(r.errors);
            }
        };
        let root = doc.as_table();
        let mut r = Reader::new(text);
        let mut cfg = Config::default();
        r.check_keys(
            root,
            "",
            &[
                "hostname",
                "data_dir",
                "listen",
                "tls",
                "dns",
                "limits",
                "smtp",
                "pop3",
                "imap",
                "security",
                "store",
                "delivery",
                "spam",
                "antivirus",
                "quarantine",
                "mta_sts",
                "acme",
                "metrics",
                "sms",
            ],
        );

        if let Some(h) = r.string(root, "", "hostname") {
            match validate_hostname(&h) {
                Ok(h) => cfg.hostname = h,
                Err(e) => r.error("hostname", root.get("hostname").and_then(|i| i.span()), e),
            }
        }
        if let Some(d) = r.string(root, "", "data_dir") {
            if d.is_empty() {
                r.error("data_dir", root.get("data_dir").and_then(|i| i.span()), "must not be empty");
            }
            cfg.data_dir = PathBuf::from(d);
        }
        if let Some(t) = r.table(root, "listen") {
            r.check_keys(t, "listen", &SERVICES);
            cfg.listen = Listen::default();
            for service in SERVICES {
                if let Some(addrs) = r.addresses(t, "listen", service) {
                    if let Some(slot) = cfg.listen.service_mut(service) {
                        *slot = addrs;
                    }
                }
            }
        }
        if let Some(t) = r.table(root, "tls") {
            r.check_keys(t, "tls", &["cert", "key", "sni"]);
            if let Some(sni) = r.table(t, "sni") {
                for (name, item) in sni.iter() {
                    let prefix = format!("tls.sni.{name}");
                    let files = item.as_table().map(|e| {
                        r.check_keys(e, &prefix, &["cert", "key"]);
                        (r.string(e, &prefix, "cert"), r.string(e, &prefix, "key"))
                    });
                    match (validate_hostname(name.trim_start_matches("*.")), files) {
                        (Ok(_), Some((Some(cert), Some(key)))) => cfg
                            .tls_sni
                            .push((name.to_ascii_lowercase(), TlsFiles { cert: cert.into(), key: key.into() })),
                        (Err(e), _) => r.error(&prefix, item.span(), format!("not a host name: {e}")),
                        _ => r.error(&prefix, item.span(), "set cert and key, e.g. { cert = \"...\", key = \"...\" }"),
                    }
                }
            }
            let cert = r.string(t, "tls", "cert");
            let key = r.string(t, "tls", "key");
            match (cert, key) {
                (Some(cert), Some(key)) => cfg.tls = Some(TlsFiles { cert: cert.into(), key: key.into() }),
                (None, None) => {}
                _ => r.error("tls", t.span(), "set both cert and key, or neither (self-signed)"),
            }
        }
        if let Some(t) = r.table(root, "dns") {
            r.check_keys(t, "dns", &["resolvers", "dnssec", "trust_anchor"]);
            if let Some(addrs) = r.addresses(t, "dns", "resolvers") {
                cfg.dns.resolvers = addrs;
            }
            if let Some(on) =
                r.parsed(t, "dns", "dnssec", |i| i.as_bool().ok_or_else(|| "expected true or false".into()))
            {
                cfg.dns.dnssec = on;
            }
            if let Some(path) = r.string(t, "dns", "trust_anchor") {
                cfg.dns.trust_anchor = Some(PathBuf::from(path));
            }
        }
        if let Some(t) = r.table(root, "limits") {
            read_limits(&mut r, t, &mut cfg.limits);
        }
        // The protocols' own keys, read below, override the common one.
        cfg.pop3.idle_timeout = cfg.limits.idle_timeout;
        cfg.imap.idle_timeout = cfg.limits.idle_timeout;
        if let Some(t) = r.table(root, "smtp") {
            read_smtp(&mut r, t, &mut cfg.smtp);
        }
        if let Some(t) = r.table(root, "pop3") {
            let p = &mut cfg.pop3;
            read_session_limits(&mut r, t, "pop3", (&mut p.idle_timeout, &mut p.max_errors, &mut p.auth_failure_delay));
        }
        if let Some(t) = r.table(root, "imap") {
            let i = &mut cfg.imap;
            read_session_limits(&mut r, t, "imap", (&mut i.idle_timeout, &mut i.max_errors, &mut i.auth_failure_delay));
            if let Some(v) = r.count(t, "imap", "max_sessions_per_user") {
                if v == 0 || v > 100_000 {
                    let span = t.get("max_sessions_per_user").and_then(|i| i.span());
                    r.error("imap.max_sessions_per_user", span, "must be from 1 to 100000");
                }
                i.max_sessions_per_user = v.clamp(1, 100_000) as usize;
            }
        }
        if let Some(t) = r.table(root, "security") {
            read_security(&mut r, t, &mut cfg.security);
        }
        if let Some(t) = r.table(root, "delivery") {
            delivery::read(&mut r, t, &mut cfg.delivery);
        }
        if let Some(t) = r.table(root, "spam") {
            spam::read(&mut r, t, &mut cfg.spam);
        }
        if let Some(t) = r.table(root, "antivirus") {
            antivirus::read(&mut r, t, &mut cfg.antivirus);
        }
        if let Some(t) = r.table(root, "quarantine") {
            antivirus::read_quarantine(&mut r, t, &mut cfg.quarantine);
        }
        if let Some(t) = r.table(root, "sms") {
            sms::read(&mut r, t, &mut cfg.sms);
        }
        if let Some(t) = r.table(root, "metrics") {
            network::read_metrics(&mut r, t, &mut cfg.metrics);
        }
        if let Some(t) = r.table(root, "acme") {
            cfg.acme = Some(acme::read(&mut r, t));
        }
        if let Some(t) = r.table(root, "mta_sts") {
            mta_sts::read(&mut r, t, &mut cfg.mta_sts);
        }
        if let Some(t) = r.table(root, "store") {
            r.check_keys(t, "store", &["backend", "url"]);
            let url = r.string(t, "store", "url");
            match r.string(t, "store", "backend").as_deref() {
                None | Some("sqlite") => {}
                Some("postgres") => match url {
                    Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                        cfg.store = StoreConfig::Postgres { url }
                    }
                    _ => r.error(
                        "store.url",
                        t.span(),
                        "backend \"postgres\" needs url = \"postgres://USER:PASSWORD@HOST:PORT/DB\"",
                    ),
                },
                Some(other) => {
                    let span = t.get("backend").and_then(|i| i.span());
                    r.error(
                        "store.backend",
                        span,
                        format!("{other:?} is not a backend (use \"sqlite\" or \"postgres\")"),
                    )
                }
            }
        }
        if r.errors.is_empty() {
            Ok(cfg)
        } else {
            Err(r.errors)
        }
    }
}

/// `idle_timeout`, `max_errors` and `auth_failure_delay` of a mail-reading protocol.
fn read_security(r: &mut Reader, t: &toml_edit::Table, s: &mut Security) {
    r.check_keys(t, "security", &["max_failed_logins", "failure_window", "lockout", "ip_max_failed_logins", "ip_ban"]);
    for (key, field) in
        [("max_failed_logins", &mut s.max_failed_logins), ("ip_max_failed_logins", &mut s.ip_max_failed_logins)]
    {
        if let Some(v) = r.count(t, "security", key) {
            if v == 0 || v > 10_000 {
                r.error(&format!("security.{key}"), t.get(key).and_then(|i| i.span()), "must be from 1 to 10000");
            }
            *field = v.clamp(1, 10_000) as u32;
        }
    }
    for (key, field) in
        [("failure_window", &mut s.failure_window), ("lockout", &mut s.lockout), ("ip_ban", &mut s.ip_ban)]
    {
        if let Some(v) = r.duration(t, "security", key) {
            if v.is_zero() || v > Duration::from_secs(365 * 86_400) {
                r.error(&format!("security.{key}"), t.get(key).and_then(|i| i.span()), "must be from 1s to 365d");
            }
            *field = v.clamp(Duration::from_secs(1), Duration::from_secs(365 * 86_400));
        }
    }
}

fn read_session_limits(
    r: &mut Reader,
    t: &toml_edit::Table,
    prefix: &str,
    (idle, errors, delay): (&mut Duration, &mut usize, &mut Duration),
) {
    let known: &[&str] = if prefix == "imap" {
        &["idle_timeout", "max_errors", "auth_failure_delay", "max_sessions_per_user"]
    } else {
        &["idle_timeout", "max_errors", "auth_failure_delay"]
    };
    r.check_keys(t, prefix, known);
    if let Some(v) = r.duration(t, prefix, "idle_timeout") {
        *idle = v;
    }
    if let Some(v) = r.count(t, prefix, "max_errors") {
        if v == 0 || v > 1000 {
            r.error(
                &format!("{prefix}.max_errors"),
                t.get("max_errors").and_then(|i| i.span()),
                "must be from 1 to 1000",
            );
        }
        *errors = v.clamp(1, 1000) as usize;
    }
    if let Some(v) = r.duration(t, prefix, "auth_failure_delay") {
        *delay = v;
    }
}

fn read_smtp(r: &mut Reader, t: &toml_edit::Table, smtp: &mut Smtp) {
    const P: &str = "smtp";
    r.check_keys(
        t,
        P,
        &[
            "max_recipients",
            "max_recipients_per_hour",
            "max_errors",
            "max_line_length",
            "over_quota",
            "command_timeout",
            "data_timeout",
            "auth_failure_delay",
            "max_hops",
        ],
    );
    let ranged = |r: &mut Reader, key: &str, min: u64, max: u64| -> Option<usize> {
        let v = r.count(t, P, key)?;
        if v < min || v > max {
            r.error(&format!("{P}.{key}"), t.get(key).and_then(|i| i.span()), format!("must be from {min} to {max}"));
            return None;
        }
        Some(v as usize)
    };
    if let Some(v) = ranged(r, "max_recipients_per_hour", 0, 10_000_000) {
        smtp.max_recipients_per_hour = v;
    }
    if let Some(v) = ranged(r, "max_recipients", 1, 100_000) {
        smtp.max_recipients = v;
    }
    if let Some(v) = ranged(r, "max_errors", 1, 1000) {
        smtp.max_errors = v;
    }
    if let Some(v) = ranged(r, "max_line_length", 1000, 1_000_000) {
        smtp.max_line_length = v;
    }
    if let Some(v) = ranged(r, "max_hops", 10, 1000) {
        smtp.max_hops = v;
    }
    match r.string(t, P, "over_quota").as_deref() {
        None => {}
        Some("temporary") => smtp.over_quota_permanent = false,
        Some("permanent") => smtp.over_quota_permanent = true,
        Some(other) => r.error(
            "smtp.over_quota",
            t.get("over_quota").and_then(|i| i.span()),
            format!("{other:?}: use \"temporary\" (452 4.2.2) or \"permanent\" (552 5.2.2)"),
        ),
    }
    if let Some(v) = r.duration(t, P, "command_timeout") {
        smtp.command_timeout = v;
    }
    if let Some(v) = r.duration(t, P, "data_timeout") {
        smtp.data_timeout = v;
    }
    if let Some(v) = r.duration(t, P, "auth_failure_delay") {
        smtp.auth_failure_delay = v;
    }
}

fn text_sets_data_dir(text: &str) -> bool {
    toml_edit::Document::parse(text.to_string()).is_ok_and(|d| d.as_table().contains_key("data_dir"))
}

fn read_limits(r: &mut Reader, t: &toml_edit::Table, limits: &mut Limits) {
    const P: &str = "limits";
    r.check_keys(
        t,
        P,
        &[
            "max_message_size",
            "max_connections",
            "max_connections_per_ip",
            "idle_timeout",
            "max_mime_depth",
            "shutdown_grace",
            "domain",
            "user",
        ],
    );
    for (kind, list) in [("domain", &mut limits.domain_message_size), ("user", &mut limits.user_message_size)] {
        let Some(tables) = r.table(t, kind) else { continue };
        for (name, item) in tables.iter() {
            let prefix = format!("{P}.{kind}.\"{name}\"");
            match item.as_table() {
                Some(one) => {
                    r.check_keys(one, &prefix, &["max_message_size"]);
                    if let Some(v) = r.size(one, &prefix, "max_message_size") {
                        list.push((name.to_lowercase(), v.max(1024)));
                    }
                }
                None => r.error(&prefix, item.span(), "expected a table with max_message_size"),
            }
        }
    }
    if let Some(v) = r.count(t, P, "max_mime_depth") {
        // The store keeps at most MAX_MIME_DEPTH levels of structure.
        if v == 0 || v > 60 {
            r.error("limits.max_mime_depth", t.get("max_mime_depth").and_then(|i| i.span()), "must be from 1 to 60");
        }
        limits.max_mime_depth = v.clamp(1, 60) as usize;
    }
    if let Some(v) = r.size(t, P, "max_message_size") {
        if v < 1024 {
            r.error("limits.max_message_size", t.get("max_message_size").and_then(|i| i.span()), "must be at least 1K");
        }
        limits.max_message_size = v;
    }
    let positive = |r: &mut Reader, key: &str, v: u64| {
        if v == 0 || v > 1_000_000 {
            r.error(&format!("{P}.{key}"), t.get(key).and_then(|i| i.span()), "must be from 1 to 1000000");
        }
        v.min(1_000_000) as usize
    };
    if let Some(v) = r.count(t, P, "max_connections") {
        limits.max_connections = positive(r, "max_connections", v);
    }
    if let Some(v) = r.count(t, P, "max_connections_per_ip") {
        limits.max_connections_per_ip = positive(r, "max_connections_per_ip", v);
    }
    if let Some(v) = r.duration(t, P, "idle_timeout") {
        limits.idle_timeout = v;
    }
    if let Some(v) = r.duration(t, P, "shutdown_grace") {
        limits.shutdown_grace = v;
    }
}

/// A hostname is a domain name in ASCII (RFC 1123 labels); it is lowercased.
pub(crate) fn validate_hostname(h: &str) -> Result<String, String> {
    let h = h.trim_end_matches('.').to_ascii_lowercase();
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(h)
    } else {
        Err(format!("{h:?} is not a valid host name (letters, digits, '-' and '.', e.g. \"mail.example.com\")"))
    }
}

#[cfg(test)]
mod tests;
