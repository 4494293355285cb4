//! Certificates from an ACME CA, end to end against Debian's `pebble` (the
//! ACME test server) on loopback: its DNS is a dnsmasq answering 127.0.0.1
//! for example.test, its challenge ports are Caravel's http and https
//! listeners. A certificate is issued through each challenge type and
//! served on imaps, submissions and https; it is renewed without a restart
//! while an IMAP session stays connected; a challenge that cannot succeed
//! leaves the self-signed certificate serving and is explained.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use caravel::testing::TestServer;
use caravel_config::{Acme, AcmeChallenge};
use caravel_dns::test_server::{Dnsmasq, ReservedPort};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/acme_scenarios.py");

/// A loopback port held until the listener is dropped, right before the
/// program that is to bind it starts (narrowing the window in which
/// another test could take it).
fn reserve() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

/// Pebble with its own HTTPS certificate (for 127.0.0.1), validating
/// against `http_port` / `tls_port` and asking `dns` for addresses.
struct Pebble {
    child: Child,
    port: u16,
    management: u16,
    /// The certificate pebble's HTTPS answers with: `[acme] ca_file`.
    ca_file: PathBuf,
}

impl Pebble {
    fn start(dir: &Path, dns: SocketAddr, http_port: u16, tls_port: u16) -> Pebble {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params.subject_alt_names.push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let ca_file = dir.join("pebble-cert.pem");
        std::fs::write(&ca_file, cert.pem()).expect("write");
        std::fs::write(dir.join("pebble-key.pem"), key.serialize_pem()).expect("write");
        let ((held_port, port), (held_management, management)) = (reserve(), reserve());
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{port}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": ca_file, "privateKey": dir.join("pebble-key.pem"),
            "httpPort": http_port, "tlsPort": tls_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": false,
        }});
        std::fs::write(dir.join("pebble.json"), config.to_string()).expect("write");
        drop((held_port, held_management));
        let child = Command::new("pebble")
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .arg("-dnsserver")
            .arg(dns.to_string())
            // No artificial validation delay; pebble still refuses some
            // nonces at random (badNonce), which the client must retry.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("pebble.log")).expect("log"))
            .spawn()
            .expect("pebble installed (Debian package pebble)");
        // Owned at once: dropped (killed and waited for) on every path.
        let pebble = Pebble { child, port, management, ca_file };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return pebble;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("pebble does not listen");
    }

    fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Setup {
    t: TestServer,
    pebble: Pebble,
    _dns: Dnsmasq,
    _dir: tempfile::TempDir,
    /// Bound, never accepted from: connections to it are not answered.
    _closed: std::net::TcpListener,
}

/// Caravel on fixed http/https ports with `[acme]` pointed at a pebble
/// whose challenges reach `http_port`/`tls_port` (Caravel's, unless the
/// test means them to fail).
async fn setup(challenge: AcmeChallenge, wrong_port: bool, renew_before: Option<Duration>, domains: &[&str]) -> Setup {
    let dir = tempfile::tempdir().expect("dir");
    let dns_port = ReservedPort::new();
    let dns_addr = dns_port.addr();
    let dns = Dnsmasq::start(dns_port, &["--address=/example.test/127.0.0.1".to_string()]);
    let ((held_http, http), (held_https, https)) = (reserve(), reserve());
    // A wrong port: one nobody listens on (held by this test throughout).
    let (closed, closed_port) = reserve();
    let (va_http, va_tls) = if wrong_port { (closed_port, closed_port) } else { (http, https) };
    let pebble = Pebble::start(dir.path(), dns_addr, va_http, va_tls);
    drop((held_http, held_https));
    let acme = Acme {
        directory: pebble.directory(),
        email: Some("postmaster@example.test".into()),
        challenge,
        domains: domains.iter().map(|d| d.to_string()).collect(),
        ca_file: Some(pebble.ca_file.clone()),
        renew_before,
        check_every: Duration::from_secs(2),
    };
    let t = TestServer::start_with(move |c| {
        c.listen.http = vec![SocketAddr::from(([127, 0, 0, 1], http))];
        c.listen.https = vec![SocketAddr::from(([127, 0, 0, 1], https))];
        c.acme = Some(acme);
    })
    .await;
    Setup { t, pebble, _dns: dns, _dir: dir, _closed: closed }
}

async fn scenario(s: &Setup, name: &str) {
    let mut env = common::admin_env(&s.t);
    env.push(("PEBBLE_CA".into(), s.pebble.ca_file.display().to_string()));
    env.push(("PEBBLE_MANAGEMENT".into(), s.pebble.management.to_string()));
    // `caravel tls check` reads [acme] from the admin's configuration too.
    let config = s.t.dir.path().join("admin.toml");
    let text = "hostname = \"mail.example.test\"\n".to_string()
        + &std::fs::read_to_string(&config).expect("config")
        + &format!("[acme]\ndirectory = \"{}\"\nca_file = \"{}\"\n", s.pebble.directory(), s.pebble.ca_file.display());
    std::fs::write(&config, text).expect("config");
    common::python_scenario(SCENARIOS, name, &s.t, env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_alpn_01_issues_a_certificate_that_every_listener_serves_and_renews_it_in_place() {
    // Always due: each check (every 2 s) renews, to see a renewal happen.
    // The default names: the hostname's certificate, and example.test's
    // (mta-sts. and autoconfig.) once the domain is there.
    let s = setup(AcmeChallenge::TlsAlpn01, false, Some(Duration::from_secs(100_000 * 86_400)), &[]).await;
    scenario(&s, "issued_and_renewed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_01_issues_a_certificate() {
    let s = setup(AcmeChallenge::Http01, false, None, &["mail.example.test", "mta-sts.example.test"]).await;
    scenario(&s, "issued_once").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_challenge_that_cannot_succeed_keeps_the_old_certificate_and_says_why() {
    let s = setup(AcmeChallenge::Http01, true, None, &["mail.example.test"]).await;
    scenario(&s, "validation_fails").await;
}
