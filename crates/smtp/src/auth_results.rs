//! The fields a message from outside must not bring (forged
//! `Authentication-Results` naming us, other filters' verdicts), removed
//! before it is stored: in `caravel_filter::verdict_fields`, which the
//! console also uses.

pub use caravel_filter::verdict_fields::{strip_forged, strip_verdicts};
