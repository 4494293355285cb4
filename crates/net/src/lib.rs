//! The listener framework every protocol shares: binding with clear errors, an
//! accept loop with connection limits, implicit TLS and STARTTLS, session ids,
//! and graceful shutdown. Protocols only implement [`Handler`].

pub mod driver;
mod limits;
mod listener;
mod stream;
pub mod tls;

pub use driver::{Connection, End, Layer, Line, Transport};
pub use limits::ConnectionLimits;
pub use listener::{bind_all, serve, BoundListener, Handler, Service, Session, Shutdown};
pub use stream::Stream;

/// Where to connect, from this machine, to reach a listener bound to
/// `addr`: a listener on every address (0.0.0.0, ::) is reached on
/// loopback (the doctor's and `/healthz`'s listener checks).
pub fn reachable_at(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::net::{IpAddr, Ipv6Addr, SocketAddr};
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    }
}
