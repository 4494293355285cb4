//! The administration API (domains, users, aliases, protocol switches,
//! roles, the doctor and trace) over HTTP as the web console calls it:
//! session cookie plus anti-forgery token, one JSON error shape, each role
//! held to what it may do; and every operation of the OpenAPI document
//! answering as documented.

mod common;

use caravel::testing::TestServer;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/api_scenarios.py");

async fn scenario(t: &TestServer, name: &str) {
    common::python_scenario(SCENARIOS, name, t, common::admin_env(t)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_manages_everything_with_the_anti_forgery_token() {
    let t = TestServer::start().await;
    scenario(&t, "admin").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_admin_manages_its_own_domain_only() {
    let t = TestServer::start().await;
    scenario(&t, "domain_admin").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_reads_its_own_account_doctor_and_trace() {
    let t = TestServer::start().await;
    scenario(&t, "user").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_answers() {
    let t = TestServer::start().await;
    scenario(&t, "every_endpoint_answers").await;
}

const CONSOLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/console_api_scenarios.py");

async fn console(t: &TestServer, name: &str) {
    common::python_scenario(CONSOLE, name, t, common::admin_env(t)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_keeps_its_own_signatures_auto_replies_rules_and_phone() {
    let t = TestServer::start().await;
    console(&t, "own_settings").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn filter_rules_by_scope_and_the_quarantine_released_per_recipient() {
    let t = TestServer::start().await;
    console(&t, "filter_rules_and_quarantine").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn antivirus_holidays_app_passwords_mail_log_and_dns_check() {
    let t = TestServer::start().await;
    console(&t, "administration").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_classified_and_learnt_through_the_api() {
    let t = TestServer::start().await;
    console(&t, "spam_filter").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_role_is_held_to_its_own_mail_settings_and_log() {
    let t = TestServer::start().await;
    console(&t, "boundaries").await;
}
