//! One spelling for matching: Unicode compatibility forms folded (NFKC,
//! UAX #15: full-width Latin letters and digits to ASCII, half-width
//! katakana to full width with their voiced marks, mathematical and circled
//! letters, ligatures), lowercase, invisible characters dropped, and every
//! run of white space to one space. Spam writes ＦＲＥＥ, 𝐅𝐑𝐄𝐄 or ｾｰﾙ to slip past filters; a rule
//! written as `free` or `セール` must still match.

use std::borrow::Cow;

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// The folded form of `text` (see the module comment), never longer than
/// `text`: what was cut to a budget stays within it (a compatibility
/// character can stand for up to 18 letters).
pub fn fold(text: &str) -> String {
    // Most text is ASCII or NFKC already, and is read as it is.
    let normal: Cow<str> = match text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        true => Cow::Borrowed(text),
        false => Cow::Owned(nfkc(text)),
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
        } else {
            out.extend(c.to_lowercase());
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    truncate(&mut out, text.len());
    out
}

/// `text` in NFKC, at most `text.len()` bytes of it. Invisible characters
/// go first, so that they split no letter from its mark (`ﾊ\u{200B}ﾟ`
/// is `パ`). The kana voiced marks written apart (゛ ゜) join the kana
/// before them (`カ゛` is `ガ`), where NFKC would make them a space and a
/// mark; so would it the other spacing marks (´ ¨ ¸ ...), which stay as
/// they are: `don´t` is one word.
fn nfkc(text: &str) -> String {
    let cap = text.len();
    let mut out = String::with_capacity(cap);
    let mut run = String::new();
    for c in text.chars().filter(|&c| !is_invisible(c)) {
        let c = match c {
            '\u{309B}' => '\u{3099}',
            '\u{309C}' => '\u{309A}',
            c => c,
        };
        if becomes_a_space_and_a_mark(c) {
            push_nfkc(&mut out, &run, cap);
            run.clear();
            if out.len() + c.len_utf8() <= cap {
                out.push(c);
            }
        } else {
            run.push(c);
        }
    }
    push_nfkc(&mut out, &run, cap);
    out
}

/// Appends `run` in NFKC to `out` while `out` stays within `cap` bytes.
fn push_nfkc(out: &mut String, run: &str, cap: usize) {
    for c in run.nfkc() {
        if out.len() + c.len_utf8() > cap {
            return;
        }
        out.push(c);
    }
}

/// A spacing mark (´, ¨, ¸, ˘ ...) that NFKC writes as a space and a
/// combining mark.
fn becomes_a_space_and_a_mark(c: char) -> bool {
    (c as u32) >= 0xA8 && !c.is_alphanumeric() && !c.is_whitespace() && std::iter::once(c).nfkc().next() == Some(' ')
}

/// Cuts `s` to at most `max` bytes, at a character boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
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
        // join their kana; other spacing marks split no word.
        assert_eq!(fold("ﾊ\u{200B}ﾟｽ"), "パス");
        assert_eq!(fold("カ゛イト゛"), "ガイド");
        assert_eq!(fold("Don´t ＭＩＳＳ"), "don´t miss");
    }

    #[test]
    fn folded_text_is_never_longer_than_the_text() {
        // U+FDFA (3 bytes) is 18 letters in NFKC.
        let text = "\u{FDFA}".repeat(1000);
        let folded = fold(&text);
        assert!(folded.len() <= text.len() && folded.len() > text.len() / 2, "{}", folded.len());
        let turkish = "İ".repeat(100);
        assert!(fold(&turkish).len() <= turkish.len(), "lowercase may grow a letter");
        assert_eq!(fold("ＦＲＥＥ"), "free");
    }

    #[test]
    fn cjk_is_recognized() {
        assert!(is_cjk('促') && is_cjk('セ') && is_cjk('광') && !is_cjk('a') && !is_cjk('é'));
    }
}
