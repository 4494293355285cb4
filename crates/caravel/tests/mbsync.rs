//! A full two-way sync with mbsync (isync), a real IMAP client: 1,000
//! messages down, then changes on both sides, then a re-sync: no duplicates,
//! no loss, flags and deletions carried both ways.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use caravel::testing::TestServer;
use caravel_net::Service;
use caravel_store::{Address, Delivery, FlagMode, Flags, MailboxTarget, SpecialUse, Store, Target};

async fn inbox(store: &dyn Store) -> (i64, Vec<caravel_store::MessageMeta>) {
    let user = store.get_user(&Address::parse("alice@example.test").expect("a")).await.expect("get").expect("alice");
    let mb = store.mailboxes(user.id).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("INBOX");
    (mb.id, store.messages(mb.id).await.expect("messages"))
}

fn maildir_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            files.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()));
        }
    }
    files
}

fn message_ids(files: &[std::path::PathBuf]) -> Vec<String> {
    files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            text.lines().find_map(|l| l.strip_prefix("Message-ID: ").map(str::to_string))
        })
        .collect()
}

async fn mbsync(rc: &Path) {
    let rc = rc.to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("mbsync")
            .arg("-c")
            .arg(&rc)
            .arg("-a")
            .output()
            .expect("mbsync is installed (scripts/test-packages.txt)")
    })
    .await
    .expect("mbsync");
    assert!(
        out.status.success(),
        "mbsync: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mbsync_two_way_sync_of_1000_messages() {
    let t = TestServer::start().await;
    let store = t.store();
    let user = store.get_user(&Address::parse("alice@example.test").expect("a")).await.expect("get").expect("alice");
    for i in 0..1000 {
        let raw = format!("From: buyer{i}@far.test\r\nTo: alice@example.test\r\nSubject: order {i}\r\nMessage-ID: <order-{i}@far.test>\r\n\r\nOrder number {i}.\r\n");
        let d = Delivery {
            sign_as: None,
            raw: Arc::new(raw.into_bytes()),
            internal_date: 1_700_000_000 + i,
            targets: vec![Target::new(user.id, MailboxTarget::Special(SpecialUse::Inbox))],
            sender: "buyer@far.test".into(),
            ..Default::default()
        };
        store.deliver(d).await.expect("deliver");
    }
    let local = t.dir.path().join("Mail");
    std::fs::create_dir_all(&local).expect("maildir");
    let rc = t.dir.path().join("mbsyncrc");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount caravel\nHost localhost\nPort {}\nUser alice@example.test\nPass Wonderland-Key-2026\nSSLType IMAPS\nCertificateFile {}\n\nIMAPStore remote\nAccount caravel\n\nMaildirStore local\nPath {}/\nInbox {}/INBOX\n\nChannel sync\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Both\nExpunge Both\nSyncState *\n",
            t.addr(Service::Imaps).port(),
            t.config.data_dir.join("tls/cert.pem").display(),
            local.display(),
            local.display()
        ),
    )
    .expect("rc");

    mbsync(&rc).await;
    let files = maildir_files(&local.join("INBOX"));
    assert_eq!(files.len(), 1000, "everything downloaded");

    // Server side: 10 read, 5 expunged.
    let (mb, metas) = inbox(&*store).await;
    let seen: Vec<u32> = metas[0..10].iter().map(|m| m.uid).collect();
    store.set_flags(mb, &seen, Flags::SEEN, &[], FlagMode::Add).await.expect("flags");
    let gone: Vec<u32> = metas[10..15].iter().map(|m| m.uid).collect();
    store.expunge(mb, &gone).await.expect("expunge");
    // Local side: 10 flagged (Maildir "F"), 5 deleted, 3 new.
    let mut files = maildir_files(&local.join("INBOX"));
    files.sort();
    let mut renamed = 0;
    let mut deleted_ids = HashSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let id = text.lines().find_map(|l| l.strip_prefix("Message-ID: ")).expect("id").to_string();
        let n: u32 = id.trim_start_matches("<order-").split('@').next().and_then(|s| s.parse().ok()).expect("number");
        if (500..510).contains(&n) {
            let name = f.file_name().expect("name").to_string_lossy().to_string();
            let flagged = match name.split_once(":2,") {
                Some((base, info)) => format!("{base}:2,F{info}"),
                None => format!("{name}:2,F"),
            };
            std::fs::rename(f, local.join("INBOX/cur").join(flagged)).expect("flag");
            renamed += 1;
        } else if (600..605).contains(&n) {
            std::fs::remove_file(f).expect("delete");
            deleted_ids.insert(id);
        }
    }
    assert_eq!((renamed, deleted_ids.len()), (10, 5));
    for i in 0..3 {
        let name = format!("1700000000.local{i}.host");
        std::fs::write(
            local.join("INBOX/new").join(name),
            format!("From: alice@example.test\r\nTo: x@far.test\r\nSubject: local draft {i}\r\nMessage-ID: <local-{i}@example.test>\r\n\r\nwritten offline\r\n"),
        )
        .expect("new local message");
    }

    mbsync(&rc).await;
    mbsync(&rc).await;

    let (_, metas) = inbox(&*store).await;
    let files = maildir_files(&local.join("INBOX"));
    assert_eq!(metas.len(), 1000 - 5 - 5 + 3, "server: no loss, no duplicates");
    assert_eq!(files.len(), metas.len(), "both sides agree");
    let ids = message_ids(&files);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no duplicate on the local side");
    assert!(ids.iter().all(|id| !deleted_ids.contains(id)), "local deletions reached the server and stayed deleted");
    let flagged = metas.iter().filter(|m| m.flags.contains(Flags::FLAGGED)).count();
    assert_eq!(flagged, 10, "local flags reached the server");
    let seen_local = files
        .iter()
        .filter(|f| {
            f.file_name().is_some_and(|n| n.to_string_lossy().split(":2,").nth(1).is_some_and(|i| i.contains('S')))
        })
        .count();
    assert!(seen_local >= 10, "server \\Seen reached the local side ({seen_local})");
    let report = caravel_store::Maintenance::check(&*store).await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
