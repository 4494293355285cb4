//! TLS end to end: TLS 1.3 and 1.2 on every listener (implicit and
//! STARTTLS) and TLS 1.1 refused; certificates from files, chosen by SNI,
//! and replaced without a restart when the files change.

mod common;

use std::path::Path;

use caravel::testing::TestServer;
use caravel_config::TlsFiles;
use sha2::Digest;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/tls_scenarios.py");

/// Writes a certificate for `names` (and its key) into `dir/<stem>.pem` and
/// `.key`, as a renewal would (new file renamed over the old); returns the
/// SHA-256 of its DER, as the client sees it.
fn write_cert(dir: &Path, stem: &str, names: &[&str]) -> String {
    let params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    for (ext, data) in [("key", key.serialize_pem()), ("pem", cert.pem())] {
        let tmp = dir.join(format!("{stem}.{ext}.tmp"));
        std::fs::write(&tmp, data).expect("write");
        std::fs::rename(&tmp, dir.join(format!("{stem}.{ext}"))).expect("rename");
    }
    hex::encode(sha2::Sha256::digest(cert.der()))
}

fn files(dir: &Path, stem: &str) -> TlsFiles {
    TlsFiles { cert: dir.join(format!("{stem}.pem")), key: dir.join(format!("{stem}.key")) }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_listener_speaks_tls_1_3_and_1_2_and_refuses_1_1() {
    let t = TestServer::start().await;
    common::python_scenario(SCENARIOS, "versions", &t, vec![]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn certificates_by_sni_and_replaced_without_restart() {
    let certs = tempfile::tempdir().expect("tempdir");
    let dir = certs.path().to_path_buf();
    let first = write_cert(&dir, "main", &["mail.example.test"]);
    let other = write_cert(&dir, "other", &["mail.other.test"]);
    let wildcard = write_cert(&dir, "wild", &["*.third.test"]);
    let (d, certs_dir) = (dir.clone(), certs);
    let t = TestServer::start_with(move |c| {
        c.tls = Some(files(&d, "main"));
        c.tls_sni = vec![("mail.other.test".into(), files(&d, "other")), ("*.third.test".into(), files(&d, "wild"))];
    })
    .await;
    for (name, expected) in [
        ("mail.example.test", &first),
        ("-", &first),
        ("mail.other.test", &other),
        ("MAIL.OTHER.TEST", &other),
        ("imap.third.test", &wildcard),
        ("unknown.test", &first),
    ] {
        scenario_certificate(&t, name, expected).await;
    }
    // A renewal: new files in place; new connections get them, no restart.
    let renewed = write_cert(&dir, "main", &["mail.example.test"]);
    assert_ne!(renewed, first);
    scenario_certificate(&t, "mail.example.test", &renewed).await;
    // A broken renewal keeps the certificate in use.
    std::fs::write(dir.join("main.pem"), "not a certificate").expect("break");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    scenario_certificate(&t, "mail.example.test", &renewed).await;
    assert!(t.server.reload_tls().is_err(), "SIGHUP's reload reports the broken file");
    drop(certs_dir);
}

async fn scenario_certificate(t: &TestServer, name: &str, expected: &str) {
    let _ = common::python_scenario_args(SCENARIOS, "certificate", &[name, expected], t, vec![]).await;
}
