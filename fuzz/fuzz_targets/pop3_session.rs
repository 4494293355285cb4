//! A whole POP3 session on a temporary store (alice / fuzz-password, one
//! message): bytes in, replies out.
#![no_main]
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use caravel_net::Service;
use caravel_pop3::{Config, Locks, Pop3Server, StoreMaildrops};
use libfuzzer_sys::fuzz_target;

#[path = "common/session.rs"]
mod session;

fn server() -> &'static Arc<Pop3Server<StoreMaildrops>> {
    static SERVER: OnceLock<Arc<Pop3Server<StoreMaildrops>>> = OnceLock::new();
    SERVER.get_or_init(|| {
        let w = session::World::get();
        Arc::new(Pop3Server {
            config: Arc::new(Config { hostname: "mail.example.test".into(), max_errors: 10 }),
            maildrops: Arc::new(StoreMaildrops::new(w.store.clone(), w.auth.clone())),
            locks: Locks::default(),
            idle_timeout: Duration::from_secs(5),
            auth_failure_delay: Duration::ZERO,
        })
    })
}

fuzz_target!(|input: &[u8]| {
    let w = session::World::get();
    let server = server().clone();
    let net = w.net_session(Service::Pop3s);
    let replies = w.exchange(input, move |s| async move { server.serve_connection(net, s).await });
    assert!(replies.starts_with(b"+OK"), "a greeting first");
});
