//! IMAP exactness against a running server, one test per RFC corner an
//! independent compliance suite checks (the scenarios, with raw command
//! lines, are in tests/clients/imap_exactness.py).

mod common;

use caravel::testing::TestServer;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/imap_exactness.py");

async fn scenario(name: &str) {
    let t = TestServer::start().await;
    common::python_scenario(SCENARIOS, name, &t, vec![]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_then_create_is_a_new_mailbox() {
    scenario("delete_then_create").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn search_header_keys_follow_rfc_3501() {
    scenario("search_header_semantics").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn message_rfc822_part_numbers() {
    scenario("message_rfc822_sections").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_decoding_sizes_and_literal8() {
    scenario("binary_exact").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn largest_number_is_not_star() {
    scenario("sequence_set_numbers").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn condstore_is_enabled_by_the_commands_that_use_it() {
    scenario("condstore_enabling").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn new_keywords_are_announced_in_flags_first() {
    scenario("flags_announced").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_list_extended_and_lsub() {
    scenario("subscriptions").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sort_and_thread_follow_rfc_5256() {
    scenario("sort_and_thread").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keywords_are_announced_under_concurrent_load() {
    scenario("flags_stress").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn envelope_groups_routes_and_defaults() {
    scenario("envelope_corners").await;
}
