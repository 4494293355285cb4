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
    spam_examples_per_scope;
    spam_examples_forget_the_oldest;
    junk_moves_are_queued_for_learning;
    greylist_triples;
    correspondents_are_noted_per_account;
    quarantine_holds_lists_releases_and_expires;
    settings_per_scope_and_reply_once;
    protocol_switches_and_phone;
    leases_and_windowed_counts;
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

/// `caravel store migrate`: an embedded store with mail (bodies in rows and
/// in files), flags, a queue and sign-in state, copied into PostgreSQL,
/// reads the same through the traits, keeps its UIDs, and goes on from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_store_migrates_with_its_uids_and_verifies() {
    use crate::{Directory, FlagMode, Flags, MailStore, MailboxTarget, Security, SpecialUse, Target};
    let dir = tempfile::tempdir().expect("tempdir");
    let (user, inbox, before) = {
        let s = crate::sqlite::SqliteStore::open(dir.path()).expect("sqlite");
        s.add_domain("example.com").await.expect("domain");
        let user = s
            .add_user(crate::NewUser {
                address: suite::addr("a@example.com"),
                name: Some("A".into()),
                quota: None,
                password_hash: "$argon2id$test".into(),
            })
            .await
            .expect("user");
        s.add_app_password(user.id, "phone", "hash-of-phone").await.expect("app password");
        let target = || Target::new(user.id, MailboxTarget::Special(SpecialUse::Inbox));
        for (n, size) in [(1, 500), (2, 100_000), (3, 2_000)] {
            let mut d = suite::delivery(suite::message(n, size), vec![target()]);
            if n == 3 {
                d.remote = vec![crate::RemoteRecipient { address: "far@remote.test".into(), ..Default::default() }];
            }
            s.deliver(d).await.expect("deliver");
        }
        let inbox =
            s.mailboxes(user.id).await.expect("mailboxes").into_iter().find(|m| m.name == "INBOX").expect("INBOX");
        s.set_flags(inbox.id, &[2], Flags::SEEN, &["$Important".into()], FlagMode::Add).await.expect("flags");
        s.expunge(inbox.id, &[1]).await.expect("expunge");
        let inbox = s.mailbox(inbox.id).await.expect("mailbox").expect("INBOX");
        let mut before = Vec::new();
        for m in s.messages(inbox.id).await.expect("messages") {
            before.push((m.uid, m.flags, m.keywords.clone(), s.read_message(&m).await.expect("read")));
        }
        // As a store from before SORT keys and search text were kept.
        let raw = rusqlite::Connection::open(dir.path().join("caravel.db")).expect("db");
        raw.execute_batch("DELETE FROM sort_keys; UPDATE messages SET s_subject = NULL, s_from = NULL;").expect("age");
        (user, inbox, before)
    };
    let url = caravel_testkit::postgres::fresh_database();
    let mut steps = 0;
    let report = super::import::copy_from_sqlite(dir.path(), &url, &mut |_| steps += 1).await.expect("migrate");
    assert!(report.verified(), "{:?}", report.checks);
    assert!(steps > 0, "progress was reported");
    assert!(report.checks.len() > super::import::TABLES.len(), "counts and checksums were compared");
    let pg = PgStore::connect(&url).await.expect("connect");
    let moved = pg.get_user(&suite::addr("a@example.com")).await.expect("get").expect("user");
    assert_eq!((moved.id, moved.password_hash.as_str()), (user.id, "$argon2id$test"));
    assert!(pg.use_app_password(user.id, "hash-of-phone").await.expect("app password"));
    let pg_inbox = pg.mailbox(inbox.id).await.expect("mailbox").expect("INBOX");
    assert_eq!(
        (pg_inbox.uidvalidity, pg_inbox.uidnext, pg_inbox.highestmodseq, pg_inbox.messages),
        (inbox.uidvalidity, inbox.uidnext, inbox.highestmodseq, inbox.messages)
    );
    let mut after = Vec::new();
    for m in pg.messages(inbox.id).await.expect("messages") {
        after.push((m.uid, m.flags, m.keywords.clone(), pg.read_message(&m).await.expect("read")));
    }
    assert_eq!(after, before, "UIDs, flags, keywords and bodies (in rows and in files) as they were");
    let by_subject = [crate::sort_keys::SortCriterion { key: crate::sort_keys::SortKey::Subject, reverse: false }];
    let sorted = pg.sorted_uids(inbox.id, &by_subject).await.expect("sort");
    assert_eq!(sorted.len(), before.len(), "messages stored before SORT keys were kept sort too: {sorted:?}");
    let found = pg.header_search(inbox.id, "subject", "test 3").await.expect("search");
    assert_eq!(found, Some(vec![3]), "their header text came along");
    assert_eq!(pg.queued().await.expect("queue").len(), 1, "the queue came along");
    // Mail goes on from the copied counters.
    let next =
        suite::delivery(suite::message(4, 300), vec![Target::new(user.id, MailboxTarget::Special(SpecialUse::Inbox))]);
    let outcome = pg.deliver(next).await.expect("deliver after the migration");
    assert_eq!(outcome.stored[0].as_ref().expect("stored").uid, inbox.uidnext, "the next UID");
    // A second migration into the same database is refused.
    let again = super::import::copy_from_sqlite(dir.path(), &url, &mut |_| {}).await;
    assert!(matches!(again, Err(crate::StoreError::Conflict(_))), "{again:?}");
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

/// Two nodes learning the same messages at the same instant keep each
/// message once (the `spam_learnt` upsert decides which node learns it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spam_learnt_once_across_nodes() {
    use crate::filter_data::{FilterData, Learn};
    let url = caravel_testkit::postgres::fresh_database();
    let (a, b) = (PgStore::connect(&url).await.expect("node a"), PgStore::connect(&url).await.expect("node b"));
    let batch: Vec<Learn> =
        (0..40).map(|n| Learn { digest: format!("m{n}"), spam: true, features: vec![1, 2, n + 100] }).collect();
    let (ra, rb) = tokio::join!(a.spam_learn(0, batch.clone()), b.spam_learn(0, batch.clone()));
    let (ra, rb) = (ra.expect("learn on a"), rb.expect("learn on b"));
    assert_eq!((ra.learnt + rb.learnt, ra.unchanged + rb.unchanged), (40, 40), "{ra:?} {rb:?}");
    let c = a.spam_examples(0).await.expect("examples");
    assert_eq!((c.spam_messages, c.ham_messages), (40, 0));
    assert_eq!(c.examples.len(), 40, "each message once");
    // Relearnt as ham on both nodes at once: moved once.
    let ham: Vec<Learn> = batch.into_iter().map(|l| Learn { spam: false, ..l }).collect();
    let (ra, rb) = tokio::join!(a.spam_learn(0, ham.clone()), b.spam_learn(0, ham));
    let (ra, rb) = (ra.expect("relearn on a"), rb.expect("relearn on b"));
    assert_eq!((ra.relearnt + rb.relearnt, ra.unchanged + rb.unchanged), (40, 40), "{ra:?} {rb:?}");
    let c = b.spam_examples(0).await.expect("examples");
    assert_eq!((c.spam_messages, c.ham_messages), (0, 40));
    assert!(c.examples.iter().all(|(spam, f)| !spam && f.len() == 3), "relabelled, features kept");
}

/// `store check` finds damaged counters, references and bodies; `store
/// compact` compresses a body kept as it came and reports sizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_finds_damage_and_compact_compresses() {
    use crate::{Directory, Maintenance, NewUser};
    let s = fresh().await;
    s.add_domain("example.com").await.expect("domain");
    let user = NewUser {
        address: suite::addr("a@example.com"),
        name: None,
        quota: None,
        password_hash: "$argon2id$test".into(),
    };
    s.add_user(user).await.expect("user");
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let body = "a line of mail text that compresses well\r\n".repeat(50).into_bytes();
    let hash = crate::blobs::BlobStore::hash(&body);
    let c = s.client().await.expect("client");
    c.batch_execute(
        "UPDATE accounts SET used = 7;
         UPDATE mailboxes SET messages = 2, uidnext = 0 WHERE name = 'INBOX';
         INSERT INTO blobs (hash, size, refcount, codec, data) VALUES ('00', 3, 1, 0, 'abc');",
    )
    .await
    .expect("damage");
    c.execute(
        "INSERT INTO blobs (hash, size, refcount, codec, data) VALUES ($1, $2, 0, 0, $3)",
        &[&hash, &(body.len() as i64), &body],
    )
    .await
    .expect("a body kept as it came");
    let problems = s.check().await.expect("check").problems;
    for expected in [
        "account a@example.com: quota usage says 7 bytes, its messages hold 0",
        "mailbox INBOX of a@example.com: counters say 2 messages / 0 bytes, found 0 / 0",
        "mailbox INBOX of a@example.com: UIDNEXT 0 not above UID 0",
        "blob 00: refcount 1 but 0 message(s) or queue entries use it",
        "blob 00: content does not match its hash (corrupted)",
        &format!("blob {hash}: kept, but no message or queue entry uses it"),
    ] {
        assert!(problems.iter().any(|p| p == expected), "{expected} not in {problems:?}");
    }
    assert_eq!(problems.len(), 6, "{problems:?}");
    let compacted = s.compact(true).await.expect("compact");
    assert_eq!(compacted.bodies, 1, "the damaged body stays as it is");
    assert!(compacted.stored_after < compacted.stored_before / 4, "{compacted:?}");
    assert!(compacted.file_before > 0 && compacted.file_after > 0, "{compacted:?}");
    let codec: i64 = c.query_one("SELECT codec FROM blobs WHERE hash = $1", &[&hash]).await.expect("row").get(0);
    assert_eq!(codec, crate::sqlite::inline::DEFLATE);
    let again = s.check().await.expect("check").problems;
    assert_eq!(again, problems, "the compressed body inflates to its hash");
    assert_eq!(s.compact(false).await.expect("compact again").bodies, 0);
    assert_eq!(s.recover().await.expect("recover"), 0);
}

/// Two nodes' workers taking due recipients at once: a message is held by
/// one node at a time, every recipient is attempted exactly once, and a
/// claim lapses at the end of its lease (unless its node renews it while
/// still busy with the message).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_claims_hand_each_recipient_to_one_node() {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    use super::queue::CLAIM_LEASE;
    use crate::{Attempt, MailStore, Maintenance, OutboundQueue, RecipientResult, RemoteRecipient};

    let url = caravel_testkit::postgres::fresh_database();
    let a = Arc::new(PgStore::connect(&url).await.expect("node a"));
    let b = Arc::new(PgStore::connect(&url).await.expect("node b"));
    // The workers' clock, a minute ahead: everything the test queues (by
    // the real clock, over however many seconds a loaded machine takes) is
    // due by then.
    let now = crate::now_secs() + 60;
    let queue = |n: usize, recipients: usize| {
        let mut d = suite::delivery(suite::message(n, 200), vec![]);
        d.remote = (0..recipients)
            .map(|r| RemoteRecipient { address: format!("r{r}@far{n}.test"), ..Default::default() })
            .collect();
        d
    };
    let mut all = Vec::new();
    for n in 0..30 {
        let id = a.deliver(queue(n, 3)).await.expect("queue").queued.expect("queued");
        all.extend((0..3).map(|r| (id, format!("r{r}@far{n}.test"))));
    }
    let delivered = |id: i64, recipients: Vec<String>| Attempt {
        queue_id: id,
        message_id: None,
        results: recipients.into_iter().map(|r| (r, RecipientResult::Delivered { detail: "250 ok".into() })).collect(),
        delay_notice_sent: false,
    };
    let holding: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let handled: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let worker = |store: Arc<PgStore>| {
        let (holding, handled) = (holding.clone(), handled.clone());
        async move {
            loop {
                let jobs = store.due(now, 4, &[]).await.expect("due");
                if jobs.is_empty() {
                    // The rest is held by the other node, which delivers it all.
                    return;
                }
                for job in &jobs {
                    assert!(holding.lock().expect("lock").insert(job.id), "message {} held by both nodes", job.id);
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                for job in jobs {
                    let addresses: Vec<String> = job.recipients.iter().map(|r| r.address.clone()).collect();
                    handled.lock().expect("lock").extend(addresses.iter().map(|r| (job.id, r.clone())));
                    holding.lock().expect("lock").remove(&job.id);
                    store.record_attempt(delivered(job.id, addresses)).await.expect("record");
                }
            }
        }
    };
    tokio::join!(worker(a.clone()), worker(b.clone()));
    let mut handled = handled.lock().expect("lock").clone();
    handled.sort();
    all.sort();
    assert_eq!(handled, all, "every recipient attempted once");
    assert!(a.queued().await.expect("queue").is_empty());
    let report = b.check().await.expect("check");
    assert!(report.problems.is_empty() && report.blobs == 0, "{report:?}");

    // Node a takes a message; b leaves it alone until a's lease ends, and
    // a renews it while busy with it.
    let id = a.deliver(queue(99, 1)).await.expect("queue").queued.expect("queued");
    assert_eq!(a.due(now, 10, &[]).await.expect("due").len(), 1);
    assert!(b.due(now, 10, &[]).await.expect("due").is_empty(), "held by a");
    assert_eq!(b.next_due().await.expect("next"), Some(now + CLAIM_LEASE), "when a's claim ends");
    assert!(a.next_due().await.expect("next").is_some_and(|t| t <= now), "a's own claim holds nothing back for a");
    assert!(a.due(now, 10, &[id]).await.expect("due").is_empty(), "busy");
    assert_eq!(a.due(now, 10, &[]).await.expect("due").len(), 1, "passed over by a's worker: given again");
    assert!(a.due(now + CLAIM_LEASE - 10, 10, &[id]).await.expect("due").is_empty(), "busy, and renewed");
    assert!(b.due(now + CLAIM_LEASE, 10, &[]).await.expect("due").is_empty(), "renewed");
    let taken = b.due(now + 2 * CLAIM_LEASE, 10, &[]).await.expect("due");
    assert_eq!(taken.iter().map(|j| j.id).collect::<Vec<_>>(), [id], "a's lapsed claim goes to b");
    // a's attempt ending late is recorded, and leaves b's claim alone.
    let retry = |at: i64| Attempt {
        queue_id: id,
        message_id: None,
        results: vec![("r0@far99.test".into(), RecipientResult::Retry { at, error: "451 later".into() })],
        delay_notice_sent: false,
    };
    a.record_attempt(retry(now)).await.expect("late record");
    assert!(a.due(now + 2 * CLAIM_LEASE, 10, &[]).await.expect("due").is_empty(), "still b's");
    b.record_attempt(retry(now)).await.expect("record");
    assert_eq!(a.due(now + 2 * CLAIM_LEASE, 10, &[]).await.expect("due")[0].recipients[0].attempts, 2);
}

/// Messages a node was handed but did not start are given back at once,
/// and a node that starts again under its name takes back what its previous
/// run left claimed: another node need not wait for the lease to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_not_used_are_given_back() {
    use crate::{MailStore, OutboundQueue, RemoteRecipient};
    let url = caravel_testkit::postgres::fresh_database();
    let a = PgStore::connect_node(&url, Some("node-a")).await.expect("node a");
    let b = PgStore::connect(&url).await.expect("node b");
    let mut d = suite::delivery(suite::message(1, 200), vec![]);
    d.remote = vec![RemoteRecipient { address: "x@far.test".into(), ..Default::default() }];
    let id = a.deliver(d).await.expect("queue").queued.expect("queued");
    let now = crate::now_secs();
    assert_eq!(a.due(now, 10, &[]).await.expect("due").len(), 1, "node a claims it");
    assert!(b.due(now, 10, &[]).await.expect("due").is_empty(), "held by a");
    a.release(&[id]).await.expect("release");
    assert_eq!(b.due(now, 10, &[]).await.expect("due").len(), 1, "given back: b takes it at once");
    b.release(&[id]).await.expect("release");
    assert_eq!(a.due(now, 10, &[]).await.expect("due").len(), 1, "a claims it again");
    drop(a);
    assert!(b.due(now, 10, &[]).await.expect("due").is_empty(), "a's claim outlives a crash");
    let _a_again = PgStore::connect_node(&url, Some("node-a")).await.expect("node a starts again");
    assert_eq!(b.due(now, 10, &[]).await.expect("due").len(), 1, "a's restart gave its old claims back");
}
