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
