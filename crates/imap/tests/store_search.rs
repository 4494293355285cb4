//! STORE, SEARCH/ESEARCH, EXPUNGE, CLOSE, COPY, MOVE, APPEND.

mod common;

use common::*;

#[tokio::test]
async fn store_modes() {
    let h = Harness::new().await;
    h.deliver(SIMPLE).await;
    let mut s = h.signed_in().await;
    run(&mut s, "s SELECT INBOX").await;
    // $Quote is new to the mailbox: FLAGS names it first (RFC 3501 §7.2.6).
    let out = run(&mut s, "a STORE 1 +FLAGS (\\Flagged $Quote)").await;
    assert!(out.starts_with("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $MDNSent $Junk $NotJunk $Quote)\r\n* OK [PERMANENTFLAGS ("), "{out}");
    assert!(out.contains("\r\n* 1 FETCH (FLAGS (\\Flagged \\Recent $Quote))\r\n"), "{out}");
    assert!(run(&mut s, "b STORE 1 -FLAGS ($quote)").await.starts_with("* 1 FETCH (FLAGS (\\Flagged \\Recent))"));
    assert!(run(&mut s, "c STORE 1 FLAGS (\\Seen \\Answered)")
        .await
        .starts_with("* 1 FETCH (FLAGS (\\Seen \\Answered \\Recent))"));
    assert_eq!(run(&mut s, "d STORE 1 +FLAGS.SILENT (\\Draft)").await, "d OK STORE completed\r\n");
    assert!(run(&mut s, "e STORE 1 +FLAGS (\\Recent)").await.starts_with("e BAD"));
    assert!(run(&mut s, "f UID STORE 1 -FLAGS (\\Draft)").await.starts_with("* 1 FETCH (UID 1 FLAGS"));
}

#[tokio::test]
async fn search_and_esearch() {
    let h = Harness::new().await;
    h.deliver(SIMPLE).await;
    h.deliver("From: =?GBK?B?wO7Cxw==?= <li@far.test>\nSubject: =?GB2312?B?sai827Wl?=\nContent-Type: text/plain; charset=gbk\nContent-Transfer-Encoding: base64\n\nxPq6w6Osx+u/tLGovNu1pQ==\n").await;
    let mut s = h.signed_in().await;
    run(&mut s, "s SELECT INBOX").await;
    assert!(run(&mut s, "a SEARCH ALL").await.starts_with("* SEARCH 1 2\r\n"));
    assert!(run_raw(&mut s, "b SEARCH CHARSET UTF-8 SUBJECT \"报价\"\r\n".as_bytes())
        .await
        .starts_with("* SEARCH 2\r\n"));
    assert!(
        run_raw(&mut s, "c SEARCH CHARSET UTF-8 BODY \"请看\"\r\n".as_bytes()).await.starts_with("* SEARCH 2\r\n"),
        "GBK body decoded"
    );
    assert!(run_raw(&mut s, "d SEARCH FROM \"李\"\r\n".as_bytes()).await.starts_with("* SEARCH 2\r\n"));
    assert!(run(&mut s, "e SEARCH OR SUBJECT quote FROM li NOT DELETED").await.starts_with("* SEARCH 1 2"));
    assert!(run(&mut s, "f UID SEARCH UID 2:*").await.starts_with("* SEARCH 2\r\n"));
    assert!(run(&mut s, "g SEARCH SENTON 14-Nov-2023").await.starts_with("* SEARCH 1\r\n"));
    let es = run(&mut s, "h SEARCH RETURN (MIN MAX COUNT) ALL").await;
    assert!(es.starts_with("* ESEARCH (TAG \"h\") MIN 1 MAX 2 COUNT 2"), "{es}");
    assert!(run(&mut s, "i SEARCH CHARSET KOI8-R ALL").await.starts_with("i NO [BADCHARSET"), "RFC 9051: NO");
}

#[tokio::test]
async fn expunge_close_copy_move_append() {
    let h = Harness::new().await;
    for _ in 0..3 {
        h.deliver(SIMPLE).await;
    }
    let mut s = h.signed_in().await;
    run(&mut s, "s SELECT INBOX").await;
    run(&mut s, "a STORE 1,3 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(run(&mut s, "b EXPUNGE").await, "* 3 EXPUNGE\r\n* 1 EXPUNGE\r\nb OK EXPUNGE completed\r\n");
    let copy = run(&mut s, "c COPY 1 Archive").await;
    assert!(copy.starts_with("c OK [COPYUID ") && copy.contains(" 2 1]"), "{copy}");
    assert!(run(&mut s, "d COPY 1 Nowhere").await.starts_with("d NO [TRYCREATE]"));
    let moved = run(&mut s, "e UID MOVE 2 Trash").await;
    assert!(moved.starts_with("* OK [COPYUID ") && moved.contains("* 1 EXPUNGE\r\ne OK MOVE completed"), "{moved}");
    let appended = run_raw(
        &mut s,
        b"f APPEND INBOX (\\Seen) \" 5-Nov-2024 10:00:00 +0100\" {20}\r\nSubject: x\r\n\r\nbody\r\n\r\n",
    )
    .await;
    assert!(appended.contains("* 1 EXISTS") && appended.contains("f OK [APPENDUID "), "{appended}");
    let date = run(&mut s, "g FETCH 1 INTERNALDATE").await;
    assert!(date.contains("\"05-Nov-2024 10:00:00 +0100\""), "the zone APPEND gave: {date}");
    assert!(run_raw(&mut s, b"h APPEND Nowhere {3}\r\nx\r\n\r\n").await.starts_with("h NO [TRYCREATE]"));
    run(&mut s, "i STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    assert!(run(&mut s, "j CLOSE").await.starts_with("j OK"));
    let status = run(&mut s, "k STATUS INBOX (MESSAGES)").await;
    assert!(status.contains("(MESSAGES 0)"), "CLOSE expunged: {status}");
}

#[tokio::test]
async fn append_over_quota_is_refused() {
    let h = Harness::new().await;
    let mut s = h.signed_in().await;
    let big = "x".repeat(600_000);
    let mut cmd = format!("a APPEND INBOX {{{}}}\r\n", big.len() + 14).into_bytes();
    cmd.extend_from_slice(b"Subject: b\r\n\r\n");
    cmd.extend_from_slice(big.as_bytes());
    cmd.extend_from_slice(b"\r\n");
    for _ in 0..25 {
        let out = run_raw(&mut s, &cmd).await;
        if out.starts_with("a NO [OVERQUOTA]") {
            return;
        }
        assert!(out.starts_with("a OK"), "{out}");
    }
    panic!("the 10 MB quota was never reached");
}

/// SEARCHRES (RFC 5182): RETURN (SAVE) keeps the result for `$`, answers
/// nothing else when alone, keeps MIN/MAX only when asked for those alone,
/// and is forgotten on a new SELECT. Unknown return options are BAD.
#[tokio::test]
async fn searchres_saves_results_for_dollar() {
    let h = Harness::new().await;
    for subject in ["alpha", "beta", "alpha again", "gamma"] {
        h.deliver(&format!("From: a@far.test\nSubject: {subject}\n\nbody\n")).await;
    }
    let mut s = h.signed_in().await;
    run(&mut s, "s SELECT INBOX").await;
    assert_eq!(run(&mut s, "a SEARCH RETURN (SAVE) SUBJECT alpha").await, "a OK SEARCH completed\r\n");
    assert!(run(&mut s, "b FETCH $ (UID)").await.starts_with("* 1 FETCH (UID 1)\r\n* 3 FETCH (UID 3)\r\nb OK"));
    assert!(run(&mut s, "c UID SEARCH $").await.starts_with("* SEARCH 1 3\r\n"));
    assert!(run(&mut s, "d SEARCH NOT $").await.starts_with("* SEARCH 2 4\r\n"));
    assert!(run(&mut s, "e STORE $ +FLAGS.SILENT (\\Flagged)").await.starts_with("e OK"));
    assert!(run(&mut s, "f SEARCH FLAGGED").await.starts_with("* SEARCH 1 3\r\n"));
    let out = run(&mut s, "g SEARCH RETURN (SAVE MAX) ALL").await;
    assert!(out.starts_with("* ESEARCH (TAG \"g\") MAX 4\r\n"), "{out}");
    assert!(run(&mut s, "h SEARCH $").await.starts_with("* SEARCH 4\r\n"), "MAX alone saves the maximum");
    assert!(run(&mut s, "i SEARCH RETURN (SAVE COUNT) ALL").await.starts_with("* ESEARCH (TAG \"i\") COUNT 4"));
    assert!(run(&mut s, "j SEARCH $").await.starts_with("* SEARCH 1 2 3 4\r\n"));
    assert!(run(&mut s, "k SEARCH RETURN (FROBNICATE) ALL").await.starts_with("k BAD"));
    run(&mut s, "s SELECT INBOX").await;
    assert!(run(&mut s, "l SEARCH $").await.starts_with("* SEARCH\r\n"), "a new SELECT empties $");
}

/// SENTON/SENTBEFORE/SENTSINCE use the Date: header's own day, whatever its
/// zone (RFC 9051 §6.4.4): 23:30 -0500 is the 1st, though UTC says the 2nd.
#[tokio::test]
async fn sent_dates_use_the_header_day_not_utc() {
    let h = Harness::new().await;
    h.deliver("From: a@far.test\nDate: Wed, 1 Jul 2026 23:30:00 -0500\nSubject: late\n\nx\n").await;
    h.deliver("From: a@far.test\nDate: Thu, 2 Jul 2026 00:30:00 +0300\nSubject: early\n\nx\n").await;
    let mut s = h.signed_in().await;
    run(&mut s, "s SELECT INBOX").await;
    assert!(run(&mut s, "a SEARCH SENTON 1-Jul-2026").await.starts_with("* SEARCH 1\r\n"));
    assert!(run(&mut s, "b SEARCH SENTON 2-Jul-2026").await.starts_with("* SEARCH 2\r\n"));
    assert!(run(&mut s, "c SEARCH SENTBEFORE 2-Jul-2026").await.starts_with("* SEARCH 1\r\n"));
    assert!(run(&mut s, "d SEARCH SENTSINCE 2-Jul-2026").await.starts_with("* SEARCH 2\r\n"));
}

/// RFC 9051 §6.3.12 and §6.4.4: APPEND's date keeps its zone; INTERNALDATE
/// shows it, and BEFORE/ON/SINCE compare that zone's calendar day.
#[tokio::test]
async fn internal_date_keeps_its_zone() {
    let h = Harness::new().await;
    let mut s = h.signed_in().await;
    let msg = "From: a@far.test\r\nSubject: zoned\r\n\r\nx\r\n";
    let cmd = format!("a APPEND INBOX \"01-Jul-2026 23:30:00 -0500\" {{{}}}\r\n{msg}\r\n", msg.len());
    assert!(run_raw(&mut s, cmd.as_bytes()).await.contains("a OK"));
    run(&mut s, "s SELECT INBOX").await;
    let out = run(&mut s, "f FETCH 1 INTERNALDATE").await;
    assert!(out.contains("INTERNALDATE \"01-Jul-2026 23:30:00 -0500\""), "{out}");
    assert!(run(&mut s, "b SEARCH ON 1-Jul-2026").await.starts_with("* SEARCH 1\r\n"), "the 2nd in UTC");
    assert!(run(&mut s, "c SEARCH SINCE 2-Jul-2026").await.starts_with("* SEARCH\r\n"));
    assert!(run(&mut s, "d SEARCH BEFORE 2-Jul-2026").await.starts_with("* SEARCH 1\r\n"));
}

/// RFC 6855 §4: with UTF8=ACCEPT on, APPEND takes `UTF8 (literal8)`.
#[tokio::test]
async fn append_utf8_form_after_enable() {
    let h = Harness::new().await;
    let mut s = h.signed_in().await;
    let msg = "From: 李 <li@far.test>\r\nSubject: 报价\r\n\r\n您好\r\n";
    let cmd = format!("a APPEND INBOX UTF8 (~{{{}}}\r\n{msg})\r\n", msg.len());
    assert!(run_raw(&mut s, cmd.as_bytes()).await.starts_with("a BAD"), "not before ENABLE");
    run(&mut s, "e ENABLE UTF8=ACCEPT").await;
    assert!(run_raw(&mut s, cmd.as_bytes()).await.contains("a OK [APPENDUID"));
    run(&mut s, "s SELECT INBOX").await;
    assert!(run(&mut s, "f FETCH 1 BODY.PEEK[]").await.contains(msg));
}
