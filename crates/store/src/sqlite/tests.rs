use super::SqliteStore;
use crate::conformance as suite;
use crate::Maintenance;

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

#[tokio::test]
async fn delivery_shares_one_blob_and_counts() {
    let (_d, s) = fresh();
    suite::delivery_shares_one_blob_and_counts(&s).await;
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
    let blobs = s.blob_store().clone();
    suite::expunge_frees_blobs(&s, &|h| blobs.path(h).exists()).await;
}

#[tokio::test]
async fn check_reports_a_missing_blob_and_a_bad_counter() {
    let (dir, s) = fresh();
    suite::delivery_shares_one_blob_and_counts(&s).await;
    let blob = s.blob_store().list().expect("list")[0].clone();
    std::fs::remove_file(s.blob_store().path(&blob)).expect("remove");
    let raw = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
    raw.execute("UPDATE accounts SET used = used + 7", [])
        .expect("tamper");
    let report = s.check().await.expect("check");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("file unreadable")),
        "{:?}",
        report.problems
    );
    assert!(
        report.problems.iter().any(|p| p.contains("quota usage")),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn check_reports_an_orphan_blob_file() {
    let (_d, s) = fresh();
    s.blob_store().write(b"nobody refers to me").expect("write");
    let report = s.check().await.expect("check");
    assert!(
        report.problems.iter().any(|p| p.contains("orphan")),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn reopening_keeps_everything_and_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = SqliteStore::open(dir.path()).expect("open");
        suite::delivery_shares_one_blob_and_counts(&s).await;
    }
    let s = SqliteStore::open(dir.path()).expect("reopen");
    let report = s.check().await.expect("check");
    assert_eq!(report.messages, 2);
    let raw = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
    let v: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(v as usize, super::SCHEMA_VERSION);
}
