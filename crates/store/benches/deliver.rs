//! Deliveries per second into the embedded store with fsync on: 1 KB and
//! 100 KB messages, 1 and 16 concurrent writers, plus peak memory and the
//! disk's own bandwidth for comparison.
//!
//! `cargo bench -p caravel-store --bench deliver` (BENCH_SECONDS=N, BENCH_DIR=path)

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use caravel_store::sqlite::SqliteStore;
use caravel_store::*;

fn message(writer: usize, n: u64, size: usize) -> Arc<Vec<u8>> {
    let mut m = format!(
        "From: bench@remote.test\r\nTo: user@bench.test\r\nSubject: w{writer} n{n}\r\nMessage-ID: <w{writer}n{n}@remote.test>\r\n\r\n"
    )
    .into_bytes();
    let line = format!("writer {writer} message {n} filler text for the benchmark body....\r\n");
    while m.len() < size {
        m.extend_from_slice(line.as_bytes());
    }
    m.truncate(size);
    Arc::new(m)
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

async fn run(dir: &std::path::Path, size: usize, writers: usize, seconds: f64) -> (f64, u64) {
    let store = Arc::new(SqliteStore::open(dir).expect("open"));
    store.add_domain("bench.test").await.expect("domain");
    let mut accounts = Vec::new();
    for w in 0..writers {
        let address = Address::parse(&format!("user{w}@bench.test")).expect("address");
        let u = store
            .add_user(NewUser { address, name: None, quota: None, password_hash: "x".into() })
            .await
            .expect("user");
        accounts.push(u.id);
    }
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (w, account) in accounts.into_iter().enumerate() {
        let store = store.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                let d = Delivery {
                    sign_as: None,
                    raw: message(w, n, size),
                    internal_date: 0,
                    targets: vec![Target::new(account, MailboxTarget::Special(SpecialUse::Inbox))],
                    sender: "bench@remote.test".into(),
                    session: "bench".into(),
                    ..Default::default()
                };
                let r = store.deliver(d).await.expect("deliver");
                assert!(r.stored[0].is_ok());
                n += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let count = done.load(Ordering::Relaxed);
    let report = store.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.messages, count);
    (count as f64 / elapsed, count)
}

/// Sequential write bandwidth with one fsync at the end, the disk's ceiling.
fn disk_bandwidth(dir: &std::path::Path) -> f64 {
    let path = dir.join("bandwidth.tmp");
    let chunk = vec![0x5au8; 1 << 20];
    let started = Instant::now();
    let mut f = std::fs::File::create(&path).expect("create");
    for _ in 0..512 {
        f.write_all(&chunk).expect("write");
    }
    f.sync_all().expect("fsync");
    let mb_s = 512.0 / started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    mb_s
}

/// The ceiling for durable per-message files: 16 threads each writing 100 KB
/// files through the blob store alone (temp, fsync, rename, directory fsync),
/// with no database. Returns files per second.
fn raw_durable_files(dir: &std::path::Path, seconds: f64) -> f64 {
    let blobs = caravel_store::blobs::BlobStore::open(dir.join("blobs")).expect("blobs");
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let count = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for w in 0..16 {
            let (blobs, count) = (&blobs, &count);
            scope.spawn(move || {
                let mut n = 0;
                while Instant::now() < deadline {
                    blobs.write(&message(w, n, 100 * 1024)).expect("write");
                    n += 1;
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let seconds: f64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let base = std::env::var("BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| std::env::temp_dir());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!("store delivery benchmark, fsync on, {seconds}s per case, in {}", base.display());
    println!("{:>8} {:>8} {:>14} {:>10} {:>10}", "size", "writers", "deliveries/s", "MB/s", "messages");
    for size in [1024usize, 100 * 1024] {
        for writers in [1usize, 16] {
            let dir = tempfile::Builder::new().prefix("caravel-bench").tempdir_in(&base).expect("tempdir");
            let (rate, count) = rt.block_on(run(dir.path(), size, writers, seconds));
            let mb_s = rate * size as f64 / (1024.0 * 1024.0);
            println!("{:>8} {writers:>8} {rate:>14.0} {mb_s:>10.1} {count:>10}", format!("{}K", size / 1024));
        }
    }
    let dir = tempfile::Builder::new().prefix("caravel-bench").tempdir_in(&base).expect("tempdir");
    println!("disk sequential write + fsync: {:.0} MB/s", disk_bandwidth(dir.path()));
    let files = raw_durable_files(dir.path(), seconds);
    println!("durable 100K files alone, 16 threads: {files:.0}/s = {:.0} MB/s", files * 100.0 / 1024.0);
    println!("peak memory (VmHWM): {} MB", peak_rss_kb() / 1024);
}
