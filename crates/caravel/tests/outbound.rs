//! The outbound SMTP client (delivery crate) against a real receiving server
//! on loopback: a whole Caravel with its MX listener. STARTTLS is used, one
//! transaction carries several recipients, and each gets its own outcome.

use std::sync::Arc;

use caravel::testing::TestServer;
use caravel_delivery::client::{Client, Envelope, Outcome, Recipient, Settings};
use caravel_delivery::transport::{deliver, opportunistic_tls, Timeouts};
use caravel_net::Service;

fn envelope(rcpts: &[&str], body: &str) -> Envelope {
    let message = format!(
        "From: sales@export.test\r\nTo: alice@example.test\r\nSubject: Quotation 7\r\nMessage-ID: <q7@export.test>\r\n\r\n{body}\r\n"
    );
    Envelope {
        from: "sales@export.test".into(),
        recipients: rcpts.iter().map(|a| Recipient { address: a.to_string(), notify: None, orcpt: None }).collect(),
        message: Arc::new(message.into_bytes()),
        eight_bit: false,
        smtputf8: false,
        ret: None,
        envid: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_transaction_per_domain_over_starttls_with_outcomes_per_recipient() {
    let t = TestServer::start().await;
    let settings =
        Settings { hostname: "mail.export.test".into(), tls_possible: true, tls_required: true, credentials: None };
    let env = envelope(&["alice@example.test", "nobody@example.test", "bob@example.test"], ".a line with a dot");
    let client = Client::new(settings, env);
    let outcomes =
        deliver(client, t.addr(Service::Smtp), "mail.example.test", opportunistic_tls(), Timeouts::default()).await;
    assert!(matches!(&outcomes[0], Outcome::Delivered(r) if r.code == 250), "{outcomes:?}");
    assert!(matches!(&outcomes[1], Outcome::Permanent(r) if r.status() == "5.1.1"), "{outcomes:?}");
    assert!(matches!(&outcomes[2], Outcome::Delivered(_)), "{outcomes:?}");
    let got = t.inbox("alice@example.test").await;
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("with ESMTPS"), "the Received header says TLS was used: {}", got[0]);
    assert!(got[0].contains("\r\n.a line with a dot\r\n"), "dot-stuffing undone by the receiver");
    assert_eq!(t.inbox("bob@example.test").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_is_not_there_is_a_temporary_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let settings =
        Settings { hostname: "mail.export.test".into(), tls_possible: true, tls_required: false, credentials: None };
    let client = Client::new(settings, envelope(&["alice@example.test"], "hi"));
    let outcomes = deliver(client, port, "gone.test", opportunistic_tls(), Timeouts::default()).await;
    assert!(matches!(&outcomes[0], Outcome::Temporary(r) if r.text.contains("cannot connect")), "{outcomes:?}");
}

/// RFC 8601 §5: results that claim to come from this server, arriving from
/// outside, are removed before the message is stored; others stay.
#[tokio::test(flavor = "multi_thread")]
async fn forged_authentication_results_naming_us_are_removed() {
    let t = TestServer::start().await;
    let mut env = envelope(&["alice@example.test"], "pay now");
    env.message = Arc::new(
        b"Authentication-Results: mail.example.test;\r\n dkim=pass header.d=bank.test\r\nAuthentication-Results: mx.far.test; spf=pass\r\nFrom: bank@bank.test\r\nSubject: invoice\r\n\r\npay now\r\n"
            .to_vec(),
    );
    let settings =
        Settings { hostname: "mail.far.test".into(), tls_possible: true, tls_required: false, credentials: None };
    let outcomes = deliver(
        Client::new(settings, env),
        t.addr(Service::Smtp),
        "mail.example.test",
        opportunistic_tls(),
        Timeouts::default(),
    )
    .await;
    assert!(matches!(outcomes[0], Outcome::Delivered(_)), "{outcomes:?}");
    let got = t.inbox("alice@example.test").await;
    // Only our own results remain: the forged field and its folded line are gone.
    assert_eq!(got[0].matches("Authentication-Results: mail.example.test;").count(), 1, "{}", got[0]);
    assert!(!got[0].contains("header.d=bank.test"), "its folded line too");
    assert!(got[0].contains("Authentication-Results: mx.far.test; spf=pass"), "{}", got[0]);
}
