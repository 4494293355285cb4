//! SELECT/EXAMINE responses, FETCH items and sections, \Seen side effects.

mod common;

use common::*;

const MIXED: &str = "From: a@far.test\nSubject: files\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain; charset=utf-8\n\nSee attached.\n--b\nContent-Type: application/pdf; name=\"q.pdf\"\nContent-Disposition: attachment; filename=\"q.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b--\n";

#[tokio::test]
async fn select_reports_the_mailbox() {
    let h = Harness::new().await;
    h.deliver(SIMPLE).await;
    let mut s = h.signed_in().await;
    let out = run(&mut s, "s SELECT INBOX").await;
    for want in [
        "* FLAGS (",
        "* OK [PERMANENTFLAGS (",
        "* 1 EXISTS",
        "* OK [UNSEEN 1]",
        "* OK [UIDVALIDITY ",
        "* OK [UIDNEXT 2]",
        "* OK [HIGHESTMODSEQ ",
        "s OK [READ-WRITE]",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let out = run(&mut s, "e EXAMINE INBOX").await;
    assert!(out.starts_with("* OK [CLOSED]") && out.contains("e OK [READ-ONLY]"), "{out}");
    assert!(run(&mut s, "f FETCH 1 BODY[]").await.contains("FETCH (BODY[] "), "read-only FETCH works");
    assert!(!run(&mut s, "f FETCH 1 FLAGS").await.contains("\\Seen"), "read-only never sets \\Seen");
    assert!(run(&mut s, "s STORE 1 +FLAGS (\\Seen)").await.starts_with("s NO [READ-ONLY]"));
}

#[tokio::test]
async fn fetch_items_and_sections() {
    let h = Harness::new().await;
    h.deliver(SIMPLE).await;
    h.deliver(MIXED).await;
    let mut s = h.signed_in().await;
    run(&mut s, "s SELECT INBOX").await;
    let out = run(&mut s, "f FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)").await;
    assert!(out.contains("INTERNALDATE \"14-Nov-2023 22:13:20 +0000\""), "{out}");
    assert!(
        out.contains(
            "ENVELOPE (\"Tue, 14 Nov 2023 22:13:20 +0000\" \"Quote\" ((\"Ana Lopez\" NIL \"ana\" \"far.test\"))"
        ),
        "{out}"
    );
    let out = run(&mut s, "f FETCH 2 (BODYSTRUCTURE)").await;
    assert!(out.contains("(\"application\" \"pdf\" (\"name\" \"q.pdf\") NIL NIL \"base64\" 12 NIL (\"attachment\" (\"filename\" \"q.pdf\")) NIL NIL)"), "{out}");
    let out = run(&mut s, "f FETCH 2 (BODY.PEEK[1] BODY.PEEK[2.MIME] BINARY.PEEK[2] BINARY.SIZE[2])").await;
    assert!(out.contains("BODY[1] \"See attached.\""), "{out}");
    assert!(out.contains("BODY[2.MIME] {"), "{out}");
    assert!(out.contains("BINARY[2] ~{9}\r\n%PDF-1.4\n"), "{out}");
    assert!(out.contains("BINARY.SIZE[2] 9"), "{out}");
    let out = run(&mut s, "f FETCH 1:2 (FLAGS)").await;
    assert!(!out.contains("\\Seen"), "PEEK left them unread: {out}");
    let out = run(&mut s, "f FETCH 1 (RFC822.HEADER BODY[HEADER.FIELDS.NOT (TO MESSAGE-ID DATE FROM)])").await;
    assert!(out.contains("BODY[HEADER.FIELDS.NOT (TO MESSAGE-ID DATE FROM)] {18}\r\nSubject: Quote\r\n\r\n"), "{out}");
    let out = run(&mut s, "f FETCH 1 BODY[TEXT]<7.5>").await;
    assert!(
        out.contains("BODY[TEXT]<7> \"attac\"") && out.contains("FLAGS (\\Seen \\Recent)"),
        "non-peek sets \\Seen: {out}"
    );
    let out = run(&mut s, "u UID FETCH 2 (FLAGS)").await;
    assert!(out.starts_with("* 2 FETCH (UID 2 FLAGS (\\Recent))"), "UID FETCH adds UID: {out}");
    assert!(run(&mut s, "f FETCH 3 FLAGS").await.starts_with("f BAD"), "no message 3");
    assert!(run(&mut s, "u UID FETCH 3:9 FLAGS").await.starts_with("u OK"), "UID ranges may name nothing");
    let out = run(&mut s, "f FETCH 1:* FAST").await;
    assert!(out.contains("* 1 FETCH (FLAGS") && out.contains("* 2 FETCH (FLAGS"), "{out}");
}

#[tokio::test]
async fn condstore_modseq_and_changedsince() {
    let h = Harness::new().await;
    h.deliver(SIMPLE).await;
    h.deliver(SIMPLE).await;
    let mut s = h.signed_in().await;
    run(&mut s, "s SELECT INBOX (CONDSTORE)").await;
    let out = run(&mut s, "f FETCH 1:* (MODSEQ)").await;
    let modseq: u64 =
        out.split("MODSEQ (").nth(2).and_then(|r| r.split(')').next()).and_then(|n| n.parse().ok()).expect("modseq");
    run(&mut s, "s STORE 2 +FLAGS.SILENT (\\Flagged)").await;
    let out = run(&mut s, &format!("f FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq})")).await;
    assert!(out.contains("* 2 FETCH") && !out.contains("* 1 FETCH"), "{out}");
    let out = run(&mut s, "s STORE 1,2 (UNCHANGEDSINCE 1) +FLAGS (\\Seen)").await;
    assert!(out.contains("[MODIFIED "), "{out}");
}

/// A FETCH larger than one chunk is answered in parts, each sent before the
/// next is built; a message expunged by another session between parts is
/// left out, and its EXPUNGE waits for the next command (RFC 9051 §7.5.1).
#[tokio::test]
async fn large_fetch_is_answered_in_chunks() {
    use caravel_imap::fetch_run::CHUNK;
    use caravel_imap::session::Next;
    let h = Harness::new().await;
    let filler = "x".repeat(98) + "\n";
    for i in 1..=30 {
        h.deliver(&format!("From: a@far.test\nSubject: big {i}\n\n{}", filler.repeat(1000))).await;
    }
    let mut s = h.signed_in().await;
    let mut other = h.signed_in().await;
    run(&mut s, "s SELECT INBOX").await;
    run(&mut other, "o SELECT INBOX").await;

    let step = s.command(b"f FETCH 1:* BODY.PEEK[]\r\n").await;
    assert!(matches!(step.next, Next::Resume), "a 3 MB answer comes in parts");
    assert!(step.out.len() < CHUNK + 110_000, "one chunk and at most one message: {}", step.out.len());
    assert!(!String::from_utf8_lossy(&step.out).contains("f OK"));
    let mut text = String::from_utf8_lossy(&step.out).into_owned();
    // Message 30 is expunged elsewhere while the answer is being sent.
    assert!(run(&mut other, "o STORE 30 +FLAGS.SILENT (\\Deleted)").await.contains("o OK"));
    assert!(run(&mut other, "o EXPUNGE").await.contains("o OK"));
    let mut parts = 1;
    loop {
        let step = s.resume().await;
        parts += 1;
        assert!(step.out.len() < CHUNK + 110_000);
        text.push_str(&String::from_utf8_lossy(&step.out));
        if !matches!(step.next, Next::Resume) {
            break;
        }
    }
    assert!(parts >= 3, "{parts} parts");
    assert_eq!(text.matches(" FETCH (BODY[] {").count(), 29, "all but the expunged one");
    assert!(!text.contains("* 30 FETCH") && !text.contains("EXPUNGE"), "no EXPUNGE during FETCH");
    assert!(text.ends_with("f OK FETCH completed\r\n"));
    assert_eq!(text.matches("f OK").count(), 1);
    assert!(run(&mut s, "n NOOP").await.contains("* 30 EXPUNGE"));
}

/// RFC 3516: BINARY[] is the whole message; a transfer encoding the server
/// cannot undo fails the FETCH with [UNKNOWN-CTE].
#[tokio::test]
async fn binary_whole_message_and_unknown_encodings() {
    let h = Harness::new().await;
    h.deliver(MIXED).await;
    h.deliver("From: a@far.test\nSubject: old\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 f\n").await;
    let mut s = h.signed_in().await;
    run(&mut s, "s SELECT INBOX").await;
    let whole = run(&mut s, "a FETCH 1 BINARY.PEEK[]").await;
    let body = run(&mut s, "b FETCH 1 BODY.PEEK[]").await;
    let size = body.split("BODY[] {").nth(1).and_then(|r| r.split('}').next()).expect("size");
    assert!(whole.contains(&format!("BINARY[] ~{{{size}}}\r\nFrom: a@far.test")), "{whole}");
    assert!(run(&mut s, "c FETCH 1 BINARY.SIZE[]").await.contains(&format!("BINARY.SIZE[] {size}")));
    let out = run(&mut s, "d FETCH 2 BINARY.PEEK[1]").await;
    assert!(out.starts_with("d NO [UNKNOWN-CTE]"), "{out}");
}

/// RFC 7162 §3.1.4.1: with CONDSTORE on, a FETCH that sets \Seen reports
/// the new MODSEQ (and the UID) with the flags.
#[tokio::test]
async fn condstore_fetch_that_sets_seen_reports_modseq() {
    let h = Harness::new().await;
    h.deliver(SIMPLE).await;
    let mut s = h.signed_in().await;
    run(&mut s, "e ENABLE CONDSTORE").await;
    run(&mut s, "s SELECT INBOX").await;
    let out = run(&mut s, "f FETCH 1 BODY[TEXT]").await;
    assert!(out.contains("FLAGS (\\Seen \\Recent) UID 1 MODSEQ ("), "{out}");
}
