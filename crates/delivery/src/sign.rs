//! DKIM signing of outbound mail (RFC 6376; Ed25519 per RFC 8463) with the
//! keys `caravel dkim generate` made. The signing domain is the From:
//! domain, so DMARC sees it aligned (RFC 7489 §3.1.1). Every key the domain
//! has signs: during a rotation the new key's signature verifies once its
//! record is published, the old one until then.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caravel_dns::mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use caravel_dns::mail_auth::common::headers::HeaderWriter;
use caravel_dns::mail_auth::dkim::{Canonicalization, DkimSigner};
use caravel_store::{DkimKey, Store};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The headers signed, when present (RFC 6376 §5.4.1's list).
/// `From` is listed twice: the second, matching no field, signs the
/// absence of another one, so a From: added on the way breaks the
/// signature (oversigning, RFC 6376 §8.15).
const SIGNED_HEADERS: [&str; 13] = [
    "From",
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// How long looked-up keys are reused before the store is asked again.
const KEY_CACHE: Duration = Duration::from_secs(60);

/// A domain's keys and when they were read.
type CachedKeys = (Instant, Arc<Vec<DkimKey>>);

pub struct Signer {
    store: Arc<dyn Store>,
    cache: Mutex<HashMap<String, CachedKeys>>,
}

impl Signer {
    pub fn new(store: Arc<dyn Store>) -> Signer {
        Signer { store, cache: Mutex::new(HashMap::new()) }
    }

    /// The message with a DKIM-Signature per key of its From: domain in
    /// front; unchanged when the domain has no key, or when the From:
    /// domain is neither `sign_as` nor the envelope sender's domain.
    /// `sign_as` is the domain whoever queued the message vouched for (the
    /// submission checked that the signed-in user may send as the From:
    /// address; an auto-reply is the account's own). Without it only the
    /// envelope sender counts: a user of one domain gets no signature for
    /// another, and forwarded mail from elsewhere is not signed as ours.
    pub async fn sign(&self, raw: &[u8], envelope_sender: &str, sign_as: Option<&str>) -> Vec<u8> {
        let Some(domain) = from_domain(raw) else { return raw.to_vec() };
        let sender_domain = envelope_sender.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
        let vouched = sign_as.is_some_and(|d| d.eq_ignore_ascii_case(&domain));
        if !vouched && sender_domain.as_deref() != Some(domain.as_str()) {
            return raw.to_vec();
        }
        let keys = self.keys(&domain).await;
        let mut headers = String::new();
        for key in keys.iter().take(3) {
            match sign_with(key, raw) {
                Ok(h) => headers.push_str(&h),
                Err(e) => tracing::warn!(domain, selector = key.selector, error = e, "DKIM signing failed"),
            }
        }
        let mut out = Vec::with_capacity(headers.len() + raw.len());
        out.extend_from_slice(headers.as_bytes());
        out.extend_from_slice(raw);
        out
    }

    async fn keys(&self, domain: &str) -> Arc<Vec<DkimKey>> {
        if let Some((at, keys)) = self.cache.lock().ok().and_then(|c| c.get(domain).cloned()) {
            if at.elapsed() < KEY_CACHE {
                return keys;
            }
        }
        let keys = Arc::new(self.store.dkim_keys(domain).await.unwrap_or_else(|e| {
            tracing::warn!(domain, error = %e, "cannot read DKIM keys");
            Vec::new()
        }));
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(domain.to_string(), (Instant::now(), keys.clone()));
        }
        keys
    }
}

/// One `DKIM-Signature:` header (folded, ending in CRLF).
pub fn sign_with(key: &DkimKey, raw: &[u8]) -> Result<String, String> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(key.private_key.as_bytes()).map_err(|e| e.to_string())?;
    let signature = match key.algorithm.as_str() {
        "ed25519-sha256" => {
            let k = Ed25519Key::from_pkcs8_der(der.secret_pkcs8_der()).map_err(|e| e.to_string())?;
            signer(DkimSigner::from_key(k), key).sign(raw)
        }
        "rsa-sha256" => {
            let k = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(der)).map_err(|e| e.to_string())?;
            signer(DkimSigner::from_key(k), key).sign(raw)
        }
        other => return Err(format!("unknown DKIM algorithm {other}")),
    }
    .map_err(|e| e.to_string())?;
    Ok(signature.to_header())
}

fn signer<T: caravel_dns::mail_auth::common::crypto::SigningKey>(
    s: DkimSigner<T, caravel_dns::mail_auth::dkim::NeedDomain>,
    key: &DkimKey,
) -> DkimSigner<T, caravel_dns::mail_auth::dkim::Done> {
    s.domain(key.domain.clone())
        .selector(key.selector.clone())
        .headers(SIGNED_HEADERS)
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
}

/// The domain of the From: header's address (lowercased).
/// None when there is not exactly one From: field, or its addresses are in
/// more than one domain: such a message is not signed.
pub fn from_domain(raw: &[u8]) -> Option<String> {
    let addresses = from_addresses(raw)?;
    let mut domains =
        addresses.iter().map(|a| a.rsplit_once('@').map(|(_, d)| d.trim().trim_end_matches('.').to_ascii_lowercase()));
    let first = domains.next().flatten().filter(|d| !d.is_empty())?;
    domains.all(|d| d.as_deref() == Some(first.as_str())).then_some(first)
}

/// The addresses of the From: header, when there is exactly one From: field.
pub fn from_addresses(raw: &[u8]) -> Option<Vec<String>> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2).unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..end]);
    // Unfolded fields named From.
    let mut fields: Vec<String> = Vec::new();
    let mut in_from = false;
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if in_from {
                if let Some(last) = fields.last_mut() {
                    last.push_str(line);
                }
            }
            continue;
        }
        in_from = line.split_once(':').is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("From"));
        if in_from {
            fields.push(line.split_once(':').map(|(_, v)| v.to_string()).unwrap_or_default());
        }
    }
    let [field] = fields.as_slice() else { return None };
    // Each address: inside <...>, else the word holding '@'; quoted
    // display names may hold commas, so quotes are skipped first.
    let mut unquoted = String::new();
    let mut quoted = false;
    for c in field.chars() {
        match c {
            '"' => quoted = !quoted,
            _ if quoted => {}
            _ => unquoted.push(c),
        }
    }
    let addresses: Vec<String> = unquoted
        .split(',')
        .map(|part| match (part.find('<'), part.rfind('>')) {
            (Some(a), Some(b)) if a < b => part[a + 1..b].trim().to_string(),
            _ => part.split_whitespace().find(|w| w.contains('@')).unwrap_or_default().to_string(),
        })
        .filter(|a| !a.is_empty())
        .collect();
    (!addresses.is_empty()).then_some(addresses)
}

#[cfg(test)]
mod tests {
    use super::from_domain;

    #[test]
    fn one_from_field_in_one_domain_or_no_signing_domain() {
        assert_eq!(from_domain(b"From: Ana <Ana@Export.test>\r\n\r\nx").as_deref(), Some("export.test"));
        assert_eq!(from_domain(b"From: a@export.test, b@export.test\r\n\r\nx").as_deref(), Some("export.test"));
        assert_eq!(from_domain(b"From: a@evil.test, b@export.test\r\n\r\nx"), None);
        assert_eq!(from_domain(b"From: a@export.test\r\nFrom: b@export.test\r\n\r\nx"), None);
        assert_eq!(from_domain(b"Subject: none\r\n\r\nx"), None);
        assert_eq!(from_domain(b"From: \"Doe, Jane\" <jane@export.test>\r\n\r\nx").as_deref(), Some("export.test"));
        assert_eq!(from_domain(b"From:\r\n a@evil.test,\r\n b@export.test\r\n\r\nx"), None, "folded");
    }
}
