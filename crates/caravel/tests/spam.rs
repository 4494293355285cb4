//! The spam filter end to end: rules and training through the `caravel`
//! binary, mail through smtplib, verdicts seen and Junk moves made with
//! imaplib (tests/clients/spam_scenarios.py), against a running server.

mod common;

use std::process::Command;

use caravel::testing::TestServer;
use caravel_store::{EventKind, EventQuery};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/spam_scenarios.py");
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/spam-sample");

async fn scenario(t: &TestServer, name: &str) {
    common::python_scenario(SCENARIOS, name, t, vec![]).await;
}

/// Runs `caravel ARGS` against the running server's store (with its
/// `[spam]` settings); returns stdout.
fn admin(t: &TestServer, args: &[&str]) -> String {
    admin_with(t, "", args)
}

/// `admin`, with more `[spam]` settings.
fn admin_with(t: &TestServer, spam: &str, args: &[&str]) -> String {
    let config = t.dir.path().join("spam-admin.toml");
    let text =
        format!("data_dir = {:?}\n[listen]\n[spam]\nmin_messages = {}\n{spam}\n", t.config.data_dir, MIN_MESSAGES);
    std::fs::write(&config, text).expect("config");
    let out = Command::new(common::BIN).arg("--config").arg(&config).args(args).output().expect("caravel");
    assert!(out.status.success(), "caravel {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The sample's message files of one kind.
fn sample(kind: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(format!("{SAMPLE}/{kind}"))
        .expect("sample")
        .map(|e| e.expect("entry").path().display().to_string())
        .collect();
    files.sort();
    files
}

/// The sample is small: the classifier may speak after 10 of each kind.
const MIN_MESSAGES: u32 = 10;

async fn start() -> TestServer {
    TestServer::start_with(|c| c.spam.min_messages = MIN_MESSAGES).await
}

#[tokio::test(flavor = "multi_thread")]
async fn keyword_rules_lists_and_verdicts_per_recipient() {
    let t = start().await;
    admin(&t, &["filter", "keyword", "add", "促销", "--where", "subject", "--action", "junk"]);
    admin(&t, &["filter", "block", "add", "Spammer@Bad.test"]);
    admin(&t, &["filter", "block", "add", "@evil.test", "--user", "bob@example.test"]);
    admin(&t, &["alias", "add", "team@example.test", "alice@example.test", "bob@example.test"]);
    admin(&t, &["filter", "allow", "add", "*.partner.test", "--user", "alice@example.test"]);
    admin(&t, &["filter", "keyword", "add", "zircon offer", "--user", "bob@example.test", "--action", "junk"]);
    admin(&t, &["filter", "keyword", "add", r"/\bскидка\b/", "--user", "bob@example.test", "--action", "junk"]);
    admin(&t, &["filter", "allow", "add", "@strict.test", "--user", "alice@example.test"]);
    t.dns.as_ref().expect("test DNS").txt("strict.test", "v=spf1 -all");
    t.dns.as_ref().expect("test DNS").txt("_dmarc.dmarc-fail.test", "v=DMARC1; p=none");
    let rules: serde_json::Value = serde_json::from_str(&admin(&t, &["filter", "list", "--json"])).expect("json");
    let rules = rules.as_array().expect("array");
    assert_eq!(rules.len(), 7, "{rules:?}");
    assert!(rules.iter().any(|r| r["kind"] == "block" && r["pattern"] == "spammer@bad.test" && r["scope"] == ""));
    assert!(rules.iter().any(|r| r["kind"] == "allow" && r["scope"] == "alice@example.test"));

    scenario(&t, "gbk_keyword_junk").await;
    scenario(&t, "blocked_senders").await;
    scenario(&t, "allowed_sender").await;
    scenario(&t, "two_recipients").await;
    scenario(&t, "allowed_but_forged").await;

    // The mail log says why.
    let events = t.store().events(EventQuery { limit: 100, ..Default::default() }).await.expect("log");
    let junk = events
        .iter()
        .find(|e| e.kind == EventKind::Received && e.detail.contains("spam junk"))
        .expect("a junk verdict in the log");
    assert!(junk.detail.contains("subject contains \"促销\""), "{}", junk.detail);
    let refused = events
        .iter()
        .find(|e| e.kind == EventKind::Rejected && e.sender.as_deref() == Some("spammer@bad.test"))
        .expect("the refusal in the log");
    assert!(refused.detail.contains("block list"), "{}", refused.detail);

    // A rule removed stops at once.
    admin(&t, &["filter", "block", "del", "spammer@bad.test"]);
    let rules: serde_json::Value = serde_json::from_str(&admin(&t, &["filter", "list", "--json"])).expect("json");
    assert_eq!(rules.as_array().expect("array").len(), 6);
}

/// A message from `from` that alice's mail rule refuses, signed with a new
/// Ed25519 key of `from`'s domain published in the test DNS.
fn dkim_signed(t: &TestServer, from: &str) -> Vec<u8> {
    let domain = from.rsplit_once('@').expect("address").1;
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key");
    let key = caravel_store::DkimKey {
        domain: domain.into(),
        selector: "t1".into(),
        algorithm: "ed25519-sha256".into(),
        private_key: pair.serialize_pem(),
        public_key: caravel_auth::sasl::encode(pair.public_key_raw()),
        created: 0,
    };
    let dns = t.dns.as_ref().expect("test DNS");
    dns.txt(&format!("t1._domainkey.{domain}"), &caravel_admin::dkim::dkim_txt(&key));
    let raw = format!(
        "From: <{from}>\r\nTo: <team2@other.test>\r\nSubject: unwanted signed offer\r\n\
         Message-ID: <signed@{domain}>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nPlain words. signed\r\n"
    );
    let header = caravel_delivery::sign::sign_with(&key, raw.as_bytes()).expect("sign");
    [header.as_bytes(), raw.as_bytes()].concat()
}

/// Received mail an alias forwards outside is filtered as the alias's (its
/// domain's lists, rules and thresholds): a copy held or refused by them
/// waits in the quarantine and does not go out; a message nobody else
/// takes is refused; clean mail goes into the queue. And a copy one rule
/// holds and another refuses stays held when the refusal is overruled.
#[tokio::test(flavor = "multi_thread")]
async fn copies_an_alias_forwards_outside_are_filtered() {
    let t = start().await;
    admin(&t, &["alias", "add", "orders@example.test", "partner@elsewhere.test"]);
    admin(&t, &["alias", "add", "team@example.test", "alice@example.test", "partner2@elsewhere.test"]);
    admin(&t, &["filter", "keyword", "add", "zircon bargain", "--action", "quarantine"]);
    admin(&t, &["filter", "keyword", "add", "forged invoice", "--action", "reject"]);
    admin(&t, &["filter", "block", "add", "@blocked.test", "--domain", "example.test"]);
    admin(&t, &["filter", "allow", "add", "d@remote.test", "--user", "alice@example.test"]);
    admin(&t, &["filter", "keyword", "add", "zircon bargain", "--action", "reject", "--user", "bob@example.test"]);
    admin(&t, &["domain", "add", "other.test"]);
    admin(&t, &["alias", "add", "sales@other.test", "partner@elsewhere.test"]);
    admin(&t, &["alias", "add", "team2@other.test", "alice@example.test", "partner3@elsewhere.test"]);
    admin(&t, &["filter", "keyword", "add", "walnut crate", "--action", "quarantine", "--domain", "other.test"]);
    admin(&t, &["rule", "add", "alice@example.test", "--subject", "unwanted", "--reject", "No thanks"]);
    t.dns.as_ref().expect("test DNS").txt("spf.test", "v=spf1 ip4:127.0.0.0/8 -all");
    let signed = t.dir.path().join("signed.eml");
    std::fs::write(&signed, dkim_signed(&t, "g@dkim.test")).expect("signed message");
    let env = vec![("SIGNED_MESSAGE".to_string(), signed.display().to_string())];
    common::python_scenario(SCENARIOS, "forwarded_copies", &t, env).await;
    let json = |args: &[&str]| -> Vec<serde_json::Value> {
        serde_json::from_str::<serde_json::Value>(&admin(&t, args)).expect("json").as_array().expect("array").clone()
    };
    let held = json(&["quarantine", "list", "--json"]);
    let to = |h: &serde_json::Value| h["recipients"].clone();
    // Six entries: the held-both message is one, for alice and the
    // outside member, each with its own verdict.
    assert_eq!(held.len(), 6, "{held:#?}");
    assert!(held.iter().any(|h| to(h) == serde_json::json!(["bob@example.test"])), "{held:#?}");
    let held_for = |who: &str| held.iter().filter(|h| to(h) == serde_json::json!([who])).count();
    assert_eq!(held_for("partner@elsewhere.test"), 2, "held by either alias: {held:#?}");
    assert_eq!(held_for("partner3@elsewhere.test"), 1, "accepted and held, not refused: {held:#?}");
    assert!(held.iter().all(|h| h["kind"] == "spam"), "{held:#?}");
    assert!(held.iter().any(|h| to(h) == serde_json::json!(["partner@elsewhere.test"])), "{held:#?}");
    assert!(held.iter().any(|h| to(h) == serde_json::json!(["partner2@elsewhere.test"])), "{held:#?}");
    let events = t.store().events(EventQuery { limit: 500, ..Default::default() }).await.expect("log");
    let mut queued: Vec<(Option<&str>, Option<&str>)> = events
        .iter()
        .filter(|e| {
            e.kind == EventKind::Queued && e.recipient.as_deref().is_some_and(|r| r.ends_with("@elsewhere.test"))
        })
        .map(|e| (e.sender.as_deref(), e.recipient.as_deref()))
        .collect();
    queued.sort();
    let expected = [
        (Some("c@remote.test"), Some("partner@elsewhere.test")),
        (Some("d@remote.test"), Some("partner2@elsewhere.test")),
        (Some("d@remote.test"), Some("partner3@elsewhere.test")),
        (Some("e@spf.test"), Some("partner3@elsewhere.test")),
        (Some("g@dkim.test"), Some("partner3@elsewhere.test")),
        (Some("h@victim.test"), Some("partner3@elsewhere.test")),
        (Some("x@dkim.test"), Some("partner3@elsewhere.test")),
    ];
    assert_eq!(queued, expected, "only the clean messages go out");
    // team2@other.test's log says what became of alice's copy, but not why:
    // her allow list is her own, not other.test's administrator's to read.
    // team@example.test's log has her reasons (her domain's).
    let logged = |rcpt: &str| -> Vec<&str> {
        let received = events.iter().filter(|e| e.kind == EventKind::Received);
        received.filter(|e| e.recipient.as_deref() == Some(rcpt)).map(|e| e.detail.as_str()).collect()
    };
    let team2 = logged("team2@other.test");
    assert!(team2.iter().all(|d| d.contains(", spam ") && !d.contains("allow list")), "{team2:#?}");
    let team = logged("team@example.test");
    assert!(team.iter().any(|d| d.contains("on the allow list (d@remote.test)")), "{team:#?}");
    // "Both ways" reached alice by her address, then through team@: each
    // address's event has her verdict.
    let received_in = |session: &Option<String>, rcpt: &str| {
        events
            .iter()
            .find(|e| e.kind == EventKind::Received && &e.session == session && e.recipient.as_deref() == Some(rcpt))
    };
    let both: Vec<(&str, &str)> = events
        .iter()
        .filter_map(|e| {
            let alice = received_in(&e.session, "alice@example.test")?;
            let team = received_in(&e.session, "team@example.test")?;
            (e.recipient.as_deref() == Some("alice@example.test"))
                .then_some((alice.detail.as_str(), team.detail.as_str()))
        })
        .collect();
    assert_eq!(both.len(), 1, "{both:#?}");
    for detail in [both[0].0, both[0].1] {
        assert!(detail.contains("spam accept score=0.0 (the sender is on the allow list (d@remote.test))"), "{detail}");
    }
    // alice's rule refused her copies: a notice for the sender SPF vouches
    // for and for the author of the signed message, none for the others.
    let notices: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == EventKind::Queued && e.session.as_deref() == Some("refused by rule"))
        .filter_map(|e| e.recipient.as_deref())
        .collect();
    let mut notices = notices;
    notices.sort();
    assert_eq!(notices, ["e@spf.test", "g@dkim.test"], "refusal notices");
    // Quarantine notices go to accounts here only, not to the outside
    // addresses whose copies are held.
    caravel::antivirus::notify_recipients(t.store().as_ref(), &t.config.hostname).await.expect("notices");
    let events = t.store().events(EventQuery { limit: 500, ..Default::default() }).await.expect("log");
    let outside: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == EventKind::Queued && e.sender.as_deref() == Some(""))
        .filter_map(|e| e.recipient.as_deref())
        .filter(|r| r.ends_with("@elsewhere.test"))
        .collect();
    assert!(outside.is_empty(), "quarantine notices to outside addresses: {outside:?}");
    let shown = admin(&t, &["quarantine", "show", &held[0]["id"].to_string()]);
    assert!(shown.contains("X-Spam-Status: Yes"), "the held copy says why: {shown}");
    // Held for alice and team@'s outside member: released, alice's copy is
    // stored with her verdict on top, and the outside one queued.
    let deal: Vec<&serde_json::Value> = held.iter().filter(|h| h["subject"] == "Deal for the team").collect();
    assert_eq!(deal.len(), 1, "{deal:#?}");
    assert_eq!(to(deal[0]), serde_json::json!(["alice@example.test", "partner2@elsewhere.test"]));
    let verdicts = deal[0]["verdicts"].as_object().expect("verdicts");
    assert!(verdicts["alice@example.test"]["fields"].as_str().is_some_and(|f| f.starts_with("X-Spam-Status: Yes")));
    assert!(verdicts["partner2@elsewhere.test"]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{verdicts:?}");
    let out = admin(&t, &["quarantine", "release", &deal[0]["id"].to_string()]);
    assert!(out.contains("alice@example.test") && out.contains("partner2@elsewhere.test"), "{out}");
    let inbox = common::stored_in(t.store().as_ref(), "alice@example.test", "INBOX").await;
    let stored: Vec<String> =
        inbox.iter().map(|m| String::from_utf8_lossy(m).into_owned()).filter(|m| m.contains("held-both")).collect();
    assert_eq!(stored.len(), 1, "released into her INBOX");
    assert_eq!(stored[0].matches("X-Spam-Status: Yes").count(), 1, "her own verdict, once: {}", stored[0]);
    assert_eq!(json(&["quarantine", "list", "--json"]).len(), 5, "released");
    let events = t.store().events(EventQuery { limit: 500, ..Default::default() }).await.expect("log");
    assert!(
        events.iter().any(|e| e.kind == EventKind::Queued
            && e.sender.as_deref() == Some("f@remote.test")
            && e.recipient.as_deref() == Some("partner2@elsewhere.test")),
        "the outside copy is queued on release"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_into_junk_teaches_that_users_classifier() {
    let t = start().await;
    let mut train = vec!["spam", "train", "--spam"];
    let spam = sample("spam");
    train.extend(spam.iter().map(String::as_str));
    assert!(admin(&t, &train).contains("learnt 40 messages as spam"));
    let mut train = vec!["spam", "train", "--ham"];
    let ham = sample("ham");
    train.extend(ham.iter().map(String::as_str));
    let out = admin(&t, &train);
    assert!(out.contains("learnt 40 messages as ham"), "{out}");
    // With both kinds learnt, the server's model is trained at once and
    // kept for the server and `spam classify` to read.
    assert!(out.contains("the server's classifier: 40 spam and 40 legitimate messages learnt"), "{out}");
    let models: Vec<_> = std::fs::read_dir(t.config.data_dir.join("spam"))
        .expect("data_dir/spam")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(models.len() == 1 && models[0].starts_with("server-") && models[0].ends_with(".model"), "{models:?}");
    // Learning the same messages again counts them once.
    let again = admin(&t, &["spam", "train", "--ham", &ham[0]]);
    assert!(again.contains("1 known already"), "{again}");

    // classify --json: the INTERFACE.md fields.
    let out = admin(&t, &["spam", "classify", "--json", &spam[0], &ham[0]]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v[0]["file"], spam[0].as_str());
    assert_ne!(v[0]["verdict"], "accept", "{out}");
    assert_eq!(v[1]["verdict"], "accept", "{out}");
    assert!(v[0]["score"].as_f64().expect("score") >= 5.0, "{out}");
    assert!(v[0]["tags"].as_array().expect("tags").iter().any(|t| t.as_str().is_some_and(|t| t.starts_with("BAYES_"))));

    scenario(&t, "junk_move_learns").await;
}

/// `[spam] max_examples`: past it, the examples learnt longest ago are
/// forgotten (and can be learnt again as new).
#[tokio::test(flavor = "multi_thread")]
async fn training_keeps_at_most_max_examples_of_each_kind() {
    let t = start().await;
    let spam = sample("spam");
    let mut train = vec!["spam", "train", "--spam"];
    train.extend(spam.iter().map(String::as_str));
    let out = admin_with(&t, "max_examples = 30", &train);
    assert!(out.contains("learnt 40 messages as spam"), "{out}");
    assert!(out.contains("forgot the 10 examples learnt longest ago"), "{out}");
    let kept = t.store().spam_examples(0).await.expect("examples");
    assert_eq!((kept.spam_messages, kept.examples.len()), (30, 30));
    // The first files were learnt first: they are the ones forgotten.
    let again = admin_with(&t, "max_examples = 30", &["spam", "train", "--spam", &spam[0], &spam[39]]);
    assert!(again.contains("learnt 1 messages as spam") && again.contains("1 known already"), "{again}");
}

/// Mail from someone a user wrote to (and whose address is not forged) is
/// not junk on its content alone, for that user only.
#[tokio::test(flavor = "multi_thread")]
async fn replies_from_whom_a_user_wrote_to_are_not_junk() {
    let t = start().await;
    admin(&t, &["filter", "keyword", "add", "container clearance", "--action", "score:6"]);
    let dns = t.dns.as_ref().expect("test DNS");
    dns.txt("strict.test", "v=spf1 -all");
    // The buyer's mail comes from here: SPF passes for customer.test.
    dns.txt("customer.test", "v=spf1 ip4:127.0.0.0/8 -all");
    // SPF passes for a subdomain, which strict alignment does not accept.
    dns.txt("mail.aligned.test", "v=spf1 ip4:127.0.0.0/8 -all");
    dns.txt("_dmarc.aligned.test", "v=DMARC1; p=none; aspf=s; adkim=s");
    // The same, under a DMARC record that cannot be parsed.
    dns.txt("mail.broken.test", "v=spf1 ip4:127.0.0.0/8 -all");
    dns.txt("_dmarc.broken.test", "v=DMARC1; p=bogus");
    scenario(&t, "correspondents").await;
    let alice = caravel_store::Address::parse("alice@example.test").expect("address");
    let account = t.store().get_user(&alice).await.expect("read").expect("alice").id;
    let noted = t.store().correspondent(account, "buyer@customer.test").await.expect("read");
    assert!(noted.is_some(), "noted in lowercase");
}

/// A bounce is authenticated by its HELO name, whatever its case.
#[tokio::test(flavor = "multi_thread")]
async fn a_bounce_passes_dmarc_whatever_the_case_of_its_helo() {
    let t = start().await;
    let dns = t.dns.as_ref().expect("test DNS");
    dns.txt("mail.bounce.test", "v=spf1 ip4:127.0.0.0/8 -all");
    dns.txt("_dmarc.bounce.test", "v=DMARC1; p=reject");
    scenario(&t, "bounce_helo_case").await;
}

/// DMARC's relaxed alignment knows the public suffixes (RFC 7489 §3.2):
/// SPF passing for a stranger's domain under the same suffix is no pass.
#[tokio::test(flavor = "multi_thread")]
async fn dmarc_alignment_knows_public_suffixes() {
    let t = start().await;
    let dns = t.dns.as_ref().expect("test DNS");
    dns.txt("evil.me.uk", "v=spf1 ip4:127.0.0.0/8 -all");
    dns.txt("_dmarc.acme.me.uk", "v=DMARC1; p=reject");
    scenario(&t, "public_suffix_forgery").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn submitted_spam_is_refused_with_the_reason() {
    let t = start().await;
    scenario(&t, "outbound_refused").await;
    // Only accepted mail tells whom a user writes to.
    let alice = caravel_store::Address::parse("alice@example.test").expect("address");
    let account = t.store().get_user(&alice).await.expect("read").expect("alice").id;
    assert_eq!(t.store().correspondent(account, "buyer@customer.test").await.expect("read"), None, "refused");
    assert!(t.store().correspondent(account, "bob@example.test").await.expect("read").is_some(), "accepted");
}

#[tokio::test(flavor = "multi_thread")]
async fn dnsbl_and_uribl_listings_add_their_points() {
    let t = TestServer::start_with(|c| {
        c.spam.dnsbl = vec!["bl.test".into()];
        c.spam.uribl = vec!["uribl.test".into()];
        c.spam.dnsbl_score = 3.0;
    })
    .await;
    let dns = t.dns.as_ref().expect("the test DNS server");
    // RFC 5782 §5: listings answer 127.0.0.2; the client connects from 127.0.0.1.
    dns.address("1.0.0.127.bl.test", "127.0.0.2".parse().expect("ip"));
    dns.address("badlinks.test.uribl.test", "127.0.0.2".parse().expect("ip"));
    // 127.255.255.x is a list's error code ("you may not ask"), not a listing.
    dns.address("refused.test.uribl.test", "127.255.255.254".parse().expect("ip"));
    // 127.0.0.1 is URIBL's "query refused", never a listing.
    dns.address("blocked.test.uribl.test", "127.0.0.1".parse().expect("ip"));
    // A link to an address is not a domain: were it asked as one, the
    // last two labels of 192.0.2.7 would be "listed".
    dns.address("2.7.uribl.test", "127.0.0.2".parse().expect("ip"));
    scenario(&t, "dnsbl_listed").await;
    let events = t.store().events(EventQuery { limit: 20, ..Default::default() }).await.expect("log");
    assert!(
        events.iter().any(|e| e.detail.contains("the sending server 127.0.0.1 is on a block list (1.0.0.127.bl.test")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn greylisting_asks_new_senders_to_retry() {
    let t = TestServer::start_with(|c| {
        c.spam.greylisting = true;
        c.spam.greylist_delay = std::time::Duration::from_secs(1);
        c.spam.greylist_auto_allow = 1;
    })
    .await;
    scenario(&t, "greylisted").await;
}
