//! The learning classifier on real mail: trained on three quarters of 80
//! messages from the SpamAssassin public corpus (tests/corpus), it sorts the
//! quarter it never saw, and the same message read from a file (LF) or as
//! it arrives over SMTP (CRLF) gets the same features.

use caravel_filter::content::Content;
use caravel_filter::logistic::{classify, features, points, Trained};

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

/// The server's model from three quarters of the corpus, and the quarter
/// it never saw: (name, spam?, features).
fn trained_and_held_out() -> (Trained, Vec<(String, bool, Vec<u32>)>) {
    let all = corpus();
    assert_eq!(all.len(), 80);
    let (held, learnt): (Vec<_>, Vec<_>) = all.iter().enumerate().partition(|(i, _)| i % 4 == 0);
    let examples: Vec<(bool, Vec<u32>)> = learnt.iter().map(|(_, (_, spam, raw))| (*spam, feats(raw))).collect();
    let model = Trained::new(&examples);
    let held = held.into_iter().map(|(_, (name, spam, raw))| (name.clone(), *spam, feats(raw))).collect();
    (model, held)
}

/// One user's correction (a message moved into or out of Junk) turns the
/// verdict on that message for them, and no other message crosses the
/// line the classifier alone files as Junk by (the 5 points of the default
/// junk score) the wrong way. (Messages of the same
/// mailing list move towards it: they share the list's header fields.)
#[test]
fn a_users_correction_moves_that_message_and_not_the_others() {
    let (model, held) = trained_and_held_out();
    let p = |layers: &[&Trained], f: &[u32]| classify(layers, f, 10).expect("trained");
    let junk = |p: f64| points(p).1 >= 5.0;
    for (target, (name, spam, f)) in held.iter().enumerate().filter(|(i, _)| i % 5 == 0) {
        // The user says the opposite of what the message is.
        let user = Trained::on_top(Some(&model), &[(!spam, f.clone())]);
        let after = p(&[&model, &user], f);
        assert!(if *spam { after < 0.05 } else { after > 0.95 }, "{name}: {after}");
        for (i, (other, other_spam, g)) in held.iter().enumerate() {
            let (before, now) = (p(&[&model], g), p(&[&model, &user], g));
            if i != target && junk(before) == *other_spam {
                assert_eq!(junk(now), *other_spam, "{other}: {before} -> {now} after correcting {name}");
            }
        }
    }
}

#[test]
fn trained_on_most_it_sorts_the_rest() {
    let (model, held) = trained_and_held_out();
    let mut caught = 0;
    for (name, spam, f) in &held {
        let p = classify(&[&model], f, 10).expect("trained on 60");
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
