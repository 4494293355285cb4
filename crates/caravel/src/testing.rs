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
        let t = Self::join(domain, adjust).await;
        let admin = Admin::new(t.store());
        admin.domain_add(domain).await.expect("test domain");
        for (address, password) in USERS {
            let address = address.replace(DOMAIN, domain);
            admin
                .user_add(UserRequest { address, password: Some(password.into()), ..Default::default() })
                .await
                .expect("test user");
        }
        t
    }

    /// Starts a server for `domain` like [`TestServer::start_for`], but
    /// creates nothing in its store: another node of a cluster, whose
    /// shared store (`adjust` names it) already has the domain and users.
    pub async fn join(domain: &str, adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary data directory");
        let mut config = loopback_config(dir.path());
        config.hostname = format!("mail.{domain}");
        adjust(&mut config);
        let dns = config.dns.resolvers.is_empty().then(|| Arc::new(TestDns::start()));
        if let Some(dns) = &dns {
            config.dns.resolvers = vec![dns.addr()];
        }
        let server = Server::start(config.clone()).await.expect("test server starts");
        TestServer { config, server, dir, dns }
    }

    pub fn addr(&self, service: Service) -> SocketAddr {
        self.server.addr(service).unwrap_or_else(|| panic!("no {service} listener"))
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.server.store.clone()
    }

    /// `from` (alice@ or bob@ this server's domain) submits a small message
    /// to `to` over STARTTLS with AUTH, as a mail program would; every
    /// recipient must be accepted.
    pub async fn submit_as(&self, from: &str, to: &[&str], subject: &str) {
        let local = from.split('@').next().unwrap_or("");
        let (_, password) =
            USERS.iter().find(|(a, _)| a.split('@').next() == Some(local)).expect("one of the test users");
        let message = format!(
            "From: <{from}>\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{}@{}>\r\n\
             Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\nPrices attached.\r\n",
            to.join(", "),
            subject.replace(' ', "-"),
            from.rsplit('@').next().unwrap_or("test")
        );
        let outcomes = submit(self.addr(Service::Submission), (from, password), from, to, message.into_bytes()).await;
        assert!(
            outcomes.iter().all(|o| matches!(o, caravel_delivery::client::Outcome::Delivered(_))),
            "submission: {outcomes:?}"
        );
    }

    /// The error recorded for `address` after its first failed attempt
    /// (waiting up to 30 s for one).
    pub async fn wait_for_deferral(&self, address: &str) -> String {
        let start = std::time::Instant::now();
        loop {
            let queue = self.store().queued().await.expect("queue");
            let error = queue
                .iter()
                .flat_map(|m| &m.recipients)
                .find(|r| r.address == address && r.attempts >= 1)
                .and_then(|r| r.last_error.clone());
            if let Some(error) = error {
                return error;
            }
            assert!(start.elapsed() < std::time::Duration::from_secs(30), "{address} not tried: {queue:?}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
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
