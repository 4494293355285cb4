//! SMTP: the command codec, the DATA receiver and the session state machine,
//! free of I/O, and the tokio driver that runs them on a connection.

pub mod command;
pub mod data;
pub mod received;
pub mod reply;
