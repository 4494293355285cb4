//! The connection driver every line protocol shares (SMTP, POP3, IMAP): input
//! buffering with line framing and a length limit, read and write timeouts,
//! output buffering (flushed when no complete command is waiting, which is
//! what pipelining needs), the failed-sign-in pause before the refusal, an
//! optional compression layer, the STARTTLS upgrade, and an orderly close.
//! The protocols keep their session state machines (bytes in, replies out)
//! and only say which framing they need next.
//!
//! It is generic over the transport, so that its tests run over in-memory
//! streams.

use std::io;
use std::time::Duration;

use crate::tls::TlsAcceptor;
use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{Shutdown, Stream};

/// What a connection runs over: a socket ([`Stream`]) or, in tests, an
/// in-memory pipe.
#[async_trait]
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    /// STARTTLS/STLS: the server side of a TLS handshake, in place.
    async fn start_tls(&mut self, _acceptor: &TlsAcceptor, _timeout: Duration) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "this transport has no TLS"))
    }

    /// Called before each read (TCP quick-ACK, see [`Stream::quickack`]).
    fn before_read(&self) {}

    fn is_tls(&self) -> bool {
        false
    }

    /// The negotiated TLS version and cipher.
    fn tls_info(&self) -> Option<String> {
        None
    }
}

#[async_trait]
impl Transport for Stream {
    async fn start_tls(&mut self, acceptor: &TlsAcceptor, timeout: Duration) -> io::Result<()> {
        self.upgrade(acceptor, timeout).await
    }

    fn before_read(&self) {
        self.quickack();
    }

    fn is_tls(&self) -> bool {
        Stream::is_tls(self)
    }

    fn tls_info(&self) -> Option<String> {
        Stream::tls_info(self)
    }
}

#[async_trait]
impl Transport for tokio::io::DuplexStream {}

/// The peer's layered stream cannot be decoded: the connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptStream;

/// A transformation of the bytes on the wire (IMAP COMPRESS=DEFLATE).
pub trait Layer: Send {
    fn encode(&mut self, plain: &[u8], wire: &mut Vec<u8>);
    fn decode(&mut self, wire: &[u8], plain: &mut Vec<u8>) -> Result<(), CorruptStream>;
}

/// Why a connection ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client closed, the connection broke, or it stopped reading our
    /// replies for longer than the write timeout.
    Gone,
    /// Nothing arrived within the read timeout.
    Timeout,
    /// The server is shutting down (only noticed between commands).
    Shutdown,
}

/// One line of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Without its CRLF (or bare LF).
    Complete(Vec<u8>),
    /// Longer than the limit: consumed and dropped up to its end.
    TooLong,
}

pub struct Connection<S> {
    stream: S,
    input: Vec<u8>,
    output: Vec<u8>,
    wire: Vec<u8>,
    chunk: Box<[u8]>,
    layer: Option<Box<dyn Layer>>,
    /// Skipping the rest of an over-long line.
    discarding: bool,
    /// How long a write may wait for the client to take our bytes.
    write_timeout: Duration,
}

impl<S: Transport> Connection<S> {
    pub fn new(stream: S, write_timeout: Duration) -> Connection<S> {
        Connection {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            wire: Vec::new(),
            chunk: vec![0u8; 16 * 1024].into_boxed_slice(),
            layer: None,
            discarding: false,
            write_timeout,
        }
    }

    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// Bytes received and not yet consumed (DATA, BDAT and literals take
    /// them from here).
    pub fn input(&mut self) -> &mut Vec<u8> {
        &mut self.input
    }

    /// Queues bytes to send; they go out at the next flush.
    pub fn send(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    /// Whether a whole line is already buffered (a pipelined command).
    pub fn has_line(&self) -> bool {
        memchr_lf(&self.input).is_some()
    }

    /// The next line, up to `max` bytes with its line end. When none is
    /// buffered, what is queued is sent first (the replies to pipelined
    /// commands go out together), then input is read for at most
    /// `read_timeout`. `shutdown` is watched only while nothing is buffered:
    /// a command already received is always answered.
    pub async fn next_line(
        &mut self,
        max: usize,
        read_timeout: Duration,
        mut shutdown: Option<&mut Shutdown>,
    ) -> Result<Line, End> {
        loop {
            if let Some(pos) = memchr_lf(&self.input) {
                let mut line: Vec<u8> = self.input.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if std::mem::take(&mut self.discarding) || line.len() + 2 > max {
                    return Ok(Line::TooLong);
                }
                return Ok(Line::Complete(line));
            }
            if self.input.len() > max {
                // Keep no more of an over-long line than needed to find its end.
                self.input.clear();
                self.discarding = true;
            }
            self.flush().await?;
            let watch = if self.input.is_empty() { shutdown.as_deref_mut() } else { None };
            self.fill(read_timeout, watch).await?;
        }
    }

    /// Reads what the client sends next into [`Connection::input`].
    pub async fn fill(&mut self, read_timeout: Duration, shutdown: Option<&mut Shutdown>) -> Result<(), End> {
        self.stream.before_read();
        let read = self.stream.read(&mut self.chunk);
        let n = match shutdown {
            Some(s) => tokio::select! {
                r = tokio::time::timeout(read_timeout, read) => r,
                _ = s.requested() => return Err(End::Shutdown),
            },
            None => tokio::time::timeout(read_timeout, read).await,
        };
        let n = match n {
            Err(_) => return Err(End::Timeout),
            Ok(Ok(0)) | Ok(Err(_)) => return Err(End::Gone),
            Ok(Ok(n)) => n,
        };
        match &mut self.layer {
            Some(layer) => layer.decode(&self.chunk[..n], &mut self.input).map_err(|_| End::Gone),
            None => {
                self.input.extend_from_slice(&self.chunk[..n]);
                Ok(())
            }
        }
    }

    /// Sends what is queued, giving up (the client is gone) when it does not
    /// take it within the write timeout.
    pub async fn flush(&mut self) -> Result<(), End> {
        if self.output.is_empty() {
            return Ok(());
        }
        let bytes = match &mut self.layer {
            Some(layer) => {
                self.wire.clear();
                layer.encode(&self.output, &mut self.wire);
                &self.wire
            }
            None => &self.output,
        };
        let stream = &mut self.stream;
        let sent = async { stream.write_all(bytes).await.is_ok() && stream.flush().await.is_ok() };
        let ok = tokio::time::timeout(self.write_timeout, sent).await.unwrap_or(false);
        self.output.clear();
        if ok {
            Ok(())
        } else {
            Err(End::Gone)
        }
    }

    /// A failed sign-in: the pause comes first, then the refusal, so that a
    /// guesser that opens a new connection per try waits for every answer.
    pub async fn refuse_after_pause(&mut self, pause: Duration, refusal: &[u8]) {
        tokio::time::sleep(pause).await;
        self.send(refusal);
    }

    /// Starts a layer (compression) from the next byte on, in both
    /// directions; what was already received undecoded is decoded now.
    pub fn start_layer(&mut self, mut layer: Box<dyn Layer>) -> Result<(), End> {
        let pending = std::mem::take(&mut self.input);
        layer.decode(&pending, &mut self.input).map_err(|_| End::Gone)?;
        self.layer = Some(layer);
        Ok(())
    }

    /// STARTTLS: sends what is queued (the go-ahead), forgets everything the
    /// client sent before the handshake (RFC 3207 §4.2, RFC 2595 §4, RFC 9051
    /// §6.2.1: no command injection), and upgrades.
    pub async fn start_tls(&mut self, acceptor: &TlsAcceptor, timeout: Duration) -> Result<(), End> {
        self.flush().await?;
        self.input.clear();
        self.discarding = false;
        self.stream.start_tls(acceptor, timeout).await.map_err(|_| End::Gone)
    }

    /// Sends what is queued and closes, each within the write timeout: a
    /// TLS close_notify to a client that stopped reading must not hold the
    /// session either.
    pub async fn close(&mut self) {
        let _ = self.flush().await;
        let _ = tokio::time::timeout(self.write_timeout, self.stream.shutdown()).await;
    }
}

fn memchr_lf(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

#[cfg(test)]
mod tests;
