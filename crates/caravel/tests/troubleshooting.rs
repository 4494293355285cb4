//! The troubleshooter (`caravel doctor ADDRESS`, `caravel trace`) against
//! real failures made with real clients: a locked account, an old phone
//! with the old password, a protocol turned off, a full mailbox, a message
//! refused for its size, a spam verdict, and an address the buyer's server
//! does not have. Each explanation is checked in plain words.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use caravel::testing::TestServer;
use caravel_net::Service;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/troubleshoot_scenarios.py");

async fn scenario(t: &TestServer, name: &str) {
    common::python_scenario(SCENARIOS, name, t, common::admin_env(t)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_account_says_until_when_and_why() {
    let t = TestServer::start().await;
    scenario(&t, "locked_account").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_phone_with_the_old_password() {
    let t = TestServer::start().await;
    scenario(&t, "old_phone").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protocol_turned_off() {
    let t = TestServer::start().await;
    scenario(&t, "protocol_off").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_mailbox() {
    let t = TestServer::start().await;
    scenario(&t, "full_quota").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_refused_for_its_size() {
    let t = TestServer::start_with(|c| c.limits.max_message_size = 20_000).await;
    scenario(&t, "too_large").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spam_verdict_and_its_reasons() {
    let t = TestServer::start().await;
    scenario(&t, "spam_verdict").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_the_buyers_server_does_not_have() {
    let partner = TestServer::start_for("partner.test", |_| {}).await;
    let partner_port = partner.addr(Service::Smtp).port();
    let t = TestServer::start_with(|c| c.delivery.mx_port = partner_port).await;
    let dns = t.dns.as_ref().expect("the test server's DNS");
    dns.mx("partner.test", 10, "mail.partner.test");
    dns.address("mail.partner.test", IpAddr::V4(Ipv4Addr::LOCALHOST));
    scenario(&t, "unknown_remote_user").await;
}

/// `caravel doctor` without an address: the server's checks, against what
/// the test DNS server publishes for one domain set up right and one not.
#[tokio::test(flavor = "multi_thread")]
async fn server_checks_read_dns_listeners_and_the_certificate() {
    let t = TestServer::start().await;
    let admin = caravel_admin::Admin::new(t.store());
    admin.domain_add("broken.test").await.expect("domain");
    let key = admin.dkim_generate("example.test", caravel_admin::dkim::Algorithm::Ed25519).await.expect("key");
    admin.dkim_generate("broken.test", caravel_admin::dkim::Algorithm::Ed25519).await.expect("key");
    let dns = t.dns.as_ref().expect("dns");
    // The public address DNS gives (a documentation address: the checks
    // only look it up; loopback names are answered by the resolver itself).
    dns.address("mail.example.test", IpAddr::V4(Ipv4Addr::new(192, 0, 2, 25)));
    dns.ptr("25.2.0.192.in-addr.arpa", "mail.example.test");
    dns.mx("example.test", 10, "mail.example.test");
    dns.txt("example.test", "v=spf1 mx -all");
    dns.txt("_dmarc.example.test", "v=DMARC1; p=quarantine");
    dns.txt("_mta-sts.example.test", "v=STSv1; id=20261206");
    dns.txt(&format!("{}._domainkey.example.test", key.selector), &caravel_admin::dkim::dkim_txt(&key));
    // broken.test: its MX elsewhere, an SPF record without this server.
    dns.mx("broken.test", 10, "mx.elsewhere.test");
    dns.txt("broken.test", "v=spf1 ip4:192.0.2.1 -all");

    let listen: Vec<String> = t.server.addrs.iter().map(|(s, a)| format!("{} = [\"{a}\"]", s.key())).collect();
    let run = |extra_listen: &str| {
        let key = extra_listen.split(' ').next().unwrap_or("");
        let listen: Vec<&String> = listen.iter().filter(|l| key.is_empty() || !l.starts_with(key)).collect();
        let config = t.dir.path().join("doctor.toml");
        std::fs::write(
            &config,
            format!(
                "hostname = \"mail.example.test\"\ndata_dir = {:?}\ndns.resolvers = [\"{}\"]\n[listen]\n{}\n{extra_listen}",
                t.config.data_dir,
                dns.addr(),
                listen.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("\n")
            ),
        )
        .expect("config");
        let out = std::process::Command::new(common::BIN)
            .args(["--config", config.to_str().expect("path"), "doctor", "--json"])
            .output()
            .expect("doctor");
        let checks: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
        (checks, out.status.code())
    };
    let (checks, code) = run("");
    assert_eq!(code, Some(1), "broken.test fails");
    let find = |name: &str, about: &str| -> serde_json::Value {
        checks
            .iter()
            .find(|c| c["name"] == name && c["verdict"].as_str().unwrap_or("").contains(about))
            .unwrap_or_else(|| panic!("no {name} check about {about}: {checks:#?}"))
            .clone()
    };
    assert_eq!(find("listeners", "accept connections")["status"], "ok");
    assert_eq!(find("host name", "mail.example.test resolves to 192.0.2.25")["status"], "ok");
    assert_eq!(find("reverse dns", "192.0.2.25 points back to mail.example.test")["status"], "ok");
    assert_eq!(find("mx", "example.test: MX points to mail.example.test")["status"], "ok");
    assert_eq!(find("spf", "example.test: \"v=spf1 mx -all\" allows this server")["status"], "ok");
    assert_eq!(
        find("dkim", &format!("{}._domainkey.example.test: the published key matches", key.selector))["status"],
        "ok"
    );
    assert_eq!(find("dmarc", "example.test: v=DMARC1")["status"], "ok");
    assert_eq!(find("mta-sts", "example.test: MTA-STS record published")["status"], "ok");
    let mx = find("mx", "broken.test: MX points to mx.elsewhere.test");
    assert_eq!(mx["status"], "fail");
    assert_eq!(mx["fix"], "publish what caravel dns broken.test prints");
    let spf = find("spf", "does not allow this server's address 192.0.2.25");
    assert_eq!(spf["status"], "fail", "{spf}");
    assert_eq!(find("dkim", "._domainkey.broken.test is not published")["status"], "fail");
    assert_eq!(find("dmarc", "broken.test publishes no DMARC policy")["status"], "warn");
    assert_eq!(find("mta-sts", "broken.test publishes no MTA-STS record")["status"], "warn");
    // The test certificate is the self-signed one made at first start.
    assert_eq!(find("certificate", "default")["status"], "warn");
    assert_eq!(find("queue", "the outbound queue is empty")["status"], "ok");
    assert_eq!(find("clock", "UTC")["status"], "ok");
    assert!(checks.iter().any(|c| c["name"] == "disk"), "{checks:#?}");

    // A listener that is not there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let (checks, _) = run(&format!("pop3s = [\"{dead}\"]"));
    let listeners = checks.iter().find(|c| c["name"] == "listeners").expect("listeners");
    assert_eq!(listeners["status"], "fail");
    assert!(listeners["verdict"].as_str().unwrap_or("").contains(&format!("pop3s on {dead}")), "{listeners}");
}
