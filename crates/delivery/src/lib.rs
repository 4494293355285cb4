//! Outbound delivery, the parts that decide without doing I/O: when to try
//! a queued message again, where to take it (MX routing), and what to tell
//! the sender when it cannot be delivered (RFC 3464 reports). The worker
//! that connects to other servers drives these.

pub mod client;
pub mod dsn;
pub mod resolve;
pub mod route;
pub mod schedule;
pub mod transport;
