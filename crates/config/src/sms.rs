//! `[sms]`: text-message sign-in codes through the operator's SMS provider,
//! provider-neutral: Caravel POSTs `{"to": "+8613800138000", "code":
//! "123456", "text": "...", "purpose": "sign-in"}` as JSON to `webhook_url`
//! (with `Authorization: Bearer TOKEN` when `token` is set), and any 2xx
//! answer means sent. A small adapter on the provider's side (Twilio,
//! Alibaba Cloud SMS, Tencent Cloud SMS ...) turns it into their API call.

use std::time::Duration;

use crate::reader::Reader;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sms {
    /// None: no text-message codes.
    pub webhook_url: Option<String>,
    pub token: Option<String>,
    pub timeout: Duration,
}

const P: &str = "sms";

/// https://, or http:// to this machine only (a code must not cross the
/// network in clear text).
pub fn webhook_url_ok(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err("must start with https:// (or http:// to this machine)".into());
    };
    let hostport = rest.split(['/', '?']).next().unwrap_or("");
    let host = hostport.rsplit_once(':').filter(|(_, p)| p.parse::<u16>().is_ok()).map_or(hostport, |(h, _)| h);
    let local = host == "localhost"
        || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if local {
        Ok(())
    } else {
        Err("plain http:// is accepted for this machine only: use https://".into())
    }
}

pub(crate) fn read(r: &mut Reader, t: &toml_edit::Table, s: &mut Sms) {
    r.check_keys(t, P, &["webhook_url", "token", "timeout"]);
    s.timeout = Duration::from_secs(10);
    if let Some(url) = r.string(t, P, "webhook_url") {
        match webhook_url_ok(&url) {
            Ok(()) => s.webhook_url = Some(url),
            Err(e) => r.error("sms.webhook_url", t.get("webhook_url").and_then(|i| i.span()), e),
        }
    }
    s.token = r.string(t, P, "token");
    if let Some(d) = r.duration(t, P, "timeout") {
        s.timeout = d.max(Duration::from_secs(1));
    }
}
