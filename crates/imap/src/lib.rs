//! IMAP4rev2 / IMAP4rev1: the command receiver and parser, the session state
//! machine, and the tokio driver.

pub mod append;
pub mod command;
pub mod context;
pub mod cursor;
pub mod deflate;
pub mod errors;
pub mod fetch;
pub mod fetch_run;
pub mod list;
pub mod notify;
pub mod receiver;
pub mod search;
pub mod selected;
pub mod server;
pub mod session;
pub mod sort;
pub mod url;
pub mod urlauth;
pub mod utf7;

pub use server::ImapServer;
pub use session::{Config, Context};
