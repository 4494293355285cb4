//! Sender authentication of mail from other servers (MX listener only):
//! SPF (RFC 7208), DKIM (RFC 6376), ARC (RFC 8617) and DMARC (RFC 7489),
//! through mail-auth over the shared resolver. The results go into an
//! `Authentication-Results` field (RFC 8601) with our hostname as
//! authserv-id, and into the mail log. Two cases are refused outright:
//! a DMARC failure where the domain asks for `p=reject`, and mail that
//! claims one of our own domains in From: without passing SPF or DKIM for
//! it (nobody outside sends as us).

use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::pipeline::{MessageContext, Stage, Verdict};
use async_trait::async_trait;
use caravel_dns::mail_auth::dmarc::verify::DmarcParameters;
use caravel_dns::mail_auth::dmarc::Policy;
use caravel_dns::mail_auth::spf::verify::SpfParameters;
use caravel_dns::mail_auth::{
    ArcOutput, AuthenticatedMessage, DkimOutput, DkimResult, DmarcOutput, DmarcResult, SpfOutput, SpfResult,
};
use caravel_dns::Resolver;
use caravel_store::{Address, Recipient, Store};
use futures_util::FutureExt;

use crate::auth_results::{self, Found};
use crate::org_domain::org_domain;

/// Added to the score when DMARC fails and the domain asks for quarantine.
pub const QUARANTINE_SCORE: f64 = 5.0;

pub struct AuthenticationStage {
    pub dns: Resolver,
    /// The authserv-id (RFC 8601 §2.5).
    pub hostname: String,
    pub store: Arc<dyn Store>,
}

#[async_trait]
impl Stage for AuthenticationStage {
    fn name(&self) -> &'static str {
        "authentication"
    }

    async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict> {
        if !ctx.inbound || ctx.authenticated() {
            return None;
        }
        let auth = self.dns.authenticator();
        let helo = helo_identity(ctx.helo);
        let spf = check_spf(&self.dns, ctx.peer, ctx.helo, &self.hostname, ctx.sender).await;
        ctx.tags.push(format!("spf={}", spf_word(&spf)));
        ctx.sender_verified = !ctx.sender.is_empty() && spf.result() == SpfResult::Pass;
        let mut found = Found {
            dkim: &[],
            spf: spf_word(&spf),
            mail_from: ctx.sender,
            helo,
            arc: None,
            dmarc: None,
            peer: ctx.peer,
        };
        let Some(message) = AuthenticatedMessage::parse(ctx.message) else {
            // Headers too broken for DKIM and DMARC: SPF is all there is.
            ctx.headers.push(auth_results::header(&self.hostname, &found));
            return None;
        };
        let dkim = guarded("DKIM", auth.verify_dkim(&message), Vec::new).await;
        let arc = guarded("ARC", auth.verify_arc(&message), ArcOutput::default).await;
        // DMARC compares domains as given: lowercase both sides (a
        // bounce's HELO "Mail.Example.com" is mail.example.com).
        let mail_from_domain = match ctx.sender.rsplit_once('@') {
            Some((_, d)) => d.to_ascii_lowercase(),
            None => helo.to_ascii_lowercase(),
        };
        let mail_from_domain = mail_from_domain.as_str();
        let dmarc = guarded(
            "DMARC",
            auth.verify_dmarc(
                DmarcParameters::new(&message, &dkim, mail_from_domain, &spf).with_domain_suffix_fn(org_domain),
            ),
            DmarcOutput::default,
        )
        .await;
        let dmarc_result = dmarc_word(&dmarc);
        let signers = dkim.iter().filter(|o| o.result() == &DkimResult::Pass).filter_map(|o| o.signature());
        ctx.sender_verified |= signed_by_sender(ctx.sender, &message.from, signers.map(|s| (s.d.as_str(), &s.h[..])));
        found.dkim = &dkim;
        found.arc = Some(&arc);
        found.dmarc = Some((dmarc_result, &dmarc));
        ctx.headers.push(auth_results::header(&self.hostname, &found));
        ctx.tags.push(format!("dkim={}", dkim_word(&dkim)));
        ctx.tags.push(format!("dmarc={dmarc_result}"));

        // RFC 5322 §3.6 allows one From: field; DMARC cannot judge more
        // (RFC 7489 §6.6.1), and a second one could carry a forged name.
        let from_fields = message.headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case(b"From")).count();
        if from_fields > 1 {
            return Some(reject("The message has more than one From: field"));
        }
        if dmarc_failed(&dmarc) && within_pct(&dmarc) {
            match dmarc.policy() {
                Policy::Reject => {
                    return Some(reject(&format!(
                        "Rejected by the DMARC policy of {}: neither SPF nor DKIM show it was sent by them",
                        dmarc.domain()
                    )))
                }
                Policy::Quarantine => ctx.hit(
                    "DMARC_QUARANTINE",
                    QUARANTINE_SCORE,
                    format!("DMARC fails and {} asks for quarantine", dmarc.domain()),
                ),
                _ => {}
            }
        }
        // The From: address is the sender's own (for the spam stage's
        // known correspondents and allow lists) when the field names only
        // it and DMARC passed, or the domain publishes no DMARC record and
        // SPF or DKIM passed for it (RFC 7489 §3.1). A record that fails,
        // or that could not be read or parsed (temperror, permerror), may
        // ask for strict alignment (adkim=s, aspf=s; §3.1.1, §3.1.2), under
        // which a pass for a subdomain does not count: no bonus then.
        if let [only] = message.from.as_slice() {
            let address = only.to_lowercase();
            if let Some((_, domain)) = address.rsplit_once('@') {
                if dmarc_result == "pass"
                    || (dmarc_result == "none" && passes_for(&spf, mail_from_domain, &dkim, domain))
                {
                    ctx.authenticated_from = Some(address.clone());
                }
            }
        }
        // Every domain the From: field names, not just the first.
        let mut from_domains: Vec<String> =
            message.from.iter().filter_map(|f| f.rsplit_once('@')).map(|(_, d)| d.to_ascii_lowercase()).collect();
        from_domains.dedup();
        for from_domain in from_domains {
            if !passes_for(&spf, mail_from_domain, &dkim, &from_domain) && self.is_local(&from_domain).await {
                return Some(reject(&format!(
                    "The sender claims to be {from_domain}, which is hosted here, but it was not sent by this server \
                     (SPF and DKIM do not pass)"
                )));
            }
        }
        None
    }
}

/// SPF for a message from `ip` (RFC 7208 §2.3, §2.4): the MAIL FROM identity,
/// or the HELO identity when the reverse-path is null. `helo` is the EHLO
/// argument as received (an address literal's brackets are dropped here);
/// `hostname` is ours, for the `%{r}` macro.
pub async fn check_spf(resolver: &Resolver, ip: IpAddr, helo: &str, hostname: &str, mail_from: &str) -> SpfOutput {
    let auth = resolver.authenticator();
    let helo = helo_identity(helo);
    let domain = mail_from.rsplit_once('@').map_or(helo, |(_, d)| d).to_string();
    // RFC 7208 §4.5: more than one SPF record is a permerror (mail-auth
    // would take the first).
    if let Ok(records) = resolver.txt_records(&domain).await {
        if records.iter().filter(|r| is_spf_record(r)).count() > 1 {
            return SpfOutput::new(domain).with_result(SpfResult::PermError);
        }
    }
    let check = async {
        if mail_from.is_empty() {
            auth.verify_spf(SpfParameters::verify_ehlo(ip, helo, hostname)).await
        } else {
            auth.verify_spf(SpfParameters::verify_mail_from(ip, helo, hostname, mail_from)).await
        }
    };
    guarded("SPF", check, || SpfOutput::new(domain).with_result(SpfResult::TempError)).await
}

/// mail-auth reads bytes strangers wrote (DNS records, header fields); a
/// panic inside it must cost this one check, not the SMTP session. (Seen:
/// an SPF record with a /0 CIDR length overflows a shift in mail-auth
/// 0.7.5 where overflow checks are on.)
async fn guarded<T>(what: &str, check: impl std::future::Future<Output = T>, fallback: impl FnOnce() -> T) -> T {
    match AssertUnwindSafe(check).catch_unwind().await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(check = what, "the check failed inside mail-auth; treated as a temporary error");
            fallback()
        }
    }
}

/// "v=spf1" alone or followed by a space, in any case (RFC 7208 §4.5).
fn is_spf_record(txt: &str) -> bool {
    let t = txt.as_bytes();
    t.len() >= 6 && t[..6].eq_ignore_ascii_case(b"v=spf1") && (t.len() == 6 || t[6] == b' ')
}

/// The HELO name without an address literal's brackets.
fn helo_identity(helo: &str) -> &str {
    helo.trim_start_matches('[').trim_end_matches(']')
}

impl AuthenticationStage {
    async fn is_local(&self, domain: &str) -> bool {
        let Ok(postmaster) = Address::parse(&format!("postmaster@{domain}")) else { return false };
        !matches!(self.store.resolve(&postmaster).await, Ok(Recipient::NotLocal) | Err(_))
    }
}

/// The domain publishes DMARC and neither SPF nor DKIM passed aligned
/// (as opposed to: no record, or a DNS error).
fn dmarc_failed(d: &DmarcOutput) -> bool {
    let failed = |r: &DmarcResult| matches!(r, DmarcResult::Fail(_) | DmarcResult::None);
    d.dmarc_record().is_some() && failed(d.spf_result()) && failed(d.dkim_result())
}

/// Whether a failure falls within the record's `pct` (RFC 7489 §6.3: the
/// policy applies to that share of failing mail, picked at random).
fn within_pct(d: &DmarcOutput) -> bool {
    let pct = d.dmarc_record().map_or(100, |r| r.pct.min(100)) as u64;
    pct == 100 || random_below_100() < pct
}

fn random_below_100() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish() % 100
}

/// SPF or DKIM passed for `domain` itself or a name under it: records
/// under a domain are its owner's (a public suffix is never a From:
/// domain that passes: nobody signs or sends as `co.uk`).
fn passes_for(spf: &SpfOutput, mail_from_domain: &str, dkim: &[DkimOutput], domain: &str) -> bool {
    let within = |d: &str| at_or_under(d, domain);
    let spf_ok = spf.result() == SpfResult::Pass && within(mail_from_domain);
    let dkim_ok = dkim.iter().any(|o| o.result() == &DkimResult::Pass && o.signature().is_some_and(|s| within(&s.d)));
    spf_ok || dkim_ok
}

/// Whether a verified DKIM signature (its d= and signed fields, h=) vouches
/// for the envelope sender, so that a notice sent back after the 250 is not
/// backscatter. Forwarded mail often fails SPF but keeps its signature.
/// DKIM signs the message, not the envelope, and a signed message can be
/// replayed with any envelope: a signature counts only when the message's
/// one From: address is the envelope sender, the signature covers From:
/// (RFC 6376 §5.4 requires it; the verifier does not check), and its domain
/// is the sender's or a parent of it. A message a big provider signed then
/// vouches for its author alone, and a neighbour under a shared parent
/// (another tenant of `onmicrosoft.com`) for nobody.
fn signed_by_sender<'a>(
    sender: &str,
    from: &[String],
    signatures: impl IntoIterator<Item = (&'a str, &'a [String])>,
) -> bool {
    let [only] = from else { return false };
    let Some((_, domain)) = sender.rsplit_once('@') else { return false };
    if !only.eq_ignore_ascii_case(sender) {
        return false;
    }
    signatures
        .into_iter()
        .any(|(d, signed)| at_or_under(domain, d) && signed.iter().any(|h| h.trim().eq_ignore_ascii_case("from")))
}

/// Whether `name` is `domain` or a name under it (without case or a final
/// dot); nothing is under an empty domain.
fn at_or_under(name: &str, domain: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    !domain.is_empty() && (name == domain || name.ends_with(&format!(".{domain}")))
}

fn reject(text: &str) -> Verdict {
    Verdict::Reject { code: 550, enhanced: "5.7.1", text: text.to_string() }
}

fn spf_word(spf: &SpfOutput) -> &'static str {
    spf_result_word(spf.result())
}

/// The result's name in Authentication-Results (RFC 8601 §2.7.2).
pub fn spf_result_word(result: SpfResult) -> &'static str {
    match result {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

fn dkim_word(dkim: &[DkimOutput]) -> &'static str {
    if dkim.is_empty() {
        return "none";
    }
    if dkim.iter().any(|o| o.result() == &DkimResult::Pass) {
        return "pass";
    }
    match dkim[0].result() {
        DkimResult::Neutral(_) => "neutral",
        DkimResult::TempError(_) => "temperror",
        DkimResult::PermError(_) => "permerror",
        _ => "fail",
    }
}

fn dmarc_word(d: &DmarcOutput) -> &'static str {
    let pass = |r: &DmarcResult| matches!(r, DmarcResult::Pass);
    let temp = |r: &DmarcResult| matches!(r, DmarcResult::TempError(_));
    let perm = |r: &DmarcResult| matches!(r, DmarcResult::PermError(_));
    if temp(d.spf_result()) || temp(d.dkim_result()) {
        "temperror"
    } else if perm(d.spf_result()) || perm(d.dkim_result()) {
        "permerror"
    } else if d.dmarc_record().is_none() {
        "none"
    } else if pass(d.spf_result()) || pass(d.dkim_result()) {
        "pass"
    } else {
        "fail"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_at_or_under_its_domain_only() {
        assert!(at_or_under("Mail.Example.COM.", "example.com"));
        assert!(at_or_under("example.com", "EXAMPLE.com."));
        assert!(!at_or_under("badexample.com", "example.com"), "a label boundary");
        assert!(!at_or_under("example.com", "mail.example.com"), "a parent is not under its child");
        assert!(!at_or_under("", ""), "nothing is under an empty domain");
        assert!(!at_or_under("example.com", ""));
    }

    #[test]
    fn a_signature_vouches_for_its_author_only() {
        let from = |a: &str| vec![a.to_string()];
        let h: &[String] = &["To".into(), "From".into(), "Subject".into()];
        let vouches = |sender: &str, author: &str, d: &str| signed_by_sender(sender, &from(author), [(d, h)]);
        assert!(vouches("ann@shop.example", "ann@shop.example", "shop.example"));
        assert!(vouches("Ann@Bounces.Shop.Example", "ann@bounces.shop.example", "shop.example."), "a parent signs");
        assert!(!vouches("ann@shop.example", "ann@shop.example", "mail.shop.example"), "a subdomain does not");
        assert!(!vouches("victim@big.example", "attacker@big.example", "big.example"), "a replayed message");
        assert!(!vouches("ann@a.onmicrosoft.com", "ann@a.onmicrosoft.com", "b.onmicrosoft.com"), "a neighbour");
        assert!(!vouches("ann@victim.example", "ann@victim.example", "spammer.example"));
        assert!(!vouches("", "", "shop.example"), "a null sender");
        let unsigned_from: &[String] = &["Subject".into()];
        assert!(!signed_by_sender("ann@shop.example", &from("ann@shop.example"), [("shop.example", unsigned_from)]));
        let two = vec!["ann@shop.example".to_string(), "bob@shop.example".to_string()];
        assert!(!signed_by_sender("ann@shop.example", &two, [("shop.example", h)]), "two authors");
        assert!(!signed_by_sender("ann@shop.example", &from("ann@shop.example"), []));
    }
}
