//! The conformance suite (crate::conformance) on a real PostgreSQL server
//! the tests start themselves (caravel_testkit::postgres), one fresh
//! database per test.

use super::PgStore;
use crate::conformance as suite;

async fn fresh() -> PgStore {
    let url = caravel_testkit::postgres::fresh_database();
    PgStore::connect(&url).await.expect("connect to the test database")
}

/// One test per suite function, each on its own database.
macro_rules! on_postgres {
    ($($name:ident $(($($arg:expr),*))?;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let s = fresh().await;
                let _ = suite::$name(&s $($(, $arg)*)?).await;
            }
        )*
        /// The names run here, for the test that every suite function is.
        const RUN: &[&str] = &[$(stringify!($name)),*];
    };
}

on_postgres! {
    directory;
    delivery_shares_one_blob_and_counts(100_000);
    quota_fails_only_that_recipient;
    flags_modseq_and_notifications;
    expunge_frees_blobs(100_000);
    header_search_follows_changes;
    by_uid_reads_give_exactly_the_uids_asked;
    deliver_all_is_all_or_nothing;
    urlauth_keys_are_kept_until_reset;
    recent_is_claimed_once;
    failures_lock_the_account_for_longer_each_time;
    second_factor_and_app_passwords;
    web_sessions_expire_and_are_revoked;
    dkim_keys_per_domain_and_selector;
    mail_log_records_and_finds_events;
    per_recipient_prefix_is_part_of_the_message;
    remote_recipients_are_queued_with_the_local_copies;
    the_worker_takes_due_recipients_and_records_attempts;
    system_mail_reaches_accounts_aliases_and_the_queue;
    folders_rename_delete_copy_move;
    sort_follows_the_stored_keys;
    filter_rules_and_generation;
    spam_counts_per_scope;
    junk_moves_are_queued_for_learning;
    greylist_triples;
    quarantine_holds_lists_releases_and_expires;
    settings_per_scope_and_reply_once;
    protocol_switches_and_phone;
}

/// Every public function of the suite runs here and on SQLite: a function
/// added to the suite and forgotten here fails this test.
#[test]
fn every_suite_function_runs_on_both_backends() {
    let suite_src = include_str!("../conformance.rs");
    let sqlite_src = include_str!("../sqlite/tests.rs");
    for line in suite_src.lines() {
        let Some(rest) = line.strip_prefix("pub async fn ") else { continue };
        let name = rest.split('(').next().unwrap_or_default();
        assert!(RUN.contains(&name), "conformance::{name} does not run on PostgreSQL");
        assert!(sqlite_src.contains(&format!("suite::{name}(")), "conformance::{name} does not run on SQLite");
    }
}

/// Two nodes (two stores on one database) deliver into one INBOX at once,
/// while sessions on both claim \Recent: every UID is given once and they
/// follow each other, the counters add up exactly, each message is recent
/// for one claim only, and a watcher on one node hears of the other node's
/// deliveries (NOTIFY) within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_into_one_inbox_at_once() {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::*;

    let url = caravel_testkit::postgres::fresh_database();
    let a = Arc::new(PgStore::connect(&url).await.expect("node a"));
    let b = Arc::new(PgStore::connect(&url).await.expect("node b"));
    a.add_domain("example.com").await.expect("domain");
    let new_user =
        NewUser { address: suite::addr("u@example.com"), name: None, quota: None, password_hash: "$argon2id$t".into() };
    let user = a.add_user(new_user).await.expect("user");
    let inbox = b.mailboxes(user.id).await.expect("mailboxes").into_iter().find(|m| m.name == "INBOX").expect("INBOX");
    let target = move || Target::new(user.id, MailboxTarget::Special(SpecialUse::Inbox));

    // Node b listens for the other nodes on a connection of its own, set up
    // in the background: wait until it hears node a at all.
    let mut account_watch = b.watch_account(user.id);
    for i in 0.. {
        a.create_mailbox(user.id, &format!("probe {i}")).await.expect("create");
        if tokio::time::timeout(Duration::from_millis(200), account_watch.recv()).await.is_ok() {
            break;
        }
        assert!(i < 50, "node b never heard of node a");
    }
    let mut watch = b.watch(inbox.id);
    let first = a.deliver(suite::delivery(suite::message(0, 300), vec![target()])).await.expect("deliver").stored;
    let first = first.into_iter().next().expect("one target").expect("stored");
    let heard = tokio::time::timeout(Duration::from_secs(1), watch.recv()).await.expect("within a second");
    assert_eq!(heard.expect("a change"), MailboxChange::Appended { uid: first.uid, modseq: first.modseq });

    // 50 deliveries from each node, and claims of \Recent from both, at once.
    let mut deliveries = tokio::task::JoinSet::new();
    let mut claims = tokio::task::JoinSet::new();
    for n in 1..=100usize {
        let node = if n % 2 == 0 { a.clone() } else { b.clone() };
        deliveries.spawn(async move {
            let d = suite::delivery(suite::message(n, 200 + 10 * n), vec![target()]);
            node.deliver(d).await.expect("deliver").stored.remove(0).expect("stored")
        });
        if n % 5 == 0 {
            let node = if n % 10 == 0 { a.clone() } else { b.clone() };
            claims.spawn(async move { node.claim_recent(inbox.id).await.expect("claim") });
        }
    }
    let mut stored = Vec::new();
    while let Some(s) = deliveries.join_next().await {
        stored.push(s.expect("delivery task"));
    }
    let mut uids: Vec<u32> = stored.iter().map(|s| s.uid).collect();
    uids.sort_unstable();
    assert_eq!(uids, (2..=101).collect::<Vec<u32>>(), "each UID once, none skipped");

    let metas = a.messages(inbox.id).await.expect("messages");
    let mut modseqs: Vec<u64> = metas.iter().map(|m| m.modseq).collect();
    modseqs.sort_unstable();
    modseqs.dedup();
    assert_eq!(modseqs.len(), 101, "each message its own MODSEQ");
    let total: u64 = metas.iter().map(|m| m.size).sum();
    let mb = b.mailbox(inbox.id).await.expect("mailbox").expect("INBOX");
    assert_eq!((mb.messages, mb.uidnext, mb.unseen, mb.size), (101, 102, 101, total));
    assert!(mb.highestmodseq >= modseqs[100]);
    let used = b.get_user(&suite::addr("u@example.com")).await.expect("get").expect("user").used;
    assert_eq!(used, total, "the quota counts every message once");

    // The claims and a last one cover UIDs 1..102, each UID once.
    let mut ranges = Vec::new();
    while let Some(r) = claims.join_next().await {
        ranges.push(r.expect("claim task"));
    }
    ranges.push(a.claim_recent(inbox.id).await.expect("last claim"));
    ranges.retain(|(first, next)| first < next);
    ranges.sort_unstable();
    assert_eq!(ranges.first().map(|r| r.0), Some(1));
    assert!(ranges.windows(2).all(|w| w[0].1 == w[1].0), "disjoint and contiguous: {ranges:?}");
    assert_eq!(ranges.last().map(|r| r.1), Some(102));

    // Node b's watcher heard of every delivery, its own and node a's.
    let mut heard: Vec<u32> = Vec::new();
    while heard.len() < 100 {
        match tokio::time::timeout(Duration::from_secs(5), watch.recv()).await.expect("changes keep coming") {
            Ok(MailboxChange::Appended { uid, .. }) => heard.push(uid),
            other => panic!("{other:?}"),
        }
    }
    heard.sort_unstable();
    assert_eq!(heard, uids);

    // Each node's header cache follows the other node's changes.
    let search = |node: Arc<PgStore>| async move {
        node.header_search(inbox.id, "subject", "TEST").await.expect("search").expect("answered")
    };
    assert_eq!(search(b.clone()).await, (1..=101).collect::<Vec<u32>>());
    assert_eq!(a.expunge(inbox.id, &[5, 50]).await.expect("expunge"), [5, 50]);
    a.deliver(suite::delivery(suite::message(102, 300), vec![target()])).await.expect("deliver");
    let expected: Vec<u32> = (1..=102).filter(|u| ![5, 50].contains(u)).collect();
    assert_eq!(search(b.clone()).await, expected);
    assert_eq!(search(a.clone()).await, expected);
}
