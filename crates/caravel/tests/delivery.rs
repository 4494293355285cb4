//! Outbound delivery end to end: two Caravel servers (export.test sends,
//! buyer.test receives) and dnsmasq on loopback serving MX, A, SPF, DKIM
//! and DMARC records. The sender's queue worker routes by MX, signs with
//! DKIM, retries, and bounces into the sender's INBOX; the receiver checks
//! SPF, DKIM and DMARC and writes Authentication-Results.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caravel::testing::TestServer;
use caravel_admin::Admin;
use caravel_delivery::client::{Client, Envelope, Outcome, Recipient, Settings};
use caravel_delivery::transport::{opportunistic_tls, Timeouts};
use caravel_dns::test_server::{Dnsmasq, ReservedPort};
use caravel_net::Service;
use caravel_store::{EventKind, EventQuery, Store};

const ALICE_PASSWORD: &str = "Wonderland-Key-2026";

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// The two servers and their DNS.
struct World {
    sender: TestServer,
    receiver: Option<TestServer>,
    receiver_port: u16,
    dns_addr: SocketAddr,
    _dns: Dnsmasq,
}

/// Starts the sender (with DKIM keys, RSA and Ed25519), dnsmasq with every
/// record, and the receiver listening for SMTP on `receiver_port`.
async fn world(receiver_max_recipients: Option<usize>) -> World {
    world_with(receiver_max_recipients, free_tcp_port(), &[]).await
}

/// [`world`] with the receiver on `receiver_port` and more DNS records.
async fn world_with(receiver_max_recipients: Option<usize>, receiver_port: u16, extra: &[String]) -> World {
    let dns_port = ReservedPort::new();
    let dns_addr = dns_port.addr();
    let sender = TestServer::start_for("export.test", |c| {
        c.dns.resolvers = vec![dns_addr];
        c.delivery.mx_port = receiver_port;
        c.delivery.retry = vec![Duration::from_secs(1)];
    })
    .await;
    let admin = Admin::new(sender.store());
    let mut records = vec![
        "--mx-host=buyer.test,mx.buyer.test,10".to_string(),
        "--host-record=mx.buyer.test,127.0.0.1".to_string(),
        "--mx-host=export.test,mail.export.test,10".to_string(),
        "--host-record=mail.export.test,127.0.0.1".to_string(),
        Dnsmasq::txt("export.test", "v=spf1 ip4:127.0.0.1 -all"),
        Dnsmasq::txt("_dmarc.export.test", "v=DMARC1; p=reject"),
        Dnsmasq::txt("buyer.test", "v=spf1 ip4:127.0.0.1 -all"),
        "--mx-host=nomail.test,.,0".to_string(),
    ];
    records.extend(extra.iter().cloned());
    for algorithm in [caravel_admin::dkim::Algorithm::Rsa, caravel_admin::dkim::Algorithm::Ed25519] {
        let key = admin.dkim_generate("export.test", algorithm).await.expect("dkim key");
        records.push(Dnsmasq::txt(
            &format!("{}._domainkey.export.test", key.selector),
            &caravel_admin::dkim::dkim_txt(&key),
        ));
    }
    // A second hosted domain, whose sales@ alias Alice sends as.
    admin.domain_add("trade.test").await.expect("domain");
    admin.alias_add("sales@trade.test", &["alice@export.test".to_string()]).await.expect("alias");
    let key = admin.dkim_generate("trade.test", caravel_admin::dkim::Algorithm::Rsa).await.expect("dkim key");
    records
        .push(Dnsmasq::txt(&format!("{}._domainkey.trade.test", key.selector), &caravel_admin::dkim::dkim_txt(&key)));
    records.push(Dnsmasq::txt("trade.test", "v=spf1 ip4:127.0.0.1 -all"));
    records.push(Dnsmasq::txt("_dmarc.trade.test", "v=DMARC1; p=reject"));
    let dns = Dnsmasq::start(dns_port, &records);
    let sender_mx = sender.addr(Service::Smtp).port();
    let receiver = Some(start_receiver(receiver_port, dns_addr, receiver_max_recipients, sender_mx).await);
    World { sender, receiver, receiver_port, dns_addr, _dns: dns }
}

/// buyer.test's server; its own outbound mail (delivery notices) reaches
/// export.test's MX at `sender_mx_port`.
async fn start_receiver(port: u16, dns: SocketAddr, max_recipients: Option<usize>, sender_mx_port: u16) -> TestServer {
    TestServer::start_for("buyer.test", |c| {
        c.dns.resolvers = vec![dns];
        c.delivery.mx_port = sender_mx_port;
        c.listen.smtp = vec![SocketAddr::from(([127, 0, 0, 1], port))];
        if let Some(n) = max_recipients {
            c.smtp.max_recipients = n;
        }
    })
    .await
}

/// Waits (up to 30 s) until `who`'s INBOX has `n` messages.
async fn wait_for_inbox(server: &TestServer, who: &str, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let got = server.inbox(who).await;
        if got.len() >= n {
            return got;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let queue = server.store().queued().await.expect("queue");
            panic!("{who} has {} of {n} messages; queue: {queue:?}", got.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn events(store: &dyn Store, recipient: &str) -> Vec<(EventKind, String)> {
    store
        .events(EventQuery { recipient: Some(recipient.into()), ..Default::default() })
        .await
        .expect("events")
        .into_iter()
        .map(|e| (e.kind, e.detail))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn delivered_through_the_mx_signed_and_verified() {
    let w = world(None).await;
    w.sender.submit_as("alice@export.test", &["alice@buyer.test", "bob@buyer.test"], "Quotation 1").await;
    let receiver = w.receiver.as_ref().expect("receiver");
    let got = wait_for_inbox(receiver, "alice@buyer.test", 1).await;
    let m = &got[0];
    let results = m.split("\r\n\r\n").next().expect("headers");
    assert!(results.contains("\r\nAuthentication-Results: mail.buyer.test;"), "{results}");
    assert_eq!(results.matches("Authentication-Results:").count(), 1, "{results}");
    for expected in ["dkim=pass", "spf=pass", "dmarc=pass", "header.d=export.test", "smtp.mailfrom=alice@export.test"] {
        assert!(results.contains(expected), "{expected} in {results}");
    }
    assert_eq!(m.matches("DKIM-Signature:").count(), 2, "one signature per key (RSA and Ed25519)");
    assert!(m.contains("a=ed25519-sha256") && m.contains("a=rsa-sha256"));
    assert!(m.contains("with ESMTPS"), "sent over TLS: {m}");
    wait_for_inbox(receiver, "bob@buyer.test", 1).await;
    // The sender's queue is empty; its log has the delivery with the MX's reply.
    let start = Instant::now();
    while !w.sender.store().queued().await.expect("queue").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "queue not emptied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = events(&*w.sender.store(), "alice@buyer.test").await;
    assert!(log.iter().any(|(k, d)| *k == EventKind::Delivered && d.contains("mx.buyer.test said: 250")), "{log:?}");
    // The receiver's log has the verdicts.
    let log = events(&*receiver.store(), "alice@buyer.test").await;
    assert!(
        log.iter().any(|(k, d)| *k == EventKind::Received && d.contains("spf=pass") && d.contains("dmarc=pass")),
        "{log:?}"
    );
}

/// Runs an independent DKIM verifier (`/usr/bin/python3 dkim_verify.py`
/// with dkimpy, or `perl dkim_verify.pl` with Mail::DKIM) on `message`;
/// its output, and whether every signature verified.
fn verify_dkim(verifier: &str, message: &str, dns: SocketAddr) -> (String, bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("message.eml");
    std::fs::write(&path, message).expect("write");
    let scripts = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/");
    let (program, script) = match verifier {
        "dkimpy" => ("/usr/bin/python3", "dkim_verify.py"),
        _ => ("perl", "dkim_verify.pl"),
    };
    let out = std::process::Command::new(program)
        .arg(format!("{scripts}{script}"))
        .arg(&path)
        .arg(dns.port().to_string())
        .output()
        .expect("verifier");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (text, out.status.success())
}

/// RFC 6409 §8 and RFC 6376 §8.15: a message submitted without Date: and
/// Message-ID:, with a Bcc:, from an alias of another hosted domain,
/// arrives with both fields added, without the Bcc:, signed by the alias's
/// domain with From: oversigned, and dkimpy and Mail::DKIM verify every
/// signature.
#[tokio::test(flavor = "multi_thread")]
async fn submission_adds_date_and_message_id_drops_bcc_and_signs_for_the_from_domain() {
    let w = world(None).await;
    let message = "From: Sales <sales@trade.test>\r\nTo: alice@buyer.test\r\nBcc: bob@buyer.test\r\n\
                   Subject: Quotation without a date\r\n\r\nPrices attached.\r\n";
    let outcomes = caravel::testing::submit(
        w.sender.addr(Service::Submission),
        ("alice@export.test", ALICE_PASSWORD),
        "alice@export.test",
        &["alice@buyer.test", "bob@buyer.test"],
        message.as_bytes().to_vec(),
    )
    .await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Delivered(_))), "{outcomes:?}");
    let receiver = w.receiver.as_ref().expect("receiver");
    for who in ["alice@buyer.test", "bob@buyer.test"] {
        let got = wait_for_inbox(receiver, who, 1).await;
        let m = &got[0];
        let head = m.split("\r\n\r\n").next().expect("headers");
        assert!(head.contains("\r\nDate: "), "{head}");
        assert!(head.contains("\r\nMessage-ID: <") && head.contains("@mail.export.test>"), "{head}");
        assert!(!head.to_ascii_lowercase().contains("\nbcc:"), "the Bcc: is gone: {head}");
        assert!(head.contains("header.d=trade.test") && head.contains("dmarc=pass"), "{head}");
        assert!(head.contains("d=trade.test") && !head.contains("d=export.test;"), "{head}");
        for verifier in ["dkimpy", "mail-dkim"] {
            let (out, ok) = verify_dkim(verifier, m, w.dns_addr);
            assert!(ok, "{verifier}: {out}\n{m}");
        }
        let (out, _) = verify_dkim("dkimpy", m, w.dns_addr);
        assert!(
            out.to_ascii_lowercase().contains("h=from:from:") || out.to_ascii_lowercase().contains(":from:from"),
            "From: oversigned: {out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_remote_user_is_bounced_to_the_senders_inbox() {
    let w = world(None).await;
    w.sender.submit_as("alice@export.test", &["nobody@buyer.test", "alice@nomail.test"], "Quotation 2").await;
    let got = wait_for_inbox(&w.sender, "alice@export.test", 1).await;
    let mut reports = got.join("\r\n----\r\n");
    if !(reports.contains("nobody@buyer.test") && reports.contains("alice@nomail.test")) {
        // The two domains are tried in parallel: maybe two reports.
        reports = wait_for_inbox(&w.sender, "alice@export.test", 2).await.join("\r\n----\r\n");
    }
    assert!(reports.contains("Subject: Undelivered mail: Quotation 2"), "{reports}");
    assert!(reports.contains("Content-Type: multipart/report; report-type=delivery-status"));
    assert!(reports.contains("nobody@buyer.test: the receiving server says this mailbox does not exist"));
    assert!(reports.contains("mx.buyer.test said: \"550 5.1.1"), "{reports}");
    assert!(reports.contains("Status: 5.1.1") && reports.contains("Action: failed"));
    assert!(reports.contains("alice@nomail.test") && reports.contains("null MX"), "{reports}");
    assert!(w.sender.store().queued().await.expect("queue").is_empty());
    let log = events(&*w.sender.store(), "nobody@buyer.test").await;
    assert!(log.iter().any(|(k, _)| *k == EventKind::Bounced), "{log:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_is_down_gets_the_message_when_it_returns() {
    let mut w = world(None).await;
    if let Some(r) = w.receiver.take() {
        r.server.stop().await;
    }
    w.sender.submit_as("alice@export.test", &["alice@buyer.test"], "Quotation 3").await;
    // Tried, failed, waiting.
    let error = w.sender.wait_for_deferral("alice@buyer.test").await;
    assert!(error.contains("cannot connect"), "{error}");
    let log = events(&*w.sender.store(), "alice@buyer.test").await;
    assert!(log.iter().any(|(k, _)| *k == EventKind::Deferred), "{log:?}");
    let receiver = start_receiver(w.receiver_port, w.dns_addr, None, w.sender.addr(Service::Smtp).port()).await;
    let got = wait_for_inbox(&receiver, "alice@buyer.test", 1).await;
    assert!(got[0].contains("Subject: Quotation 3"));
    assert!(w.sender.inbox("alice@export.test").await.is_empty(), "no bounce");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_mx_that_refuses_at_the_greeting_hands_over_to_the_next() {
    // mxa.buyer.test (preference 5, on 127.0.0.3) answers 421 and hangs up.
    let port = free_tcp_port();
    let busy = tokio::net::TcpListener::bind(("127.0.0.3", port)).await.expect("bind 127.0.0.3");
    let tried = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = tried.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = busy.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            use tokio::io::AsyncWriteExt;
            let _ = tcp.write_all(b"421 4.3.2 mxa.buyer.test too busy\r\n").await;
        }
    });
    let extra =
        ["--mx-host=buyer.test,mxa.buyer.test,5".to_string(), "--host-record=mxa.buyer.test,127.0.0.3".to_string()];
    let w = world_with(None, port, &extra).await;
    w.sender.submit_as("alice@export.test", &["alice@buyer.test"], "Quotation 5").await;
    let receiver = w.receiver.as_ref().expect("receiver");
    let got = wait_for_inbox(receiver, "alice@buyer.test", 1).await;
    assert!(got[0].contains("Quotation 5"));
    assert!(tried.load(std::sync::atomic::Ordering::SeqCst) >= 1, "the preferred MX was tried first");
    let log = events(&*w.sender.store(), "alice@buyer.test").await;
    assert!(!log.iter().any(|(k, _)| *k == EventKind::Deferred), "no retry needed: {log:?}");
}

/// A server that takes everything and offers no DSN extension.
async fn plain_sink(ip: &str, port: u16) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind((ip, port)).await.expect("bind the sink");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = tcp.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink.test ESMTP\r\n").await;
                let mut data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = match line.as_str() {
                        "." if data => {
                            data = false;
                            b"250 2.0.0 taken\r\n"
                        }
                        _ if data => continue,
                        l if l.starts_with("EHLO") => b"250-sink.test\r\n250 PIPELINING\r\n",
                        l if l.starts_with("DATA") => {
                            data = true;
                            b"354 go\r\n"
                        }
                        l if l.starts_with("QUIT") => b"221 bye\r\n",
                        _ => b"250 ok\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_success_brings_delivered_and_relayed_notices() {
    let port = free_tcp_port();
    plain_sink("127.0.0.3", port).await;
    let extra = ["--mx-host=sink.test,mx.sink.test,10".to_string(), "--host-record=mx.sink.test,127.0.0.3".to_string()];
    let w = world_with(None, port, &extra).await;
    let message =
        b"From: Alice <alice@export.test>\r\nSubject: Quotation 6\r\nMessage-ID: <q6@export.test>\r\n\r\nHi.\r\n";
    let env = Envelope {
        from: "alice@export.test".into(),
        recipients: ["bob@buyer.test", "x@sink.test"]
            .iter()
            .map(|a| Recipient { address: a.to_string(), notify: Some("SUCCESS,FAILURE".into()), orcpt: None })
            .collect(),
        message: Arc::new(message.to_vec()),
        eight_bit: false,
        smtputf8: false,
        ret: None,
        envid: Some("Q6".into()),
    };
    let settings = Settings {
        hostname: "laptop.export.test".into(),
        tls_possible: true,
        tls_required: true,
        credentials: Some(("alice@export.test".into(), ALICE_PASSWORD.into())),
    };
    let outcomes = caravel_delivery::transport::deliver(
        Client::new(settings, env),
        w.sender.addr(Service::Submission),
        "mail.export.test",
        opportunistic_tls(),
        Timeouts::default(),
    )
    .await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Delivered(_))), "{outcomes:?}");
    // sink.test cannot report: Caravel says "relayed" itself. buyer.test (a
    // Caravel, with DSN) got NOTIFY passed on, stored the message and sent
    // "delivered" back through export.test's MX.
    let notices = wait_for_inbox(&w.sender, "alice@export.test", 2).await.join("\r\n----\r\n");
    assert!(
        notices.contains("Action: relayed") && notices.contains("Final-Recipient: rfc822; x@sink.test"),
        "{notices}"
    );
    assert!(
        notices.contains("Action: delivered") && notices.contains("Final-Recipient: rfc822; bob@buyer.test"),
        "{notices}"
    );
    assert!(notices.contains("Reporting-MTA: dns; mail.buyer.test") && notices.contains("Original-Envelope-Id: Q6"));
    assert!(notices.contains("Subject: Delivered: Quotation 6"), "{notices}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_temporary_failure_for_one_of_two_recipients_retries_only_that_one() {
    // The receiver takes one recipient per transaction: the second RCPT
    // gets 452 4.5.3 and must be retried alone.
    let w = world(Some(1)).await;
    w.sender.submit_as("alice@export.test", &["alice@buyer.test", "bob@buyer.test"], "Quotation 4").await;
    let receiver = w.receiver.as_ref().expect("receiver");
    let alice = wait_for_inbox(receiver, "alice@buyer.test", 1).await;
    let bob = wait_for_inbox(receiver, "bob@buyer.test", 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.inbox("alice@buyer.test").await.len(), 1, "alice's copy is not sent twice");
    assert_eq!(receiver.inbox("bob@buyer.test").await.len(), 1);
    assert!(alice[0].contains("Quotation 4") && bob[0].contains("Quotation 4"));
    let (a, b) =
        (events(&*w.sender.store(), "alice@buyer.test").await, events(&*w.sender.store(), "bob@buyer.test").await);
    assert!(!a.iter().any(|(k, _)| *k == EventKind::Deferred), "{a:?}");
    assert!(b.iter().any(|(k, d)| *k == EventKind::Deferred && d.contains("452")), "{b:?}");
    assert!(b.iter().any(|(k, _)| *k == EventKind::Delivered), "{b:?}");
}

/// Sends straight to the receiver's MX from 127.0.0.2, which export.test's
/// SPF does not list.
async fn forge(receiver: &TestServer, from_header: &str, mail_from: &str) -> Vec<Outcome> {
    let message = format!("From: {from_header}\r\nTo: alice@buyer.test\r\nSubject: Pay this invoice\r\n\r\nNow.\r\n");
    let env = Envelope {
        from: mail_from.into(),
        recipients: vec![Recipient { address: "alice@buyer.test".into(), notify: None, orcpt: None }],
        message: Arc::new(message.into_bytes()),
        eight_bit: false,
        smtputf8: false,
        ret: None,
        envid: None,
    };
    let settings =
        Settings { hostname: "forger.test".into(), tls_possible: false, tls_required: false, credentials: None };
    caravel_delivery::transport::deliver_from(
        Client::new(settings, env),
        Some("127.0.0.2".parse().expect("ip")),
        receiver.addr(Service::Smtp),
        "mx.buyer.test",
        opportunistic_tls(),
        Timeouts::default(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_senders_are_refused_by_dmarc_and_for_our_own_domains() {
    let w = world(None).await;
    let receiver = w.receiver.as_ref().expect("receiver");
    // export.test publishes p=reject; SPF fails from 127.0.0.2, no DKIM.
    let outcomes = forge(receiver, "alice@export.test", "alice@export.test").await;
    assert!(
        matches!(&outcomes[0], Outcome::Permanent(r) if r.code == 550 && r.text.contains("DMARC policy of export.test")),
        "{outcomes:?}"
    );
    // From: one of the receiver's own domains, from outside, unauthenticated.
    let outcomes = forge(receiver, "bob@buyer.test", "").await;
    assert!(
        matches!(&outcomes[0], Outcome::Permanent(r) if r.code == 550 && r.text.contains("hosted here")),
        "{outcomes:?}"
    );
    assert!(receiver.inbox("alice@buyer.test").await.is_empty());
    let log = events(&*receiver.store(), "alice@buyer.test").await;
    assert_eq!(log.iter().filter(|(k, _)| *k == EventKind::Rejected).count(), 2, "{log:?}");
    // An outside domain without DMARC, SPF failing: accepted, results recorded.
    let outcomes = forge(receiver, "someone@elsewhere.test", "someone@export.test").await;
    assert!(matches!(&outcomes[0], Outcome::Delivered(_)), "{outcomes:?}");
    let got = receiver.inbox("alice@buyer.test").await;
    assert!(got[0].contains("spf=fail") && got[0].contains("smtp.mailfrom=someone@export.test"), "{}", got[0]);

    // A second address or a second From: field naming our domain.
    for from in ["someone@elsewhere.test, bob@buyer.test", "someone@elsewhere.test\r\nFrom: bob@buyer.test"] {
        let outcomes = forge(receiver, from, "someone@elsewhere.test").await;
        assert!(matches!(&outcomes[0], Outcome::Permanent(r) if r.code == 550), "{from}: {outcomes:?}");
    }
    // A mail loop: more Received: fields than [smtp] max_hops (50).
    let looping =
        format!("someone@elsewhere.test{}", "\r\nReceived: from a by b; Sat, 28 Nov 2026 10:00:00 +0000".repeat(51));
    let outcomes = forge(receiver, &looping, "someone@elsewhere.test").await;
    assert!(matches!(&outcomes[0], Outcome::Permanent(r) if r.code == 554 && r.text.contains("5.4.6")), "{outcomes:?}");
    // A DKIM signature whose i= (quoted-printable) and a HELO name try to
    // add results of their own: they stay quoted inside our one field.
    let sneaky = "someone@elsewhere.test\r\nDKIM-Signature: v=1; a=rsa-sha256; d=elsewhere.test; s=s; h=from; bh=AAAA;\r\n b=AAAA; i=a=0D=0AAuthentication-Results:=20mail.buyer.test=3B=20dmarc=3Dpass";
    let outcomes = forge(receiver, sneaky, "").await;
    assert!(matches!(&outcomes[0], Outcome::Delivered(_)), "{outcomes:?}");
    let got = receiver.inbox("alice@buyer.test").await;
    let newest = got.last().expect("delivered");
    let header_block = newest.split("\r\n\r\n").next().expect("headers");
    let fields: Vec<&str> = header_block.split("\r\n").filter(|l| l.starts_with("Authentication-Results:")).collect();
    assert_eq!(fields.len(), 1, "{header_block}");
    assert!(!header_block.contains("dmarc=pass"), "{header_block}");
    assert!(header_block.contains("smtp.helo=forger.test"), "{header_block}");
}

/// Sends `message` from `from` to `to` at `server`'s MX (no TLS needed).
async fn to_mx(server: &TestServer, from: &str, to: &str, message: &str) -> Vec<Outcome> {
    let env = Envelope {
        from: from.into(),
        recipients: vec![Recipient { address: to.into(), notify: None, orcpt: None }],
        message: Arc::new(message.as_bytes().to_vec()),
        eight_bit: false,
        smtputf8: false,
        ret: None,
        envid: None,
    };
    let settings =
        Settings { hostname: "mx.buyer.test".into(), tls_possible: false, tls_required: false, credentials: None };
    caravel_delivery::transport::deliver(
        Client::new(settings, env),
        server.addr(Service::Smtp),
        "mail.export.test",
        opportunistic_tls(),
        Timeouts::default(),
    )
    .await
}

/// A buyer abroad writes to Bob: Bob's auto-reply reaches the buyer
/// DKIM-signed for export.test (null envelope sender, verified by the
/// buyer's server and by dkimpy), and Bob's rule forwards a copy abroad
/// with an SRS envelope sender, so the receiver's SPF check passes; a
/// bounce to that address goes back to the buyer, a forged one is refused.
#[tokio::test(flavor = "multi_thread")]
async fn auto_replies_are_signed_and_rule_forwards_keep_spf() {
    use caravel_personal::autoreply::AutoReply;
    use caravel_personal::book::{save, AUTOREPLY, RULE};
    use caravel_personal::rules::{Action, Rule};
    let w = world(None).await;
    let store = w.sender.store();
    let bob = store
        .get_user(&caravel_store::Address::parse("bob@export.test").expect("address"))
        .await
        .expect("user")
        .expect("bob");
    let scope = caravel_store::settings::account_scope(bob.id);
    // Buyers at buyer.test get the auto-reply; mail from kunde.test is
    // forwarded to a colleague at buyer.test.
    let away = AutoReply {
        subject: "Out of office".into(),
        text: "Back on Monday.".into(),
        senders: vec!["buyer.test".into()],
        ..Default::default()
    };
    save(store.as_ref(), &scope, AUTOREPLY, "away", &away).await.expect("auto-reply");
    let forward = Rule {
        conditions: vec![caravel_personal::rules::Condition::From("kunde.test".into())],
        actions: vec![Action::Forward { to: "bob@buyer.test".into(), keep: true }],
        ..Default::default()
    };
    save(store.as_ref(), &scope, RULE, "1", &forward).await.expect("rule");

    let message = "From: Hans <alice@buyer.test>\r\nTo: bob@export.test\r\nSubject: Inquiry\r\n\
                   Message-ID: <inq1@buyer.test>\r\nDate: Mon, 1 Mar 2027 10:00:00 +0100\r\n\r\nPlease quote.\r\n";
    let outcomes = to_mx(&w.sender, "alice@buyer.test", "bob@export.test", message).await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Delivered(_))), "{outcomes:?}");
    wait_for_inbox(&w.sender, "bob@export.test", 1).await;

    let receiver = w.receiver.as_ref().expect("receiver");
    let reply = wait_for_inbox(receiver, "alice@buyer.test", 1).await.remove(0);
    let head = reply.split("\r\n\r\n").next().expect("headers").to_string();
    assert!(head.starts_with("Return-Path: <>"), "{head}");
    assert!(head.contains("Auto-Submitted: auto-replied") && head.contains("In-Reply-To: <inq1@buyer.test>"), "{head}");
    assert!(
        head.contains("dkim=pass") && head.contains("header.d=export.test") && head.contains("dmarc=pass"),
        "{head}"
    );
    let (out, ok) = verify_dkim("dkimpy", &reply, w.dns_addr);
    assert!(ok, "dkimpy: {out}");

    let message = "From: Hans <hans@kunde.test>\r\nTo: bob@export.test\r\nSubject: Inquiry\r\n\
                   Message-ID: <inq2@kunde.test>\r\n\r\nPlease quote.\r\n";
    let outcomes = to_mx(&w.sender, "hans@kunde.test", "bob@export.test", message).await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Delivered(_))), "{outcomes:?}");
    let copy = wait_for_inbox(receiver, "bob@buyer.test", 1).await.remove(0);
    let head = copy.split("\r\n\r\n").next().expect("headers").to_string();
    let srs = head
        .lines()
        .find_map(|l| l.strip_prefix("Return-Path: <"))
        .and_then(|l| l.strip_suffix('>'))
        .expect("Return-Path")
        .to_string();
    assert!(srs.starts_with("SRS0=") && srs.ends_with("=kunde.test=hans@export.test"), "{srs}");
    assert!(head.contains("spf=pass"), "SPF holds for the forwarded copy: {head}");
    assert!(copy.contains("Subject: Inquiry") && copy.contains("Delivered-To: bob@export.test"), "{copy}");

    // The receiver bounces the forwarded copy: export.test sends it on to
    // the original sender.
    let bounce = "From: MAILER-DAEMON@buyer.test\r\nTo: hans@kunde.test\r\nSubject: Undelivered Mail\r\n\r\nGone.\r\n";
    let outcomes = to_mx(&w.sender, "", &srs, bounce).await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Delivered(_))), "{outcomes:?}");
    let log = events(&*w.sender.store(), "hans@kunde.test").await;
    assert!(log.iter().any(|(k, _)| *k == EventKind::Queued), "relayed to the original sender: {log:?}");
    // A made-up SRS address is not a way to relay.
    let forged = srs.replacen("=kunde.test=hans", "=far.test=victim", 1);
    let outcomes = to_mx(&w.sender, "", &forged, bounce).await;
    assert!(outcomes.iter().all(|o| !matches!(o, Outcome::Delivered(_))), "{outcomes:?}");
}

/// The webmail's send path is the submission's: a reply written in the
/// browser's API crosses SMTP to the buyer's server threaded under the
/// question, with the signature, DKIM-signed and verified there.
#[tokio::test(flavor = "multi_thread")]
async fn a_reply_from_the_webmail_arrives_over_smtp_threaded_signed_and_with_the_signature() {
    let w = world(None).await;
    let receiver = w.receiver.as_ref().expect("receiver");
    receiver.submit_as("alice@buyer.test", &["alice@export.test"], "RFQ 42").await;
    wait_for_inbox(&w.sender, "alice@export.test", 1).await;
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/webmail_write_scenarios.py");
    let mut env = common::admin_env(&w.sender);
    env.extend([
        ("SENDER".to_string(), "alice@export.test".to_string()),
        ("BUYER".to_string(), "alice@buyer.test".to_string()),
        ("BUYER_IMAPS_PORT".to_string(), receiver.addr(Service::Imaps).port().to_string()),
    ]);
    common::python_scenario(scenario, "reply_over_smtp", &w.sender, env).await;
}
