//! The certificate checks the troubleshooter (and `caravel tls check`) give
//! in plain words: expiry, the names a certificate covers against the names
//! clients use, and whether the chain leads to an authority the system
//! trusts (as clients on staff machines will judge it).

use std::path::Path;

use caravel_config::Config;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;
use webpki::{EndEntityCert, KeyUsage};

/// Warn this many days before a certificate expires.
pub const RENEW_WARNING_DAYS: i64 = 21;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertReport {
    /// "default" (`[tls]` or the self-signed one) or the SNI host name.
    pub used_for: String,
    pub file: String,
    /// DNS names the certificate covers (subject alternative names).
    pub names: Vec<String>,
    /// Unix seconds.
    pub not_after: i64,
    pub days_left: i64,
    pub self_signed: bool,
    /// Where it comes from: "file" (`[tls]`), "acme" or "self-signed".
    pub source: String,
    /// For ACME's: when it is looked at again and when it renews.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal: Option<String>,
    /// Each problem in plain words, with what to do; empty when all is well.
    pub problems: Vec<String>,
}

/// Checks every certificate the configuration uses, at `now` (Unix seconds),
/// against `roots` (the system's trusted authorities).
pub fn check(config: &Config, roots: &[CertificateDer<'static>], now: i64) -> Result<Vec<CertReport>, String> {
    let mut sources: Vec<(String, std::path::PathBuf, Vec<String>, &str)> = Vec::new();
    let acme_dir = caravel_net::tls::acme_dir(&config.data_dir);
    let acme_file = |stem: &str| acme_dir.join(format!("{stem}.pem"));
    let acme_on = config.acme.is_some();
    let hostname_acme = acme_file(&config.hostname);
    let (default_file, source) = match &config.tls {
        Some(f) => (f.cert.clone(), "file"),
        None if acme_on && hostname_acme.exists() => (hostname_acme.clone(), "acme"),
        None => (config.data_dir.join("tls/cert.pem"), "self-signed"),
    };
    sources.push(("default".into(), default_file.clone(), vec![config.hostname.clone()], source));
    for (name, files) in &config.tls_sni {
        let host = name.strip_prefix("*.").map(|p| format!("mail.{p}")).unwrap_or_else(|| name.clone());
        sources.push((name.clone(), files.cert.clone(), vec![host], "file"));
    }
    let status = caravel_acme::Status::read(&config.data_dir);
    if acme_on {
        for (stem, cert) in &status.certs {
            let file = acme_file(stem);
            if file.exists() && file != default_file {
                sources.push((stem.clone(), file, cert.names.clone(), "acme"));
            }
        }
    }
    let anchors: Vec<_> = roots.iter().filter_map(|c| webpki::anchor_from_trusted_cert(c).ok()).collect();
    let mut reports: Vec<CertReport> = sources
        .iter()
        .map(|(used_for, file, hosts, source)| check_one(used_for, file, hosts, &anchors, now, source))
        .collect::<Result<_, _>>()?;
    if let Some(acme) = &config.acme {
        acme_state(acme, &config.hostname, &status, &mut reports, now);
    }
    Ok(reports)
}

/// What ACME did last: on each certificate it made, when it renews and
/// why its last attempt failed; a certificate it could not make at all is
/// a problem of the default one (the one serving meanwhile).
fn acme_state(
    acme: &caravel_config::Acme,
    hostname: &str,
    status: &caravel_acme::Status,
    reports: &mut [CertReport],
    now: i64,
) {
    let next = if status.next_check > now { rfc_date(status.next_check) } else { "at the next start".into() };
    let mut unplaced = Vec::new();
    for (stem, cert) in &status.certs {
        let index = reports.iter().position(|r| {
            r.source == "acme" && Path::new(&r.file).file_stem().is_some_and(|f| f.to_string_lossy() == *stem)
        });
        match index {
            Some(i) => {
                let report = &mut reports[i];
                let renews = caravel_acme::CertInfo::read(Path::new(&report.file))
                    .map(|info| rfc_date(info.renew_at(acme.renew_before)))
                    .unwrap_or_default();
                report.renewal = Some(format!("renews from {renews}; next look {next} ({})", acme.directory));
                if let Some(e) = &cert.last_error {
                    report.problems.push(format!("the last ACME attempt failed: {e}"));
                }
            }
            None => {
                let why = cert.last_error.clone().unwrap_or_else(|| "not obtained yet".into());
                unplaced.push(format!("no ACME certificate for {} yet: {why}", cert.names.join(", ")));
            }
        }
    }
    if status.certs.is_empty() {
        unplaced.push(format!("ACME ({}) has not obtained a certificate for {hostname} yet", acme.directory));
    }
    if let Some(default) = reports.first_mut() {
        default.problems.extend(unplaced);
    }
}

/// The system's trusted authorities (Debian: /etc/ssl/certs).
pub fn system_roots() -> Vec<CertificateDer<'static>> {
    rustls_native_certs::load_native_certs().certs
}

fn check_one(
    used_for: &str,
    file: &Path,
    hosts: &[String],
    anchors: &[rustls_pki_types::TrustAnchor<'_>],
    now: i64,
    source: &str,
) -> Result<CertReport, String> {
    let pem = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} is not valid PEM: {e}", file.display()))?;
    let leaf = chain.first().ok_or_else(|| format!("{} holds no certificate", file.display()))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|e| format!("{} is not a valid certificate: {e}", file.display()))?;
    let not_after = parsed.validity().not_after.timestamp();
    let days_left = (not_after - now).div_euclid(86400);
    let names = caravel_net::tls::dns_names(leaf);
    let self_signed = parsed.issuer() == parsed.subject();
    let mut problems = Vec::new();
    let date = rfc_date(not_after);
    if not_after <= now {
        problems.push(format!("expired on {date}: mail programs refuse it; renew it now"));
    } else if days_left < RENEW_WARNING_DAYS {
        problems.push(format!("expires on {date}, in {days_left} days: renew it before then"));
    }
    let end_entity = EndEntityCert::try_from(leaf).map_err(|e| format!("{}: {e:?}", file.display()))?;
    for host in hosts {
        let ok = ServerName::try_from(host.as_str())
            .map(|n| end_entity.verify_is_valid_for_subject_name(&n).is_ok())
            .unwrap_or(false);
        if !ok {
            problems.push(format!(
                "does not cover {host} (it covers {}): clients connecting to {host} will warn; get one that names it",
                if names.is_empty() { "no names".to_string() } else { names.join(", ") }
            ));
        }
    }
    if self_signed {
        problems.push(
            "self-signed: mail programs warn or refuse until each user accepts it; use a certificate from an authority (e.g. Let's Encrypt)"
                .into(),
        );
    } else {
        // Judged as on the day it is valid, so an expired certificate is
        // reported as such above, not as a broken chain here.
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.min(not_after - 1).max(0) as u64));
        let verified = end_entity.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            anchors,
            &chain[1..],
            at,
            KeyUsage::server_auth(),
            None,
            None,
        );
        if let Err(e) = verified {
            problems.push(format!(
                "its chain does not lead to an authority this system trusts ({e:?}): the file must hold the full chain (fullchain.pem), not the certificate alone"
            ));
        }
    }
    Ok(CertReport {
        used_for: used_for.to_string(),
        file: file.display().to_string(),
        names,
        not_after,
        days_left,
        self_signed,
        source: source.to_string(),
        renewal: None,
        problems,
    })
}

fn rfc_date(unix: i64) -> String {
    let (y, m, d) = caravel_store::civil_from_days(unix.div_euclid(86400));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravel_config::TlsFiles;
    use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    const NOW: i64 = 1_795_000_000; // 2026-11-16

    fn params(names: &[&str], until: (i32, u8, u8)) -> CertificateParams {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
        p.not_before = date_time_ymd(2025, 1, 1);
        p.not_after = date_time_ymd(until.0, until.1, until.2);
        p
    }

    /// A CA, and a leaf for `names` signed by it; the file holds leaf + CA.
    fn chain(dir: &Path, stem: &str, names: &[&str], until: (i32, u8, u8)) -> (TlsFiles, CertificateDer<'static>) {
        let mut ca = params(&[], (2035, 1, 1));
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(rcgen::DnType::CommonName, "Test Authority");
        let ca_key = KeyPair::generate().expect("key");
        let ca_cert = ca.self_signed(&ca_key).expect("ca");
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("key");
        let leaf = params(names, until).signed_by(&key, &issuer).expect("leaf");
        let files = TlsFiles { cert: dir.join(format!("{stem}.pem")), key: dir.join(format!("{stem}.key")) };
        std::fs::write(&files.cert, leaf.pem() + &ca_cert.pem()).expect("write");
        std::fs::write(&files.key, key.serialize_pem()).expect("write");
        (files, ca_cert.der().clone())
    }

    fn config(dir: &Path, tls: Option<TlsFiles>, sni: Vec<(String, TlsFiles)>) -> Config {
        Config {
            hostname: "mail.example.test".into(),
            data_dir: dir.to_path_buf(),
            tls,
            tls_sni: sni,
            ..Config::default()
        }
    }

    #[test]
    fn a_good_chain_has_no_problems_and_its_absence_is_said() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (files, root) = chain(dir.path(), "good", &["mail.example.test"], (2027, 6, 1));
        let c = config(dir.path(), Some(files), vec![]);
        let r = check(&c, std::slice::from_ref(&root), NOW).expect("check");
        assert_eq!(r[0].names, vec!["mail.example.test"]);
        assert!(r[0].problems.is_empty(), "{:?}", r[0].problems);
        assert!(r[0].days_left > 100);
        let r = check(&c, &[], NOW).expect("check");
        assert!(r[0].problems[0].contains("does not lead to an authority"), "{:?}", r[0].problems);
    }

    #[test]
    fn expiry_soon_expired_and_wrong_names_are_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (soon, root) = chain(dir.path(), "soon", &["mail.example.test"], (2026, 11, 30));
        let (old, root2) = chain(dir.path(), "old", &["mail.other.test"], (2026, 1, 1));
        let c = config(dir.path(), Some(soon), vec![("mail.other.test".into(), old)]);
        let r = check(&c, &[root, root2], NOW).expect("check");
        assert!(r[0].problems.len() == 1 && r[0].problems[0].contains("renew it before then"), "{:?}", r[0].problems);
        assert_eq!(r[1].used_for, "mail.other.test");
        assert!(r[1].problems[0].starts_with("expired on 2026-01-01"), "{:?}", r[1].problems);
        let (wrong, root3) = chain(dir.path(), "wrong", &["www.example.test"], (2027, 6, 1));
        let r = check(&config(dir.path(), Some(wrong), vec![]), &[root3], NOW).expect("check");
        assert!(r[0].problems[0].contains("does not cover mail.example.test (it covers www.example.test)"));
    }

    #[test]
    fn the_generated_certificate_is_reported_self_signed() {
        let dir = tempfile::tempdir().expect("tempdir");
        caravel_net::tls::ensure_self_signed(&dir.path().join("tls"), "mail.example.test").expect("self-signed");
        let r = check(&config(dir.path(), None, vec![]), &[], NOW).expect("check");
        assert!(r[0].self_signed && r[0].problems.iter().any(|p| p.starts_with("self-signed")), "{:?}", r[0].problems);
    }
}
