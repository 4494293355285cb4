//! mutt, a real IMAP client, run under a pseudo-terminal: it reads one
//! message, saves (moves) the next to Archive, deletes the third and syncs.

use std::process::Command;
use std::sync::Arc;

use caravel::testing::TestServer;
use caravel_net::Service;
use caravel_store::{Address, Delivery, Flags, MailboxTarget, SpecialUse, Store, Target};

async fn mailbox(store: &dyn Store, name: &str) -> Vec<(Flags, String)> {
    let user = store.get_user(&Address::parse("alice@example.test").expect("a")).await.expect("get").expect("alice");
    let mb = store.mailboxes(user.id).await.expect("mb").into_iter().find(|m| m.name == name).expect("mailbox");
    let mut out = Vec::new();
    for m in store.messages(mb.id).await.expect("messages") {
        let raw = String::from_utf8_lossy(&store.read_message(&m).await.expect("read")).to_string();
        let subject = raw.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_string();
        out.push((m.flags, subject));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn mutt_reads_moves_and_deletes() {
    let t = TestServer::start().await;
    let store = t.store();
    let user = store.get_user(&Address::parse("alice@example.test").expect("a")).await.expect("get").expect("alice");
    for i in 0..3 {
        let raw = format!(
            "From: b@far.test\r\nTo: alice@example.test\r\nSubject: mutt test {i}\r\nDate: Mon, 2 Nov 2026 10:0{i}:00 +0000\r\nMessage-ID: <m{i}@far.test>\r\n\r\nbody {i}\r\n"
        );
        let d = Delivery {
            sign_as: None,
            raw: Arc::new(raw.into_bytes()),
            internal_date: 1_790_000_000 + i,
            targets: vec![Target::new(user.id, MailboxTarget::Special(SpecialUse::Inbox))],
            sender: "b@far.test".into(),
            ..Default::default()
        };
        store.deliver(d).await.expect("deliver");
    }
    let rc = t.dir.path().join("muttrc");
    std::fs::write(
        &rc,
        format!(
            "set folder=\"imaps://alice@example.test@localhost:{}/\"\nset spoolfile=\"+INBOX\"\nset imap_user=\"alice@example.test\"\nset imap_pass=\"Wonderland-Key-2026\"\nset certificate_file=\"{}\"\nset delete=yes\nset confirmappend=no\nset confirmcreate=no\nset mark_old=no\nset move=no\nset sort=date-sent\nset header_cache=\"\"\nset message_cachedir=\"\"\n",
            t.addr(Service::Imaps).port(),
            t.config.data_dir.join("tls/cert.pem").display()
        ),
    )
    .expect("muttrc");
    let keys =
        "<display-message><exit><next-undeleted><save-message>=Archive<enter><delete-message><sync-mailbox><quit>";
    let cmd = format!("TERM=xterm mutt -n -F {} -e \"push '{keys}'\"", rc.display());
    let out = tokio::task::spawn_blocking(move || {
        // mutt wants a terminal: script(1) gives it one.
        Command::new("timeout")
            .args(["60", "script", "-qc", &cmd, "/dev/null"])
            .output()
            .expect("script and mutt installed")
    })
    .await
    .expect("mutt");
    assert!(out.status.success(), "mutt: {}", String::from_utf8_lossy(&out.stdout));
    let inbox = mailbox(&*store, "INBOX").await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0].1, "mutt test 0");
    assert!(inbox[0].0.contains(Flags::SEEN), "read in mutt");
    let archive = mailbox(&*store, "Archive").await;
    assert_eq!(archive.iter().map(|m| m.1.as_str()).collect::<Vec<_>>(), vec!["mutt test 1"]);
}
