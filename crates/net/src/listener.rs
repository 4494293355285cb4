//! Binding, the accept loop, and graceful shutdown (mini-redis's
//! `run(listener, shutdown)` shape: a broadcast to stop, a channel whose
//! closing says every session has finished).

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::tls::TlsAcceptor;
use async_trait::async_trait;
use caravel_config::{Limits, Listen};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn, Instrument};

use crate::{ConnectionLimits, Stream};

/// How long a client has to complete an implicit-TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Smtp,
    Submission,
    Submissions,
    Imap,
    Imaps,
    Pop3,
    Pop3s,
    Http,
    Https,
}

impl Service {
    pub const ALL: [Service; 9] = [
        Service::Smtp,
        Service::Submission,
        Service::Submissions,
        Service::Imap,
        Service::Imaps,
        Service::Pop3,
        Service::Pop3s,
        Service::Http,
        Service::Https,
    ];

    /// The `[listen]` key.
    pub fn key(self) -> &'static str {
        match self {
            Service::Smtp => "smtp",
            Service::Submission => "submission",
            Service::Submissions => "submissions",
            Service::Imap => "imap",
            Service::Imaps => "imaps",
            Service::Pop3 => "pop3",
            Service::Pop3s => "pop3s",
            Service::Http => "http",
            Service::Https => "https",
        }
    }

    /// Whether TLS starts before the first byte (RFC 8314 §3.3).
    pub fn implicit_tls(self) -> bool {
        matches!(self, Service::Submissions | Service::Imaps | Service::Pop3s | Service::Https)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Resolves when shutdown has been requested.
#[derive(Clone)]
pub struct Shutdown(pub(crate) watch::Receiver<bool>);

impl Shutdown {
    /// A shutdown signal that fires when `rx` turns true (for sessions run
    /// outside a listener: tests and fuzzing).
    pub fn new(rx: watch::Receiver<bool>) -> Shutdown {
        Shutdown(rx)
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn requested(&mut self) {
        let _ = self.0.wait_for(|&stop| stop).await;
    }
}

/// What a protocol handler knows about its connection.
pub struct Session {
    /// Short id on every log line of this connection.
    pub id: String,
    pub service: Service,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub tls: TlsAcceptor,
    pub idle_timeout: Duration,
    pub shutdown: Shutdown,
}

/// A protocol: takes a connection and runs its session to the end.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, session: Session, stream: Stream);

    /// Tells a client it has too many connections open, in the protocol's
    /// words, before the connection is closed.
    async fn refuse(&self, service: Service, stream: Stream);
}

pub struct BoundListener {
    pub service: Service,
    pub addr: SocketAddr,
    listener: TcpListener,
}

/// Binds every configured listener, or says which one failed and what to do.
pub fn bind_all(listen: &Listen) -> Result<Vec<BoundListener>, String> {
    let mut out = Vec::new();
    for service in Service::ALL {
        for &addr in listen.service(service.key()) {
            let listener = bind(addr).map_err(|e| explain_bind_error(service, addr, &e))?;
            let addr = listener.local_addr().unwrap_or(addr);
            out.push(BoundListener { service, addr, listener });
        }
    }
    Ok(out)
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // "[::]:25" next to "0.0.0.0:25" must not collide: IPv6 sockets take IPv6 only.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

fn explain_bind_error(service: Service, addr: SocketAddr, e: &std::io::Error) -> String {
    let key = service.key();
    let advice = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "another program already listens there (see: ss -ltnp 'sport = :{}'); stop it, or change [listen] {key} in the configuration",
            addr.port()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "ports below 1024 need root or CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep caravel), or change [listen] {key} to a higher port"
        ),
        std::io::ErrorKind::AddrNotAvailable => {
            format!("this machine has no address {}; change [listen] {key}", addr.ip())
        }
        _ => format!("change [listen] {key} in the configuration"),
    };
    format!("cannot listen for {key} on {addr}: {e}; {advice}")
}

static SESSION_COUNTER: AtomicU64 = AtomicU64::new(1);

fn next_session_id() -> String {
    // Unique within a process run; the start time makes ids differ across runs.
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    });
    format!("{:x}{:04x}", start & 0xffff_ffff, SESSION_COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Serves every listener until `shutdown` resolves, then stops accepting, tells
/// open sessions to finish, waits up to `limits.shutdown_grace` for them, and
/// aborts those still running.
pub async fn serve(
    listeners: Vec<BoundListener>,
    handler: Arc<dyn Handler>,
    tls: TlsAcceptor,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let conn_limits = ConnectionLimits::new(limits.max_connections, limits.max_connections_per_ip);
    let mut accept_loops = Vec::new();
    for l in listeners {
        info!(service = %l.service, addr = %l.addr, "listening");
        let ctx = AcceptContext {
            handler: handler.clone(),
            tls: tls.clone(),
            limits: conn_limits.clone(),
            idle_timeout: limits.idle_timeout,
            shutdown: Shutdown(stop_rx.clone()),
            grace: limits.shutdown_grace,
        };
        accept_loops.push(tokio::spawn(accept_loop(l, ctx)));
    }
    shutdown.await;
    info!("shutting down: no new connections, letting open sessions finish");
    let _ = stop_tx.send(true);
    for a in accept_loops {
        let _ = a.await;
    }
}

struct AcceptContext {
    handler: Arc<dyn Handler>,
    tls: TlsAcceptor,
    limits: ConnectionLimits,
    idle_timeout: Duration,
    shutdown: Shutdown,
    grace: Duration,
}

async fn accept_loop(l: BoundListener, ctx: AcceptContext) {
    let mut sessions = JoinSet::new();
    let mut backoff = Duration::from_millis(10);
    let mut stop = ctx.shutdown.clone();
    loop {
        // Reap finished sessions so the set does not grow.
        while sessions.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = stop.requested() => break,
            a = l.listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(c) => {
                backoff = Duration::from_millis(10);
                c
            }
            Err(e) => {
                // EMFILE and friends: wait and retry rather than spin.
                warn!(service = %l.service, error = %e, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        // At the total limit, wait for a slot (the client waits; further
        // clients wait in the kernel's backlog meanwhile).
        let reserved = tokio::select! {
            _ = stop.requested() => break,
            r = ctx.limits.reserve() => match r { Some(r) => r, None => break },
        };
        let _ = tcp.set_nodelay(true);
        let id = next_session_id();
        let span = tracing::info_span!("session", id = %id, service = %l.service, peer = %peer);
        let handler = ctx.handler.clone();
        let metrics = caravel_metrics::global();
        let service_label = [("service", l.service.key())];
        let Some(slot) = ctx.limits.admit(peer.ip(), reserved) else {
            caravel_metrics::inc(&metrics.connections_refused, &service_label);
            warn!(parent: &span, "too many connections from this address; refused");
            sessions.spawn(async move { handler.refuse(l.service, Stream::Plain(tcp)).await }.instrument(span));
            continue;
        };
        let session = Session {
            id,
            service: l.service,
            peer,
            local: tcp.local_addr().unwrap_or(l.addr),
            tls: ctx.tls.clone(),
            idle_timeout: ctx.idle_timeout,
            shutdown: ctx.shutdown.clone(),
        };
        caravel_metrics::inc(&metrics.connections, &service_label);
        let open = caravel_metrics::Held::new(&metrics.connections_open, &service_label);
        sessions.spawn(
            async move {
                let _open = open;
                let started = Instant::now();
                info!("connected");
                let mut stream = Stream::Plain(tcp);
                if session.service.implicit_tls() {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, stream.start_tls(&session.tls)).await {
                        Ok(Ok(s)) => stream = s,
                        Ok(Err(e)) => {
                            info!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            info!("TLS handshake timed out");
                            return;
                        }
                    }
                }
                handler.handle(session, stream).await;
                info!(duration_ms = started.elapsed().as_millis() as u64, "closed");
                drop(slot);
            }
            .instrument(span),
        );
    }
    drop(l.listener);
    let open = sessions.len();
    let finished = tokio::time::timeout(ctx.grace, async { while sessions.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        warn!(service = %l.service, open, grace = ?ctx.grace, "sessions still open after the grace period; closing them");
    }
    // Dropping the set aborts whatever is left.
}
