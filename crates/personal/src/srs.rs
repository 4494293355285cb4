//! The Sender Rewriting Scheme for forwarded mail: a copy forwarded by a
//! rule leaves with an envelope sender in our domain, so the receiver's
//! SPF check passes for us, and a bounce to it comes back here, where it
//! is checked and sent on to the original sender.
//!
//! `SRS0=HHHHHHHH=TT=domain=local@our.domain`: TT is the day (base32, mod
//! 1024), HHHHHHHH 40 bits of an HMAC-SHA256 over the rest with a secret
//! of this server, so nobody can make us relay by writing such an address
//! (the scheme's usual 4 characters, 20 bits, could be found by trying a
//! million addresses at RCPT).

use ring::hmac;
use subtle::ConstantTimeEq;

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// A forwarded copy's bounce is accepted back for this many days.
const VALID_DAYS: i64 = 21;

pub struct Srs {
    key: hmac::Key,
}

impl Srs {
    pub fn new(secret: &[u8]) -> Srs {
        Srs { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    fn hash(&self, stamp: &str, domain: &str, local: &str) -> String {
        let data = format!("{stamp}={domain}={local}").to_lowercase();
        let tag = hmac::sign(&self.key, data.as_bytes());
        tag.as_ref()[..8].iter().map(|b| BASE32[(b & 31) as usize] as char).collect()
    }

    /// The envelope sender for a copy of a message from `sender`
    /// forwarded through `our_domain` on day `day` (days since 1970).
    /// The null sender stays null.
    pub fn forward(&self, sender: &str, our_domain: &str, day: i64) -> String {
        let Some((local, domain)) = sender.rsplit_once('@') else { return String::new() };
        let d = day.rem_euclid(1024);
        let stamp: String = [BASE32[(d >> 5) as usize] as char, BASE32[(d & 31) as usize] as char].iter().collect();
        format!("SRS0={}={stamp}={domain}={local}@{our_domain}", self.hash(&stamp, domain, local))
    }

    /// The original sender of an `SRS0=` local part made here, if its
    /// hash holds and it is at most 21 days old on `day`.
    pub fn reverse(&self, local_part: &str, day: i64) -> Option<String> {
        let rest = local_part.get(..5).filter(|p| p.eq_ignore_ascii_case("srs0="))?;
        let rest = &local_part[rest.len()..];
        let mut fields = rest.splitn(4, '=');
        let (hash, stamp, domain, local) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        let expected = self.hash(stamp, domain, local);
        if !bool::from(expected.as_bytes().ct_eq(hash.to_lowercase().as_bytes())) {
            return None;
        }
        let digit = |c: u8| BASE32.iter().position(|b| *b == c.to_ascii_lowercase()).map(|p| p as i64);
        let [a, b] = stamp.as_bytes() else { return None };
        let then = digit(*a)? * 32 + digit(*b)?;
        let age = (day.rem_euclid(1024) - then).rem_euclid(1024);
        (age <= VALID_DAYS && !domain.is_empty() && !local.is_empty()).then(|| format!("{local}@{domain}"))
    }
}

#[cfg(test)]
mod tests {
    use super::Srs;

    #[test]
    fn forward_and_back_within_21_days() {
        let srs = Srs::new(b"secret");
        let fwd = srs.forward("Hans.Buyer@kunde.de", "export.test", 20_000);
        let (local, domain) = fwd.rsplit_once('@').expect("address");
        assert_eq!(domain, "export.test");
        assert!(local.starts_with("SRS0=") && local.ends_with("=kunde.de=Hans.Buyer"), "{fwd}");
        assert_eq!(local.split('=').nth(1).map(str::len), Some(8), "40 bits of hash: {fwd}");
        assert_eq!(srs.reverse(local, 20_000).as_deref(), Some("Hans.Buyer@kunde.de"));
        assert_eq!(srs.reverse(&local.to_lowercase(), 20_021).as_deref(), Some("hans.buyer@kunde.de"));
        assert_eq!(srs.reverse(local, 20_022), None, "too old");
        assert_eq!(Srs::new(b"other").reverse(local, 20_000), None, "another server's");
        let forged = local.replace("kunde.de", "victim.test");
        assert_eq!(srs.reverse(&forged, 20_000), None);
        assert_eq!(srs.forward("", "export.test", 1), "");
        // Across the 1024-day wrap.
        let fwd = srs.forward("a@b.test", "export.test", 1023);
        assert!(srs.reverse(fwd.split('@').next().expect("local"), 1030).is_some());
    }
}
