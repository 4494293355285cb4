//! The outbound queue survives SIGKILL of the sending server: every message
//! it acknowledged (250 after DATA) reaches the receiver, and what was
//! delivered before a kill is not sent again after it. The sender is the
//! real `caravel serve` process; the receiver is a whole Caravel in the test.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use caravel::testing::{submit, TestServer};
use caravel_delivery::client::Outcome;
use caravel_store::MailLog;
use common::{free_port, send_signal, wait_for_port, Env};

const MESSAGES: usize = 40;
/// Connections the sender may open to buyer.test at once: at most this
/// many messages can be on the wire when a kill lands.
const IN_FLIGHT: usize = 2;
const PASSWORD: &str = "Export-Queue-Key-2026";

fn start_sender(env: &Env, http: u16) -> Child {
    let child = env.command(&["serve"]).stderr(Stdio::null()).spawn().expect("serve");
    wait_for_port(http);
    child
}

fn kill(mut child: Child) {
    send_signal(child.id(), "-KILL");
    let _ = child.wait();
}

/// Message-ID → how many copies buyer.test's INBOXes hold.
async fn received(receiver: &TestServer) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for who in ["alice@buyer.test", "bob@buyer.test"] {
        for m in receiver.inbox(who).await {
            let id = m.lines().find_map(|l| l.strip_prefix("Message-ID: ")).unwrap_or("?").to_string();
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    seen
}

async fn wait_until(receiver: &TestServer, what: &str, done: impl Fn(&HashMap<String, usize>) -> bool) {
    let start = Instant::now();
    loop {
        let seen = received(receiver).await;
        if done(&seen) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{what}: {} of {MESSAGES} so far", seen.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_queue_survives_sigkill_without_loss_or_repeats() {
    let (submission, http, receiver_port) = (free_port(), free_port(), free_port());
    let env = Env::with_config(&format!(
        "[listen]\nsubmission = [\"127.0.0.1:{submission}\"]\nhttp = [\"127.0.0.1:{http}\"]\n\
         [delivery]\nretry = [\"1s\"]\nmax_connections_per_domain = {IN_FLIGHT}\n\
         [delivery.routes]\n\"buyer.test\" = \"127.0.0.1:{receiver_port}\"\n"
    ));
    env.ok(&["domain", "add", "export.test"]);
    let r = env.run_with_input(&["user", "add", "sales@export.test", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);

    // 1. The receiver is down: every message is acknowledged, then waits in the queue.
    let sender = start_sender(&env, http);
    let submission_addr = SocketAddr::from(([127, 0, 0, 1], submission));
    for n in 0..MESSAGES {
        let to = if n % 2 == 0 { "alice@buyer.test" } else { "bob@buyer.test" };
        let message = format!(
            "From: sales@export.test\r\nTo: {to}\r\nSubject: Order {n}\r\nMessage-ID: <order-{n}@export.test>\r\n\r\nOrder {n}.\r\n"
        );
        let outcomes =
            submit(submission_addr, ("sales@export.test", PASSWORD), "sales@export.test", &[to], message.into_bytes())
                .await;
        assert!(matches!(outcomes[0], Outcome::Delivered(_)), "{outcomes:?}");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // Let it try and fail.
    kill(sender);

    // 2. The receiver comes up; the restarted sender delivers. Kill it again
    //    halfway through.
    let receiver = TestServer::start_for("buyer.test", |c| {
        c.listen.smtp = vec![SocketAddr::from(([127, 0, 0, 1], receiver_port))];
    })
    .await;
    let sender = start_sender(&env, http);
    wait_until(&receiver, "half delivered", |seen| seen.len() >= MESSAGES / 2).await;
    kill(sender);
    let at_kill = received(&receiver).await;

    // 3. Restarted again, it delivers the rest.
    let sender = start_sender(&env, http);
    wait_until(&receiver, "all delivered", |seen| seen.len() == MESSAGES).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    kill(sender);

    // 4. A last restart sends nothing: the queue is empty.
    let sender = start_sender(&env, http);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fin = received(&receiver).await;
    kill(sender);
    let copies: usize = fin.values().sum();
    let repeated: Vec<(&String, &usize)> = fin.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!(
        "queue under SIGKILL: {MESSAGES} acknowledged, {} delivered ({} at the second kill), {} copies, repeated: {repeated:?}",
        fin.len(),
        at_kill.len(),
        copies
    );
    assert_eq!(fin.len(), MESSAGES, "every acknowledged message arrived");
    // Only a message on the wire at the second kill (accepted by the
    // receiver, not yet recorded by the sender) may come twice.
    assert!(copies - MESSAGES <= IN_FLIGHT, "{repeated:?}");
    // And a repeat is never of a delivery the sender had recorded: its log
    // has one delivery per message.
    let store = caravel_store::sqlite::SqliteStore::open(&env.data_dir()).expect("open the sender's store");
    let events = store
        .events(caravel_store::EventQuery {
            sender: Some("sales@export.test".into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .expect("events");
    let mut recorded: HashMap<String, usize> = HashMap::new();
    for e in events.into_iter().filter(|e| e.kind == caravel_store::EventKind::Delivered) {
        *recorded.entry(e.message_id.unwrap_or_default()).or_insert(0) += 1;
    }
    assert_eq!(recorded.len(), MESSAGES, "{recorded:?}");
    assert!(recorded.values().all(|n| *n == 1), "a recorded delivery was made again: {recorded:?}");
    let list = env.ok(&["queue", "list", "--json"]);
    assert_eq!(list.trim(), "[]", "the queue is empty: {list}");
}
