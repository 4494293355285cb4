//! The SMTP side of the shared connection driver (`caravel_net::driver`):
//! which framing comes next (command lines, DATA, BDAT chunks), fed to the
//! session state machine; its replies are flushed when no complete command
//! is waiting, which is what PIPELINING needs.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caravel_net::{Connection, End, Handler, Line, Service, Session as NetSession, Stream, Transport};
use tokio::io::AsyncWriteExt;

use crate::backend::Backend;
use crate::limits::{SendLimiter, SizeLimits};
use crate::pipeline::Pipeline;
use crate::reply::Reply;
use crate::session::{Kind, Next, Session, SessionConfig, Step};

/// Longest command line, CRLF included (RFC 5321 §4.5.3.1.4).
const MAX_COMMAND_LINE: usize = 512;
/// Longest SASL response line (RFC 4954 §4: at least 12288).
const MAX_AUTH_LINE: usize = 12288;

#[derive(Debug, Clone)]
pub struct Timeouts {
    /// Waiting for the next command (RFC 5321 §4.5.3.2.7: at least 5 minutes).
    pub command: Duration,
    /// Waiting for the next block of message data (§4.5.3.2.5: 3 minutes).
    pub data: Duration,
    /// Pause after a failed sign-in, against password guessing.
    pub auth_failure_delay: Duration,
}

pub struct SmtpServer<B: Backend> {
    pub mx: Arc<SessionConfig>,
    pub submission: Arc<SessionConfig>,
    pub submissions: Arc<SessionConfig>,
    pub backend: Arc<B>,
    pub pipeline: Arc<Pipeline>,
    pub timeouts: Timeouts,
}

impl<B: Backend> SmtpServer<B> {
    fn config(&self, service: Service) -> Arc<SessionConfig> {
        match service {
            Service::Submission => self.submission.clone(),
            Service::Submissions => self.submissions.clone(),
            _ => self.mx.clone(),
        }
    }

    /// Runs one SMTP session over `stream` to its end.
    pub async fn serve_connection<S: Transport>(&self, net: NetSession, stream: S) {
        let tls = stream.tls_info();
        let mut session = Session::new(
            self.config(net.service),
            self.backend.clone(),
            self.pipeline.clone(),
            net.peer.ip(),
            net.id.clone(),
            tls,
        );
        // A client that stops reading our replies is dropped after the
        // command timeout.
        let mut conn = Connection::new(stream, self.timeouts.command);
        conn.send(&session.greeting().to_bytes());
        let mut shutdown = net.shutdown.clone();
        let end = self.drive(&mut session, &mut conn, &net, &mut shutdown).await;
        let last = match end {
            End::Gone => None,
            End::Timeout => Some(session.timeout_reply()),
            End::Shutdown => Some(session.shutdown_reply()),
        };
        if let Some(r) = last {
            conn.send(&r.to_bytes());
        }
        conn.close().await;
    }

    async fn drive<S: Transport>(
        &self,
        session: &mut Session<B>,
        conn: &mut Connection<S>,
        net: &NetSession,
        shutdown: &mut caravel_net::Shutdown,
    ) -> End {
        let mut next = Next::Command;
        loop {
            let step: Step = match next {
                Next::Close => return End::Gone,
                Next::StartTls => {
                    if let Err(e) = conn.start_tls(&net.tls, Duration::from_secs(30)).await {
                        return e;
                    }
                    session.tls_started(conn.stream().tls_info().unwrap_or_default());
                    next = Next::Command;
                    continue;
                }
                Next::Command | Next::AuthResponse => {
                    let limit = if next == Next::AuthResponse { MAX_AUTH_LINE } else { MAX_COMMAND_LINE };
                    let watch = if next == Next::Command { Some(&mut *shutdown) } else { None };
                    match conn.next_line(limit, self.timeouts.command, watch).await {
                        Ok(Line::Complete(line)) => session.line(&line).await,
                        Ok(Line::TooLong) => session.line_too_long(),
                        Err(e) => return e,
                    }
                }
                Next::Data => {
                    // The 354 goes out before the data can come.
                    if let Err(e) = conn.flush().await {
                        return e;
                    }
                    let mut receiver = session.data_receiver();
                    loop {
                        match receiver.feed(conn.input()) {
                            crate::data::Feed::More => {
                                conn.input().clear();
                                if let Err(e) = conn.fill(self.timeouts.data, None).await {
                                    return e;
                                }
                            }
                            crate::data::Feed::Done { consumed, result } => {
                                conn.input().drain(..consumed);
                                break session.data_done(result).await;
                            }
                        }
                    }
                }
                Next::Bdat { size, last } => {
                    let mut remaining = size;
                    loop {
                        let input = conn.input();
                        let take = (remaining.min(input.len() as u64)) as usize;
                        session.bdat_piece(&input[..take]);
                        input.drain(..take);
                        remaining -= take as u64;
                        if remaining == 0 {
                            break;
                        }
                        if let Err(e) = conn.fill(self.timeouts.data, None).await {
                            return e;
                        }
                    }
                    session.bdat_end(size, last).await
                }
            };
            let replies: Vec<u8> = step.replies.iter().flat_map(|r| r.to_bytes()).collect();
            if step.auth_failed {
                conn.refuse_after_pause(self.timeouts.auth_failure_delay, &replies).await;
            } else {
                conn.send(&replies);
            }
            next = step.next;
        }
    }
}

#[async_trait]
impl<B: Backend> Handler for SmtpServer<B> {
    async fn handle(&self, session: NetSession, stream: Stream) {
        self.serve_connection(session, stream).await
    }

    async fn refuse(&self, service: Service, mut stream: Stream) {
        if service != Service::Submissions {
            let r = Reply::new(421, "4.7.0", "Too many connections from your address, try again later");
            let _ = stream.write_all(&r.to_bytes()).await;
        }
        let _ = stream.shutdown().await;
    }
}

/// The session settings of each port from the configuration. With
/// `shared` (a store other nodes use too) the hourly send limit is counted
/// there, across nodes.
pub fn session_configs(
    hostname: &str,
    limits: &caravel_config::Limits,
    smtp: &caravel_config::Smtp,
    shared: Option<Arc<dyn caravel_store::Coordination>>,
) -> (Arc<SessionConfig>, Arc<SessionConfig>, Arc<SessionConfig>) {
    let max_message_size = limits.max_message_size;
    let send_limiter = Arc::new(match shared {
        Some(store) => SendLimiter::shared(smtp.max_recipients_per_hour, store),
        None => SendLimiter::new(smtp.max_recipients_per_hour),
    });
    let size_limits = SizeLimits {
        global: max_message_size,
        domains: limits.domain_message_size.clone(),
        users: limits.user_message_size.clone(),
    };
    let make = |kind: Kind| {
        Arc::new(SessionConfig {
            hostname: hostname.to_string(),
            kind,
            max_message_size,
            max_recipients: smtp.max_recipients,
            max_errors: smtp.max_errors,
            max_line_length: smtp.max_line_length,
            over_quota_permanent: smtp.over_quota_permanent,
            size_limits: size_limits.clone(),
            send_limiter: send_limiter.clone(),
        })
    };
    (make(Kind::Mx), make(Kind::Submission), make(Kind::Submissions))
}
