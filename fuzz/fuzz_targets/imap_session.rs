//! A whole IMAP session on a temporary store (alice can sign in with
//! `fuzz-password`; her INBOX holds a multipart message): bytes in, replies
//! out, every command family reachable.
#![no_main]
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use caravel_imap::{Config, Context, ImapServer};
use caravel_net::Service;
use libfuzzer_sys::fuzz_target;

#[path = "common/session.rs"]
mod session;

fn server() -> &'static Arc<ImapServer> {
    static SERVER: OnceLock<Arc<ImapServer>> = OnceLock::new();
    SERVER.get_or_init(|| {
        let w = session::World::get();
        let config = Config {
            hostname: "mail.example.test".into(),
            max_sessions_per_user: 1000,
            max_bad: 10,
            max_message_size: 1 << 20,
        };
        Arc::new(ImapServer {
            ctx: Arc::new(Context::new(config, w.store.clone(), w.auth.clone())),
            idle_timeout: Duration::from_secs(5),
            auth_failure_delay: Duration::ZERO,
        })
    })
}

fuzz_target!(|input: &[u8]| {
    let w = session::World::get();
    let server = server().clone();
    let net = w.net_session(Service::Imaps);
    let replies = w.exchange(input, move |s| async move { server.serve_connection(net, s).await });
    assert!(replies.starts_with(b"* OK"), "a greeting first");
});
