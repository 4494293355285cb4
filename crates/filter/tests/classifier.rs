//! The learning classifier on real mail: trained on three quarters of 80
//! messages from the SpamAssassin public corpus (tests/corpus), it sorts the
//! quarter it never saw, and the same message read from a file (LF) or as
//! it arrives over SMTP (CRLF) gets the same features.

use caravel_filter::content::Content;
use caravel_filter::logistic::{classify, features, train, Trained};

fn corpus() -> Vec<(String, bool, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    let mut out: Vec<(String, bool, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("tests/corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name.clone(), name.starts_with("spam-"), std::fs::read(&p).expect("read"))
        })
        .collect();
    out.sort();
    out
}

fn feats(raw: &[u8]) -> Vec<u32> {
    features(raw, &Content::parse(raw))
}

#[test]
fn trained_on_most_it_sorts_the_rest() {
    let all = corpus();
    assert_eq!(all.len(), 80);
    let (held, learnt): (Vec<_>, Vec<_>) = all.iter().enumerate().partition(|(i, _)| i % 4 == 0);
    let examples: Vec<(bool, Vec<u32>)> = learnt.iter().map(|(_, (_, spam, raw))| (*spam, feats(raw))).collect();
    let model = Trained {
        weights: train(&examples),
        spam: examples.iter().filter(|e| e.0).count() as u32,
        ham: examples.iter().filter(|e| !e.0).count() as u32,
    };
    let mut caught = 0;
    for (_, (name, spam, raw)) in &held {
        let p = classify(&[&model], &feats(raw), 10).expect("trained on 60");
        if *spam {
            caught += usize::from(p >= 0.5);
        } else {
            assert!(p < 0.5, "{name}: legitimate mail scored {p}");
        }
    }
    assert!(caught >= 8, "only {caught} of 10 spam caught");
}

#[test]
fn line_ends_do_not_change_the_features() {
    for (name, _, raw) in corpus().iter().take(10) {
        let mut crlf = Vec::with_capacity(raw.len() + raw.len() / 20);
        for &b in raw.iter().filter(|&&b| b != b'\r') {
            if b == b'\n' {
                crlf.push(b'\r');
            }
            crlf.push(b);
        }
        assert_eq!(feats(raw), feats(&crlf), "{name}");
    }
}
