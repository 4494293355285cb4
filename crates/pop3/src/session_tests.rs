//! The POP3 state machine per command, with a fake maildrop of three messages.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use caravel_auth::{SignIn, SignedIn};
use caravel_store::{Flags, MailboxId, MessageMeta};

use crate::backend::{Maildrops, Snapshot, TempFailure};
use crate::session::{stuff, Config, Locks, Next, Session};

struct Fake {
    bodies: Vec<Vec<u8>>,
    expunged: Mutex<Vec<u32>>,
}

fn meta(uid: u32, size: usize) -> MessageMeta {
    MessageMeta {
        uid,
        modseq: 1,
        flags: Flags::default(),
        keywords: vec![],
        internal_date: 0,
        internal_zone: 0,
        size: size as u64,
        blob: String::new(),
        prefix: vec![],
    }
}

#[async_trait]
impl Maildrops for Fake {
    async fn authenticate(&self, u: &str, p: &str, _: std::net::IpAddr) -> Result<SignIn, TempFailure> {
        Ok(match (u, p) {
            ("alice@example.test", "right") => SignIn::Ok(SignedIn { account: 7, address: u.into() }),
            ("locked@example.test", _) => SignIn::Locked,
            ("twofactor@example.test", "right") => SignIn::AppPasswordRequired,
            _ => SignIn::Failed,
        })
    }
    async fn open(&self, _: &SignedIn) -> Result<Snapshot, TempFailure> {
        let messages = self.bodies.iter().enumerate().map(|(i, b)| meta(i as u32 + 10, b.len())).collect();
        Ok(Snapshot { mailbox: 1, uidvalidity: 0x5f00_0000, messages })
    }
    async fn read(&self, m: &MessageMeta) -> Result<Vec<u8>, TempFailure> {
        Ok(self.bodies[(m.uid - 10) as usize].clone())
    }
    async fn expunge(&self, _: MailboxId, uids: &[u32]) -> Result<(), TempFailure> {
        self.expunged.lock().expect("lock").extend_from_slice(uids);
        Ok(())
    }
}

fn fake() -> Arc<Fake> {
    Arc::new(Fake {
        bodies: vec![
            b"Subject: one\r\n\r\nfirst\r\n".to_vec(),
            b"Subject: two\r\n\r\n.dotted\r\nline 2\r\nline 3\r\n".to_vec(),
            b"Subject: three\nbare: lf\n\nbody\n".to_vec(),
        ],
        expunged: Mutex::new(vec![]),
    })
}

fn session(f: &Arc<Fake>, locks: &Locks, tls: bool) -> Session<Fake> {
    let cfg = Arc::new(Config { hostname: "mail.example.test".into(), max_errors: 5 });
    Session::new(cfg, f.clone(), locks.clone(), tls, std::net::Ipv4Addr::LOCALHOST.into())
}

async fn say(s: &mut Session<Fake>, line: &str) -> String {
    String::from_utf8(s.line(line.as_bytes()).await.reply).expect("utf8")
}

async fn signed_in(f: &Arc<Fake>, locks: &Locks) -> Session<Fake> {
    let mut s = session(f, locks, true);
    assert!(say(&mut s, "USER alice@example.test").await.starts_with("+OK"));
    assert!(say(&mut s, "PASS right").await.starts_with("+OK Mailbox open, 3 messages"));
    s
}

#[tokio::test]
async fn authorization_refuses_plain_text_before_tls_and_offers_stls() {
    let f = fake();
    let mut s = session(&f, &Locks::default(), false);
    let capa = say(&mut s, "CAPA").await;
    assert!(capa.contains("\r\nSTLS\r\n") && !capa.contains("\r\nUSER\r\n") && !capa.contains("SASL"), "{capa}");
    assert!(say(&mut s, "USER alice@example.test").await.starts_with("-ERR [AUTH]"));
    assert!(say(&mut s, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAByaWdodA==").await.starts_with("-ERR [AUTH]"));
    assert!(say(&mut s, "STAT").await.starts_with("-ERR"), "no transaction commands before sign-in");
    let stls = s.line(b"STLS").await;
    assert_eq!(stls.next, Next::StartTls);
    s.tls_started();
    let capa = say(&mut s, "CAPA").await;
    assert!(capa.contains("\r\nUSER\r\n") && capa.contains("SASL PLAIN") && !capa.contains("STLS"), "{capa}");
    assert!(say(&mut s, "STLS").await.starts_with("-ERR"));
}

#[tokio::test]
async fn sign_in_with_user_pass_and_with_sasl_plain() {
    let f = fake();
    let locks = Locks::default();
    let mut s = session(&f, &locks, true);
    assert!(say(&mut s, "PASS right").await.starts_with("-ERR"), "USER first");
    say(&mut s, "USER alice@example.test").await;
    let bad = s.line(b"PASS wrong").await;
    assert!(bad.auth_failed && String::from_utf8_lossy(&bad.reply).starts_with("-ERR [AUTH]"));
    assert!(say(&mut s, "AUTH PLAIN").await.starts_with("+ "));
    assert!(say(&mut s, "AGFsaWNlQGV4YW1wbGUudGVzdAByaWdodA==").await.starts_with("+OK"));
    assert!(say(&mut s, "USER x").await.starts_with("-ERR"), "already signed in");
}

#[tokio::test]
async fn one_session_per_maildrop() {
    let f = fake();
    let locks = Locks::default();
    let first = signed_in(&f, &locks).await;
    let mut second = session(&f, &locks, true);
    say(&mut second, "USER alice@example.test").await;
    assert!(say(&mut second, "PASS right").await.starts_with("-ERR [IN-USE]"));
    drop(first);
    let mut third = session(&f, &locks, true);
    say(&mut third, "USER alice@example.test").await;
    assert!(say(&mut third, "PASS right").await.starts_with("+OK"), "the lock goes with the session");
}

#[tokio::test]
async fn transaction_commands() {
    let f = fake();
    let mut s = signed_in(&f, &Locks::default()).await;
    assert_eq!(say(&mut s, "STAT").await, "+OK 3 94\r\n");
    assert_eq!(say(&mut s, "LIST").await, "+OK\r\n1 23\r\n2 41\r\n3 30\r\n.\r\n");
    assert_eq!(say(&mut s, "LIST 2").await, "+OK 2 41\r\n");
    assert_eq!(say(&mut s, "UIDL 1").await, "+OK 1 5f0000000000000a\r\n");
    assert!(say(&mut s, "LIST 4").await.starts_with("-ERR"));
    assert!(say(&mut s, "LIST 0").await.starts_with("-ERR"));
    assert_eq!(
        say(&mut s, "RETR 2").await,
        "+OK 41 octets\r\nSubject: two\r\n\r\n..dotted\r\nline 2\r\nline 3\r\n.\r\n"
    );
    assert_eq!(say(&mut s, "TOP 2 1").await, "+OK 41 octets\r\nSubject: two\r\n\r\n..dotted\r\n.\r\n");
    assert_eq!(say(&mut s, "RETR 3").await, "+OK 30 octets\r\nSubject: three\r\nbare: lf\r\n\r\nbody\r\n.\r\n");
    assert!(say(&mut s, "DELE 1").await.starts_with("+OK"));
    assert!(say(&mut s, "DELE 1").await.starts_with("-ERR"), "already deleted");
    assert!(say(&mut s, "RETR 1").await.starts_with("-ERR"));
    assert_eq!(say(&mut s, "STAT").await, "+OK 2 71\r\n");
    assert_eq!(say(&mut s, "UIDL").await, "+OK\r\n2 5f0000000000000b\r\n3 5f0000000000000c\r\n.\r\n");
    assert!(say(&mut s, "RSET").await.starts_with("+OK"));
    assert_eq!(say(&mut s, "STAT").await, "+OK 3 94\r\n");
    assert!(say(&mut s, "NOOP").await.starts_with("+OK"));
}

#[tokio::test]
async fn only_quit_deletes() {
    let f = fake();
    let mut s = signed_in(&f, &Locks::default()).await;
    say(&mut s, "DELE 1").await;
    say(&mut s, "DELE 3").await;
    drop(s);
    assert!(f.expunged.lock().expect("lock").is_empty(), "a dropped session deletes nothing");
    let mut s = signed_in(&f, &Locks::default()).await;
    say(&mut s, "DELE 1").await;
    say(&mut s, "DELE 3").await;
    let quit = s.line(b"QUIT").await;
    assert_eq!(quit.next, Next::Close);
    assert!(String::from_utf8_lossy(&quit.reply).starts_with("+OK 2 messages deleted"));
    assert_eq!(*f.expunged.lock().expect("lock"), vec![10, 12]);
}

#[tokio::test]
async fn errors_close_the_session() {
    let f = fake();
    let mut s = session(&f, &Locks::default(), true);
    for _ in 0..4 {
        assert_eq!(s.line(b"FROB").await.next, Next::Command);
    }
    assert_eq!(s.line(b"FROB").await.next, Next::Close);
}

#[test]
fn stuffing_is_exact() {
    let mut out = Vec::new();
    stuff(b"a\r\n.b\r\n..c\r\n.\r\nno newline at end", None, &mut out);
    assert_eq!(out, b"a\r\n..b\r\n...c\r\n..\r\nno newline at end\r\n.\r\n");
    let mut out = Vec::new();
    stuff(b"H: 1\r\n\r\nl1\r\nl2\r\n", Some(0), &mut out);
    assert_eq!(out, b"H: 1\r\n\r\n.\r\n");
}

#[tokio::test]
async fn locked_accounts_and_two_factor_accounts_get_plain_answers() {
    let (f, locks) = (fake(), Locks::default());
    let mut s = session(&f, &locks, true);
    say(&mut s, "USER locked@example.test").await;
    let r = say(&mut s, "PASS anything").await;
    assert!(r.starts_with("-ERR [AUTH] Account locked"), "{r}");
    say(&mut s, "USER twofactor@example.test").await;
    let r = say(&mut s, "PASS right").await;
    assert!(r.starts_with("-ERR [AUTH] Two-factor sign-in is on") && r.contains("app password"), "{r}");
}
