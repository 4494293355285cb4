//! The tokio driver for IMAP sessions: feeds the receiver, runs commands,
//! sends continuation requests for literals, performs STARTTLS and IDLE.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caravel_net::{Handler, Service, Session as NetSession, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::deflate::Deflate;
use crate::receiver::{Event, Receiver};
use crate::session::{Context, Next, Session};

/// Longest command line outside literals.
const MAX_LINE: usize = 64 * 1024;
/// Largest literal before sign-in.
const PRE_AUTH_LITERAL: usize = 8 * 1024;

pub struct ImapServer {
    pub ctx: Arc<Context>,
    /// RFC 9051 §5.4: at least 30 minutes.
    pub idle_timeout: Duration,
    pub auth_failure_delay: Duration,
}

/// The connection: the stream, plus DEFLATE once COMPRESS is active.
struct Conn {
    stream: Stream,
    deflate: Option<Box<Deflate>>,
    chunk: Vec<u8>,
    plain: Vec<u8>,
    wire: Vec<u8>,
    /// A client that stops reading is dropped after this long.
    write_timeout: Duration,
}

impl Conn {
    /// Sends and clears `out`; false if the client is gone.
    async fn write(&mut self, out: &mut Vec<u8>) -> bool {
        if out.is_empty() {
            return true;
        }
        let bytes = match &mut self.deflate {
            Some(d) => {
                self.wire.clear();
                d.compress(out, &mut self.wire);
                &self.wire
            }
            None => &*out,
        };
        let sent = async { self.stream.write_all(bytes).await.is_ok() && self.stream.flush().await.is_ok() };
        let ok = tokio::time::timeout(self.write_timeout, sent).await.unwrap_or(false);
        out.clear();
        ok
    }

    /// Reads what the client sent into the receiver; false at end of stream
    /// or on an error (including a corrupt compressed stream).
    async fn read(&mut self, receiver: &mut Receiver) -> bool {
        let n = match self.stream.read(&mut self.chunk).await {
            Ok(n) if n > 0 => n,
            _ => return false,
        };
        match &mut self.deflate {
            Some(d) => {
                self.plain.clear();
                if d.decompress(&self.chunk[..n], &mut self.plain).is_err() {
                    return false;
                }
                receiver.feed(&self.plain);
                self.plain = Vec::new();
            }
            None => receiver.feed(&self.chunk[..n]),
        }
        true
    }
}

impl ImapServer {
    async fn run(&self, net: NetSession, stream: Stream) {
        let mut session = Session::new(self.ctx.clone(), stream.is_tls(), net.peer.ip());
        let mut conn = Conn {
            stream,
            deflate: None,
            chunk: vec![0u8; 8 * 1024],
            plain: Vec::new(),
            wire: Vec::new(),
            write_timeout: self.idle_timeout,
        };
        let mut out = session.greeting();
        // Until sign-in, literals are small (a user name, a password).
        let mut receiver = Receiver::new(MAX_LINE, PRE_AUTH_LITERAL);
        let mut next = Next::Command;
        let mut shutdown = net.shutdown.clone();
        loop {
            match next.clone() {
                Next::Close => break,
                Next::StartTls => {
                    if !conn.write(&mut out).await {
                        return;
                    }
                    // RFC 9051 §6.2.1: nothing pipelined before the handshake counts.
                    receiver.clear();
                    if conn.stream.upgrade(&net.tls, Duration::from_secs(30)).await.is_err() {
                        return;
                    }
                    session.tls_started();
                    next = Next::Command;
                    continue;
                }
                Next::Resume => {
                    if !conn.write(&mut out).await {
                        return;
                    }
                    let step = session.resume().await;
                    out.extend(step.out);
                    next = step.next;
                    continue;
                }
                Next::Compress => {
                    // RFC 4978 §3: compression starts right after the tagged OK.
                    if !conn.write(&mut out).await {
                        return;
                    }
                    conn.deflate = Some(Box::default());
                    // Bytes the client pipelined after COMPRESS are compressed.
                    let pending = receiver.take_pending();
                    if let Some(d) = &mut conn.deflate {
                        let mut plain = Vec::new();
                        if d.decompress(&pending, &mut plain).is_err() {
                            return;
                        }
                        receiver.feed(&plain);
                    }
                    next = Next::Command;
                    continue;
                }
                Next::Idle(tag) => {
                    if !conn.write(&mut out).await {
                        return;
                    }
                    // New mail may have come between the command and now.
                    out.extend(session.idle_sync().await);
                    loop {
                        if !conn.write(&mut out).await {
                            return;
                        }
                        if let Some(ev) = receiver.next_event() {
                            match ev {
                                Event::Command(line) if line.trim_ascii().eq_ignore_ascii_case(b"DONE") => {
                                    out.extend(format!("{tag} OK IDLE terminated\r\n").into_bytes());
                                }
                                _ => out.extend(format!("{tag} BAD Expected DONE\r\n").into_bytes()),
                            }
                            break;
                        }
                        tokio::select! {
                            r = tokio::time::timeout(self.idle_timeout, conn.read(&mut receiver)) => match r {
                                Ok(true) => {}
                                Ok(false) => return,
                                Err(_) => {
                                    out.extend(session.timeout_reply());
                                    let _ = conn.write(&mut out).await;
                                    return;
                                }
                            },
                            _ = session.idle_wait() => out.extend(session.idle_sync().await),
                            _ = shutdown.requested() => {
                                out.extend(session.shutdown_reply());
                                let _ = conn.write(&mut out).await;
                                return;
                            }
                        }
                    }
                    next = Next::Command;
                    continue;
                }
                Next::Command | Next::AuthResponse(_) => {}
            }
            let step = match receiver.next_event() {
                Some(Event::Command(bytes)) => match &next {
                    Next::AuthResponse(tag) => {
                        let line = String::from_utf8_lossy(&bytes).trim_end().to_string();
                        session.sasl_response(tag, &line).await
                    }
                    _ => session.command(&bytes).await,
                },
                Some(Event::Continue) => {
                    out.extend_from_slice(b"+ Ready for literal data\r\n");
                    if !conn.write(&mut out).await {
                        return;
                    }
                    continue;
                }
                Some(Event::TooLong { tag, literal }) => session.too_long(tag.as_deref(), literal),
                None => {
                    if !conn.write(&mut out).await {
                        return;
                    }
                    let between = matches!(next, Next::Command);
                    conn.stream.quickack();
                    let read = tokio::select! {
                        r = tokio::time::timeout(self.idle_timeout, conn.read(&mut receiver)) => r,
                        _ = shutdown.requested(), if between => {
                            out.extend(session.shutdown_reply());
                            break;
                        }
                    };
                    match read {
                        Ok(true) => {}
                        Ok(false) => return,
                        Err(_) => {
                            out.extend(session.timeout_reply());
                            break;
                        }
                    }
                    continue;
                }
            };
            // The pause comes before the refusal: a guesser that opens a new
            // connection per try must wait for each answer.
            if step.auth_failed {
                tokio::time::sleep(self.auth_failure_delay).await;
            }
            out.extend(step.out);
            if session.signed_in() {
                receiver.set_max_literal(self.ctx.config.max_message_size as usize);
            }
            next = step.next;
        }
        let _ = conn.write(&mut out).await;
        let _ = conn.stream.shutdown().await;
    }
}

#[async_trait]
impl Handler for ImapServer {
    async fn handle(&self, session: NetSession, stream: Stream) {
        self.run(session, stream).await
    }

    async fn refuse(&self, service: Service, mut stream: Stream) {
        if service != Service::Imaps {
            let _ = stream.write_all(b"* BYE [UNAVAILABLE] Too many connections from your address\r\n").await;
        }
        let _ = stream.shutdown().await;
    }
}
