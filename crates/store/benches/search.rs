//! Header search on a 10,000-message mailbox: the first search (which loads
//! the mailbox's header text) and the following ones, plus the memory held.
//!
//! `cargo bench -p caravel-store --bench search` (BENCH_MESSAGES=N)

use std::sync::Arc;
use std::time::Instant;

use caravel_store::sqlite::SqliteStore;
use caravel_store::*;

fn message(n: usize) -> Arc<Vec<u8>> {
    Arc::new(
        format!(
            "From: Buyer {n} <buyer{}@remote.test>\r\nTo: sales@bench.test\r\nSubject: smtpload {n} quotation request\r\n\
             Message-ID: <{n}@remote.test>\r\n\r\nPlease quote {n} units.\r\n",
            n % 50
        )
        .into_bytes(),
    )
}

fn main() {
    let count: usize = std::env::var("BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    rt.block_on(async {
        let store = Arc::new(SqliteStore::open(dir.path()).expect("open"));
        store.add_domain("bench.test").await.expect("domain");
        let address = Address::parse("sales@bench.test").expect("address");
        let user = store
            .add_user(NewUser { address, name: None, quota: None, password_hash: "x".into() })
            .await
            .expect("user");
        let started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for n in (w..count).step_by(16) {
                    let d = Delivery {
                        sign_as: None,
                        raw: message(n),
                        targets: vec![Target::new(user.id, MailboxTarget::Special(SpecialUse::Inbox))],
                        sender: "bench@remote.test".into(),
                        ..Default::default()
                    };
                    store.deliver(d).await.expect("deliver");
                }
            }));
        }
        for t in tasks {
            t.await.expect("writer");
        }
        println!("filled {count} messages in {:.1}s", started.elapsed().as_secs_f64());
        let inbox =
            store.mailboxes(user.id).await.expect("mailboxes").into_iter().find(|m| m.name == "INBOX").expect("inbox");
        let time = |field: &'static str, needle: &'static str| {
            let store = store.clone();
            async move {
                let t = Instant::now();
                let hits = store.header_search(inbox.id, field, needle).await.expect("search").expect("answered");
                (t.elapsed().as_secs_f64() * 1000.0, hits.len())
            }
        };
        let (ms, hits) = time("subject", "smtpload 4242 ").await;
        println!("first search (loads the mailbox): {ms:.2} ms, {hits} hits");
        for (field, needle) in [("subject", "smtpload 4242 "), ("from", "buyer7@"), ("subject", "zzzz-not-there")] {
            let mut runs: Vec<f64> = Vec::new();
            let mut hits = 0;
            for _ in 0..50 {
                let (ms, h) = time(field, needle).await;
                runs.push(ms);
                hits = h;
            }
            runs.sort_by(|a, b| a.total_cmp(b));
            println!("search {field} {needle:?}: median {:.3} ms, p99 {:.3} ms, {hits} hits", runs[25], runs[49]);
        }
        store
            .deliver(Delivery {
                sign_as: None,
                raw: message(count),
                targets: vec![Target::new(user.id, MailboxTarget::Special(SpecialUse::Inbox))],
                ..Default::default()
            })
            .await
            .expect("deliver");
        let (ms, _) = time("subject", "smtpload").await;
        println!("search after one new delivery: {ms:.2} ms");
        store.expunge(inbox.id, &[5]).await.expect("expunge");
        let (ms, _) = time("subject", "smtpload").await;
        println!("search after one expunge: {ms:.2} ms");
    });
}
