//! Outbound delivery. Without I/O: when to try a queued message again
//! (`schedule`), where to take it (`route`), the SMTP client (`client`) and
//! what to tell the sender when it cannot be delivered (`dsn`). With I/O:
//! the MX lookup (`resolve`), MTA-STS policies (`mta_sts`), DANE (`dane`), one connection (`transport`), DKIM signing
//! (`sign`) and the queue worker that drives them all (`worker`).

pub mod client;
pub mod dane;
pub mod dsn;
pub mod mta_sts;
pub mod resolve;
pub mod route;
pub mod schedule;
pub mod sign;
mod tls;
pub mod transport;
pub mod worker;
