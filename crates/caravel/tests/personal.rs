//! Signatures, auto-replies and mail rules end to end: set with the CLI,
//! mail sent by smtplib and our own client, read back over IMAP and from
//! the store (clients/personal_scenarios.py does the user's side).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use caravel::testing::{TestServer, USERS};
use caravel_net::Service;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/personal_scenarios.py");

async fn scenario(name: &str) {
    let t = TestServer::start().await;
    common::python_scenario(SCRIPT, name, &t, common::admin_env(&t)).await;
}

/// A message submitted by smtplib gets the new-message template in its
/// text and HTML parts, a reply the reply template, the domain's footer
/// follows, and a client's own signature is not doubled.
#[tokio::test(flavor = "multi_thread")]
async fn signatures_by_scenario_in_both_parts() {
    scenario("signatures").await;
}

/// One reply for two messages from one sender; none for bulk, list,
/// auto-submitted mail or a Bcc.
#[tokio::test(flavor = "multi_thread")]
async fn vacation_reply_once_and_never_to_bulk_list_or_automatic_mail() {
    scenario("autoreply").await;
}

/// A buyer's quotation is filed in 客户/报价, flagged and a copy forwarded;
/// a newsletter filed read with stop; a refusing rule answers 550.
#[tokio::test(flavor = "multi_thread")]
async fn rules_file_forward_mark_and_refuse() {
    scenario("rules").await;
}

/// A shared sales@ (an alias of two accounts) acknowledges a new inquiry
/// once, from sales@, and not a reply in the thread.
#[tokio::test(flavor = "multi_thread")]
async fn a_shared_address_acknowledges_each_new_inquiry_once() {
    scenario("shared").await;
}

fn caravel(t: &TestServer, args: &[&str]) -> String {
    let env = common::admin_env(t);
    let config = &env.iter().find(|(k, _)| k == "CARAVEL_CONFIG").expect("config").1;
    let out = Command::new(common::BIN).arg("--config").arg(config).args(args).output().expect("caravel");
    assert!(out.status.success(), "caravel {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn send(t: &TestServer, subject: &str) {
    let (alice, password) = USERS[0];
    let bob = USERS[1].0;
    let message = format!("From: {alice}\r\nTo: {bob}\r\nSubject: {subject}\r\n\r\nPlease quote.\r\n");
    let outcomes =
        caravel::testing::submit(t.addr(Service::Submission), (alice, password), alice, &[bob], message.into_bytes())
            .await;
    assert!(outcomes.iter().all(|o| matches!(o, caravel_delivery::client::Outcome::Delivered(_))), "{outcomes:?}");
}

async fn wait_for(t: &TestServer, who: &str, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let got = t.inbox(who).await;
        if got.len() >= n || start.elapsed() > Duration::from_secs(15) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The after-hours template answers only outside the working hours of the
/// user's zone, and says when the office opens (the clock is the test's).
#[tokio::test(flavor = "multi_thread")]
async fn after_hours_reply_only_outside_working_hours() {
    let t = TestServer::start().await;
    let (alice, bob) = (USERS[0].0, USERS[1].0);
    let body = t.dir.path().join("after-hours.txt");
    std::fs::write(&body, "Our office is closed. We answer from {opens}.\nYour time: {opens_sender}").expect("body");
    caravel(&t, &["user", "set", bob, "--zone", "Asia/Shanghai"]);
    let body = body.display().to_string();
    caravel(&t, &["autoreply", "set", bob, "--subject", "Closed", "--body-file", &body, "--scenario", "after-hours"]);
    // Monday 1 March 2027, 10:00 in Shanghai: open, no reply.
    t.server.clock.set(1_803_866_400);
    send(&t, "during the day").await;
    wait_for(&t, bob, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(t.inbox(alice).await.is_empty(), "no reply in working hours");
    // 20:00 in Shanghai: closed; opens Tuesday 09:00.
    t.server.clock.set(1_803_902_400);
    send(&t, "in the evening").await;
    let replies = wait_for(&t, alice, 1).await;
    assert_eq!(replies.len(), 1, "one reply after hours");
    let r = &replies[0];
    assert!(r.contains("Auto-Submitted: auto-replied"), "{r}");
    assert!(r.contains("Subject: Closed: in the evening"), "{r}");
    let body = r.split_once("\r\n\r\n").expect("body").1;
    let text = String::from_utf8(caravel_store::mime::decode_quoted_printable(body.as_bytes())).expect("utf-8");
    assert!(text.contains("We answer from Tuesday 2 March 2027, 09:00 (UTC+08:00)."), "{text}");
    // The reply has no envelope sender (RFC 3834 §3.3).
    assert!(r.starts_with("Return-Path: <>"), "{r}");
}
