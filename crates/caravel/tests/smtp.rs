//! SMTP end to end: real clients (Python's smtplib and raw sockets, swaks,
//! msmtp) against a whole server on loopback; the store is checked after.

mod common;

use std::process::Command;

use caravel::testing::TestServer;
use caravel_config::Config;
use caravel_net::Service;
use caravel_store::{Address, MessageMeta, Store};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/smtp_scenarios.py");

/// Runs a scenario of `smtp_scenarios.py`; returns its standard output.
async fn scenario(t: &TestServer, name: &str) -> Vec<u8> {
    scenario_with(t, name, vec![]).await
}

async fn scenario_with(t: &TestServer, name: &str, extra: Vec<(&'static str, String)>) -> Vec<u8> {
    let extra = extra.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    common::python_scenario(SCENARIOS, name, t, extra).await
}

async fn inbox(store: &dyn Store, address: &str) -> Vec<(MessageMeta, Vec<u8>)> {
    let user = store.get_user(&Address::parse(address).expect("address")).await.expect("get").expect("user");
    let inbox =
        store.mailboxes(user.id).await.expect("mailboxes").into_iter().find(|m| m.name == "INBOX").expect("INBOX");
    let mut out = Vec::new();
    for m in store.messages(inbox.id).await.expect("messages") {
        let raw = store.read_message(&m).await.expect("read");
        out.push((m, raw));
    }
    out
}

async fn check_clean(store: &dyn Store) {
    let report = store.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread")]
async fn smtplib_delivers_byte_exact() {
    let t = TestServer::start().await;
    let sent = scenario(&t, "deliver_exact").await;
    let store = t.store();
    let msgs = inbox(&*store, "alice@example.test").await;
    assert_eq!(msgs.len(), 1);
    let raw = &msgs[0].1;
    assert!(raw.starts_with(b"Return-Path: <li@remote.test>\r\nDelivered-To: alice@example.test\r\nX-Spam-Status: No, score=0.0 required=5.0 tests=none\r\n\tverdict=accept\r\nX-Spam-Score: 0.0\r\nX-Virus-Scanned: Caravel\r\nAuthentication-Results: mail.example.test;\r\n\tdkim=none;\r\n\tspf=none "), "{}", String::from_utf8_lossy(raw));
    let text = String::from_utf8_lossy(raw);
    assert!(
        text.contains(
            "dmarc=none header.from=remote.test\r\nReceived: from client.remote.test ([127.0.0.1])\r\n\tby mail.example.test (Caravel) with ESMTP\r\n"
        ),
        "{text}"
    );
    assert!(raw.ends_with(&sent), "the message after the trace headers is byte-exact");
    assert!(text.contains("\tfor <alice@example.test>; "), "{text}");
    assert_eq!(msgs[0].0.size, raw.len() as u64, "RFC822.SIZE counts what a client reads");
    check_clean(&*store).await;
    let events = store
        .events(caravel_store::EventQuery { recipient: Some("alice@example.test".into()), ..Default::default() })
        .await
        .expect("events");
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![caravel_store::EventKind::Received, caravel_store::EventKind::Delivered]);
    assert_eq!(events[0].message_id.as_deref(), Some("<exact-1@remote.test>"));
}

#[tokio::test(flavor = "multi_thread")]
async fn submission_needs_tls_then_auth_and_refuses_relay_and_spoofing() {
    let t = TestServer::start().await;
    scenario(&t, "submission_rules").await;
    let store = t.store();
    let bob = inbox(&*store, "bob@example.test").await;
    assert_eq!(bob.len(), 1, "the local copy of alice's message");
    let text = String::from_utf8_lossy(&bob[0].1);
    assert!(text.contains("with ESMTPSA (TLSv1_3"), "authenticated over TLS: {text}");
    // Queued for the remote partner; far.test has no mail server in this
    // test's DNS, so the queue worker bounces it back to alice.
    let queued = store
        .events(caravel_store::EventQuery { recipient: Some("partner@far.test".into()), ..Default::default() })
        .await
        .expect("events");
    assert!(
        queued
            .iter()
            .any(|e| e.kind == caravel_store::EventKind::Queued && e.sender.as_deref() == Some("alice@example.test")),
        "{queued:?}"
    );
    let start = std::time::Instant::now();
    while inbox(&*store, "alice@example.test").await.is_empty() {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "no report for alice");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let report = String::from_utf8_lossy(&inbox(&*store, "alice@example.test").await[0].1).into_owned();
    assert!(report.contains("partner@far.test") && report.contains("5.1.2"), "{report}");
    assert!(store.queued().await.expect("queue").is_empty());
    check_clean(&*store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn implicit_tls_on_465() {
    let t = TestServer::start().await;
    scenario(&t, "implicit_tls").await;
    assert_eq!(inbox(&*t.store(), "alice@example.test").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_users_are_refused_and_aliases_and_subaddresses_deliver() {
    let t = TestServer::start().await;
    let store = t.store();
    store
        .add_alias(
            &Address::parse("sales@example.test").expect("a"),
            &["alice@example.test".into(), "bob@example.test".into()],
        )
        .await
        .expect("alias");
    scenario(&t, "unknown_and_alias").await;
    // sales@ reaches alice and bob; alice+orders@ reaches alice once more, as one copy.
    assert_eq!(inbox(&*store, "alice@example.test").await.len(), 1, "one copy even when two recipients lead to alice");
    assert_eq!(inbox(&*store, "bob@example.test").await.len(), 1);
    check_clean(&*store).await;
}

fn small_limits(c: &mut Config) {
    c.limits.max_message_size = 65536;
    c.smtp.max_recipients = 3;
    c.smtp.max_errors = 5;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_messages_are_refused_and_nothing_is_stored() {
    let t = TestServer::start_with(small_limits).await;
    scenario(&t, "oversize").await;
    let store = t.store();
    assert!(inbox(&*store, "alice@example.test").await.is_empty());
    assert_eq!(store.check().await.expect("check").blobs, 0, "no blob written for a refused message");
}

#[tokio::test(flavor = "multi_thread")]
async fn smuggled_end_of_data_sequences_never_yield_a_second_message() {
    let t = TestServer::start().await;
    scenario(&t, "smuggling").await;
    assert!(inbox(&*t.store(), "alice@example.test").await.is_empty(), "every smuggling attempt refused whole");
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_pipelined_before_starttls_are_discarded() {
    let t = TestServer::start().await;
    scenario(&t, "starttls_injection").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bdat_chunks_make_one_message() {
    let t = TestServer::start().await;
    scenario(&t, "chunking").await;
    let msgs = inbox(&*t.store(), "alice@example.test").await;
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].1.ends_with(b"\r\n\r\nfirst part, second part\r\n.this line starts with a dot\r\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn line_recipient_error_and_http_limits() {
    let t = TestServer::start_with(small_limits).await;
    scenario(&t, "limits").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_client_is_dropped_at_its_timeout() {
    let t = TestServer::start_with(|c| c.smtp.command_timeout = std::time::Duration::from_secs(1)).await;
    scenario(&t, "idle_timeout").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_connections_held_open_and_still_responsive() {
    let t = TestServer::start_with(|c| c.limits.max_connections_per_ip = 2000).await;
    scenario(&t, "many_connections").await;
}

/// swaks, a real SMTP client from Debian, through port 25 and through 587
/// with STARTTLS and AUTH.
#[tokio::test(flavor = "multi_thread")]
async fn swaks_delivers() {
    let t = TestServer::start().await;
    let (smtp, sub) = (t.addr(Service::Smtp).port(), t.addr(Service::Submission).port());
    let out = tokio::task::spawn_blocking(move || {
        let a = Command::new("swaks")
            .args(["--server", "127.0.0.1", "--port", &smtp.to_string(), "--from", "partner@remote.test"])
            .args(["--to", "alice@example.test", "--header", "Subject: from swaks", "--body", "hello from swaks"])
            .output()
            .expect("swaks is installed (scripts/test-packages.txt)");
        let b = Command::new("swaks")
            .args(["--server", "127.0.0.1", "--port", &sub.to_string(), "--tls", "--auth", "PLAIN"])
            .args(["--auth-user", "alice@example.test", "--auth-password", "Wonderland-Key-2026"])
            .args(["--from", "alice@example.test", "--to", "bob@example.test", "--header", "Subject: swaks 587"])
            .output()
            .expect("swaks");
        (a, b)
    })
    .await
    .expect("swaks");
    assert!(out.0.status.success(), "{}", String::from_utf8_lossy(&out.0.stdout));
    assert!(out.1.status.success(), "{}", String::from_utf8_lossy(&out.1.stdout));
    let store = t.store();
    let alice = inbox(&*store, "alice@example.test").await;
    assert!(String::from_utf8_lossy(&alice[0].1).contains("hello from swaks"));
    assert_eq!(inbox(&*store, "bob@example.test").await.len(), 1);
}

/// msmtp, a real mail client, sending through 587 with STARTTLS.
#[tokio::test(flavor = "multi_thread")]
async fn msmtp_sends_through_submission() {
    let t = TestServer::start().await;
    let port = t.addr(Service::Submission).port();
    let rc = t.dir.path().join("msmtprc");
    std::fs::write(
        &rc,
        format!(
            "account default\nhost 127.0.0.1\nport {port}\ntls on\ntls_starttls on\ntls_certcheck off\nauth plain\nuser alice@example.test\npassword Wonderland-Key-2026\nfrom alice@example.test\n"
        ),
    )
    .expect("msmtprc");
    std::fs::set_permissions(&rc, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new("msmtp")
            .arg("--file")
            .arg(&rc)
            .arg("bob@example.test")
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("msmtp is installed (scripts/test-packages.txt)");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"From: alice@example.test\r\nTo: bob@example.test\r\nSubject: via msmtp\r\n\r\nhi\r\n")
            .expect("write");
        child.wait_with_output().expect("msmtp")
    })
    .await
    .expect("msmtp");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bob = inbox(&*t.store(), "bob@example.test").await;
    assert!(String::from_utf8_lossy(&bob[0].1).contains("Subject: via msmtp"));
}

async fn over_quota_reply(permanent: bool) -> String {
    let t = TestServer::start_with(|c| c.smtp.over_quota_permanent = permanent).await;
    let store = t.store();
    let bob = Address::parse("bob@example.test").expect("bob");
    let update = caravel_store::UserUpdate { quota: Some(Some(100)), ..Default::default() };
    store.update_user(&bob, update).await.expect("quota");
    let want = if permanent { "552 5.2.2" } else { "452 4.2.2" };
    scenario_with(&t, "over_quota", vec![("WANT", want.to_string())]).await;
    want.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn over_quota_recipients_get_452_or_552_as_configured() {
    assert_eq!(over_quota_reply(false).await, "452 4.2.2");
    assert_eq!(over_quota_reply(true).await, "552 5.2.2");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_data_transfer_is_dropped_at_its_timeout() {
    let t = TestServer::start_with(|c| c.smtp.data_timeout = std::time::Duration::from_secs(1)).await;
    scenario(&t, "data_timeout").await;
    assert!(inbox(&*t.store(), "alice@example.test").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sign_in_is_answered_after_the_delay() {
    let t = TestServer::start_with(|c| c.smtp.auth_failure_delay = std::time::Duration::from_secs(1)).await;
    scenario(&t, "auth_delay").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_catch_all_alias_takes_unknown_addresses_of_its_domain() {
    let t = TestServer::start().await;
    let store = t.store();
    let all = Address::catch_all("example.test").expect("catch-all");
    store.add_alias(&all, &["alice@example.test".into()]).await.expect("alias");
    scenario(&t, "catch_all").await;
    assert_eq!(inbox(&*store, "alice@example.test").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn size_limits_per_user_and_the_hourly_send_limit() {
    let t = TestServer::start_with(|c| {
        c.limits.user_message_size = vec![("alice@example.test".into(), 8 << 10)];
        c.smtp.max_recipients_per_hour = 3;
    })
    .await;
    scenario(&t, "size_and_send_limits").await;
}
