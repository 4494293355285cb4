//! What a submission server fixes in a message before it goes anywhere
//! (RFC 6409 §8): a missing `Date:` or `Message-ID:` is added, and `Bcc:`
//! is removed.
//!
//! Both fields are added before DKIM signing: a message that leaves without
//! them is signed with them absent (RFC 6376 §5.4), so a relay that adds
//! them later breaks every signature, and some receivers (OpenDKIM, large
//! mailbox providers) refuse such a message outright.

use caravel_store::fields::{field_name, fields, header_end};

/// The message as it should go out: `Bcc:` fields removed (RFC 5322
/// §3.6.3: the blind recipients are in the envelope; nobody should read
/// their names), `Date:` and `Message-ID:` added at the end of the header
/// when missing. `message_id` is the id to use (without angle brackets).
pub fn prepare(message: &[u8], date: &str, message_id: &str) -> Vec<u8> {
    let end = header_end(message);
    let (head, body) = message.split_at(end);
    let mut out = Vec::with_capacity(message.len() + 128);
    let (mut has_date, mut has_id) = (false, false);
    for field in fields(head) {
        let name = field_name(field);
        if name.eq_ignore_ascii_case(b"bcc") {
            continue;
        }
        has_date |= name.eq_ignore_ascii_case(b"date");
        has_id |= name.eq_ignore_ascii_case(b"message-id");
        out.extend_from_slice(field);
    }
    // A header whose last line lacks its CRLF (a message with no body and
    // no blank line) is closed before anything follows it.
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        out.extend_from_slice(format!("Date: {date}\r\n").as_bytes());
    }
    if !has_id {
        out.extend_from_slice(format!("Message-ID: <{message_id}>\r\n").as_bytes());
    }
    if body.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::prepare;

    const DATE: &str = "Sun, 6 Dec 2026 07:00:00 +0000";

    fn run(m: &str) -> String {
        String::from_utf8(prepare(m.as_bytes(), DATE, "abc.1@mail.export.test")).expect("utf8")
    }

    #[test]
    fn date_and_message_id_are_added_when_missing() {
        assert_eq!(
            run("From: a@export.test\r\nSubject: hi\r\n\r\nbody\r\n"),
            "From: a@export.test\r\nSubject: hi\r\nDate: Sun, 6 Dec 2026 07:00:00 +0000\r\n\
             Message-ID: <abc.1@mail.export.test>\r\n\r\nbody\r\n"
        );
    }

    #[test]
    fn present_fields_are_kept_whatever_their_case() {
        let m = "DATE: Mon, 1 Jan 2024 00:00:00 +0800\r\nmessage-id: <x@y>\r\nFrom: a@export.test\r\n\r\nbody\r\n";
        assert_eq!(run(m), m);
    }

    #[test]
    fn bcc_is_removed_with_its_continuation_lines() {
        let m = "From: a@export.test\r\nBcc: boss@export.test,\r\n\tsecret@buyer.test\r\nTo: b@buyer.test\r\n\
                 BCC: other@x.test\r\nDate: x\r\nMessage-ID: <y@z>\r\n\r\nBcc: in the body stays\r\n";
        assert_eq!(
            run(m),
            "From: a@export.test\r\nTo: b@buyer.test\r\nDate: x\r\nMessage-ID: <y@z>\r\n\r\nBcc: in the body stays\r\n"
        );
    }

    #[test]
    fn a_message_without_body_or_final_crlf_gets_a_closed_header() {
        assert_eq!(
            run("Subject: only"),
            "Subject: only\r\nDate: Sun, 6 Dec 2026 07:00:00 +0000\r\nMessage-ID: <abc.1@mail.export.test>\r\n\r\n"
        );
        assert_eq!(
            run("\r\nbody"),
            "Date: Sun, 6 Dec 2026 07:00:00 +0000\r\nMessage-ID: <abc.1@mail.export.test>\r\n\r\nbody"
        );
    }
}
