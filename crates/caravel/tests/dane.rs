//! DANE (RFC 7672) end to end: Knot DNS on loopback serves a DNSSEC-signed
//! private root with MX, A and TLSA records; the sending Caravel validates
//! with that root's key as its trust anchor. A host whose TLSA record
//! matches the receiver's key gets the message over TLS; one whose record
//! does not match gets nothing, and the message waits.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use caravel::testing::{submit, TestServer};
use caravel_delivery::client::Outcome;
use caravel_dns::test_server::{Knot, ReservedPort};
use caravel_net::Service;

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_tlsa_record_decides_which_certificate_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The receiver's own (self-signed) certificate, pinned by DANE-EE.
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["mx.buyer.test".to_string(), "mx.pinned.test".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let spki = caravel_delivery::dane::spki(cert.der()).expect("spki");
    let pin: String = ring_sha256(spki).iter().map(|b| format!("{b:02x}")).collect();
    let (cert_file, key_file) = (dir.path().join("mx.pem"), dir.path().join("mx.key"));
    std::fs::write(&cert_file, cert.pem()).expect("write");
    std::fs::write(&key_file, key.serialize_pem()).expect("write");

    let receiver_port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let dns_port = ReservedPort::new();
    let dns_addr = dns_port.addr();
    let mut records = Vec::new();
    for (domain, tlsa) in [("buyer.test", pin.clone()), ("pinned.test", "00".repeat(32))] {
        records.push(format!("{domain}. 300 IN MX 10 mx.{domain}."));
        records.push(format!("mx.{domain}. 300 IN A 127.0.0.1"));
        records.push(format!("_{receiver_port}._tcp.mx.{domain}. 300 IN TLSA 3 1 1 {tlsa}"));
    }
    let knot = Knot::start(dns_port, &records);
    let anchor_file = dir.path().join("root.key");
    std::fs::write(&anchor_file, knot.anchor()).expect("anchor");

    let receiver = TestServer::start_for("buyer.test", |c| {
        c.dns.resolvers = vec![dns_addr];
        c.listen.smtp = vec![SocketAddr::from(([127, 0, 0, 1], receiver_port))];
        c.tls = Some(caravel_config::TlsFiles { cert: cert_file.clone(), key: key_file.clone() });
    })
    .await;
    let sender = TestServer::start_for("export.test", |c| {
        c.dns.resolvers = vec![dns_addr];
        c.dns.dnssec = true;
        c.dns.trust_anchor = Some(anchor_file.clone());
        c.delivery.mx_port = receiver_port;
        c.delivery.retry = vec![Duration::from_secs(1)];
    })
    .await;

    let to = ["alice@buyer.test", "someone@pinned.test"];
    let message = b"From: alice@export.test\r\nSubject: Order under DANE\r\n\r\nHello.\r\n".to_vec();
    let credentials = ("alice@export.test", caravel::testing::USERS[0].1);
    let outcomes = submit(sender.addr(Service::Submission), credentials, "alice@export.test", &to, message).await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Delivered(_))), "{outcomes:?}");

    let start = Instant::now();
    while receiver.inbox("alice@buyer.test").await.is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "not delivered to the DANE-matching host");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(receiver.inbox("alice@buyer.test").await[0].contains("with ESMTPS"));

    let error = sender.wait_for_deferral("someone@pinned.test").await;
    assert!(error.contains("TLSA"), "{error}");
}

fn ring_sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}
