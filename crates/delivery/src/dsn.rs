//! Delivery status notifications (RFC 3464 in a multipart/report, RFC 6522):
//! the reason in plain words first, the remote server's reply quoted, then
//! the machine-readable status, then the original message or its headers.

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientStatus {
    pub recipient: String,
    /// ORCPT as the sender gave it (RFC 3461 §4.2), e.g. "rfc822;a@b".
    pub original_recipient: Option<String>,
    pub action: Action,
    /// Enhanced status code (RFC 3463), e.g. "5.1.1".
    pub status: String,
    /// The server that answered, if any.
    pub remote_mta: Option<String>,
    /// The reply it gave, e.g. "550 5.1.1 No such user".
    pub reply: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delayed,
    /// Stored in the recipient's mailbox here (NOTIFY=SUCCESS, RFC 3461 §6.2).
    Delivered,
    /// Handed to a server that cannot report further (no DSN extension).
    Relayed,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
        }
    }
}

/// The message a report is about.
#[derive(Debug, Clone)]
pub struct Original<'a> {
    /// The envelope sender; a report goes back to it.
    pub sender: &'a str,
    /// The whole message as queued.
    pub message: &'a [u8],
    /// ENVID (RFC 3461 §4.4).
    pub envid: Option<&'a str>,
    /// RET=FULL: return the whole message; else the headers only.
    pub return_full: bool,
    /// When it arrived (Unix seconds).
    pub arrival: i64,
}

/// RFC 3464 §2 / RFC 5321 §4.5.5: no report about a report (null sender),
/// so two servers never bounce at each other.
pub fn should_report(sender: &str) -> bool {
    !sender.trim_matches(['<', '>']).is_empty()
}

/// The plain-words reason for a status, for people who do not read SMTP.
pub fn explain(status: &str, action: Action) -> &'static str {
    let class_detail: Vec<&str> = status.split('.').collect();
    match (action, class_detail.as_slice()) {
        (Action::Delayed, _) => "it has not been delivered yet; Caravel keeps trying",
        (Action::Delivered, _) => "it was delivered to the recipient's mailbox",
        (Action::Relayed, _) => {
            "it was handed to the recipient's server, which does not confirm delivery, so no further notice will come"
        }
        (_, [_, "1", "1"]) => {
            "the receiving server says this mailbox does not exist (check the spelling of the address)"
        }
        (_, [_, "1", "2"]) => "the receiving domain does not exist or takes no mail (check the part after @)",
        (_, [_, "2", "2"]) => "the recipient's mailbox is full",
        (_, [_, "3", "4"]) | (_, [_, "2", "3"]) => "the message is larger than the receiving server accepts",
        (_, [_, "7", _]) => {
            "the receiving server refused it as a matter of policy (for example as spam, or an unauthenticated sender)"
        }
        (_, [_, "4", _]) => "the receiving server could not be reached",
        _ => "the receiving server refused it",
    }
}

fn header_block(message: &[u8]) -> &[u8] {
    let end = message.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2).unwrap_or(message.len());
    &message[..end]
}

fn subject_of(message: &[u8]) -> Option<String> {
    String::from_utf8_lossy(header_block(message))
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Subject:").or_else(|| l.strip_prefix("subject:")).map(|s| s.trim().to_string()))
}

/// The report to send to `original.sender`, from `postmaster@hostname`.
/// `boundary` separates the parts (random in use, fixed in tests).
pub fn report(
    hostname: &str,
    original: &Original<'_>,
    statuses: &[RecipientStatus],
    date: &str,
    boundary: &str,
) -> Vec<u8> {
    let failed = statuses.iter().any(|s| s.action == Action::Failed);
    let delayed = statuses.iter().any(|s| s.action == Action::Delayed);
    let (subject, opening) = if failed {
        ("Undelivered mail: ", "Your message could not be delivered to every recipient.\r\n\r\n")
    } else if delayed {
        (
            "Delayed mail: ",
            "Your message has not reached every recipient yet. Nothing needs to be done for now:\r\nCaravel keeps trying and will tell you if it gives up.\r\n\r\n",
        )
    } else {
        ("Delivered: ", "You asked to be told when your message arrives.\r\n\r\n")
    };
    let about = subject_of(original.message).unwrap_or_else(|| "(no subject)".into());
    let mut human = String::new();
    human.push_str(opening);
    human.push_str(&format!("Subject: {about}\r\n\r\n"));
    for s in statuses {
        human.push_str(&format!("{}: {}.\r\n", s.recipient, explain(&s.status, s.action)));
        if let Some(reply) = &s.reply {
            let who = s.remote_mta.as_deref().unwrap_or("The receiving server");
            human.push_str(&format!("    {who} said: \"{}\"\r\n", reply.trim()));
        }
        human.push_str("\r\n");
    }
    let mut status = format!("Reporting-MTA: dns; {hostname}\r\n");
    if let Some(envid) = original.envid {
        status.push_str(&format!("Original-Envelope-Id: {envid}\r\n"));
    }
    status.push_str(&format!("Arrival-Date: {}\r\n", arrival_date(original.arrival)));
    for s in statuses {
        status.push_str("\r\n");
        if let Some(orcpt) = &s.original_recipient {
            status.push_str(&format!("Original-Recipient: {orcpt}\r\n"));
        }
        status.push_str(&format!("Final-Recipient: rfc822; {}\r\n", s.recipient));
        status.push_str(&format!("Action: {}\r\nStatus: {}\r\n", s.action.as_str(), s.status));
        if let Some(mta) = &s.remote_mta {
            status.push_str(&format!("Remote-MTA: dns; {mta}\r\n"));
        }
        if let Some(reply) = &s.reply {
            status.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", reply.trim()));
        }
    }
    let (returned_type, returned) = if original.return_full {
        ("message/rfc822", original.message)
    } else {
        ("text/rfc822-headers", header_block(original.message))
    };
    let mut out = format!(
        "From: Mail Delivery System <postmaster@{hostname}>\r\nTo: <{}>\r\nSubject: {subject}{about}\r\nDate: {date}\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{human}\
         --{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n{status}\r\n\
         --{boundary}\r\nContent-Type: {returned_type}\r\n\r\n",
        original.sender.trim_matches(['<', '>'])
    )
    .into_bytes();
    out.extend_from_slice(returned);
    if !returned.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

fn arrival_date(unix: i64) -> String {
    caravel_store::rfc5322_date(unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] =
        b"From: sales@export.test\r\nTo: buyer@far.test\r\nSubject: Quotation 42\r\n\r\nPrices attached.\r\n";

    fn original(full: bool) -> Original<'static> {
        Original { sender: "sales@export.test", message: MESSAGE, envid: Some("Q42"), return_full: full, arrival: 0 }
    }

    fn unknown_user() -> RecipientStatus {
        RecipientStatus {
            recipient: "buyer@far.test".into(),
            original_recipient: Some("rfc822;Buyer@far.test".into()),
            action: Action::Failed,
            status: "5.1.1".into(),
            remote_mta: Some("mx.far.test".into()),
            reply: Some("550 5.1.1 <buyer@far.test>: Recipient address rejected".into()),
        }
    }

    #[test]
    fn a_bounce_says_why_in_plain_words_then_in_rfc_3464() {
        let r = String::from_utf8(report(
            "mail.export.test",
            &original(false),
            &[unknown_user()],
            "Sat, 28 Nov 2026 10:00:00 +0000",
            "B",
        ))
        .expect("utf8");
        assert!(r.starts_with("From: Mail Delivery System <postmaster@mail.export.test>\r\nTo: <sales@export.test>\r\nSubject: Undelivered mail: Quotation 42\r\n"));
        assert!(r.contains("Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\""));
        assert!(r.contains("buyer@far.test: the receiving server says this mailbox does not exist"));
        assert!(r.contains("mx.far.test said: \"550 5.1.1 <buyer@far.test>: Recipient address rejected\""));
        for field in [
            "Reporting-MTA: dns; mail.export.test",
            "Original-Envelope-Id: Q42",
            "Arrival-Date: Thu, 1 Jan 1970 00:00:00 +0000",
            "Original-Recipient: rfc822;Buyer@far.test",
            "Final-Recipient: rfc822; buyer@far.test",
            "Action: failed",
            "Status: 5.1.1",
            "Remote-MTA: dns; mx.far.test",
            "Diagnostic-Code: smtp; 550 5.1.1",
        ] {
            assert!(r.contains(field), "{field}");
        }
        assert!(r.contains("Content-Type: text/rfc822-headers\r\n\r\nFrom: sales@export.test"));
        assert!(!r.contains("Prices attached"), "headers only unless RET=FULL");
        assert!(r.ends_with("--B--\r\n"));
    }

    #[test]
    fn ret_full_returns_the_whole_message_and_delays_are_reassuring() {
        let mut s = unknown_user();
        s.action = Action::Delayed;
        s.status = "4.4.1".into();
        let r = String::from_utf8(report("mail.export.test", &original(true), &[s], "d", "B")).expect("utf8");
        assert!(r.contains("Subject: Delayed mail: Quotation 42"));
        assert!(r.contains("Caravel keeps trying"));
        assert!(r.contains("Action: delayed") && r.contains("Status: 4.4.1"));
        assert!(
            r.contains("Content-Type: message/rfc822\r\n\r\nFrom: sales@export.test") && r.contains("Prices attached")
        );
    }

    #[test]
    fn success_notices_say_delivered_or_relayed() {
        let mut s = unknown_user();
        s.action = Action::Relayed;
        s.status = "2.0.0".into();
        let r = String::from_utf8(report("mail.export.test", &original(false), &[s], "d", "B")).expect("utf8");
        assert!(r.contains("Subject: Delivered: Quotation 42"), "{r}");
        assert!(
            r.contains("does not confirm delivery") && r.contains("Action: relayed") && r.contains("Status: 2.0.0")
        );
    }

    #[test]
    fn never_a_bounce_about_a_bounce() {
        assert!(!should_report(""));
        assert!(!should_report("<>"));
        assert!(should_report("sales@export.test"));
    }

    #[test]
    fn reasons_by_status() {
        assert!(explain("5.2.2", Action::Failed).contains("full"));
        assert!(explain("5.7.1", Action::Failed).contains("policy"));
        assert!(explain("5.1.2", Action::Failed).contains("domain"));
        assert!(explain("5.3.4", Action::Failed).contains("larger"));
        assert!(explain("5.9.9", Action::Failed).contains("refused"));
    }
}
