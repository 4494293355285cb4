//! A small HTTP/1.1 client for the few requests Caravel makes itself:
//! antivirus signature downloads and the SMS webhook. TLS for https://
//! with the system's authorities; plain http:// is for this machine only
//! (the callers check); one request per connection; the answer read up to
//! a limit.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Whether a plain-HTTP URL points at this machine.
pub fn plain_http_allowed(url: &str) -> bool {
    caravel_config::webhook_url_ok(url).is_ok()
}

/// `METHOD url` with `headers` and `body`: the status and at most `max`
/// bytes of the answer's body, within `timeout`.
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    max: usize,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let (tls, rest) = match url.split_once("://") {
        Some(("https", r)) => (true, r),
        Some(("http", r)) => (false, r),
        _ => return Err(format!("{url}: only http:// and https:// are supported")),
    };
    let (hostport, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    if hostport.is_empty() || hostport.contains(['@', ' ']) || path.contains([' ', '\r', '\n']) {
        return Err(format!("{url}: not a URL this client takes"));
    }
    let host = hostport.rsplit_once(':').filter(|(_, p)| p.parse::<u16>().is_ok()).map_or(hostport, |(h, _)| h);
    let addr = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:{}", if tls { 443 } else { 80 })
    };
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nUser-Agent: Caravel\r\nConnection: close\r\n");
    for (k, v) in headers {
        if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            return Err("a header with a line break".into());
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let work = async {
        let tcp = tokio::net::TcpStream::connect(&addr).await.map_err(|e| format!("{url}: {e}"))?;
        let mut response = Vec::new();
        let limit = (max + 64 * 1024) as u64;
        if tls {
            let name =
                tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
            let mut s = tokio_rustls::TlsConnector::from(caravel_delivery::mta_sts::verified_tls())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {host}: {e}"))?;
            s.write_all(&request).await.map_err(|e| e.to_string())?;
            s.take(limit).read_to_end(&mut response).await.map_err(|e| e.to_string())?;
        } else {
            let mut s = tcp;
            s.write_all(&request).await.map_err(|e| e.to_string())?;
            s.take(limit).read_to_end(&mut response).await.map_err(|e| e.to_string())?;
        }
        caravel_delivery::mta_sts::http_response(&response, max).map_err(|e| format!("{url}: {e}"))
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| format!("{url}: no answer in time"))?
}

/// A GET that must answer 200.
pub async fn get(url: &str, max: usize, timeout: Duration) -> Result<Vec<u8>, String> {
    match request("GET", url, &[], &[], max, timeout).await? {
        (200, body) => Ok(body),
        (status, _) => Err(format!("{url}: the server answered {status}")),
    }
}
