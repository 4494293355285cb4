//! Keyword rules (`caravel filter keyword add TEXT|/REGEX/`): words and
//! patterns looked for in the decoded, folded text of a message. All plain
//! words are found in one pass (Aho-Corasick), all patterns in one more
//! (a RegexSet), however many rules there are. Words in scripts written
//! with spaces must stand alone (`sale` does not match `wholesale`); CJK
//! words match anywhere, since that text has no spaces between words.

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use regex_syntax::hir::{Hir, HirKind, Look};

use crate::content::Content;
use crate::normalize::{fold, is_cjk, plain_form};

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
    /// A `/regular expression/` rather than a word.
    pub fn is_pattern(&self) -> bool {
        self.regex().is_some()
    }

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
    /// All patterns in one set, each without its Unicode word boundaries
    /// (see [`Screened`]).
    regexes: RegexSet,
    regex_rules: Vec<usize>,
    /// Per pattern of `regexes`, the whole pattern where it had Unicode
    /// word boundaries: a match of the set is confirmed by it.
    confirm: Vec<Option<Regex>>,
}

/// How much compiled pattern program a scope's rules may hold together:
/// each message to the scope is searched with all of it, and a pattern the
/// fast engine cannot run (a Unicode `\b` on text that is not ASCII) costs
/// time in proportion. An account's rules are held tightest, since any
/// user may write them; the server's (the default rules take under 128 KiB) and
/// a domain's are written by administrators.
pub fn pattern_limit(scope: &str) -> usize {
    match scope {
        "" => 8 << 20,
        s if s.starts_with('@') => 2 << 20,
        _ => 1 << 20,
    }
}

/// Text a message's patterns are searched in, all places together (the
/// subject, the body, the sender's name and attachment names come first,
/// and fit: see `content::MAX_TEXT`; each header field has its share of
/// the rest, at least `MIN_FIELD_SHARE`; the body read again in its
/// charset, `Content::again`, has room of its own on top); words are looked
/// for everywhere, in one linear pass.
pub const PATTERN_TEXT: usize = 160 * 1024;

impl KeywordSet {
    /// Compiles `rules` with at most `limit` bytes of pattern program; a
    /// bad pattern, or patterns too large together, is an error naming it.
    pub fn new(rules: Vec<KeywordRule>, limit: usize) -> Result<KeywordSet, String> {
        match KeywordSet::lenient(rules, limit) {
            (_, skipped) if !skipped.is_empty() => Err(skipped.join("; ")),
            (set, _) => Ok(set),
        }
    }

    /// Compiles what can be of `rules` (stored ones passed the check when
    /// added, but may not all fit together under a smaller limit): a bad
    /// word or pattern is left out, not every rule of the scope, and why
    /// is in the second value.
    pub fn lenient(rules: Vec<KeywordRule>, limit: usize) -> (KeywordSet, Vec<String>) {
        let mut skipped = Vec::new();
        let mut word_rules = Vec::new();
        let mut patterns = Vec::new();
        let mut regex_rules = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            match r.regex() {
                // A word is folded as the text is; a pattern is not (that
                // would change its syntax: `（` is `(`), so one written
                // with characters folded text never has (㈱, ①, full-width
                // or mathematical letters, invisible ones) never matches.
                Some(re) if plain_form(re) != re => skipped.push(format!(
                    "{}: has characters that are matched as their plain forms (NFKC: ① is 1, ㈱ is (株), ＡＢ is \
                     AB): write /{}/",
                    r.pattern,
                    plain_form(re)
                )),
                Some(re) => {
                    let pattern = format!("(?i:{re})");
                    match compile(std::slice::from_ref(&pattern), limit) {
                        Ok(_) => {
                            patterns.push(pattern);
                            regex_rules.push(i);
                        }
                        Err(e) => skipped.push(format!("{}: {e}", r.pattern)),
                    }
                }
                None => match fold(&r.pattern) {
                    w if w.is_empty() => skipped.push(format!("keyword `{}` is empty", r.pattern)),
                    w => word_rules.push((i, w)),
                },
            }
        }
        let words = match word_rules.is_empty() {
            true => None,
            false => match AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(word_rules.iter().map(|(_, w)| w.as_str()))
            {
                Ok(ac) => Some(ac),
                Err(e) => {
                    skipped.extend(word_rules.drain(..).map(|(i, _)| format!("{}: {e}", rules[i].pattern)));
                    None
                }
            },
        };
        let regexes = compile(&patterns, limit).unwrap_or_else(|_| {
            // Keep the longest run of patterns, in the order added, that fits.
            let (mut fits, mut too_many) = (0, patterns.len());
            while too_many - fits > 1 {
                let mid = (fits + too_many) / 2;
                match compile(&patterns[..mid], limit).is_ok() {
                    true => fits = mid,
                    false => too_many = mid,
                }
            }
            skipped.extend(regex_rules[fits..].iter().map(|&i| {
                format!(
                    "{}: with the other patterns, over the limit of {} KiB of compiled patterns: simplify or \
                     delete some",
                    rules[i].pattern,
                    limit >> 10
                )
            }));
            regex_rules.truncate(fits);
            compile(&patterns[..fits], limit).unwrap_or_else(|_| RegexSet::empty())
        });
        // What is kept is searched screened: the set without Unicode word
        // boundaries, which the fast engine runs on any text, then each
        // pattern it finds whole (a pattern without them is its own screen).
        let kept = &patterns[..regex_rules.len()];
        let screened: Vec<Screened> = kept.iter().map(|p| Screened::new(p, limit)).collect();
        let screens: Vec<String> = screened.iter().map(|s| s.screen.clone()).collect();
        let (regexes, confirm) = match compile(&screens, limit) {
            Ok(set) => (set, screened.into_iter().map(|s| s.whole).collect()),
            // Not expected (a screen is smaller than its pattern): search whole.
            Err(_) => (regexes, kept.iter().map(|_| None).collect()),
        };
        (KeywordSet { rules, words, word_rules, regexes, regex_rules, confirm }, skipped)
    }

    /// Checks one pattern alone (for `filter keyword add`).
    pub fn check(pattern: &str, limit: usize) -> Result<(), String> {
        let rule =
            KeywordRule { name: String::new(), pattern: pattern.into(), place: Place::Any, action: Action::Junk };
        KeywordSet::new(vec![rule], limit).map(|_| ())
    }

    /// The rules compiled, as given.
    pub fn rules(&self) -> &[KeywordRule] {
        &self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules that match, each once, with the text that matched.
    pub fn matches(&self, c: &Content) -> Vec<(&KeywordRule, String)> {
        let mut hit: Vec<Option<String>> = vec![None; self.rules.len()];
        // Patterns read a bounded text: the subject, the body, the sender's
        // name and attachment names first, then each header field its share
        // of what is left, so that padding fields cannot push the others
        // out of reach.
        let mut places: Vec<(Place, &str, usize)> = vec![
            (Place::Subject, c.subject.as_str(), usize::MAX),
            (Place::Body, c.body.as_str(), usize::MAX),
            (Place::Any, c.from_name.as_str(), usize::MAX),
        ];
        places.extend(c.attachments.iter().map(|a| (Place::Any, a.as_str(), usize::MAX)));
        let ahead: usize = places.iter().map(|(_, t, _)| t.len()).sum();
        let share = (PATTERN_TEXT.saturating_sub(ahead) / c.headers.len().max(1)).max(MIN_FIELD_SHARE);
        // The body read again in its charset comes right after the body,
        // with room of its own (at most MAX_TEXT): the others keep theirs.
        places.insert(2, (Place::Body, c.again.as_str(), usize::MAX));
        places.extend(c.headers.iter().map(|(_, v)| (Place::Any, v.as_str(), share)));
        let mut pattern_room = PATTERN_TEXT + c.again.len();
        let mut confirm_room = CONFIRM_TEXT;
        for (place, text, most) in places {
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
            if self.regex_rules.is_empty() {
                continue;
            }
            let text = cut_at_space(text, most.min(pattern_room.max(MIN_FIELD_SHARE)));
            pattern_room = pattern_room.saturating_sub(text.len());
            for i in self.regexes.matches(text).iter() {
                let rule = self.regex_rules[i];
                if hit[rule].is_some() || !applies(rule) {
                    continue;
                }
                let whole = match &self.confirm[i] {
                    None => true,
                    // The slow engine's work per message is bounded: past
                    // it, a screen's match is not confirmed and counts for
                    // nothing (a sender who knows the rules could otherwise
                    // make each message cost seconds).
                    Some(_) if confirm_room < text.len() => {
                        if UNCONFIRMED.due(caravel_store::now_secs().max(0) as u64) {
                            tracing::warn!(rule = %self.rules[rule].pattern, "keyword pattern left unconfirmed: too much text matched the screens of this message");
                        }
                        false
                    }
                    Some(re) => {
                        confirm_room -= text.len();
                        re.is_match(text)
                    }
                };
                if whole {
                    hit[rule] = Some(self.rules[rule].pattern.clone());
                }
            }
        }
        hit.into_iter().enumerate().filter_map(|(i, h)| h.map(|h| (&self.rules[i], h))).collect()
    }
}

/// Text a message's patterns with Unicode word boundaries are confirmed
/// in, in all (each confirmation searches one place with one pattern).
pub const CONFIRM_TEXT: usize = 512 * 1024;
/// The least of a header field a pattern reads, however many fields.
const MIN_FIELD_SHARE: usize = 256;
/// The warning for unconfirmed patterns, at most once a minute.
static UNCONFIRMED: caravel_metrics::Every = caravel_metrics::Every::new(60);

/// `text` cut to at most `max` bytes, at a space when one is near the end
/// (a cut inside a word would be a word boundary the text does not have).
fn cut_at_space(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let end = text.floor_char_boundary(max);
    let start = end.saturating_sub(64);
    match text.as_bytes()[start..end].iter().rposition(|b| b.is_ascii_whitespace()) {
        Some(i) => &text[..start + i],
        None => &text[..end],
    }
}

/// One set of `patterns`, at most `limit` bytes of program (and as much
/// for the lazy DFA's cache).
fn compile(patterns: &[String], limit: usize) -> Result<RegexSet, regex::Error> {
    RegexSetBuilder::new(patterns).size_limit(limit).dfa_size_limit(limit).build()
}

/// A pattern as searched. A Unicode `\b` (or `\B`, `\<`, `\>`) keeps the
/// regex engine from its fast DFA on any text that is not ASCII: its
/// slow engine then takes milliseconds per rule and message. The same
/// pattern without those assertions (`screen`) matches wherever the
/// pattern does, and more, and runs fast; only where it matches is the
/// `whole` pattern searched.
struct Screened {
    screen: String,
    whole: Option<Regex>,
}

/// The lazy DFA cache of a pattern that confirms its screen's matches.
const CONFIRM_DFA: usize = 256 * 1024;

/// Nesting a pattern may have (the parser refuses deeper ones before the
/// screen, which walks it, is made).
const NEST_LIMIT: u32 = 100;

impl Screened {
    fn new(pattern: &str, limit: usize) -> Screened {
        let as_is = || Screened { screen: pattern.to_string(), whole: None };
        let Ok(hir) = regex_syntax::ParserBuilder::new().nest_limit(NEST_LIMIT).build().parse(pattern) else {
            return as_is();
        };
        if !hir.properties().look_set().contains_word_unicode() {
            return as_is();
        }
        // Its DFA cache (one per thread that searches) is kept small: the
        // whole pattern runs only where its screen matched.
        let whole = RegexBuilder::new(pattern)
            .size_limit(limit)
            .dfa_size_limit(limit.min(CONFIRM_DFA))
            .nest_limit(NEST_LIMIT)
            .build();
        match whole {
            Ok(whole) => Screened { screen: without_unicode_words(hir).to_string(), whole: Some(whole) },
            Err(_) => as_is(),
        }
    }
}

/// `hir` with its Unicode word-boundary assertions matching everywhere.
/// Recursion is bounded by the parser's nesting limit.
fn without_unicode_words(hir: Hir) -> Hir {
    if !hir.properties().look_set().contains_word_unicode() {
        return hir;
    }
    match hir.into_kind() {
        HirKind::Look(
            Look::WordUnicode
            | Look::WordUnicodeNegate
            | Look::WordStartUnicode
            | Look::WordEndUnicode
            | Look::WordStartHalfUnicode
            | Look::WordEndHalfUnicode,
        ) => Hir::empty(),
        HirKind::Repetition(mut r) => {
            r.sub = Box::new(without_unicode_words(*r.sub));
            Hir::repetition(r)
        }
        HirKind::Capture(mut c) => {
            c.sub = Box::new(without_unicode_words(*c.sub));
            Hir::capture(c)
        }
        HirKind::Concat(subs) => Hir::concat(subs.into_iter().map(without_unicode_words).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.into_iter().map(without_unicode_words).collect()),
        // Holds no word boundary (the look set said so above).
        HirKind::Look(look) => Hir::look(look),
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(l) => Hir::literal(l.0),
        HirKind::Class(c) => Hir::class(c),
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
        let set = KeywordSet::new(vec![rule("SALE", Place::Any), rule("促销", Place::Subject)], USER).expect("set");
        assert_eq!(set.matches(&content("Wholesale prices", "")).len(), 0);
        assert_eq!(set.matches(&content("Big ＳＡＬＥ!", "")).len(), 1);
        assert_eq!(set.matches(&content("本周促销活动", "")).len(), 1);
        assert_eq!(set.matches(&content("hello", "本周促销活动")).len(), 0, "subject rule, body text");
    }

    #[test]
    fn compatibility_forms_match_their_letters() {
        // An encoded subject in mathematical bold, a body in half-width
        // katakana with voiced marks.
        let raw = "From: a@far.test\r\nSubject: =?UTF-8?B?8J2QhfCdkJHwnZCE8J2QhCDwnZCG8J2QiPCdkIXwnZCT?=\r\n\
                   Content-Type: text/plain; charset=utf-8\r\n\r\nﾊﾟｽﾎﾟｰﾄ ｶﾞｲﾄﾞ\r\n";
        let c = Content::parse(raw.as_bytes());
        let set = KeywordSet::new(vec![rule("free gift", Place::Subject), rule("パスポート", Place::Body)], USER)
            .expect("set");
        let names: Vec<&str> = set.matches(&c).iter().map(|(r, _)| r.name.as_str()).collect();
        assert_eq!(names, ["KW_free gift", "KW_パスポート"], "{:?} / {:?}", c.subject, c.body);
    }

    /// The body read again in its charset is body text for the rules,
    /// words and patterns alike, with room of its own after a full body.
    #[test]
    fn the_body_read_again_is_body_text() {
        let set =
            KeywordSet::new(vec![rule("/代开.?发票/", Place::Body), rule("加微信", Place::Body)], USER).expect("set");
        let c = Content {
            body: fold(&"noise ".repeat(PATTERN_TEXT / 6)),
            again: fold(&format!("{}本公司代开发票，请加微信", "说明 ".repeat(200))),
            ..Content::default()
        };
        assert_eq!(set.matches(&c).len(), 2);
    }

    #[test]
    fn patterns_and_places() {
        let set =
            KeywordSet::new(vec![rule("/v[i1]agra/", Place::Body), rule("invoice", Place::Any)], USER).expect("set");
        let mut c = content("x", "cheap V1AGRA here");
        c.attachments.push("invoice.pdf".into());
        let m = set.matches(&c);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(KeywordSet::check("/(unclosed/", USER).is_err());
        let e = KeywordSet::check("/①号/", USER).expect_err("never matches folded text");
        assert!(e.contains("/1号/"), "{e}");
        KeywordSet::check("①号", USER).expect("a word is folded as the text is");
        KeywordSet::check("/don´t/", USER).expect("a spacing mark stays in folded text");
        assert!(KeywordSet::check("/a\u{200B}b/", USER).is_err(), "folded text has no invisible characters");
        // One stored before, loaded: left out, and said why.
        let (set, skipped) = KeywordSet::lenient(vec![rule("/①号/", Place::Any), rule("/1号/", Place::Any)], USER);
        assert!(skipped.len() == 1 && skipped[0].contains("/1号/"), "{skipped:?}");
        let hits: Vec<&str> = set.matches(&content("①号", "")).iter().map(|(r, _)| r.name.as_str()).collect();
        assert_eq!(hits, ["KW_/1号/"]);
        assert!(KeywordSet::check("/a{1000}{1000}{1000}/", pattern_limit("")).is_err(), "too big a pattern is refused");
    }

    const USER: usize = 1 << 20;

    /// Words with Unicode boundaries, up to `n` of them: a large program.
    fn costly(n: usize, end: &str) -> String {
        format!("/(?:\\b\\w+\\b\\W*){{1,{n}}}{end}/")
    }

    #[test]
    fn an_account_may_hold_less_pattern_program_than_the_server() {
        assert_eq!(pattern_limit("alice@x.test"), USER);
        assert!(pattern_limit("@x.test") > USER && pattern_limit("") > pattern_limit("@x.test"));
        let e = KeywordSet::check(&costly(20, "zzz"), USER).expect_err("too large for an account");
        assert!(e.contains("size limit"), "{e}");
        KeywordSet::check(&costly(20, "zzz"), pattern_limit("")).expect("the server's limit is higher");
    }

    #[test]
    fn patterns_too_large_together_are_refused_and_stored_ones_kept_in_part() {
        let rules = vec![
            rule(&costly(5, "one"), Place::Any),
            rule("offer", Place::Any),
            rule(&costly(5, "two"), Place::Any),
            rule(&costly(5, "three"), Place::Any),
        ];
        for r in &rules {
            KeywordSet::check(&r.pattern, USER).expect("each fits alone");
        }
        let e = KeywordSet::new(rules.clone(), USER).err().expect("not all together");
        assert!(e.contains("over the limit of 1024 KiB"), "{e}");
        // Stored rules that no longer fit together: the first patterns and
        // every word still apply, the rest are named.
        let (set, skipped) = KeywordSet::lenient(rules, USER);
        assert!(!skipped.is_empty() && skipped.len() < 3, "{skipped:?}");
        assert!(skipped.iter().all(|s| !s.contains("one") && !s.contains("offer")), "{skipped:?}");
        let hits = set.matches(&content("a special offer", "number one"));
        assert_eq!(hits.len(), 2, "{hits:?}");
    }

    #[test]
    fn patterns_search_a_bounded_text_that_padding_cannot_push_a_field_out_of() {
        let set = KeywordSet::new(
            vec![rule("/last\\s+field/", Place::Any), rule("/\\.exe$/", Place::Any), rule("final word", Place::Any)],
            USER,
        )
        .expect("set");
        let mut c = content("subject", &"body text ".repeat(6_000));
        let filler = "x ".repeat(2_000);
        c.headers = (0..40).map(|_| ("x-filler".to_string(), filler.clone())).collect();
        c.headers.push(("x-last".into(), "last field, final word".into()));
        c.attachments.push("invoice.exe".into());
        assert_eq!(set.matches(&c).len(), 3, "attachment names come first, each field has its share");
        // A field's share: past it, a pattern does not see the field's end.
        c.headers = (0..200).map(|_| ("x-filler".to_string(), filler.clone())).collect();
        c.headers.push(("x-last".into(), format!("{filler} last field, final word")));
        let hits: Vec<String> = set.matches(&c).iter().map(|(r, _)| r.pattern.clone()).collect();
        assert_eq!(hits, ["/\\.exe$/", "final word"], "words are looked for in all of it");
    }

    #[test]
    fn a_cut_ends_at_a_space() {
        assert_eq!(cut_at_space("one two three", 9), "one two");
        assert_eq!(cut_at_space("one two three", 100), "one two three");
        assert_eq!(cut_at_space("дваслова", 5), "дв", "no space near: at a character");
    }

    #[test]
    fn unicode_word_boundaries_match_as_the_whole_pattern_does() {
        let patterns = [r"\bfree\s+money\b", r"\bпривет\b", r"\Bing\b", r"(?:\b\w+\b\W*){2}zz", r"\b{start}ab"];
        let texts = [
            "free money",
            "freemoney now",
            "éfree money",
            "«free money»",
            "скажи привет!",
            "приветствую",
            "selling",
            "ing",
            "один два zz",
            "one two zz",
            "x ab",
            "xab",
        ];
        for p in patterns {
            let whole = Regex::new(&format!("(?i:{p})")).expect("pattern");
            let set = KeywordSet::new(vec![rule(&format!("/{p}/"), Place::Any)], USER).expect("set");
            for t in texts {
                let expected = whole.is_match(&fold(t));
                assert_eq!(set.matches(&content("", t)).len(), usize::from(expected), "/{p}/ on {t:?}");
            }
        }
    }

    #[test]
    fn a_pattern_with_unicode_word_boundaries_is_screened_without_them() {
        let s = Screened::new(r"(?i:\bfree\s+(money|cash)\b)", USER);
        assert!(s.whole.is_some() && !s.screen.contains("\\b"), "{}", s.screen);
        let screen = Regex::new(&s.screen).expect("the screen is a pattern");
        assert!(screen.is_match("FREE cash") && screen.is_match("carefree money"), "{}", s.screen);
        let ascii = Screened::new(r"(?-u:\b)free(?-u:\b)", USER);
        assert!(ascii.whole.is_none() && ascii.screen == r"(?-u:\b)free(?-u:\b)", "ASCII boundaries run fast");
    }

    #[test]
    fn actions_parse() {
        assert_eq!(Action::parse("score:2.5"), Ok(Action::Score(2.5)));
        assert!(Action::parse("score:x").is_err() && Action::parse("drop").is_err());
    }
}
