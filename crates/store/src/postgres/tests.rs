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
