//! DNSSEC-validated lookups for DANE (RFC 7672): a second resolver over the
//! same servers that checks signatures itself from trust anchors (the
//! IANA root keys, or the DNSKEY records of a file for a private root), so
//! an answer is only believed "secure" when its signatures chain to them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mail_auth::hickory_resolver::config::ResolverOpts;
use mail_auth::hickory_resolver::name_server::TokioConnectionProvider;
use mail_auth::hickory_resolver::proto::dnssec::{Algorithm, PublicKeyBuf, TrustAnchors};
use mail_auth::hickory_resolver::proto::rr::{RData, RecordType};
use mail_auth::hickory_resolver::proto::ProtoErrorKind;
use mail_auth::hickory_resolver::{Name, TokioResolver};

/// One TLSA record (RFC 6698 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

/// What a validated lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secure<T> {
    /// Signed, and the signatures chain to a trust anchor.
    Yes(T),
    /// Unsigned (or no such records): DNSSEC says nothing.
    No,
}

pub struct Validating {
    inner: TokioResolver,
}

impl Validating {
    /// `anchors`: DNSKEY records in zone-file form (None: the IANA root keys).
    pub fn new(servers: &[SocketAddr], timeout: Duration, anchors: Option<&str>) -> Result<Validating, String> {
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = 2;
        opts.validate = true;
        let mut builder = if servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| format!("cannot read the system's DNS settings: {e}"))?
        } else {
            TokioResolver::builder_with_config(crate::servers_config(servers), TokioConnectionProvider::default())
        }
        .with_options(opts);
        if let Some(text) = anchors {
            builder = builder.with_trust_anchor(Arc::new(parse_anchors(text)?));
        }
        Ok(Validating { inner: builder.build() })
    }

    /// The TLSA records at `_PORT._tcp.HOST` (RFC 7672 §2.2), if signed.
    pub async fn tlsa(&self, host: &str, port: u16) -> Result<Secure<Vec<Tlsa>>, String> {
        let name = format!("_{port}._tcp.{}.", host.trim_end_matches('.'));
        let records = match self.secure_lookup(&name, RecordType::TLSA).await? {
            Secure::Yes(records) => records,
            Secure::No => return Ok(Secure::No),
        };
        let tlsa = records
            .into_iter()
            .filter_map(|r| match r {
                RData::TLSA(t) => Some(Tlsa {
                    usage: t.cert_usage().into(),
                    selector: t.selector().into(),
                    matching: t.matching().into(),
                    data: t.cert_data().to_vec(),
                }),
                _ => None,
            })
            .collect();
        Ok(Secure::Yes(tlsa))
    }

    /// Whether the domain's MX records are signed (RFC 7672 §2.2.1: DANE
    /// applies only to MX hosts named by a secure MX lookup).
    pub async fn mx_is_secure(&self, domain: &str) -> Result<bool, String> {
        let name = format!("{}.", domain.trim_end_matches('.'));
        Ok(matches!(self.secure_lookup(&name, RecordType::MX).await?, Secure::Yes(r) if !r.is_empty()))
    }

    async fn secure_lookup(&self, name: &str, rtype: RecordType) -> Result<Secure<Vec<RData>>, String> {
        let name = Name::from_ascii(name).map_err(|e| format!("{name}: {e}"))?;
        match self.inner.lookup(name.clone(), rtype).await {
            Ok(lookup) => {
                let records = lookup.records();
                if !records.is_empty() && records.iter().all(|r| r.proof().is_secure()) {
                    Ok(Secure::Yes(
                        records.iter().filter(|r| r.record_type() == rtype).map(|r| r.data().clone()).collect(),
                    ))
                } else {
                    Ok(Secure::No)
                }
            }
            Err(e) if matches!(e.kind(), ProtoErrorKind::NoRecordsFound { .. }) && !is_bogus(&e) => Ok(Secure::No),
            Err(e) => Err(format!("DNSSEC lookup of {name} {rtype} failed: {e}")),
        }
    }
}

/// A validation failure shows as an error that mentions the proof.
fn is_bogus(e: &mail_auth::hickory_resolver::proto::ProtoError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("bogus") || text.contains("proof")
}

/// DNSKEY records ("NAME [TTL] [IN] DNSKEY FLAGS PROTOCOL ALGORITHM KEY"),
/// one per line; `;` starts a comment.
pub fn parse_anchors(text: &str) -> Result<TrustAnchors, String> {
    let mut anchors = TrustAnchors::empty();
    for line in text.lines() {
        let line = line.split(';').next().unwrap_or("");
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| w.eq_ignore_ascii_case("DNSKEY")) else { continue };
        let (Some(alg), Some(_)) = (words.get(at + 3), words.get(at + 4)) else {
            return Err(format!("a DNSKEY record needs flags, protocol, algorithm and key: {line:?}"));
        };
        let alg: u8 = alg.parse().map_err(|_| format!("algorithm {alg:?} is not a number"))?;
        let key = base64_decode(&words[at + 4..].concat()).ok_or("the key is not base64")?;
        anchors.insert(&PublicKeyBuf::new(key, Algorithm::from_u8(alg)));
    }
    if anchors.is_empty() {
        return Err("no DNSKEY record found".into());
    }
    Ok(anchors)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        acc = (acc << 6) | value(c)? as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::hickory_resolver::proto::dnssec::PublicKey;

    #[test]
    fn anchors_are_read_from_dnskey_records() {
        let t = parse_anchors(". 300 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0d xCjjnopKl+GqJxpVXckHAeF+KkxLbxIL fDLUT0rAK9iUzy1L53eKGQ== ; test key\n")
            .expect("anchor");
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(0).map(|k| k.public_bytes().len()), Some(64));
        assert!(parse_anchors("nothing here").is_err());
        assert_eq!(base64_decode("aGk="), Some(b"hi".to_vec()));
    }
}
