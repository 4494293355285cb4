//! SMTP: the command codec, the DATA receiver and the session state machine,
//! free of I/O, and the tokio driver that runs them on a connection.

pub mod auth_results;
pub mod backend;
pub mod command;
pub mod data;
pub mod limits;
pub use caravel_filter::pipeline;
pub mod received;
pub mod reply;
pub mod server;
pub mod session;
pub mod store_backend;
pub mod submission;
mod user_settings;

#[cfg(test)]
mod session_tests;

pub use server::{session_configs, SmtpServer, Timeouts};
pub use store_backend::StoreBackend;
