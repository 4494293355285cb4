//! `/metrics` scraped and parsed as Prometheus does (the Prometheus client
//! library's text and OpenMetrics parsers), its counters moved by real
//! traffic; and refused to addresses not in `[metrics] allow`.

mod common;

use caravel::testing::TestServer;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/metrics_scenarios.py");

#[tokio::test(flavor = "multi_thread")]
async fn counters_follow_the_traffic() {
    let t = TestServer::start().await;
    common::python_scenario(SCENARIOS, "counts_what_happened", &t, Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn served_only_to_allowed_addresses() {
    let t = TestServer::start_with(|c| {
        c.metrics.allow = vec![caravel_config::Network::parse("192.0.2.10").expect("network")];
    })
    .await;
    common::python_scenario(SCENARIOS, "refused_to_others", &t, Vec::new()).await;
}
