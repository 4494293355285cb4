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
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("{url:?}: a URL with spaces or control characters"));
    }
    let (hostport, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    if hostport.is_empty() || hostport.contains('@') {
        return Err(format!("{url}: not a URL this client takes"));
    }
    let (host, port) = host_and_port(hostport, if tls { 443 } else { 80 })?;
    let addr = format!("{}:{port}", if host.contains(':') { format!("[{host}]") } else { host.to_string() });
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

/// `example.com`, `example.com:8443`, `[::1]`, `[::1]:8080`: the host (an
/// IPv6 literal without brackets) and the port.
fn host_and_port(hostport: &str, default: u16) -> Result<(&str, u16), String> {
    let bad = || format!("{hostport}: not a host and port");
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, p.parse().map_err(|_| bad())?)),
            None if after.is_empty() => Ok((host, default)),
            None => Err(bad()),
        };
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => Ok((h, p.parse().map_err(|_| bad())?)),
        None => Ok((hostport, default)),
    }
}

/// A GET that must answer 200.
pub async fn get(url: &str, max: usize, timeout: Duration) -> Result<Vec<u8>, String> {
    match request("GET", url, &[], &[], max, timeout).await? {
        (200, body) => Ok(body),
        (status, _) => Err(format!("{url}: the server answered {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::host_and_port;

    #[test]
    fn hosts_ports_and_ipv6_literals() {
        assert_eq!(host_and_port("example.com", 443), Ok(("example.com", 443)));
        assert_eq!(host_and_port("example.com:8443", 443), Ok(("example.com", 8443)));
        assert_eq!(host_and_port("[::1]", 80), Ok(("::1", 80)));
        assert_eq!(host_and_port("[::1]:8080", 80), Ok(("::1", 8080)));
        assert!(host_and_port("[::1", 80).is_err() && host_and_port("h:x", 80).is_err());
    }
}
