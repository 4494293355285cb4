//! Webmail reading over its JSON API with real mail: GBK subjects and
//! names, an RFC 2231 attachment name, hostile HTML made safe, cid images,
//! downloads, the seen flag shared with IMAP, paging newest first.

mod common;

use caravel::testing::TestServer;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/webmail_scenarios.py");

#[tokio::test(flavor = "multi_thread")]
async fn a_gbk_message_with_an_attachment_and_hostile_html_is_read_safely() {
    let t = TestServer::start().await;
    common::python_scenario(SCENARIOS, "reading", &t, common::admin_env(&t)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_folder_is_paged_newest_first() {
    let t = TestServer::start().await;
    common::python_scenario(SCENARIOS, "paging", &t, common::admin_env(&t)).await;
}

/// In headless Chromium: sign in with two-factor, read the GBK message,
/// download its attachment; a message of 35 XSS payloads runs nothing and
/// reaches nothing until pictures are allowed, and then only the picture.
#[tokio::test(flavor = "multi_thread")]
async fn read_in_the_browser_with_xss_payloads_kept_inert() {
    let t = TestServer::start().await;
    let env = common::browser_env(&t);
    common::python_scenario(SCENARIOS, "read_in_the_browser", &t, env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_moves_spam_deletes_folders_and_search_as_imap_sees_them() {
    let t = TestServer::start().await;
    common::python_scenario(SCENARIOS, "actions_and_search", &t, common::admin_env(&t)).await;
}

/// In headless Chromium, in Chinese: search for a Chinese word, move a
/// message into a folder, mark one as spam; IMAP sees both at once.
#[tokio::test(flavor = "multi_thread")]
async fn search_move_and_spam_from_the_page() {
    let t = TestServer::start().await;
    let env = common::browser_env(&t);
    common::python_scenario(SCENARIOS, "act_in_the_browser", &t, env).await;
}

const WRITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/webmail_write_scenarios.py");

/// A reply written in the webmail goes through the submission path: the
/// signature, the attachment and the threading fields reach the local
/// recipient over IMAP, the Sent copy keeps the Bcc, the outside
/// recipients are queued; drafts replace each other; refusals in words.
#[tokio::test(flavor = "multi_thread")]
async fn a_reply_written_in_the_webmail_is_sent_threaded_with_the_signature() {
    let t = TestServer::start().await;
    common::python_scenario(WRITE, "writing", &t, common::admin_env(&t)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_report_says_each_recipients_fate_in_plain_words() {
    let t = TestServer::start().await;
    common::python_scenario(WRITE, "bounce", &t, common::admin_env(&t)).await;
}

/// In headless Chromium: reply to a buyer's message with Cc from the
/// address suggestions, the signature previewed, a file attached; the
/// local recipient gets it threaded with the signature over IMAP, the
/// original is answered, a draft autosaves and reopens, a refusal shows in
/// words, and the bounce from outside reads in plain words.
#[tokio::test(flavor = "multi_thread")]
async fn write_in_the_browser_reply_with_signature_attachment_drafts_and_refusal() {
    let t = TestServer::start().await;
    let env = common::browser_env(&t);
    common::python_scenario(SCENARIOS, "write_in_the_browser", &t, env).await;
}

const LIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/webmail_list_scenarios.py");

/// Sorted by date, subject, size, arrival; threaded as IMAP THREAD
/// REFERENCES threads (the same code), a page counting conversations.
#[tokio::test(flavor = "multi_thread")]
async fn the_list_sorts_and_threads_as_imap_does() {
    let t = TestServer::start().await;
    common::python_scenario(LIST, "listing", &t, common::admin_env(&t)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_forwarded_whole_is_shown_nested_and_safe() {
    let t = TestServer::start().await;
    common::python_scenario(LIST, "nested", &t, common::admin_env(&t)).await;
}

/// Remote pictures per message and per sender; a forged From never loads
/// a trusted sender's pictures.
#[tokio::test(flavor = "multi_thread")]
async fn remote_pictures_load_on_consent_or_for_a_trusted_proved_sender() {
    let t = TestServer::start().await;
    // partner.test's mail from this machine passes SPF, so DMARC (aligned).
    let dns = t.dns.as_ref().expect("the test's DNS");
    dns.txt("partner.test", "v=spf1 ip4:127.0.0.1 -all");
    dns.txt("_dmarc.partner.test", "v=DMARC1; p=none");
    common::python_scenario(LIST, "pictures", &t, common::admin_env(&t)).await;
}

/// In headless Chromium: the list sorted by date and subject both ways,
/// conversations indented with their counts, a message forwarded whole
/// shown nested, the plain/formatted switch, the settings menu.
#[tokio::test(flavor = "multi_thread")]
async fn sort_threads_and_nested_messages_in_the_browser() {
    let t = TestServer::start().await;
    let env = common::browser_env(&t);
    common::python_scenario(SCENARIOS, "sort_thread_nested_in_the_browser", &t, env).await;
}
