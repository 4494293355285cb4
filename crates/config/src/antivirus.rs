//! `[antivirus]` (the scanner, its limits, clamd, signature updates, what
//! each heuristic does) and `[quarantine]` (how long held messages are kept,
//! how recipients are told).

use std::path::PathBuf;
use std::time::Duration;

use crate::reader::Reader;

/// What happens to a message a heuristic flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvAction {
    /// Refused at SMTP time (554), like a virus.
    Reject,
    /// Accepted and held in the quarantine.
    Quarantine,
    /// Delivered; the finding is only noted in the headers and the log.
    Accept,
}

impl AvAction {
    fn parse(i: &toml_edit::Item) -> Result<AvAction, String> {
        match i.as_str() {
            Some("reject") => Ok(AvAction::Reject),
            Some("quarantine") => Ok(AvAction::Quarantine),
            Some("accept") => Ok(AvAction::Accept),
            _ => Err("expected \"reject\", \"quarantine\" or \"accept\"".into()),
        }
    }
}

/// When clamd cannot be asked (down, slow, over its stream limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClamdFailure {
    /// 451: the sender retries later; nothing is accepted unscanned by clamd.
    Tempfail,
    /// Go by the built-in scanner alone (and say so in the log).
    Builtin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Antivirus {
    pub enabled: bool,
    /// Another directory of ClamAV signature files read besides the ones
    /// `caravel av update` installs (e.g. freshclam's /var/lib/clamav).
    pub signatures: Option<PathBuf>,
    /// clamd's socket: "/run/clamav/clamd.ctl" or "127.0.0.1:3310".
    pub clamd: Option<String>,
    pub clamd_timeout: Duration,
    pub on_clamd_error: ClamdFailure,
    pub max_depth: usize,
    pub max_files: usize,
    pub max_file_size: u64,
    pub max_total: u64,
    pub max_ratio: u64,
    /// `caravel av update` source used on a schedule (a directory, or the
    /// URL of a SHA256SUMS file).
    pub update_from: Option<String>,
    pub update_interval: Duration,
    /// Heuristic key ("executable", "double_extension", "rtlo", "macro",
    /// "encrypted", "limits", "unscannable") -> action.
    pub actions: Vec<(String, AvAction)>,
}

pub const HEURISTICS: [&str; 7] =
    ["executable", "double_extension", "rtlo", "macro", "encrypted", "limits", "unscannable"];

impl Default for Antivirus {
    fn default() -> Self {
        Antivirus {
            enabled: true,
            signatures: None,
            clamd: None,
            clamd_timeout: Duration::from_secs(30),
            on_clamd_error: ClamdFailure::Tempfail,
            max_depth: 16,
            max_files: 1000,
            max_file_size: 50 << 20,
            max_total: 200 << 20,
            max_ratio: 100,
            update_from: None,
            update_interval: Duration::from_secs(6 * 3600),
            actions: HEURISTICS.iter().map(|h| (h.to_string(), AvAction::Quarantine)).collect(),
        }
    }
}

impl Antivirus {
    pub fn action(&self, heuristic: &str) -> AvAction {
        self.actions.iter().find(|(k, _)| k == heuristic).map_or(AvAction::Quarantine, |(_, a)| *a)
    }
}

/// How recipients hear of messages held for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    /// One message a day listing what was held.
    Digest,
    /// A message as soon as one is held.
    Immediate,
    Off,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QuarantineConfig {
    /// Held messages older than this are deleted.
    pub retention: Duration,
    pub notify: Notify,
}

impl Default for QuarantineConfig {
    fn default() -> Self {
        QuarantineConfig { retention: Duration::from_secs(30 * 86_400), notify: Notify::Digest }
    }
}

const P: &str = "antivirus";

pub(crate) fn read(r: &mut Reader, t: &toml_edit::Table, a: &mut Antivirus) {
    r.check_keys(
        t,
        P,
        &[
            "enabled",
            "signatures",
            "clamd",
            "clamd_timeout",
            "on_clamd_error",
            "max_depth",
            "max_files",
            "max_file_size",
            "max_total",
            "max_ratio",
            "update_from",
            "update_interval",
            "actions",
        ],
    );
    if let Some(v) = r.parsed(t, P, "enabled", |i| i.as_bool().ok_or_else(|| "expected true or false".to_string())) {
        a.enabled = v;
    }
    if let Some(v) = r.string(t, P, "signatures") {
        a.signatures = Some(v.into());
    }
    if let Some(v) = r.string(t, P, "clamd") {
        a.clamd = Some(v);
    }
    if let Some(v) = r.duration(t, P, "clamd_timeout") {
        a.clamd_timeout = v.clamp(Duration::from_secs(1), Duration::from_secs(600));
    }
    if let Some(v) = r.parsed(t, P, "on_clamd_error", |i| match i.as_str() {
        Some("tempfail") => Ok(ClamdFailure::Tempfail),
        Some("builtin") => Ok(ClamdFailure::Builtin),
        _ => Err("expected \"tempfail\" or \"builtin\"".to_string()),
    }) {
        a.on_clamd_error = v;
    }
    if let Some(v) = r.count(t, P, "max_depth") {
        a.max_depth = v.clamp(1, 64) as usize;
    }
    if let Some(v) = r.count(t, P, "max_files") {
        a.max_files = v.clamp(1, 1_000_000) as usize;
    }
    if let Some(v) = r.count(t, P, "max_ratio") {
        a.max_ratio = v.clamp(2, 100_000);
    }
    for (key, slot) in [("max_file_size", &mut a.max_file_size), ("max_total", &mut a.max_total)] {
        if let Some(v) = r.size(t, P, key) {
            *slot = v.max(1024);
        }
    }
    if let Some(v) = r.string(t, P, "update_from") {
        a.update_from = Some(v);
    }
    if let Some(v) = r.duration(t, P, "update_interval") {
        a.update_interval = v.max(Duration::from_secs(600));
    }
    if let Some(actions) = r.table(t, "actions") {
        let prefix = format!("{P}.actions");
        r.check_keys(actions, &prefix, &HEURISTICS);
        for h in HEURISTICS {
            if let Some(v) = r.parsed(actions, &prefix, h, AvAction::parse) {
                a.actions.retain(|(k, _)| k != h);
                a.actions.push((h.to_string(), v));
            }
        }
    }
}

pub(crate) fn read_quarantine(r: &mut Reader, t: &toml_edit::Table, q: &mut QuarantineConfig) {
    r.check_keys(t, "quarantine", &["retention", "notify"]);
    if let Some(v) = r.duration(t, "quarantine", "retention") {
        q.retention = v.max(Duration::from_secs(3600));
    }
    if let Some(v) = r.parsed(t, "quarantine", "notify", |i| match i.as_str() {
        Some("digest") => Ok(Notify::Digest),
        Some("immediate") => Ok(Notify::Immediate),
        Some("off") => Ok(Notify::Off),
        _ => Err("expected \"digest\", \"immediate\" or \"off\"".to_string()),
    }) {
        q.notify = v;
    }
}
