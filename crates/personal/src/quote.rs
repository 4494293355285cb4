//! Where a reply's quoted history begins: a signature goes above it (under
//! the newest text, as it reads), and a signature inside the quote (the
//! sender's own, quoted back) does not count as already there.

/// Lines that open a quoted or forwarded message in plain text, as the
/// common clients write them (compared case-insensitively, trimmed).
const PLAIN_OPENERS: [&str; 8] = [
    "-----original message-----",
    "-------- original message --------",
    "-------- forwarded message --------",
    "---------- forwarded message ---------",
    "------------------ 原始邮件 ------------------",
    "-----原始邮件-----",
    "-----邮件原件-----",
    "begin forwarded message:",
];

/// Attribution lines ("On Mon, ... wrote:") end so, in the languages our
/// users' correspondents write.
const ATTRIBUTION_ENDS: [&str; 7] = ["wrote:", "schrieb:", "a écrit :", "a écrit:", "写道：", "写道:", "escribió:"];

/// HTML elements that hold the quoted history (Gmail, Outlook, Thunderbird,
/// Apple Mail, Yahoo).
const HTML_MARKERS: [&str; 7] = [
    "class=\"gmail_quote",
    "id=\"divrplyfwdmsg\"",
    "id=\"appendonsend\"",
    "class=\"moz-cite-prefix\"",
    "class=\"yahoo_quoted\"",
    "type=\"cite\"",
    "<blockquote",
];

/// The byte offset where the quoted history starts, if the text has one.
pub fn quote_start(text: &str, html: bool) -> Option<usize> {
    match html {
        true => html_quote_start(text),
        false => plain_quote_start(text),
    }
}

fn plain_quote_start(text: &str) -> Option<usize> {
    let mut offset = 0;
    // (start, text) of the last non-empty line, for the attribution.
    let mut previous: Option<(usize, &str)> = None;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, raw_line) in lines.iter().enumerate() {
        let line = raw_line.trim();
        let lower = line.to_lowercase();
        let opens = PLAIN_OPENERS.iter().any(|o| lower == *o)
            // Outlook: a rule of underscores, or "From:" then "Sent:"/"Date:".
            || (line.len() >= 10 && line.bytes().all(|b| b == b'_'))
            || ((lower.starts_with("from:") || lower.starts_with("发件人:") || lower.starts_with("发件人："))
                && lines.get(i + 1).is_some_and(|n| {
                    let n = n.trim().to_lowercase();
                    n.starts_with("sent:") || n.starts_with("date:") || n.starts_with("发送时间")
                }));
        if opens {
            return Some(offset);
        }
        if line.starts_with('>') {
            // The attribution line above the quote belongs to it.
            return Some(match previous {
                Some((start, p)) if ATTRIBUTION_ENDS.iter().any(|e| p.to_lowercase().ends_with(e)) => start,
                _ => offset,
            });
        }
        if !line.is_empty() {
            previous = Some((offset, line));
        }
        offset += raw_line.len();
    }
    None
}

fn html_quote_start(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let found = HTML_MARKERS.iter().filter_map(|m| lower.find(m)).min()?;
    // The start of the element that carries the marker, and of the rule
    // Outlook draws above it.
    let start = lower[..=found].rfind('<').unwrap_or(found);
    let before = lower[..start].trim_end();
    match before.rfind("<hr") {
        Some(hr) if before.ends_with('>') && !before[hr..].contains("</") && before[hr..].matches('>').count() == 1 => {
            Some(hr)
        }
        _ => Some(start),
    }
}

#[cfg(test)]
mod tests {
    use super::quote_start;

    #[test]
    fn plain_quotes_start_at_their_attribution_or_opener() {
        let t = "Thanks, agreed.\r\n\r\nOn Mon, 1 Mar 2027, Hans wrote:\r\n> Please quote.\r\n> -- \r\n> Hans\r\n";
        assert_eq!(&t[quote_start(t, false).expect("quote")..][..6], "On Mon");
        let t = "Fine.\r\n\r\n-----Original Message-----\r\nFrom: Hans\r\n";
        assert_eq!(&t[quote_start(t, false).expect("quote")..][..10], "-----Origi");
        let t = "Fine.\r\n________________________________\r\nFrom: Hans <h@k.de>\r\nSent: Monday\r\n";
        assert_eq!(&t[quote_start(t, false).expect("quote")..][..4], "____");
        let t = "好的。\r\n发件人: 李娜\r\n发送时间: 2027年3月1日\r\n";
        assert_eq!(&t[quote_start(t, false).expect("quote")..][..10], "发件人:");
        let t = "Line\r\n> quoted without attribution\r\n";
        assert_eq!(&t[quote_start(t, false).expect("quote")..][..2], "> ");
        assert_eq!(quote_start("No quote here.\r\nFrom: me\r\n", false), None);
    }

    #[test]
    fn html_quotes_start_at_the_quoting_element() {
        let t = "<div>Agreed.</div><div class=\"gmail_quote\"><div>On Mon ...</div><blockquote>x</blockquote></div>";
        assert!(t[quote_start(t, true).expect("quote")..].starts_with("<div class=\"gmail_quote"));
        let t = "<p>Ok</p><hr><div id=\"divRplyFwdMsg\" dir=\"ltr\">From: Hans</div>";
        assert!(t[quote_start(t, true).expect("quote")..].starts_with("<hr><div id=\"divRplyFwdMsg\""));
        assert_eq!(quote_start("<p>new</p>", true), None);
    }
}
