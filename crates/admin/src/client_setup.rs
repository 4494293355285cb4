//! What mail programs are told to use: the server's public name and the
//! port of each mail service it listens on. Thunderbird's autoconfig,
//! Outlook's autodiscover, the Apple profile, the SRV records of `caravel
//! dns` and the set-up page all read it from here, so they never disagree
//! with the listeners.

use serde::Serialize;

/// How a mail program protects one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (RFC 8314: preferred).
    Tls,
    /// STARTTLS / STLS before signing in.
    Starttls,
}

/// One server a mail program may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// "imap", "pop3" or "smtp".
    pub protocol: &'static str,
    pub port: u16,
    pub security: Security,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientSetup {
    pub hostname: String,
    /// Incoming servers, the preferred first: IMAP before POP3, implicit
    /// TLS before STARTTLS.
    pub incoming: Vec<Endpoint>,
    /// Sending servers, the preferred first.
    pub outgoing: Vec<Endpoint>,
    /// The HTTPS port (autodiscover, the MTA-STS policy, the console).
    pub https: Option<u16>,
}

/// (listener key, protocol, security), in the order of preference.
const SERVICES: [(&str, &str, Security); 6] = [
    ("imaps", "imap", Security::Tls),
    ("imap", "imap", Security::Starttls),
    ("pop3s", "pop3", Security::Tls),
    ("pop3", "pop3", Security::Starttls),
    ("submissions", "smtp", Security::Tls),
    ("submission", "smtp", Security::Starttls),
];

impl ClientSetup {
    /// From the listeners: `ports` gives each listener key's port (the
    /// first listener of a kind is the one announced).
    pub fn new(hostname: &str, ports: impl Fn(&str) -> Option<u16>) -> ClientSetup {
        let mut setup = ClientSetup { hostname: hostname.to_string(), ..ClientSetup::default() };
        for (key, protocol, security) in SERVICES {
            if let Some(port) = ports(key) {
                let e = Endpoint { protocol, port, security };
                if protocol == "smtp" {
                    setup.outgoing.push(e);
                } else {
                    setup.incoming.push(e);
                }
            }
        }
        setup.https = ports("https");
        setup
    }

    /// From the configuration's `[listen]` (what `caravel dns` announces).
    pub fn from_listen(hostname: &str, listen: &caravel_config::Listen) -> ClientSetup {
        ClientSetup::new(hostname, |key| listen.service(key).first().map(|a| a.port()))
    }

    /// The first endpoint of `protocol`.
    pub fn preferred(&self, protocol: &str) -> Option<&Endpoint> {
        self.incoming.iter().chain(&self.outgoing).find(|e| e.protocol == protocol)
    }

    /// The RFC 6186 / RFC 8314 SRV service name of an endpoint.
    pub fn srv_name(e: &Endpoint) -> &'static str {
        match (e.protocol, e.security) {
            ("imap", Security::Tls) => "_imaps._tcp",
            ("imap", _) => "_imap._tcp",
            ("pop3", Security::Tls) => "_pop3s._tcp",
            ("pop3", _) => "_pop3._tcp",
            (_, Security::Tls) => "_submissions._tcp",
            _ => "_submission._tcp",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferred_order_and_missing_listeners() {
        let ports = |key: &str| match key {
            "imap" => Some(1143),
            "imaps" => Some(1993),
            "submission" => Some(1587),
            _ => None,
        };
        let s = ClientSetup::new("mail.example.test", ports);
        assert_eq!(s.incoming.iter().map(|e| e.port).collect::<Vec<_>>(), [1993, 1143]);
        assert_eq!(s.preferred("smtp").map(|e| (e.port, e.security)), Some((1587, Security::Starttls)));
        assert!(s.preferred("pop3").is_none());
        assert_eq!(ClientSetup::srv_name(&s.incoming[1]), "_imap._tcp");
    }
}
