//! The text a reader sees in an HTML part, and the links in it: tags
//! dropped, `<script>` and `<style>` contents skipped, character references
//! decoded. One pass over the input, no tree, no recursion.

/// Text and link targets of `html`.
pub struct HtmlText {
    pub text: String,
    /// href/src values of links and images.
    pub links: Vec<String>,
    pub images: usize,
    /// Tag and attribute names as written (lowercase), e.g. `font`,
    /// `font.color`: how a message is marked up says who wrote it.
    pub markup: Vec<String>,
}

/// Markup names kept per part.
const MAX_MARKUP: usize = 400;

/// Longest tag read (attributes included); a longer one is cut there.
const MAX_TAG: usize = 4096;

pub fn html_to_text(html: &str) -> HtmlText {
    let mut out =
        HtmlText { text: String::with_capacity(html.len() / 2), links: Vec::new(), images: 0, markup: Vec::new() };
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        push_text(&mut out.text, &rest[..lt]);
        rest = &rest[lt + 1..];
        // A tag opens only with a letter, `/`, `!` or `?` after the `<`
        // (HTML's tag open state); any other `<` is text, as a browser
        // shows it: "1 < 2 CHEAP PILLS" must not hide its words.
        if !rest.as_bytes().first().is_some_and(|b| b.is_ascii_alphabetic() || matches!(b, b'/' | b'!' | b'?')) {
            out.text.push('<');
            continue;
        }
        if let Some(comment) = rest.strip_prefix("!--") {
            rest = after_comment(comment);
            continue;
        }
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..rest.floor_char_boundary(end.min(MAX_TAG))];
        rest = rest.get(end + 1..).unwrap_or("");
        let name: String =
            tag.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '/').collect::<String>().to_ascii_lowercase();
        if out.markup.len() < MAX_MARKUP && !name.is_empty() && !name.starts_with('/') {
            out.markup.push(name.clone());
            for attr in attribute_names(tag).take(8) {
                out.markup.push(format!("{name}.{attr}"));
            }
        }
        match name.as_str() {
            "script" | "style" => {
                let close = format!("</{name}");
                rest = find_ascii_ci(rest, &close).map_or("", |p| &rest[p..]);
            }
            "a" | "area" => out.links.extend(attribute(tag, "href")),
            "img" => {
                out.images += 1;
                out.links.extend(attribute(tag, "src"));
            }
            _ => {}
        }
        // Block-level and line-break tags separate words; inline and
        // unknown ones (which browsers show inline) do not: VI<wbr>AGRA
        // and VI<sup></sup>AGRA are one word on the screen.
        if separates(name.trim_start_matches('/')) {
            out.text.push(' ');
        }
    }
    push_text(&mut out.text, rest);
    out
}

/// What follows a comment whose `<!--` was read: an empty one ends at once
/// (`<!-->`, `<!--->`), others at `-->` or `--!>` (HTML's comment states).
fn after_comment(comment: &str) -> &str {
    if let Some(r) = comment.strip_prefix('>').or_else(|| comment.strip_prefix("->")) {
        return r;
    }
    let close = comment.find("-->").map(|e| e + 3);
    let bang = comment.find("--!>").map(|e| e + 4);
    match (close, bang) {
        (Some(a), Some(b)) => &comment[a.min(b)..],
        (Some(e), None) | (None, Some(e)) => &comment[e..],
        (None, None) => "",
    }
}

/// Tags a browser shows as a break between words: blocks, line breaks,
/// table cells, list items, form controls.
fn separates(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "br"
            | "hr"
            | "li"
            | "ul"
            | "ol"
            | "dl"
            | "dt"
            | "dd"
            | "tr"
            | "td"
            | "th"
            | "table"
            | "thead"
            | "tbody"
            | "tfoot"
            | "caption"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "blockquote"
            | "pre"
            | "address"
            | "center"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "nav"
            | "aside"
            | "main"
            | "figure"
            | "figcaption"
            | "details"
            | "summary"
            | "form"
            | "fieldset"
            | "legend"
            | "input"
            | "button"
            | "select"
            | "option"
            | "textarea"
            | "title"
            | "head"
            | "body"
            | "html"
            | "iframe"
            | "frame"
            | "img"
    )
}

fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The names of a tag's attributes (the words before `=`), lowercase.
fn attribute_names(tag: &str) -> impl Iterator<Item = String> + '_ {
    let mut quote: Option<char> = None;
    let mut names = Vec::new();
    let mut word = String::new();
    for c in tag.chars().skip_while(|c| !c.is_whitespace()) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '=') => {
                if !word.is_empty() && names.len() < 16 {
                    names.push(std::mem::take(&mut word).to_ascii_lowercase());
                }
            }
            (None, c) if c.is_ascii_alphanumeric() || c == '-' => word.push(c),
            (None, _) => word.clear(),
        }
    }
    names.into_iter()
}

/// The value of attribute `name` in a tag's text, quoted or not.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(p) = lower[from..].find(name) {
        let at = from + p;
        from = at + name.len();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let after = lower[from..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let value = tag[tag.len() - after.len() + 1..].trim_start();
        let v = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value.split(|c: char| c.is_whitespace()).next().unwrap_or(""),
        };
        return Some(decode_entities(v));
    }
    None
}

fn push_text(out: &mut String, text: &str) {
    if text.contains('&') {
        out.push_str(&decode_entities(text));
    } else {
        out.push_str(text);
    }
}

/// Decodes `&name;`, `&#NNN;` and `&#xHH;` (the named ones spam and
/// business mail use; an unknown name is left as written).
pub fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // A reference is short: look for its ';' in the next few bytes only
        // (a search of the whole rest at every '&' would be quadratic).
        let window = &rest[..rest.floor_char_boundary(12)];
        let semi = window[1..].find(';').map(|p| p + 1).filter(|&p| p <= 10);
        let decoded = semi.and_then(|p| entity(&rest[1..p]));
        match (semi, decoded) {
            (Some(p), Some(c)) => {
                out.push(c);
                rest = &rest[p + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let n = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(n);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "laquo" => '«',
        "raquo" => '»',
        "middot" => '·',
        "bull" => '•',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_styles_and_tags_are_not_text() {
        let h = html_to_text(
            "<html><head><style>.x{color:red}</style><SCRIPT>var casino=1</SCRIPT></head><body><p>Click \
             <a href=\"http://cheap.example/buy?id=1\">here</a> for <b>VIAGRA</b> &amp; more &#20419;&#x9500;\
             <!-- hidden casino --><img src='http://img.example/x.gif'></p></body></html>",
        );
        let text = crate::normalize::fold(&h.text);
        assert_eq!(text, "click here for viagra & more 促销");
        assert_eq!(h.links, ["http://cheap.example/buy?id=1", "http://img.example/x.gif"]);
        assert_eq!(h.images, 1);
    }

    /// Text a browser shows is text here too, whatever a sender does to
    /// hide it from the rules.
    #[test]
    fn text_a_browser_shows_is_not_hidden() {
        let text = |h: &str| crate::normalize::fold(&html_to_text(h).text);
        assert_eq!(text("<p>1 < 2 CHEAP PILLS <b>now</b></p>"), "1 < 2 cheap pills now");
        assert_eq!(text("price <5 USD, buy"), "price <5 usd, buy");
        assert_eq!(text("a <!--> VISIBLE b"), "a visible b", "an empty comment");
        assert_eq!(text("a <!---> VISIBLE b"), "a visible b");
        assert_eq!(text("a <!-- x --!> VISIBLE b"), "a visible b");
        assert_eq!(text("VI<wbr>AGRA VI<sup></sup>AGRA VI<x-y>AGRA"), "viagra viagra viagra");
        assert_eq!(text("<td>one</td><td>two</td>"), "one two", "cells still separate");
        assert_eq!(text("line<br>next"), "line next");
    }

    #[test]
    fn broken_html_ends_cleanly() {
        assert_eq!(html_to_text("a <b").text.trim(), "a");
        assert_eq!(html_to_text("a &#xFFFFFFFF; &bogus; b").text, "a &#xFFFFFFFF; &bogus; b");
        assert_eq!(html_to_text("<script>never closed").text.trim(), "");
    }
}
