//! The `caravel` binary's library half: wiring the crates into a server, the
//! admin commands, and the test harness that starts a whole server in-process.

pub mod antivirus;
pub mod av_commands;
pub mod cli;
pub mod commands;
pub mod dns_check;
pub mod dns_commands;
pub mod doctor;
pub mod import;
pub mod operations;
pub mod personal_commands;
pub mod progress;
mod router;
pub mod security_commands;
pub mod server;
pub mod sms;
pub mod spam_commands;
pub mod testing;
pub mod trace;
pub mod web_client;
pub mod web_submit;
