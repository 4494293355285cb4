//! Trains the classifier in memory on a labelled list of message files and
//! reports how it does on another: spam recall and ham false positives at
//! several probabilities, and recall with 0, 1, 3 and 5 false positives
//! allowed. For tuning on a part of the training split (never on the test
//! split, whose figures `caravel spam classify` gives).
//!
//! cargo run --release -p caravel-filter --example corpus_eval -- CORPUS_DIR TRAIN_LIST EVAL_LIST
//! cargo run --release -p caravel-filter --example corpus_eval -- CORPUS_DIR TRAIN_LIST cv K
//!   (K-fold cross-validation inside TRAIN_LIST: each fold scored by a model
//!   trained on the others, the scores pooled)
//! cargo run --release -p caravel-filter --example corpus_eval -- CORPUS_DIR TRAIN_LIST gcv K
//!   (the same, with the folds by the From: address's organizational
//!   domain: every message is scored by a model that never saw its sender,
//!   as mail from a new correspondent or another corpus will be)
//! GSEED=n picks another assignment of messages to folds (for either kind):
//! the figures move a lot between assignments, so compare settings over
//! several of them.

use caravel_filter::content::Content;
use caravel_filter::keywords::{Action, KeywordSet};
use caravel_filter::logistic::{classify, features, margin, points, Trained};

/// A message: its name, spam?, features, the points the default rules give
/// it, and its sender's organizational domain.
type Row = (String, bool, Vec<u32>, f64, String);

fn read(dir: &str, list: &str) -> Vec<Row> {
    let rules = KeywordSet::new(caravel_filter::default_rules::rules(), caravel_filter::keywords::pattern_limit(""))
        .expect("default rules");
    let text = std::fs::read_to_string(list).expect("list");
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let raw = std::fs::read(format!("{dir}/{l}")).expect("message");
            let content = Content::parse(&raw);
            let mut names: Vec<String> = Vec::new();
            let mut score = 0.0;
            for (rule, _) in rules.matches(&content) {
                if let Action::Score(n) = rule.action {
                    if !names.contains(&rule.name) {
                        names.push(rule.name.clone());
                        score += n;
                    }
                }
            }
            let domain = content.from_address.rsplit_once('@').map_or("", |(_, d)| d);
            let org = caravel_filter::org_domain::org_domain(domain).to_string();
            (l.to_string(), l.starts_with("spam/"), features(&raw, &content), score, org)
        })
        .collect()
}

fn model(examples: &[(bool, Vec<u32>)]) -> Trained {
    Trained::new(examples)
}

fn cross_validate(dir: &str, list: &str, k: usize, by_sender: bool) {
    let all = read(dir, list);
    let fold_of = |i: usize, org: &str| {
        if by_sender && !org.is_empty() {
            (caravel_filter::tokens::hash(&format!("{org}{}", std::env::var("GSEED").unwrap_or_default())) % k as u64)
                as usize
        } else {
            match std::env::var("GSEED") {
                Ok(seed) => (caravel_filter::tokens::hash(&format!("{i}/{seed}")) % k as u64) as usize,
                Err(_) => i % k,
            }
        }
    };
    let mut rows: Vec<Scored> = Vec::new();
    for fold in 0..k {
        let learn: Vec<(bool, Vec<u32>)> = all
            .iter()
            .enumerate()
            .filter(|(i, r)| fold_of(*i, &r.4) != fold)
            .map(|(_, (_, s, f, _, _))| (*s, f.clone()))
            .collect();
        let m = model(&learn);
        for (_, (name, spam, f, rules, _)) in all.iter().enumerate().filter(|(i, r)| fold_of(*i, &r.4) == fold) {
            rows.push(scored(&m, name, *spam, f, *rules));
        }
    }
    report(&rows, &[0, 2, 4, 6, 8, 10, 15]);
}

/// A scored message: name, spam?, the classifier's probability, the rules'
/// points, the classifier's log-odds (which ranks where probabilities
/// round to 1).
type Scored = (String, bool, f64, f64, f64);

fn scored(m: &Trained, name: &str, spam: bool, f: &[u32], rules: f64) -> Scored {
    (name.to_string(), spam, classify(&[m], f, 1).unwrap_or(0.5), rules, margin(&[&m.weights], f))
}

fn report(rows: &[Scored], allowed: &[usize]) {
    let spam: Vec<_> = rows.iter().filter(|r| r.1).collect();
    let ham: Vec<_> = rows.iter().filter(|r| !r.1).collect();
    for cut in [0.5, 0.9, 0.95, 0.97, 0.99] {
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
    let mut hams: Vec<f64> = ham.iter().map(|r| r.4).collect();
    hams.sort_by(|a, b| b.total_cmp(a));
    let mut line = String::from("recall with n false positives:");
    for &n in allowed {
        let cut = hams.get(n).copied().unwrap_or(f64::MIN);
        let caught = spam.iter().filter(|r| r.4 > cut).count();
        line += &format!("  {n}: {:.2} %", 100.0 * caught as f64 / spam.len() as f64);
    }
    println!("{line}");
    // One figure for comparing settings: the mean recall over 0..=20 false
    // positives allowed (steadier than any one of them).
    let area: f64 = (0..=20)
        .map(|n| {
            let cut = hams.get(n).copied().unwrap_or(f64::MIN);
            spam.iter().filter(|r| r.4 > cut).count() as f64 / spam.len() as f64
        })
        .sum::<f64>()
        / 21.0;
    println!("mean recall over 0..=20 false positives: {:.2} %", 100.0 * area);
    // What the server does: the rules' points and the classifier's, junk at 5.
    let junk = |r: &&&Scored| r.3 + points(r.2).1 >= 5.0;
    let (caught, fp) = (spam.iter().filter(junk).count(), ham.iter().filter(junk).count());
    let ruled = ham.iter().filter(junk).filter(|r| r.2 < 0.9).count();
    println!(
        "with the default rules, junk at 5 points: recall {:.2} % ({caught}), false positives {:.2} % ({fp}, {ruled} by the rules)",
        100.0 * caught as f64 / spam.len() as f64,
        100.0 * fp as f64 / ham.len() as f64
    );
    if std::env::var("SHOW").is_ok() {
        for r in rows.iter().filter(|r| (r.1 && r.2 < 0.9) || (!r.1 && r.2 >= 0.9)) {
            println!("{} {:.4} rules {}", r.0, r.2, r.3);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, train_list, eval) = (&args[1], &args[2], &args[3]);
    if eval == "cv" || eval == "gcv" {
        let k = args.get(4).map_or(5, |k| k.parse().expect("K"));
        return cross_validate(dir, train_list, k, eval == "gcv");
    }
    let examples: Vec<(bool, Vec<u32>)> = read(dir, train_list).into_iter().map(|(_, s, f, _, _)| (s, f)).collect();
    let started = std::time::Instant::now();
    let m = model(&examples);
    println!("trained on {} messages in {:.2} s", examples.len(), started.elapsed().as_secs_f64());
    let started = std::time::Instant::now();
    let eval = read(dir, eval);
    let rows: Vec<Scored> = eval.iter().map(|(name, spam, f, rules, _)| scored(&m, name, *spam, f, *rules)).collect();
    let secs = started.elapsed().as_secs_f64();
    report(&rows, &[0, 1, 3, 5]);
    println!("{} messages parsed and classified in {secs:.2} s ({:.0}/s)", rows.len(), rows.len() as f64 / secs);
}
