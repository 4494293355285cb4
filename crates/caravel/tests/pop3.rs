//! POP3 end to end: Python's poplib, fetchmail and getmail6 against a whole
//! server on loopback.

mod common;

use std::process::Command;
use std::sync::Arc;

use caravel::testing::TestServer;
use caravel_net::Service;
use caravel_store::{Address, Delivery, MailboxTarget, SpecialUse, Store, Target};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/pop3_scenarios.py");

async fn deliver(store: &dyn Store, n: usize) {
    let user = store.get_user(&Address::parse("alice@example.test").expect("a")).await.expect("get").expect("alice");
    for i in 0..n {
        let raw = format!(
            "From: partner@far.test\r\nTo: alice@example.test\r\nSubject: order {i}\r\nMessage-ID: <o{i}@far.test>\r\n\r\nLine one\r\n.starts with a dot\r\n..two dots\r\nend\r\n"
        );
        let d = Delivery {
            sign_as: None,
            raw: Arc::new(raw.into_bytes()),
            targets: vec![Target::new(user.id, MailboxTarget::Special(SpecialUse::Inbox))],
            sender: "partner@far.test".into(),
            ..Default::default()
        };
        assert!(store.deliver(d).await.expect("deliver").stored[0].is_ok());
    }
}

async fn inbox_count(store: &dyn Store) -> usize {
    let user = store.get_user(&Address::parse("alice@example.test").expect("a")).await.expect("get").expect("alice");
    let inbox = store.mailboxes(user.id).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("INBOX");
    store.messages(inbox.id).await.expect("messages").len()
}

async fn run(cmd: Command) -> std::process::Output {
    let mut cmd = cmd;
    tokio::task::spawn_blocking(move || cmd.output().expect("client")).await.expect("client")
}

async fn scenario(t: &TestServer, name: &str) -> String {
    String::from_utf8_lossy(&common::python_scenario(SCENARIOS, name, t, vec![]).await).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn poplib_every_command_then_quit_deletes() {
    let t = TestServer::start().await;
    let store = t.store();
    deliver(&*store, 3).await;
    scenario(&t, "every_command").await;
    assert_eq!(inbox_count(&*store).await, 2, "DELE + QUIT removed one message");
    scenario(&t, "sasl_plain_over_995").await;
    let report = caravel_store::Maintenance::check(&*store).await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_connection_after_dele_deletes_nothing() {
    let t = TestServer::start().await;
    let store = t.store();
    deliver(&*store, 4).await;
    let marked = scenario(&t, "drop_after_dele").await;
    assert_eq!(marked.trim(), "4");
    assert_eq!(inbox_count(&*store).await, 4);
}

fn fetchmailrc(t: &TestServer, implicit: bool, keep: bool, out: &std::path::Path) -> std::path::PathBuf {
    let (port, tls) = match implicit {
        true => (t.addr(Service::Pop3s).port(), "ssl"),
        false => (t.addr(Service::Pop3).port(), "sslproto 'TLS1.2+'"),
    };
    let keep = if keep { "keep" } else { "nokeep" };
    let rc = t.dir.path().join(format!("fetchmailrc-{implicit}-{keep}"));
    std::fs::write(
        &rc,
        format!(
            "set no syslog\npoll 127.0.0.1 service {port} protocol pop3 uidl timeout 20:\n  user \"alice@example.test\" there with password \"Wonderland-Key-2026\" is \"root\" here\n  {tls} no sslcertck {keep} fetchall\n  mda \"/bin/sh -c 'cat > {}/msg.$$'\"\n",
            out.display()
        ),
    )
    .expect("rc");
    std::fs::set_permissions(&rc, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    rc
}

async fn fetchmail(t: &TestServer, implicit: bool, keep: bool) -> usize {
    let out = t.dir.path().join(format!("fetched-{implicit}-{keep}"));
    std::fs::create_dir_all(&out).expect("dir");
    let rc = fetchmailrc(t, implicit, keep, &out);
    let mut cmd = Command::new("fetchmail");
    cmd.arg("-f").arg(&rc).arg("--nodetach").env("FETCHMAILHOME", t.dir.path()).env("HOME", t.dir.path());
    let o = run(cmd).await;
    // 0: mail retrieved; 1: no mail.
    assert!(
        matches!(o.status.code(), Some(0) | Some(1)),
        "fetchmail: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let files: Vec<_> = std::fs::read_dir(&out).expect("dir").collect();
    for f in &files {
        let text = std::fs::read_to_string(f.as_ref().expect("entry").path()).expect("read");
        assert!(
            text.contains(".starts with a dot\n..two dots\n") || text.contains(".starts with a dot\r\n..two dots\r\n"),
            "{text}"
        );
    }
    files.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn fetchmail_over_stls_and_995_with_and_without_keep() {
    let t = TestServer::start().await;
    let store = t.store();
    deliver(&*store, 3).await;
    assert_eq!(fetchmail(&t, false, true).await, 3, "STLS, keep: all three fetched");
    assert_eq!(inbox_count(&*store).await, 3, "keep leaves them");
    assert_eq!(fetchmail(&t, true, false).await, 3, "995, no keep: all three fetched");
    assert_eq!(inbox_count(&*store).await, 0, "and deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn getmail6_downloads_into_a_maildir() {
    let t = TestServer::start().await;
    let store = t.store();
    deliver(&*store, 2).await;
    let dir = t.dir.path().join("getmail");
    let maildir = dir.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
        std::fs::set_permissions(maildir.join(sub), std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .expect("chmod");
    }
    // getmail refuses to deliver as root: as root, it delivers as nobody.
    let uid = Command::new("id").arg("-u").output().expect("id").stdout;
    let as_user = if String::from_utf8_lossy(&uid).trim() == "0" { "user = nobody\n" } else { "" };
    std::fs::write(
        dir.join("getmailrc"),
        format!(
            "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = 127.0.0.1\nport = {}\nusername = alice@example.test\npassword = Wonderland-Key-2026\n\n[destination]\ntype = Maildir\npath = {}/\n{as_user}\n[options]\ndelete = true\nread_all = true\n",
            t.addr(Service::Pop3s).port(),
            maildir.display()
        ),
    )
    .expect("rc");
    let mut cmd = Command::new("getmail");
    cmd.arg("--getmaildir").arg(&dir).arg("--rcfile").arg("getmailrc");
    let o = run(cmd).await;
    assert!(
        o.status.success(),
        "getmail: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read_dir(maildir.join("new")).expect("new").count(), 2);
    assert_eq!(inbox_count(&*store).await, 0, "delete = true removed them on the server");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_sign_ins_are_counted_across_pop3_and_smtp() {
    let t = TestServer::start_with(|c| {
        c.pop3.auth_failure_delay = std::time::Duration::ZERO;
        c.smtp.auth_failure_delay = std::time::Duration::ZERO;
    })
    .await;
    let store = t.store();
    let failed = |store: Arc<dyn Store>| async move {
        store
            .get_user(&Address::parse("alice@example.test").expect("a"))
            .await
            .expect("get")
            .expect("alice")
            .failed_logins
    };
    scenario(&t, "fail_once").await;
    assert_eq!(failed(store.clone()).await, 1);
    let smtp = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/smtp_scenarios.py");
    common::python_scenario(smtp, "fail_once", &t, vec![]).await;
    assert_eq!(failed(store.clone()).await, 2, "SMTP and POP3 failures add up");
    scenario(&t, "sign_in_once").await;
    assert_eq!(failed(store.clone()).await, 0, "a success clears the count");
}

#[tokio::test(flavor = "multi_thread")]
async fn pop3_idle_timeout_and_line_limit() {
    let t = TestServer::start_with(|c| c.pop3.idle_timeout = std::time::Duration::from_secs(1)).await;
    scenario(&t, "idle_timeout").await;
    scenario(&t, "long_line").await;
}
