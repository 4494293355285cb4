//! What ACME did last, for `caravel tls check` and the doctor
//! (`data_dir/acme/status.json`), and what a certificate file holds.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// Each certificate, by its file's name (the hostname, or a domain).
    pub certs: BTreeMap<String, CertStatus>,
    /// When the certificates are looked at again (Unix seconds).
    pub next_check: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CertStatus {
    /// The names wanted at the last check.
    pub names: Vec<String>,
    /// Unix seconds; 0: never.
    pub last_attempt: i64,
    pub issued: i64,
    /// The directory of the CA that issued it.
    pub directory: String,
    /// Why the last attempt failed, in plain words; None: it did not.
    pub last_error: Option<String>,
}

fn path(data_dir: &Path) -> std::path::PathBuf {
    crate::dir(data_dir).join("status.json")
}

impl Status {
    pub fn read(data_dir: &Path) -> Status {
        std::fs::read(path(data_dir)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    pub fn write(&self, data_dir: &Path) {
        let json = serde_json::to_vec_pretty(self).unwrap_or_default();
        if let Err(e) = crate::issue::write_private(&path(data_dir), &json) {
            tracing::warn!(error = %e, "ACME: status not saved");
        }
    }

    /// The latest failed attempt, if the last attempt of any certificate
    /// failed: (when, why).
    pub fn last_failure(&self) -> Option<(i64, &str)> {
        self.certs
            .values()
            .filter_map(|c| c.last_error.as_deref().map(|e| (c.last_attempt, e)))
            .max_by_key(|(at, _)| *at)
    }
}

/// The names and validity of the certificate in a PEM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub names: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
}

impl CertInfo {
    /// The first certificate of a PEM file (the key may come first).
    pub fn read(file: &Path) -> Result<CertInfo, String> {
        let pem = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let der = x509_parser::pem::Pem::iter_from_buffer(&pem)
            .filter_map(Result::ok)
            .find(|p| p.label == "CERTIFICATE")
            .ok_or_else(|| format!("{} holds no certificate", file.display()))?
            .contents;
        let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| format!("{}: {e}", file.display()))?;
        let validity = cert.validity();
        Ok(CertInfo {
            names: caravel_net::tls::dns_names(&der),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
        })
    }

    /// When to renew: `before` the end, or with a third of the lifetime
    /// left (Let's Encrypt's 90 days: at 60).
    pub fn renew_at(&self, before: Option<Duration>) -> i64 {
        let left = match before {
            Some(b) => b.as_secs() as i64,
            None => (self.not_after - self.not_before) / 3,
        };
        self.not_after.saturating_sub(left)
    }

    /// A margin this long renews at nearly every check (a CA allows few
    /// duplicates a week): worth a warning.
    pub fn margin_too_long(&self, before: Option<Duration>) -> bool {
        before.is_some_and(|b| b.as_secs() as i64 >= (self.not_after - self.not_before) / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_at_two_thirds_of_the_lifetime_or_as_configured() {
        let c = CertInfo { names: vec![], not_before: 0, not_after: 90 * 86_400 };
        assert_eq!(c.renew_at(None), 60 * 86_400);
        assert_eq!(c.renew_at(Some(Duration::from_secs(86_400))), 89 * 86_400);
        assert!(c.margin_too_long(Some(Duration::from_secs(60 * 86_400))) && !c.margin_too_long(None));
    }

    #[test]
    fn the_status_reads_back_and_a_missing_one_is_empty() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(Status::read(dir.path()), Status::default());
        let mut s = Status::default();
        let failed = CertStatus { last_attempt: 5, last_error: Some("refused".into()), ..CertStatus::default() };
        s.certs.insert("mail.x.test".into(), failed);
        s.write(dir.path());
        assert_eq!(Status::read(dir.path()), s);
        assert_eq!(s.last_failure(), Some((5, "refused")));
    }
}
