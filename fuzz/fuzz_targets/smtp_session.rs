//! A whole SMTP session (MX and submission rules) on a temporary store:
//! bytes in, replies out; messages that pass are really stored.
#![no_main]
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use caravel_net::Service;
use caravel_smtp::pipeline::{MimeDepthStage, Pipeline, SizeStage};
use caravel_smtp::{SmtpServer, StoreBackend, Timeouts};
use libfuzzer_sys::fuzz_target;

#[path = "common/session.rs"]
mod session;

fn server() -> &'static Arc<SmtpServer<StoreBackend>> {
    static SERVER: OnceLock<Arc<SmtpServer<StoreBackend>>> = OnceLock::new();
    SERVER.get_or_init(|| {
        let w = session::World::get();
        let smtp = caravel_config::Smtp::default();
        let limits = caravel_config::Limits { max_message_size: 1 << 20, ..Default::default() };
        let (mx, submission, submissions) = caravel_smtp::session_configs("mail.example.test", &limits, &smtp, None);
        Arc::new(SmtpServer {
            mx,
            submission,
            submissions,
            backend: Arc::new(StoreBackend::new(
                w.store.clone(),
                w.auth.clone(),
                "mail.example.test",
                caravel_store::Clock::default(),
            )),
            pipeline: Arc::new(Pipeline::new(vec![
                Box::new(SizeStage { max: 1 << 20 }),
                Box::new(MimeDepthStage { max: 50 }),
            ])),
            timeouts: Timeouts {
                command: Duration::from_secs(5),
                data: Duration::from_secs(5),
                auth_failure_delay: Duration::ZERO,
            },
        })
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&which, bytes)) = input.split_first() else { return };
    let service = if which % 2 == 0 { Service::Smtp } else { Service::Submissions };
    let w = session::World::get();
    let server = server().clone();
    let net = w.net_session(service);
    let replies = w.exchange(bytes, move |s| async move { server.serve_connection(net, s).await });
    assert!(replies.starts_with(b"220 "), "a greeting first");
});
