//! One spelling for matching: Unicode compatibility forms folded (NFKC,
//! UAX #15: full-width Latin letters and digits to ASCII, half-width
//! katakana to full width with their voiced marks, mathematical and circled
//! letters, ligatures), lowercase, invisible characters dropped, and every
//! run of white space to one space. Spam writes ＦＲＥＥ, 𝐅𝐑𝐄𝐄 or ｾｰﾙ to slip past filters; a rule
//! written as `free` or `セール` must still match.

use std::borrow::Cow;

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// The folded form of `text` (see the module comment). It is at most an
/// eighth (and 64 bytes) longer than `text`, so what was cut to a budget
/// stays near it: a compatibility character can stand for 18 letters, and
/// past that allowance the characters that would grow are kept as they
/// are (nothing is cut off the end, where spam could hide).
pub fn fold(text: &str) -> String {
    let mut allowance = text.len() / 8 + 64;
    // Most text is ASCII or NFKC already, and is read as it is.
    let normal: Cow<str> = match text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        true => Cow::Borrowed(text),
        false => Cow::Owned(nfkc(text, &mut allowance)),
    };
    let mut out = String::with_capacity(normal.len());
    let mut space = false;
    for c in normal.chars() {
        // Most text is ASCII: letters and digits go straight through.
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            space = false;
            continue;
        }
        if is_invisible(c) {
            continue;
        }
        if c.is_whitespace() {
            if !space && !out.is_empty() {
                out.push(' ');
            }
            space = true;
            continue;
        }
        space = false;
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        // A few letters grow when lowercased (İ is i and a dot above).
        let lower = c.to_lowercase();
        let grown = lower.clone().map(char::len_utf8).sum::<usize>().saturating_sub(c.len_utf8());
        match grown <= allowance {
            true => {
                allowance -= grown;
                out.extend(lower);
            }
            false => out.push(c),
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// The form a `/REGEX/` must be written in to match folded text: `text`
/// through the same NFKC step, without an allowance.
pub fn plain_form(text: &str) -> Cow<'_, str> {
    match text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        true if !text.chars().any(is_invisible) => Cow::Borrowed(text),
        _ => {
            let mut unbounded = usize::MAX;
            Cow::Owned(nfkc(text, &mut unbounded))
        }
    }
}

/// `text` in NFKC, growing by at most `allowance` bytes (taken from it).
/// Invisible characters go first, so that they split no letter from its
/// mark (`ﾊ\u{200B}ﾟ` is `パ`). The kana voiced marks written apart (゛ ゜)
/// join the kana before them (`カ゛` is `ガ`), where NFKC would make them
/// a space and a mark; so would it the other spacing marks (´ ¨ ¸ ...),
/// which stay as they are.
fn nfkc(text: &str, allowance: &mut usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars().filter(|&c| !is_invisible(c)) {
        let c = match c {
            '\u{309B}' => '\u{3099}',
            '\u{309C}' => '\u{309A}',
            c => c,
        };
        // Composition only shrinks text: what grows is a character's own
        // decomposition.
        let kept = match is_nfkc_quick(std::iter::once(c)) {
            IsNormalized::Yes => false,
            _ if becomes_a_space_and_a_mark(c) => true,
            _ => {
                let grown = std::iter::once(c).nfkc().map(char::len_utf8).sum::<usize>().saturating_sub(c.len_utf8());
                match grown <= *allowance {
                    true => {
                        *allowance -= grown;
                        false
                    }
                    false => true,
                }
            }
        };
        if kept {
            out.extend(run.nfkc());
            run.clear();
            out.push(c);
        } else {
            run.push(c);
        }
    }
    out.extend(run.nfkc());
    out
}

/// A spacing mark (´, ¨, ¸, ˘ ...) that NFKC writes as a space and a
/// combining mark.
fn becomes_a_space_and_a_mark(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace() && std::iter::once(c).nfkc().next() == Some(' ')
}

/// Whether `c` is written without spaces between words (Han, kana, Hangul):
/// such text is matched as a string and tokenized in character pairs.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x2FA1F) // Extensions B..
}

/// Zero-width characters (U+200B..U+200D, U+2060, U+FEFF, soft hyphen)
/// that spam puts inside words so they match nothing: dropped.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_case_and_space_fold() {
        assert_eq!(fold("ＦＲＥＥ　ＭＯＮＥＹ"), "free money");
        assert_eq!(fold("ｾｰﾙ開催中"), "セール開催中");
        assert_eq!(fold("  Big\r\n\tSALE  "), "big sale");
        assert_eq!(fold("ÜBER Straße"), "über straße");
        assert_eq!(fold("Скидки"), "скидки");
        assert_eq!(fold("vi\u{200B}agra"), "viagra");
    }

    #[test]
    fn compatibility_forms_fold_to_their_letters() {
        // Half-width katakana with a voiced mark: one full-width letter.
        assert_eq!(fold("ｶﾞｲﾄﾞ"), "ガイド");
        assert_eq!(fold("ﾊﾟｽﾎﾟｰﾄ"), "パスポート");
        // Mathematical bold and sans-serif letters, circled letters, a ligature.
        assert_eq!(fold("𝐅𝐑𝐄𝐄 𝗚𝗜𝗙𝗧"), "free gift");
        assert_eq!(fold("Ⓥⓘⓐⓖⓡⓐ"), "viagra");
        assert_eq!(fold("ﬁnance"), "finance");
        // A compatibility ideograph is its unified ideograph.
        assert_eq!(fold("\u{F900}"), "\u{8C48}");
        // Text already in NFKC is left alone.
        assert_eq!(fold("促销 Café"), "促销 café");
        // Invisible characters go before NFKC; kana marks written apart
        // join their kana; other spacing marks stay marks, not a space.
        assert_eq!(fold("ﾊ\u{200B}ﾟｽ"), "パス");
        assert_eq!(fold("カ゛イト゛"), "ガイド");
        assert_eq!(fold("Don´t ＭＩＳＳ"), "don´t miss");
    }

    #[test]
    fn folded_text_grows_a_little_at_most_and_loses_nothing() {
        // U+FDFA (3 bytes) is 18 letters (33 bytes) in NFKC: past the
        // allowance it stays as it is, and the text after it is read.
        let text = "\u{FDFA}".repeat(1000) + " free gift";
        let folded = fold(&text);
        assert!(folded.len() <= text.len() + text.len() / 8 + 64, "{}", folded.len());
        assert!(folded.ends_with(" free gift"), "nothing cut off the end");
        let turkish = "İ".repeat(1000) + " end";
        let folded = fold(&turkish);
        assert!(folded.len() <= turkish.len() + turkish.len() / 8 + 64 && folded.ends_with(" end"));
        // Short words grow freely: a rule for ㈱ is (株), not a cut "(".
        assert_eq!(fold("㈱"), "(株)");
        assert_eq!(fold("㍿"), "株式会社");
        assert_eq!(fold("ＦＲＥＥ"), "free");
    }

    #[test]
    fn a_pattern_plain_form_is_what_folding_reads() {
        assert_eq!(plain_form("①号"), "1号");
        assert_eq!(plain_form("カ゛イド"), "ガイド");
        assert_eq!(plain_form("don´t"), "don´t", "a spacing mark stays");
        assert_eq!(plain_form("a\u{200B}b"), "ab", "invisible characters go");
        assert!(matches!(plain_form("plain (株)"), Cow::Borrowed(_)));
    }

    #[test]
    fn cjk_is_recognized() {
        assert!(is_cjk('促') && is_cjk('セ') && is_cjk('광') && !is_cjk('a') && !is_cjk('é'));
    }
}
