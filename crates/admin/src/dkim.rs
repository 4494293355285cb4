//! DKIM keys (`caravel dkim generate`) and the DNS records a mail domain
//! should publish (`caravel dns`).

use caravel_store::address::normalize_domain;
use caravel_store::{now_secs, DkimKey};
use serde::Serialize;

use crate::client_setup::{ClientSetup, Security};
use crate::{Admin, AdminError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RFC 8463: small keys and signatures; not every receiver checks it yet.
    Ed25519,
    /// RFC 6376 with a 2048-bit key: checked by every receiver.
    Rsa,
}

impl Algorithm {
    pub fn parse(text: &str) -> Result<Algorithm> {
        match text.to_ascii_lowercase().as_str() {
            "ed25519" => Ok(Algorithm::Ed25519),
            "rsa" => Ok(Algorithm::Rsa),
            other => Err(AdminError(format!("{other:?} is not a DKIM algorithm: use ed25519 or rsa"))),
        }
    }
}

/// One record to publish, as a zone file line would say it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    /// What it is for, in plain words.
    pub why: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = caravel_auth::sasl::encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A new key pair: (algorithm tag, PKCS#8 PEM, the record's `p=` value).
fn generate(algorithm: Algorithm) -> Result<(&'static str, String, String)> {
    match algorithm {
        Algorithm::Ed25519 => {
            use ring::signature::KeyPair;
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| AdminError("cannot generate an Ed25519 key".into()))?;
            let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                .map_err(|_| AdminError("cannot read the new Ed25519 key".into()))?;
            // RFC 8463 §4.2: p= is the raw 32-byte public key.
            let public = caravel_auth::sasl::encode(pair.public_key().as_ref());
            Ok(("ed25519-sha256", pem("PRIVATE KEY", pkcs8.as_ref()), public))
        }
        Algorithm::Rsa => {
            use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
            let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
                .map_err(|e| AdminError(format!("cannot generate an RSA key: {e}")))?;
            let private = key
                .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .map_err(|e| AdminError(format!("cannot encode the RSA key: {e}")))?;
            // RFC 6376 §3.6.1: p= is the SubjectPublicKeyInfo, base64.
            let spki = key
                .to_public_key()
                .to_public_key_der()
                .map_err(|e| AdminError(format!("cannot encode the RSA public key: {e}")))?;
            Ok(("rsa-sha256", private.to_string(), caravel_auth::sasl::encode(spki.as_bytes())))
        }
    }
}

/// The TXT value of a key's record (RFC 6376 §3.6.1).
pub fn dkim_txt(key: &DkimKey) -> String {
    let k = if key.algorithm.starts_with("ed25519") { "ed25519" } else { "rsa" };
    format!("v=DKIM1; k={k}; p={}", key.public_key)
}

/// A TXT value as a zone file writes it: quoted character-strings of at
/// most 255 bytes each (RFC 1035 §3.3.14), side by side; receivers join
/// them again (RFC 6376 §3.6.2.2). An RSA-2048 key record needs two.
pub fn zone_strings(value: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let mut cut = rest.len().min(255);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        parts.push(format!("\"{}\"", &rest[..cut]));
        rest = &rest[cut..];
    }
    if parts.is_empty() {
        return "\"\"".into();
    }
    parts.join(" ")
}

impl Admin {
    /// A new signing key for `domain` under a fresh selector (an older key
    /// stays until deleted: rotation publishes the new record first).
    pub async fn dkim_generate(&self, domain: &str, algorithm: Algorithm) -> Result<DkimKey> {
        let domain = normalize_domain(domain)?;
        if !self.store.list_domains().await?.iter().any(|d| d.name == domain) {
            return Err(AdminError(format!("{domain} is not a domain served here (caravel domain add {domain})")));
        }
        let now = now_secs();
        let (y, m, d) = caravel_store::civil_from_days(now.div_euclid(86400));
        let letter = if algorithm == Algorithm::Ed25519 { 'e' } else { 'r' };
        let existing: Vec<String> = self.store.dkim_keys(&domain).await?.into_iter().map(|k| k.selector).collect();
        let base = format!("{letter}{y:04}{m:02}{d:02}");
        let selector = std::iter::once(base.clone())
            .chain(('b'..='z').map(|c| format!("{base}{c}")))
            .find(|s| !existing.contains(s))
            .ok_or_else(|| AdminError("too many keys made today; delete some first".into()))?;
        let (tag, private_key, public_key) = generate(algorithm)?;
        let key = DkimKey { domain, selector, algorithm: tag.into(), private_key, public_key, created: now };
        self.store.add_dkim_key(key.clone()).await?;
        Ok(key)
    }

    pub async fn queue_list(&self) -> Result<Vec<caravel_store::QueuedMessage>> {
        Ok(self.store.queued().await?)
    }

    /// Makes message `id` (every message: None) due now.
    pub async fn queue_retry(&self, id: Option<i64>) -> Result<u64> {
        Ok(self.store.retry_queued(id, now_secs()).await?)
    }

    pub async fn queue_del(&self, id: i64) -> Result<()> {
        Ok(self.store.del_queued(id).await?)
    }

    pub async fn dkim_keys(&self, domain: &str) -> Result<Vec<DkimKey>> {
        Ok(self.store.dkim_keys(&normalize_domain(domain)?).await?)
    }

    pub async fn dkim_del(&self, domain: &str, selector: &str) -> Result<()> {
        Ok(self.store.del_dkim_key(&normalize_domain(domain)?, selector).await?)
    }

    /// Every record `domain` should publish for mail to and from this server
    /// (`hostname`): MX, SPF, DKIM (each key), DMARC, MTA-STS, TLS-RPT and
    /// the client autoconfiguration SRV records (RFC 6186, RFC 8314).
    pub async fn dns_records(&self, domain: &str, setup: &ClientSetup) -> Result<Vec<DnsRecord>> {
        let hostname = setup.hostname.as_str();
        let domain = normalize_domain(domain)?;
        if !self.store.list_domains().await?.iter().any(|d| d.name == domain) {
            return Err(AdminError(format!("{domain} is not a domain served here (caravel domain add {domain})")));
        }
        let r = |name: String, kind: &str, value: String, why: &str| DnsRecord {
            name,
            kind: kind.into(),
            value,
            why: why.into(),
        };
        let mut out = vec![
            r(domain.clone(), "MX", format!("10 {hostname}."), "mail for the domain comes to this server"),
            r(hostname.to_string(), "A/AAAA", "this server's public address".into(), "where the MX name points"),
            r(
                domain.clone(),
                "TXT",
                "v=spf1 mx -all".into(),
                "SPF: only the MX server sends for the domain (add any other service that sends for you)",
            ),
        ];
        for key in self.store.dkim_keys(&domain).await? {
            out.push(r(
                format!("{}._domainkey.{domain}", key.selector),
                "TXT",
                dkim_txt(&key),
                "DKIM: receivers check the signature of mail from the domain",
            ));
        }
        let id = {
            let (y, m, d) = caravel_store::civil_from_days(now_secs().div_euclid(86400));
            format!("{y:04}{m:02}{d:02}")
        };
        out.extend([
            r(
                format!("_dmarc.{domain}"),
                "TXT",
                format!("v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:postmaster@{domain}"),
                "DMARC: receivers put mail that fails SPF and DKIM aside, and report to postmaster",
            ),
            r(
                format!("_mta-sts.{domain}"),
                "TXT",
                format!("v=STSv1; id={id}"),
                "MTA-STS: senders must use TLS to reach the MX (the policy is served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt)",
            ),
            r(
                format!("mta-sts.{domain}"),
                "CNAME",
                format!("{hostname}."),
                "where senders fetch the MTA-STS policy",
            ),
            r(
                format!("_smtp._tls.{domain}"),
                "TXT",
                format!("v=TLSRPTv1; rua=mailto:postmaster@{domain}"),
                "TLS-RPT: senders report TLS problems reaching the domain",
            ),
            r(format!("autoconfig.{domain}"), "CNAME", format!("{hostname}."), "Thunderbird's automatic set-up"),
            r(format!("autodiscover.{domain}"), "CNAME", format!("{hostname}."), "Outlook's automatic set-up"),
        ]);
        // RFC 6186 and RFC 8314 §5.1: where mail programs find each
        // service; TLS before STARTTLS, IMAP before POP3.
        for e in setup.incoming.iter().chain(&setup.outgoing) {
            let priority = if e.security == Security::Tls { 0 } else { 10 } + if e.protocol == "pop3" { 20 } else { 0 };
            out.push(r(
                format!("{}.{domain}", ClientSetup::srv_name(e)),
                "SRV",
                format!("{priority} 1 {} {hostname}.", e.port),
                match e.protocol {
                    "imap" => "mail programs find IMAP",
                    "pop3" => "mail programs find POP3",
                    _ => "mail programs find where to send",
                },
            ));
        }
        if let Some(port) = setup.https {
            out.push(r(
                format!("_autodiscover._tcp.{domain}"),
                "SRV",
                format!("0 1 {port} {hostname}."),
                "Outlook finds its automatic set-up",
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_strings_are_at_most_255_bytes() {
        assert_eq!(zone_strings("v=DKIM1; p=abc"), "\"v=DKIM1; p=abc\"");
        let long = "a".repeat(255) + "bc";
        assert_eq!(zone_strings(&long), format!("\"{}\" \"bc\"", "a".repeat(255)));
        assert_eq!(zone_strings(&"x".repeat(510)).matches('"').count(), 4);
        assert_eq!(zone_strings(""), "\"\"");
    }

    #[test]
    fn ed25519_keys_are_pkcs8_and_32_byte_public_keys() {
        let (tag, private, public) = generate(Algorithm::Ed25519).expect("key");
        assert_eq!(tag, "ed25519-sha256");
        assert!(
            private.starts_with("-----BEGIN PRIVATE KEY-----\n") && private.ends_with("-----END PRIVATE KEY-----\n")
        );
        let raw = caravel_auth::sasl::decode_base64(public.as_bytes()).expect("base64");
        assert_eq!(raw.len(), 32);
        // The private key reads back and gives the same public key.
        use ring::signature::KeyPair;
        let body: String = private.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = caravel_auth::sasl::decode_base64(body.as_bytes()).expect("der");
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(&der).expect("pkcs8");
        assert_eq!(pair.public_key().as_ref(), &raw[..]);
    }

    #[test]
    fn rsa_keys_are_2048_bits_with_an_spki_record() {
        use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
        use rsa::traits::PublicKeyParts;
        let (tag, private, public) = generate(Algorithm::Rsa).expect("key");
        assert_eq!(tag, "rsa-sha256");
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(&private).expect("pkcs8");
        assert_eq!(key.size() * 8, 2048);
        let spki = caravel_auth::sasl::decode_base64(public.as_bytes()).expect("base64");
        assert_eq!(rsa::RsaPublicKey::from_public_key_der(&spki).expect("spki"), key.to_public_key());
    }

    #[test]
    fn algorithm_names() {
        assert_eq!(Algorithm::parse("ED25519").expect("ed"), Algorithm::Ed25519);
        assert!(Algorithm::parse("dsa").is_err());
    }
}
