//! The IMAP side of the shared connection driver (`caravel_net::driver`):
//! feeds the receiver (line and literal framing), runs commands, sends
//! continuation requests for literals, performs STARTTLS, COMPRESS and IDLE.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caravel_net::driver::CorruptStream;
use caravel_net::{Connection, End, Handler, Layer, Service, Session as NetSession, Stream, Transport};
use tokio::io::AsyncWriteExt;

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

/// COMPRESS=DEFLATE (RFC 4978) as a layer of the connection driver.
impl Layer for Deflate {
    fn encode(&mut self, plain: &[u8], wire: &mut Vec<u8>) {
        self.compress(plain, wire);
    }
    fn decode(&mut self, wire: &[u8], plain: &mut Vec<u8>) -> Result<(), CorruptStream> {
        self.decompress(wire, plain).map_err(|_| CorruptStream)
    }
}

/// Reads what the client sends next into the receiver.
async fn read<S: Transport>(
    conn: &mut Connection<S>,
    receiver: &mut Receiver,
    timeout: Duration,
    shutdown: Option<&mut caravel_net::Shutdown>,
) -> Result<(), End> {
    conn.fill(timeout, shutdown).await?;
    receiver.feed(&std::mem::take(conn.input()));
    Ok(())
}

impl ImapServer {
    /// Runs one IMAP session over `stream` to its end.
    pub async fn serve_connection<S: Transport>(&self, net: NetSession, stream: S) {
        let mut session = Session::new(self.ctx.clone(), stream.is_tls(), net.peer.ip());
        // A client that stops reading is dropped after the idle timeout.
        let mut conn = Connection::new(stream, self.idle_timeout);
        conn.send(&session.greeting());
        // Until sign-in, literals are small (a user name, a password).
        let mut receiver = Receiver::new(MAX_LINE, PRE_AUTH_LITERAL);
        let mut next = Next::Command;
        let mut shutdown = net.shutdown.clone();
        // When the client last sent something (the idle timeout runs from it).
        let mut idle_since = tokio::time::Instant::now();
        loop {
            match next.clone() {
                Next::Close => break,
                Next::StartTls => {
                    // RFC 9051 §6.2.1: nothing pipelined before the handshake counts.
                    receiver.clear();
                    if conn.start_tls(&net.tls, Duration::from_secs(30)).await.is_err() {
                        return;
                    }
                    session.tls_started();
                    next = Next::Command;
                    continue;
                }
                Next::Resume => {
                    if conn.flush().await.is_err() {
                        return;
                    }
                    let step = session.resume().await;
                    conn.send(&step.out);
                    next = step.next;
                    continue;
                }
                Next::Compress => {
                    // RFC 4978 §3: compression starts right after the tagged OK;
                    // bytes the client pipelined after COMPRESS are compressed.
                    if conn.flush().await.is_err() {
                        return;
                    }
                    *conn.input() = receiver.take_pending();
                    if conn.start_layer(Box::<Deflate>::default()).is_err() {
                        return;
                    }
                    receiver.feed(&std::mem::take(conn.input()));
                    next = Next::Command;
                    continue;
                }
                Next::Idle(tag) => {
                    if conn.flush().await.is_err() {
                        return;
                    }
                    // New mail may have come between the command and now.
                    conn.send(&session.idle_sync().await);
                    loop {
                        if conn.flush().await.is_err() {
                            return;
                        }
                        if let Some(ev) = receiver.next_event() {
                            match ev {
                                Event::Command(line) if line.trim_ascii().eq_ignore_ascii_case(b"DONE") => {
                                    conn.send(format!("{tag} OK IDLE terminated\r\n").as_bytes());
                                }
                                _ => conn.send(format!("{tag} BAD Expected DONE\r\n").as_bytes()),
                            }
                            break;
                        }
                        tokio::select! {
                            r = read(&mut conn, &mut receiver, self.idle_timeout, None) => match r {
                                Ok(()) => {}
                                Err(End::Timeout) => {
                                    conn.send(&session.timeout_reply());
                                    conn.close().await;
                                    return;
                                }
                                Err(_) => return,
                            },
                            _ = session.idle_wait() => conn.send(&session.idle_sync().await),
                            _ = shutdown.requested() => {
                                conn.send(&session.shutdown_reply());
                                conn.close().await;
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
                    conn.send(b"+ Ready for literal data\r\n");
                    if conn.flush().await.is_err() {
                        return;
                    }
                    continue;
                }
                Some(Event::TooLong { tag, literal }) => session.too_long(tag.as_deref(), literal),
                None => {
                    if conn.flush().await.is_err() {
                        return;
                    }
                    // Shutdown is noticed between commands, not during SASL.
                    let between = matches!(next, Next::Command);
                    let watch = if between { Some(&mut shutdown) } else { None };
                    let quiet_for = idle_since.elapsed();
                    let left = self.idle_timeout.saturating_sub(quiet_for).max(Duration::from_millis(1));
                    let notify = between && receiver.between_commands() && session.notify_active();
                    let read = read(&mut conn, &mut receiver, left, watch);
                    // With NOTIFY set, events go out between commands too (RFC 5465 §5);
                    // they do not count as the client being active.
                    let got = if notify {
                        tokio::select! {
                            r = read => Some(r),
                            _ = session.notify_wait() => None,
                        }
                    } else {
                        Some(read.await)
                    };
                    let Some(got) = got else {
                        let events = session.notify_sync().await;
                        conn.send(&events);
                        continue;
                    };
                    match got {
                        Ok(()) => idle_since = tokio::time::Instant::now(),
                        Err(End::Gone) => return,
                        Err(End::Timeout) => {
                            conn.send(&session.timeout_reply());
                            break;
                        }
                        Err(End::Shutdown) => {
                            conn.send(&session.shutdown_reply());
                            break;
                        }
                    }
                    continue;
                }
            };
            if step.auth_failed {
                conn.refuse_after_pause(self.auth_failure_delay, &step.out).await;
            } else {
                conn.send(&step.out);
            }
            if session.signed_in() {
                receiver.set_max_literal(self.ctx.config.max_message_size as usize);
            }
            next = step.next;
        }
        conn.close().await;
    }
}

#[async_trait]
impl Handler for ImapServer {
    async fn handle(&self, session: NetSession, stream: Stream) {
        self.serve_connection(session, stream).await
    }

    async fn refuse(&self, service: Service, mut stream: Stream) {
        if service != Service::Imaps {
            let _ = stream.write_all(b"* BYE [UNAVAILABLE] Too many connections from your address\r\n").await;
        }
        let _ = stream.shutdown().await;
    }
}
