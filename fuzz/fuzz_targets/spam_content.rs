//! What the spam filter reads from a message: the decoded text (every
//! charset, HTML to text, attachment names), its tokens and the
//! classifier's features (tokens and byte 5-grams of the header as read
//! without this server's own fields), and the keyword rules over it
//! (the default ones, and patterns with Unicode word boundaries, which are
//! searched screened: they must find what the whole pattern finds).
//! Bounded work and no panic for any input.
#![no_main]
use std::sync::OnceLock;

use caravel_filter::content::{Content, MAX_TEXT};
use caravel_filter::keywords::{pattern_limit, Action, KeywordRule, KeywordSet, Place};
use libfuzzer_sys::fuzz_target;
use regex::Regex;

fn rules() -> &'static KeywordSet {
    static RULES: OnceLock<KeywordSet> = OnceLock::new();
    RULES.get_or_init(|| {
        KeywordSet::new(caravel_filter::default_rules::rules(), pattern_limit("")).expect("default rules")
    })
}

/// A user's subject pattern with Unicode word boundaries, and the same
/// pattern as the regex crate runs it whole.
const SUBJECT_PATTERN: &str = r"\b(free|скидк\w*)\W+\w{2,}\b";

fn subject_rule() -> &'static (KeywordSet, Regex) {
    static RULE: OnceLock<(KeywordSet, Regex)> = OnceLock::new();
    RULE.get_or_init(|| {
        let rule = KeywordRule {
            name: "K".into(),
            pattern: format!("/{SUBJECT_PATTERN}/"),
            place: Place::Subject,
            action: Action::Junk,
        };
        let set = KeywordSet::new(vec![rule], pattern_limit("user@example.test")).expect("pattern");
        (set, Regex::new(&format!("(?i:{SUBJECT_PATTERN})")).expect("pattern"))
    })
}

fuzz_target!(|input: &[u8]| {
    let c = Content::parse(input);
    // Folding can grow a character (lowercase forms), never by much.
    assert!(c.body.len() <= 4 * MAX_TEXT + 16, "{}", c.body.len());
    let tokens = caravel_filter::tokens::tokens(&c);
    let mut distinct = tokens.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), tokens.len(), "distinct (in no order)");
    let features = caravel_filter::logistic::features(input, &c);
    assert!(features.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
    assert!(features.len() <= tokens.len() + 3000, "{} features", features.len());
    let _ = rules().matches(&c);
    let (set, whole) = subject_rule();
    assert_eq!(!set.matches(&c).is_empty(), whole.is_match(&c.subject), "{:?}", c.subject);
    if let Ok(text) = std::str::from_utf8(input) {
        let h = caravel_filter::html::html_to_text(text);
        assert!(h.text.len() <= 2 * text.len() + 16);
    }
});
