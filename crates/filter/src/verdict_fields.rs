//! RFC 8601 §5: an `Authentication-Results` field that names this server
//! (its authserv-id is our hostname) but arrives from outside is a forgery,
//! meant to make readers or filters trust a message we never checked. Such
//! fields are removed before the message is stored, and so are `X-Spam-*`
//! fields from outside: only this server's spam verdict may be read as one.

use std::borrow::Cow;

/// The message without `Authentication-Results` fields whose authserv-id is
/// `hostname` (compared without case). Other fields, and the body, are kept
/// byte for byte; a message without any is returned as is.
pub fn strip_forged<'a>(message: &'a [u8], hostname: &str) -> Cow<'a, [u8]> {
    strip_fields(message, |field| crate::auth_results::names_us(field, hostname) || is_spam_field(field))
}

/// The message without this server's (or any filter's) spam and virus
/// verdict fields: a held copy released to an outside address does not
/// show the company's filter rules to whoever receives it.
pub fn strip_verdicts(message: &[u8]) -> Cow<'_, [u8]> {
    strip_fields(message, is_spam_field)
}

/// The message without the header fields (each with its folded lines) for
/// which `drop` is true; the body is kept byte for byte.
fn strip_fields(message: &[u8], drop: impl Fn(&[u8]) -> bool) -> Cow<'_, [u8]> {
    let head_end = message.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2).unwrap_or(message.len());
    let mut out: Option<Vec<u8>> = None;
    let mut pos = 0;
    while pos < head_end {
        // One field: its first line and any folded continuation lines.
        let mut end = pos;
        loop {
            end = match message[end..head_end].windows(2).position(|w| w == b"\r\n") {
                Some(i) => end + i + 2,
                None => head_end,
            };
            if end >= head_end || !matches!(message[end], b' ' | b'\t') {
                break;
            }
        }
        let field = &message[pos..end];
        if drop(field) {
            out.get_or_insert_with(|| message[..pos].to_vec());
        } else if let Some(o) = out.as_mut() {
            o.extend_from_slice(field);
        }
        pos = end;
    }
    match out {
        Some(mut o) => {
            o.extend_from_slice(&message[head_end..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(message),
    }
}

/// `X-Spam-Status`, `X-Spam-Score`, `X-Virus-Status`, and rspamd's `X-Spam`,
/// `X-Spamd-Result`, `X-Rspamd-*` ...: what a filter writes, so a sender's
/// own copy would pass for a verdict (ours, or one a user's rules or mail
/// program read).
fn is_spam_field(field: &[u8]) -> bool {
    let Some(colon) = field.iter().position(|&b| b == b':') else { return false };
    let name = field[..colon].trim_ascii_end().to_ascii_lowercase();
    name == b"x-spam" || [&b"x-spam-"[..], b"x-spamd-", b"x-rspamd-", b"x-virus-"].iter().any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fields_naming_us_go_with_their_folded_lines() {
        let m = b"Received: from x\r\nAuthentication-Results: MAIL.example.test;\r\n\tdkim=pass header.d=bank.test\r\nAuthentication-Results: mx.google.com; spf=pass\r\nauthentication-results: mail.example.test 1; dmarc=pass\r\nSubject: pay now\r\n\r\nAuthentication-Results: mail.example.test; in the body stays\r\n";
        let out = strip_forged(m, "mail.example.test");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "Received: from x\r\nAuthentication-Results: mx.google.com; spf=pass\r\nSubject: pay now\r\n\r\nAuthentication-Results: mail.example.test; in the body stays\r\n"
        );
    }

    #[test]
    fn a_released_copy_loses_the_verdicts_and_keeps_the_results() {
        let m = b"X-Spam-Status: Yes, score=13.0\r\n\ttests=KEYWORD_7\r\nX-Spam-Score: 13.0\r\n\
Authentication-Results: mail.example.test; spf=pass\r\nSubject: s\r\n\r\nX-Spam-Score: body\r\n";
        assert_eq!(
            String::from_utf8_lossy(&strip_verdicts(m)),
            "Authentication-Results: mail.example.test; spf=pass\r\nSubject: s\r\n\r\nX-Spam-Score: body\r\n"
        );
    }

    #[test]
    fn other_filters_verdicts_go() {
        let m = b"X-Spam: No\r\nx-spam-status: No, score=-9\r\n\tfolded\r\nX-Spamd-Result: default: False\r\n\
X-Rspamd-Action: no action\r\nX-Virus-Scanned: clean\r\nX-Spammer-Name: kept\r\nX-Spamming: kept\r\nSubject: s\r\n\r\nX-Spam: body\r\n";
        let out = strip_forged(m, "mail.example.test");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "X-Spammer-Name: kept\r\nX-Spamming: kept\r\nSubject: s\r\n\r\nX-Spam: body\r\n"
        );
    }

    #[test]
    fn untouched_messages_are_not_copied() {
        let m = b"Subject: hi\r\nAuthentication-Results: other.test; spf=pass\r\n\r\nbody\r\n";
        assert!(matches!(strip_forged(m, "mail.example.test"), Cow::Borrowed(_)));
        assert!(matches!(strip_forged(b"no header end", "mail.example.test"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_field_at_the_very_end_of_the_header() {
        let m = b"Subject: x\r\nAuthentication-Results: mail.example.test; spf=pass\r\n\r\n";
        assert_eq!(&*strip_forged(m, "mail.example.test"), b"Subject: x\r\n\r\n");
    }
}
