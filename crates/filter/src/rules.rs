//! A filter rule as an administrator or a user enters it (an allow or block
//! list entry, or a keyword rule), checked and in its stored form: the one
//! check behind `caravel filter ...` and `/api/v1/filter/rules`.

use caravel_store::filter_data::FilterRule;
use caravel_store::Store;

use crate::keywords::{pattern_limit, Action, KeywordRule, KeywordSet, Place};
use crate::lists::Pattern;

/// `kind`: allow, block or keyword; `place` and `action` for keyword
/// rules only (defaults: any, junk); `scope`: "", "@domain" or an address
/// (the caller has checked it exists and may be changed).
pub fn new_rule(
    kind: &str,
    pattern: &str,
    place: Option<&str>,
    action: Option<&str>,
    scope: String,
) -> Result<FilterRule, String> {
    let mut rule = FilterRule {
        id: 0,
        kind: kind.to_string(),
        pattern: String::new(),
        scope,
        place: None,
        action: None,
        created: caravel_store::now_secs(),
    };
    if pattern.len() > MAX_PATTERN {
        return Err(format!("the pattern is longer than {MAX_PATTERN} bytes"));
    }
    match kind {
        "allow" | "block" => rule.pattern = Pattern::parse(pattern)?.text(),
        "keyword" => {
            KeywordSet::check(pattern, pattern_limit(&rule.scope))?;
            rule.pattern = pattern.to_string();
            rule.place = Some(Place::parse(place.unwrap_or("any"))?.word().into());
            rule.action = Some(Action::parse(action.unwrap_or("junk"))?.text());
        }
        other => return Err(format!("{other:?} is not a kind of rule: use allow, block or keyword")),
    }
    Ok(rule)
}

/// Rules one scope (the server, a domain, an account) may hold: every
/// change recompiles the rules, and each message is checked against them.
pub const MAX_PER_SCOPE: usize = 500;
/// The longest pattern (a keyword, a regular expression, an address).
pub const MAX_PATTERN: usize = 512;

/// Adds a checked rule (from [`new_rule`]), unless its scope is full.
pub async fn add(store: &dyn Store, rule: FilterRule) -> Result<FilterRule, String> {
    let rules = store.filter_rules().await.map_err(|e| e.to_string())?;
    if rules.iter().filter(|r| r.scope == rule.scope).count() >= MAX_PER_SCOPE {
        return Err(format!("this scope has {MAX_PER_SCOPE} rules already, the most kept: delete some first"));
    }
    if let Some(new) = keyword_rule(&rule).filter(|k| k.is_pattern()) {
        // Each pattern was checked alone; a scope's are searched as one set,
        // which must take this one too (the server's holds the default
        // rules). Stored patterns that no longer fit do not block it.
        let mut set: Vec<KeywordRule> = match rule.scope.is_empty() {
            true => crate::default_rules::rules(),
            false => Vec::new(),
        };
        set.extend(rules.iter().filter(|r| r.scope == rule.scope).filter_map(keyword_rule).filter(|k| k.is_pattern()));
        set.push(new.clone());
        let limit = pattern_limit(&rule.scope);
        // Compiling takes a while: not on the runtime's threads.
        let skipped = tokio::task::spawn_blocking(move || KeywordSet::lenient(set, limit).1)
            .await
            .map_err(|e| format!("cannot check the pattern: {e}"))?;
        if let Some(why) = skipped.iter().find(|why| why.starts_with(&format!("{}: ", new.pattern))) {
            return Err(why.clone());
        }
    }
    store.add_filter_rule(rule).await.map_err(|e| e.to_string())
}

/// A stored keyword rule as matched (None for list entries); the test name
/// in `X-Spam-Status` is `KEYWORD_` and its id.
pub fn keyword_rule(r: &FilterRule) -> Option<KeywordRule> {
    (r.kind == "keyword").then(|| KeywordRule {
        name: format!("KEYWORD_{}", r.id),
        pattern: r.pattern.clone(),
        place: r.place.as_deref().and_then(|p| Place::parse(p).ok()).unwrap_or(Place::Any),
        action: r.action.as_deref().and_then(|a| Action::parse(a).ok()).unwrap_or(Action::Junk),
    })
}

/// The pattern as stored: lists keep a canonical form, keywords as typed.
pub fn stored_pattern(kind: &str, pattern: &str) -> Result<String, String> {
    match kind {
        "allow" | "block" => Ok(Pattern::parse(pattern)?.text()),
        _ => Ok(pattern.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_checked_and_stored_in_canonical_form() {
        let r = new_rule("block", " @Spammer.TEST ", None, None, String::new()).expect("valid");
        assert_eq!((r.pattern.as_str(), r.place, r.action), ("@spammer.test", None, None));
        let k = new_rule("keyword", "free money", None, Some("score:3"), "@x.test".into()).expect("valid");
        assert_eq!((k.place.as_deref(), k.action.as_deref()), (Some("any"), Some("score:3")));
        assert!(new_rule("keyword", "x", Some("footer"), None, String::new()).is_err());
        assert!(new_rule("keyword", "/(unclosed/", None, None, String::new()).is_err());
        assert!(new_rule("allow", "not a pattern", None, None, String::new()).is_err());
        assert!(new_rule("mute", "x@y.test", None, None, String::new()).is_err());
        assert!(new_rule("keyword", &"x".repeat(600), None, None, String::new()).is_err());
    }
}
