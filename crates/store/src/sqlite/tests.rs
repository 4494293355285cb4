use std::sync::Arc;

use super::SqliteStore;
use crate::conformance as suite;
use crate::{Directory, MailStore, Maintenance};

/// a@example.com, with its INBOX.
async fn user_a(s: &SqliteStore) -> crate::User {
    s.add_domain("example.com").await.expect("domain");
    s.add_user(crate::NewUser {
        address: suite::addr("a@example.com"),
        name: None,
        quota: None,
        password_hash: "$argon2id$test".into(),
    })
    .await
    .expect("user")
}

/// The UIDs a query selects.
fn uids(db: &rusqlite::Connection, sql: &str) -> Vec<i64> {
    let mut st = db.prepare(sql).expect("select");
    let rows = st.query_map([], |r| r.get(0)).expect("rows");
    rows.collect::<rusqlite::Result<_>>().expect("uids")
}

fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("open");
    (dir, store)
}

#[tokio::test]
async fn directory() {
    let (_d, s) = fresh();
    suite::directory(&s).await;
}

/// Larger than `INLINE_MAX`: stored in a blob file.
const LARGE: usize = 100_000;

#[tokio::test]
async fn delivery_shares_one_blob_and_counts() {
    for size in [2_000, LARGE] {
        let (_d, s) = fresh();
        suite::delivery_shares_one_blob_and_counts(&s, size).await;
    }
    let (_d, s) = fresh();
    suite::delivery_shares_one_blob_and_counts(&s, 2_000).await;
    assert!(s.blob_store().list().expect("list").is_empty(), "small messages live in the database");
    let (_d, s) = fresh();
    suite::delivery_shares_one_blob_and_counts(&s, LARGE).await;
    assert_eq!(s.blob_store().list().expect("list").len(), 1, "one file for two recipients");
}

#[tokio::test]
async fn leases_and_windowed_counts() {
    let (_d, s) = fresh();
    suite::leases_and_windowed_counts(&s).await;
}

#[tokio::test]
async fn filter_rules_and_generation() {
    let (_d, s) = fresh();
    suite::filter_rules_and_generation(&s).await;
}

#[tokio::test]
async fn spam_examples_per_scope() {
    let (_d, s) = fresh();
    suite::spam_examples_per_scope(&s).await;
}

#[tokio::test]
async fn spam_examples_forget_the_oldest() {
    let (_d, s) = fresh();
    suite::spam_examples_forget_the_oldest(&s).await;
}

#[tokio::test]
async fn correspondents_are_noted_per_account() {
    let (_d, s) = fresh();
    suite::correspondents_are_noted_per_account(&s).await;
}

#[tokio::test]
async fn greylist_triples() {
    let (_d, s) = fresh();
    suite::greylist_triples(&s).await;
}

#[tokio::test]
async fn junk_moves_are_queued_for_learning() {
    let (_d, s) = fresh();
    suite::junk_moves_are_queued_for_learning(&s).await;
}

#[tokio::test]
async fn header_search_follows_changes() {
    let (_d, s) = fresh();
    suite::header_search_follows_changes(&s).await;
}

#[tokio::test]
async fn by_uid_reads_give_exactly_the_uids_asked() {
    let (_d, s) = fresh();
    suite::by_uid_reads_give_exactly_the_uids_asked(&s).await;
}

#[tokio::test]
async fn deliver_all_is_all_or_nothing() {
    let (_d, s) = fresh();
    suite::deliver_all_is_all_or_nothing(&s).await;
}

#[tokio::test]
async fn urlauth_keys_are_kept_until_reset() {
    let (_d, s) = fresh();
    suite::urlauth_keys_are_kept_until_reset(&s).await;
}

#[tokio::test]
async fn recent_is_claimed_once() {
    let (_d, s) = fresh();
    suite::recent_is_claimed_once(&s).await;
}

#[tokio::test]
async fn failures_lock_the_account_for_longer_each_time() {
    let (_d, s) = fresh();
    suite::failures_lock_the_account_for_longer_each_time(&s).await;
}

#[tokio::test]
async fn second_factor_and_app_passwords() {
    let (_d, s) = fresh();
    suite::second_factor_and_app_passwords(&s).await;
}

#[tokio::test]
async fn web_sessions_expire_and_are_revoked() {
    let (_d, s) = fresh();
    suite::web_sessions_expire_and_are_revoked(&s).await;
}

#[tokio::test]
async fn dkim_keys_per_domain_and_selector() {
    let (_d, s) = fresh();
    suite::dkim_keys_per_domain_and_selector(&s).await;
}

#[tokio::test]
async fn quota_fails_only_that_recipient() {
    let (_d, s) = fresh();
    suite::quota_fails_only_that_recipient(&s).await;
}

#[tokio::test]
async fn flags_modseq_and_notifications() {
    let (_d, s) = fresh();
    suite::flags_modseq_and_notifications(&s).await;
}

#[tokio::test]
async fn expunge_frees_blobs() {
    let (_d, s) = fresh();
    suite::expunge_frees_blobs(&s, 500).await;
    let (_d, s) = fresh();
    let hash = suite::expunge_frees_blobs(&s, LARGE).await;
    assert!(!s.blob_store().path(&hash).exists(), "the file is unlinked");
}

#[tokio::test]
async fn check_reports_a_missing_blob_and_a_bad_counter() {
    let (dir, s) = fresh();
    suite::delivery_shares_one_blob_and_counts(&s, LARGE).await;
    let blob = s.blob_store().list().expect("list")[0].clone();
    std::fs::remove_file(s.blob_store().path(&blob)).expect("remove");
    let raw = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
    raw.execute("UPDATE accounts SET used = used + 7", []).expect("tamper");
    let report = s.check().await.expect("check");
    assert!(report.problems.iter().any(|p| p.contains("file unreadable")), "{:?}", report.problems);
    assert!(report.problems.iter().any(|p| p.contains("quota usage")), "{:?}", report.problems);
}

#[tokio::test]
async fn check_reports_an_orphan_blob_file() {
    let (_d, s) = fresh();
    let hash = s.blob_store().write(b"nobody refers to me").expect("write").hash;
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "a fresh file may be a delivery in progress: {:?}", report.problems);
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(s.blob_store().path(&hash))
        .expect("open")
        .set_modified(old)
        .expect("mtime");
    let report = s.check().await.expect("check");
    assert!(report.problems.iter().any(|p| p.contains("orphan")), "{:?}", report.problems);
}

#[tokio::test]
async fn reopening_keeps_everything_and_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = SqliteStore::open(dir.path()).expect("open");
        suite::delivery_shares_one_blob_and_counts(&s, LARGE).await;
    }
    let s = SqliteStore::open(dir.path()).expect("reopen");
    let report = s.check().await.expect("check");
    assert_eq!(report.messages, 2);
    let raw = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
    let v: i64 = raw.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
    assert_eq!(v as usize, super::SCHEMA_VERSION);
}

#[tokio::test]
async fn recover_removes_orphan_blob_files_only() {
    let (_d, s) = fresh();
    suite::delivery_shares_one_blob_and_counts(&s, LARGE).await;
    let orphan = s.blob_store().write(b"left by a crash").expect("write").hash;
    assert_eq!(s.recover().await.expect("recover"), 1);
    assert!(!s.blob_store().path(&orphan).exists());
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.messages, 2);
}

#[tokio::test]
async fn check_detects_a_corrupted_inline_blob() {
    let (dir, s) = fresh();
    suite::delivery_shares_one_blob_and_counts(&s, 2_000).await;
    let raw = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
    // A compressed row that no longer inflates.
    raw.execute("UPDATE blobs SET data = CAST('garbage' AS BLOB)", []).expect("tamper");
    let report = s.check().await.expect("check");
    assert!(report.problems.iter().any(|p| p.contains("stored data damaged")), "{:?}", report.problems);
    // A row kept as it is, of the wrong length.
    raw.execute("UPDATE blobs SET codec = 0", []).expect("tamper");
    let report = s.check().await.expect("check");
    assert!(report.problems.iter().any(|p| p.contains("7 bytes, 2010 expected")), "{:?}", report.problems);
}

/// A small body is kept compressed in its row (sqlite/inline.rs) and read
/// back byte for byte by every path; rows written before compression (codec
/// 0) still read.
#[tokio::test]
async fn small_bodies_are_kept_compressed() {
    let (dir, s) = fresh();
    suite::delivery_shares_one_blob_and_counts(&s, 2_000).await;
    let db = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
    let (hash, size, stored, codec): (String, i64, i64, i64) = db
        .query_row("SELECT hash, size, length(data), codec FROM blobs", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .expect("row");
    assert_eq!((size, codec), (2_010, super::inline::DEFLATE));
    assert!(stored < size / 2, "{stored} bytes stored for {size}");

    let account = s.get_user(&suite::addr("a@example.com")).await.expect("get").expect("a").id;
    let inbox = s.mailboxes(account).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("inbox");
    let original = s.read_blob(&hash).await.expect("blob");
    assert_eq!(original.len(), 2_010);
    assert_eq!(crate::blobs::BlobStore::hash(&original), hash);

    db.execute("UPDATE blobs SET data = ?1, codec = 0", [&original]).expect("as before migration 20");
    assert_eq!(s.read_blob(&hash).await.expect("blob"), original);
    assert_eq!(s.read_messages(inbox.id, &[1]).await.expect("read"), vec![(1, original)]);
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test]
async fn mail_log_records_and_finds_events() {
    let (_d, s) = fresh();
    suite::mail_log_records_and_finds_events(&s).await;
}

#[tokio::test]
async fn per_recipient_prefix_is_part_of_the_message() {
    let (_d, s) = fresh();
    suite::per_recipient_prefix_is_part_of_the_message(&s).await;
}

#[tokio::test]
async fn the_worker_takes_due_recipients_and_records_attempts() {
    let (_d, s) = fresh();
    suite::the_worker_takes_due_recipients_and_records_attempts(&s).await;
}

#[tokio::test]
async fn system_mail_reaches_accounts_aliases_and_the_queue() {
    let (_d, s) = fresh();
    suite::system_mail_reaches_accounts_aliases_and_the_queue(&s).await;
}

#[tokio::test]
async fn remote_recipients_are_queued_with_the_local_copies() {
    let (_d, s) = fresh();
    suite::remote_recipients_are_queued_with_the_local_copies(&s).await;
}

#[tokio::test]
async fn folders_rename_delete_copy_move() {
    let (_d, s) = fresh();
    suite::folders_rename_delete_copy_move(&s).await;
}

/// A store written by schema version 1 is brought up to date at open, and
/// the counters migration 3 adds are right.
#[tokio::test]
async fn upgrade_from_schema_version_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = SqliteStore::open(dir.path()).expect("open");
        suite::delivery_shares_one_blob_and_counts(&s, 2_000).await;
    }
    let raw = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
    // Bodies as version 1 kept them: as they are, without a codec.
    let rows: Vec<(String, Vec<u8>, i64, i64)> = raw
        .prepare("SELECT hash, data, codec, size FROM blobs WHERE data IS NOT NULL")
        .expect("select")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("rows")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    for (hash, data, codec, size) in rows {
        let body = super::inline::unpack(&hash, codec, data, size).expect("inflate");
        raw.execute("UPDATE blobs SET data = ?2 WHERE hash = ?1", rusqlite::params![hash, body]).expect("update");
    }
    raw.execute_batch(
        "ALTER TABLE blobs DROP COLUMN codec; ALTER TABLE mailboxes DROP COLUMN unseen; ALTER TABLE mailboxes DROP COLUMN deleted;
         ALTER TABLE messages DROP COLUMN s_subject; ALTER TABLE messages DROP COLUMN s_from;
         ALTER TABLE messages DROP COLUMN s_to; ALTER TABLE messages DROP COLUMN s_cc;
         ALTER TABLE messages DROP COLUMN s_bcc; DROP TRIGGER IF EXISTS subscribe_new_mailbox; DROP TABLE subscriptions;
         ALTER TABLE mailboxes DROP COLUMN recent_uid; ALTER TABLE messages DROP COLUMN internal_zone;
         DROP INDEX queue_due; ALTER TABLE queue DROP COLUMN notice_sent;
         DROP TABLE dkim_keys; DROP TABLE reset_tokens; DROP TABLE web_sessions; DROP TABLE app_passwords; DROP TABLE recovery_codes;
         ALTER TABLE accounts DROP COLUMN first_failure; ALTER TABLE accounts DROP COLUMN lock_count;
         ALTER TABLE accounts DROP COLUMN totp_secret; ALTER TABLE accounts DROP COLUMN totp_enabled;
         ALTER TABLE accounts DROP COLUMN totp_last_step; DROP TABLE serials; DROP TABLE urlauth_keys;
         DROP INDEX sort_keys_date; DROP TRIGGER sort_keys_gone; DROP TABLE sort_keys;
         DROP TABLE filter_rules; DROP TABLE filter_generation; DROP TABLE spam_scopes;
         DROP TABLE spam_learnt; DROP TABLE spam_learn_queue; DROP TABLE greylist; DROP TABLE quarantine;
         ALTER TABLE queue DROP COLUMN sign_as; DROP TABLE settings; DROP TABLE reply_log;
         ALTER TABLE accounts DROP COLUMN protocols_off; ALTER TABLE accounts DROP COLUMN phone;
         ALTER TABLE domains DROP COLUMN protocols_off; DROP INDEX mail_log_session;
         ALTER TABLE accounts DROP COLUMN role; DROP TABLE leases; DROP TABLE rate_events; DROP TABLE correspondents;
         DROP TABLE greylist_clients;
         PRAGMA user_version = 1;",
    )
    .expect("back to version 1");
    drop(raw);
    let s = SqliteStore::open(dir.path()).expect("upgrade");
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let raw = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
    let unseen: i64 = raw.query_row("SELECT sum(unseen) FROM mailboxes", [], |r| r.get(0)).expect("unseen");
    assert_eq!(unseen, 2, "both delivered copies counted as unseen");
    let (mailboxes, subscriptions): (i64, i64) = raw
        .query_row("SELECT (SELECT count(*) FROM mailboxes), (SELECT count(*) FROM subscriptions)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("counts");
    assert_eq!(subscriptions, mailboxes, "subscribed mailboxes keep their subscription (migration 5)");
    // Messages from before migration 4 have no search text: the first
    // SEARCH computes it.
    let inbox: i64 =
        raw.query_row("SELECT id FROM mailboxes WHERE name = 'INBOX' LIMIT 1", [], |r| r.get(0)).expect("inbox");
    assert_eq!(crate::MailStore::header_search(&s, inbox, "subject", "test").await.expect("search"), Some(vec![1]));
}

/// Issue 12: a structure stored before the depth limit (deeper than
/// serde_json reads back) made every FETCH of its mailbox fail. It is now
/// analyzed again from the message's bytes, its neighbours are unaffected,
/// and `store check` names it.
#[tokio::test]
async fn an_unreadable_stored_structure_is_rebuilt_and_reported() {
    use crate::mime::BodyPart;
    use crate::{Address, Directory, MailStore, MailboxTarget, NewUser, SpecialUse, Target};
    let (dir, s) = fresh();
    s.add_domain("example.com").await.expect("domain");
    let user = NewUser {
        address: Address::parse("a@example.com").expect("address"),
        name: None,
        quota: None,
        password_hash: "$argon2id$test".into(),
    };
    let a = s.add_user(user).await.expect("user");
    let deep =
        caravel_testkit::nested_message(caravel_testkit::Nesting::Multipart, 70, "x@remote.test", "a@example.com");
    for raw in [suite::message(1, 300), std::sync::Arc::new(deep), suite::message(2, 300)] {
        let mut target = Target::new(a.id, MailboxTarget::Special(SpecialUse::Inbox));
        target.prefix = b"Delivered-To: a@example.com\r\n".to_vec();
        s.deliver(suite::delivery(raw, vec![target])).await.expect("deliver");
    }
    let inbox = s.mailboxes(a.id).await.expect("mailboxes").into_iter().find(|m| m.name == "INBOX").expect("inbox");
    let healthy = s.structures(inbox.id, &[1, 2, 3]).await.expect("structures");

    // What the old code stored: the full 70 levels, which serde_json cannot read.
    let mut old = BodyPart { media_type: "text".into(), subtype: "plain".into(), ..Default::default() };
    for _ in 0..70 {
        old = BodyPart {
            media_type: "multipart".into(),
            subtype: "mixed".into(),
            parts: vec![old],
            ..Default::default()
        };
    }
    let old_json = serde_json::to_string(&old).expect("json");
    assert!(serde_json::from_str::<BodyPart>(&old_json).is_err(), "deeper than serde_json reads");
    let db = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
    db.execute("UPDATE messages SET structure = ?1 WHERE uid = 2", [&old_json]).expect("tamper");

    let rebuilt = s.structures(inbox.id, &[1, 2, 3]).await.expect("one message does not fail the range");
    assert_eq!(rebuilt, healthy, "the same structure as analyzed at delivery, prefix included");
    assert_eq!(s.structure(inbox.id, 2).await.expect("structure").1, healthy[&2].1);
    let report = s.check().await.expect("check");
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].contains("UID 2 in mailbox INBOX of a@example.com"), "{:?}", report.problems);

    // Worse damage: structure and bytes both unreadable. That one message is
    // left out; the range is still answered.
    db.execute("UPDATE messages SET structure = 'garbage' WHERE uid = 3", []).expect("tamper");
    db.execute("UPDATE blobs SET data = NULL WHERE hash = (SELECT blob FROM messages WHERE uid = 3)", [])
        .expect("tamper");
    let left = s.structures(inbox.id, &[1, 2, 3]).await.expect("the range is answered");
    let mut uids: Vec<u32> = left.keys().copied().collect();
    uids.sort();
    assert_eq!(uids, vec![1, 2]);
}

/// Reads run at most MAX_CONCURRENT_READS at once, however many are asked
/// for together (each holds a connection and a blocking thread).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reads_are_bounded() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (_d, s) = fresh();
    let s = Arc::new(s);
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (s, now, peak) = (s.clone(), now.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            s.read(move |c| {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(5));
                let one: i64 = c.query_row("SELECT 1", [], |r| r.get(0))?;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(one)
            })
            .await
            .expect("read")
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), 1);
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=super::MAX_CONCURRENT_READS).contains(&peak), "peak {peak}");
}

#[tokio::test]
async fn sort_follows_the_stored_keys() {
    let (_d, s) = fresh();
    suite::sort_follows_the_stored_keys(&s).await;
}

/// Messages stored before the keys existed (the table emptied behind the
/// store's back, as migration 18 leaves old mail) get them at the first
/// SORT or THREAD, from the stored envelope and the message's header; one
/// in a blob file too.
#[tokio::test]
async fn missing_sort_keys_are_computed_once() {
    use crate::sort_keys::{SortCriterion, SortKey};
    let (d, s) = fresh();
    let user = user_a(&s).await;
    let target = || crate::Target::new(user.id, crate::MailboxTarget::Special(crate::SpecialUse::Inbox));
    for (n, subject, pad) in [(1, "zebra", 10), (2, "Re: apple", LARGE), (3, "mango", 10)] {
        let raw = format!(
            "Subject: {subject}\r\nMessage-ID: <{n}@x>\r\nReferences: <{}@x>\r\n\r\n{}\r\n",
            n - 1,
            "x".repeat(pad)
        );
        s.deliver(suite::delivery(Arc::new(raw.into_bytes()), vec![target()])).await.expect("deliver");
    }
    let inbox =
        s.mailboxes(user.id).await.expect("mailboxes").into_iter().find(|m| m.name == "INBOX").expect("inbox").id;
    let db = rusqlite::Connection::open(d.path().join("caravel.db")).expect("open");
    assert_eq!(db.execute("DELETE FROM sort_keys", []).expect("delete"), 3);
    let by_subject = [SortCriterion { key: SortKey::Subject, reverse: false }];
    assert_eq!(s.sorted_uids(inbox, &by_subject).await.expect("sort"), [2, 3, 1]);
    let keyed: i64 = db.query_row("SELECT count(*) FROM sort_keys", [], |r| r.get(0)).expect("count");
    assert_eq!(keyed, 3);
    let threads = s.thread_keys(inbox).await.expect("thread keys");
    assert_eq!(threads[1].1.references, ["<1@x>"]);
    assert_eq!(threads[1].1.message_id.as_deref(), Some("<2@x>"));
    // Keys of two messages missing, and stale keys of a message that is
    // gone: the others are kept, the missing computed, the stale dropped.
    db.execute("DELETE FROM sort_keys WHERE uid IN (2, 3)", []).expect("delete");
    db.execute("INSERT INTO sort_keys SELECT mailbox_id, 9, arrival, size, date, subject, reply, from_addr, to_addr, cc_addr, from_display, to_display, message_id, refs FROM sort_keys WHERE uid = 1", []).expect("stale");
    assert_eq!(s.sorted_uids(inbox, &by_subject).await.expect("sort"), [2, 3, 1]);
    assert_eq!(uids(&db, "SELECT uid FROM sort_keys ORDER BY uid"), [1, 2, 3]);
}

/// `store compact` compresses bodies kept as they came (by versions before
/// migration 20), leaves damaged rows for `store check`, and with a vacuum
/// gives the space back.
#[tokio::test]
async fn compact_compresses_bodies_stored_uncompressed() {
    let (dir, s) = fresh();
    let user = user_a(&s).await;
    let target = || crate::Target::new(user.id, crate::MailboxTarget::Special(crate::SpecialUse::Inbox));
    let mut originals = Vec::new();
    for n in 1..=300 {
        let raw = suite::message(n, 3_000);
        s.deliver(suite::delivery(raw.clone(), vec![target()])).await.expect("deliver");
        originals.push((n as u32, (*raw).clone()));
    }
    let inbox =
        s.mailboxes(user.id).await.expect("mailboxes").into_iter().find(|m| m.name == "INBOX").expect("inbox").id;
    let db = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
    // As an older version left them: as they came. One of them damaged.
    for (uid, raw) in &originals {
        db.execute(
            "UPDATE blobs SET data = ?2, codec = 0 WHERE hash = (SELECT blob FROM messages WHERE uid = ?1)",
            rusqlite::params![uid, raw],
        )
        .expect("uncompress");
    }
    db.execute(
        "UPDATE blobs SET data = zeroblob(length(data)) WHERE hash = (SELECT blob FROM messages WHERE uid = 7)",
        [],
    )
    .expect("damage");

    let report = s.compact(false).await.expect("compact");
    assert_eq!(report.bodies, 299, "{report:?}");
    assert!(report.stored_after * 2 < report.stored_before, "{report:?}");
    let damaged: (i64, i64) = db
        .query_row(
            "SELECT codec, length(data) FROM blobs WHERE hash = (SELECT blob FROM messages WHERE uid = 7)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!(damaged, (0, originals[6].1.len() as i64), "left as it was");
    let uids: Vec<u32> = originals.iter().map(|(uid, _)| *uid).filter(|uid| *uid != 7).collect();
    let read = s.read_messages(inbox, &uids).await.expect("read");
    let expected: Vec<(u32, Vec<u8>)> = originals.iter().filter(|(uid, _)| *uid != 7).cloned().collect();
    assert_eq!(read, expected);
    let problems = s.check().await.expect("check").problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("does not match its hash"), "{problems:?}");

    let again = s.compact(true).await.expect("compact and vacuum");
    assert_eq!(again.bodies, 0);
    assert!(again.file_after < report.file_before, "{again:?} after {report:?}");
}

/// Messages without their decoded header text (stored before migration 4,
/// or forgotten by migration 17) get it at the first SEARCH that needs it,
/// which is then answered from it; a message whose bytes cannot be read
/// leaves SEARCH to the envelopes (None).
#[tokio::test]
async fn missing_header_text_is_computed_at_the_first_search() {
    let (dir, s) = fresh();
    let user = user_a(&s).await;
    let target = || crate::Target::new(user.id, crate::MailboxTarget::Special(crate::SpecialUse::Inbox));
    for n in 1..=5 {
        s.deliver(suite::delivery(suite::message(n, 500), vec![target()])).await.expect("deliver");
    }
    let inbox =
        s.mailboxes(user.id).await.expect("mailboxes").into_iter().find(|m| m.name == "INBOX").expect("inbox").id;
    let db = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
    let forget = "UPDATE messages SET s_subject = NULL, s_from = NULL, s_to = NULL, s_cc = NULL, s_bcc = NULL";
    db.execute(forget, []).expect("as migration 17 left them");
    assert_eq!(s.header_search(inbox, "subject", "TEST 3").await.expect("search"), Some(vec![3]));
    let missing: i64 =
        db.query_row("SELECT count(*) FROM messages WHERE s_subject IS NULL", [], |r| r.get(0)).expect("count");
    assert_eq!(missing, 0);
    assert_eq!(s.header_search(inbox, "from", "sender@remote").await.expect("search"), Some(vec![1, 2, 3, 4, 5]));

    // A new session's cache is empty; one message cannot be read.
    let s2 = SqliteStore::open(dir.path()).expect("reopen");
    db.execute(&format!("{forget} WHERE uid IN (2, 4)"), []).expect("forget two");
    db.execute("UPDATE blobs SET data = zeroblob(10) WHERE hash = (SELECT blob FROM messages WHERE uid = 4)", [])
        .expect("damage");
    assert_eq!(s2.header_search(inbox, "subject", "TEST 2").await.expect("search"), None);
    assert_eq!(uids(&db, "SELECT uid FROM messages WHERE s_subject IS NULL"), [4], "the readable one was filled");
}

/// Every connection plans a statement once, whatever is bound to it (a
/// FETCH range was compiled again at each run without it).
#[tokio::test]
async fn connections_keep_their_query_plans() {
    let (_d, s) = fresh();
    let qpsg =
        s.read(|c| Ok(c.db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG)?)).await.expect("read");
    assert!(qpsg);
}

/// Envelopes are stored in their binary form; the JSON older versions wrote
/// still reads, in FETCH and in `store check`.
#[tokio::test]
async fn envelopes_stored_as_json_still_read() {
    let (dir, s) = fresh();
    suite::delivery_shares_one_blob_and_counts(&s, 2_000).await;
    let account = s.get_user(&suite::addr("a@example.com")).await.expect("get").expect("a").id;
    let inbox = s.mailboxes(account).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("inbox");
    let db = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
    let kind: String = db.query_row("SELECT typeof(envelope) FROM messages LIMIT 1", [], |r| r.get(0)).expect("type");
    assert_eq!(kind, "blob");
    let (env, _) = s.structure(inbox.id, 1).await.expect("structure");
    assert_eq!(env.subject.as_deref(), Some("test 1"));
    let json = serde_json::to_string(&env).expect("json");
    db.execute("UPDATE messages SET envelope = ?1", [&json]).expect("as older versions wrote it");
    assert_eq!(s.structure(inbox.id, 1).await.expect("structure").0, env);
    assert_eq!(s.envelopes_of(inbox.id, &[1]).await.expect("envelopes")[&1], env);
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// Two processes opening a new store at once (the server starting while an
/// admin command runs) both bring it up to date without taking a step twice.
#[test]
fn concurrent_opens_migrate_once() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().expect("tempdir");
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || SqliteStore::open(&path).map(|_| ()))
            })
            .collect();
        for o in openers {
            o.join().expect("thread").expect("open");
        }
    }
}

#[tokio::test]
async fn quarantine_holds_lists_releases_and_expires() {
    let (_d, s) = fresh();
    suite::quarantine_holds_lists_releases_and_expires(&s).await;
}

#[tokio::test]
async fn settings_per_scope_and_reply_once() {
    let (_d, s) = fresh();
    suite::settings_per_scope_and_reply_once(&s).await;
}

#[tokio::test]
async fn protocol_switches_and_phone() {
    let (_d, s) = fresh();
    suite::protocol_switches_and_phone(&s).await;
}

/// Migrations 37 and 38: text is read in NFKC, and unlabelled 8-bit text
/// in its charset, so examples learnt before (features, not messages) mean
/// something else and are forgotten, from either version.
#[tokio::test]
async fn examples_learnt_before_nfkc_are_forgotten() {
    for from in [36, 37] {
        examples_are_forgotten_from(from).await;
    }
}

async fn examples_are_forgotten_from(version: u32) {
    use crate::filter_data::{FilterData, Learn};
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = SqliteStore::open(dir.path()).expect("open");
        let learn = |digest: &str, spam: bool| Learn { digest: digest.into(), spam, features: vec![1, 2, 3] };
        s.spam_learn(0, vec![learn("m1", true), learn("m2", false)]).await.expect("learn");
        assert_eq!(s.spam_examples(0).await.expect("examples").examples.len(), 2);
    }
    let raw = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
    raw.execute_batch(&format!("PRAGMA user_version = {version};")).expect("back to an older version");
    drop(raw);
    let s = SqliteStore::open(dir.path()).expect("upgrade");
    let after = s.spam_examples(0).await.expect("examples");
    assert!(after.examples.is_empty() && after.spam_messages == 0 && after.ham_messages == 0, "forgotten");
}
