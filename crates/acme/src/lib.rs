//! Certificates from an ACME certificate authority (RFC 8555), obtained at
//! start and renewed before they run out, without a second tool: the
//! account key and the certificates live in `data_dir/acme/` (0600), the
//! challenges are answered by the server's own listeners (TLS-ALPN-01 on
//! the TLS listeners, RFC 8737; HTTP-01 on http), and a new certificate
//! goes into use through the same reload as files
//! (`caravel_net::tls::Certificates`), so every listener serves it without
//! a restart. The certificate in use keeps serving until a new one is in
//! hand.
//!
//! One certificate for the hostname, and one per hosted domain for its
//! published names (`mta-sts.`, `autoconfig.`): a domain whose DNS is not
//! ready yet never holds up the others, nor the hostname's renewal.

mod issue;
pub mod status;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use caravel_config::Acme;
use caravel_net::tls::Certificates;

pub use status::{CertInfo, CertStatus, Status};

/// What the running server tells the manager: the hosted domains (they
/// change while it runs), and where outcomes are recorded.
#[async_trait::async_trait]
pub trait Host: Send + Sync {
    /// The hosted domains; `Err` (the store did not answer): no check now,
    /// rather than a certificate that lost names.
    async fn domains(&self) -> Result<Vec<String>, String>;
    /// What became of an order, in plain words, for the mail log.
    async fn record(&self, _what: &str) {}
}

pub struct Manager {
    pub config: Acme,
    pub hostname: String,
    pub data_dir: PathBuf,
    pub certs: Arc<Certificates>,
    pub host: Arc<dyn Host>,
}

/// Waits after a failure: 1 minute, then 5, 30, 2 hours, then the regular
/// check interval (a CA's rate limits are respected by not asking often).
const BACKOFF: [u64; 4] = [60, 300, 1800, 7200];

/// The longest one order may take, all steps together: a CA that accepts
/// a connection and never answers must not stop renewals for good.
const ORDER_TIMEOUT: Duration = Duration::from_secs(600);

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("acme")
}

/// The certificates to hold, by file name: the hostname's, and for each
/// hosted domain the names `caravel dns` asks to publish (its MTA-STS
/// policy host, Thunderbird's autoconfig host). With `[acme] domains`,
/// one certificate per name listed.
pub fn wanted(config: &Acme, hostname: &str, domains: &[String]) -> Vec<(String, Vec<String>)> {
    if !config.domains.is_empty() {
        return config.domains.iter().map(|n| (n.clone(), vec![n.clone()])).collect();
    }
    let hostname = hostname.to_ascii_lowercase();
    let mut out = vec![(hostname.clone(), vec![hostname.clone()])];
    for d in domains {
        let names: Vec<String> =
            [format!("mta-sts.{d}"), format!("autoconfig.{d}")].into_iter().filter(|n| *n != hostname).collect();
        out.push((d.to_ascii_lowercase(), names));
    }
    out
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl Manager {
    /// Checks now and then for as long as the server runs.
    pub async fn run(self) {
        self.warn_about_listeners();
        // A restart does not start the back-off over (a crash loop must
        // not send the CA an order a second).
        if let Some((at, _)) = Status::read(&self.data_dir).last_failure() {
            let wait = (at + BACKOFF[0] as i64 - now()).clamp(0, BACKOFF[0] as i64);
            tokio::time::sleep(Duration::from_secs(wait as u64)).await;
        }
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
                    tracing::error!(error = %e, retry_in = ?back, "ACME: a certificate was not obtained");
                    back.min(self.config.check_every)
                }
            };
            let mut status = Status::read(&self.data_dir);
            status.next_check = now() + wait.as_secs() as i64;
            status.write(&self.data_dir);
            tokio::time::sleep(wait).await;
        }
    }

    fn warn_about_listeners(&self) {
        let hint = match self.config.challenge {
            caravel_config::AcmeChallenge::Http01 => "http-01 needs port 80 of every name to reach the http listener",
            caravel_config::AcmeChallenge::TlsAlpn01 => {
                "tls-alpn-01 needs port 443 of every name to reach a TLS listener (https)"
            }
        };
        tracing::info!(directory = %self.config.directory, "ACME on: {hint}");
    }

    /// Each certificate: obtained when there is none, it lacks a wanted
    /// name, it came from another CA, or it is due; the outcomes recorded.
    /// `Err` when any could not be obtained.
    pub async fn check(&self) -> Result<(), String> {
        let domains = self.host.domains().await?;
        let mut failed = Vec::new();
        for (file, names) in wanted(&self.config, &self.hostname, &domains) {
            if names.is_empty() {
                continue;
            }
            if let Err(e) = self.check_one(&file, &names).await {
                failed.push(e);
            }
        }
        match failed.is_empty() {
            true => Ok(()),
            false => Err(failed.join("; ")),
        }
    }

    async fn check_one(&self, file_name: &str, names: &[String]) -> Result<(), String> {
        let file = caravel_net::tls::acme_dir(&self.data_dir).join(format!("{file_name}.pem"));
        let mut status = Status::read(&self.data_dir);
        let previous = status.certs.get(file_name).cloned().unwrap_or_default();
        let current = usable(&file).ok();
        let at = now();
        let reason = match &current {
            None => Some("there is none yet"),
            Some(c) if names.iter().any(|n| !c.names.contains(n)) => Some("a name was added"),
            Some(_) if previous.directory != self.config.directory => Some("it came from another CA"),
            Some(c) if at >= c.renew_at(self.config.renew_before) => Some("it is due for renewal"),
            Some(_) => None,
        };
        if let Some(c) = &current {
            if c.margin_too_long(self.config.renew_before) {
                tracing::warn!(file = file_name, "[acme] renew_before is half the certificate's lifetime or more: it is renewed at nearly every check");
            }
        }
        let Some(reason) = reason else { return Ok(()) };
        tracing::info!(names = ?names, reason, directory = %self.config.directory, "ACME: ordering a certificate");
        let order = issue::obtain(&self.config, &self.data_dir, &self.certs.challenges, names);
        let outcome = match tokio::time::timeout(ORDER_TIMEOUT, order).await {
            Ok(r) => r,
            Err(_) => Err(format!("the CA did not finish within {} minutes", ORDER_TIMEOUT.as_secs() / 60)),
        };
        self.certs.challenges.clear();
        let outcome = match outcome {
            Ok((chain, key)) => self.install(&file, &chain, &key).await,
            Err(e) => Err(e),
        };
        let mut entry = CertStatus { names: names.to_vec(), last_attempt: at, ..previous };
        match &outcome {
            Ok(info) => {
                let what = format!(
                    "a certificate for {} obtained from {} ({reason}), valid until {}, in use",
                    info.names.join(", "),
                    self.config.directory,
                    info.not_after
                );
                tracing::info!("ACME: {what}");
                self.host.record(&what).await;
                entry.last_error = None;
                entry.issued = at;
                entry.directory = self.config.directory.clone();
            }
            Err(e) => {
                self.host.record(&format!("no certificate for {}: {e}", names.join(", "))).await;
                entry.last_error = Some(e.clone());
            }
        }
        status = Status::read(&self.data_dir);
        status.certs.insert(file_name.to_string(), entry);
        status.write(&self.data_dir);
        outcome.map(|_| ())
    }

    /// Writes the key and chain as one file (one rename: never a key beside
    /// another certificate) once they are known to fit, and puts it in use.
    async fn install(&self, file: &Path, chain: &str, key: &str) -> Result<CertInfo, String> {
        caravel_net::tls::certified_from_pem(chain, key).map_err(|e| format!("the CA's certificate: {e}"))?;
        issue::write_private(file, format!("{key}{chain}").as_bytes())?;
        self.certs.reload()?;
        CertInfo::read(file)
    }
}

/// The certificate in `file` if it loads with its key.
fn usable(file: &Path) -> Result<CertInfo, String> {
    let pem = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    caravel_net::tls::certified_from_pem(&pem, &pem)?;
    CertInfo::read(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_for_the_hostname_and_one_per_domain() {
        let config = Acme::default();
        let certs = wanted(&config, "Mail.Export.test", &["export.test".into(), "buyer.test".into()]);
        assert_eq!(
            certs,
            [
                ("mail.export.test".to_string(), vec!["mail.export.test".to_string()]),
                (
                    "export.test".to_string(),
                    vec!["mta-sts.export.test".to_string(), "autoconfig.export.test".to_string()]
                ),
                ("buyer.test".to_string(), vec!["mta-sts.buyer.test".to_string(), "autoconfig.buyer.test".to_string()]),
            ]
        );
        let listed = Acme { domains: vec!["mail.a.test".into(), "webmail.a.test".into()], ..Acme::default() };
        assert_eq!(wanted(&listed, "mail.a.test", &["a.test".into()]).len(), 2, "one per listed name");
    }
}
