//! The IMAP extensions a compliance suite checks, each with its own scenario
//! file in tests/clients (imap_ext_NAME.py) run against a running server.

mod common;

use caravel::testing::TestServer;

async fn extension(name: &str) {
    let t = TestServer::start().await;
    let script = format!("{}/tests/clients/imap_ext_{name}.py", env!("CARGO_MANIFEST_DIR"));
    common::python_scenario(&script, "main", &t, vec![]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn multiappend_rfc_3502() {
    extension("multiappend").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn catenate_rfc_4469() {
    extension("catenate").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn urlauth_rfc_4467_and_binary_rfc_5524() {
    extension("urlauth").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn esort_rfc_5267() {
    extension("esort").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_rfc_9394() {
    extension("partial").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn context_search_and_sort_rfc_5267() {
    extension("context").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_rfc_5465() {
    extension("notify").await;
}
