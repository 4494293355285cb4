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
