//! The client's waits (RFC 5321 §4.5.3.2): a reply slower than the reply
//! timeout is a temporary failure, except the reply to the end of the
//! message, which may take twice as long. A scripted server on loopback.

use std::sync::Arc;
use std::time::Duration;

use caravel_delivery::client::{Client, Envelope, Outcome, Recipient, Settings};
use caravel_delivery::transport::{deliver, opportunistic_tls, Timeouts};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A server that answers every line at once, except that the reply to the
/// line starting with `slow` comes after `delay`.
async fn server(slow: &'static str, delay: Duration) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let (read, mut write) = tcp.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 slow.test ESMTP\r\n").await.expect("greet");
        let mut in_data = false;
        while let Ok(Some(line)) = lines.next_line().await {
            let reply: &[u8] = if in_data {
                if line != "." {
                    continue;
                }
                in_data = false;
                b"250 2.0.0 queued\r\n"
            } else if line.starts_with("EHLO") {
                b"250 slow.test\r\n"
            } else if line.starts_with("DATA") {
                in_data = true;
                b"354 go\r\n"
            } else if line.starts_with("QUIT") {
                b"221 bye\r\n"
            } else {
                b"250 ok\r\n"
            };
            let slow_now = if slow == "." { reply.starts_with(b"250 2.0.0") } else { line.starts_with(slow) };
            if slow_now {
                tokio::time::sleep(delay).await;
            }
            if write.write_all(reply).await.is_err() {
                return;
            }
        }
    });
    addr
}

fn client() -> Client {
    let env = Envelope {
        from: "a@export.test".into(),
        recipients: vec![Recipient { address: "b@slow.test".into(), notify: None, orcpt: None }],
        message: Arc::new(b"Subject: x\r\n\r\nbody\r\n".to_vec()),
        eight_bit: false,
        smtputf8: false,
        ret: None,
        envid: None,
    };
    Client::new(
        Settings { hostname: "mail.export.test".into(), tls_possible: false, tls_required: false, credentials: None },
        env,
    )
}

const T: Timeouts = Timeouts { connect: Duration::from_secs(5), reply: Duration::from_millis(400) };

#[tokio::test]
async fn a_slow_rcpt_reply_is_a_temporary_failure() {
    let addr = server("RCPT", Duration::from_millis(700)).await;
    let o = deliver(client(), addr, "slow.test", opportunistic_tls(), T).await;
    assert!(matches!(&o[0], Outcome::Temporary(r) if r.text.contains("did not answer in time")), "{o:?}");
}

#[tokio::test]
async fn the_reply_to_the_message_may_take_twice_as_long() {
    let addr = server(".", Duration::from_millis(700)).await;
    let o = deliver(client(), addr, "slow.test", opportunistic_tls(), T).await;
    assert!(matches!(&o[0], Outcome::Delivered(_)), "{o:?}");
    let addr = server(".", Duration::from_millis(1100)).await;
    let o = deliver(client(), addr, "slow.test", opportunistic_tls(), T).await;
    assert!(matches!(&o[0], Outcome::Temporary(_)), "{o:?}");
}

#[tokio::test]
async fn a_server_that_trickles_bytes_is_given_up_at_the_attempt_limit() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.expect("accept");
        // "2222...": never a whole line, each byte well within the reply timeout.
        while tcp.write_all(b"2").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let started = std::time::Instant::now();
    let o = deliver(client(), addr, "slow.test", opportunistic_tls(), T).await;
    assert!(matches!(&o[0], Outcome::Temporary(r) if r.text.contains("took longer")), "{o:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "6 replies' worth of time: 2.4 s");
}
