//! Trains the classifier in memory on a labelled list of message files and
//! reports how it does on another: spam recall, ham false positives and
//! the spread of probabilities. For tuning on a part of the training split
//! (never on the test split, whose figures `caravel spam classify` gives).
//!
//! cargo run --release -p caravel-filter --example corpus_eval -- CORPUS_DIR TRAIN_LIST EVAL_LIST

use caravel_filter::bayes::{classify, Model};
use caravel_filter::content::Content;
use caravel_filter::tokens::tokens;

fn read(dir: &str, list: &str) -> Vec<(String, bool, Vec<u64>)> {
    let text = std::fs::read_to_string(list).expect("list");
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let raw = std::fs::read(format!("{dir}/{l}")).expect("message");
            (l.to_string(), l.starts_with("spam/"), tokens(&Content::parse(&raw)))
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, train, eval) = (&args[1], &args[2], &args[3]);
    let mut m = Model::default();
    for (_, spam, t) in read(dir, train) {
        m.learn(&t, spam, 1);
    }
    let started = std::time::Instant::now();
    let eval = read(dir, eval);
    let mut rows = Vec::new();
    for (name, spam, t) in &eval {
        let p = classify(&[&m], t, 1).unwrap_or(0.5);
        rows.push((name.clone(), *spam, p));
    }
    let secs = started.elapsed().as_secs_f64();
    for cut in [0.5, 0.6, 0.7, 0.8, 0.9, 0.99] {
        let spam: Vec<_> = rows.iter().filter(|r| r.1).collect();
        let ham: Vec<_> = rows.iter().filter(|r| !r.1).collect();
        let caught = spam.iter().filter(|r| r.2 >= cut).count();
        let fp = ham.iter().filter(|r| r.2 >= cut).count();
        println!(
            "p >= {cut}: recall {:.2} % ({caught}/{}), false positives {:.2} % ({fp}/{})",
            100.0 * caught as f64 / spam.len() as f64,
            spam.len(),
            100.0 * fp as f64 / ham.len() as f64,
            ham.len()
        );
    }
    println!("{} messages parsed and classified in {secs:.2} s ({:.0}/s)", rows.len(), rows.len() as f64 / secs);
    if std::env::var("SHOW").is_ok() {
        for r in rows.iter().filter(|r| (r.1 && r.2 < 0.9) || (!r.1 && r.2 >= 0.9)) {
            println!("{} {:.4}", r.0, r.2);
        }
    }
}
