//! MX routing through a real DNS server on loopback: dnsmasq answers for a
//! few made-up domains (`--local=/#/`: nothing else, nothing from outside).

use std::net::SocketAddr;
use std::time::Duration;

use caravel_delivery::resolve::route;
use caravel_delivery::route::Route;
use caravel_dns::test_server::{Dnsmasq, ReservedPort};
use caravel_dns::Resolver;

/// dnsmasq on 127.0.0.1:PORT with these records only.
fn dnsmasq() -> (Dnsmasq, SocketAddr) {
    let port = ReservedPort::new();
    let addr = port.addr();
    let records = [
        "--mx-host=buyer.test,mx2.buyer.test,20",
        "--mx-host=buyer.test,mx1.buyer.test,10",
        "--host-record=mx1.buyer.test,127.0.0.1",
        "--host-record=mx2.buyer.test,127.0.0.2",
        "--host-record=plain.test,127.0.0.3",
    ];
    let records: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    (Dnsmasq::start(port, &records), addr)
}

#[tokio::test]
async fn mx_preference_implicit_mx_and_missing_domains() {
    let (_dns, addr) = dnsmasq();
    let r = Resolver::new(&[addr], Duration::from_secs(5)).expect("resolver");
    assert_eq!(
        route(&r, "buyer.test").await.expect("route"),
        Route::Hosts(vec!["mx1.buyer.test".into(), "mx2.buyer.test".into()])
    );
    assert_eq!(
        r.addresses("mx2.buyer.test").await.expect("a"),
        vec!["127.0.0.2".parse::<std::net::IpAddr>().expect("ip")]
    );
    // No MX, but an address: the domain itself (RFC 5321 §5.1).
    assert_eq!(route(&r, "plain.test").await.expect("route"), Route::Hosts(vec!["plain.test".into()]));
    // Neither: no mail host.
    assert_eq!(route(&r, "nowhere.test").await.expect("route"), Route::NoMailHost);
    assert!(r.addresses("nowhere.test").await.expect("none").is_empty());
}

#[tokio::test]
async fn a_dns_server_that_does_not_answer_is_a_temporary_failure() {
    let silent = ReservedPort::new().addr();
    let r = Resolver::new(&[silent], Duration::from_millis(200)).expect("resolver");
    assert!(route(&r, "buyer.test").await.is_err());
}

#[tokio::test]
async fn servfail_is_a_temporary_failure_not_a_missing_domain() {
    use caravel_dns::mail_auth::hickory_resolver::proto::rr::RecordType;
    let dns = caravel_dns::test_server::TestDns::start();
    dns.servfail("broken.test", RecordType::MX);
    dns.mx("halfbroken.test", 10, "mx.halfbroken.test");
    dns.servfail("mx.halfbroken.test", RecordType::A);
    dns.servfail("mx.halfbroken.test", RecordType::AAAA);
    let r = Resolver::new(&[dns.addr()], Duration::from_millis(500)).expect("resolver");
    assert!(route(&r, "broken.test").await.is_err(), "SERVFAIL must not bounce the mail as 'no such domain'");
    assert!(r.addresses("mx.halfbroken.test").await.is_err());
}
