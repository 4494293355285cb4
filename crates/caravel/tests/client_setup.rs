//! Mail programs set themselves up from the address alone: Thunderbird's
//! autoconfig (both URLs), Outlook's autodiscover, an Apple profile read by
//! plistlib, each announced server signed in to; and the MTA-STS policy
//! that `caravel dns` asks admins to point at this server.

mod common;

use caravel::testing::TestServer;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/autoconfig_scenarios.py");

async fn scenario(t: &TestServer, name: &str, args: &[&str]) {
    common::python_scenario_args(SCENARIOS, name, args, t, Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn thunderbird_finds_and_uses_the_servers() {
    let t = TestServer::start().await;
    scenario(&t, "thunderbird", &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn outlook_autodiscover_answers_a_pox_request() {
    let t = TestServer::start().await;
    scenario(&t, "outlook", &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apple_profile_parses_as_a_plist() {
    let t = TestServer::start().await;
    scenario(&t, "apple", &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mta_sts_policy_for_hosted_domains() {
    let t = TestServer::start().await;
    scenario(&t, "mta_sts", &["testing"]).await;
    let t = TestServer::start_with(|c| c.mta_sts.mode = caravel_config::StsMode::Enforce).await;
    scenario(&t, "mta_sts", &["enforce"]).await;
}
