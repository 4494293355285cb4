//! `[delivery]`: the outbound queue's retry plan, connection limits and
//! timeouts, and where mail goes (MX, a per-domain route, or a smarthost).

use std::time::Duration;

use crate::reader::Reader;

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Waits after the 1st, 2nd ... failed attempt; the last repeats.
    pub retry: Vec<Duration>,
    /// Undelivered this long: the sender is told (once).
    pub delay_notice: Duration,
    /// Undelivered this long: given up, the sender gets a bounce.
    pub expire: Duration,
    /// Outbound connections at once.
    pub max_connections: usize,
    /// Outbound connections at once to one destination domain.
    pub max_connections_per_domain: usize,
    pub connect_timeout: Duration,
    /// Each reply (RFC 5321 §4.5.3.2 asks for at least 5 minutes); the
    /// reply after the message itself gets twice this.
    pub reply_timeout: Duration,
    /// The port of other domains' MX hosts: 25 (another port is for tests).
    pub mx_port: u16,
    /// The port MTA-STS policies are fetched from: 443 (another is for tests).
    pub https_port: u16,
    /// Everything not routed per domain goes here instead of the MX.
    pub smarthost: Option<Relay>,
    /// (domain, relay) pairs.
    pub routes: Vec<(String, Relay)>,
}

/// A host that takes our mail on to its destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    /// SMTP AUTH (only ever over TLS).
    pub user: Option<String>,
    pub password: Option<String>,
}

impl Default for Delivery {
    fn default() -> Self {
        let m = |n: u64| Duration::from_secs(60 * n);
        Delivery {
            retry: vec![m(1), m(5), m(15), m(30), m(60), m(120), m(240)],
            delay_notice: m(240),
            expire: Duration::from_secs(5 * 86_400),
            max_connections: 100,
            max_connections_per_domain: 10,
            connect_timeout: Duration::from_secs(60),
            reply_timeout: m(5),
            mx_port: 25,
            https_port: 443,
            smarthost: None,
            routes: Vec::new(),
        }
    }
}

const P: &str = "delivery";
const MAX_TIME: Duration = Duration::from_secs(30 * 86_400);

pub(crate) fn read(r: &mut Reader, t: &toml_edit::Table, d: &mut Delivery) {
    r.check_keys(
        t,
        P,
        &[
            "retry",
            "delay_notice",
            "expire",
            "max_connections",
            "max_connections_per_domain",
            "connect_timeout",
            "reply_timeout",
            "mx_port",
            "https_port",
            "smarthost",
            "routes",
        ],
    );
    if let Some(list) = r.parsed(t, P, "retry", |item| {
        let array = item.as_array().ok_or("expected a list of durations, e.g. [\"1m\", \"5m\", \"1h\"]")?;
        let waits = array
            .iter()
            .map(|v| match v.as_str() {
                Some(s) => crate::units::parse_duration(s),
                None => Err("each entry must be a duration in quotes, e.g. \"5m\"".into()),
            })
            .collect::<Result<Vec<_>, String>>()?;
        if waits.is_empty() || waits.iter().any(|w| w.is_zero() || *w > MAX_TIME) {
            return Err("give 1 or more waits, each from 1s to 30d".into());
        }
        Ok(waits)
    }) {
        d.retry = list;
    }
    for (key, field) in [
        ("delay_notice", &mut d.delay_notice),
        ("expire", &mut d.expire),
        ("connect_timeout", &mut d.connect_timeout),
        ("reply_timeout", &mut d.reply_timeout),
    ] {
        if let Some(v) = r.duration(t, P, key) {
            if v.is_zero() || v > MAX_TIME {
                r.error(&format!("{P}.{key}"), t.get(key).and_then(|i| i.span()), "must be from 1s to 30d");
            }
            *field = v.clamp(Duration::from_secs(1), MAX_TIME);
        }
    }
    for (key, field) in
        [("max_connections", &mut d.max_connections), ("max_connections_per_domain", &mut d.max_connections_per_domain)]
    {
        if let Some(v) = r.count(t, P, key) {
            if v == 0 || v > 10_000 {
                r.error(&format!("{P}.{key}"), t.get(key).and_then(|i| i.span()), "must be from 1 to 10000");
            }
            *field = v.clamp(1, 10_000) as usize;
        }
    }
    for (key, field) in [("mx_port", &mut d.mx_port), ("https_port", &mut d.https_port)] {
        if let Some(v) = r.count(t, P, key) {
            match u16::try_from(v) {
                Ok(p) if p > 0 => *field = p,
                _ => r.error(&format!("{P}.{key}"), t.get(key).and_then(|i| i.span()), "must be a port, 1 to 65535"),
            }
        }
    }
    if let Some(item) = t.get("smarthost") {
        d.smarthost = relay(r, item, "delivery.smarthost");
    }
    if let Some(routes) = r.table(t, "routes") {
        for (domain, item) in routes.iter() {
            let key = format!("delivery.routes.{domain}");
            if let Some(relay) = relay(r, item, &key) {
                d.routes.push((domain.trim_end_matches('.').to_ascii_lowercase(), relay));
            }
        }
    }
}

/// `"host:port"`, or `{ host = "...", port = 587, user = "...", password = "..." }`.
fn relay(r: &mut Reader, item: &toml_edit::Item, key: &str) -> Option<Relay> {
    if let Some(s) = item.as_str() {
        return match host_port(s) {
            Ok((host, port)) => Some(Relay { host, port, user: None, password: None }),
            Err(e) => {
                r.error(key, item.span(), e);
                None
            }
        };
    }
    let Some(t) = item.as_table_like() else {
        r.error(
            key,
            item.span(),
            "expected \"HOST:PORT\" or { host = \"...\", port = 587, user = \"...\", password = \"...\" }",
        );
        return None;
    };
    let mut out = Relay { host: String::new(), port: 25, user: None, password: None };
    for (k, v) in t.iter() {
        let field = format!("{key}.{k}");
        match (k, v.as_str(), v.as_integer()) {
            ("host", Some(h), _) if !h.is_empty() => out.host = h.to_ascii_lowercase(),
            ("port", _, Some(p)) if (1..=65535).contains(&p) => out.port = p as u16,
            ("user", Some(u), _) => out.user = Some(u.to_string()),
            ("password", Some(p), _) => out.password = Some(p.to_string()),
            ("host" | "port" | "user" | "password", _, _) => {
                r.error(&field, v.span(), "host and user and password are strings; port is 1 to 65535")
            }
            _ => r.error(&field, v.span(), "unknown key (known keys here: host, port, user, password)"),
        }
    }
    if out.host.is_empty() {
        r.error(key, item.span(), "host is missing");
        return None;
    }
    if out.user.is_some() != out.password.is_some() {
        r.error(key, item.span(), "set both user and password, or neither");
        return None;
    }
    Some(out)
}

fn host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s.rsplit_once(':').ok_or_else(|| format!("{s:?}: expected \"HOST:PORT\""))?;
    let port =
        port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("{s:?}: the port is not 1 to 65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{s:?}: the host is missing"));
    }
    Ok((host.to_ascii_lowercase(), port))
}
