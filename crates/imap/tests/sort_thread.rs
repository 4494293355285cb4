//! SORT and THREAD (RFC 5256).

mod common;

use common::*;

async fn mailbox() -> (Harness, caravel_imap::session::Session) {
    let h = Harness::new().await;
    let msgs = [
        ("<a@x>", "", "Quote for March", "Mon, 1 Jan 2024 10:00:00 +0000", "zoe@far.test", 300),
        ("<b@x>", "<a@x>", "Re: Quote for March", "Mon, 1 Jan 2024 11:00:00 +0000", "bob@far.test", 100),
        ("<c@x>", "<b@x>", "RE: [sales] Quote for March", "Mon, 1 Jan 2024 12:00:00 +0000", "ana@far.test", 200),
        ("<d@x>", "", "Invoice", "Sun, 31 Dec 2023 09:00:00 +0000", "carl@far.test", 50),
        ("<e@x>", "<a@x>", "Re: Quote for March", "Mon, 1 Jan 2024 13:00:00 +0000", "dan@far.test", 400),
    ];
    for (id, parent, subject, date, from, pad) in msgs {
        let refs = if parent.is_empty() { String::new() } else { format!("References: {parent}\n") };
        let body = "x".repeat(pad);
        h.deliver(&format!("From: {from}\nSubject: {subject}\nDate: {date}\nMessage-ID: {id}\n{refs}\n{body}\n")).await;
    }
    let mut s = h.signed_in().await;
    run(&mut s, "s SELECT INBOX").await;
    (h, s)
}

#[tokio::test]
async fn sort_by_criteria() {
    let (_h, mut s) = mailbox().await;
    assert!(run(&mut s, "a SORT (DATE) UTF-8 ALL").await.starts_with("* SORT 4 1 2 3 5\r\n"));
    assert!(run(&mut s, "b SORT (REVERSE SIZE) UTF-8 ALL").await.starts_with("* SORT 5 1 3 2 4\r\n"));
    assert!(run(&mut s, "c SORT (FROM) UTF-8 ALL").await.starts_with("* SORT 3 2 4 5 1\r\n"));
    assert!(
        run(&mut s, "d SORT (SUBJECT DATE) UTF-8 ALL").await.starts_with("* SORT 4 1 2 3 5\r\n"),
        "base subjects equal"
    );
    assert!(run(&mut s, "e UID SORT (ARRIVAL) UTF-8 SUBJECT quote").await.starts_with("* SORT 1 2 3 5\r\n"));
    assert!(run(&mut s, "f SORT (DATE) KOI8-R ALL").await.starts_with("f NO [BADCHARSET"), "RFC 5256: NO, not BAD");
}

#[tokio::test]
async fn threads() {
    let (_h, mut s) = mailbox().await;
    let refs = run(&mut s, "a THREAD REFERENCES UTF-8 ALL").await;
    assert!(refs.starts_with("* THREAD (4)(1 (2 3)(5))\r\n"), "{refs}");
    let subj = run(&mut s, "b THREAD ORDEREDSUBJECT UTF-8 ALL").await;
    assert!(subj.starts_with("* THREAD (4)(1 (2)(3)(5))\r\n"), "{subj}");
    let caps = run(&mut s, "c CAPABILITY").await;
    assert!(caps.contains("THREAD=REFERENCES") && caps.contains("SORT"), "{caps}");
}
