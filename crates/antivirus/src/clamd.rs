//! A client for clamd (ClamAV's daemon): the `zINSTREAM` command over a
//! unix socket or TCP, each answer ended by a NUL (clamd(8), "COMMANDS").
//! Every call has a timeout; any failure is an error the caller turns into
//! its configured policy (never into a silent "clean").

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

impl Endpoint {
    /// `unix:/run/clamav/clamd.ctl`, `/run/...` or `HOST:PORT`.
    pub fn parse(s: &str) -> Endpoint {
        match s.strip_prefix("unix:") {
            Some(p) => Endpoint::Unix(p.into()),
            None if s.starts_with('/') => Endpoint::Unix(s.into()),
            None => Endpoint::Tcp(s.strip_prefix("tcp:").unwrap_or(s).to_string()),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp(a) => f.write_str(a),
        }
    }
}

/// clamd's verdict on one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Clean,
    Found(String),
}

/// Bytes sent per INSTREAM chunk.
const CHUNK: usize = 64 * 1024;
/// The longest answer read.
const MAX_ANSWER: u64 = 4096;

/// Scans `data` with clamd. `Err` covers a daemon that is down, slow,
/// over its stream limit or answering nonsense.
pub async fn scan(endpoint: &Endpoint, data: &[u8], timeout: Duration) -> Result<Answer, String> {
    let reply = tokio::time::timeout(timeout, request(endpoint, b"zINSTREAM\0", Some(data)))
        .await
        .map_err(|_| format!("clamd at {endpoint} did not answer within {timeout:?}"))??;
    parse_answer(&reply).map_err(|e| format!("clamd at {endpoint}: {e}"))
}

/// `zPING`: whether the daemon answers (for `caravel doctor`).
pub async fn ping(endpoint: &Endpoint, timeout: Duration) -> Result<(), String> {
    let reply = tokio::time::timeout(timeout, request(endpoint, b"zPING\0", None))
        .await
        .map_err(|_| format!("clamd at {endpoint} did not answer within {timeout:?}"))??;
    if reply.trim() == "PONG" {
        Ok(())
    } else {
        Err(format!("clamd at {endpoint} answered {reply:?} to PING"))
    }
}

async fn request(endpoint: &Endpoint, command: &[u8], data: Option<&[u8]>) -> Result<String, String> {
    match endpoint {
        Endpoint::Unix(p) => {
            let s = tokio::net::UnixStream::connect(p)
                .await
                .map_err(|e| format!("cannot reach clamd at {endpoint}: {e}"))?;
            exchange(s, command, data).await
        }
        Endpoint::Tcp(a) => {
            let s = tokio::net::TcpStream::connect(a)
                .await
                .map_err(|e| format!("cannot reach clamd at {endpoint}: {e}"))?;
            exchange(s, command, data).await
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    command: &[u8],
    data: Option<&[u8]>,
) -> Result<String, String> {
    let io = |e: std::io::Error| format!("clamd connection: {e}");
    s.write_all(command).await.map_err(io)?;
    if let Some(data) = data {
        for chunk in data.chunks(CHUNK) {
            s.write_all(&(chunk.len() as u32).to_be_bytes()).await.map_err(io)?;
            // clamd stops reading (and answers) once over StreamMaxLength.
            if s.write_all(chunk).await.is_err() {
                break;
            }
        }
        let _ = s.write_all(&[0, 0, 0, 0]).await;
    }
    let _ = s.flush().await;
    let mut reply = Vec::new();
    (&mut s).take(MAX_ANSWER).read_to_end(&mut reply).await.map_err(io)?;
    let end = reply.iter().position(|&b| b == 0).unwrap_or(reply.len());
    Ok(String::from_utf8_lossy(&reply[..end]).trim().to_string())
}

/// "stream: OK", "stream: Eicar-Signature FOUND", "... ERROR".
fn parse_answer(reply: &str) -> Result<Answer, String> {
    let body = reply.strip_prefix("stream:").map(str::trim).unwrap_or(reply);
    if body == "OK" {
        Ok(Answer::Clean)
    } else if let Some(name) = body.strip_suffix(" FOUND") {
        Ok(Answer::Found(name.trim().to_string()))
    } else if reply.is_empty() {
        Err("closed the connection without an answer".into())
    } else {
        Err(reply.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(parse_answer("stream: OK"), Ok(Answer::Clean));
        assert_eq!(
            parse_answer("stream: Eicar-Test-Signature FOUND"),
            Ok(Answer::Found("Eicar-Test-Signature".into()))
        );
        assert!(parse_answer("INSTREAM size limit exceeded. ERROR").is_err());
        assert!(parse_answer("").is_err());
        assert_eq!(Endpoint::parse("/run/clamav/clamd.ctl"), Endpoint::Unix("/run/clamav/clamd.ctl".into()));
        assert_eq!(Endpoint::parse("127.0.0.1:3310"), Endpoint::Tcp("127.0.0.1:3310".into()));
    }

    /// The wire format, against a fake daemon on a socket pair: chunks with
    /// big-endian lengths, a zero-length end, an answer ended by NUL.
    #[tokio::test]
    async fn instream_framing() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let daemon = tokio::spawn(async move {
            let mut cmd = [0u8; 10];
            server.read_exact(&mut cmd).await.expect("cmd");
            assert_eq!(&cmd, b"zINSTREAM\0");
            let mut got = Vec::new();
            loop {
                let mut len = [0u8; 4];
                server.read_exact(&mut len).await.expect("len");
                let n = u32::from_be_bytes(len) as usize;
                if n == 0 {
                    break;
                }
                let mut buf = vec![0u8; n];
                server.read_exact(&mut buf).await.expect("chunk");
                got.extend(buf);
            }
            server.write_all(b"stream: Test.Sig FOUND\0").await.expect("answer");
            got.len()
        });
        let data = vec![7u8; 150_000];
        let reply = exchange(client, b"zINSTREAM\0", Some(&data)).await.expect("reply");
        assert_eq!(parse_answer(&reply), Ok(Answer::Found("Test.Sig".into())));
        assert_eq!(daemon.await.expect("daemon"), 150_000);
    }

    #[tokio::test]
    async fn a_daemon_that_is_down_is_an_error() {
        let e = scan(&Endpoint::Unix("/nonexistent/clamd.sock".into()), b"x", Duration::from_secs(1)).await;
        assert!(matches!(e, Err(m) if m.contains("cannot reach clamd")));
    }
}
