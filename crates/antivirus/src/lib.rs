//! Caravel's virus scanner. It reads ClamAV's public signature formats
//! (`.hdb`, `.hsb`, `.ndb`, and those inside `.cvd`/`.cld` containers),
//! opens the containers malware arrives in (MIME parts, zip, gzip, bzip2,
//! tar, PDF streams, uuencode) within limits that make zip bombs a finding
//! rather than an outage, adds heuristics for what trade-mail malware looks
//! like, and can also ask a clamd daemon.
//!
//! Scanning is CPU work without I/O ([`Scanner`]); loading a database from
//! a directory ([`load_dir`]) and talking to clamd ([`clamd`]) are the only
//! parts that touch the outside.

pub mod anchors;
pub mod clamd;
pub mod containers;
pub mod cvd;
pub mod engine;
pub mod filetype;
pub mod heuristics;
pub mod hexsig;
pub mod install;
pub mod scan;
pub mod signatures;
pub mod uu;

mod load;

pub use containers::{Child, Limits};
pub use engine::{DbInfo, Engine};
pub use heuristics::Heuristic;
pub use load::{load_dir, load_dirs, Loaded};
pub use scan::{Finding, Report, Scanner};
pub use signatures::{Builder, Counts, Database};
