//! What ACME did last, for `caravel tls check` and the doctor
//! (`data_dir/acme/status.json`), and what a certificate file holds.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// The names wanted at the last check.
    pub names: Vec<String>,
    /// Unix seconds; 0: never.
    pub last_attempt: i64,
    pub issued: i64,
    /// Why the last attempt failed, in plain words; None: it did not.
    pub last_error: Option<String>,
    /// When the certificate is looked at again.
    pub next_check: i64,
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
}

/// The names and validity of the certificate in a PEM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub names: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
}

impl CertInfo {
    pub fn read(file: &Path) -> Result<CertInfo, String> {
        let pem = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let (_, block) = x509_parser::pem::parse_x509_pem(&pem).map_err(|e| format!("{}: {e}", file.display()))?;
        let (_, cert) =
            x509_parser::parse_x509_certificate(&block.contents).map_err(|e| format!("{}: {e}", file.display()))?;
        let names = caravel_net::tls::dns_names(&block.contents);
        let validity = cert.validity();
        Ok(CertInfo { names, not_before: validity.not_before.timestamp(), not_after: validity.not_after.timestamp() })
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_at_two_thirds_of_the_lifetime_or_as_configured() {
        let c = CertInfo { names: vec![], not_before: 0, not_after: 90 * 86_400 };
        assert_eq!(c.renew_at(None), 60 * 86_400);
        assert_eq!(c.renew_at(Some(Duration::from_secs(86_400))), 89 * 86_400);
    }

    #[test]
    fn the_status_reads_back_and_a_missing_one_is_empty() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(Status::read(dir.path()), Status::default());
        let s = Status { names: vec!["mail.x.test".into()], last_error: Some("refused".into()), ..Status::default() };
        s.write(dir.path());
        assert_eq!(Status::read(dir.path()), s);
    }
}
