//! A user's keyword pattern (the input's first line) over a subject (the
//! rest): searched screened (the set without Unicode word boundaries, then
//! the whole pattern where the screen matched), it must match exactly
//! where the regex crate matches the whole pattern. This checks that the
//! screen, printed back from the parsed pattern, never misses.
#![no_main]
use caravel_filter::content::Content;
use caravel_filter::keywords::{pattern_limit, Action, KeywordRule, KeywordSet, Place};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(input) = std::str::from_utf8(input) else { return };
    let Some((pattern, subject)) = input.split_once('\n') else { return };
    // An empty place is not searched (a pattern matching the empty text
    // would otherwise match a message without a subject).
    if pattern.is_empty() || pattern.len() > 200 || subject.is_empty() || subject.len() > 2000 {
        return;
    }
    let limit = pattern_limit("user@example.test");
    let Ok(whole) = regex::RegexBuilder::new(&format!("(?i:{pattern})")).size_limit(limit).build() else { return };
    let rule =
        KeywordRule { name: "K".into(), pattern: format!("/{pattern}/"), place: Place::Subject, action: Action::Junk };
    let Ok(set) = KeywordSet::new(vec![rule], limit) else { return };
    let c = Content { subject: subject.to_string(), ..Content::default() };
    assert_eq!(!set.matches(&c).is_empty(), whole.is_match(subject), "/{pattern}/ on {subject:?}");
});
