//! When an automatic reply may be sent (RFC 3834 §2, RFC 5230 §4.5–4.6),
//! and the reply itself (RFC 3834 §3): to the envelope sender, with a null
//! envelope sender of its own, `Auto-Submitted: auto-replied`, threaded by
//! `In-Reply-To` and `References`, the original subject after the
//! template's.

use crate::transfer::encode_quoted_printable;

/// What an auto-reply needs to know of a delivered message.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub subject: String,
    pub message_id: Option<String>,
    pub references: Vec<String>,
    /// Every address in To: and Cc:, lowercased.
    pub addressed: Vec<String>,
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    pub list_header: bool,
    /// Microsoft's X-Auto-Response-Suppress names OOF or All.
    pub suppress: bool,
    pub content_language: Option<String>,
    /// The start of the text, for its language.
    pub text: String,
    /// The sender's UTC offset from its Date: field (seconds).
    pub sender_offset: Option<i32>,
}

/// Reads the facts from a message (one parse, bounded like every parse).
pub fn facts(raw: &[u8]) -> Facts {
    caravel_store::mime::with_parsed(raw, |m| {
        let header = |name: &str| m.header_raw(name).map(|v| v.trim().to_string());
        let mut addressed = Vec::new();
        for list in [m.to(), m.cc()].into_iter().flatten() {
            addressed.extend(list.iter().filter_map(|a| a.address.as_deref()).map(|a| a.trim().to_lowercase()));
        }
        let ids = |v: Option<String>| -> Vec<String> {
            v.map(|v| v.split_whitespace().filter(|s| s.starts_with('<')).map(str::to_string).collect())
                .unwrap_or_default()
        };
        let mut text: String = m.body_text(0).map(|t| t.chars().take(2000).collect()).unwrap_or_default();
        if let Some(s) = m.subject() {
            text.insert_str(0, &format!("{s}\n"));
        }
        Facts {
            subject: m.subject().unwrap_or_default().to_string(),
            message_id: m.message_id().map(|id| format!("<{id}>")),
            references: ids(header("References")),
            addressed,
            auto_submitted: header("Auto-Submitted"),
            precedence: header("Precedence"),
            list_header: m.headers().iter().any(|h| h.name().to_ascii_lowercase().starts_with("list-")),
            suppress: header("X-Auto-Response-Suppress")
                .is_some_and(|v| v.split(',').any(|p| matches!(p.trim().to_ascii_lowercase().as_str(), "all" | "oof"))),
            content_language: header("Content-Language")
                .and_then(|l| l.split([',', '-']).next().map(|l| l.trim().to_ascii_lowercase())),
            text,
            sender_offset: m.date().map(|d| {
                let sign = if d.tz_before_gmt { -1 } else { 1 };
                sign * (i32::from(d.tz_hour) * 3600 + i32::from(d.tz_minute) * 60)
            }),
        }
    })
    .unwrap_or_default()
}

/// Why no reply is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReply {
    /// The null sender (a bounce) or a system or no-reply address.
    SystemSender,
    /// Auto-Submitted other than "no", or X-Auto-Response-Suppress.
    Automatic,
    /// Precedence: bulk, list or junk.
    Bulk,
    /// List-* header fields.
    MailingList,
    /// Scored as spam (filed in Junk or quarantined).
    Spam,
    /// None of the user's addresses is in To: or Cc: (a Bcc, a list).
    NotAddressed,
}

/// RFC 3834 §2 and RFC 5230 §4.5–4.6: the messages never answered.
pub fn may_reply(sender: &str, f: &Facts, own: &[String], spam: bool) -> Result<(), NoReply> {
    let local = sender.rsplit_once('@').map(|(l, _)| l.to_ascii_lowercase()).unwrap_or_default();
    let system =
        ["mailer-daemon", "postmaster", "listserv", "majordomo", "noreply", "no-reply", "donotreply", "do-not-reply"];
    if sender.is_empty()
        || system.contains(&local.as_str())
        || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.starts_with("bounce")
        || local.starts_with("srs0=")
    {
        return Err(NoReply::SystemSender);
    }
    if f.auto_submitted.as_deref().is_some_and(|v| !v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("no"))
        || f.suppress
    {
        return Err(NoReply::Automatic);
    }
    if f.precedence.as_deref().is_some_and(|p| matches!(p.to_ascii_lowercase().as_str(), "bulk" | "list" | "junk")) {
        return Err(NoReply::Bulk);
    }
    if f.list_header {
        return Err(NoReply::MailingList);
    }
    if spam {
        return Err(NoReply::Spam);
    }
    if !own.iter().any(|o| f.addressed.iter().any(|a| a.eq_ignore_ascii_case(o))) {
        return Err(NoReply::NotAddressed);
    }
    Ok(())
}

/// The reply's parts.
pub struct Reply<'a> {
    pub from_name: Option<&'a str>,
    pub from: &'a str,
    pub to: &'a str,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub date: &'a str,
    pub message_id: &'a str,
}

/// The reply's subject: the template's with `{subject}` filled, or the
/// template's, a colon and the original (RFC 3834 §3.1.5).
pub fn reply_subject(template: &str, original: &str) -> String {
    // A hostile subject of kilobytes stays out of the reply's header.
    let original: String = original.trim().chars().take(200).collect();
    let original = original.as_str();
    match (template.trim(), template.contains("{subject}")) {
        (_, true) => template.replace("{subject}", original),
        ("", _) => format!("Auto: {original}"),
        (t, _) if original.is_empty() => t.to_string(),
        (t, _) => format!("{t}: {original}"),
    }
}

/// The whole reply message.
pub fn build(r: &Reply<'_>, f: &Facts) -> Vec<u8> {
    let mut m = String::new();
    let from = match r.from_name.filter(|n| !n.is_empty()) {
        Some(name) => format!("{} <{}>", encode_phrase(name), r.from),
        None => format!("<{}>", r.from),
    };
    m.push_str(&format!("From: {from}\r\nTo: <{}>\r\n", r.to));
    m.push_str(&format!("Subject: {}\r\n", encode_words(&r.subject)));
    m.push_str(&format!("Date: {}\r\nMessage-ID: <{}>\r\n", r.date, r.message_id));
    if let Some(id) = f.message_id.as_ref().filter(|id| id.len() <= 250) {
        m.push_str(&format!("In-Reply-To: {id}\r\n"));
        let mut refs: Vec<String> = f.references.iter().filter(|r| r.len() <= 250).cloned().collect();
        refs.push(id.clone());
        // Long chains keep the first and the last few (RFC 5322 §3.6.4).
        if refs.len() > 10 {
            refs.drain(1..refs.len() - 9);
        }
        m.push_str(&format!("References: {}\r\n", refs.join("\r\n ")));
    }
    m.push_str("Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\nMIME-Version: 1.0\r\n");
    let text = encode_quoted_printable(r.text.replace("\r\n", "\n").replace('\n', "\r\n").as_bytes());
    let text = String::from_utf8_lossy(&text);
    match &r.html {
        None => {
            m.push_str(
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
            );
            m.push_str(&text);
        }
        Some(html) => {
            let boundary = format!("=_auto_{}", r.message_id.split('@').next().unwrap_or("x"));
            let html = encode_quoted_printable(html.as_bytes());
            m.push_str(&format!("Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"));
            m.push_str(&format!(
                "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{text}\r\n"
            ));
            m.push_str(&format!(
                "--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}\r\n",
                String::from_utf8_lossy(&html)
            ));
            m.push_str(&format!("--{boundary}--\r\n"));
        }
    }
    if !m.ends_with("\r\n") {
        m.push_str("\r\n");
    }
    m.into_bytes()
}

/// A header text as RFC 2047 encoded words when it is not plain ASCII
/// (base64, at most 36 bytes of text per word so each line stays under 76).
pub fn encode_words(s: &str) -> String {
    use base64::Engine;
    if s.is_ascii() && !s.contains("=?") && !s.contains(['\r', '\n']) {
        return s.to_string();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars().filter(|c| *c != '\r' && *c != '\n') {
        // 36 bytes are 48 base64 characters: the first word fits on the
        // "Subject: " line within 76 (RFC 2047 §2).
        if chunk.len() + c.len_utf8() > 36 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(w.as_bytes())))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// A display name: quoted when ASCII, encoded words otherwise.
fn encode_phrase(s: &str) -> String {
    if s.is_ascii() {
        format!("\"{}\"", s.replace(['\\', '"'], ""))
    } else {
        encode_words(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts_of(headers: &str) -> Facts {
        facts(
            format!("From: buyer@buyer.test\r\nTo: Li <li@export.test>\r\n{headers}\r\n\r\nHello, please quote.\r\n")
                .as_bytes(),
        )
    }

    fn own() -> Vec<String> {
        vec!["li@export.test".into()]
    }

    #[test]
    fn rfc_3834_messages_that_get_no_reply() {
        let ok = facts_of("Subject: Offer\r\nMessage-ID: <1@buyer.test>");
        assert_eq!(may_reply("buyer@buyer.test", &ok, &own(), false), Ok(()));
        assert_eq!(may_reply("", &ok, &own(), false), Err(NoReply::SystemSender));
        assert_eq!(may_reply("MAILER-DAEMON@buyer.test", &ok, &own(), false), Err(NoReply::SystemSender));
        assert_eq!(may_reply("noreply@shop.test", &ok, &own(), false), Err(NoReply::SystemSender));
        assert_eq!(may_reply("owner-list@lists.test", &ok, &own(), false), Err(NoReply::SystemSender));
        assert_eq!(may_reply("buyer@buyer.test", &ok, &own(), true), Err(NoReply::Spam));
        assert_eq!(
            may_reply("buyer@buyer.test", &ok, &["other@export.test".into()], false),
            Err(NoReply::NotAddressed)
        );
        for (header, why) in [
            ("Auto-Submitted: auto-replied", NoReply::Automatic),
            ("Auto-Submitted: auto-generated; owner-email=x@y", NoReply::Automatic),
            ("X-Auto-Response-Suppress: OOF, DR", NoReply::Automatic),
            ("Precedence: bulk", NoReply::Bulk),
            ("Precedence: list", NoReply::Bulk),
            ("Precedence: junk", NoReply::Bulk),
            ("List-Id: <offers.lists.test>", NoReply::MailingList),
            ("List-Unsubscribe: <mailto:u@lists.test>", NoReply::MailingList),
        ] {
            assert_eq!(may_reply("buyer@buyer.test", &facts_of(header), &own(), false), Err(why), "{header}");
        }
        assert_eq!(may_reply("buyer@buyer.test", &facts_of("Auto-Submitted: no"), &own(), false), Ok(()));
        assert_eq!(
            may_reply(
                "buyer@buyer.test",
                &facts_of("Cc: LI@Export.test"),
                &["x@y".into(), "li@export.test".into()],
                false
            ),
            Ok(())
        );
    }

    #[test]
    fn the_reply_is_threaded_and_marked() {
        let f = facts_of("Subject: =?UTF-8?B?5oql5Lu3?=\r\nMessage-ID: <2@buyer.test>\r\nReferences: <1@buyer.test>");
        assert_eq!(f.subject, "报价");
        let r = Reply {
            from_name: Some("李娜"),
            from: "li@export.test",
            to: "buyer@buyer.test",
            subject: reply_subject("Out of office", &f.subject),
            text: "I am away.\nBack on Monday.".into(),
            html: None,
            date: "Mon, 8 Feb 2027 10:00:00 +0800",
            message_id: "auto.1@mail.export.test",
        };
        let out = String::from_utf8(build(&r, &f)).expect("utf8");
        assert!(out.contains("\r\nTo: <buyer@buyer.test>\r\n"), "{out}");
        assert!(
            out.contains("\r\nIn-Reply-To: <2@buyer.test>\r\nReferences: <1@buyer.test>\r\n <2@buyer.test>\r\n"),
            "{out}"
        );
        assert!(out.contains("\r\nAuto-Submitted: auto-replied\r\n"), "{out}");
        assert!(out.starts_with("From: =?UTF-8?B?5p2O5aic?= <li@export.test>\r\n"), "{out}");
        let parsed = facts(out.as_bytes());
        assert_eq!(parsed.subject, "Out of office: 报价");
        assert_eq!(parsed.auto_submitted.as_deref(), Some("auto-replied"));
        assert!(parsed.text.contains("Back on Monday."));
        assert_eq!(reply_subject("{subject} [away]", "Offer"), "Offer [away]");
        assert_eq!(reply_subject("", "Offer"), "Auto: Offer");
        // A hostile subject stays out of the reply's header; encoded words
        // keep the Subject line within 76 characters.
        assert!(reply_subject("Away", &"x".repeat(5000)).len() <= 210);
        let subject = format!("Subject: {}", encode_words(&"报价单".repeat(30)));
        assert!(subject.split("\r\n").all(|l| l.len() <= 76), "{subject}");
    }
}
