//! Sign-in security end to end: two-factor enrollment with the CLI and a
//! code computed by the test, app passwords over IMAP, POP3 and SMTP,
//! lockout across protocols and its unlock, and the address ban seen on
//! another listener.

mod common;

use caravel::testing::TestServer;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/security_scenarios.py");

fn quick(c: &mut caravel_config::Config) {
    let short = std::time::Duration::from_millis(50);
    (c.imap.auth_failure_delay, c.pop3.auth_failure_delay, c.smtp.auth_failure_delay) = (short, short, short);
}

async fn scenario(t: &TestServer, name: &str) {
    common::python_scenario(SCENARIOS, name, t, common::admin_env(t)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_factor_then_app_passwords_for_mail_programs() {
    let t = TestServer::start_with(quick).await;
    scenario(&t, "two_factor").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn five_failures_across_protocols_lock_until_unlocked() {
    let t = TestServer::start_with(quick).await;
    scenario(&t, "lockout").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_from_one_address_ban_it_on_every_listener() {
    let t = TestServer::start_with(|c| {
        quick(c);
        c.security.ip_max_failed_logins = 4;
    })
    .await;
    scenario(&t, "ip_ban").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn protocols_turned_off_per_account_and_per_domain() {
    let t = TestServer::start().await;
    scenario(&t, "protocol_switches").await;
}
