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
