//! A whole HTTP/1.1 connection to the JSON API (sign-in, second factors,
//! password reset, app passwords) on a temporary store, from loopback:
//! request heads and JSON bodies as the fuzzer writes them.
#![no_main]
use std::sync::{Arc, OnceLock};

use caravel_http::{HttpServer, State};
use caravel_net::Service;
use libfuzzer_sys::fuzz_target;

#[path = "common/session.rs"]
mod session;

fn server() -> &'static Arc<HttpServer> {
    static SERVER: OnceLock<Arc<HttpServer>> = OnceLock::new();
    SERVER.get_or_init(|| {
        let w = session::World::get();
        Arc::new(HttpServer::new(State {
            hostname: "mail.example.test".into(),
            store: w.store.clone(),
            auth: w.auth.clone(),
            admin: caravel_admin::Admin::new(w.store.clone()),
            setup: caravel_admin::client_setup::ClientSetup::new("mail.example.test", |k| match k {
                "imaps" => Some(993),
                "submission" => Some(587),
                _ => None,
            }),
            mta_sts: Default::default(),
            metrics_allow: caravel_config::Metrics::default().allow,
            data_dir: None,
            troubleshoot: None,
            sms: None,
            listeners: Vec::new(),
            ops: None,
            acme: None,
            submission: None,
        }))
    })
}

fuzz_target!(|input: &[u8]| {
    let w = session::World::get();
    let server = server().clone();
    let net = w.net_session(Service::Https);
    let _ = w.exchange(input, move |s| async move { server.serve_connection(net, s).await });
});
