//! POP3 (RFC 1939 with CAPA, STLS, SASL PLAIN and UTF8): the command codec and
//! session state machine without I/O, and the tokio driver.

pub mod backend;
pub mod command;
pub mod server;
pub mod session;
pub mod store_backend;

#[cfg(test)]
mod session_tests;

pub use server::Pop3Server;
pub use session::{Config, Locks};
pub use store_backend::StoreMaildrops;
