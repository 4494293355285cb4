//! CONDSTORE and QRESYNC (RFC 7162): quick resynchronisation for phones.

mod common;

use common::*;

fn number_after(text: &str, key: &str) -> u64 {
    text.split(key)
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .expect(key)
}

#[tokio::test]
async fn select_qresync_reports_what_changed_since() {
    let h = Harness::new().await;
    for _ in 0..5 {
        h.deliver(SIMPLE).await;
    }
    let mut s = h.signed_in().await;
    assert!(run(&mut s, "a SELECT INBOX (QRESYNC (1 1))").await.starts_with("a BAD"), "needs ENABLE first");
    assert!(run(&mut s, "e ENABLE QRESYNC").await.starts_with("* ENABLED QRESYNC"));
    let sel = run(&mut s, "s SELECT INBOX").await;
    let uidvalidity = number_after(&sel, "UIDVALIDITY ");
    let modseq = number_after(&sel, "HIGHESTMODSEQ ");
    // Another session changes flags and expunges meanwhile.
    let mut other = h.signed_in().await;
    run(&mut other, "o SELECT INBOX").await;
    run(&mut other, "o STORE 2 +FLAGS.SILENT (\\Flagged)").await;
    run(&mut other, "o STORE 4,5 +FLAGS.SILENT (\\Deleted)").await;
    run(&mut other, "o EXPUNGE").await;
    // Our session hears VANISHED, not EXPUNGE.
    let noop = run(&mut s, "n NOOP").await;
    assert!(noop.contains("* VANISHED 4:5") && !noop.contains("EXPUNGE"), "{noop}");
    run(&mut s, "c CLOSE").await;
    let resync = run(&mut s, &format!("q SELECT INBOX (QRESYNC ({uidvalidity} {modseq}))")).await;
    assert!(resync.contains("* VANISHED (EARLIER) 4:5"), "{resync}");
    assert!(resync.contains("FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("), "{resync}");
    assert!(!resync.contains("UID 1 FLAGS"), "unchanged messages are not sent: {resync}");
    let limited = run(&mut s, &format!("r SELECT INBOX (QRESYNC ({uidvalidity} {modseq} 1:4))")).await;
    assert!(limited.contains("* VANISHED (EARLIER) 4\r\n"), "only known UIDs: {limited}");
    let stale = run(&mut s, &format!("t SELECT INBOX (QRESYNC ({} {modseq}))", uidvalidity + 1)).await;
    assert!(!stale.contains("VANISHED"), "another UIDVALIDITY: full resync, nothing incremental");
    let fetch = run(&mut s, &format!("f UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)")).await;
    assert!(fetch.starts_with("* VANISHED (EARLIER) 4:5\r\n") && fetch.contains("UID 2"), "{fetch}");
    assert!(run(&mut s, "g FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)").await.starts_with("g BAD"), "UID FETCH only");
}
