//! The web console in a real browser: Debian's headless Chromium driven by
//! chromedriver over WebDriver (tests/clients/webdriver.py), against a
//! running server. Each test is something a person does with the pages,
//! checked by what the mail protocols see afterwards. Screenshots of the
//! pages are kept in target/screenshots/ (the CI run keeps them as
//! artifacts).

mod common;

use caravel::testing::TestServer;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/browser_scenarios.py");

async fn scenario(t: &TestServer, name: &str) {
    let env = common::browser_env(t);
    common::python_scenario(SCENARIOS, name, t, env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_with_totp_and_every_page_in_both_languages_and_on_a_phone() {
    let t = TestServer::start().await;
    scenario(&t, "sign_in_with_totp_and_tour_the_pages").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_factor_enrolled_from_the_qr_code_on_the_page() {
    let t = TestServer::start().await;
    scenario(&t, "enroll_two_factor_from_the_qr_page").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_administrator_creates_a_user_and_turns_pop3_off() {
    let t = TestServer::start().await;
    scenario(&t, "admin_creates_a_user").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_auto_reply_set_on_the_page_answers_mail() {
    let t = TestServer::start().await;
    scenario(&t, "user_sets_an_auto_reply").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quarantined_message_released_from_the_page_arrives() {
    let t = TestServer::start().await;
    scenario(&t, "user_releases_a_quarantined_message").await;
}
