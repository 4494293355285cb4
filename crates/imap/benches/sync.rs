//! What one change costs a session that has a large mailbox selected: the
//! NOOP after another session flags one message, and after one new message
//! arrives, on a mailbox of BENCH_MESSAGES (100,000) messages (it must not
//! grow with the mailbox); and SORT and THREAD of the whole mailbox, warm.
//!
//! `cargo bench -p caravel-imap --bench sync`

use std::sync::Arc;
use std::time::Instant;

use caravel_imap::session::{Next, Session};
use caravel_imap::{Config, Context};
use caravel_store::sqlite::SqliteStore;
use caravel_store::*;

async fn run(s: &mut Session, line: &str) -> String {
    let mut step = s.command(format!("{line}\r\n").as_bytes()).await;
    let mut out = std::mem::take(&mut step.out);
    while matches!(step.next, Next::Resume) {
        step = s.resume().await;
        out.extend(std::mem::take(&mut step.out));
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn main() {
    let count: usize = std::env::var("BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    rt.block_on(async {
        let store = Arc::new(SqliteStore::open(dir.path()).expect("open"));
        store.add_domain("bench.test").await.expect("domain");
        let address = Address::parse("sales@bench.test").expect("address");
        let password = "Bench-Password-2026";
        let hash = caravel_auth::hash_password(password).expect("hash");
        let user =
            store.add_user(NewUser { address, name: None, quota: None, password_hash: hash }).await.expect("user");
        let inbox = || vec![Target::new(user.id, MailboxTarget::Special(SpecialUse::Inbox))];
        for batch in (0..count).collect::<Vec<_>>().chunks(1000) {
            let deliveries = batch
                .iter()
                .map(|n| Delivery {
                    sign_as: None,
                    raw: Arc::new(
                        format!(
                            "From: B{n} <b{}@remote.test>\r\nSubject: Re: s{}\r\nDate: Mon, {} Dec 2024 10:{:02}:00 +0000\r\n\
                             Message-ID: <m{n}@remote.test>\r\nReferences: <m{}@remote.test>\r\n\r\nbody {n}\r\n",
                            n % 977,
                            n % 1013,
                            1 + n % 28,
                            n % 60,
                            n / 2
                        )
                        .into_bytes(),
                    ),
                    targets: inbox(),
                    ..Default::default()
                })
                .collect();
            store.deliver_all(deliveries).await.expect("fill");
        }
        let config =
            Config { hostname: "bench".into(), max_sessions_per_user: 10, max_bad: 10, max_message_size: 1 << 20 };
        let auth = Arc::new(caravel_auth::Authenticator::new(store.clone()));
        let ctx = Arc::new(Context::new(config, store.clone(), auth));
        let mut a = Session::new(ctx.clone(), true, std::net::Ipv4Addr::LOCALHOST.into());
        let mut b = Session::new(ctx.clone(), true, std::net::Ipv4Addr::LOCALHOST.into());
        for s in [&mut a, &mut b] {
            assert!(run(s, &format!("l LOGIN sales@bench.test {password}")).await.contains("l OK"));
            assert!(run(s, "s SELECT INBOX").await.contains("s OK"));
        }
        let reps = 20;
        let mut flag_ms = 0.0;
        for n in 0..reps {
            run(&mut b, &format!("t STORE {} +FLAGS.SILENT (\\Flagged)", 1 + n * 997 % count)).await;
            let t = Instant::now();
            let out = run(&mut a, "n NOOP").await;
            flag_ms += t.elapsed().as_secs_f64() * 1000.0;
            assert!(out.contains(" FETCH "), "{out}");
        }
        let mut new_ms = 0.0;
        for n in 0..reps {
            let d = Delivery {
                sign_as: None,
                raw: Arc::new(format!("Subject: new {n}\r\n\r\nx\r\n").into_bytes()),
                targets: inbox(),
                ..Default::default()
            };
            store.deliver(d).await.expect("deliver");
            let t = Instant::now();
            let out = run(&mut a, "n NOOP").await;
            new_ms += t.elapsed().as_secs_f64() * 1000.0;
            assert!(out.contains(" EXISTS"), "{out}");
        }
        println!(
            "{count} messages: NOOP after one flag change {:.2} ms, after one new message {:.2} ms",
            flag_ms / reps as f64,
            new_ms / reps as f64
        );
        for command in [
            "SORT (DATE) UTF-8 ALL",
            "SORT (REVERSE DATE) UTF-8 ALL",
            "SORT (SUBJECT) UTF-8 ALL",
            "SORT (FROM) UTF-8 ALL",
            "THREAD ORDEREDSUBJECT UTF-8 ALL",
            "THREAD REFERENCES UTF-8 ALL",
        ] {
            run(&mut a, &format!("w {command}")).await;
            let t = Instant::now();
            let out = run(&mut a, &format!("s {command}")).await;
            assert!(out.contains("s OK"), "{out}");
            println!("{count} messages: {command} {:.0} ms (warm)", t.elapsed().as_secs_f64() * 1000.0);
        }
    });
}
