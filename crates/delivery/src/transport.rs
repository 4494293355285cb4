//! The tokio driver of [`Client`]: one connection to one host, TLS when the
//! client asks for it, a timeout on every wait (RFC 5321 §4.5.3.2).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;

use crate::client::{Action, Client, Outcome};

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How long each step may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// Any reply (RFC 5321 §4.5.3.2 asks for 5 minutes); the reply to the
    /// end of the message gets twice this (10 minutes there).
    pub reply: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_secs(60), reply: Duration::from_secs(600) }
    }
}

pub use crate::tls::opportunistic_tls;

async fn connect(local: Option<IpAddr>, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let Some(local) = local else { return TcpStream::connect(addr).await };
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(local, 0))?;
    socket.connect(addr).await
}

/// Runs `client` over a connection to `addr` (`host` is the name for TLS
/// SNI) and returns each recipient's outcome.
pub async fn deliver(
    client: Client,
    addr: SocketAddr,
    host: &str,
    tls: Arc<ClientConfig>,
    t: Timeouts,
) -> Vec<Outcome> {
    deliver_from(client, None, addr, host, tls, t).await
}

/// [`deliver`] from the local address `local` (None: the system's choice).
pub async fn deliver_from(
    client: Client,
    local: Option<IpAddr>,
    addr: SocketAddr,
    host: &str,
    tls: Arc<ClientConfig>,
    t: Timeouts,
) -> Vec<Outcome> {
    attempt(client, local, addr, host, tls, t).await.outcomes
}

/// What one connection did.
pub struct Attempted {
    pub outcomes: Vec<Outcome>,
    /// MAIL FROM was sent: if not, another host of the domain is worth trying.
    pub began: bool,
    /// The server offered DSN.
    pub peer_reports: bool,
}

/// [`deliver_from`], also saying how far it got.
pub async fn attempt(
    mut client: Client,
    local: Option<IpAddr>,
    addr: SocketAddr,
    host: &str,
    tls: Arc<ClientConfig>,
    t: Timeouts,
) -> Attempted {
    let stream = match tokio::time::timeout(t.connect, connect(local, addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            client.connection_lost(&format!("cannot connect to {host} ({addr}): {e}"));
            return Attempted { outcomes: client.outcomes(), began: false, peer_reports: false };
        }
        Err(_) => {
            client.connection_lost(&format!("no answer from {host} ({addr})"));
            return Attempted { outcomes: client.outcomes(), began: false, peer_reports: false };
        }
    };
    let _ = stream.set_nodelay(true);
    // A server that trickles bytes or stops reading may not hold a
    // connection slot for ever: the whole attempt has a limit too.
    let limit = t.reply * ATTEMPT_REPLIES;
    if tokio::time::timeout(limit, converse(&mut client, Box::new(stream), addr, host, &tls, t)).await.is_err() {
        client.connection_lost(&format!("the attempt at {host} took longer than {} s", limit.as_secs()));
    }
    Attempted { outcomes: client.outcomes(), began: client.began_transaction(), peer_reports: client.peer_reports() }
}

/// Replies' worth of time a whole attempt may take.
const ATTEMPT_REPLIES: u32 = 6;

async fn converse(
    client: &mut Client,
    mut io: Box<dyn Io>,
    addr: SocketAddr,
    host: &str,
    tls: &Arc<ClientConfig>,
    t: Timeouts,
) {
    let mut buf = vec![0u8; 16 * 1024];
    while !client.is_done() {
        let wait = if client.awaiting_final_reply() { t.reply * 2 } else { t.reply };
        let n = match tokio::time::timeout(wait, io.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            Ok(_) => {
                client.connection_lost(&format!("{host} closed the connection"));
                return;
            }
            Err(_) => {
                client.connection_lost(&format!("{host} did not answer in time"));
                return;
            }
        };
        let mut actions = client.receive(&buf[..n]);
        while !actions.is_empty() {
            let mut next = Vec::new();
            for action in actions {
                match action {
                    Action::Send(bytes) => {
                        // A server that stops reading is cut off by the
                        // attempt's overall limit (see `attempt`).
                        if io.write_all(&bytes).await.is_err() || io.flush().await.is_err() {
                            client.connection_lost(&format!("{host} stopped taking data"));
                            return;
                        }
                    }
                    Action::StartTls => {
                        let name = match ServerName::try_from(host.to_string()) {
                            Ok(n) => n,
                            Err(_) => ServerName::IpAddress(addr.ip().into()),
                        };
                        let connector = TlsConnector::from(tls.clone());
                        // The plain stream is handed to TLS; the client made
                        // sure nothing was buffered past STARTTLS's reply.
                        let plain: Box<dyn Io> = std::mem::replace(&mut io, Box::new(tokio::io::empty()));
                        match tokio::time::timeout(t.reply, connector.connect(name, plain)).await {
                            Ok(Ok(s)) => io = Box::new(s),
                            Ok(Err(e)) => {
                                client.connection_lost(&format!("the TLS handshake with {host} failed: {e}"));
                                return;
                            }
                            Err(_) => {
                                client.connection_lost(&format!("the TLS handshake with {host} timed out"));
                                return;
                            }
                        }
                        next.extend(client.tls_started());
                    }
                    Action::Close => {
                        let _ = io.shutdown().await;
                        return;
                    }
                }
            }
            actions = next;
        }
    }
}
