//! An IMAP session over a real store in a temporary directory, driven with
//! whole commands: the state machine without sockets.

#![allow(dead_code)]

use std::sync::Arc;

use caravel_imap::session::Session;
use caravel_imap::{Config, Context};
use caravel_store::sqlite::SqliteStore;
use caravel_store::{Address, Delivery, Directory, MailStore, MailboxTarget, NewUser, SpecialUse, Store, Target};

pub const USER: &str = "alice@example.test";
pub const PASSWORD: &str = "Wonderland-Key-2026";

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub ctx: Arc<Context>,
    pub account: i64,
}

impl Harness {
    pub async fn new() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(SqliteStore::open(dir.path()).expect("store"));
        store.add_domain("example.test").await.expect("domain");
        let hash = caravel_auth::hash_password(PASSWORD).expect("hash");
        let user = store
            .add_user(NewUser {
                address: Address::parse(USER).expect("a"),
                name: None,
                quota: Some(10 << 20),
                password_hash: hash,
            })
            .await
            .expect("user");
        let config = Config {
            hostname: "mail.example.test".into(),
            max_sessions_per_user: 3,
            max_bad: 5,
            max_message_size: 1 << 20,
        };
        let auth = Arc::new(caravel_auth::Authenticator::new(store.clone()));
        let ctx = Arc::new(Context::new(config, store.clone(), auth));
        Harness { dir, store, ctx, account: user.id }
    }

    pub async fn deliver(&self, raw: &str) {
        self.deliver_bytes(raw.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()).await
    }

    /// Delivers exactly these bytes (8-bit charsets stay as they are).
    pub async fn deliver_bytes(&self, raw: Vec<u8>) {
        let d = Delivery {
            sign_as: None,
            raw: Arc::new(raw),
            internal_date: 1_700_000_000,
            targets: vec![Target::new(self.account, MailboxTarget::Special(SpecialUse::Inbox))],
            sender: "x@far.test".into(),
            ..Default::default()
        };
        assert!(self.store.deliver(d).await.expect("deliver").stored[0].is_ok());
    }

    pub fn session(&self, tls: bool) -> Session {
        Session::new(self.ctx.clone(), tls, std::net::Ipv4Addr::LOCALHOST.into())
    }

    /// A signed-in session (over TLS).
    pub async fn signed_in(&self) -> Session {
        let mut s = self.session(true);
        let out = run(&mut s, &format!("l LOGIN {USER} {PASSWORD}")).await;
        assert!(out.contains("l OK"), "{out}");
        s
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

/// Runs one command line (CRLF added) and returns the response text.
pub async fn run(s: &mut Session, line: &str) -> String {
    let mut cmd = line.as_bytes().to_vec();
    cmd.extend_from_slice(b"\r\n");
    run_raw(s, &cmd).await
}

/// Runs a command given as raw bytes (with literals already in place), with
/// every chunk of an answer given in parts, as the driver sends them.
pub async fn run_raw(s: &mut Session, cmd: &[u8]) -> String {
    let mut step = s.command(cmd).await;
    let mut out = std::mem::take(&mut step.out);
    while matches!(step.next, caravel_imap::session::Next::Resume) {
        step = s.resume().await;
        out.extend(std::mem::take(&mut step.out));
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub const SIMPLE: &str = "From: Ana Lopez <ana@far.test>\nTo: alice@example.test\nSubject: Quote\nMessage-ID: <q1@far.test>\nDate: Tue, 14 Nov 2023 22:13:20 +0000\n\nPrices attached.\n";
