//! Certificates from an ACME certificate authority (RFC 8555), obtained at
//! start and renewed before they run out, without a second tool: the
//! account key and the certificate live in `data_dir/acme/` (0600), the
//! challenges are answered by the server's own listeners (TLS-ALPN-01 on
//! https, RFC 8737; HTTP-01 on http), and a new certificate goes into use
//! through the same reload as files (`caravel_net::tls::Certificates`), so
//! every listener serves it without a restart. The certificate in use keeps
//! serving until a new one is in hand.

mod issue;
pub mod status;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use caravel_config::Acme;
use caravel_net::tls::Certificates;

pub use status::{CertInfo, Status};

/// Where the names to certify come from (the hosted domains change while
/// the server runs).
#[async_trait::async_trait]
pub trait Names: Send + Sync {
    async fn names(&self) -> Vec<String>;
    /// What became of an order, in plain words, for the mail log.
    async fn record(&self, _what: &str) {}
}

pub struct Manager {
    pub config: Acme,
    pub data_dir: PathBuf,
    pub certs: Arc<Certificates>,
    pub names: Arc<dyn Names>,
}

/// Waits after a failure: 1 minute, then 5, 30, 2 hours, then the regular
/// check interval (a CA's rate limits are respected by not asking often).
const BACKOFF: [u64; 4] = [60, 300, 1800, 7200];

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("acme")
}

/// The names a server certifies by default: its hostname, and for each
/// hosted domain the names `caravel dns` asks to publish (MTA-STS policy,
/// Thunderbird's autoconfig).
pub fn default_names(hostname: &str, domains: &[String]) -> Vec<String> {
    let mut names = vec![hostname.to_ascii_lowercase()];
    for d in domains {
        names.push(format!("mta-sts.{d}"));
        names.push(format!("autoconfig.{d}"));
    }
    names.sort();
    names.dedup();
    names
}

impl Manager {
    /// Checks now and then for as long as the server runs.
    pub async fn run(self) {
        let mut failures = 0usize;
        loop {
            let wait = match self.check().await {
                Ok(()) => {
                    failures = 0;
                    self.config.check_every
                }
                Err(e) => {
                    let back =
                        BACKOFF.get(failures).copied().map(Duration::from_secs).unwrap_or(self.config.check_every);
                    failures += 1;
                    tracing::error!(error = %e, retry_in = ?back, "ACME: no certificate obtained");
                    back.min(self.config.check_every)
                }
            };
            let mut status = Status::read(&self.data_dir);
            status.next_check = caravel_now() + wait.as_secs() as i64;
            status.write(&self.data_dir);
            tokio::time::sleep(wait).await;
        }
    }

    /// The names wanted now.
    async fn wanted(&self) -> Vec<String> {
        let mut names =
            if self.config.domains.is_empty() { self.names.names().await } else { self.config.domains.clone() };
        names.sort();
        names.dedup();
        names
    }

    /// Obtains a certificate when there is none, it lacks a wanted name,
    /// or it is due for renewal; records the outcome.
    pub async fn check(&self) -> Result<(), String> {
        let names = self.wanted().await;
        let files = caravel_net::tls::acme_files(&self.data_dir);
        let current = CertInfo::read(&files.cert).ok();
        let now = caravel_now();
        let reason = match &current {
            None => Some("there is none yet".to_string()),
            Some(c) if names.iter().any(|n| !c.names.contains(n)) => Some("a name was added".to_string()),
            Some(c) if now >= c.renew_at(self.config.renew_before) => Some("it is due for renewal".to_string()),
            Some(_) => None,
        };
        let mut status = Status::read(&self.data_dir);
        status.names = names.clone();
        let Some(reason) = reason else {
            status.write(&self.data_dir);
            return Ok(());
        };
        tracing::info!(names = ?names, reason, directory = %self.config.directory, "ACME: ordering a certificate");
        status.last_attempt = now;
        let outcome = issue::obtain(&self.config, &self.data_dir, &self.certs.challenges, &names).await;
        self.certs.challenges.clear();
        match outcome {
            Ok((chain, key)) => {
                issue::write_private(&files.key, key.as_bytes())?;
                issue::write_private(&files.cert, chain.as_bytes())?;
                self.certs.reload()?;
                let info = CertInfo::read(&files.cert)?;
                tracing::info!(names = ?info.names, not_after = info.not_after, "ACME: certificate obtained and in use");
                let what = format!(
                    "a certificate for {} obtained from {} ({reason}) and in use",
                    info.names.join(", "),
                    self.config.directory
                );
                self.names.record(&what).await;
                status.last_error = None;
                status.issued = now;
                status.write(&self.data_dir);
                Ok(())
            }
            Err(e) => {
                status.last_error = Some(e.clone());
                status.write(&self.data_dir);
                self.names.record(&format!("no certificate for {}: {e}", names.join(", "))).await;
                Err(e)
            }
        }
    }
}

pub(crate) fn caravel_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_names_are_the_hostname_and_each_domains_published_names() {
        let names = super::default_names("Mail.Export.test", &["export.test".into(), "buyer.test".into()]);
        assert_eq!(
            names,
            [
                "autoconfig.buyer.test",
                "autoconfig.export.test",
                "mail.export.test",
                "mta-sts.buyer.test",
                "mta-sts.export.test"
            ]
        );
    }
}
