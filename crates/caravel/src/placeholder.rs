//! What each listener answers until its protocol lands: a clear "not
//! available" in the protocol's own words, and the HTTP health check.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caravel_net::{Handler, Service, Session, Stream};
use caravel_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Placeholder {
    pub hostname: String,
    pub store: Arc<dyn Store>,
}

fn family(service: Service) -> &'static str {
    match service {
        Service::Smtp | Service::Submission | Service::Submissions => "smtp",
        Service::Imap | Service::Imaps => "imap",
        Service::Pop3 | Service::Pop3s => "pop3",
        Service::Http | Service::Https => "http",
    }
}

fn http_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

impl Placeholder {
    async fn http(&self, stream: &mut Stream) {
        // Read the request head (bounded in size and time).
        let mut buf = vec![0u8; 8192];
        let mut len = 0;
        let read = async {
            while len < buf.len() {
                let n = stream.read(&mut buf[len..]).await.ok()?;
                if n == 0 {
                    return None;
                }
                len += n;
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    return Some(());
                }
            }
            None
        };
        let response = match tokio::time::timeout(Duration::from_secs(10), read).await {
            Ok(Some(())) => {
                let head = String::from_utf8_lossy(&buf[..len]);
                let mut parts = head.split_whitespace();
                match (parts.next(), parts.next()) {
                    (Some("GET"), Some("/healthz")) => match self.store.list_domains().await {
                        Ok(_) => http_response("200 OK", "ok\n"),
                        Err(e) => http_response("503 Service Unavailable", &format!("store: {e}\n")),
                    },
                    _ => http_response("404 Not Found", "not found\n"),
                }
            }
            _ => http_response("400 Bad Request", "bad request\n"),
        };
        let _ = stream.write_all(response.as_bytes()).await;
    }
}

#[async_trait]
impl Handler for Placeholder {
    async fn handle(&self, session: Session, mut stream: Stream) {
        let h = &self.hostname;
        let greeting = match family(session.service) {
            "smtp" => format!("421 4.3.2 {h} SMTP service not available yet\r\n"),
            "imap" => format!("* BYE {h} IMAP service not available yet\r\n"),
            "pop3" => format!("-ERR {h} POP3 service not available yet\r\n"),
            _ => return self.http(&mut stream).await,
        };
        let _ = stream.write_all(greeting.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    async fn refuse(&self, service: Service, mut stream: Stream) {
        let text = match family(service) {
            "smtp" => "421 4.7.0 Too many connections from your address, try again later\r\n".to_string(),
            "imap" => "* BYE Too many connections from your address\r\n".to_string(),
            "pop3" => "-ERR [IN-USE] Too many connections from your address\r\n".to_string(),
            _ => http_response("503 Service Unavailable", "too many connections\n"),
        };
        // Implicit-TLS ports get no plain-text words a TLS client could not read.
        if !service.implicit_tls() {
            let _ = stream.write_all(text.as_bytes()).await;
        }
        let _ = stream.shutdown().await;
    }
}
