//! `[mta_sts]`: the policy this server publishes for its hosted domains at
//! `https://mta-sts.DOMAIN/.well-known/mta-sts.txt` (RFC 8461 §3.2).

use std::time::Duration;

use crate::reader::Reader;

/// What senders do when TLS to our MX fails (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsMode {
    /// Refuse to deliver without valid TLS.
    Enforce,
    /// Deliver anyway, and report (TLS-RPT): the safe start while the
    /// certificate is not yet trusted everywhere.
    Testing,
    /// No policy (published to withdraw an earlier one).
    None,
}

impl StsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StsMode::Enforce => "enforce",
            StsMode::Testing => "testing",
            StsMode::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MtaSts {
    pub mode: StsMode,
    /// How long senders keep the policy (at most a year, RFC 8461 §3.2).
    pub max_age: Duration,
}

impl Default for MtaSts {
    fn default() -> Self {
        MtaSts { mode: StsMode::Testing, max_age: Duration::from_secs(7 * 86_400) }
    }
}

const P: &str = "mta_sts";
/// RFC 8461 §3.2: max_age is at most 31,557,600 seconds.
const MAX_AGE_LIMIT: u64 = 31_557_600;

pub(crate) fn read(r: &mut Reader, t: &toml_edit::Table, m: &mut MtaSts) {
    r.check_keys(t, P, &["mode", "max_age"]);
    if let Some(v) = r.parsed(t, P, "mode", |i| match i.as_str() {
        Some("enforce") => Ok(StsMode::Enforce),
        Some("testing") => Ok(StsMode::Testing),
        Some("none") => Ok(StsMode::None),
        _ => Err("expected \"enforce\", \"testing\" or \"none\"".to_string()),
    }) {
        m.mode = v;
    }
    if let Some(v) = r.duration(t, P, "max_age") {
        if v.as_secs() == 0 || v.as_secs() > MAX_AGE_LIMIT {
            let span = t.get("max_age").and_then(|i| i.span());
            r.error("mta_sts.max_age", span, "must be between 1 second and 365.25 days (RFC 8461)");
        } else {
            m.max_age = v;
        }
    }
}
