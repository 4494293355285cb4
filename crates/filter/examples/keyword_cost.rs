//! CPU per message of an account's keyword patterns at their worst: text
//! that is not ASCII (Cyrillic, accented Latin), so that a Unicode `\b`
//! cannot run in the regex engine's fast DFA, and the most text a message
//! gives the patterns. Each case is a set a user could enter (it passes
//! the limits for an account).
//!
//! cargo run --release -p caravel-filter --example keyword_cost [-- N]

use std::time::Instant;

use caravel_filter::content::Content;
use caravel_filter::keywords::{pattern_limit, Action, KeywordRule, KeywordSet, Place};
use caravel_filter::normalize::fold;

fn main() {
    let runs: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(20);
    let mut body = String::new();
    while body.len() < caravel_filter::content::MAX_TEXT {
        body.push_str("Привет мир, здравствуйте: ünïcödé wörds and plain ascii words here 12345. ");
    }
    let content =
        Content { subject: fold("Запрос цены / price inquiry"), body: fold(&body), ..Content::default() };
    // The worst text for screened patterns: every screen matches, no
    // pattern does (each word is inside a longer one).
    let mut decoys = String::new();
    for i in 0..100 {
        decoys.push_str(&format!("xword{i} things, "));
    }
    let decoyed = Content { body: fold(&format!("{decoys}{body}")), ..content.clone() };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("1 pattern, \\b", vec![r"/\bfree\s+money\b/".into()]),
        ("100 patterns, \\b", (0..100).map(|i| format!(r"/\bword{i}\s+thing\b/")).collect()),
        ("100 patterns, no \\b", (0..100).map(|i| format!(r"/word{i}\s+thing/")).collect()),
        (
            "2 patterns, \\b inside a repetition",
            vec![r"/(?:\b\w+\b\W*){1,5}one/".into(), r"/(?:\b\w+\b\W*){1,5}two/".into()],
        ),
        ("1 pattern that matches, \\b", vec![r"/\bздравствуйте\b/".into()]),
    ];
    let worst =
        ("100 patterns, \\b, every screen matching", (0..100).map(|i| format!(r"/\bword{i}\s+thing\b/")).collect());
    for (name, patterns) in cases.into_iter().chain([worst]) {
        let rules = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| KeywordRule {
                name: format!("K{i}"),
                pattern: p.clone(),
                place: Place::Any,
                action: Action::Junk,
            })
            .collect();
        let set = match KeywordSet::new(rules, pattern_limit("user@example.test")) {
            Ok(set) => set,
            Err(e) => {
                println!("{name}: refused ({e})");
                continue;
            }
        };
        let start = Instant::now();
        let mut hits = 0;
        let text = if name.contains("every screen") { &decoyed } else { &content };
        for _ in 0..runs {
            hits = set.matches(text).len();
        }
        let per = start.elapsed().as_secs_f64() * 1000.0 / f64::from(runs);
        println!("{name}: {per:.3} ms per message of {} KB ({hits} rules match)", text.body.len() >> 10);
    }
}
