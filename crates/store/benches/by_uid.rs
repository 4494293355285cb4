//! Reading a few messages of a large mailbox by UID: the structures and the
//! bytes of the last 50 (what `UID FETCH` of the newest mail asks), and of
//! 50 scattered UIDs, on a mailbox of BENCH_MESSAGES (100,000) 2 KB messages.
//! The time must not grow with the mailbox.
//!
//! `cargo bench -p caravel-store --bench by_uid`

use std::sync::Arc;
use std::time::Instant;

use caravel_store::sqlite::SqliteStore;
use caravel_store::*;

fn message(n: usize) -> Arc<Vec<u8>> {
    let mut m = format!(
        "From: Buyer {n} <buyer{}@remote.test>\r\nTo: sales@bench.test\r\nSubject: quotation {n}\r\n\
         Message-ID: <{n}@remote.test>\r\nDate: Mon, 2 Dec 2024 10:00:00 +0000\r\n\r\n",
        n % 50
    )
    .into_bytes();
    while m.len() < 2048 {
        m.extend_from_slice(format!("Line of the quotation {n}, prices and terms.\r\n").as_bytes());
    }
    Arc::new(m)
}

fn main() {
    let count: usize = std::env::var("BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    rt.block_on(async {
        let store = SqliteStore::open(dir.path()).expect("open");
        store.add_domain("bench.test").await.expect("domain");
        let address = Address::parse("sales@bench.test").expect("address");
        let user = store
            .add_user(NewUser { address, name: None, quota: None, password_hash: "x".into() })
            .await
            .expect("user");
        let started = Instant::now();
        for batch in (0..count).collect::<Vec<_>>().chunks(1000) {
            let deliveries = batch
                .iter()
                .map(|&n| Delivery {
                    sign_as: None,
                    raw: message(n),
                    targets: vec![Target::new(user.id, MailboxTarget::Special(SpecialUse::Inbox))],
                    sender: "bench@remote.test".into(),
                    ..Default::default()
                })
                .collect();
            store.deliver_all(deliveries).await.expect("deliver");
        }
        println!("filled {count} messages in {:.1}s", started.elapsed().as_secs_f64());
        let inbox =
            store.mailboxes(user.id).await.expect("mailboxes").into_iter().find(|m| m.name == "INBOX").expect("inbox");
        let last: Vec<u32> = (count as u32 - 49..=count as u32).collect();
        let scattered: Vec<u32> = (0..50).map(|i| 1 + i * (count as u32 / 50)).collect();
        for (name, uids) in [("last 50", &last), ("50 scattered", &scattered)] {
            let reps = 50;
            let t = Instant::now();
            for _ in 0..reps {
                assert_eq!(store.structures(inbox.id, uids).await.expect("structures").len(), 50);
            }
            let structures = t.elapsed().as_secs_f64() * 1000.0 / reps as f64;
            let t = Instant::now();
            for _ in 0..reps {
                assert_eq!(store.read_messages(inbox.id, uids).await.expect("read").len(), 50);
            }
            let bodies = t.elapsed().as_secs_f64() * 1000.0 / reps as f64;
            println!("{name} of {count}: structures {structures:.2} ms, bodies {bodies:.2} ms");
        }
    });
}
