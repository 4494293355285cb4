//! `caravel doctor [ADDRESS]`: checks, each with a verdict in plain words
//! and, when something is wrong, the fix. Exit 1 if any check fails.
//! (The troubleshooter of the management console will add to these.)

use serde::Serialize;

use caravel_config::Config;
use caravel_store::Store;

pub(crate) mod account;
mod server;

use crate::antivirus::{av_limits, av_root};
use crate::commands::{open_existing_store, print_json, CmdResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub verdict: String,
    /// What to do, when not Ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

pub(crate) fn check(name: &'static str, status: Status, verdict: String, fix: Option<&str>) -> Check {
    Check { name, status, verdict, fix: fix.map(String::from) }
}

/// Signatures older than this get a warning.
const STALE_DAYS: u64 = 7;

/// The antivirus signatures in use: how many, which version, how old.
pub fn antivirus(config: &Config, now: u64) -> Check {
    antivirus_state(config, now).0
}

/// The antivirus check, and what the signature files are when they load
/// (blocking: they are read).
pub fn antivirus_state(config: &Config, now: u64) -> (Check, Option<caravel_antivirus::DbInfo>) {
    if !config.antivirus.enabled {
        let off =
            check("antivirus", Status::Warn, "virus scanning is off".into(), Some("set [antivirus] enabled = true"));
        return (off, None);
    }
    let engine = match caravel_antivirus::Engine::open(
        &av_root(config),
        config.antivirus.signatures.as_deref(),
        av_limits(config),
    ) {
        Ok(e) => e,
        Err(e) => {
            let broken = check(
                "antivirus",
                Status::Fail,
                format!("the signatures do not load: {e}"),
                Some("run caravel av update --from DIR|URL with good files"),
            );
            return (broken, None);
        }
    };
    let info = engine.info();
    (antivirus_verdict(&info, now), Some(info))
}

fn antivirus_verdict(info: &caravel_antivirus::DbInfo, now: u64) -> Check {
    if info.files.is_empty() {
        return check(
            "antivirus",
            Status::Warn,
            "only the built-in EICAR test signature is installed: viruses are caught by the heuristics alone".into(),
            Some("install signatures: caravel av update --from DIR|URL, or [antivirus] signatures = \"/var/lib/clamav\" with freshclam"),
        );
    }
    let age_days = now.saturating_sub(info.newest) / 86_400;
    let version = info.version.map(|v| format!(", database version {v}")).unwrap_or_default();
    let verdict = format!(
        "{} signatures from {} file(s){version}, the newest {age_days} day(s) old ({} lines of other types skipped)",
        info.signatures,
        info.files.len(),
        info.skipped
    );
    if age_days > STALE_DAYS {
        return check(
            "antivirus",
            Status::Warn,
            verdict,
            Some("the signatures are more than a week old: run caravel av update, or set [antivirus] update_from"),
        );
    }
    check("antivirus", Status::Ok, verdict, None)
}

async fn clamd(config: &Config) -> Option<Check> {
    let at = config.antivirus.clamd.as_deref()?;
    let endpoint = caravel_antivirus::clamd::Endpoint::parse(at);
    Some(match caravel_antivirus::clamd::ping(&endpoint, std::time::Duration::from_secs(5)).await {
        Ok(()) => check("clamd", Status::Ok, format!("clamd answers at {endpoint}"), None),
        Err(e) => check(
            "clamd",
            Status::Fail,
            match config.antivirus.on_clamd_error {
                caravel_config::ClamdFailure::Tempfail => format!("{e}: mail is refused with 451 until it answers"),
                caravel_config::ClamdFailure::Builtin => format!("{e}: mail is scanned by the built-in scanner alone"),
            },
            Some("start clamd (systemctl start clamav-daemon), or remove [antivirus] clamd"),
        ),
    })
}

async fn quarantine(store: &dyn Store) -> Check {
    match store.held().await {
        Ok(h) if h.is_empty() => check("quarantine", Status::Ok, "the quarantine is empty".into(), None),
        Ok(h) => {
            check("quarantine", Status::Ok, format!("{} message(s) held (caravel quarantine list)", h.len()), None)
        }
        Err(e) => check("quarantine", Status::Fail, format!("cannot read the quarantine: {e}"), None),
    }
}

/// Every check: the server's (no address) or one account's; with
/// `server_parts` the antivirus and quarantine too (not for a user asking
/// about itself: the signatures' load is work, and not its business).
pub async fn checks(config: &Config, store: &dyn Store, address: Option<&str>, server_parts: bool) -> Vec<Check> {
    let now = caravel_store::now_secs();
    let mut checks = Vec::new();
    if server_parts {
        // Loading the signatures reads and parses files: off the runtime.
        let c = config.clone();
        let av = tokio::task::spawn_blocking(move || antivirus(&c, now as u64)).await;
        checks.push(av.unwrap_or_else(|e| check("antivirus", Status::Fail, format!("the check failed: {e}"), None)));
        checks.extend(clamd(config).await);
        checks.push(quarantine(store).await);
    }
    match address {
        Some(a) => checks.extend(account::account(store, a, now).await),
        None => checks.extend(server::server(config, store, now).await),
    }
    checks
}

pub async fn run(config: &Config, address: Option<String>, json: bool) -> CmdResult {
    let store = open_existing_store(config).await?;
    let checks = checks(config, store.as_ref(), address.as_deref(), true).await;
    if json {
        print_json(&checks)?;
    } else {
        for c in &checks {
            let word = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            println!("{word}  {}: {}", c.name, c.verdict);
            if let Some(f) = &c.fix {
                println!("      fix: {f}");
            }
        }
    }
    match checks.iter().filter(|c| c.status == Status::Fail).count() {
        0 => Ok(()),
        n => Err(format!("{n} check(s) failed")),
    }
}
