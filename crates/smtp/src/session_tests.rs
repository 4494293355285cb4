//! The session state machine without sockets: lines in, replies out, with a
//! fake backend (one local user, one alias, every other domain remote).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use caravel_auth::{SignIn, SignedIn};
use caravel_store::MailEvent;

use crate::backend::{Accepted, Backend, LocalRecipient, Lookup, TempFailure};
use crate::pipeline::{Pipeline, SizeStage};
use crate::session::{Kind, Next, Session, SessionConfig};

#[derive(Default)]
struct Fake {
    delivered: Mutex<Vec<Accepted>>,
    events: Mutex<Vec<MailEvent>>,
}

#[async_trait]
impl Backend for Fake {
    async fn lookup(&self, address: &str, _size: u64) -> Result<Lookup, TempFailure> {
        let local = |account| LocalRecipient {
            account,
            address: address.to_string(),
            over_quota: false,
            notify: None,
            orcpt: None,
            folder: Default::default(),
            headers: String::new(),
            reason: String::new(),
            via: address.to_string(),
            also_via: Vec::new(),
        };
        Ok(match address {
            "alice@example.test" => Lookup::Deliver { local: vec![local(1)], remote: vec![] },
            "team@example.test" => Lookup::Deliver { local: vec![local(1)], remote: vec!["ext@far.test".into()] },
            a if a.ends_with("@example.test") => Lookup::UnknownUser,
            _ => Lookup::NotLocal,
        })
    }
    async fn authenticate(&self, user: &str, password: &str, _: std::net::IpAddr) -> Result<SignIn, TempFailure> {
        Ok(match (user, password) {
            ("alice@example.test", "right") => SignIn::Ok(SignedIn { account: 1, address: user.to_string() }),
            ("locked@example.test", _) => SignIn::Locked,
            ("twofactor@example.test", "right") => SignIn::AppPasswordRequired,
            (_, "from-banned-address") => SignIn::Banned,
            _ => SignIn::Failed,
        })
    }
    async fn may_send_as(&self, user: &SignedIn, from: &str) -> Result<bool, TempFailure> {
        Ok(user.address == from)
    }
    async fn deliver(&self, m: Accepted) -> Result<(), TempFailure> {
        self.delivered.lock().expect("lock").push(m);
        Ok(())
    }
    async fn log(&self, e: MailEvent) {
        self.events.lock().expect("lock").push(e);
    }
}

fn session(kind: Kind, tls: bool) -> (Session<Fake>, Arc<Fake>) {
    let cfg = Arc::new(SessionConfig {
        hostname: "mx.example.test".into(),
        kind,
        max_message_size: 1000,
        max_recipients: 2,
        max_errors: 4,
        max_line_length: 1000,
        over_quota_permanent: false,
        size_limits: crate::limits::SizeLimits { global: 1000, ..Default::default() },
        send_limiter: Arc::new(crate::limits::SendLimiter::new(0)),
    });
    let backend = Arc::new(Fake::default());
    let pipeline = Arc::new(Pipeline::new(vec![Box::new(SizeStage { max: 1000 })]));
    let tls = tls.then(|| "TLSv1_3".to_string());
    let s = Session::new(cfg, backend.clone(), pipeline, "192.0.2.9".parse().expect("ip"), "s1".into(), tls);
    (s, backend)
}

/// Sends a line and returns the first reply line as "code text".
async fn say(s: &mut Session<Fake>, line: &str) -> String {
    let step = s.line(line.as_bytes()).await;
    let r = &step.replies[0];
    format!("{} {}", r.code, r.lines[0])
}

#[tokio::test]
async fn command_order_is_enforced() {
    let (mut s, _) = session(Kind::Mx, false);
    assert!(say(&mut s, "MAIL FROM:<a@far.test>").await.starts_with("503 5.5.1"));
    say(&mut s, "EHLO client.far.test").await;
    assert!(say(&mut s, "RCPT TO:<alice@example.test>").await.starts_with("503 5.5.1"));
    assert!(say(&mut s, "DATA").await.starts_with("503 5.5.1"));
    assert!(say(&mut s, "MAIL FROM:<a@far.test>").await.starts_with("250 2.1.0"));
    assert!(say(&mut s, "MAIL FROM:<a@far.test>").await.starts_with("503 5.5.1 Nested"));
    assert!(say(&mut s, "DATA").await.starts_with("554 5.5.1"), "no recipients yet");
}

#[tokio::test]
async fn a_whole_transaction() {
    let (mut s, backend) = session(Kind::Mx, false);
    say(&mut s, "EHLO client.far.test").await;
    say(&mut s, "MAIL FROM:<a@far.test> BODY=8BITMIME SIZE=100").await;
    assert!(say(&mut s, "RCPT TO:<team@example.test> NOTIFY=FAILURE,DELAY").await.starts_with("250 2.1.5"));
    let step = s.line(b"DATA").await;
    assert_eq!(step.next, Next::Data);
    let done = s.data_done(Ok(b"Subject: hi\r\nMessage-ID: <m@far.test>\r\n\r\nbody\r\n".to_vec())).await;
    assert!(done.replies[0].lines[0].starts_with("2.0.0 Ok: queued as s101"), "{:?}", done.replies);
    let delivered = backend.delivered.lock().expect("lock");
    let m = &delivered[0];
    assert_eq!(m.local.len(), 1);
    assert_eq!(m.remote[0].address, "ext@far.test");
    assert_eq!(m.remote[0].notify.as_deref(), Some("FAILURE,DELAY"));
    assert_eq!(m.message_id.as_deref(), Some("<m@far.test>"));
    assert!(m.message.starts_with(b"Received: from client.far.test ([192.0.2.9])\r\n"));
    assert!(m.message.ends_with(b"\r\n\r\nbody\r\n"));
}

#[tokio::test]
async fn parameters_and_utf8_addresses() {
    let (mut s, _) = session(Kind::Mx, false);
    say(&mut s, "EHLO c").await;
    assert!(say(&mut s, "MAIL FROM:<a@far.test> SIZE=5000").await.starts_with("552 5.3.4"));
    assert!(say(&mut s, "MAIL FROM:<a@far.test> FROB=1").await.starts_with("555 5.5.4"));
    assert!(say(&mut s, "MAIL FROM:<a@far.test> BODY=BINARYMIME").await.starts_with("555 5.5.4"));
    assert!(say(&mut s, "MAIL FROM:<张伟@far.test>").await.starts_with("553 5.6.7"), "UTF-8 needs SMTPUTF8");
}

#[tokio::test]
async fn utf8_addresses_with_smtputf8() {
    let (mut s, _) = session(Kind::Mx, false);
    say(&mut s, "EHLO c").await;
    assert!(say(&mut s, "MAIL FROM:<张伟@far.test> SMTPUTF8").await.starts_with("250"));
    assert!(say(&mut s, "RCPT TO:<alice@example.test> NOTIFY=NEVER,SUCCESS").await.starts_with("555"));
    assert!(say(&mut s, "RCPT TO:<alice@example.test>").await.starts_with("250"));
}

#[tokio::test]
async fn recipients_unknown_relay_and_limit() {
    let (mut s, _) = session(Kind::Mx, false);
    say(&mut s, "EHLO c").await;
    say(&mut s, "MAIL FROM:<a@far.test>").await;
    assert!(say(&mut s, "RCPT TO:<nobody@example.test>").await.starts_with("550 5.1.1"));
    assert!(say(&mut s, "RCPT TO:<x@elsewhere.test>").await.starts_with("554 5.7.1"));
    assert!(say(&mut s, "RCPT TO:<alice@example.test>").await.starts_with("250"));
    assert!(say(&mut s, "RCPT TO:<alice@example.test>").await.starts_with("250"));
    assert!(say(&mut s, "RCPT TO:<alice@example.test>").await.starts_with("452 4.5.3"));
}

#[tokio::test]
async fn too_many_errors_close_the_session() {
    let (mut s, _) = session(Kind::Mx, false);
    for _ in 0..3 {
        assert!(say(&mut s, "FROB").await.starts_with("500"));
    }
    let step = s.line(b"FROB").await;
    assert_eq!(step.next, Next::Close);
    assert_eq!(step.replies[1].code, 421);
}

#[tokio::test]
async fn submission_wants_tls_then_auth_and_owned_senders() {
    let (mut s, _) = session(Kind::Submission, false);
    let ehlo = s.line(b"EHLO c").await;
    assert!(!ehlo.replies[0].lines.iter().any(|l| l.starts_with("AUTH")), "no AUTH before TLS");
    assert!(say(&mut s, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAByaWdodA==").await.starts_with("538 5.7.11"));
    assert!(say(&mut s, "MAIL FROM:<alice@example.test>").await.starts_with("530 5.7.0"));
    assert_eq!(s.line(b"STARTTLS").await.next, Next::StartTls);
    s.tls_started("TLSv1_3".into());
    assert!(say(&mut s, "MAIL FROM:<alice@example.test>").await.starts_with("503"), "EHLO again after TLS");
    let ehlo = s.line(b"EHLO c").await;
    assert!(ehlo.replies[0].lines.iter().any(|l| l == "AUTH PLAIN LOGIN"));
    assert!(say(&mut s, "MAIL FROM:<alice@example.test>").await.starts_with("530 5.7.0 Authentication required"));
    // LOGIN, step by step: wrong password first.
    assert!(say(&mut s, "AUTH LOGIN").await.starts_with("334 VXNlcm5hbWU6"));
    assert!(say(&mut s, "YWxpY2VAZXhhbXBsZS50ZXN0").await.starts_with("334 UGFzc3dvcmQ6"));
    let bad = s.line(b"d3Jvbmc=").await;
    assert!(bad.auth_failed && bad.replies[0].code == 535);
    assert!(say(&mut s, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAByaWdodA==").await.starts_with("235 2.7.0"));
    assert!(say(&mut s, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAByaWdodA==").await.starts_with("503"));
    assert!(say(&mut s, "MAIL FROM:<boss@example.test>").await.starts_with("553 5.7.1"));
    assert!(say(&mut s, "MAIL FROM:<>").await.starts_with("553 5.7.1"), "no bounces from a user");
    assert!(say(&mut s, "MAIL FROM:<alice@example.test>").await.starts_with("250"));
    assert!(say(&mut s, "RCPT TO:<x@elsewhere.test>").await.starts_with("250"), "authenticated users relay");
}

#[tokio::test]
async fn auth_is_never_offered_or_taken_on_port_25() {
    let (mut s, _) = session(Kind::Mx, true);
    let ehlo = s.line(b"EHLO c").await;
    assert!(!ehlo.replies[0].lines.iter().any(|l| l.starts_with("AUTH")));
    assert!(!ehlo.replies[0].lines.iter().any(|l| l == "STARTTLS"), "already TLS");
    assert!(say(&mut s, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAByaWdodA==").await.starts_with("502"));
    assert!(say(&mut s, "STARTTLS").await.starts_with("503"));
}

#[tokio::test]
async fn bdat_errors_are_answered_after_the_chunk() {
    let (mut s, _) = session(Kind::Mx, false);
    say(&mut s, "EHLO c").await;
    let step = s.line(b"BDAT 5 LAST").await;
    assert_eq!(step.next, Next::Bdat { size: 5, last: true });
    s.bdat_piece(b"hello");
    let end = s.bdat_end(5, true).await;
    assert_eq!(end.replies[0].code, 503, "no transaction");
    say(&mut s, "MAIL FROM:<a@far.test>").await;
    say(&mut s, "RCPT TO:<alice@example.test>").await;
    s.line(b"BDAT 4").await;
    s.bdat_piece(b"a\nb\n");
    s.line(b"BDAT 0 LAST").await;
    let end = s.bdat_end(0, true).await;
    assert_eq!((end.replies[0].code, &end.replies[0].lines[0][..5]), (554, "5.6.0"), "bare LF in BDAT");
    // Issue 12: NUL is refused too (no BINARYMIME), in DATA and in BDAT.
    say(&mut s, "MAIL FROM:<a@far.test>").await;
    say(&mut s, "RCPT TO:<alice@example.test>").await;
    s.line(b"BDAT 6 LAST").await;
    s.bdat_piece(b"a\0b\r\n\r\n");
    let end = s.bdat_end(6, true).await;
    assert_eq!((end.replies[0].code, &end.replies[0].lines[0][..5]), (554, "5.6.0"), "NUL in BDAT");
    assert!(end.replies[0].lines[0].contains("NUL"));
}

#[tokio::test]
async fn http_requests_close_silently_and_vrfy_reveals_nothing() {
    let (mut s, _) = session(Kind::Mx, false);
    assert!(say(&mut s, "VRFY alice").await.starts_with("252"));
    assert!(say(&mut s, "EXPN staff").await.starts_with("502"));
    let step = s.line(b"POST / HTTP/1.1").await;
    assert_eq!((step.next, step.replies.len()), (Next::Close, 0));
}

/// Locked accounts, accounts with two-factor sign-in and banned addresses
/// each get their own plain answer (RFC 4954 §6 codes).
#[tokio::test]
async fn auth_refusals_say_why() {
    let (mut s, _) = session(Kind::Submission, false);
    s.line(b"EHLO c").await;
    s.line(b"STARTTLS").await;
    s.tls_started("TLSv1_3".into());
    s.line(b"EHLO c").await;
    let r = say(&mut s, "AUTH PLAIN AGxvY2tlZEBleGFtcGxlLnRlc3QAeA==").await;
    assert!(r.starts_with("535 5.7.8 Account locked"), "{r}");
    let r = say(&mut s, "AUTH PLAIN AHR3b2ZhY3RvckBleGFtcGxlLnRlc3QAcmlnaHQ=").await;
    assert!(r.starts_with("535 5.7.8 Two-factor sign-in is on") && r.contains("app password"), "{r}");
    let r = say(&mut s, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABmcm9tLWJhbm5lZC1hZGRyZXNz").await;
    assert!(r.starts_with("454 4.7.0 Too many failed sign-ins from your address"), "{r}");
}
