//! An experiment for the next step of the classifier: a hashed online
//! logistic regression over the classifier's tokens plus byte n-grams of the
//! message's first bytes (headers included), against the chi-square
//! combination of the same tokens. Prints recall with 0, 1, 3 and 5 ham
//! false positives allowed. Tune on halves of the training split only.
//!
//! cargo run --release -p caravel-filter --example lr_eval -- CORPUS TRAIN EVAL MODE [EPOCHS] [RATE]
//! (MODE: t = tokens, g = n-grams, tg = both; N and L in the environment
//! set the n-gram length and how many bytes are read, default 4 and 3000.)
use caravel_filter::bayes::{classify, Model};
use caravel_filter::content::Content;
use caravel_filter::tokens::tokens;

const BITS: u32 = 22;

struct Msg {
    spam: bool,
    toks: Vec<u64>,
    feats: Vec<u32>,
}

fn grams(raw: &[u8], n: usize, limit: usize, out: &mut Vec<u32>) {
    let raw = if raw.starts_with(b"From ") {
        raw.iter().position(|b| *b == b'\n').map_or(raw, |i| &raw[i + 1..])
    } else {
        raw
    };
    let r = &raw[..raw.len().min(limit)];
    for w in r.windows(n) {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ 0x55;
        for b in w {
            h ^= b.to_ascii_lowercase() as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push((h >> (64 - BITS)) as u32);
    }
}

fn read(dir: &str, list: &str, mode: &str) -> Vec<Msg> {
    let text = std::fs::read_to_string(list).expect("list");
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let raw = std::fs::read(format!("{dir}/{l}")).expect("message");
            let toks = tokens(&Content::parse(&raw));
            let mut feats: Vec<u32> = Vec::new();
            if mode.contains('t') {
                feats.extend(toks.iter().map(|t| (t >> (64 - BITS)) as u32));
            }
            if mode.contains('g') {
                let n = std::env::var("N").map_or(4, |s| s.parse().expect("N"));
                let limit = std::env::var("L").map_or(3000, |s| s.parse().expect("L"));
                grams(&raw, n, limit, &mut feats);
            }
            feats.sort_unstable();
            feats.dedup();
            Msg { spam: l.starts_with("spam/"), toks, feats }
        })
        .collect()
}

fn score(w: &[f32], f: &[u32]) -> f64 {
    let s: f32 = f.iter().map(|i| w[*i as usize]).sum();
    s as f64
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn report(name: &str, rows: &[(bool, f64)]) {
    let mut hams: Vec<f64> = rows.iter().filter(|r| !r.0).map(|r| r.1).collect();
    hams.sort_by(|a, b| b.total_cmp(a));
    let nspam = rows.iter().filter(|r| r.0).count();
    let mut out = format!("{name}:");
    for fp in [0usize, 1, 3, 5] {
        // Threshold just above the (fp+1)-th highest ham.
        let cut = hams[fp];
        let caught = rows.iter().filter(|r| r.0 && r.1 > cut).count();
        out += &format!("  fp{fp}: {:.2}%", 100.0 * caught as f64 / nspam as f64);
    }
    println!("{out}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, train, eval, mode) = (&args[1], &args[2], &args[3], &args[4]);
    let epochs: usize = args.get(5).map_or(5, |s| s.parse().expect("a number"));
    let rate: f32 = args.get(6).map_or(0.02, |s| s.parse().expect("a number"));
    let train = read(dir, train, mode);
    let eval = read(dir, eval, mode);
    let mut m = Model::default();
    for t in &train {
        m.learn(&t.toks, t.spam, 1);
    }
    let mut w = vec![0f32; 1 << BITS];
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut seed = 12345u64;
    for _ in 0..epochs {
        for i in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        for &i in &order {
            let t = &train[i];
            let p = sigmoid(score(&w, &t.feats));
            let y = if t.spam { 1.0 } else { 0.0 };
            let g = (y - p) as f32 * rate;
            for f in &t.feats {
                w[*f as usize] += g;
            }
        }
    }
    let chi: Vec<(bool, f64)> = eval.iter().map(|e| (e.spam, classify(&[&m], &e.toks, 1).unwrap_or(0.5))).collect();
    let lr: Vec<(bool, f64)> = eval.iter().map(|e| (e.spam, sigmoid(score(&w, &e.feats)))).collect();
    let avg: Vec<(bool, f64)> = chi.iter().zip(&lr).map(|(a, b)| (a.0, (a.1 + b.1) / 2.0)).collect();
    report("chi", &chi);
    report("lr ", &lr);
    report("avg", &avg);
    for cut in [0.5, 0.9] {
        let spam = lr.iter().filter(|r| r.0).count();
        let c = lr.iter().filter(|r| r.0 && r.1 >= cut).count();
        let f = lr.iter().filter(|r| !r.0 && r.1 >= cut).count();
        println!("lr p>={cut}: recall {:.2}% fp {f}", 100.0 * c as f64 / spam as f64);
    }
}
