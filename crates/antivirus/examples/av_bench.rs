//! The scanner's speed and memory with many signatures, for
//! bench/av-side-by-side.sh:
//!
//!   av_bench generate DIR N        N signatures: half .ndb body patterns
//!                                  (with wildcards and gaps), half .hdb hashes
//!   av_bench sample FILE MB        a file of MB mebibytes (text, binary, zeros)
//!   av_bench scan DIR FILE [RUNS]  loads DIR, scans FILE; prints JSON
//!   av_bench message DIR EML       as the pipeline does: the message parsed
//!                                  once (timed apart), then its scan
//!
//! Generated signatures are pseudo-random (a fixed seed), so both scanners
//! get the same files and neither finds anything: the figure is the cost of
//! looking.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use caravel_antivirus::{load_dir, Limits, Scanner};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn hex(r: &mut Rng, n: usize) -> String {
    (0..n).map(|_| format!("{:02x}", r.below(256))).collect()
}

fn generate(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).expect("dir");
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ndb = std::io::BufWriter::new(std::fs::File::create(dir.join("generated.ndb")).expect("ndb"));
    let mut hdb = std::io::BufWriter::new(std::fs::File::create(dir.join("generated.hdb")).expect("hdb"));
    for i in 0..n / 2 {
        let len = 8 + r.below(12) as usize;
        let mut sig = hex(&mut r, len);
        match i % 4 {
            0 => sig.push_str(&format!("??{}", hex(&mut r, 6))),
            1 => sig.push_str(&format!("{{2-16}}{}", hex(&mut r, 6))),
            2 => sig.push_str(&format!("*{}", hex(&mut r, 8))),
            _ => {}
        }
        writeln!(ndb, "Caravel.Bench.Body-{i}:0:*:{sig}").expect("write");
    }
    for i in 0..n - n / 2 {
        let h = hex(&mut r, 16);
        writeln!(hdb, "{h}:{}:Caravel.Bench.Hash-{i}", 1000 + r.below(1 << 20)).expect("write");
    }
}

fn sample(file: &Path, mb: usize) {
    let mut r = Rng(42);
    let words = ["invoice", "payment", "shipment", "container", "order", "price", "quotation", "the", "of", "and"];
    let mut out = Vec::with_capacity(mb << 20);
    while out.len() < mb << 20 {
        match r.below(3) {
            0 => {
                for _ in 0..4096 {
                    out.extend_from_slice(words[r.below(words.len() as u64) as usize].as_bytes());
                    out.push(b' ');
                }
            }
            1 => (0..4096).for_each(|_| out.push(r.below(256) as u8)),
            _ => out.extend(std::iter::repeat_n(0u8, 4096)),
        }
    }
    out.truncate(mb << 20);
    std::fs::write(file, out).expect("sample");
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn scan(dir: &Path, file: &Path, runs: usize) {
    let data = std::fs::read(file).expect("file");
    let before = rss_kib();
    let t = Instant::now();
    let loaded = load_dir(dir).expect("load");
    let load_s = t.elapsed().as_secs_f64();
    let counts = loaded.db.counts().clone();
    let rss = rss_kib().saturating_sub(before);
    let scanner = Scanner::new(Arc::new(loaded.db), Limits::default());
    let mut best = f64::MAX;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let report = scanner.scan_file("sample.bin", data.clone());
        best = best.min(t.elapsed().as_secs_f64());
        assert!(report.virus().is_none(), "a generated signature matched: {report:?}");
    }
    let mb = data.len() as f64 / (1 << 20) as f64;
    println!(
        "{{\"signatures\": {}, \"skipped\": {}, \"load_s\": {load_s:.3}, \"db_rss_mib\": {:.1}, \"file_mib\": {mb:.1}, \"scan_ms\": {:.1}, \"mib_per_s\": {:.1}}}",
        counts.hashes + counts.patterns,
        counts.skipped,
        rss as f64 / 1024.0,
        best * 1000.0,
        mb / best
    );
}

fn message(dir: &Path, file: &Path) {
    let raw = std::fs::read(file).expect("file");
    let scanner = Scanner::new(Arc::new(load_dir(dir).expect("load").db), Limits::default());
    let (mut parse, mut scan) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let t = Instant::now();
        let limits = Limits::default();
        let mut budget = caravel_antivirus::containers::Budget::new(&limits);
        let parts =
            caravel_store::mime::with_parsed(&raw, |m| caravel_antivirus::containers::message_parts(m, &mut budget))
                .expect("a message");
        parse = parse.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let report = scanner.scan_message(&raw, &parts, &[]);
        scan = scan.min(t.elapsed().as_secs_f64());
        assert!(report.virus().is_none());
    }
    println!(
        "{{\"message_mib\": {:.1}, \"parse_and_decode_ms\": {:.1}, \"scan_ms\": {:.1}}}",
        raw.len() as f64 / (1 << 20) as f64,
        parse * 1000.0,
        scan * 1000.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("generate") => generate(Path::new(&args[2]), args[3].parse().expect("N")),
        Some("sample") => sample(Path::new(&args[2]), args[3].parse().expect("MB")),
        Some("message") => message(Path::new(&args[2]), Path::new(&args[3])),
        Some("scan") => {
            scan(Path::new(&args[2]), Path::new(&args[3]), args.get(4).map_or(3, |r| r.parse().expect("runs")))
        }
        _ => eprintln!("usage: av_bench generate DIR N | sample FILE MB | scan DIR FILE [RUNS]"),
    }
}
