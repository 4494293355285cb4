//! IMAP end to end with Python's imaplib: every command family, two
//! concurrent sessions (IDLE push, flag and expunge propagation), POP3 and
//! IMAP on one mailbox, and the limits.

mod common;

use caravel::testing::TestServer;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/imap_scenarios.py");

async fn scenario(t: &TestServer, name: &str) {
    common::python_scenario(SCENARIOS, name, t, vec![]).await;
}

fn quick(c: &mut caravel_config::Config) {
    c.imap.auth_failure_delay = std::time::Duration::from_millis(100);
    c.imap.max_errors = 5;
}

#[tokio::test(flavor = "multi_thread")]
async fn imaplib_every_command_family() {
    let t = TestServer::start_with(quick).await;
    scenario(&t, "every_family").await;
    let report = caravel_store::Maintenance::check(&*t.store()).await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sessions_see_each_other_and_idle_is_pushed() {
    let t = TestServer::start_with(quick).await;
    scenario(&t, "two_sessions").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pop3_deletion_is_seen_by_imap() {
    let t = TestServer::start_with(quick).await;
    scenario(&t, "pop3_dele_seen_by_imap").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_bad_commands_and_oversized_literals() {
    let t = TestServer::start_with(|c| {
        quick(c);
        c.limits.max_message_size = 1 << 20;
    })
    .await;
    scenario(&t, "limits").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn compress_deflate_carries_commands_literals_and_large_fetches() {
    let t = TestServer::start().await;
    scenario(&t, "compress").await;
}
