//! The web sign-in API end to end over HTTP: password then TOTP, recovery
//! or an emailed code (read from the recovery mailbox over IMAP), replays
//! refused, enrollment with a PNG QR code, app passwords, sign-out and
//! revocation by a password change; the Secure cookie over HTTPS.

mod common;

use caravel::testing::TestServer;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/web_scenarios.py");

async fn scenario(t: &TestServer, name: &str) {
    common::python_scenario(SCENARIOS, name, t, common::admin_env(t)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_with_each_second_factor() {
    let t = TestServer::start().await;
    scenario(&t, "web_sign_in").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cookies_are_secure_over_https() {
    let t = TestServer::start().await;
    scenario(&t, "https_cookie_is_secure").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forgotten_password_is_reset_through_the_recovery_address() {
    let t = TestServer::start().await;
    scenario(&t, "password_reset").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_by_text_message_through_the_webhook() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let t = TestServer::start_with(|c| {
        c.sms.webhook_url = Some(format!("http://127.0.0.1:{port}/send"));
        c.sms.token = Some("hook-secret".into());
    })
    .await;
    let mut env = common::admin_env(&t);
    env.push(("SMS_PORT".into(), port.to_string()));
    // `caravel sms test` reads [sms] from the admin's configuration too.
    let config = t.dir.path().join("admin.toml");
    let text = std::fs::read_to_string(&config).expect("config")
        + &format!("[sms]\nwebhook_url = \"http://127.0.0.1:{port}/send\"\ntoken = \"hook-secret\"\n");
    std::fs::write(&config, text).expect("config");
    common::python_scenario(SCENARIOS, "sms_sign_in", &t, env).await;
}
