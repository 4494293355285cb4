//! The tokio driver for POP3 sessions: lines in, replies out (flushed when no
//! complete command is waiting, for PIPELINING), STLS, timeouts.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caravel_net::{Handler, Service, Session as NetSession, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backend::Maildrops;
use crate::session::{Config, Locks, Next, Session};

/// Longest command line, CRLF included (RFC 2449 §4: 255).
const MAX_COMMAND_LINE: usize = 255;
/// Longest SASL response line.
const MAX_AUTH_LINE: usize = 12288;

pub struct Pop3Server<M: Maildrops> {
    pub config: Arc<Config>,
    pub maildrops: Arc<M>,
    pub locks: Locks,
    /// RFC 1939 §3: at least 10 minutes of inactivity before closing.
    pub idle_timeout: Duration,
    pub auth_failure_delay: Duration,
}

impl<M: Maildrops> Pop3Server<M> {
    async fn run(&self, net: NetSession, mut stream: Stream) {
        let mut session = Session::new(
            self.config.clone(),
            self.maildrops.clone(),
            self.locks.clone(),
            stream.is_tls(),
            net.peer.ip(),
        );
        let mut out = session.greeting();
        let mut buf: Vec<u8> = Vec::new();
        let mut next = Next::Command;
        let mut discarding = false;
        let mut shutdown = net.shutdown.clone();
        loop {
            match next {
                Next::Close => break,
                Next::StartTls => {
                    if !send(&mut stream, &mut out, self.idle_timeout).await {
                        return;
                    }
                    // Nothing sent before the handshake counts after it (RFC 2595 §4).
                    buf.clear();
                    if stream.upgrade(&net.tls, Duration::from_secs(30)).await.is_err() {
                        return;
                    }
                    session.tls_started();
                    next = Next::Command;
                    continue;
                }
                Next::Command | Next::AuthResponse => {}
            }
            let limit = if next == Next::AuthResponse { MAX_AUTH_LINE } else { MAX_COMMAND_LINE };
            if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let step = if std::mem::take(&mut discarding) || line.len() + 2 > limit {
                    session.line_too_long()
                } else {
                    session.line(&line).await
                };
                // The pause comes before the refusal: a guesser that opens a
                // new connection per try must wait for each answer.
                if step.auth_failed {
                    tokio::time::sleep(self.auth_failure_delay).await;
                }
                out.extend_from_slice(&step.reply);
                next = step.next;
                continue;
            }
            if buf.len() > limit {
                buf.clear();
                discarding = true;
            }
            if !out.is_empty() && !send(&mut stream, &mut out, self.idle_timeout).await {
                return;
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::select! {
                r = tokio::time::timeout(self.idle_timeout, stream.read(&mut chunk)) => r,
                _ = shutdown.requested(), if buf.is_empty() => {
                    out.extend_from_slice(&session.shutdown_reply());
                    break;
                }
            };
            match read {
                Err(_) => {
                    out.extend_from_slice(&session.timeout_reply());
                    break;
                }
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = send(&mut stream, &mut out, self.idle_timeout).await;
        let _ = stream.shutdown().await;
    }
}

/// Sends and clears `out`; false when the client is gone or has not taken
/// the bytes within `timeout` (a client that stops reading is dropped rather
/// than holding its session for ever).
async fn send(stream: &mut Stream, out: &mut Vec<u8>, timeout: Duration) -> bool {
    let sent = async { stream.write_all(out).await.is_ok() && stream.flush().await.is_ok() };
    let ok = tokio::time::timeout(timeout, sent).await.unwrap_or(false);
    out.clear();
    ok
}

#[async_trait]
impl<M: Maildrops> Handler for Pop3Server<M> {
    async fn handle(&self, session: NetSession, stream: Stream) {
        self.run(session, stream).await
    }

    async fn refuse(&self, service: Service, mut stream: Stream) {
        if service != Service::Pop3s {
            let _ = stream.write_all(b"-ERR [SYS/TEMP] Too many connections from your address\r\n").await;
        }
        let _ = stream.shutdown().await;
    }
}
