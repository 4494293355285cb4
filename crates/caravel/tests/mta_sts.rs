//! MTA-STS (RFC 8461) end to end: dnsmasq publishes `_mta-sts` records, an
//! HTTPS server on loopback serves the policies with a certificate from a
//! test authority (trusted through SSL_CERT_FILE, in this test process
//! only), and the receiving Caravel shows a certificate from the same
//! authority. Enforced policies deliver only to their MX hosts over
//! verified TLS; anything else waits in the queue.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caravel::testing::{submit, TestServer};
use caravel_delivery::client::Outcome;
use caravel_dns::test_server::{Dnsmasq, ReservedPort};
use caravel_net::Service;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Authority {
    fn new() -> Authority {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(rcgen::DnType::CommonName, "Caravel Test Authority");
        let key = KeyPair::generate().expect("key");
        let cert = ca.self_signed(&key).expect("ca");
        Authority { pem: cert.pem(), issuer: Issuer::new(ca, key) }
    }

    /// (certificate chain PEM, key PEM) for `names`.
    fn leaf(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        (cert.pem() + &self.pem, key.serialize_pem())
    }
}

/// Serves `/.well-known/mta-sts.txt` over HTTPS, a policy per Host header.
async fn policy_server(chain: String, key: String, policies: Vec<(&'static str, &'static str)>) -> u16 {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(chain.as_bytes()).collect::<Result<_, _>>().expect("certs");
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, policies) = (acceptor.clone(), policies.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut request = vec![0u8; 4096];
                let n = tls.read(&mut request).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..n]).to_ascii_lowercase();
                let body = policies
                    .iter()
                    .find(|(host, _)| request.contains(&format!("host: {host}\r\n")))
                    .map(|(_, p)| *p)
                    .unwrap_or("");
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn enforced_policies_deliver_only_over_verified_tls_to_their_mx_hosts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let authority = Authority::new();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &authority.pem).expect("write");
    // Trusted by this test process only (rustls-native-certs reads it).
    std::env::set_var("SSL_CERT_FILE", &ca_file);

    let (chain, key) = authority.leaf(&["mta-sts.buyer.test", "mta-sts.strict.test", "mta-sts.wrongname.test"]);
    let https_port = policy_server(
        chain,
        key,
        vec![
            ("mta-sts.buyer.test", "version: STSv1\r\nmode: enforce\r\nmx: *.buyer.test\r\nmax_age: 86400\r\n"),
            ("mta-sts.strict.test", "version: STSv1\r\nmode: enforce\r\nmx: other.strict.test\r\nmax_age: 86400\r\n"),
            (
                "mta-sts.wrongname.test",
                "version: STSv1\r\nmode: enforce\r\nmx: mx.wrongname.test\r\nmax_age: 86400\r\n",
            ),
        ],
    )
    .await;

    // The receiver's certificate names mx.buyer.test only.
    let (chain, key) = authority.leaf(&["mx.buyer.test"]);
    let (cert_file, key_file) = (dir.path().join("mx.pem"), dir.path().join("mx.key"));
    std::fs::write(&cert_file, chain).expect("write");
    std::fs::write(&key_file, key).expect("write");

    let dns_port = ReservedPort::new();
    let dns_addr = dns_port.addr();
    let receiver_port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let mut records = Vec::new();
    for domain in ["buyer.test", "strict.test", "wrongname.test"] {
        records.push(format!("--mx-host={domain},mx.{domain},10"));
        records.push(format!("--host-record=mx.{domain},127.0.0.1"));
        records.push(format!("--host-record=mta-sts.{domain},127.0.0.1"));
        records.push(Dnsmasq::txt(&format!("_mta-sts.{domain}"), "v=STSv1; id=20261128"));
    }
    let _dns = Dnsmasq::start(dns_port, &records);

    let receiver = TestServer::start_for("buyer.test", |c| {
        c.dns.resolvers = vec![dns_addr];
        c.listen.smtp = vec![SocketAddr::from(([127, 0, 0, 1], receiver_port))];
        c.tls = Some(caravel_config::TlsFiles { cert: cert_file.clone(), key: key_file.clone() });
    })
    .await;
    let sender = TestServer::start_for("export.test", |c| {
        c.dns.resolvers = vec![dns_addr];
        c.delivery.mx_port = receiver_port;
        c.delivery.https_port = https_port;
        c.delivery.retry = vec![Duration::from_secs(1)];
    })
    .await;

    let to = ["alice@buyer.test", "someone@strict.test", "someone@wrongname.test"];
    let message = b"From: alice@export.test\r\nSubject: Order under MTA-STS\r\n\r\nHello.\r\n".to_vec();
    let credentials = ("alice@export.test", caravel::testing::USERS[0].1);
    let outcomes = submit(sender.addr(Service::Submission), credentials, "alice@export.test", &to, message).await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Delivered(_))), "{outcomes:?}");

    // buyer.test: its MX matches the policy and shows a valid certificate.
    let start = Instant::now();
    while receiver.inbox("alice@buyer.test").await.is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "not delivered under the buyer.test policy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = receiver.inbox("alice@buyer.test").await;
    assert!(got[0].contains("with ESMTPS"), "{}", got[0]);

    // strict.test: its MX is not in the policy; wrongname.test: its MX's
    // certificate is not for that name. Both wait in the queue, with why.
    let strict = sender.wait_for_deferral("someone@strict.test").await;
    assert!(strict.contains("MTA-STS policy"), "{strict}");
    let wrong = sender.wait_for_deferral("someone@wrongname.test").await;
    assert!(wrong.contains("TLS handshake") && wrong.contains("mx.wrongname.test"), "{wrong}");
    assert!(sender.inbox("alice@export.test").await.is_empty(), "deferred, not bounced");
}
