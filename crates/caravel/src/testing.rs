//! The test harness: one call starts a whole server on ephemeral loopback
//! ports in a temporary data directory, with a domain and users; dropping it
//! stops the server and removes the directory.

use std::net::SocketAddr;
use std::sync::Arc;

use caravel_admin::{Admin, UserRequest};
use caravel_config::{Config, Listen};
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
        let dir = tempfile::tempdir().expect("temporary data directory");
        let mut config = loopback_config(dir.path());
        adjust(&mut config);
        let server = Server::start(config.clone()).await.expect("test server starts");
        let admin = Admin::new(server.store.clone() as Arc<dyn Store>);
        admin.domain_add(DOMAIN).await.expect("test domain");
        for (address, password) in USERS {
            admin
                .user_add(UserRequest {
                    address: address.into(),
                    password: Some(password.into()),
                    ..Default::default()
                })
                .await
                .expect("test user");
        }
        TestServer { config, server, dir }
    }

    pub fn addr(&self, service: Service) -> SocketAddr {
        self.server.addr(service).unwrap_or_else(|| panic!("no {service} listener"))
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.server.store.clone()
    }
}
