//! The tokio driver: reads lines and data from the connection, feeds the
//! session, writes its replies (flushed when no complete command is waiting,
//! which is what PIPELINING needs), and performs STARTTLS.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caravel_net::{Handler, Service, Session as NetSession, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backend::Backend;
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

/// Why a connection ended early.
enum End {
    /// The client closed, or the connection broke.
    Gone,
    Timeout,
    Shutdown,
}

struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    out: Vec<u8>,
    /// A client that stops reading our replies is dropped after this long
    /// (else it would hold the session and its buffers for ever).
    write_timeout: Duration,
}

impl Conn {
    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            let send = async {
                self.stream.write_all(&self.out).await?;
                self.stream.flush().await
            };
            tokio::time::timeout(self.write_timeout, send)
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the client stopped reading"))??;
            self.out.clear();
        }
        Ok(())
    }

    fn push(&mut self, replies: &[Reply]) {
        for r in replies {
            self.out.extend_from_slice(&r.to_bytes());
        }
    }

    /// Reads more input into `buf`.
    async fn fill(&mut self, timeout: Duration, shutdown: Option<&mut caravel_net::Shutdown>) -> Result<(), End> {
        let mut chunk = [0u8; 16 * 1024];
        let read = self.stream.read(&mut chunk);
        let n = match shutdown {
            Some(s) => tokio::select! {
                r = tokio::time::timeout(timeout, read) => r,
                _ = s.requested() => return Err(End::Shutdown),
            },
            None => tokio::time::timeout(timeout, read).await,
        };
        match n {
            Err(_) => Err(End::Timeout),
            Ok(Ok(0)) | Ok(Err(_)) => Err(End::Gone),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }
}

impl<B: Backend> SmtpServer<B> {
    fn config(&self, service: Service) -> Arc<SessionConfig> {
        match service {
            Service::Submission => self.submission.clone(),
            Service::Submissions => self.submissions.clone(),
            _ => self.mx.clone(),
        }
    }

    async fn run(&self, net: NetSession, stream: Stream) {
        let tls = stream.tls_info();
        let mut session = Session::new(
            self.config(net.service),
            self.backend.clone(),
            self.pipeline.clone(),
            net.peer.ip(),
            net.id.clone(),
            tls,
        );
        let mut conn =
            Conn { stream, buf: Vec::new(), out: session.greeting().to_bytes(), write_timeout: self.timeouts.command };
        let mut shutdown = net.shutdown.clone();
        let end = self.drive(&mut session, &mut conn, &net, &mut shutdown).await;
        let last = match end {
            End::Gone => None,
            End::Timeout => Some(session.timeout_reply()),
            End::Shutdown => Some(session.shutdown_reply()),
        };
        if let Some(r) = last {
            conn.push(&[r]);
        }
        let _ = conn.flush().await;
        let _ = conn.stream.shutdown().await;
    }

    async fn drive(
        &self,
        session: &mut Session<B>,
        conn: &mut Conn,
        net: &NetSession,
        shutdown: &mut caravel_net::Shutdown,
    ) -> End {
        let mut next = Next::Command;
        // Skipping the rest of an over-long line.
        let mut discarding = false;
        loop {
            let step: Step = match next {
                Next::Close => {
                    let _ = conn.flush().await;
                    return End::Gone;
                }
                Next::StartTls => {
                    if conn.flush().await.is_err() {
                        return End::Gone;
                    }
                    // RFC 3207 §4.2 / CVE-2011-0411: nothing sent before the
                    // handshake may be taken as a command after it.
                    conn.buf.clear();
                    if conn.stream.upgrade(&net.tls, Duration::from_secs(30)).await.is_err() {
                        return End::Gone;
                    }
                    session.tls_started(conn.stream.tls_info().unwrap_or_default());
                    next = Next::Command;
                    continue;
                }
                Next::Command | Next::AuthResponse => {
                    let limit = if next == Next::AuthResponse { MAX_AUTH_LINE } else { MAX_COMMAND_LINE };
                    match conn.buf.iter().position(|&b| b == b'\n') {
                        Some(pos) => {
                            let mut line: Vec<u8> = conn.buf.drain(..=pos).collect();
                            line.pop();
                            if line.last() == Some(&b'\r') {
                                line.pop();
                            }
                            if std::mem::take(&mut discarding) || line.len() + 2 > limit {
                                session.line_too_long()
                            } else {
                                session.line(&line).await
                            }
                        }
                        None => {
                            if conn.buf.len() > limit {
                                conn.buf.clear();
                                discarding = true;
                            }
                            // Nothing complete is waiting: answer what was pipelined.
                            if conn.flush().await.is_err() {
                                return End::Gone;
                            }
                            let between_commands = next == Next::Command && conn.buf.is_empty();
                            let watch = if between_commands { Some(&mut *shutdown) } else { None };
                            if let Err(e) = conn.fill(self.timeouts.command, watch).await {
                                return e;
                            }
                            continue;
                        }
                    }
                }
                Next::Data => {
                    if conn.flush().await.is_err() {
                        return End::Gone;
                    }
                    let mut receiver = session.data_receiver();
                    loop {
                        match receiver.feed(&conn.buf) {
                            crate::data::Feed::More => {
                                conn.buf.clear();
                                if let Err(e) = conn.fill(self.timeouts.data, None).await {
                                    return e;
                                }
                            }
                            crate::data::Feed::Done { consumed, result } => {
                                conn.buf.drain(..consumed);
                                break session.data_done(result).await;
                            }
                        }
                    }
                }
                Next::Bdat { size, last } => {
                    let mut remaining = size;
                    loop {
                        let take = (remaining.min(conn.buf.len() as u64)) as usize;
                        session.bdat_piece(&conn.buf[..take]);
                        conn.buf.drain(..take);
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
            // The pause comes before the refusal: a guesser that opens a new
            // connection per try must wait for each answer.
            if step.auth_failed {
                tokio::time::sleep(self.timeouts.auth_failure_delay).await;
            }
            conn.push(&step.replies);
            next = step.next;
        }
    }
}

#[async_trait]
impl<B: Backend> Handler for SmtpServer<B> {
    async fn handle(&self, session: NetSession, stream: Stream) {
        self.run(session, stream).await
    }

    async fn refuse(&self, service: Service, mut stream: Stream) {
        if service != Service::Submissions {
            let r = Reply::new(421, "4.7.0", "Too many connections from your address, try again later");
            let _ = stream.write_all(&r.to_bytes()).await;
        }
        let _ = stream.shutdown().await;
    }
}

/// The session settings of each port from the configuration.
pub fn session_configs(
    hostname: &str,
    max_message_size: u64,
    smtp: &caravel_config::Smtp,
) -> (Arc<SessionConfig>, Arc<SessionConfig>, Arc<SessionConfig>) {
    let make = |kind: Kind| {
        Arc::new(SessionConfig {
            hostname: hostname.to_string(),
            kind,
            max_message_size,
            max_recipients: smtp.max_recipients,
            max_errors: smtp.max_errors,
            max_line_length: smtp.max_line_length,
            over_quota_permanent: smtp.over_quota_permanent,
        })
    };
    (make(Kind::Mx), make(Kind::Submission), make(Kind::Submissions))
}
