//! DANE for SMTP (RFC 7672): when an MX host's TLSA records are signed
//! (DNSSEC), TLS is required and the certificate must match them.
//! DANE-EE(3) pins the server's own certificate or key, with no name or
//! expiry check (§3.1.1); DANE-TA(2) names the authority the chain must
//! lead to, and the host name is checked (§3.1.2). PKIX-TA(0) and PKIX-EE(1)
//! are unusable for SMTP (§3.1.3).

use std::sync::Arc;

use caravel_dns::dnssec::Tlsa;
use tokio_rustls::rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// The records RFC 7672 lets an SMTP client use.
pub fn usable(records: &[Tlsa]) -> Vec<Tlsa> {
    records
        .iter()
        .filter(|t| matches!(t.usage, 2 | 3) && matches!(t.selector, 0 | 1) && matches!(t.matching, 0..=2))
        .cloned()
        .collect()
}

/// TLS that accepts only a certificate matching `records` (all usable).
pub fn tls_config(records: Vec<Tlsa>) -> Arc<ClientConfig> {
    let provider = crate::tls::provider();
    crate::tls::with_verifier(provider.clone(), Arc::new(DaneVerifier { records, provider }))
}

#[derive(Debug)]
struct DaneVerifier {
    records: Vec<Tlsa>,
    provider: Arc<CryptoProvider>,
}

impl DaneVerifier {
    fn matches(t: &Tlsa, cert: &CertificateDer<'_>) -> bool {
        let selected = match t.selector {
            0 => cert.as_ref().to_vec(),
            _ => match spki(cert.as_ref()) {
                Some(s) => s.to_vec(),
                None => return false,
            },
        };
        let digest = match t.matching {
            0 => selected,
            1 => ring::digest::digest(&ring::digest::SHA256, &selected).as_ref().to_vec(),
            _ => ring::digest::digest(&ring::digest::SHA512, &selected).as_ref().to_vec(),
        };
        digest == t.data
    }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // DANE-EE: the server's own certificate or key.
        if self.records.iter().any(|t| t.usage == 3 && Self::matches(t, end_entity)) {
            return Ok(ServerCertVerified::assertion());
        }
        // DANE-TA: an authority in the chain the server sent, which then
        // has to lead to a certificate for this host name.
        for t in self.records.iter().filter(|t| t.usage == 2) {
            for ta in intermediates.iter().chain(std::iter::once(end_entity)) {
                if !Self::matches(t, ta) {
                    continue;
                }
                let mut roots = RootCertStore::empty();
                if roots.add(ta.clone().into_owned()).is_err() {
                    continue;
                }
                let Ok(webpki) =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone()).build()
                else {
                    continue;
                };
                if webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now).is_ok() {
                    return Ok(ServerCertVerified::assertion());
                }
            }
        }
        Err(rustls::Error::General("the certificate matches none of the host's TLSA records (DANE)".into()))
    }

    crate::tls::signature_checks!();
}

/// One DER element at the start of `der`: (tag, whole element, contents).
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *der.first()?;
    let first = *der.get(1)? as usize;
    let (len, head) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in der.get(2..2 + n)? {
            len = (len << 8) | *b as usize;
        }
        (len, 2 + n)
    };
    let end = head.checked_add(len)?;
    Some((tag, der.get(..end)?, der.get(head..end)?))
}

/// The SubjectPublicKeyInfo of a certificate (RFC 5280 §4.1), DER as it
/// stands in the certificate: what selector 1 hashes.
pub fn spki(cert: &[u8]) -> Option<&[u8]> {
    let (_, _, certificate) = element(cert)?;
    let (_, _, mut tbs) = element(certificate)?;
    // [0] version is optional; then serial, signature, issuer, validity, subject.
    let (tag, whole, _) = element(tbs)?;
    if tag == 0xa0 {
        tbs = &tbs[whole.len()..];
    }
    for _ in 0..5 {
        let (_, whole, _) = element(tbs)?;
        tbs = &tbs[whole.len()..];
    }
    let (tag, whole, _) = element(tbs)?;
    (tag == 0x30).then_some(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_of_a_certificate_is_found() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["mx.buyer.test".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let found = spki(cert.der()).expect("spki");
        assert_eq!(found[0], 0x30, "a SEQUENCE");
        assert!(found.ends_with(key.public_key_raw()), "holding the key");
        let t = Tlsa {
            usage: 3,
            selector: 1,
            matching: 1,
            data: ring::digest::digest(&ring::digest::SHA256, found).as_ref().to_vec(),
        };
        assert!(DaneVerifier::matches(&t, cert.der()));
        assert!(!DaneVerifier::matches(&Tlsa { data: vec![0; 32], ..t.clone() }, cert.der()));
        assert!(DaneVerifier::matches(&Tlsa { selector: 0, matching: 0, data: cert.der().to_vec(), ..t }, cert.der()));
    }

    #[test]
    fn broken_der_is_not_a_key() {
        let mut next = caravel_testkit::xorshift(0xda7e);
        for _ in 0..2000 {
            let len = (next() % 64) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| (next() % 4) as u8 * 0x2a + 0x30).collect();
            let _ = spki(&bytes);
        }
        assert!(spki(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(usable(&[Tlsa { usage: 1, selector: 1, matching: 1, data: vec![] }]).is_empty());
    }
}
