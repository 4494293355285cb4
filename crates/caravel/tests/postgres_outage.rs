//! PostgreSQL stops in the middle of a load and comes back: every message
//! acknowledged with 250 is stored, every other one was refused with a
//! temporary (4xx) reply, and the server works again without a restart.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caravel::testing::TestServer;
use caravel_config::StoreConfig;
use caravel_delivery::client::{Client, Envelope, Outcome, Recipient, Settings};
use caravel_delivery::transport::{deliver, opportunistic_tls, Timeouts};
use caravel_net::Service;

/// One message from outside to alice over port 25; its outcome.
async fn send(addr: std::net::SocketAddr, subject: &str) -> Outcome {
    let message = format!("From: buyer@partner.test\r\nTo: alice@example.test\r\nSubject: {subject}\r\n\r\nOrder.\r\n");
    let envelope = Envelope {
        from: "buyer@partner.test".into(),
        recipients: vec![Recipient { address: "alice@example.test".into(), notify: None, orcpt: None }],
        message: Arc::new(message.into_bytes()),
        eight_bit: false,
        smtputf8: false,
        ret: None,
        envid: None,
    };
    let settings =
        Settings { hostname: "mx.partner.test".into(), tls_possible: false, tls_required: false, credentials: None };
    let outcomes =
        deliver(Client::new(settings, envelope), addr, "mail.example.test", opportunistic_tls(), Timeouts::default())
            .await;
    outcomes.into_iter().next().expect("one outcome")
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_mail_survives_postgres_stopping_mid_load() {
    // A server of its own, with fsync: it is stopped and started again.
    let pg = Arc::new(caravel_testkit::postgres::PgServer::start(true));
    let url = pg.create_database("outage");
    let t = TestServer::start_with(|c| c.store = StoreConfig::Postgres { url }).await;
    let addr = t.addr(Service::Smtp);
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop_at = Instant::now() + Duration::from_secs(8);
    let mut senders = Vec::new();
    for worker in 0..4 {
        let (acked, refused) = (acked.clone(), refused.clone());
        senders.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop_at {
                let subject = format!("order {worker}-{n}");
                n += 1;
                match send(addr, &subject).await {
                    Outcome::Delivered(_) => acked.lock().expect("acked").push(subject),
                    Outcome::Temporary(r) => refused.lock().expect("refused").push(format!("{subject}: {r:?}")),
                    Outcome::Permanent(r) => panic!("{subject} refused for good while the store was down: {r:?}"),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = acked.lock().expect("acked").len();
    let pg2 = pg.clone();
    tokio::task::spawn_blocking(move || pg2.stop()).await.expect("stop PostgreSQL");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pg2 = pg.clone();
    tokio::task::spawn_blocking(move || pg2.restart()).await.expect("start PostgreSQL");
    let after_restart = acked.lock().expect("acked").len();
    for s in senders {
        s.await.expect("sender");
    }
    let acked = acked.lock().expect("acked").clone();
    let refused = refused.lock().expect("refused").clone();
    assert!(before > 0, "mail was accepted before the outage");
    assert!(!refused.is_empty(), "the outage was answered with 4xx");
    assert!(
        refused.iter().all(|r| r.contains("451") || r.contains("421") || r.contains("cannot connect")),
        "temporary refusals: {refused:?}"
    );
    assert!(acked.len() > after_restart, "mail is accepted again after PostgreSQL came back");
    let stored = t.inbox("alice@example.test").await;
    for subject in &acked {
        let line = format!("Subject: {subject}\r\n");
        assert!(stored.iter().any(|m| m.contains(&line)), "{subject} was acknowledged but is not stored");
    }
    eprintln!("acknowledged {}, refused {}, stored {}", acked.len(), refused.len(), stored.len());
}

/// A signed-in IMAP session whose store goes away gets `NO [UNAVAILABLE]`
/// for what needs the store, and works again once PostgreSQL is back.
#[tokio::test(flavor = "multi_thread")]
async fn imap_answers_unavailable_while_postgres_is_down() {
    use std::io::{BufRead, BufReader, Write};
    let pg = Arc::new(caravel_testkit::postgres::PgServer::start(false));
    let url = pg.create_database("imap");
    let t = TestServer::start_with(|c| c.store = StoreConfig::Postgres { url }).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/cluster_scenarios.py");
    let imaps = t.addr(Service::Imaps).port().to_string();
    let pg2 = pg.clone();
    tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new("python3")
            .args([script, "imap_while_the_store_is_down"])
            .env("IMAPS_PORT", imaps)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut next = || lines.next().and_then(|l| l.ok()).unwrap_or_default();
        assert_eq!(next(), "ready");
        pg2.stop();
        writeln!(stdin, "go").expect("go");
        assert_eq!(next(), "refused", "a temporary NO while PostgreSQL is down");
        pg2.restart();
        writeln!(stdin, "go").expect("go");
        let status = child.wait().expect("wait");
        assert!(status.success(), "the scenario failed (see its stderr)");
    })
    .await
    .expect("scenario");
}
