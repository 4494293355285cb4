//! One spelling for matching: Unicode compatibility forms folded (NFKC,
//! UAX #15: full-width Latin letters and digits to ASCII, half-width
//! katakana to full width with their voiced marks, mathematical and circled
//! letters, ligatures), lowercase, and every run of white space to one
//! space. Spam writes ＦＲＥＥ, 𝐅𝐑𝐄𝐄 or ｾｰﾙ to slip past filters; a rule
//! written as `free` or `セール` must still match.

use std::borrow::Cow;

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Half-width katakana U+FF61..=U+FF9F, as their full-width forms (the
/// voiced-sound marks become the combining-free marks U+309B/U+309C).
const HALF_KATAKANA: &str = "。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン゛゜";

/// The folded form of `text` (see the module comment).
pub fn fold(text: &str) -> String {
    // Most text is ASCII or NFKC already, and is read as it is.
    let text: Cow<str> = match text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        true => Cow::Borrowed(text),
        false => Cow::Owned(text.nfkc().collect()),
    };
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        // Most text is ASCII: letters and digits go straight through.
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            space = false;
            continue;
        }
        if is_invisible(c) {
            continue;
        }
        let c = fold_char(c);
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
    out
}

fn fold_char(c: char) -> char {
    match c as u32 {
        // Full-width ASCII forms (U+FF01..=U+FF5E) are ASCII + 0xFEE0.
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        0xFF61..=0xFF9F => HALF_KATAKANA.chars().nth((c as u32 - 0xFF61) as usize).unwrap_or(c),
        _ => c,
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
    }

    #[test]
    fn cjk_is_recognized() {
        assert!(is_cjk('促') && is_cjk('セ') && is_cjk('광') && !is_cjk('a') && !is_cjk('é'));
    }
}
