//! IMAP4rev2 / IMAP4rev1: the command receiver and parser, the session state
//! machine, and the tokio driver.

pub mod command;
pub mod cursor;
pub mod fetch;
pub mod receiver;
pub mod search;
