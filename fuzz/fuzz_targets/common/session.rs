//! Whole sessions for fuzzing: one server per protocol on a temporary store
//! (a domain, alice with a password, a message in her INBOX), and each input
//! sent as the client's bytes over an in-memory stream; the session must end
//! (the client's end of input is a disconnect) without a panic.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use caravel_net::{Service, Session, Shutdown, Transport};
use caravel_store::Store;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

pub const USER: &str = "alice@example.test";
pub const PASSWORD: &str = "fuzz-password";

/// An in-memory stream that reports TLS, so that sign-in is allowed.
pub struct PretendTls(DuplexStream);

impl AsyncRead for PretendTls {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for PretendTls {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[async_trait::async_trait]
impl Transport for PretendTls {
    fn is_tls(&self) -> bool {
        true
    }
    fn tls_info(&self) -> Option<String> {
        Some("fuzz".into())
    }
}

pub struct World {
    pub runtime: tokio::runtime::Runtime,
    pub store: Arc<dyn Store>,
    pub auth: Arc<caravel_auth::Authenticator>,
    pub tls: caravel_net::tls::TlsAcceptor,
    /// Kept alive: the shutdown signal never fires.
    _stop: tokio::sync::watch::Sender<bool>,
    stop_rx: tokio::sync::watch::Receiver<bool>,
    _dir: tempfile::TempDir,
}

impl World {
    pub fn get() -> &'static World {
        static WORLD: OnceLock<World> = OnceLock::new();
        WORLD.get_or_init(World::new)
    }

    fn new() -> World {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = Arc::new(caravel_store::sqlite::SqliteStore::open(dir.path()).expect("store"));
        let store: Arc<dyn Store> = sqlite;
        // A cheap argon2id hash (the verifier takes its parameters from it).
        let hash = {
            use argon2::password_hash::PasswordHasher;
            let params = argon2::Params::new(8, 1, 1, None).expect("params");
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                .hash_password(PASSWORD.as_bytes())
                .expect("hash")
                .to_string()
        };
        runtime.block_on(async {
            store.add_domain("example.test").await.expect("domain");
            let user = caravel_store::NewUser {
                address: caravel_store::Address::parse(USER).expect("address"),
                name: None,
                quota: Some(50 << 20),
                password_hash: hash,
            };
            let account = store.add_user(user).await.expect("user");
            let raw = b"From: <b@x.test>\r\nTo: <alice@example.test>\r\nSubject: hi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n--b--\r\n";
            let target = caravel_store::Target::new(
                account.id,
                caravel_store::MailboxTarget::Special(caravel_store::SpecialUse::Inbox),
            );
            let delivery = caravel_store::Delivery {
                raw: Arc::new(raw.to_vec()),
                internal_date: 1_700_000_000,
                targets: vec![target],
                sender: "b@x.test".into(),
                session: "fuzz".into(),
                ..Default::default()
            };
            store.deliver(delivery).await.expect("deliver");
        });
        let auth = Arc::new(caravel_auth::Authenticator::new(store.clone()));
        let config = caravel_config::Config { data_dir: dir.path().to_path_buf(), ..Default::default() };
        let certs = caravel_net::tls::Certificates::from_config(&config).expect("certificates");
        let tls = caravel_net::tls::acceptor(certs).expect("tls");
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        World { runtime, store, auth, tls, _stop: stop, stop_rx, _dir: dir }
    }

    pub fn net_session(&self, service: Service) -> Session {
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        Session {
            id: "fuzz".into(),
            service,
            peer: addr,
            local: addr,
            tls: self.tls.clone(),
            idle_timeout: Duration::from_secs(5),
            shutdown: Shutdown::new(self.stop_rx.clone()),
        }
    }

    /// Sends `input` as the client (then closes its side) to a session that
    /// `serve` runs over the other end, and returns what the server said.
    pub fn exchange<F, Fut>(&self, input: &[u8], serve: F) -> Vec<u8>
    where
        F: FnOnce(PretendTls) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.runtime.block_on(async {
            let (server, mut client) = tokio::io::duplex(1 << 16);
            let session = tokio::spawn(serve(PretendTls(server)));
            let input = input.to_vec();
            let (mut read, mut write) = tokio::io::split(&mut client);
            let writer = async move {
                let _ = write.write_all(&input).await;
                let _ = write.shutdown().await;
            };
            let mut replies = Vec::new();
            let reader = read.read_to_end(&mut replies);
            let done = tokio::time::timeout(Duration::from_secs(20), async { tokio::join!(writer, reader) }).await;
            assert!(done.is_ok(), "the session did not end after the client's input ended");
            session.await.expect("the session task did not panic");
            replies
        })
    }
}
