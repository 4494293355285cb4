//! The test harness: one call starts a whole server on ephemeral loopback
//! ports in a temporary data directory, with a domain and users; dropping it
//! stops the server and removes the directory.

use std::net::SocketAddr;
use std::sync::Arc;

use caravel_admin::{Admin, UserRequest};
use caravel_config::{Config, Listen};
use caravel_dns::test_server::TestDns;
use caravel_net::Service;
use caravel_store::Store;

use crate::server::Server;

/// The domain every test server serves.
pub const DOMAIN: &str = "example.test";

/// Users created in every test server: (address, password).
pub const USERS: [(&str, &str); 2] =
    [("alice@example.test", "Wonderland-Key-2026"), ("bob@example.test", "Builder-Key-2026!")];

pub struct TestServer {
    pub config: Config,
    pub server: Server,
    pub dir: tempfile::TempDir,
    /// The server's own DNS server on loopback (empty unless the test adds
    /// records); None when the test named its resolvers itself.
    pub dns: Option<Arc<TestDns>>,
}

/// A configuration with every listener on 127.0.0.1 port 0 (the kernel picks).
pub fn loopback_config(data_dir: &std::path::Path) -> Config {
    let mut listen = Listen::default();
    for key in caravel_config::SERVICES {
        if let Some(slot) = listen.service_mut(key) {
            *slot = vec![SocketAddr::from(([127, 0, 0, 1], 0))];
        }
    }
    Config { hostname: "mail.example.test".into(), data_dir: data_dir.to_path_buf(), listen, ..Config::default() }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed the test configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_for(DOMAIN, adjust).await
    }

    /// Starts a server for `domain` (hostname mail.DOMAIN, users alice@ and
    /// bob@ it) after `adjust` has changed the configuration. Unless
    /// `adjust` names resolvers, a test DNS server of its own answers.
    pub async fn start_for(domain: &str, adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary data directory");
        let mut config = loopback_config(dir.path());
        config.hostname = format!("mail.{domain}");
        adjust(&mut config);
        let dns = config.dns.resolvers.is_empty().then(|| Arc::new(TestDns::start()));
        if let Some(dns) = &dns {
            config.dns.resolvers = vec![dns.addr()];
        }
        let server = Server::start(config.clone()).await.expect("test server starts");
        let admin = Admin::new(server.store.clone() as Arc<dyn Store>);
        admin.domain_add(domain).await.expect("test domain");
        for (address, password) in USERS {
            let address = address.replace(DOMAIN, domain);
            admin
                .user_add(UserRequest { address, password: Some(password.into()), ..Default::default() })
                .await
                .expect("test user");
        }
        TestServer { config, server, dir, dns }
    }

    pub fn addr(&self, service: Service) -> SocketAddr {
        self.server.addr(service).unwrap_or_else(|| panic!("no {service} listener"))
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.server.store.clone()
    }

    /// The messages in `who`'s INBOX, as text, oldest first.
    pub async fn inbox(&self, who: &str) -> Vec<String> {
        let store = self.store();
        let address = caravel_store::Address::parse(who).expect("address");
        let user = store.get_user(&address).await.expect("get").expect("user");
        let mailboxes = store.mailboxes(user.id).await.expect("mailboxes");
        let inbox = mailboxes.into_iter().find(|m| m.name == "INBOX").expect("INBOX");
        let mut out = Vec::new();
        for m in store.messages(inbox.id).await.expect("messages") {
            out.push(String::from_utf8_lossy(&store.read_message(&m).await.expect("read")).into_owned());
        }
        out
    }
}

/// Submits `message` from `from` to `to` over STARTTLS with AUTH PLAIN at
/// the submission listener `addr`, as a mail program would; each
/// recipient's outcome.
pub async fn submit(
    addr: SocketAddr,
    (user, password): (&str, &str),
    from: &str,
    to: &[&str],
    message: Vec<u8>,
) -> Vec<caravel_delivery::client::Outcome> {
    use caravel_delivery::client::{Client, Envelope, Recipient, Settings};
    let env = Envelope {
        from: from.into(),
        recipients: to.iter().map(|a| Recipient { address: a.to_string(), notify: None, orcpt: None }).collect(),
        message: Arc::new(message),
        eight_bit: false,
        smtputf8: false,
        ret: None,
        envid: None,
    };
    let settings = Settings {
        hostname: "laptop.test".into(),
        tls_possible: true,
        tls_required: true,
        credentials: Some((user.into(), password.into())),
    };
    caravel_delivery::transport::deliver(
        Client::new(settings, env),
        addr,
        "mail.test",
        caravel_delivery::transport::opportunistic_tls(),
        caravel_delivery::transport::Timeouts::default(),
    )
    .await
}
