//! Several Caravel nodes on one PostgreSQL store (the tests start a real
//! PostgreSQL server, caravel_testkit::postgres): what one node does, the
//! others see, with real clients.

mod common;

use caravel::testing::TestServer;
use caravel_admin::{Admin, UserRequest};
use caravel_config::StoreConfig;
use caravel_net::Service;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/cluster_scenarios.py");

/// Node A (which creates the domain and users) and node B, on one new database.
async fn two_nodes() -> (TestServer, TestServer) {
    let url = caravel_testkit::postgres::fresh_database();
    let store = StoreConfig::Postgres { url };
    let quick = |store: StoreConfig| {
        move |c: &mut caravel_config::Config| {
            c.store = store;
            c.imap.auth_failure_delay = std::time::Duration::from_millis(50);
            c.pop3.auth_failure_delay = std::time::Duration::from_millis(50);
            c.security.ip_max_failed_logins = 6;
        }
    };
    let a = TestServer::start_with(quick(store.clone())).await;
    let b = TestServer::join(caravel::testing::DOMAIN, quick(store)).await;
    (a, b)
}

fn node_a_ports(a: &TestServer) -> Vec<(String, String)> {
    vec![
        ("A_SMTP_PORT".into(), a.addr(Service::Smtp).port().to_string()),
        ("A_IMAPS_PORT".into(), a.addr(Service::Imaps).port().to_string()),
        ("A_POP3S_PORT".into(), a.addr(Service::Pop3s).port().to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_taken_by_one_node_is_pushed_and_fetched_on_the_other() {
    let (a, b) = two_nodes().await;
    common::python_scenario(SCENARIOS, "mail_taken_by_a_is_pushed_and_fetched_on_b", &b, node_a_ports(&a)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_created_on_one_node_signs_in_on_the_other() {
    let (a, b) = two_nodes().await;
    let password = "Shipping-Lane-2026";
    Admin::new(a.store())
        .user_add(UserRequest {
            address: "carol@example.test".into(),
            password: Some(password.into()),
            ..Default::default()
        })
        .await
        .expect("carol on node A");
    common::python_scenario_args(
        SCENARIOS,
        "user_made_on_a_signs_in_on_b",
        &["carol@example.test", password],
        &b,
        vec![],
    )
    .await;
}

/// Both nodes queue mail for another server and both delivery workers
/// drain the one shared queue: each message arrives exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_queue_drained_by_two_nodes_delivers_each_message_once() {
    const EACH: usize = 15;
    let receiver = TestServer::start_for("buyer.test", |_| {}).await;
    let dns = std::sync::Arc::new(caravel_dns::test_server::TestDns::start());
    dns.mx("buyer.test", 10, "mx.buyer.test");
    dns.address("mx.buyer.test", "127.0.0.1".parse().expect("ip"));
    let mx_port = receiver.addr(Service::Smtp).port();
    let store = StoreConfig::Postgres { url: caravel_testkit::postgres::fresh_database() };
    let node = |name: &'static str, store: StoreConfig, dns: std::net::SocketAddr| {
        move |c: &mut caravel_config::Config| {
            c.store = store;
            c.hostname = format!("{name}.example.test");
            c.dns.resolvers = vec![dns];
            c.delivery.mx_port = mx_port;
        }
    };
    let a = TestServer::start_with(node("node-a", store.clone(), dns.addr())).await;
    let b = TestServer::join(caravel::testing::DOMAIN, node("node-b", store, dns.addr())).await;
    for i in 0..EACH {
        let (on_a, on_b) = (format!("Order A{i}"), format!("Order B{i}"));
        tokio::join!(
            a.submit_as("alice@example.test", &["alice@buyer.test"], &on_a),
            b.submit_as("bob@example.test", &["alice@buyer.test"], &on_b),
        );
    }
    // Everything arrives, then nothing more (a second copy would come late).
    let started = std::time::Instant::now();
    while receiver.inbox("alice@buyer.test").await.len() < 2 * EACH {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "not all delivered: {:?}",
            a.store().queued().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let got = receiver.inbox("alice@buyer.test").await;
    assert_eq!(got.len(), 2 * EACH, "each message exactly once");
    let mut subjects: Vec<String> =
        got.iter().filter_map(|m| m.lines().find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 2 * EACH, "no message twice, none missing");
    let by = |node: &str| got.iter().filter(|m| m.contains(&format!("from {node}.example.test"))).count();
    let (from_a, from_b) = (by("node-a"), by("node-b"));
    assert_eq!(from_a + from_b, 2 * EACH, "every message came from one of the nodes");
    assert!(from_a > 0 && from_b > 0, "both nodes delivered: A {from_a}, B {from_b}");
    assert!(a.store().queued().await.expect("queue").is_empty(), "the shared queue is empty");
}

#[tokio::test(flavor = "multi_thread")]
async fn pop3_allows_one_session_per_maildrop_across_nodes() {
    let (a, b) = two_nodes().await;
    common::python_scenario(SCENARIOS, "pop3_one_session_per_maildrop_across_nodes", &b, node_a_ports(&a)).await;
}

/// Failed sign-ins from one address add up over both nodes; the ban they
/// cause holds on both.
#[tokio::test(flavor = "multi_thread")]
async fn failures_on_both_nodes_ban_the_address_on_both() {
    let (a, b) = two_nodes().await;
    let failures = a.config.security.ip_max_failed_logins.to_string();
    common::python_scenario_args(
        SCENARIOS,
        "failures_on_both_nodes_ban_the_address_on_both",
        &[&failures],
        &b,
        node_a_ports(&a),
    )
    .await;
}
