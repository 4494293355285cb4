//! A connection that is plain TCP or TLS, and can be upgraded by STARTTLS.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::tls::TlsAcceptor;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Taken out for a TLS upgrade; reads end, writes fail.
    Closed,
}

impl Stream {
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Performs the server side of a TLS handshake on a plain stream (implicit
    /// TLS at accept, or STARTTLS/STLS after the protocol's go-ahead). The
    /// caller must have discarded any bytes it buffered before the handshake
    /// (RFC 3207 §4.2: no STARTTLS command injection).
    pub async fn start_tls(self, acceptor: &TlsAcceptor) -> io::Result<Stream> {
        match self {
            Stream::Plain(tcp) => Ok(Stream::Tls(Box::new(acceptor.accept(tcp).await?))),
            Stream::Tls(_) => Err(io::Error::other("TLS is already active")),
            Stream::Closed => Err(io::Error::other("the connection is closed")),
        }
    }

    /// Asks the kernel to acknowledge what arrives next at once. Linux leaves
    /// quick-ACK mode by itself, so this is renewed before reads. Without it a
    /// client that sends a literal and its CRLF in two writes (Python's
    /// imaplib) waits out Nagle against our delayed ACK: 40 ms per APPEND.
    pub fn quickack(&self) {
        let tcp = match self {
            Stream::Plain(t) => t,
            Stream::Tls(t) => t.get_ref().0,
            Stream::Closed => return,
        };
        let _ = socket2::SockRef::from(tcp).set_tcp_quickack(true);
    }

    /// STARTTLS/STLS: upgrades this plain connection in place, giving up after
    /// `timeout`. On failure the stream is left closed.
    pub async fn upgrade(&mut self, acceptor: &TlsAcceptor, timeout: std::time::Duration) -> io::Result<()> {
        let plain = std::mem::replace(self, Stream::Closed);
        match tokio::time::timeout(timeout, plain.start_tls(acceptor)).await {
            Ok(Ok(tls)) => {
                *self = tls;
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
        }
    }

    /// The negotiated TLS version and cipher, for Received headers and logs.
    pub fn tls_info(&self) -> Option<String> {
        match self {
            Stream::Plain(_) | Stream::Closed => None,
            Stream::Tls(t) => {
                let (_, conn) = t.get_ref();
                Some(format!("{:?} {:?}", conn.protocol_version()?, conn.negotiated_cipher_suite()?.suite()))
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Closed => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Closed => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Closed => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}
