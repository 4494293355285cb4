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
