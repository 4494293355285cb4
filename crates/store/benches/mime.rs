//! What delivery and the SMTP depth check cost per message: `analyze`
//! (envelope and structure, made safe by safe_parse) and `nesting_depth`,
//! on a 1 KB text message, a 17 KB multipart with a base64 attachment and
//! a forwarded message, and the hostile 68 KB 1,000-level message.
//!
//! `cargo bench -p caravel-store --bench mime` (BENCH_ROUNDS=N)

use std::time::Instant;

use caravel_store::mime;

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let mut plain = b"From: Buyer <buyer@remote.test>\r\nTo: sales@bench.test\r\nSubject: quotation request\r\nMessage-ID: <1@remote.test>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n".to_vec();
    while plain.len() < 1024 {
        plain.extend_from_slice(b"Please quote 500 units of item 42, delivered FOB Shanghai.\r\n");
    }
    let attachment = caravel_testkit::base64_lines(&vec![7u8; 12_000]);
    let mut multi = b"From: a@remote.test\r\nTo: sales@bench.test\r\nSubject: order\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nSee the order=3D attached.\r\n--b\r\nContent-Type: application/pdf; name=order.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    multi.extend_from_slice(&attachment);
    multi.extend_from_slice(
        b"--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@remote.test\r\nSubject: earlier\r\n\r\nbody\r\n--b--\r\n",
    );
    let hostile = caravel_testkit::nested_message(caravel_testkit::Nesting::Multipart, 1000, "a@x.test", "b@y.test");
    println!("| message | bytes | analyze (µs) | nesting_depth (µs) |");
    println!("|---|---|---|---|");
    for (name, raw, n) in [
        ("1 KB text", &plain, rounds),
        ("17 KB multipart", &multi, rounds / 4),
        ("68 KB, 1,000 levels", &hostile, rounds / 100),
    ] {
        let started = Instant::now();
        for _ in 0..n {
            std::hint::black_box(mime::analyze(std::hint::black_box(raw)));
        }
        let analyze = started.elapsed().as_secs_f64() * 1e6 / n as f64;
        let started = Instant::now();
        for _ in 0..n {
            std::hint::black_box(mime::nesting_depth(std::hint::black_box(raw)));
        }
        let depth = started.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("| {name} | {} | {analyze:.1} | {depth:.1} |", raw.len());
    }
}
