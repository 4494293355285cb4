//! Keyword rules (`caravel filter keyword add TEXT|/REGEX/`): words and
//! patterns looked for in the decoded, folded text of a message. All plain
//! words are found in one pass (Aho-Corasick), all patterns in one more
//! (a RegexSet), however many rules there are. Words in scripts written
//! with spaces must stand alone (`sale` does not match `wholesale`); CJK
//! words match anywhere, since that text has no spaces between words.

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{RegexSet, RegexSetBuilder};

use crate::content::Content;
use crate::normalize::{fold, is_cjk};

/// Where a rule looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Subject,
    Body,
    /// Subject, body, header fields and attachment names.
    Any,
}

impl Place {
    pub fn parse(s: &str) -> Result<Place, String> {
        match s {
            "subject" => Ok(Place::Subject),
            "body" => Ok(Place::Body),
            "any" => Ok(Place::Any),
            _ => Err(format!("--where {s}: use subject, body or any")),
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Place::Subject => "subject",
            Place::Body => "body",
            Place::Any => "any",
        }
    }
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    Junk,
    Quarantine,
    Reject,
    Score(f64),
}

impl Action {
    pub fn parse(s: &str) -> Result<Action, String> {
        match s {
            "junk" => Ok(Action::Junk),
            "quarantine" => Ok(Action::Quarantine),
            "reject" => Ok(Action::Reject),
            _ => s
                .strip_prefix("score:")
                .and_then(|n| n.parse::<f64>().ok())
                .filter(|n| n.is_finite() && n.abs() <= 100.0)
                .map(Action::Score)
                .ok_or_else(|| format!("--action {s}: use junk, quarantine, reject or score:N (N from -100 to 100)")),
        }
    }

    pub fn text(&self) -> String {
        match self {
            Action::Junk => "junk".into(),
            Action::Quarantine => "quarantine".into(),
            Action::Reject => "reject".into(),
            Action::Score(n) => format!("score:{n}"),
        }
    }
}

/// One rule as stored: `pattern` is the text, or `/regex/`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordRule {
    /// The test name in `X-Spam-Status` (ASCII).
    pub name: String,
    pub pattern: String,
    pub place: Place,
    pub action: Action,
}

impl KeywordRule {
    fn regex(&self) -> Option<&str> {
        let p = self.pattern.strip_prefix('/')?.strip_suffix('/')?;
        (!p.is_empty()).then_some(p)
    }
}

/// Rules compiled for matching.
pub struct KeywordSet {
    rules: Vec<KeywordRule>,
    words: Option<AhoCorasick>,
    /// The rule of each word, and the folded word.
    word_rules: Vec<(usize, String)>,
    regexes: RegexSet,
    regex_rules: Vec<usize>,
}

/// Limits of a compiled pattern set (a hostile or careless pattern must
/// not take the memory of the server).
const REGEX_SIZE_LIMIT: usize = 32 << 20;

impl KeywordSet {
    /// Compiles `rules`; a bad pattern is an error naming it.
    pub fn new(rules: Vec<KeywordRule>) -> Result<KeywordSet, String> {
        let mut word_rules = Vec::new();
        let mut patterns = Vec::new();
        let mut regex_rules = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            match r.regex() {
                Some(re) => {
                    patterns.push(format!("(?i:{re})"));
                    regex_rules.push(i);
                }
                None => {
                    let w = fold(&r.pattern);
                    if w.is_empty() {
                        return Err(format!("keyword `{}` is empty", r.pattern));
                    }
                    word_rules.push((i, w));
                }
            }
        }
        let words = match word_rules.is_empty() {
            true => None,
            false => Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(word_rules.iter().map(|(_, w)| w.as_str()))
                    .map_err(|e| format!("keywords: {e}"))?,
            ),
        };
        let regexes = RegexSetBuilder::new(&patterns)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| format!("pattern: {e}"))?;
        Ok(KeywordSet { rules, words, word_rules, regexes, regex_rules })
    }

    /// Checks one pattern alone (for `filter keyword add`).
    pub fn check(pattern: &str) -> Result<(), String> {
        let rule =
            KeywordRule { name: String::new(), pattern: pattern.into(), place: Place::Any, action: Action::Junk };
        KeywordSet::new(vec![rule]).map(|_| ())
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules that match, each once, with the text that matched.
    pub fn matches(&self, c: &Content) -> Vec<(&KeywordRule, String)> {
        let mut hit: Vec<Option<String>> = vec![None; self.rules.len()];
        let places: Vec<(Place, &str)> = std::iter::once((Place::Subject, c.subject.as_str()))
            .chain(std::iter::once((Place::Body, c.body.as_str())))
            .chain(c.places().skip(2).map(|t| (Place::Any, t)))
            .collect();
        for (place, text) in places {
            if text.is_empty() {
                continue;
            }
            let applies = |rule: usize| match self.rules[rule].place {
                Place::Any => true,
                p => p == place,
            };
            if let Some(ac) = &self.words {
                for m in ac.find_overlapping_iter(text) {
                    let (rule, word) = &self.word_rules[m.pattern().as_usize()];
                    if hit[*rule].is_none() && applies(*rule) && stands_alone(text, m.start(), m.end()) {
                        hit[*rule] = Some(word.clone());
                    }
                }
            }
            if !self.regex_rules.is_empty() {
                for i in self.regexes.matches(text).iter() {
                    let rule = self.regex_rules[i];
                    if hit[rule].is_none() && applies(rule) {
                        hit[rule] = Some(self.rules[rule].pattern.clone());
                    }
                }
            }
        }
        hit.into_iter().enumerate().filter_map(|(i, h)| h.map(|h| (&self.rules[i], h))).collect()
    }
}

/// A match of a word written with spaces must not be part of a longer word.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let word_char = |c: char| c.is_alphanumeric() && !is_cjk(c);
    let first = text[start..end].chars().next();
    let last = text[start..end].chars().next_back();
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let open_ok = !first.is_some_and(word_char) || !before.is_some_and(word_char);
    let close_ok = !last.is_some_and(word_char) || !after.is_some_and(word_char);
    open_ok && close_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, place: Place) -> KeywordRule {
        KeywordRule { name: format!("KW_{pattern}"), pattern: pattern.into(), place, action: Action::Junk }
    }

    fn content(subject: &str, body: &str) -> Content {
        Content { subject: fold(subject), body: fold(body), ..Content::default() }
    }

    #[test]
    fn words_stand_alone_and_cjk_matches_anywhere() {
        let set = KeywordSet::new(vec![rule("SALE", Place::Any), rule("促销", Place::Subject)]).expect("set");
        assert_eq!(set.matches(&content("Wholesale prices", "")).len(), 0);
        assert_eq!(set.matches(&content("Big ＳＡＬＥ!", "")).len(), 1);
        assert_eq!(set.matches(&content("本周促销活动", "")).len(), 1);
        assert_eq!(set.matches(&content("hello", "本周促销活动")).len(), 0, "subject rule, body text");
    }

    #[test]
    fn patterns_and_places() {
        let set = KeywordSet::new(vec![rule("/v[i1]agra/", Place::Body), rule("invoice", Place::Any)]).expect("set");
        let mut c = content("x", "cheap V1AGRA here");
        c.attachments.push("invoice.pdf".into());
        let m = set.matches(&c);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(KeywordSet::check("/(unclosed/").is_err());
        assert!(KeywordSet::check("/a{1000}{1000}{1000}/").is_err(), "too big a pattern is refused");
    }

    #[test]
    fn actions_parse() {
        assert_eq!(Action::parse("score:2.5"), Ok(Action::Score(2.5)));
        assert!(Action::parse("score:x").is_err() && Action::parse("drop").is_err());
    }
}
