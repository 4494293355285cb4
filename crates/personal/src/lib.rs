//! What each user sets for their own mail: signatures put in at submission,
//! auto-replies (vacation, holidays, after hours, acknowledgements) and
//! mail rules applied at delivery. The MIME and scheduling logic here does
//! no I/O; the settings live in the store ([`caravel_store::Settings`]).

pub mod autoreply;
pub mod book;
pub mod compose;
pub mod delivery;
pub mod insert;
pub mod manage;
pub mod profile;
mod quote;
pub mod reply;
pub mod rules;
pub mod signature;
pub mod srs;
pub mod transfer;
