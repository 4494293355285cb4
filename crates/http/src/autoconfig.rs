//! Mail-program set-up from the address alone, and the MTA-STS policy:
//!
//! - Thunderbird's autoconfig (`/mail/config-v1.1.xml` at
//!   `autoconfig.DOMAIN`, `/.well-known/autoconfig/mail/config-v1.1.xml` at
//!   the domain itself; the `clientConfig` format of its ISPDB);
//! - Outlook's autodiscover, the "POX" form (a POST of the address, an
//!   `Autodiscover` answer with the IMAP/POP3 and SMTP servers);
//! - an Apple configuration profile (`com.apple.mail.managed`) that iOS and
//!   macOS install from Safari;
//! - `/.well-known/mta-sts.txt` for `mta-sts.DOMAIN` (RFC 8461 §3.2).
//!
//! Everything announced comes from the listeners ([`ClientSetup`]). They
//! answer for any address of a hosted domain, whether or not the account
//! exists (they say nothing about accounts), and 404 for other domains.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State as AxState};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use caravel_admin::client_setup::{ClientSetup, Endpoint, Security};
use caravel_store::Address;

use crate::State;

type St = AxState<Arc<State>>;
type Params = Query<HashMap<String, String>>;

/// Bytes of an autodiscover request read for the address.
const MAX_REQUEST: usize = 16 * 1024;

fn not_found(why: &str) -> Response {
    (StatusCode::NOT_FOUND, [(CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{why}\n")).into_response()
}

fn xml(body: String) -> Response {
    ([(CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response()
}

/// Escapes text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The Host header's name, lowercase, without a port.
fn host(headers: &HeaderMap) -> String {
    let h = headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let h = match h.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(']') => name,
        _ => h,
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// `domain` if it is served here.
async fn hosted(st: &State, domain: &str) -> Option<String> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let domains = st.store.list_domains().await.ok()?;
    domains.iter().any(|d| d.name == domain).then_some(domain)
}

/// The address a request names, if it is a valid one.
fn parse_address(text: &str) -> Option<Address> {
    Address::parse(text.trim()).ok()
}

/// Thunderbird sends `emailaddress`; without it the Host header names the
/// domain (`autoconfig.DOMAIN` or `DOMAIN`).
pub async fn thunderbird(AxState(st): St, Query(q): Params, headers: HeaderMap) -> Response {
    let domain = match q.get("emailaddress") {
        Some(a) => match parse_address(a) {
            Some(a) => a.domain.clone(),
            None => return not_found("not an email address"),
        },
        None => {
            let h = host(&headers);
            h.strip_prefix("autoconfig.").unwrap_or(&h).to_string()
        }
    };
    let Some(domain) = hosted(&st, &domain).await else { return not_found("no such domain here") };
    xml(thunderbird_xml(&st.setup, &domain))
}

fn socket_type(s: Security) -> &'static str {
    match s {
        Security::Tls => "SSL",
        Security::Starttls => "STARTTLS",
    }
}

/// The `clientConfig` document (Thunderbird's autoconfig format, version 1.1).
pub fn thunderbird_xml(setup: &ClientSetup, domain: &str) -> String {
    let d = escape(domain);
    let server = |kind: &str, e: &Endpoint| {
        format!(
            "    <{kind} type=\"{}\">\n      <hostname>{}</hostname>\n      <port>{}</port>\n      \
             <socketType>{}</socketType>\n      <authentication>password-cleartext</authentication>\n      \
             <username>%EMAILADDRESS%</username>\n    </{kind}>\n",
            e.protocol,
            escape(&setup.hostname),
            e.port,
            socket_type(e.security),
        )
    };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n  \
         <emailProvider id=\"{d}\">\n    <domain>{d}</domain>\n    <displayName>{d} mail</displayName>\n    \
         <displayShortName>{d}</displayShortName>\n"
    );
    for e in &setup.incoming {
        out.push_str(&server("incomingServer", e));
    }
    for e in &setup.outgoing {
        out.push_str(&server("outgoingServer", e));
    }
    out.push_str("  </emailProvider>\n</clientConfig>\n");
    out
}

/// The text between `<name>` and `</name>` (any namespace prefix), if any.
fn element<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let open = doc.find(&format!("{name}>"))?;
    let rest = &doc[open + name.len() + 1..];
    let end = rest.find("</")?;
    Some(rest[..end].trim())
}

/// Outlook's POX autodiscover: the request names the address in
/// `<EMailAddress>`; the answer lists the servers (MS-OXDSCLI §2.2.4).
pub async fn outlook(AxState(st): St, body: axum::body::Bytes) -> Response {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_REQUEST)]);
    let address = element(&text, "EMailAddress").and_then(parse_address);
    let Some(address) = address else { return xml(outlook_error("the request names no valid EMailAddress")) };
    let Some(_) = hosted(&st, &address.domain).await else {
        return xml(outlook_error("this server does not serve that address's domain"));
    };
    xml(outlook_xml(&st.setup, &address.to_string()))
}

const AUTODISCOVER_NS: &str = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
const OUTLOOK_NS: &str = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

fn outlook_error(why: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"{AUTODISCOVER_NS}\">\n  \
         <Response>\n    <Error>\n      <ErrorCode>600</ErrorCode>\n      <Message>Invalid Request</Message>\n      \
         <DebugData>{}</DebugData>\n    </Error>\n  </Response>\n</Autodiscover>\n",
        escape(why)
    )
}

pub fn outlook_xml(setup: &ClientSetup, address: &str) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"{AUTODISCOVER_NS}\">\n  \
         <Response xmlns=\"{OUTLOOK_NS}\">\n    <User>\n      <DisplayName>{a}</DisplayName>\n      \
         <AutoDiscoverSMTPAddress>{a}</AutoDiscoverSMTPAddress>\n    </User>\n    <Account>\n      \
         <AccountType>email</AccountType>\n      <Action>settings</Action>\n",
        a = escape(address)
    );
    // Outlook takes one server per protocol type: the preferred of each.
    for protocol in ["imap", "pop3", "smtp"] {
        let Some(e) = setup.preferred(protocol) else { continue };
        let tls = e.security == Security::Tls;
        out.push_str(&format!(
            "      <Protocol>\n        <Type>{}</Type>\n        <Server>{}</Server>\n        <Port>{}</Port>\n        \
             <LoginName>{}</LoginName>\n        <DomainRequired>off</DomainRequired>\n        <SPA>off</SPA>\n        \
             <SSL>{}</SSL>\n        <Encryption>{}</Encryption>\n        <AuthRequired>on</AuthRequired>\n      \
             </Protocol>\n",
            protocol.to_ascii_uppercase(),
            escape(&setup.hostname),
            e.port,
            escape(address),
            if tls { "on" } else { "off" },
            if tls { "SSL" } else { "TLS" },
        ));
    }
    out.push_str("    </Account>\n  </Response>\n</Autodiscover>\n");
    out
}

/// An Apple configuration profile for `?email=ADDRESS`, offered as a file
/// that Safari hands to Settings.
pub async fn apple(AxState(st): St, Query(q): Params) -> Response {
    let Some(address) = q.get("email").and_then(|a| parse_address(a)) else {
        return not_found("add ?email=YOUR-ADDRESS to the link");
    };
    let Some(_) = hosted(&st, &address.domain).await else { return not_found("no such domain here") };
    let Some(profile) = apple_profile(&st.setup, &address.to_string()) else {
        return not_found("this server offers no IMAP or POP3 with sending");
    };
    let file = format!("attachment; filename=\"{}.mobileconfig\"", address.domain);
    ([(CONTENT_TYPE, "application/x-apple-aspen-config".to_string()), (CONTENT_DISPOSITION, file)], profile)
        .into_response()
}

/// A stable UUID-shaped identifier for `seed`: reinstalling the profile for
/// the same address replaces the old one instead of adding a second.
fn uuid(seed: &str) -> String {
    let h = |salt: u64| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
        for b in seed.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    };
    let (a, b) = (h(1), h(2));
    format!(
        "{:08X}-{:04X}-4{:03X}-{:04X}-{:012X}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

pub fn apple_profile(setup: &ClientSetup, address: &str) -> Option<String> {
    let incoming = setup.incoming.first()?;
    let outgoing = setup.outgoing.first()?;
    let a = escape(address);
    let host = escape(&setup.hostname);
    let reverse: String = setup.hostname.split('.').rev().collect::<Vec<_>>().join(".");
    let id = escape(&format!("{reverse}.mail.{address}"));
    let kind = if incoming.protocol == "imap" { "EmailTypeIMAP" } else { "EmailTypePOP" };
    let ssl = |e: &Endpoint| if e.security == Security::Tls { "<true/>" } else { "<false/>" };
    Some(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
    <dict>
      <key>EmailAccountDescription</key><string>{a}</string>
      <key>EmailAccountType</key><string>{kind}</string>
      <key>EmailAddress</key><string>{a}</string>
      <key>IncomingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>IncomingMailServerHostName</key><string>{host}</string>
      <key>IncomingMailServerPortNumber</key><integer>{}</integer>
      <key>IncomingMailServerUseSSL</key>{}
      <key>IncomingMailServerUsername</key><string>{a}</string>
      <key>OutgoingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>OutgoingMailServerHostName</key><string>{host}</string>
      <key>OutgoingMailServerPortNumber</key><integer>{}</integer>
      <key>OutgoingMailServerUseSSL</key>{}
      <key>OutgoingMailServerUsername</key><string>{a}</string>
      <key>OutgoingPasswordSameAsIncomingPassword</key><true/>
      <key>PayloadDescription</key><string>Mail account {a}</string>
      <key>PayloadDisplayName</key><string>{a}</string>
      <key>PayloadIdentifier</key><string>{id}.account</string>
      <key>PayloadType</key><string>com.apple.mail.managed</string>
      <key>PayloadUUID</key><string>{}</string>
      <key>PayloadVersion</key><integer>1</integer>
    </dict>
  </array>
  <key>PayloadDescription</key><string>Sets up mail for {a} on {host}</string>
  <key>PayloadDisplayName</key><string>Mail: {a}</string>
  <key>PayloadIdentifier</key><string>{id}</string>
  <key>PayloadRemovalDisallowed</key><false/>
  <key>PayloadType</key><string>Configuration</string>
  <key>PayloadUUID</key><string>{}</string>
  <key>PayloadVersion</key><integer>1</integer>
</dict>
</plist>
"#,
        incoming.port,
        ssl(incoming),
        outgoing.port,
        ssl(outgoing),
        uuid(&format!("account:{address}")),
        uuid(&format!("profile:{address}")),
    ))
}

/// RFC 8461 §3.2: the policy of the domain the `mta-sts.` host name names.
pub async fn mta_sts(AxState(st): St, headers: HeaderMap) -> Response {
    let h = host(&headers);
    let Some(domain) = h.strip_prefix("mta-sts.") else {
        return not_found("the MTA-STS policy is served at https://mta-sts.YOUR-DOMAIN/.well-known/mta-sts.txt");
    };
    let Some(_) = hosted(&st, domain).await else { return not_found("no such domain here") };
    let body = mta_sts_policy(&st.setup.hostname, st.mta_sts.mode, st.mta_sts.max_age.as_secs());
    ([(CONTENT_TYPE, "text/plain")], body).into_response()
}

/// Lines end in CRLF (RFC 8461 §3.2's ABNF).
pub fn mta_sts_policy(mx: &str, mode: caravel_config::StsMode, max_age: u64) -> String {
    format!("version: STSv1\r\nmode: {}\r\nmx: {mx}\r\nmax_age: {max_age}\r\n", mode.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> ClientSetup {
        ClientSetup::new("mail.example.test", |k| match k {
            "imaps" => Some(993),
            "imap" => Some(143),
            "submission" => Some(587),
            _ => None,
        })
    }

    #[test]
    fn escapes_and_elements() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        let req = "<a:Request><a:EMailAddress> x@y.test </a:EMailAddress></a:Request>";
        assert_eq!(element(req, "EMailAddress"), Some("x@y.test"));
        assert_eq!(element("<EMailAddress>", "EMailAddress"), None);
    }

    #[test]
    fn outlook_gets_one_server_per_protocol() {
        let x = outlook_xml(&setup(), "a@example.test");
        assert_eq!(x.matches("<Protocol>").count(), 2, "{x}");
        assert!(x.contains("<Port>993</Port>") && !x.contains("<Port>143</Port>"), "{x}");
        assert!(x.contains("<Port>587</Port>\n        <LoginName>a@example.test</LoginName>"), "{x}");
        assert!(x.contains("<Encryption>TLS</Encryption>"), "STARTTLS on 587: {x}");
    }

    #[test]
    fn profile_ids_are_stable_and_uuid_shaped() {
        let u = uuid("account:a@example.test");
        assert_eq!(u, uuid("account:a@example.test"));
        assert_ne!(u, uuid("account:b@example.test"));
        let groups: Vec<usize> = u.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{u}");
        let p = apple_profile(&setup(), "a@example.test").expect("profile");
        assert!(p.contains("<integer>993</integer>") && p.contains("<integer>587</integer>"), "{p}");
        assert!(apple_profile(&ClientSetup::new("h", |_| None), "a@example.test").is_none());
    }

    #[test]
    fn host_without_port() {
        let mut h = HeaderMap::new();
        h.insert(HOST, "MTA-STS.Example.test:8443".parse().expect("header"));
        assert_eq!(host(&h), "mta-sts.example.test");
        h.insert(HOST, "[::1]".parse().expect("header"));
        assert_eq!(host(&h), "[::1]");
    }
}
