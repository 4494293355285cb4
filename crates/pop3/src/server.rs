//! The POP3 side of the shared connection driver (`caravel_net::driver`):
//! lines in, replies out (flushed when no complete command is waiting, for
//! PIPELINING), STLS, timeouts.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caravel_net::{Connection, End, Handler, Line, Service, Session as NetSession, Stream, Transport};
use tokio::io::AsyncWriteExt;

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
    /// Runs one POP3 session over `stream` to its end.
    pub async fn serve_connection<S: Transport>(&self, net: NetSession, stream: S) {
        let mut session = Session::new(
            self.config.clone(),
            self.maildrops.clone(),
            self.locks.clone(),
            stream.is_tls(),
            net.peer.ip(),
        );
        // A client that stops reading is dropped after the idle timeout.
        let mut conn = Connection::new(stream, self.idle_timeout);
        conn.send(&session.greeting());
        let mut next = Next::Command;
        let mut shutdown = net.shutdown.clone();
        loop {
            match next {
                Next::Close => break,
                Next::StartTls => {
                    if conn.start_tls(&net.tls, Duration::from_secs(30)).await.is_err() {
                        return;
                    }
                    session.tls_started();
                    next = Next::Command;
                    continue;
                }
                Next::Command | Next::AuthResponse => {}
            }
            let limit = if next == Next::AuthResponse { MAX_AUTH_LINE } else { MAX_COMMAND_LINE };
            let step = match conn.next_line(limit, self.idle_timeout, Some(&mut shutdown)).await {
                Ok(Line::Complete(line)) => session.line(&line).await,
                Ok(Line::TooLong) => session.line_too_long(),
                Err(End::Gone) => return,
                Err(End::Timeout) => {
                    conn.send(&session.timeout_reply());
                    break;
                }
                Err(End::Shutdown) => {
                    conn.send(&session.shutdown_reply());
                    break;
                }
            };
            if step.auth_failed {
                conn.refuse_after_pause(self.auth_failure_delay, &step.reply).await;
            } else {
                conn.send(&step.reply);
            }
            next = step.next;
        }
        conn.close().await;
    }
}

#[async_trait]
impl<M: Maildrops> Handler for Pop3Server<M> {
    async fn handle(&self, session: NetSession, stream: Stream) {
        self.serve_connection(session, stream).await
    }

    async fn refuse(&self, service: Service, mut stream: Stream) {
        if service != Service::Pop3s {
            let _ = stream.write_all(b"-ERR [SYS/TEMP] Too many connections from your address\r\n").await;
        }
        let _ = stream.shutdown().await;
    }
}
