//! The tokio driver for IMAP sessions: feeds the receiver, runs commands,
//! sends continuation requests for literals, performs STARTTLS and IDLE.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caravel_net::{Handler, Service, Session as NetSession, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

async fn write(stream: &mut Stream, out: &mut Vec<u8>) -> bool {
    if out.is_empty() {
        return true;
    }
    let ok = stream.write_all(out).await.is_ok() && stream.flush().await.is_ok();
    out.clear();
    ok
}

impl ImapServer {
    async fn run(&self, net: NetSession, mut stream: Stream) {
        let mut session = Session::new(self.ctx.clone(), stream.is_tls());
        let mut out = session.greeting();
        // Until sign-in, literals are small (a user name, a password).
        let mut receiver = Receiver::new(MAX_LINE, PRE_AUTH_LITERAL);
        let mut next = Next::Command;
        let mut shutdown = net.shutdown.clone();
        let mut chunk = vec![0u8; 8 * 1024];
        loop {
            match next.clone() {
                Next::Close => break,
                Next::StartTls => {
                    if !write(&mut stream, &mut out).await {
                        return;
                    }
                    // RFC 9051 §6.2.1: nothing pipelined before the handshake counts.
                    receiver.clear();
                    if stream.upgrade(&net.tls, Duration::from_secs(30)).await.is_err() {
                        return;
                    }
                    session.tls_started();
                    next = Next::Command;
                    continue;
                }
                Next::Idle(tag) => {
                    if !write(&mut stream, &mut out).await {
                        return;
                    }
                    // New mail may have come between the command and now.
                    out.extend(session.idle_sync().await);
                    loop {
                        if !write(&mut stream, &mut out).await {
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
                            r = tokio::time::timeout(self.idle_timeout, stream.read(&mut chunk)) => match r {
                                Ok(Ok(n)) if n > 0 => receiver.feed(&chunk[..n]),
                                Ok(_) => return,
                                Err(_) => {
                                    out.extend(session.timeout_reply());
                                    let _ = write(&mut stream, &mut out).await;
                                    return;
                                }
                            },
                            _ = session.idle_wait() => out.extend(session.idle_sync().await),
                            _ = shutdown.requested() => {
                                out.extend(session.shutdown_reply());
                                let _ = write(&mut stream, &mut out).await;
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
                    if !write(&mut stream, &mut out).await {
                        return;
                    }
                    continue;
                }
                Some(Event::TooLong { tag, literal }) => session.too_long(tag.as_deref(), literal),
                None => {
                    if !write(&mut stream, &mut out).await {
                        return;
                    }
                    let between = matches!(next, Next::Command);
                    stream.quickack();
                    let read = tokio::select! {
                        r = tokio::time::timeout(self.idle_timeout, stream.read(&mut chunk)) => r,
                        _ = shutdown.requested(), if between => {
                            out.extend(session.shutdown_reply());
                            break;
                        }
                    };
                    match read {
                        Ok(Ok(n)) if n > 0 => receiver.feed(&chunk[..n]),
                        Ok(_) => return,
                        Err(_) => {
                            out.extend(session.timeout_reply());
                            break;
                        }
                    }
                    continue;
                }
            };
            out.extend(step.out);
            if session.signed_in() {
                receiver.set_max_literal(self.ctx.config.max_message_size as usize);
            }
            if step.auth_failed {
                if !write(&mut stream, &mut out).await {
                    return;
                }
                tokio::time::sleep(self.auth_failure_delay).await;
            }
            next = step.next;
        }
        let _ = write(&mut stream, &mut out).await;
        let _ = stream.shutdown().await;
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
