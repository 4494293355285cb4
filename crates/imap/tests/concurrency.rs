//! Two sessions on one mailbox: sequence numbers stay right, expunges are
//! reported exactly once, at the moments RFC 9051 §7.5.1 allows.

mod common;

use common::*;

async fn two() -> (Harness, caravel_imap::session::Session, caravel_imap::session::Session) {
    let h = Harness::new().await;
    for i in 0..5 {
        h.deliver(&SIMPLE.replace("Subject: Quote", &format!("Subject: m{}", i + 1))).await;
    }
    let mut a = h.signed_in().await;
    let mut b = h.signed_in().await;
    run(&mut a, "s SELECT INBOX").await;
    run(&mut b, "s SELECT INBOX").await;
    (h, a, b)
}

#[tokio::test]
async fn no_expunge_during_fetch_then_reported_once() {
    let (_h, mut a, mut b) = two().await;
    run(&mut b, "x STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    run(&mut b, "x EXPUNGE").await;
    let fetch = run(&mut a, "f FETCH 1:* (FLAGS)").await;
    assert!(!fetch.contains("EXPUNGE"), "not during FETCH: {fetch}");
    let noop = run(&mut a, "n NOOP").await;
    assert_eq!(noop.matches("* 1 EXPUNGE").count(), 1, "then once: {noop}");
    assert!(!run(&mut a, "n NOOP").await.contains("EXPUNGE"), "and not again");
}

#[tokio::test]
async fn move_by_sequence_number_after_another_sessions_expunge() {
    let (h, mut a, mut b) = two().await;
    run(&mut b, "x STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    run(&mut b, "x EXPUNGE").await;
    // In a's numbering message 3 is still "m3".
    let out = run(&mut a, "m MOVE 3 Archive").await;
    assert!(out.contains("m OK MOVE completed"), "{out}");
    let mut c = h.signed_in().await;
    run(&mut c, "s SELECT Archive").await;
    let moved = run(&mut c, "f FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").await;
    assert!(moved.contains("Subject: m3"), "the message the client meant: {moved}");
}

#[tokio::test]
async fn a_no_keeps_the_expunges_it_carried() {
    let (_h, mut a, mut b) = two().await;
    run(&mut b, "x STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    run(&mut b, "x EXPUNGE").await;
    let out = run(&mut a, "c UID COPY 1 Nowhere").await;
    assert!(out.contains("* 2 EXPUNGE") && out.contains("c NO [TRYCREATE]"), "{out}");
}

/// \Recent (RFC 3501 §2.3.2), for IMAP4rev1 sessions: a message is recent
/// to the first session that sees it only; EXAMINE looks without claiming;
/// RECENT, NEW and OLD search by it; STATUS counts the unclaimed ones.
#[tokio::test]
async fn recent_belongs_to_the_first_session_that_sees_it() {
    let h = Harness::new().await;
    h.deliver(SIMPLE).await;
    let mut a = h.signed_in().await;
    let mut b = h.signed_in().await;
    let out = run(&mut b, "x EXAMINE INBOX").await;
    assert!(out.contains("* 1 RECENT"), "EXAMINE shows, but does not claim: {out}");
    let out = run(&mut a, "s SELECT INBOX").await;
    assert!(out.contains("* 1 RECENT"), "{out}");
    assert!(run(&mut a, "f FETCH 1 FLAGS").await.contains("FLAGS (\\Recent)"));
    let out = run(&mut b, "s SELECT INBOX").await;
    assert!(out.contains("* 0 RECENT"), "already claimed by a: {out}");
    assert!(run(&mut b, "t STATUS INBOX (RECENT)").await.contains("RECENT 0"));
    h.deliver(SIMPLE).await;
    let out = run(&mut b, "n NOOP").await;
    assert!(out.contains("* 2 EXISTS\r\n* 1 RECENT\r\n"), "b saw it first: {out}");
    let out = run(&mut a, "n NOOP").await;
    assert!(out.contains("* 2 EXISTS\r\n* 1 RECENT\r\n"), "a keeps its own: {out}");
    assert!(run(&mut a, "r SEARCH RECENT").await.starts_with("* SEARCH 1\r\n"));
    assert!(run(&mut a, "o SEARCH OLD").await.starts_with("* SEARCH 2\r\n"));
    run(&mut a, "f FETCH 1 BODY[]").await;
    assert!(run(&mut a, "w SEARCH NEW").await.starts_with("* SEARCH\r\n"), "NEW is RECENT and UNSEEN");
    let out = run(&mut b, "r SEARCH RECENT").await;
    // No MODSEQ: this session never turned CONDSTORE on (RFC 7162 §3.1).
    assert!(out.contains("* SEARCH 2\r\n") && out.contains("* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n"), "{out}");
}

/// RFC 9051 §6.3.6: RENAME INBOX moves its messages out; a session that has
/// INBOX selected sees them expunged.
#[tokio::test]
async fn rename_inbox_empties_it_for_other_sessions() {
    let (_h, mut a, mut b) = two().await;
    run(&mut b, "u UNSELECT").await;
    assert!(run(&mut b, "r RENAME INBOX Old").await.starts_with("r OK"));
    let out = run(&mut a, "n NOOP").await;
    assert_eq!(out.matches(" EXPUNGE\r\n").count(), 5, "{out}");
    assert!(run(&mut b, "s STATUS Old (MESSAGES)").await.contains("MESSAGES 5"));
}

/// A session's view follows another's changes whether it reads them by UID
/// (a few announced changes) or again in full (more changes than the
/// channel holds were missed): after either, both views agree.
#[tokio::test]
async fn views_agree_after_few_changes_and_after_missed_ones() {
    let (h, mut a, mut b) = two().await;
    let view = |out: String| -> Vec<String> {
        // \Recent belongs to one session only (RFC 3501 §2.3.2).
        let mut lines: Vec<String> = out
            .lines()
            .filter(|l| l.contains(" FETCH "))
            .map(|l| l.replace("\\Recent ", "").replace(" \\Recent", "").replace("\\Recent", ""))
            .collect();
        lines.sort();
        lines
    };
    // A few changes: read back by UID.
    run(&mut b, "x STORE 2 +FLAGS.SILENT (\\Flagged)").await;
    run(&mut b, "y STORE 4 +FLAGS.SILENT (\\Deleted)").await;
    run(&mut b, "z EXPUNGE").await;
    h.deliver(SIMPLE).await;
    let out = run(&mut a, "n NOOP").await;
    assert!(out.contains("* 2 FETCH (UID 2 FLAGS (\\Flagged"), "{out}");
    assert!(out.contains("* 4 EXPUNGE\r\n") && out.contains("* 5 EXISTS\r\n"), "{out}");
    run(&mut b, "n NOOP").await;
    assert_eq!(view(run(&mut a, "f FETCH 1:* (UID FLAGS)").await), view(run(&mut b, "f FETCH 1:* (UID FLAGS)").await));
    // More changes than the channel holds (256): a is told it lagged and
    // reads the whole list once.
    for n in 0..300 {
        let flag = if n % 2 == 0 { "+" } else { "-" };
        run(&mut b, &format!("s{n} STORE 1:5 {flag}FLAGS.SILENT ($Busy{})", n % 7)).await;
    }
    run(&mut b, "d STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    run(&mut b, "e EXPUNGE").await;
    h.deliver(SIMPLE).await;
    let out = run(&mut a, "n NOOP").await;
    assert!(out.contains("* 3 EXPUNGE\r\n") && out.contains("* 5 EXISTS\r\n"), "{out}");
    run(&mut b, "n NOOP").await;
    assert_eq!(view(run(&mut a, "f FETCH 1:* (UID FLAGS)").await), view(run(&mut b, "f FETCH 1:* (UID FLAGS)").await));
}
