//! The listener framework with a test protocol: limits, implicit TLS, graceful
//! shutdown and bind errors, over real loopback sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use caravel_config::{Config, Limits, Listen};
use caravel_net::{bind_all, serve, Handler, Service, Session, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::rustls;

/// Greets, then works for `work` (ignoring a shutdown request) unless the
/// client hangs up, then says "done".
struct Slow {
    work: Duration,
}

#[async_trait]
impl Handler for Slow {
    async fn handle(&self, mut session: Session, mut stream: Stream) {
        let tls = if stream.is_tls() { "tls" } else { "plain" };
        let _ = stream.write_all(format!("hello {tls}\n").as_bytes()).await;
        let mut buf = [0u8; 16];
        tokio::select! {
            _ = tokio::time::sleep(self.work) => {}
            // The client hung up.
            _ = stream.read(&mut buf) => return,
            _ = async { session.shutdown.requested().await; tokio::time::sleep(Duration::from_secs(3600)).await } => {}
        }
        let _ = stream.write_all(b"done\n").await;
    }

    async fn refuse(&self, _service: Service, mut stream: Stream) {
        let _ = stream.write_all(b"busy\n").await;
    }
}

struct Running {
    addrs: Vec<(Service, SocketAddr)>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start(services: &[&str], limits: Limits, work: Duration) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut listen = Listen::default();
    for s in services {
        *listen.service_mut(s).expect("service") = vec!["127.0.0.1:0".parse().expect("addr")];
    }
    let config = Config { data_dir: dir.path().to_path_buf(), listen, ..Config::default() };
    let certs = caravel_net::tls::Certificates::from_config(&config).expect("certificates");
    let tls = caravel_net::tls::acceptor(certs).expect("tls");
    let listeners = bind_all(&config.listen).expect("bind");
    let addrs = listeners.iter().map(|l| (l.service, l.addr)).collect();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(listeners, Arc::new(Slow { work }), tls, &limits, async {
            let _ = stopped.await;
        })
        .await
    });
    Running { addrs, stop, task, _dir: dir }
}

async fn read_line(s: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while let Ok(1) = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await.expect("read timed out") {
        if b[0] == b'\n' {
            break;
        }
        out.push(b[0]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn per_ip_limit_refuses_with_the_protocol_words() {
    let limits = Limits { max_connections_per_ip: 2, ..Limits::default() };
    let r = start(&["imap"], limits, Duration::from_secs(30)).await;
    let addr = r.addrs[0].1;
    let mut a = TcpStream::connect(addr).await.expect("a");
    let mut b = TcpStream::connect(addr).await.expect("b");
    assert_eq!(read_line(&mut a).await, "hello plain");
    assert_eq!(read_line(&mut b).await, "hello plain");
    let mut c = TcpStream::connect(addr).await.expect("c");
    assert_eq!(read_line(&mut c).await, "busy");
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut d = TcpStream::connect(addr).await.expect("d");
    assert_eq!(read_line(&mut d).await, "hello plain", "a freed slot is reused");
}

#[tokio::test]
async fn total_limit_makes_clients_wait() {
    let limits = Limits { max_connections: 1, ..Limits::default() };
    let r = start(&["pop3"], limits, Duration::from_millis(300)).await;
    let addr = r.addrs[0].1;
    let mut a = TcpStream::connect(addr).await.expect("a");
    assert_eq!(read_line(&mut a).await, "hello plain");
    let started = Instant::now();
    let mut b = TcpStream::connect(addr).await.expect("b (queued in the backlog)");
    assert_eq!(read_line(&mut b).await, "hello plain");
    assert!(started.elapsed() >= Duration::from_millis(200), "second client waited for the first");
}

#[derive(Debug)]
struct AcceptAny;

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

#[tokio::test]
async fn implicit_tls_services_handshake_before_the_protocol() {
    let r = start(&["imaps", "imap"], Limits::default(), Duration::from_millis(10)).await;
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .expect("versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny))
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let imaps = r.addrs.iter().find(|(s, _)| *s == Service::Imaps).expect("imaps").1;
        let tcp = TcpStream::connect(imaps).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let mut tls = connector.connect(name, tcp).await.expect("handshake");
        assert_eq!(read_line(&mut tls).await, "hello tls");
    }
    let imap = r.addrs.iter().find(|(s, _)| *s == Service::Imap).expect("imap").1;
    let mut plain = TcpStream::connect(imap).await.expect("connect");
    assert_eq!(read_line(&mut plain).await, "hello plain");
}

#[tokio::test]
async fn shutdown_lets_open_sessions_finish_and_refuses_new_ones() {
    let r = start(&["smtp"], Limits::default(), Duration::from_millis(500)).await;
    let addr = r.addrs[0].1;
    let mut busy = TcpStream::connect(addr).await.expect("connect");
    assert_eq!(read_line(&mut busy).await, "hello plain");
    let started = Instant::now();
    r.stop.send(()).expect("stop");
    assert_eq!(read_line(&mut busy).await, "done", "the open session finished its work");
    r.task.await.expect("serve returns");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(TcpStream::connect(addr).await.is_err(), "no longer accepting");
}

#[tokio::test]
async fn shutdown_gives_up_on_sessions_after_the_grace_period() {
    let limits = Limits { shutdown_grace: Duration::from_millis(300), ..Limits::default() };
    let r = start(&["smtp"], limits, Duration::from_secs(3600)).await;
    let mut stuck = TcpStream::connect(r.addrs[0].1).await.expect("connect");
    assert_eq!(read_line(&mut stuck).await, "hello plain");
    let started = Instant::now();
    r.stop.send(()).expect("stop");
    r.task.await.expect("serve returns");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn a_port_in_use_is_named_with_the_fix() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let listen = Listen { imap: vec![addr], ..Listen::default() };
    let err = bind_all(&listen).err().expect("bind must fail");
    assert!(err.contains(&format!("cannot listen for imap on {addr}")), "{err}");
    assert!(err.contains("[listen] imap"), "{err}");
}
