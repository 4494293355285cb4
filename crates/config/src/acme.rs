//! `[acme]`: certificates obtained and renewed automatically from an ACME
//! certificate authority (RFC 8555), Let's Encrypt by default. The section
//! being there turns it on: the server must be reachable from the internet
//! under its names (port 80 for HTTP-01, 443 for TLS-ALPN-01).

use std::path::PathBuf;
use std::time::Duration;

use crate::reader::Reader;

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// How the CA checks that this server answers for a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallenge {
    /// A certificate on the https listener, for ALPN `acme-tls/1` (RFC 8737).
    TlsAlpn01,
    /// A file at `http://NAME/.well-known/acme-challenge/TOKEN` on the
    /// http listener (RFC 8555 §8.3).
    Http01,
}

impl AcmeChallenge {
    pub fn as_str(self) -> &'static str {
        match self {
            AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
            AcmeChallenge::Http01 => "http-01",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Acme {
    pub directory: String,
    /// The contact the CA writes to about the certificates.
    pub email: Option<String>,
    pub challenge: AcmeChallenge,
    /// The names; empty: the hostname, and `mta-sts.` and `autoconfig.` of
    /// each hosted domain.
    pub domains: Vec<String>,
    /// More roots to trust the ACME server's own HTTPS with (a private or
    /// test CA).
    pub ca_file: Option<PathBuf>,
    /// Renew when less than this is left; None: a third of the lifetime.
    pub renew_before: Option<Duration>,
    /// How often the certificate's age is looked at.
    pub check_every: Duration,
}

impl Default for Acme {
    fn default() -> Self {
        Acme {
            directory: LETS_ENCRYPT.into(),
            email: None,
            challenge: AcmeChallenge::TlsAlpn01,
            domains: Vec::new(),
            ca_file: None,
            renew_before: None,
            check_every: Duration::from_secs(12 * 3600),
        }
    }
}

const P: &str = "acme";

pub(crate) fn read(r: &mut Reader, t: &toml_edit::Table) -> Acme {
    let mut a = Acme::default();
    r.check_keys(t, P, &["directory", "email", "challenge", "domains", "ca_file", "renew_before", "check_every"]);
    if let Some(d) = r.string(t, P, "directory") {
        if d.starts_with("https://") {
            a.directory = d;
        } else {
            r.error("acme.directory", t.get("directory").and_then(|i| i.span()), "must be an https:// URL");
        }
    }
    a.email = r.string(t, P, "email");
    if let Some(c) = r.parsed(t, P, "challenge", |i| match i.as_str() {
        Some("tls-alpn-01") => Ok(AcmeChallenge::TlsAlpn01),
        Some("http-01") => Ok(AcmeChallenge::Http01),
        _ => Err("expected \"tls-alpn-01\" or \"http-01\"".to_string()),
    }) {
        a.challenge = c;
    }
    if let Some(d) = r.parsed(t, P, "domains", |i| {
        let list = i.as_array().ok_or("expected a list of names")?;
        list.iter()
            .map(|v| {
                let name = v.as_str().ok_or("expected names in double quotes")?;
                if name.contains('*') {
                    // Wildcards need DNS-01, which this client does not do.
                    return Err(format!("{name}: wildcard names cannot be certified here; list each name"));
                }
                crate::validate_hostname(name.trim().trim_end_matches('.')).map_err(|e| format!("{name}: {e}"))
            })
            .collect::<Result<Vec<_>, String>>()
    }) {
        a.domains = d;
    }
    a.ca_file = r.string(t, P, "ca_file").map(PathBuf::from);
    a.renew_before = r.duration(t, P, "renew_before");
    if let Some(d) = r.duration(t, P, "check_every") {
        a.check_every = d.max(Duration::from_secs(1));
    }
    a
}

#[cfg(test)]
mod tests {
    use crate::{AcmeChallenge, Config};

    #[test]
    fn the_section_turns_acme_on_with_defaults_and_checks_its_values() {
        assert!(Config::parse("").expect("empty").acme.is_none(), "off without the section");
        let c = Config::parse("[acme]\nemail = \"it@export.test\"\n").expect("valid");
        let a = c.acme.expect("on");
        assert_eq!((a.directory.as_str(), a.challenge), (super::LETS_ENCRYPT, AcmeChallenge::TlsAlpn01));
        let c = Config::parse(
            "[acme]\nchallenge = \"http-01\"\ndomains = [\"Mail.Export.test.\"]\nrenew_before = \"30d\"\n",
        )
        .expect("valid");
        let a = c.acme.expect("on");
        assert_eq!((a.challenge, a.domains), (AcmeChallenge::Http01, vec!["mail.export.test".to_string()]));
        for bad in [
            "[acme]\ndomains = [\"*.export.test\"]\n",
            "[acme]\ndomains = [\"not a name\"]\n",
            "[acme]\nchallenge = \"dns-01\"\n",
            "[acme]\ndirectory = \"http://ca.test/dir\"\n",
            "[acme]\nrenewal = \"soon\"\n",
        ] {
            let errors = Config::parse(bad).expect_err(bad);
            assert!(errors.iter().all(|e| e.key.starts_with("acme")), "{bad}: {errors:?}");
        }
    }
}
