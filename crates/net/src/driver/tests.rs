//! The driver over in-memory streams: no sockets, no TLS.

use std::time::{Duration, Instant};

use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;

const LONG: Duration = Duration::from_secs(10);

fn pair(buffer: usize, write_timeout: Duration) -> (Connection<DuplexStream>, DuplexStream) {
    let (server, client) = duplex(buffer);
    (Connection::new(server, write_timeout), client)
}

#[tokio::test]
async fn lines_are_split_and_pipelined_replies_go_out_together() {
    let (mut conn, mut client) = pair(4096, LONG);
    client.write_all(b"NOOP\r\nQUIT\n").await.expect("write");
    assert_eq!(conn.next_line(512, LONG, None).await, Ok(Line::Complete(b"NOOP".to_vec())));
    conn.send(b"250 ok\r\n");
    assert!(conn.has_line(), "QUIT is waiting");
    // A complete command is waiting: nothing is sent before it is answered.
    assert_eq!(conn.next_line(512, LONG, None).await, Ok(Line::Complete(b"QUIT".to_vec())));
    let mut buf = [0u8; 64];
    assert!(tokio::time::timeout(Duration::from_millis(50), client.read(&mut buf)).await.is_err());
    conn.send(b"221 bye\r\n");
    conn.close().await;
    let mut all = Vec::new();
    client.read_to_end(&mut all).await.expect("read");
    assert_eq!(all, b"250 ok\r\n221 bye\r\n");
}

#[tokio::test]
async fn an_over_long_line_is_dropped_whole_and_the_next_one_read() {
    let (mut conn, mut client) = pair(1 << 20, LONG);
    let mut input = vec![b'x'; 100_000];
    input.extend_from_slice(b"\r\nNOOP\r\n");
    client.write_all(&input).await.expect("write");
    assert_eq!(conn.next_line(512, LONG, None).await, Ok(Line::TooLong));
    assert!(conn.input().len() < 100_000, "the long line was not kept whole");
    assert_eq!(conn.next_line(512, LONG, None).await, Ok(Line::Complete(b"NOOP".to_vec())));
    // At the limit exactly (CRLF counted): accepted; one byte more: too long.
    client
        .write_all(&[b"y".repeat(510), b"\r\n".to_vec(), b"z".repeat(511), b"\r\n".to_vec()].concat())
        .await
        .expect("w");
    assert!(matches!(conn.next_line(512, LONG, None).await, Ok(Line::Complete(l)) if l.len() == 510));
    assert_eq!(conn.next_line(512, LONG, None).await, Ok(Line::TooLong));
}

#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_by_the_write_timeout() {
    let (mut conn, _client) = pair(64, Duration::from_millis(200));
    conn.send(&vec![b'r'; 1 << 20]);
    let started = Instant::now();
    assert_eq!(conn.flush().await, Err(End::Gone));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn silence_ends_in_a_timeout_and_a_closed_client_in_gone() {
    let (mut conn, client) = pair(64, LONG);
    assert_eq!(conn.next_line(512, Duration::from_millis(50), None).await, Err(End::Timeout));
    drop(client);
    assert_eq!(conn.next_line(512, LONG, None).await, Err(End::Gone));
}

#[tokio::test]
async fn the_pause_comes_before_the_refusal() {
    let (mut conn, mut client) = pair(4096, LONG);
    let pause = Duration::from_millis(300);
    let server = tokio::spawn(async move {
        let line = conn.next_line(512, LONG, None).await;
        assert_eq!(line, Ok(Line::Complete(b"a LOGIN alice wrong".to_vec())));
        conn.refuse_after_pause(pause, b"a NO [AUTHENTICATIONFAILED] Invalid credentials\r\n").await;
        conn.flush().await.expect("flush");
        // The connection stays open: the client sees the refusal itself.
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    let sent = Instant::now();
    client.write_all(b"a LOGIN alice wrong\r\n").await.expect("write");
    let mut reply = [0u8; 128];
    let n = client.read(&mut reply).await.expect("read");
    let took = sent.elapsed();
    assert!(took >= pause && took < pause + Duration::from_secs(1), "the refusal came after {took:?}");
    assert!(reply[..n].starts_with(b"a NO"));
    server.await.expect("server");
}

#[tokio::test]
async fn shutdown_is_noticed_between_commands_only() {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut shutdown = Shutdown(rx);
    let (mut conn, mut client) = pair(4096, LONG);
    client.write_all(b"NOOP\r\n").await.expect("write");
    conn.fill(LONG, None).await.expect("received");
    tx.send(true).expect("stop");
    // A command already received is still answered.
    assert_eq!(conn.next_line(512, LONG, Some(&mut shutdown)).await, Ok(Line::Complete(b"NOOP".to_vec())));
    assert_eq!(conn.next_line(512, LONG, Some(&mut shutdown)).await, Err(End::Shutdown));
}

/// A stand-in for COMPRESS=DEFLATE: every byte XORed on the wire.
struct Xor;

impl Layer for Xor {
    fn encode(&mut self, plain: &[u8], wire: &mut Vec<u8>) {
        wire.extend(plain.iter().map(|b| b ^ 0x5a));
    }
    fn decode(&mut self, wire: &[u8], plain: &mut Vec<u8>) -> Result<(), CorruptStream> {
        plain.extend(wire.iter().map(|b| b ^ 0x5a));
        Ok(())
    }
}

#[tokio::test]
async fn a_layer_applies_from_the_next_byte_on_both_ways() {
    let (mut conn, mut client) = pair(4096, LONG);
    let encoded: Vec<u8> = b"NOOP\r\n".iter().map(|b| b ^ 0x5a).collect();
    // The client pipelined a compressed command right after COMPRESS.
    client.write_all(&[b"c COMPRESS\r\n".as_slice(), &encoded].concat()).await.expect("write");
    assert_eq!(conn.next_line(512, LONG, None).await, Ok(Line::Complete(b"c COMPRESS".to_vec())));
    conn.send(b"c OK\r\n");
    conn.flush().await.expect("flush");
    conn.start_layer(Box::new(Xor)).expect("layer");
    assert_eq!(conn.next_line(512, LONG, None).await, Ok(Line::Complete(b"NOOP".to_vec())));
    conn.send(b"ok\r\n");
    conn.close().await;
    let mut all = Vec::new();
    client.read_to_end(&mut all).await.expect("read");
    assert_eq!(&all[..6], b"c OK\r\n");
    assert_eq!(all[6..].iter().map(|b| b ^ 0x5a).collect::<Vec<_>>(), b"ok\r\n");
}

#[tokio::test]
async fn start_tls_forgets_what_came_before_the_handshake() {
    let (mut conn, mut client) = pair(4096, LONG);
    client.write_all(b"STARTTLS\r\nRSET\r\n").await.expect("write");
    assert_eq!(conn.next_line(512, LONG, None).await, Ok(Line::Complete(b"STARTTLS".to_vec())));
    assert!(conn.has_line(), "an injected command is buffered");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = caravel_config::Config { data_dir: dir.path().to_path_buf(), ..Default::default() };
    let acceptor = crate::tls::acceptor(crate::tls::Certificates::from_config(&config).expect("certs")).expect("tls");
    // The in-memory transport has no TLS, but the buffer is cleared first.
    assert_eq!(conn.start_tls(&acceptor, LONG).await, Err(End::Gone));
    assert!(conn.input().is_empty());
}
