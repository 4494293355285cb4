//! MTA-STS (RFC 8461): a domain that publishes a policy says which MX hosts
//! are its own and that they must be reached over TLS with a certificate
//! valid for their name. The policy is found through a TXT record, fetched
//! over HTTPS from `mta-sts.DOMAIN`, cached for its `max_age`, and fetched
//! again when the record's `id` changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caravel_dns::Resolver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver only to matching MX hosts, over verified TLS.
    Enforce,
    /// Report problems but deliver anyway (no reports are sent yet: logged).
    Testing,
    /// The domain withdrew its policy.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// MX patterns: "mx.example.com" or "*.example.com" (one label).
    pub mx: Vec<String>,
    /// Seconds the policy may be cached (capped at a year, §3.2).
    pub max_age: u64,
}

/// Largest policy body read (§3.3 suggests 64 KiB).
const MAX_POLICY: usize = 64 * 1024;
/// Time allowed for the whole fetch (§3.3: at most a minute, less is fine).
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// Parses a policy file (§3.2): `key: value` lines; version, mode and
/// max_age are required, and mx unless the mode is none.
pub fn parse_policy(text: &str) -> Result<Policy, String> {
    let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value.to_string()),
            "mode" => {
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => return Err(format!("unknown mode {other:?}")),
                })
            }
            "max_age" => {
                max_age = Some(value.parse::<u64>().map_err(|_| format!("max_age {value:?} is not a number"))?)
            }
            "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
            _ => {} // §3.2: unknown keys are ignored.
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("the policy is not version STSv1".into());
    }
    let mode = mode.ok_or("the policy has no mode")?;
    let max_age = max_age.ok_or("the policy has no max_age")?.min(31_557_600);
    if mx.is_empty() && mode != Mode::None {
        return Err("the policy names no mx".into());
    }
    Ok(Policy { mode, mx, max_age })
}

impl Policy {
    /// Whether MX host `host` is one the policy allows (§4.1): exact, or
    /// `*.` matching exactly one leftmost label.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|pattern| match pattern.strip_prefix("*.") {
            Some(parent) => host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => *pattern == host,
        })
    }
}

struct Cached {
    id: String,
    policy: Policy,
    until: Instant,
}

/// Finds, fetches and caches policies.
pub struct MtaSts {
    dns: Resolver,
    /// Verifies the policy server's certificate (WebPKI, the system's roots).
    tls: Arc<ClientConfig>,
    /// 443, except in tests.
    https_port: u16,
    cache: Mutex<HashMap<String, Cached>>,
}

impl MtaSts {
    pub fn new(dns: Resolver, tls: Arc<ClientConfig>, https_port: u16) -> MtaSts {
        MtaSts { dns, tls, https_port, cache: Mutex::new(HashMap::new()) }
    }

    /// The policy in force for `domain`, if any. A failed lookup or fetch
    /// falls back to a cached policy that has not expired (§5.1), else to
    /// none: MTA-STS never stops delivery because its own files are missing.
    pub async fn policy(&self, domain: &str) -> Option<Policy> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let cached = self.cached(&domain);
        let id = match self.dns.mta_sts_id(&domain).await {
            Ok(Some(id)) => id,
            Ok(None) | Err(_) => return cached.map(|(_, p)| p),
        };
        if let Some((cached_id, policy)) = &cached {
            if *cached_id == id {
                return Some(policy.clone());
            }
        }
        match self.fetch(&domain).await.and_then(|text| parse_policy(&text)) {
            Ok(policy) => {
                let until = Instant::now() + Duration::from_secs(policy.max_age);
                if let Ok(mut cache) = self.cache.lock() {
                    if cache.len() > 10_000 {
                        cache.retain(|_, c| c.until > Instant::now());
                    }
                    cache.insert(domain.clone(), Cached { id, policy: policy.clone(), until });
                }
                Some(policy)
            }
            Err(e) => {
                tracing::warn!(domain, error = %e, "cannot fetch the MTA-STS policy");
                cached.map(|(_, p)| p)
            }
        }
    }

    fn cached(&self, domain: &str) -> Option<(String, Policy)> {
        let cache = self.cache.lock().ok()?;
        let c = cache.get(domain)?;
        (c.until > Instant::now()).then(|| (c.id.clone(), c.policy.clone()))
    }

    /// GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt (§3.3): a
    /// verified certificate, no redirects, 200 with text/plain only.
    async fn fetch(&self, domain: &str) -> Result<String, String> {
        let host = format!("mta-sts.{domain}");
        let work = async {
            let ips = self.dns.addresses(&host).await?;
            let ip = ips.first().ok_or(format!("{host} has no address"))?;
            let tcp = TcpStream::connect((*ip, self.https_port)).await.map_err(|e| format!("{host}: {e}"))?;
            let name = ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
            let mut tls = TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {host}: {e}"))?;
            let request = format!(
                "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Caravel\r\nConnection: close\r\n\r\n"
            );
            tls.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
            let mut response = Vec::new();
            tls.take((MAX_POLICY + 4096) as u64).read_to_end(&mut response).await.map_err(|e| e.to_string())?;
            parse_response(&response)
        };
        tokio::time::timeout(FETCH_TIMEOUT, work).await.map_err(|_| format!("{host} did not answer in time"))?
    }
}

/// The body of an HTTP/1.1 response that must be `200` and `text/plain`.
fn parse_response(raw: &[u8]) -> Result<String, String> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("not an HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("the policy server answered {status:?}"));
    }
    let mut chunked = false;
    let mut plain = false;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else { continue };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
        chunked |= k == "transfer-encoding" && v.contains("chunked");
        plain |= k == "content-type" && v.starts_with("text/plain");
    }
    if !plain {
        return Err("the policy is not served as text/plain".into());
    }
    let body = &raw[end + 4..];
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    if body.len() > MAX_POLICY {
        return Err("the policy is too large".into());
    }
    String::from_utf8(body).map_err(|_| "the policy is not UTF-8".into())
}

/// The body of a `200` response, de-chunked, at most `max` bytes (for
/// other small downloads, such as antivirus signature updates).
pub fn http_body(raw: &[u8], max: usize) -> Result<Vec<u8>, String> {
    match http_response(raw, max)? {
        (200, body) => Ok(body),
        (status, _) => Err(format!("the server answered {status}")),
    }
}

/// The status and the de-chunked body (at most `max` bytes) of an HTTP/1.1
/// response.
pub fn http_response(raw: &[u8], max: usize) -> Result<(u16, Vec<u8>), String> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("not an HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status_line = head.split("\r\n").next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP status line: {status_line:?}"))?;
    let chunked = head.split("\r\n").any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
        })
    });
    let body = &raw[end + 4..];
    let body = if chunked { dechunk_max(body, max)? } else { body.to_vec() };
    if body.len() > max {
        return Err("the answer is too large".into());
    }
    Ok((status, body))
}

fn dechunk(body: &[u8]) -> Result<Vec<u8>, String> {
    dechunk_max(body, MAX_POLICY)
}

fn dechunk_max(mut body: &[u8], max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let nl = body.windows(2).position(|w| w == b"\r\n").ok_or("a broken chunk")?;
        let size = String::from_utf8_lossy(&body[..nl]);
        let size =
            usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).map_err(|_| "a bad chunk size")?;
        body = &body[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size || out.len() + size > max {
            return Err("a broken or too large chunk".into());
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or(&[]);
    }
}

pub use crate::tls::verified_tls;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_is_parsed_and_matches_mx_hosts() {
        let p = parse_policy(
            "version: STSv1\r\nmode: enforce\r\nmx: mx1.buyer.test\r\nmx: *.mx.buyer.test\r\nmax_age: 86400\r\n",
        )
        .expect("valid");
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 86400);
        assert!(p.allows("MX1.buyer.test."));
        assert!(p.allows("a.mx.buyer.test"));
        assert!(!p.allows("a.b.mx.buyer.test"), "one label only");
        assert!(!p.allows("mx.buyer.test"));
        assert!(!p.allows("evil.test"));
    }

    #[test]
    fn broken_policies_are_refused() {
        assert!(parse_policy("mode: enforce\nmx: a.test\nmax_age: 1\n").is_err(), "no version");
        assert!(parse_policy("version: STSv1\nmode: enforce\nmax_age: 1\n").is_err(), "no mx");
        assert!(parse_policy("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n").is_err());
        assert!(
            parse_policy("version: STSv1\nmode: none\nmax_age: 99999999999\n").is_ok_and(|p| p.max_age == 31_557_600)
        );
    }

    #[test]
    fn responses_must_be_200_text_plain_and_may_be_chunked() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        assert_eq!(parse_response(ok).expect("ok"), "hello world");
        assert!(parse_response(b"HTTP/1.1 301 Moved\r\nLocation: x\r\n\r\n").is_err(), "no redirects");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nx").is_err());
    }

    #[test]
    fn random_policy_server_bytes_never_panic() {
        let mut next = caravel_testkit::xorshift(0x5754_5356_3100_0001);
        let pieces: [&[u8]; 12] = [
            b"HTTP/1.1 200 OK\r\n",
            b"Content-Type: text/plain\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"\r\n",
            b"ffffffffffffffffff\r\n",
            b"5\r\nhello\r\n",
            b"0\r\n\r\n",
            b"version: STSv1\n",
            b"mode: enforce\n",
            b"mx: *.\n",
            b"max_age: 18446744073709551616\n",
            b"\xff\xfe:",
        ];
        for _ in 0..5000 {
            let mut raw = Vec::new();
            for _ in 0..(next() % 10) {
                raw.extend_from_slice(pieces[(next() as usize) % pieces.len()]);
            }
            if let Ok(text) = parse_response(&raw) {
                if let Ok(p) = parse_policy(&text) {
                    let _ = p.allows("a.b.test");
                }
            }
            let _ = parse_policy(&String::from_utf8_lossy(&raw));
        }
    }
}
