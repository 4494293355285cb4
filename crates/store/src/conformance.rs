//! One behavioural suite every backend must pass: each function takes a fresh,
//! empty store. The SQLite backend runs it in its unit tests; the PostgreSQL
//! backend will run the same functions.

use std::sync::Arc;

use crate::*;

pub fn addr(s: &str) -> Address {
    Address::parse(s).expect("test address")
}

fn new_user(a: &str, quota: Option<u64>) -> NewUser {
    NewUser { address: addr(a), name: Some("Test User".into()), quota, password_hash: "$argon2id$test".into() }
}

fn inbox(account: AccountId) -> Target {
    Target::new(account, MailboxTarget::Special(SpecialUse::Inbox))
}

pub fn message(n: usize, body_len: usize) -> Arc<Vec<u8>> {
    let mut m = format!(
        "From: Sender <sender@remote.test>\r\nTo: a@example.com\r\nSubject: test {n}\r\nMessage-ID: <{n}@remote.test>\r\n\r\n"
    )
    .into_bytes();
    while m.len() < body_len {
        m.extend_from_slice(format!("line {n} of the body, padded to size\r\n").as_bytes());
    }
    Arc::new(m)
}

pub fn delivery(raw: Arc<Vec<u8>>, targets: Vec<Target>) -> Delivery {
    Delivery {
        raw,
        internal_date: 1_700_000_000,
        targets,
        sender: "sender@remote.test".into(),
        session: "t1".into(),
        ..Default::default()
    }
}

async fn setup(s: &dyn Store) -> (User, User) {
    s.add_domain("example.com").await.expect("domain");
    let a = s.add_user(new_user("a@example.com", None)).await.expect("user a");
    let b = s.add_user(new_user("B.Person@Example.com", Some(500_000))).await.expect("user b");
    (a, b)
}

pub async fn directory(s: &dyn Store) {
    let (a, b) = setup(s).await;
    assert_eq!(b.address, "B.Person@example.com");
    assert!(matches!(s.add_domain("example.com").await, Err(StoreError::Conflict(_))));
    assert!(matches!(s.add_user(new_user("A@EXAMPLE.COM", None)).await, Err(StoreError::Conflict(_))));
    assert!(matches!(s.add_user(new_user("x@nowhere.test", None)).await, Err(StoreError::NotFound(_))));
    let found = s.get_user(&addr("b.person@EXAMPLE.com")).await.expect("get").expect("exists");
    assert_eq!(found.id, b.id);
    assert_eq!(found.quota, Some(500_000));

    let boxes = s.mailboxes(a.id).await.expect("mailboxes");
    let names: Vec<&str> = boxes.iter().map(|m| m.name.as_str()).collect();
    for want in ["INBOX", "Sent", "Drafts", "Junk", "Trash", "Archive"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(boxes.iter().all(|m| m.uidnext == 1 && m.uidvalidity > 0));
    assert_eq!(boxes.iter().find(|m| m.name == "Junk").and_then(|m| m.special_use), Some(SpecialUse::Junk));

    s.add_alias(&addr("sales@example.com"), &["a@example.com".into(), "partner@remote.test".into()])
        .await
        .expect("alias");
    assert!(matches!(s.add_alias(&addr("a@example.com"), &["x@y.test".into()]).await, Err(StoreError::Conflict(_))));
    assert_eq!(
        s.resolve(&addr("SALES@example.com")).await.expect("resolve"),
        Recipient::Alias(vec!["a@example.com".into(), "partner@remote.test".into()])
    );
    match s.resolve(&addr("a+news@example.com")).await.expect("resolve") {
        Recipient::Account(u) => assert_eq!((u.id, u.address.as_str()), (a.id, "a@example.com")),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.resolve(&addr("nobody@example.com")).await.expect("resolve"), Recipient::UnknownUser);
    let catch_all = Address::catch_all("example.com").expect("catch-all");
    s.add_alias(&catch_all, &["a@example.com".into()]).await.expect("catch-all alias");
    assert_eq!(
        s.resolve(&addr("nobody@example.com")).await.expect("resolve"),
        Recipient::Alias(vec!["a@example.com".into()])
    );
    assert!(matches!(s.resolve(&addr("a@example.com")).await.expect("resolve"), Recipient::Account(_)), "exact first");
    s.del_alias(&catch_all).await.expect("del catch-all");
    assert_eq!(s.resolve(&addr("a@elsewhere.test")).await.expect("resolve"), Recipient::NotLocal);

    assert!(matches!(s.del_domain("example.com").await, Err(StoreError::Conflict(_))));
    let u = s
        .update_user(
            &addr("a@example.com"),
            UserUpdate { quota: Some(Some(5)), name: Some("Ana".into()), ..Default::default() },
        )
        .await
        .expect("update");
    assert_eq!((u.quota, u.name.as_deref()), (Some(5), Some("Ana")));
    s.record_failure(a.id, 1000, POLICY).await.expect("failure");
    s.record_failure(a.id, 1001, POLICY).await.expect("failure");
    assert_eq!(s.get_user(&addr("a@example.com")).await.expect("get").expect("a").failed_logins, 2);
    s.unlock_user(&addr("a@example.com")).await.expect("unlock");
    assert_eq!(s.get_user(&addr("a@example.com")).await.expect("get").expect("a").failed_logins, 0);
    s.record_failure(a.id, 1002, POLICY).await.expect("failure");
    s.record_success(a.id).await.expect("success");
    assert_eq!(s.get_user(&addr("a@example.com")).await.expect("get").expect("a").failed_logins, 0);
    s.del_alias(&addr("sales@example.com")).await.expect("del alias");
    s.del_user(&addr("a@example.com")).await.expect("del a");
    s.del_user(&addr("b.person@example.com")).await.expect("del b");
    assert!(matches!(s.del_user(&addr("b.person@example.com")).await, Err(StoreError::NotFound(_))));
    s.del_domain("example.com").await.expect("del domain");
    assert!(s.list_domains().await.expect("list").is_empty());
}

/// Small messages and large ones may be stored differently; both must behave.
pub async fn delivery_shares_one_blob_and_counts(s: &dyn Store, size: usize) {
    let (a, b) = setup(s).await;
    let raw = message(1, size);
    let out = s.deliver(delivery(raw.clone(), vec![inbox(a.id), inbox(b.id)])).await.expect("deliver").stored;
    assert!(out.iter().all(|r| r.is_ok()), "{out:?}");
    let report = s.check().await.expect("check");
    assert_eq!((report.messages, report.blobs), (2, 1), "{report:?}");
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    let inbox_a = s.mailboxes(a.id).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("inbox");
    assert_eq!((inbox_a.messages, inbox_a.unseen, inbox_a.uidnext, inbox_a.size), (1, 1, 2, raw.len() as u64));
    let msgs = s.messages(inbox_a.id).await.expect("messages");
    assert_eq!(msgs[0].uid, 1);
    assert_eq!(s.read_blob(&msgs[0].blob).await.expect("blob"), *raw);
    let many = s.read_messages(inbox_a.id, &[1, 7]).await.expect("read_messages");
    assert_eq!(many, vec![(1, (*raw).clone())], "existing UIDs only, prefix and body");
    assert_eq!(s.header_search(inbox_a.id, "subject", "TEST 1").await.expect("search"), Some(vec![1]));
    assert_eq!(s.header_search(inbox_a.id, "from", "sender@remote").await.expect("search"), Some(vec![1]));
    assert_eq!(s.header_search(inbox_a.id, "subject", "absent").await.expect("search"), Some(vec![]));
    assert_eq!(s.header_search(inbox_a.id, "x-mailer", "a").await.expect("search"), None);
    let (env, body) = s.structure(inbox_a.id, 1).await.expect("structure");
    assert_eq!(env.subject.as_deref(), Some("test 1"));
    assert_eq!(body.media_type, "text");
    let user = s.get_user(&addr("a@example.com")).await.expect("get").expect("a");
    assert_eq!(user.used, raw.len() as u64);

    let events = s
        .events(EventQuery { message_id: Some("<1@remote.test>".into()), ..Default::default() })
        .await
        .expect("events");
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.kind == EventKind::Delivered));
}

pub async fn quota_fails_only_that_recipient(s: &dyn Store) {
    let (a, b) = setup(s).await;
    let big = message(2, 600_000);
    // b's quota is 500,000 bytes.
    let out = s.deliver(delivery(big.clone(), vec![inbox(a.id), inbox(b.id)])).await.expect("deliver").stored;
    assert!(out[0].is_ok());
    assert!(matches!(out[1], Err(StoreError::OverQuota(_))), "{:?}", out[1]);
    let user_b = s.get_user(&addr("b.person@example.com")).await.expect("get").expect("b");
    assert_eq!(user_b.used, 0);
    assert!(s.check().await.expect("check").problems.is_empty());
    // SMTP checks quotas at RCPT time and then lets the accepted message in.
    let unchecked = Target { check_quota: false, ..inbox(b.id) };
    let out = s.deliver(delivery(big, vec![unchecked])).await.expect("deliver").stored;
    assert!(out[0].is_ok(), "{out:?}");
}

/// The next change a watcher is told of, past any Resync: a store may ask its
/// watchers to read their state again at any time (PostgreSQL does once its
/// notification connection is up, which can be after the watch began).
async fn next_change(watch: &mut tokio::sync::broadcast::Receiver<MailboxChange>) -> MailboxChange {
    loop {
        match watch.recv().await.expect("a change") {
            MailboxChange::Resync => continue,
            change => return change,
        }
    }
}

pub async fn flags_modseq_and_notifications(s: &dyn Store) {
    let (a, _) = setup(s).await;
    let mb = s.mailboxes(a.id).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("inbox");
    let mut watch = s.watch(mb.id);
    s.deliver(delivery(message(3, 100), vec![inbox(a.id)])).await.expect("deliver");
    let ev = next_change(&mut watch).await;
    assert!(matches!(ev, MailboxChange::Appended { uid: 1, .. }), "{ev:?}");

    let m1 = s.set_flags(mb.id, &[1], Flags::SEEN, &["$Forwarded".into()], FlagMode::Add).await.expect("flags");
    assert!(matches!(next_change(&mut watch).await, MailboxChange::FlagsChanged { modseq, .. } if modseq == m1));
    let meta = &s.messages(mb.id).await.expect("messages")[0];
    assert!(meta.flags.contains(Flags::SEEN));
    assert_eq!(meta.keywords, vec!["$Forwarded".to_string()]);
    assert_eq!(meta.modseq, m1);
    let m2 = s.set_flags(mb.id, &[1], Flags::SEEN, &[], FlagMode::Remove).await.expect("flags");
    assert!(m2 > m1);
    let noop = s.set_flags(mb.id, &[1], Flags::SEEN, &[], FlagMode::Remove).await.expect("flags");
    assert_eq!(noop, m2, "a change that changes nothing does not raise the modseq");
    s.set_flags(mb.id, &[1], Flags::DELETED, &[], FlagMode::Add).await.expect("flags");
    let after = s.mailboxes(a.id).await.expect("mb").into_iter().find(|m| m.id == mb.id).expect("inbox");
    assert_eq!((after.unseen, after.deleted), (1, 1));
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(after.highestmodseq >= m2);
}

/// Returns the hash of the freed blob.
pub async fn expunge_frees_blobs(s: &dyn Store, size: usize) -> String {
    let (a, b) = setup(s).await;
    let raw = message(4, size);
    s.deliver(delivery(raw.clone(), vec![inbox(a.id), inbox(b.id)])).await.expect("deliver");
    let mb_a = s.mailboxes(a.id).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("inbox");
    let hash = s.messages(mb_a.id).await.expect("m")[0].blob.clone();

    let before =
        s.mailboxes(a.id).await.expect("mb").into_iter().find(|m| m.id == mb_a.id).expect("inbox").highestmodseq;
    assert_eq!(s.expunge(mb_a.id, &[1, 99]).await.expect("expunge"), vec![1]);
    assert_eq!(s.vanished_since(mb_a.id, before).await.expect("vanished"), vec![1]);
    assert!(s.vanished_since(mb_a.id, before + 1).await.expect("vanished").is_empty());
    assert_eq!(s.read_blob(&hash).await.expect("still used by b"), *raw);
    assert_eq!(s.get_user(&addr("a@example.com")).await.expect("get").expect("a").used, 0);
    s.del_user(&addr("b.person@example.com")).await.expect("del b");
    // The trash is emptied at the start of the next write transaction.
    s.add_domain("other.test").await.expect("another write");
    assert!(s.read_blob(&hash).await.is_err(), "blob removed once unreferenced");
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.blobs, 0);
    hash
}

/// Header search stays exact as a mailbox changes between searches: new
/// deliveries, expunges, moves out and in, and a deleted and recreated mailbox.
pub async fn header_search_follows_changes(s: &dyn Store) {
    let (a, _) = setup(s).await;
    let find = |mb: MailboxId, needle: &'static str| async move {
        s.header_search(mb, "subject", needle).await.expect("search").expect("answered")
    };
    for n in 1..=3 {
        s.deliver(delivery(message(n, 500), vec![inbox(a.id)])).await.expect("deliver");
    }
    let mb = s.mailboxes(a.id).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("inbox");
    assert_eq!(find(mb.id, "test").await, vec![1, 2, 3]);
    s.deliver(delivery(message(4, 500), vec![inbox(a.id)])).await.expect("deliver");
    assert_eq!(find(mb.id, "test").await, vec![1, 2, 3, 4]);
    s.expunge(mb.id, &[2]).await.expect("expunge");
    assert_eq!(find(mb.id, "test").await, vec![1, 3, 4]);
    assert_eq!(find(mb.id, "test 2").await, Vec::<u32>::new());
    // An expunge and a delivery between two searches leave the count equal.
    s.expunge(mb.id, &[3]).await.expect("expunge");
    s.deliver(delivery(message(5, 500), vec![inbox(a.id)])).await.expect("deliver");
    assert_eq!(find(mb.id, "test").await, vec![1, 4, 5]);
    assert_eq!(find(mb.id, "test 5").await, vec![5]);

    let other = s.create_mailbox(a.id, "Quotes").await.expect("create");
    assert_eq!(find(other.id, "test").await, Vec::<u32>::new());
    s.copy_messages(mb.id, &[4], other.id, true).await.expect("move");
    assert_eq!(find(mb.id, "test").await, vec![1, 5]);
    assert_eq!(find(other.id, "test 4").await, vec![1]);
    s.delete_mailbox(a.id, "Quotes").await.expect("delete");
    let again = s.create_mailbox(a.id, "Quotes").await.expect("recreate");
    assert_eq!(find(again.id, "test").await, Vec::<u32>::new());
    // RFC 3501 §2.3.1.1: the same name is a new mailbox. Its id is new (no
    // cache or session keyed by the old one sees it), its UIDVALIDITY larger,
    // and its UID 1 is not the old UID 1.
    assert_ne!(again.id, other.id, "a deleted mailbox's id is never reused");
    assert!(again.uidvalidity > other.uidvalidity, "{} > {}", again.uidvalidity, other.uidvalidity);
    let target = Target::new(a.id, MailboxTarget::Name("Quotes".into()));
    s.deliver(delivery(message(9, 500), vec![target])).await.expect("deliver");
    assert_eq!(find(again.id, "test 4").await, Vec::<u32>::new(), "nothing of the deleted mailbox shows through");
    assert_eq!(find(again.id, "test 9").await, vec![1]);
    s.delete_mailbox(a.id, "Quotes").await.expect("delete");
    let third = s.create_mailbox(a.id, "Quotes").await.expect("recreate");
    assert!(third.id != again.id && third.uidvalidity > again.uidvalidity);
}

/// Structures and bodies of some UIDs, dense (a range) or scattered, with
/// duplicates and UIDs that do not exist: exactly those that exist, in UID
/// order, whatever path the backend takes.
pub async fn by_uid_reads_give_exactly_the_uids_asked(s: &dyn Store) {
    let (a, _) = setup(s).await;
    for n in 1..=300 {
        s.deliver(delivery(message(n, 200), vec![inbox(a.id)])).await.expect("deliver");
    }
    let mb = s.mailboxes(a.id).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("inbox");
    for asked in [vec![5, 6, 7, 8, 9, 10], vec![300, 1, 150, 1, 999], vec![299, 300, 301], vec![], vec![42]] {
        let mut want: Vec<u32> = asked.iter().copied().filter(|&u| (1..=300).contains(&u)).collect();
        want.sort_unstable();
        want.dedup();
        let bodies = s.read_messages(mb.id, &asked).await.expect("read");
        assert_eq!(bodies.iter().map(|b| b.0).collect::<Vec<_>>(), want, "{asked:?}");
        for (uid, raw) in &bodies {
            let subject = format!("Subject: test {uid}\r\n");
            assert!(raw.windows(subject.len()).any(|w| w == subject.as_bytes()), "uid {uid}");
        }
        let metas = s.messages_changed(mb.id, &asked, None).await.expect("metas");
        assert_eq!(metas.iter().map(|m| m.uid).collect::<Vec<_>>(), want, "{asked:?}");
        let structures = s.structures(mb.id, &asked).await.expect("structures");
        let mut got: Vec<u32> = structures.keys().copied().collect();
        got.sort_unstable();
        assert_eq!(got, want, "{asked:?}");
        for (uid, (env, _)) in &structures {
            assert_eq!(env.subject.as_deref(), Some(format!("test {uid}").as_str()));
        }
        let envelopes = s.envelopes_of(mb.id, &asked).await.expect("envelopes");
        let mut got: Vec<u32> = envelopes.keys().copied().collect();
        got.sort_unstable();
        assert_eq!(got, want, "{asked:?}");
        for (uid, env) in &envelopes {
            assert_eq!(env.subject.as_deref(), Some(format!("test {uid}").as_str()));
        }
    }
    // One mailbox by id, with its counters; none once deleted.
    let one = s.mailbox(mb.id).await.expect("mailbox").expect("exists");
    assert_eq!((one.name.as_str(), one.uidnext, one.messages), ("INBOX", 301, 300));
    let other = s.create_mailbox(a.id, "Gone").await.expect("create");
    s.delete_mailbox(a.id, "Gone").await.expect("delete");
    assert!(s.mailbox(other.id).await.expect("lookup").is_none());
    // With `from`: those asked, then every message from that UID on, once each.
    let metas = s.messages_changed(mb.id, &[7, 299, 3], Some(298)).await.expect("metas");
    assert_eq!(metas.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![3, 7, 298, 299, 300]);
    assert!(s.messages_changed(mb.id, &[], Some(301)).await.expect("none").is_empty());
}

/// `deliver_all` (MULTIAPPEND): every message stored in one go, or none;
/// a mailbox that does not exist fails rather than falling back to INBOX.
pub async fn deliver_all_is_all_or_nothing(s: &dyn Store) {
    let (_, b) = setup(s).await;
    let quotes = s.create_mailbox(b.id, "Quotes").await.expect("create");
    let to = |name: &str| vec![Target::new(b.id, MailboxTarget::Name(name.into()))];
    let stored = s
        .deliver_all(vec![delivery(message(1, 500), to("Quotes")), delivery(message(2, 500), to("Quotes"))])
        .await
        .expect("both");
    assert_eq!(stored.iter().map(|x| (x.mailbox, x.uid)).collect::<Vec<_>>(), vec![(quotes.id, 1), (quotes.id, 2)]);
    // The second is over quota (500,000 bytes): the first is not kept either.
    let over =
        s.deliver_all(vec![delivery(message(3, 500), to("Quotes")), delivery(message(4, 600_000), to("Quotes"))]).await;
    assert!(matches!(over, Err(StoreError::OverQuota(_))), "{over:?}");
    let gone =
        s.deliver_all(vec![delivery(message(5, 500), to("Quotes")), delivery(message(6, 500), to("Nowhere"))]).await;
    assert!(matches!(gone, Err(StoreError::NotFound(_))), "{gone:?}");
    assert_eq!(s.messages(quotes.id).await.expect("messages").len(), 2, "nothing of the failed ones");
    let inbox = s.mailboxes(b.id).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("inbox");
    assert_eq!(inbox.messages, 0, "no fallback to INBOX");
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// URLAUTH keys (RFC 4467): the first key given stays; RESETKEY of one
/// mailbox or of all, and DELETE, forget them.
pub async fn urlauth_keys_are_kept_until_reset(s: &dyn Store) {
    let (a, b) = setup(s).await;
    let one = s.create_mailbox(a.id, "One").await.expect("create").id;
    let two = s.create_mailbox(a.id, "Two").await.expect("create").id;
    let other = s.create_mailbox(b.id, "Theirs").await.expect("create").id;
    assert_eq!(s.urlauth_key(one, None).await.expect("read"), None);
    assert_eq!(s.urlauth_key(one, Some(vec![1; 32])).await.expect("make"), Some(vec![1; 32]));
    assert_eq!(s.urlauth_key(one, Some(vec![2; 32])).await.expect("kept"), Some(vec![1; 32]));
    s.urlauth_key(two, Some(vec![3; 32])).await.expect("make");
    s.urlauth_key(other, Some(vec![4; 32])).await.expect("make");
    s.reset_urlauth_keys(a.id, Some(one)).await.expect("reset one");
    assert_eq!(s.urlauth_key(one, None).await.expect("read"), None);
    assert_eq!(s.urlauth_key(two, None).await.expect("read"), Some(vec![3; 32]));
    s.reset_urlauth_keys(a.id, None).await.expect("reset all");
    assert_eq!(s.urlauth_key(two, None).await.expect("read"), None);
    assert_eq!(s.urlauth_key(other, None).await.expect("read"), Some(vec![4; 32]), "another account's stays");
    s.delete_mailbox(b.id, "Theirs").await.expect("delete");
    assert_eq!(s.urlauth_key(other, None).await.expect("read"), None);
}

/// \Recent (RFC 3501 §2.3.2): each message is claimed by one caller only.
pub async fn recent_is_claimed_once(s: &dyn Store) {
    let (a, _) = setup(s).await;
    for n in 1..=2 {
        s.deliver(delivery(message(n, 300), vec![inbox(a.id)])).await.expect("deliver");
    }
    let mb = s.mailboxes(a.id).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("inbox");
    assert_eq!((mb.first_recent, mb.recent), (1, 2));
    assert_eq!(s.claim_recent(mb.id).await.expect("claim"), (1, 3));
    assert_eq!(s.claim_recent(mb.id).await.expect("claim again"), (3, 3), "nothing left to claim");
    s.deliver(delivery(message(3, 300), vec![inbox(a.id)])).await.expect("deliver");
    let mb = s.mailboxes(a.id).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("inbox");
    assert_eq!((mb.first_recent, mb.recent), (3, 1));
    assert_eq!(s.claim_recent(mb.id).await.expect("claim"), (3, 4));
}

const POLICY: LockPolicy = LockPolicy { max_failures: 5, window_secs: 900, lock_secs: 900 };

/// Lockout: five failures within the window lock the account; the next lock
/// lasts twice as long; failures spread wider than the window never lock.
pub async fn failures_lock_the_account_for_longer_each_time(s: &dyn Store) {
    let (a, _) = setup(s).await;
    let t0 = 10_000;
    for i in 0..4 {
        assert_eq!(s.record_failure(a.id, t0 + i, POLICY).await.expect("failure"), None);
    }
    assert_eq!(s.record_failure(a.id, t0 + 4, POLICY).await.expect("fifth"), Some(t0 + 4 + 900));
    let user = s.get_user(&addr("a@example.com")).await.expect("get").expect("a");
    assert_eq!(user.locked_until, Some(t0 + 904));
    assert_eq!(user.failed_logins, 5, "the failures that locked it stay visible beside the lock");
    let t1 = t0 + 2000;
    for i in 0..4 {
        s.record_failure(a.id, t1 + i, POLICY).await.expect("failure");
    }
    assert_eq!(s.record_failure(a.id, t1 + 4, POLICY).await.expect("again"), Some(t1 + 4 + 1800), "doubled");
    // One failure every 16 minutes never reaches five in 15 minutes.
    s.unlock_user(&addr("a@example.com")).await.expect("unlock");
    for i in 0..10 {
        assert_eq!(s.record_failure(a.id, t1 + 10_000 + i * 960, POLICY).await.expect("slow"), None);
    }
    // After unlock and a success, the first lock is short again.
    s.record_success(a.id).await.expect("success");
    let t2 = t1 + 100_000;
    for i in 0..4 {
        s.record_failure(a.id, t2 + i, POLICY).await.expect("failure");
    }
    assert_eq!(s.record_failure(a.id, t2 + 4, POLICY).await.expect("fifth"), Some(t2 + 4 + 900));
    // However often it is attacked, a lock lasts at most a day.
    let mut t = t2 + 10_000;
    let mut last = 0;
    for _ in 0..12 {
        for i in 0..4 {
            s.record_failure(a.id, t + i, POLICY).await.expect("failure");
        }
        let until = s.record_failure(a.id, t + 4, POLICY).await.expect("lock").expect("locked");
        last = until - (t + 4);
        t = until + 1;
    }
    assert_eq!(last, 86_400);
}

/// TOTP state, single-use time steps and recovery codes, app passwords.
pub async fn second_factor_and_app_passwords(s: &dyn Store) {
    let (a, _) = setup(s).await;
    assert_eq!(s.totp(a.id).await.expect("totp"), TotpState::default());
    assert!(s.enable_totp(a.id, vec![]).await.is_err(), "nothing to confirm");
    s.set_totp_secret(a.id, Some("JBSWY3DPEHPK3PXP".into())).await.expect("enroll");
    let t = s.totp(a.id).await.expect("totp");
    assert_eq!((t.secret.as_deref(), t.enabled), (Some("JBSWY3DPEHPK3PXP"), false));
    assert!(!s.get_user(&addr("a@example.com")).await.expect("get").expect("a").totp_enabled);
    s.enable_totp(a.id, vec!["h1".into(), "h2".into()]).await.expect("confirm");
    assert!(s.get_user(&addr("a@example.com")).await.expect("get").expect("a").totp_enabled);
    assert!(s.use_totp_step(a.id, 100).await.expect("step"));
    assert!(!s.use_totp_step(a.id, 100).await.expect("replay"), "a code is taken once");
    assert!(!s.use_totp_step(a.id, 99).await.expect("older"));
    assert!(s.use_totp_step(a.id, 101).await.expect("next"));
    assert!(s.use_recovery_code(a.id, "h1").await.expect("code"));
    assert!(!s.use_recovery_code(a.id, "h1").await.expect("used"), "single use");
    assert!(!s.use_recovery_code(a.id, "nope").await.expect("unknown"));

    let p = s.add_app_password(a.id, "iPhone", "hash-1").await.expect("add");
    assert_eq!((p.name.as_str(), p.last_used), ("iPhone", None));
    assert!(matches!(s.add_app_password(a.id, "iPhone", "hash-2").await, Err(StoreError::Conflict(_))));
    s.add_app_password(a.id, "Outlook", "hash-3").await.expect("add");
    assert!(s.use_app_password(a.id, "hash-1").await.expect("use"));
    assert!(!s.use_app_password(a.id, "hash-9").await.expect("unknown"));
    let list = s.app_passwords(a.id).await.expect("list");
    assert_eq!(list.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), vec!["Outlook", "iPhone"]);
    assert!(list[1].last_used.is_some(), "use recorded");
    s.del_app_password(a.id, "iPhone").await.expect("del");
    assert!(!s.use_app_password(a.id, "hash-1").await.expect("revoked"));
    assert!(matches!(s.del_app_password(a.id, "iPhone").await, Err(StoreError::NotFound(_))));
    // Turning the second factor off forgets the recovery codes.
    s.set_totp_secret(a.id, None).await.expect("disable");
    assert!(!s.use_recovery_code(a.id, "h2").await.expect("gone"));
    assert!(!s.totp(a.id).await.expect("totp").enabled);
    s.del_user(&addr("a@example.com")).await.expect("del user with app passwords");
}

/// Web sessions: found until they expire, updated in place, and revoked by
/// sign-out, by "sign out everywhere" and by a password change.
pub async fn web_sessions_expire_and_are_revoked(s: &dyn Store) {
    let (a, _) = setup(s).await;
    let session = |expires| WebSession {
        account: a.id,
        created: 1000,
        expires,
        pending: true,
        code_hash: None,
        code_expires: 0,
        code_sent: 0,
        codes_sent: 0,
        code_failures: 0,
    };
    s.create_web_session("t1", session(2000)).await.expect("create");
    assert_eq!(s.web_session("t1", 1500).await.expect("get"), Some(session(2000)));
    assert_eq!(s.web_session("t1", 2000).await.expect("get"), None, "expired");
    assert_eq!(s.web_session("nope", 1500).await.expect("get"), None);
    let done = WebSession { pending: false, code_hash: Some("h".into()), codes_sent: 1, ..session(3000) };
    s.update_web_session("t1", done.clone()).await.expect("update");
    assert_eq!(s.web_session("t1", 1500).await.expect("get"), Some(done));
    s.delete_web_session("t1").await.expect("sign out");
    assert_eq!(s.web_session("t1", 1500).await.expect("get"), None);
    s.create_web_session("t2", session(5000)).await.expect("create");
    s.add_app_password(a.id, "Phone", "hash").await.expect("app password");
    s.revoke_all(a.id, false).await.expect("revoke");
    assert_eq!(s.web_session("t2", 1500).await.expect("get"), None);
    assert!(s.use_app_password(a.id, "hash").await.expect("kept"), "app passwords kept unless asked");
    s.revoke_all(a.id, true).await.expect("revoke all");
    assert!(!s.use_app_password(a.id, "hash").await.expect("gone"));
    s.create_web_session("t3", session(5000)).await.expect("create");
    s.add_app_password(a.id, "Laptop", "hash-2").await.expect("app password");
    let update = UserUpdate { password_hash: Some("new".into()), ..Default::default() };
    s.update_user(&addr("a@example.com"), update).await.expect("passwd");
    assert_eq!(s.web_session("t3", 1500).await.expect("get"), None, "a password change signs out");
    assert!(!s.use_app_password(a.id, "hash-2").await.expect("gone"), "and revokes app passwords");
    // Password-reset tokens: one use, until they expire; one per minute.
    assert!(s.create_reset_token("r1", a.id, 100, 1000, 40).await.expect("token"));
    assert!(!s.create_reset_token("r2", a.id, 120, 1020, 60).await.expect("too soon"));
    assert!(s.create_reset_token("r3", a.id, 170, 1070, 110).await.expect("a minute later"));
    assert_eq!(s.reset_token_account("r1", 500).await.expect("peek"), Some(a.id));
    assert_eq!(s.reset_token_account("r1", 1000).await.expect("peek"), None, "expired");
    assert_eq!(s.take_reset_token("r1", 500).await.expect("take"), Some((a.id, 1000)), "peeking kept it");
    assert_eq!(s.take_reset_token("r1", 500).await.expect("again"), None, "one use");
    assert_eq!(s.take_reset_token("r3", 1070).await.expect("late"), None, "expired");
    s.create_web_session("t4", session(5000)).await.expect("create");
    s.create_reset_token("r4", a.id, 2000, 3000, 1940).await.expect("token");
    s.del_user(&addr("a@example.com")).await.expect("delete with a session and a token");
}

/// DKIM keys: per domain and selector, newest first, removable.
pub async fn dkim_keys_per_domain_and_selector(s: &dyn Store) {
    let key = |selector: &str, created| DkimKey {
        domain: "example.com".into(),
        selector: selector.into(),
        algorithm: "ed25519-sha256".into(),
        private_key: "PEM".into(),
        public_key: "p".into(),
        created,
    };
    s.add_dkim_key(key("old", 1)).await.expect("add");
    s.add_dkim_key(key("new", 2)).await.expect("add");
    assert!(matches!(s.add_dkim_key(key("new", 3)).await, Err(StoreError::Conflict(_))));
    let keys = s.dkim_keys("example.com").await.expect("keys");
    assert_eq!(keys.iter().map(|k| k.selector.as_str()).collect::<Vec<_>>(), vec!["new", "old"]);
    assert!(s.dkim_keys("other.test").await.expect("none").is_empty());
    s.del_dkim_key("example.com", "old").await.expect("del");
    assert!(matches!(s.del_dkim_key("example.com", "old").await, Err(StoreError::NotFound(_))));
    assert_eq!(s.dkim_keys("example.com").await.expect("keys").len(), 1);
}

pub async fn mail_log_records_and_finds_events(s: &dyn Store) {
    let event = |kind, recipient: &str, detail: &str| MailEvent {
        ts: now_millis(),
        kind,
        message_id: Some("<q1@remote.test>".into()),
        sender: Some("Sender@Remote.test".into()),
        recipient: Some(recipient.into()),
        detail: detail.into(),
        session: Some("s1".into()),
    };
    s.record(event(EventKind::Received, "a@example.com", "from 192.0.2.1")).await.expect("record");
    s.record(event(EventKind::Rejected, "nobody@example.com", "550 5.1.1 no such user")).await.expect("record");
    s.record(event(EventKind::Queued, "x@remote.test", "queued for remote delivery")).await.expect("record");
    let by_id = s
        .events(EventQuery { message_id: Some("<q1@remote.test>".into()), ..Default::default() })
        .await
        .expect("events");
    let kinds: Vec<EventKind> = by_id.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EventKind::Received, EventKind::Rejected, EventKind::Queued], "in order");
    let by_rcpt = s
        .events(EventQuery { recipient: Some("NOBODY@example.com".into()), ..Default::default() })
        .await
        .expect("events");
    assert_eq!(by_rcpt.len(), 1);
    assert_eq!(by_rcpt[0].detail, "550 5.1.1 no such user");
    let by_sender = s
        .events(EventQuery { sender: Some("sender@remote.test".into()), limit: 2, ..Default::default() })
        .await
        .expect("events");
    assert_eq!(by_sender.len(), 2, "limit applies");
}

pub async fn per_recipient_prefix_is_part_of_the_message(s: &dyn Store) {
    let (a, b) = setup(s).await;
    let raw = message(5, 300);
    let mut ta = inbox(a.id);
    ta.prefix = b"Delivered-To: a@example.com\r\n".to_vec();
    let tb = inbox(b.id);
    s.deliver(delivery(raw.clone(), vec![ta, tb])).await.expect("deliver");
    let mb = s.mailboxes(a.id).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("inbox");
    let meta = s.messages(mb.id).await.expect("messages").remove(0);
    let full = s.read_message(&meta).await.expect("read");
    assert!(full.starts_with(b"Delivered-To: a@example.com\r\nFrom: Sender"));
    assert_eq!(meta.size, full.len() as u64);
    assert_eq!(mb.size, full.len() as u64);
    let (_, body) = s.structure(mb.id, meta.uid).await.expect("structure");
    assert_eq!(
        &full[body.body_start as usize..body.end as usize],
        &raw[raw.len() - (body.end - body.body_start) as usize..]
    );
    assert_eq!(body.end, full.len() as u64);
    let report = s.check().await.expect("check");
    assert_eq!((report.messages, report.blobs), (2, 1), "the body is still shared");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

pub async fn remote_recipients_are_queued_with_the_local_copies(s: &dyn Store) {
    let (a, _) = setup(s).await;
    let raw = message(6, 800);
    let mut d = delivery(raw.clone(), vec![inbox(a.id)]);
    d.remote = vec![
        RemoteRecipient { address: "x@far.test".into(), notify: Some("FAILURE".into()), orcpt: None },
        RemoteRecipient { address: "y@far.test".into(), ..Default::default() },
    ];
    d.dsn = Dsn { envid: Some("env1".into()), ret: Some("HDRS".into()) };
    let out = s.deliver(d).await.expect("deliver");
    assert!(out.stored[0].is_ok());
    let id = out.queued.expect("queued");
    let queue = s.queued().await.expect("queue");
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].id, id);
    assert_eq!(queue[0].size, raw.len() as u64);
    let rcpts: Vec<&str> = queue[0].recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(rcpts, vec!["x@far.test", "y@far.test"]);
    assert!(queue[0].recipients.iter().all(|r| r.status == "pending" && r.attempts == 0));
    assert_eq!(s.queue_summary().await.expect("summary"), (1, Some(queue[0].created)));
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.blobs, 1, "the queue and the mailbox share the body");
    let events =
        s.events(EventQuery { recipient: Some("x@far.test".into()), ..Default::default() }).await.expect("events");
    assert_eq!(events[0].kind, EventKind::Queued);
    // Only remote recipients: nothing stored locally, still queued.
    let only_remote = Delivery {
        remote: vec![RemoteRecipient { address: "z@far.test".into(), ..Default::default() }],
        ..delivery(message(7, 100), vec![])
    };
    let only = s.deliver(only_remote).await.expect("deliver").queued.expect("queued");
    // Retry makes pending recipients due now; delete drops the message and,
    // once nothing uses it, its body.
    assert_eq!(s.retry_queued(Some(id), 5).await.expect("retry"), 2);
    assert!(s.queued().await.expect("queue")[0].recipients.iter().all(|r| r.next_attempt == 5));
    assert_eq!(s.retry_queued(None, 6).await.expect("retry all"), 3);
    assert!(matches!(s.retry_queued(Some(999), 7).await, Err(StoreError::NotFound(_))));
    s.del_queued(only).await.expect("del");
    assert!(matches!(s.del_queued(only).await, Err(StoreError::NotFound(_))));
    assert_eq!(s.queued().await.expect("queue").len(), 1);
    assert_eq!(s.queue_summary().await.expect("summary").0, 1);
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.blobs, 1, "the deleted message's own body is gone; the shared one stays");
}

pub async fn the_worker_takes_due_recipients_and_records_attempts(s: &dyn Store) {
    let now = crate::now_secs();
    let signal = s.queue_signal();
    let woken = signal.notified();
    let mut d = delivery(message(8, 300), vec![]);
    d.sender = "sales@caravel.test".into();
    d.remote = ["a@far.test", "b@far.test", "c@far.test"]
        .iter()
        .map(|a| RemoteRecipient { address: a.to_string(), ..Default::default() })
        .collect();
    let id = s.deliver(d).await.expect("deliver").queued.expect("queued");
    tokio::time::timeout(std::time::Duration::from_secs(5), woken).await.expect("queueing wakes the worker");
    assert!(s.next_due().await.expect("next").is_some_and(|t| t <= now + 1));
    let jobs = s.due(now + 1, 10, &[]).await.expect("due");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, id);
    assert_eq!(jobs[0].sender, "sales@caravel.test");
    assert_eq!(jobs[0].recipients.len(), 3);
    assert!(!jobs[0].delay_notice_sent);
    assert!(s.due(now + 1, 10, &[id]).await.expect("due").is_empty(), "busy messages are left out");
    assert_eq!(s.read_blob(&jobs[0].blob).await.expect("body"), *message(8, 300));
    // a delivered, b retried later, c failed.
    s.record_attempt(Attempt {
        queue_id: id,
        message_id: Some("<m8@test>".into()),
        results: vec![
            ("a@far.test".into(), RecipientResult::Delivered { detail: "mx.far.test said 250 ok".into() }),
            ("b@far.test".into(), RecipientResult::Retry { at: now + 300, error: "451 later".into() }),
            ("c@far.test".into(), RecipientResult::Failed { error: "550 no such user".into() }),
        ],
        delay_notice_sent: true,
    })
    .await
    .expect("record");
    let q = s.queued().await.expect("queue");
    assert_eq!(q[0].recipients.len(), 1);
    assert_eq!(q[0].recipients[0].address, "b@far.test");
    assert_eq!(q[0].recipients[0].attempts, 1);
    assert_eq!(q[0].recipients[0].last_error.as_deref(), Some("451 later"));
    assert!(s.due(now + 1, 10, &[]).await.expect("due").is_empty(), "b waits");
    assert_eq!(s.next_due().await.expect("next"), Some(now + 300));
    let later = s.due(now + 300, 10, &[]).await.expect("due");
    assert!(later[0].delay_notice_sent);
    assert_eq!(later[0].recipients[0].attempts, 1);
    let kinds = |r: &str| {
        let r = r.to_string();
        async move {
            s.events(EventQuery { recipient: Some(r), ..Default::default() })
                .await
                .expect("events")
                .into_iter()
                .map(|e| e.kind)
                .collect::<Vec<_>>()
        }
    };
    assert!(kinds("a@far.test").await.contains(&EventKind::Delivered));
    assert!(kinds("b@far.test").await.contains(&EventKind::Deferred));
    assert!(kinds("c@far.test").await.contains(&EventKind::Bounced));
    // The last recipient done: the message and its body go.
    s.record_attempt(Attempt {
        queue_id: id,
        message_id: None,
        results: vec![("b@far.test".into(), RecipientResult::Delivered { detail: "250 ok".into() })],
        delay_notice_sent: false,
    })
    .await
    .expect("record");
    assert!(s.queued().await.expect("queue").is_empty());
    assert_eq!(s.next_due().await.expect("next"), None);
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.blobs, 0);
    // An attempt on a message deleted meanwhile is ignored, and its id is
    // never given to a new message (which that attempt would then touch).
    let mut d = delivery(message(9, 100), vec![]);
    d.remote = vec![RemoteRecipient { address: "a@far.test".into(), ..Default::default() }];
    let newer = s.deliver(d).await.expect("deliver").queued.expect("queued");
    assert!(newer > id, "queue ids are not reused: {newer} after {id}");
    s.record_attempt(Attempt {
        queue_id: id,
        message_id: None,
        results: vec![("a@far.test".into(), RecipientResult::Delivered { detail: "late".into() })],
        delay_notice_sent: false,
    })
    .await
    .expect("gone is fine");
    assert_eq!(s.queued().await.expect("queue").len(), 1, "the newer message is untouched");
}

pub async fn system_mail_reaches_accounts_aliases_and_the_queue(s: &dyn Store) {
    let (a, _) = setup(s).await;
    s.add_alias(&Address::parse("sales@example.com").expect("alias"), &["a@example.com".into(), "x@far.test".into()])
        .await
        .expect("alias");
    let report = b"Subject: report\r\n\r\nx\r\n".to_vec();
    crate::send_system_mail(s, "sales@example.com", "", report.clone(), "test").await.expect("to the alias");
    let inbox = s.mailboxes(a.id).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("INBOX");
    assert_eq!(s.messages(inbox.id).await.expect("messages").len(), 1, "the alias's local target");
    let queue = s.queued().await.expect("queue");
    assert_eq!(queue[0].recipients[0].address, "x@far.test", "and its remote one");
    assert_eq!(queue[0].sender, "", "a report has the null sender");
    assert!(crate::send_system_mail(s, "nobody@example.com", "", report, "test").await.is_err());
}

pub async fn folders_rename_delete_copy_move(s: &dyn Store) {
    let (a, _) = setup(s).await;
    let find =
        |name: &'static str| async move { s.mailboxes(a.id).await.expect("mb").into_iter().find(|m| m.name == name) };
    s.create_mailbox(a.id, "Clients").await.expect("create");
    s.create_mailbox(a.id, "Clients/Lisbon").await.expect("create child");
    assert!(!s.subscriptions(a.id).await.expect("subs").contains(&"Clients".to_string()), "CREATE subscribes nothing");
    s.set_subscribed(a.id, "Clients", true).await.expect("subscribe");
    s.rename_mailbox(a.id, "Clients", "Customers").await.expect("rename");
    assert!(find("Customers/Lisbon").await.is_some(), "children follow");
    assert!(find("Clients").await.is_none());
    assert!(matches!(s.rename_mailbox(a.id, "Customers", "Sent").await, Err(StoreError::Conflict(_))));
    // Issue 12: a child's new name taken (r/q left behind by DELETE r) is a
    // conflict, refused before anything moves.
    for name in ["p", "p/q"] {
        s.create_mailbox(a.id, name).await.expect("create");
    }
    s.rename_mailbox(a.id, "p", "r").await.expect("rename p");
    s.delete_mailbox(a.id, "r").await.expect("delete r, r/q stays");
    for name in ["p", "p/q"] {
        s.create_mailbox(a.id, name).await.expect("create again");
    }
    assert!(matches!(s.rename_mailbox(a.id, "p", "r").await, Err(StoreError::Conflict(_))));
    let names: Vec<String> = s.mailboxes(a.id).await.expect("list").into_iter().map(|m| m.name).collect();
    assert!(names.contains(&"p".into()) && names.contains(&"p/q".into()) && names.contains(&"r/q".into()), "{names:?}");

    s.deliver(delivery(message(8, 100), vec![inbox(a.id)])).await.expect("deliver");
    s.deliver(delivery(message(9, 100), vec![inbox(a.id)])).await.expect("deliver");
    let inbox_box = find("INBOX").await.expect("inbox");
    let customers = find("Customers").await.expect("customers");
    let pairs = s.copy_messages(inbox_box.id, &[1, 2, 77], customers.id, false).await.expect("copy");
    assert_eq!(pairs, vec![(1, 1), (2, 2)]);
    let moved = s.copy_messages(inbox_box.id, &[1], customers.id, true).await.expect("move");
    assert_eq!(moved, vec![(1, 3)]);
    assert_eq!(find("INBOX").await.expect("inbox").messages, 1);
    assert_eq!(find("Customers").await.expect("c").messages, 3);
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.blobs, 2, "copies share bodies");

    s.rename_mailbox(a.id, "INBOX", "Old Inbox").await.expect("rename INBOX");
    assert_eq!(find("INBOX").await.expect("inbox").messages, 0, "INBOX stays, empty");
    assert_eq!(find("Old Inbox").await.expect("old").messages, 1);
    s.set_subscribed(a.id, "Old Inbox", false).await.expect("unsubscribe");
    assert!(!find("Old Inbox").await.expect("old").subscribed);
    s.delete_mailbox(a.id, "Customers").await.expect("delete");
    assert!(find("Customers").await.is_none());
    assert!(s.delete_mailbox(a.id, "INBOX").await.is_err());
    // A subscription outlives its mailbox until unsubscribed.
    let subs = s.subscriptions(a.id).await.expect("subscriptions");
    assert!(subs.contains(&"Customers".to_string()) && !subs.contains(&"Old Inbox".to_string()), "{subs:?}");
    s.set_subscribed(a.id, "Customers", false).await.expect("unsubscribe a deleted mailbox");
    assert!(!s.subscriptions(a.id).await.expect("subs").contains(&"Customers".to_string()));
    assert!(matches!(s.set_subscribed(a.id, "Nowhere", true).await, Err(StoreError::NotFound(_))));
    // RENAME creates missing parents, moves subscriptions along, and never
    // moves a mailbox inside itself.
    s.rename_mailbox(a.id, "Old Inbox", "Archive/2026/Old").await.expect("rename deep");
    assert!(find("Archive/2026").await.is_some() && find("Archive/2026/Old").await.is_some());
    s.create_mailbox(a.id, "Quotes").await.expect("create");
    s.create_mailbox(a.id, "Quotes/EU").await.expect("create child");
    s.set_subscribed(a.id, "Quotes/EU", true).await.expect("subscribe");
    assert!(matches!(s.rename_mailbox(a.id, "Quotes", "Quotes/EU/x").await, Err(StoreError::Invalid(_))));
    s.rename_mailbox(a.id, "Quotes", "Offers").await.expect("rename with child");
    let subs = s.subscriptions(a.id).await.expect("subs");
    assert!(subs.contains(&"Offers/EU".to_string()) && !subs.iter().any(|n| n.starts_with("Quotes")), "{subs:?}");
    assert!(find("Offers/EU").await.expect("child moved").subscribed);
    let report = s.check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.messages, 1);
}

/// SORT by the keys stored with each message (RFC 5256 §3, RFC 5957): every
/// criterion, REVERSE on its own criterion only, ties by UID; a copy sorts
/// as its original, an expunged message is gone; THREAD's keys.
pub async fn sort_follows_the_stored_keys(s: &dyn Store) {
    use crate::sort_keys::{SortCriterion, SortKey};
    let (a, _) = setup(s).await;
    // (subject, Date, From, To, Cc, internal date, body padding)
    let messages = [
        ("b", "Mon, 01 Jan 2001 00:01:33 +0000", "Zed <zed@a.example>", "Zoe <Bob@x>", "", 5, 0),
        ("Re: a", "Sun, 31 Dec 2000 16:01:33 -0800", "mary@x", "alice@x", "carl@x", 4, 40),
        ("B (fwd)", "Sun, 31 Dec 2000 23:00:00 +0000", "Aaron <aaa@x>", "", "", 3, 0),
        ("[list] A", "not a date", "Mary <Mary@z>", "B <z@x>", "", 978_303_600, 90),
        ("", "", "", "", "", 978_400_000, 10),
    ];
    for (subject, date, from, to, cc, internal_date, pad) in messages {
        let mut raw = String::new();
        for (name, value) in [("Subject", subject), ("Date", date), ("From", from), ("To", to), ("Cc", cc)] {
            if !value.is_empty() {
                raw.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        raw.push_str(&format!("\r\n{}\r\n", "x".repeat(pad)));
        let d = Delivery { internal_date, ..delivery(Arc::new(raw.into_bytes()), vec![inbox(a.id)]) };
        s.deliver(d).await.expect("deliver");
    }
    let mb = s.mailboxes(a.id).await.expect("mb").into_iter().find(|m| m.name == "INBOX").expect("inbox");
    let sorted = |criteria: &'static str| async move {
        let criteria: Vec<SortCriterion> = criteria
            .split(' ')
            .scan(false, |reverse, word| {
                Some(match word {
                    "REVERSE" => {
                        *reverse = true;
                        None
                    }
                    _ => {
                        let key = SortKey::from_name(word).expect("a sort key");
                        Some(SortCriterion { key, reverse: std::mem::take(reverse) })
                    }
                })
            })
            .flatten()
            .collect();
        s.sorted_uids(mb.id, &criteria).await.expect("sort")
    };
    // 1 and 2 are the same instant: UID order, also when reversed; 4's date
    // is its INTERNALDATE, 5 has none but its INTERNALDATE.
    assert_eq!(sorted("DATE").await, [3, 4, 1, 2, 5]);
    assert_eq!(sorted("REVERSE DATE").await, [5, 1, 2, 3, 4]);
    assert_eq!(sorted("ARRIVAL").await, [3, 2, 1, 4, 5]);
    // Base subjects, case-mapped: "", A, A, B, B.
    assert_eq!(sorted("SUBJECT").await, [5, 2, 4, 1, 3]);
    assert_eq!(sorted("SUBJECT REVERSE SIZE").await, [5, 4, 2, 1, 3]);
    assert_eq!(sorted("REVERSE SUBJECT SIZE").await, [3, 1, 2, 4, 5]);
    // Missing is the empty string, first; "Mary" and "mary" tie: UID.
    assert_eq!(sorted("FROM").await, [5, 3, 2, 4, 1]);
    assert_eq!(sorted("TO").await, [3, 5, 2, 1, 4]);
    assert_eq!(sorted("CC").await, [1, 3, 4, 5, 2]);
    assert_eq!(sorted("DISPLAYFROM").await, [5, 3, 4, 2, 1]);
    assert_eq!(sorted("DISPLAYTO").await, [3, 5, 2, 4, 1]);

    // A copy sorts as its original; an expunged message is gone.
    let other = s.create_mailbox(a.id, "Other").await.expect("create");
    let pairs = s.copy_messages(mb.id, &[1, 3], other.id, false).await.expect("copy");
    let new = |old: u32| pairs.iter().find(|p| p.0 == old).expect("copied").1;
    let by_date = [SortCriterion { key: SortKey::Date, reverse: false }];
    assert_eq!(s.sorted_uids(other.id, &by_date).await.expect("sort"), [new(3), new(1)]);
    s.expunge(mb.id, &[3]).await.expect("expunge");
    assert_eq!(sorted("DATE").await, [4, 1, 2, 5]);

    let threads = s.thread_keys(mb.id).await.expect("thread keys");
    assert_eq!(threads.iter().map(|(uid, _)| *uid).collect::<Vec<_>>(), [1, 2, 4, 5]);
    let (_, two) = &threads[1];
    assert_eq!((two.subject.as_str(), two.reply, two.date), ("A", true, 978_307_293));
}

/// Filter rules: added once per (kind, pattern, scope), listed, removed;
/// each change moves the generation other processes watch.
pub async fn filter_rules_and_generation(s: &dyn Store) {
    use crate::filter_data::FilterRule;
    let rule = |kind: &str, pattern: &str, scope: &str| FilterRule {
        id: 0,
        kind: kind.into(),
        pattern: pattern.into(),
        scope: scope.into(),
        place: None,
        action: None,
        created: 1,
    };
    let g0 = s.filter_generation().await.expect("generation");
    let added = s.add_filter_rule(rule("block", "@bad.test", "")).await.expect("add");
    assert!(added.id > 0);
    s.add_filter_rule(rule("block", "@bad.test", "a@example.com")).await.expect("same pattern, other scope");
    let dup = s.add_filter_rule(rule("block", "@bad.test", "")).await;
    assert!(matches!(dup, Err(crate::StoreError::Conflict(_))), "{dup:?}");
    let g1 = s.filter_generation().await.expect("generation");
    assert!(g1 > g0);
    assert_eq!(s.filter_rules().await.expect("rules").len(), 2);
    s.del_filter_rule("block", "@bad.test", "").await.expect("del");
    assert!(s.del_filter_rule("block", "@bad.test", "").await.is_err(), "gone");
    assert!(s.filter_generation().await.expect("generation") > g1);
    assert_eq!(s.filter_rules().await.expect("rules")[0].scope, "a@example.com");
}

/// Learning keeps a message once per kind with its features, changes its
/// label when it is learnt as the other kind, and keeps scopes apart.
pub async fn spam_examples_per_scope(s: &dyn Store) {
    use crate::filter_data::Learn;
    let learn = |digest: &str, spam: bool| Learn { digest: digest.into(), spam, features: vec![1, 2, 300, u32::MAX] };
    let r = s.spam_learn(0, vec![learn("m1", true), learn("m2", true), learn("m1", true)]).await.expect("learn");
    assert_eq!((r.learnt, r.unchanged), (2, 1));
    let c = s.spam_examples(0).await.expect("examples");
    assert_eq!((c.spam_messages, c.ham_messages), (2, 0));
    assert_eq!(c.examples.len(), 2, "m1 once");
    assert!(c.examples.iter().all(|(spam, f)| *spam && f == &vec![1, 2, 300, u32::MAX]), "features survive");
    let r = s.spam_learn(0, vec![learn("m1", false)]).await.expect("relearn");
    assert_eq!(r.relearnt, 1);
    let c = s.spam_examples(0).await.expect("examples");
    assert_eq!((c.spam_messages, c.ham_messages), (1, 1));
    assert_eq!(c.examples.iter().map(|e| e.0).collect::<Vec<_>>(), vec![false, true], "ordered by digest");
    assert!(s.spam_examples(7).await.expect("other scope").examples.is_empty());
    // The fingerprint: of the set, the same without the features, and
    // moved by a label.
    use crate::filter_data::{example_hash, pack_features};
    let summary = s.spam_examples_summary(0).await.expect("summary");
    assert!(summary.examples.is_empty());
    assert_eq!((summary.spam_messages, summary.ham_messages, summary.generation), (1, 1, c.generation));
    let packed = pack_features(&[1, 2, 300, u32::MAX]);
    assert_eq!(summary.fingerprint, c.fingerprint);
    assert_eq!(c.fingerprint, example_hash(false, &packed).wrapping_add(example_hash(true, &packed)));
    s.spam_learn(0, vec![learn("m1", true)]).await.expect("relearn");
    assert_ne!(s.spam_examples_summary(0).await.expect("summary").fingerprint, c.fingerprint);
    assert_eq!(s.spam_examples_summary(7).await.expect("other scope").fingerprint, 0);
    let g = s.spam_generations(&[0, 7]).await.expect("generations");
    assert!(g[0] > 0 && g[1] == 0, "{g:?}");
}

/// Past `keep` examples of a kind, the ones learnt longest ago are
/// forgotten (a message learnt again as the other kind counts as new);
/// the totals follow and the generation moves only when some were.
pub async fn spam_examples_forget_the_oldest(s: &dyn Store) {
    use crate::filter_data::Learn;
    let learn = |digest: &str, spam: bool| Learn { digest: digest.into(), spam, features: vec![digest.len() as u32] };
    // Digests out of alphabetical order: age, not name, decides.
    for d in ["s5", "s1", "s4"] {
        s.spam_learn(0, vec![learn(d, true)]).await.expect("learn");
    }
    s.spam_learn(0, vec![learn("s2", true), learn("h1", false), learn("h2", false)]).await.expect("learn");
    s.spam_learn(0, vec![learn("s5", false)]).await.expect("s5 becomes the newest ham");
    s.spam_learn(3, vec![learn("u1", true), learn("u2", true), learn("u3", true)]).await.expect("another scope");
    let g = s.spam_generations(&[0]).await.expect("generation")[0];
    assert_eq!(s.spam_trim(0, 3).await.expect("trim"), (0, 0), "3 spam (s1 s4 s2), 3 ham (h1 h2 s5)");
    assert_eq!(s.spam_generations(&[0]).await.expect("generation")[0], g, "nothing forgotten, same model");
    assert_eq!(s.spam_trim(0, 2).await.expect("trim"), (1, 1));
    let e = s.spam_examples(0).await.expect("examples");
    assert_eq!((e.spam_messages, e.ham_messages), (2, 2));
    assert_eq!(e.examples.len(), 4);
    assert!(s.spam_generations(&[0]).await.expect("generation")[0] > g);
    // s1 (spam) and h1 (ham) were the oldest: learning them again is new.
    let r = s.spam_learn(0, vec![learn("s1", true), learn("h1", false), learn("s4", true)]).await.expect("learn");
    assert_eq!((r.learnt, r.unchanged), (2, 1), "s1 and h1 forgotten, s4 kept");
    assert_eq!(s.spam_examples(3).await.expect("other scope").examples.len(), 3, "scopes apart");
    // Within one batch, the order of learning decides (not the digests').
    s.spam_learn(5, vec![learn("b3", true), learn("b1", true), learn("b2", true)]).await.expect("batch");
    assert_eq!(s.spam_trim(5, 2).await.expect("trim"), (1, 0));
    let r = s.spam_learn(5, vec![learn("b3", true)]).await.expect("learn");
    assert_eq!(r.learnt, 1, "b3, learnt first, was forgotten");
    let r = s.spam_learn(5, vec![learn("b1", true), learn("b2", true)]).await.expect("learn");
    assert_eq!(r.unchanged, 2, "b1 and b2 were kept");
}

/// Moving into Junk queues "spam", out of Junk "not spam" (but not into
/// the Trash), and so do $Junk / $NotJunk and an APPEND into Junk; the
/// filter's own Junk deliveries queue nothing.
pub async fn junk_moves_are_queued_for_learning(s: &dyn Store) {
    let (a, _) = setup(s).await;
    let boxes = s.mailboxes(a.id).await.expect("mailboxes");
    let id = |name: &str| boxes.iter().find(|m| m.name == name).expect(name).id;
    let (inbox_id, junk, trash) = (id("INBOX"), id("Junk"), id("Trash"));
    let to_junk = Target::new(a.id, MailboxTarget::Special(SpecialUse::Junk));
    s.deliver(delivery(message(1, 100), vec![inbox(a.id)])).await.expect("deliver");
    s.deliver(delivery(message(2, 100), vec![to_junk.clone()])).await.expect("filter's junk");
    assert!(s.spam_learn_jobs(10).await.expect("jobs").is_empty(), "the filter's verdicts are not learnt");
    s.copy_messages(inbox_id, &[1], junk, true).await.expect("move to junk");
    let jobs = s.spam_learn_jobs(10).await.expect("jobs");
    assert_eq!(jobs.iter().map(|j| (j.account, j.spam)).collect::<Vec<_>>(), vec![(a.id, true)]);
    s.spam_learn_done(&[jobs[0].id]).await.expect("done");
    s.copy_messages(junk, &[1], inbox_id, true).await.expect("back out of junk");
    s.copy_messages(junk, &[2], trash, false).await.expect("junk to trash");
    s.set_flags(inbox_id, &[2], Flags::default(), &["$Junk".into()], FlagMode::Add).await.expect("$Junk");
    // $NotJunk in the INBOX (a client tagging its own verdicts) says nothing.
    s.set_flags(inbox_id, &[2], Flags::default(), &["$NotJunk".into()], FlagMode::Add).await.expect("$NotJunk");
    s.deliver(delivery(message(3, 100), vec![Target { user_filed: true, ..to_junk }])).await.expect("append");
    // $NotJunk on a message in Junk: the user rescues it.
    let junk_uid = s.messages(junk).await.expect("junk").last().expect("appended").uid;
    s.set_flags(junk, &[junk_uid], Flags::default(), &["$NotJunk".into()], FlagMode::Add).await.expect("rescue");
    let kinds: Vec<bool> = s.spam_learn_jobs(10).await.expect("jobs").iter().map(|j| j.spam).collect();
    assert_eq!(kinds, vec![false, true, true, false], "out of junk, $Junk, append, $NotJunk in Junk");
}

/// Greylisting: new triples wait, come back after the delay and pass, are
/// remembered for the lifetime, start again when retried too late, and a
/// client with `auto_allow` passes (one an hour at most) waits no more.
pub async fn greylist_triples(s: &dyn Store) {
    use crate::filter_data::GreyPolicy;
    let p = GreyPolicy { delay: 300, lifetime: 3000, retry_window: 1000, auto_allow: 0 };
    assert_eq!(s.greylist("n1", "n1 t1", 1000, p).await.expect("first"), Some(300));
    assert_eq!(s.greylist("n1", "n1 t1", 1100, p).await.expect("too soon"), Some(200));
    assert_eq!(s.greylist("n1", "n1 t2", 1100, p).await.expect("another"), Some(300));
    assert_eq!(s.greylist("n1", "n1 t1", 1300, p).await.expect("after the delay"), None);
    // t2 came back after the delay and the retry window: it waits again.
    assert_eq!(s.greylist("n1", "n1 t2", 2401, p).await.expect("too late"), Some(300));
    assert_eq!(s.greylist("n1", "n1 t2", 2701, p).await.expect("retried in time"), None);
    assert_eq!(s.greylist("n1", "n1 t1", 4000, p).await.expect("remembered"), None);
    assert_eq!(s.greylist("n1", "n1 t1", 7001, p).await.expect("forgotten"), Some(300));
    // Auto-allowing at 2 passes: a pass counts once an hour at most.
    let auto = GreyPolicy { delay: 300, lifetime: 100_000, retry_window: 1000, auto_allow: 2 };
    let at = |t: &'static str, now: i64| async move { s.greylist(&t[..2], t, now, auto).await.expect("greylist") };
    assert_eq!((at("c1 a", 10_000).await, at("c1 a", 10_300).await), (Some(300), None), "the first pass");
    assert_eq!((at("c1 b", 10_400).await, at("c1 b", 10_700).await), (Some(300), None), "in the same hour");
    assert_eq!(at("c1 c", 10_800).await, Some(300), "one pass so far");
    assert_eq!(at("c1 b", 13_950).await, None, "passing again does not count");
    assert_eq!(at("c1 c", 13_960).await, Some(300), "still one");
    assert_eq!((at("c1 d", 14_000).await, at("c1 d", 14_300).await), (Some(300), None), "an hour later: two");
    assert_eq!(at("c1 e", 14_400).await, None, "an allowed client");
    assert_eq!(at("c2 e", 14_400).await, Some(300), "another client");
    let off = GreyPolicy { auto_allow: 0, ..auto };
    assert_eq!(s.greylist("c1", "c1 x", 14_500, off).await.expect("off"), Some(300), "auto-allowing off");
    // Its use keeps it allowed (refreshed every lifetime/2 here); after a
    // lifetime unheard of it is forgotten.
    assert_eq!(at("c1 f", 70_000).await, None, "allowed, refreshed");
    assert_eq!(at("c1 g", 150_000).await, None, "allowed thanks to the refresh, refreshed again");
    assert_eq!(at("c1 h", 250_001).await, Some(300), "forgotten");
    // Absurd settings do not overflow.
    let huge = GreyPolicy { delay: 300, lifetime: i64::MAX / 4, retry_window: i64::MAX, auto_allow: 1 };
    assert_eq!(s.greylist("c3", "c3 a", 300_000, huge).await.expect("huge"), Some(300));
    assert_eq!(s.greylist("c3", "c3 a", 300_300, huge).await.expect("huge"), None);
}

/// Known correspondents: noted per account, the latest time kept, the
/// oldest forgotten past `keep` or by age, and gone with the account.
pub async fn correspondents_are_noted_per_account(s: &dyn Store) {
    s.add_domain("example.com").await.expect("domain");
    let a = s.add_user(new_user("a@example.com", None)).await.expect("user a").id;
    let b = s.add_user(new_user("b@example.com", None)).await.expect("user b").id;
    let list = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    s.note_correspondents(a, &list(&["buyer@far.test", "agent@port.test"]), 100, 3, 0).await.expect("note");
    assert_eq!(s.correspondent(a, "buyer@far.test").await.expect("read"), Some(100));
    assert_eq!(s.correspondent(b, "buyer@far.test").await.expect("read"), None, "per account");
    // An older time does not move it back.
    s.note_correspondents(a, &list(&["buyer@far.test"]), 90, 3, 0).await.expect("note");
    assert_eq!(s.correspondent(a, "buyer@far.test").await.expect("read"), Some(100));
    s.note_correspondents(a, &list(&["buyer@far.test", "new@one.test"]), 200, 3, 0).await.expect("note");
    s.note_correspondents(a, &list(&["other@two.test"]), 300, 3, 0).await.expect("note");
    // Four addresses, three kept: the one written to longest ago goes.
    assert_eq!(s.correspondent(a, "agent@port.test").await.expect("read"), None, "forgotten");
    for kept in ["buyer@far.test", "new@one.test", "other@two.test"] {
        assert!(s.correspondent(a, kept).await.expect("read").is_some(), "{kept}");
    }
    // Those not written to since `forget_before` are forgotten.
    s.note_correspondents(a, &list(&["late@three.test"]), 1000, 10, 250).await.expect("note");
    assert_eq!(s.correspondent(a, "buyer@far.test").await.expect("read"), None, "too old");
    assert_eq!(s.correspondent(a, "other@two.test").await.expect("read"), Some(300));
    assert_eq!(s.correspondent(a, "late@three.test").await.expect("read"), Some(1000));
    s.note_correspondents(b, &list(&["buyer@far.test"]), 50, 3, 0).await.expect("note");
    s.del_user(&addr("a@example.com")).await.expect("del a");
    let again = s.add_user(new_user("a@example.com", None)).await.expect("user a again").id;
    assert_eq!(s.correspondent(a, "buyer@far.test").await.expect("read"), None, "gone with the account");
    assert_eq!(s.correspondent(again, "buyer@far.test").await.expect("read"), None);
    assert_eq!(s.correspondent(b, "buyer@far.test").await.expect("read"), Some(50), "b keeps theirs");
}

pub async fn quarantine_holds_lists_releases_and_expires(s: &dyn Store) {
    use crate::quarantine::{HeldKind, NewHeld};
    let held = |n: i64, kind| NewHeld {
        kind,
        reason: format!("reason {n}"),
        sender: "x@remote.test".into(),
        recipients: vec!["alice@example.com".into(), "bob@example.com".into(), "partner@far.test".into()],
        via: [("partner@far.test".to_string(), vec!["orders@example.com".to_string()])].into(),
        // Alice's copy has a verdict of its own; bob's has none: his
        // reason is only the kind of hold, never the message's (which
        // may list alice's).
        verdicts: [(
            "alice@example.com".to_string(),
            crate::HeldVerdict {
                reason: format!("alice's rule {n}"),
                fields: "X-Spam-Status: Yes, score=9.0\r\n".into(),
                ..Default::default()
            },
        )]
        .into(),
        subject: format!("subject {n}"),
        raw: Arc::new(format!("Subject: subject {n}\r\n\r\nbody {n}\r\n").into_bytes()),
        created: 1000 * n,
        message_id: Some(format!("<held{n}@remote.test>")),
        session: None,
    };
    let a = s.hold(held(1, HeldKind::Virus)).await.expect("hold");
    let b = s.hold(held(2, HeldKind::Suspicious)).await.expect("hold");
    let list = s.held().await.expect("list");
    assert_eq!(list.iter().map(|h| h.id).collect::<Vec<_>>(), [b, a], "newest first");
    let logged = s
        .events(EventQuery { message_id: Some("<held1@remote.test>".into()), ..Default::default() })
        .await
        .expect("events");
    assert_eq!(logged.len(), 3, "one event per recipient: {logged:?}");
    let q = |kind| EventQuery { recipient: Some("alice@example.com".into()), kind: Some(kind), ..Default::default() };
    assert_eq!(s.events(q(EventKind::Quarantined)).await.expect("events").len(), 2);
    assert!(s.events(q(EventKind::Rejected)).await.expect("events").is_empty(), "only the kind asked");
    assert!(logged.iter().all(|e| e.kind == EventKind::Quarantined), "{logged:?}");
    // Each recipient's event says its own reason, and no other's.
    for e in &logged {
        let own = match e.recipient.as_deref() {
            Some("alice@example.com") => "alice's rule 1",
            _ => "held for a virus",
        };
        assert!(e.detail.ends_with(&format!(": {own}")), "{e:?}");
    }
    assert_eq!(list[1].kind, HeldKind::Virus);
    assert_eq!(list[1].recipients, ["alice@example.com", "bob@example.com", "partner@far.test"]);
    assert_eq!(list[1].via.get("partner@far.test"), Some(&vec!["orders@example.com".to_string()]), "its alias");
    assert_eq!(list[1].via.len(), 1);
    assert_eq!(list[1].verdicts.len(), 1);
    assert_eq!(list[1].reason_for(&["alice@example.com".into()]), "alice's rule 1");
    assert_eq!(list[1].fields_of("alice@example.com"), "X-Spam-Status: Yes, score=9.0\r\n");
    assert_eq!(list[1].reason_for(&["bob@example.com".into()]), "held for a virus");
    assert_eq!((list[1].size, list[1].notified), (30, false));
    let (h, raw) = s.held_message(a).await.expect("read").expect("there");
    assert_eq!((h.subject.as_str(), raw.as_slice()), ("subject 1", &b"Subject: subject 1\r\n\r\nbody 1\r\n"[..]));
    s.mark_held_notified(vec![a]).await.expect("mark");
    assert!(s.held().await.expect("list").iter().any(|h| h.id == a && h.notified));
    // One release at a time; a claim left by a crash expires.
    assert!(s.claim_held(b, 5000, 600).await.expect("claim"));
    assert!(!s.claim_held(b, 5100, 600).await.expect("claimed already"));
    s.unclaim_held(b).await.expect("unclaim");
    assert!(s.claim_held(b, 5200, 600).await.expect("claim again"));
    assert!(s.claim_held(b, 6000, 600).await.expect("a stale claim is taken over"));
    // Released to one recipient: the others keep it; the last takes it away.
    let c = s.hold(held(3, HeldKind::Spam)).await.expect("hold");
    assert_eq!(s.drop_held_recipient(c, "ALICE@example.com").await.expect("drop"), Some(2));
    assert_eq!(s.drop_held_recipient(c, "partner@far.test").await.expect("drop"), Some(1));
    let left = s.held().await.expect("list").into_iter().find(|h| h.id == c).expect("still held");
    assert_eq!(left.recipients, ["bob@example.com"]);
    assert!(left.via.is_empty(), "the alias went with its recipient");
    assert!(left.verdicts.is_empty(), "alice's verdict went with her");
    assert_eq!(s.drop_held_recipient(c, "bob@example.com").await.expect("drop"), Some(0));
    assert!(s.held_message(c).await.expect("read").is_none(), "gone with its last recipient");
    assert_eq!(s.drop_held_recipient(c, "bob@example.com").await.expect("drop"), None);
    assert_eq!(s.expire_held(1500).await.expect("expire"), 1);
    assert!(s.held_message(a).await.expect("read").is_none());
    assert!(s.unhold(b).await.expect("del"));
    assert!(!s.unhold(b).await.expect("del again"));
    assert!(s.held().await.expect("list").is_empty());
    // Held messages are in no mailbox: nobody's quota.
    assert!(s.get_user(&addr("alice@example.com")).await.expect("user").is_none_or(|u| u.used == 0));
}

pub async fn settings_per_scope_and_reply_once(s: &dyn Store) {
    use crate::settings::{account_scope, domain_scope};
    let (a, b) = setup(s).await;
    let (sa, sb) = (account_scope(a.id), account_scope(b.id));
    s.put_setting(&sa, "signature", "work", "{\"text\":\"A\"}").await.expect("put");
    s.put_setting(&sa, "signature", "cn", "{}").await.expect("put");
    s.put_setting(&sb, "signature", "work", "{\"text\":\"B\"}").await.expect("put");
    s.put_setting(&domain_scope("Example.com"), "footer", "", "legal").await.expect("put");
    let mine = s.settings(&sa, "signature").await.expect("list");
    assert_eq!(mine, vec![("cn".into(), "{}".into()), ("work".into(), "{\"text\":\"A\"}".into())]);
    // Replacing keeps one row.
    s.put_setting(&sa, "signature", "work", "{\"text\":\"A2\"}").await.expect("put");
    assert_eq!(s.settings(&sa, "signature").await.expect("list")[1].1, "{\"text\":\"A2\"}");
    assert_eq!(s.settings(&domain_scope("example.com"), "footer").await.expect("list")[0].1, "legal");
    assert!(s.add_setting("server", "secret", "srs", "first").await.expect("add"));
    assert!(!s.add_setting("server", "secret", "srs", "second").await.expect("add"), "kept");
    assert_eq!(s.settings("server", "secret").await.expect("list")[0].1, "first");
    assert!(s.del_setting(&sa, "signature", "cn").await.expect("del"));
    assert!(!s.del_setting(&sa, "signature", "cn").await.expect("del"));
    assert!(s.settings(&sa, "rule").await.expect("list").is_empty());
    // Once per sender per period, case-insensitively.
    assert!(s.claim_reply(&sa, "Buyer@far.test", 1000, 7 * 86400).await.expect("claim"));
    assert!(!s.claim_reply(&sa, "buyer@far.test", 2000, 7 * 86400).await.expect("claim"));
    assert!(s.claim_reply(&sb, "buyer@far.test", 2000, 7 * 86400).await.expect("claim"), "per account");
    assert!(s.claim_reply(&sa, "buyer@far.test", 1000 + 7 * 86400, 7 * 86400).await.expect("claim"));
    // Deleting an account deletes its settings.
    s.del_user(&Address::parse(&a.address).expect("address")).await.expect("del user");
    assert!(s.settings(&sa, "signature").await.expect("list").is_empty());
    assert_eq!(s.settings(&sb, "signature").await.expect("list").len(), 1);
}

/// Protocol switches: a domain's setting is what its new accounts get;
/// an account's own switches and phone number are kept and changed alone.
pub async fn protocol_switches_and_phone(s: &dyn Store) {
    s.add_domain("example.com").await.expect("domain");
    let before = s.add_user(new_user("old@example.com", None)).await.expect("user");
    assert_eq!(before.protocols, Protocols::default(), "everything on by default");
    let pop3_off = Protocols { pop3: false, ..Protocols::default() };
    s.set_domain_protocols("example.com", pop3_off).await.expect("domain default");
    assert_eq!(s.list_domains().await.expect("domains")[0].protocols, pop3_off);
    let new = s.add_user(new_user("new@example.com", None)).await.expect("user");
    assert_eq!(new.protocols, pop3_off, "a new account gets the domain's");
    let old = s.get_user(&addr("old@example.com")).await.expect("get").expect("old");
    assert_eq!(old.protocols, Protocols::default(), "existing accounts keep theirs");
    let smtp_off = Protocols { smtp: false, imap: true, pop3: true };
    let u = s
        .update_user(
            &addr("old@example.com"),
            UserUpdate { protocols: Some(smtp_off), phone: Some(Some("+8613800138000".into())), ..Default::default() },
        )
        .await
        .expect("update");
    assert_eq!((u.protocols, u.phone.as_deref()), (smtp_off, Some("+8613800138000")));
    let u = s
        .update_user(&addr("old@example.com"), UserUpdate { name: Some("Old".into()), ..Default::default() })
        .await
        .expect("update");
    assert_eq!((u.protocols, u.phone.as_deref()), (smtp_off, Some("+8613800138000")), "other changes keep them");
    let u = s
        .update_user(&addr("old@example.com"), UserUpdate { phone: Some(None), ..Default::default() })
        .await
        .expect("update");
    assert_eq!(u.phone, None);
    assert_eq!(u.role, Role::User, "a user by default");
    let u = s
        .update_user(&addr("old@example.com"), UserUpdate { role: Some(Role::DomainAdmin), ..Default::default() })
        .await
        .expect("update");
    assert_eq!((u.role, u.protocols), (Role::DomainAdmin, smtp_off));
    assert!(s.set_domain_protocols("nowhere.test", smtp_off).await.is_err());
    for bits in 0..8 {
        assert_eq!(Protocols::from_off_bits(bits).off_bits(), bits);
    }
}

pub async fn leases_and_windowed_counts(s: &dyn Store) {
    // A lease is exclusive until it ends; its holder may extend it.
    assert!(s.take_lease("pop3:1", "node-a/1", 100, 200).await.expect("take"));
    assert!(!s.take_lease("pop3:1", "node-b/7", 150, 250).await.expect("taken"), "held by another");
    assert_eq!(s.lease_until("pop3:1", 150).await.expect("until"), Some(200));
    assert!(s.take_lease("pop3:1", "node-a/1", 150, 300).await.expect("extend"), "the holder extends it");
    assert_eq!(s.lease_until("pop3:1", 250).await.expect("until"), Some(300));
    assert!(s.take_lease("pop3:1", "node-b/7", 300, 400).await.expect("lapsed"), "a lapsed lease is free");
    s.release_lease("pop3:1", "node-a/1").await.expect("release by a former holder");
    assert_eq!(s.lease_until("pop3:1", 350).await.expect("until"), Some(400), "only the holder releases");
    s.release_lease("pop3:1", "node-b/7").await.expect("release");
    assert_eq!(s.lease_until("pop3:1", 350).await.expect("until"), None);
    assert!(s.take_lease("pop3:1", "node-a/2", 350, 450).await.expect("free again"));
    // Counts within a sliding window, up to a limit.
    assert_eq!(s.add_events("send:a", 3, 5, 1000, 3600).await.expect("add"), Some(3));
    assert_eq!(s.add_events("send:a", 2, 5, 1100, 3600).await.expect("add"), Some(5));
    assert_eq!(s.add_events("send:a", 1, 5, 1200, 3600).await.expect("over"), None, "over the limit: not counted");
    assert_eq!(s.add_events("send:b", 1, 5, 1200, 3600).await.expect("other name"), Some(1));
    assert_eq!(
        s.add_events("send:a", 1, 5, 4601, 3600).await.expect("window moved"),
        Some(3),
        "the first 3 left the window"
    );
}
