//! The trace header added to every accepted message (RFC 5321 §4.4, RFC 3848
//! protocol names, RFC 6531 §3.7.3 for SMTPUTF8) and RFC 5322 dates.

use std::net::IpAddr;

pub struct TraceInfo<'a> {
    pub helo: &'a str,
    pub peer: IpAddr,
    pub hostname: &'a str,
    pub esmtp: bool,
    pub tls: Option<&'a str>,
    pub authenticated: bool,
    pub smtputf8: bool,
    pub id: &'a str,
    /// Named only when the message has one recipient (no leak between them).
    pub single_recipient: Option<&'a str>,
    pub now: i64,
}

/// The protocol keyword: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTP...
pub fn protocol(esmtp: bool, tls: bool, auth: bool, utf8: bool) -> String {
    let base = match (utf8, esmtp) {
        (true, _) => "UTF8SMTP",
        (false, true) => "ESMTP",
        (false, false) => "SMTP",
    };
    format!("{base}{}{}", if tls { "S" } else { "" }, if auth { "A" } else { "" })
}

pub fn received_header(t: &TraceInfo) -> String {
    let ip = match t.peer {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("IPv6:{v6}"),
    };
    let helo: String = t.helo.chars().filter(|c| !c.is_control() && *c != '(' && *c != ')').take(255).collect();
    let mut h = format!("Received: from {helo} ([{ip}])\r\n\tby {} (Caravel)", t.hostname);
    h.push_str(&format!(" with {}", protocol(t.esmtp, t.tls.is_some(), t.authenticated, t.smtputf8)));
    if let Some(tls) = t.tls {
        h.push_str(&format!(" ({tls})"));
    }
    h.push_str(&format!("\r\n\tid {}", t.id));
    if let Some(rcpt) = t.single_recipient {
        h.push_str(&format!("\r\n\tfor <{rcpt}>"));
    }
    h.push_str(&format!("; {}\r\n", rfc5322_date(t.now)));
    h
}

pub use caravel_store::rfc5322_date;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(1_795_873_001), "Sat, 28 Nov 2026 13:36:41 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn protocols() {
        assert_eq!(protocol(true, true, true, false), "ESMTPSA");
        assert_eq!(protocol(false, false, false, false), "SMTP");
        assert_eq!(protocol(true, true, false, true), "UTF8SMTPS");
    }

    #[test]
    fn header() {
        let h = received_header(&TraceInfo {
            helo: "client.example.org",
            peer: "192.0.2.7".parse().expect("ip"),
            hostname: "mail.example.test",
            esmtp: true,
            tls: Some("TLSv1_3 TLS13_AES_256_GCM_SHA384"),
            authenticated: false,
            smtputf8: false,
            id: "abc123",
            single_recipient: Some("alice@example.test"),
            now: 0,
        });
        assert_eq!(
            h,
            "Received: from client.example.org ([192.0.2.7])\r\n\tby mail.example.test (Caravel) with ESMTPS (TLSv1_3 TLS13_AES_256_GCM_SHA384)\r\n\tid abc123\r\n\tfor <alice@example.test>; Thu, 1 Jan 1970 00:00:00 +0000\r\n"
        );
    }
}
