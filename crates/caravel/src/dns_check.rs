//! What DNS answers now for each record `caravel dns` asks an administrator
//! to publish, and whether it matches: `caravel dns DOMAIN --check` and
//! the console's DNS page. A record can be right without being identical
//! (an SPF record that names more senders, a DMARC policy of one's own):
//! those are warnings, a missing or contrary record is a failure.

use caravel_admin::dkim::DnsRecord;
use caravel_dns::{MxAnswer, Resolver};
use serde::Serialize;

use crate::doctor::Status;

#[derive(Debug, Serialize)]
pub struct Checked {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// What to publish.
    pub value: String,
    pub why: String,
    /// What DNS answers now.
    pub found: Vec<String>,
    pub status: Status,
    /// The verdict in plain words.
    pub note: String,
}

/// Without spaces and quotes, lowercase: how two TXT values compare.
fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace() && *c != '"').flat_map(char::to_lowercase).collect()
}

fn host(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The tag a TXT record starts with (`v=spf1`, `v=DKIM1`, `v=DMARC1` ...).
fn tag(value: &str) -> String {
    let first = value.trim().trim_matches('"').split(|c: char| c.is_whitespace() || c == ';').next();
    first.unwrap_or("").to_ascii_lowercase()
}

fn txt_verdict(want: &str, found: &[String]) -> (Status, String) {
    let w = squeeze(want);
    if found.iter().any(|f| squeeze(f) == w) {
        return (Status::Ok, "published as it should be".into());
    }
    let t = tag(want);
    let same_kind: Vec<&String> = found.iter().filter(|f| squeeze(f).starts_with(&t)).collect();
    if w.starts_with("v=dkim1") {
        // The key is what matters: the same p= is the same record.
        let key = |v: &str| squeeze(v).split(';').find_map(|p| p.strip_prefix("p=").map(str::to_string));
        if same_kind.iter().any(|f| key(f).is_some() && key(f) == key(want)) {
            return (Status::Ok, "the key matches".into());
        }
        if !same_kind.is_empty() {
            return (Status::Fail, "a different key is published: signatures will not verify".into());
        }
    }
    match same_kind.len() {
        0 => (Status::Fail, "not published yet".into()),
        1 => (Status::Warn, "a record of this kind is published with other content: check it is what you want".into()),
        _ => (Status::Fail, "more than one record of this kind: receivers ignore them all (keep one)".into()),
    }
}

async fn check_one(dns: &Resolver, hostname: &str, r: &DnsRecord) -> Result<(Vec<String>, Status, String), String> {
    Ok(match r.kind.as_str() {
        "MX" => {
            let found: Vec<String> = match dns.mx(&r.name).await? {
                MxAnswer::Records(list) => list.iter().map(|(p, h)| format!("{p} {}", host(h))).collect(),
                _ => Vec::new(),
            };
            let here = found.iter().any(|f| f.split_whitespace().nth(1) == Some(host(hostname).as_str()));
            match (found.is_empty(), here) {
                (true, _) => (found, Status::Fail, "no MX record: mail for the domain cannot find this server".into()),
                (false, true) => (found, Status::Ok, "points here".into()),
                (false, false) => (found, Status::Fail, format!("points elsewhere, not to {hostname}")),
            }
        }
        "A/AAAA" => {
            let found: Vec<String> = dns.addresses(&r.name).await?.iter().map(|ip| ip.to_string()).collect();
            match found.is_empty() {
                true => (found, Status::Fail, format!("{} has no address", r.name)),
                false => (found, Status::Ok, "has an address".into()),
            }
        }
        "CNAME" => {
            // Whether the name leads to this server: the same addresses.
            let found: Vec<String> = dns.addresses(&r.name).await?.iter().map(|ip| ip.to_string()).collect();
            let ours: Vec<String> = dns.addresses(hostname).await?.iter().map(|ip| ip.to_string()).collect();
            match (found.is_empty(), found.iter().any(|f| ours.contains(f))) {
                (true, _) => (found, Status::Fail, "not published yet".into()),
                (false, true) => (found, Status::Ok, "leads to this server".into()),
                (false, false) => (found, Status::Fail, format!("leads somewhere other than {hostname}")),
            }
        }
        "SRV" => {
            let found = dns.srv_records(&r.name).await?;
            let want: Vec<String> = r.value.split_whitespace().map(host).collect();
            let same = found.iter().any(|f| {
                let got: Vec<String> = f.split_whitespace().map(host).collect();
                got.get(2..) == want.get(2..)
            });
            match (found.is_empty(), same) {
                (true, _) => (found, Status::Warn, "not published (mail programs can still be set up by hand)".into()),
                (false, true) => (found, Status::Ok, "published as it should be".into()),
                (false, false) => (found, Status::Fail, "announces another port or server".into()),
            }
        }
        "TXT" => {
            let found = dns.txt_records(&r.name).await?;
            let (status, note) = txt_verdict(&r.value, &found);
            (found, status, note)
        }
        other => (Vec::new(), Status::Warn, format!("{other} records are not checked")),
    })
}

/// Each record with what DNS answers for it now.
pub async fn check(dns: &Resolver, hostname: &str, records: Vec<DnsRecord>) -> Vec<Checked> {
    let mut out = Vec::new();
    for r in records {
        let (found, status, note) = match check_one(dns, hostname, &r).await {
            Ok(v) => v,
            Err(e) => (Vec::new(), Status::Warn, format!("could not check: {e}")),
        };
        out.push(Checked { name: r.name, kind: r.kind, value: r.value, why: r.why, found, status, note });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_records_compare_by_content_and_dkim_by_key() {
        let spf = "v=spf1 mx -all";
        assert_eq!(txt_verdict(spf, &["v=spf1  mx -all".into()]).0, Status::Ok);
        assert_eq!(txt_verdict(spf, &["v=spf1 mx include:mailgun.org -all".into()]).0, Status::Warn);
        assert_eq!(txt_verdict(spf, &["v=spf1 a -all".into(), "v=spf1 mx -all x".into()]).0, Status::Fail);
        assert_eq!(txt_verdict(spf, &["google-site-verification=x".into()]).0, Status::Fail);
        let dkim = "v=DKIM1; k=ed25519; p=ABC";
        assert_eq!(txt_verdict(dkim, &["v=DKIM1; k=ed25519; t=s; p=ABC".into()]).0, Status::Ok);
        assert_eq!(txt_verdict(dkim, &["v=DKIM1; k=ed25519; p=XYZ".into()]).0, Status::Fail);
        let dmarc = "v=DMARC1; p=quarantine; rua=mailto:dmarc@x.test";
        assert_eq!(txt_verdict(dmarc, &["v=DMARC1; p=reject".into()]).0, Status::Warn);
    }
}
