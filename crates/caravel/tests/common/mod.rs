//! Helpers shared by the end-to-end tests: run the real `caravel` binary
//! against a temporary data directory.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_caravel");

pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    /// The DNS server the config names (loopback; no records unless added).
    pub dns: caravel_dns::test_server::TestDns,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    /// A data directory and a config file with no listeners (admin commands only).
    pub fn new() -> Env {
        Self::with_config("[listen]\n")
    }

    /// `extra` is appended after `data_dir`.
    pub fn with_config(extra: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("caravel.toml");
        let dns = caravel_dns::test_server::TestDns::start();
        // A dotted key, so that it stays at the top level before `extra`.
        let resolvers =
            if extra.contains("[dns]") { String::new() } else { format!("dns.resolvers = [\"{}\"]\n", dns.addr()) };
        let text =
            format!("hostname = \"mail.example.test\"\ndata_dir = {:?}\n{resolvers}{extra}", dir.path().join("data"));
        std::fs::write(&config, text).expect("write config");
        // As after the server's first start: admin commands need a store.
        caravel_store::sqlite::SqliteStore::open(&dir.path().join("data")).expect("create the store");
        Env { dir, config, dns }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config").arg(&self.config).args(args).env_remove("RUST_LOG");
        c
    }

    /// Runs a command with `stdin` as standard input.
    pub fn run_with_input(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn caravel");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
        to_run(child.wait_with_output().expect("wait"))
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_input(args, "")
    }

    /// Runs a command that must succeed, returning its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, 0, "caravel {args:?} failed: {}", r.stderr);
        r.stdout
    }
}

pub fn to_run(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A free loopback port (bound then released; fine on a test machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub fn wait_for_port(port: u16) {
    // Up to 20 s: a debug server starting while the rest of the suite runs
    // on two cores can take more than 5.
    for _ in 0..800 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("nothing listens on port {port}");
}

pub fn send_signal(pid: u32, signal: &str) {
    let ok = Command::new("kill").args([signal, &pid.to_string()]).status().expect("kill").success();
    assert!(ok, "kill {signal} {pid}");
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// Runs `python3 SCRIPT NAME` against the server `t`, with every listener's
/// port in the environment (`IMAP_PORT`, `POP3S_PORT`, ...) plus `extra`.
/// Fails the test with the script's output unless it succeeds; returns its
/// standard output.
pub async fn python_scenario(
    script: &str,
    name: &str,
    t: &caravel::testing::TestServer,
    extra: Vec<(String, String)>,
) -> Vec<u8> {
    python_scenario_args(script, name, &[], t, extra).await
}

/// [`python_scenario`] with arguments after the scenario's name.
pub async fn python_scenario_args(
    script: &str,
    name: &str,
    args: &[&str],
    t: &caravel::testing::TestServer,
    extra: Vec<(String, String)>,
) -> Vec<u8> {
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(name).args(args);
    for (service, addr) in &t.server.addrs {
        cmd.env(format!("{}_PORT", service.key().to_uppercase()), addr.port().to_string());
    }
    cmd.envs(extra);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("python3")).await.expect("scenario");
    assert!(
        out.status.success(),
        "{name}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The environment a scenario needs to run admin commands against the
/// running server `t`: CARAVEL_BIN, CARAVEL_CONFIG (written next to its data)
/// and CARAVEL_DB.
pub fn admin_env(t: &caravel::testing::TestServer) -> Vec<(String, String)> {
    let config = t.dir.path().join("admin.toml");
    // The server's own resolvers: admin commands that look things up (the
    // doctor) stay on loopback too.
    let resolvers: Vec<String> = t.config.dns.resolvers.iter().map(|r| format!("{:?}", r.to_string())).collect();
    std::fs::write(
        &config,
        format!("data_dir = {:?}\ndns.resolvers = [{}]\n[listen]\n", t.config.data_dir, resolvers.join(", ")),
    )
    .expect("config");
    vec![
        ("CARAVEL_BIN".to_string(), BIN.to_string()),
        ("CARAVEL_CONFIG".to_string(), config.display().to_string()),
        ("CARAVEL_DB".to_string(), t.config.data_dir.join("caravel.db").display().to_string()),
    ]
}

/// [`admin_env`] for a browser scenario: screenshots go to
/// target/screenshots/ (kept by CI as artifacts).
pub fn browser_env(t: &caravel::testing::TestServer) -> Vec<(String, String)> {
    let mut env = admin_env(t);
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    env.push(("SCREENSHOTS".into(), shots.display().to_string()));
    env
}

/// The texts of the messages in `folder` of `address`'s account, read from
/// the store.
pub async fn stored_in(store: &dyn caravel_store::Store, address: &str, folder: &str) -> Vec<Vec<u8>> {
    let address = caravel_store::Address::parse(address).expect("address");
    let user = store.get_user(&address).await.expect("get").expect("user");
    let mailboxes = store.mailboxes(user.id).await.expect("mailboxes");
    let mailbox = mailboxes.into_iter().find(|m| m.name == folder).expect("folder");
    let mut out = Vec::new();
    for m in store.messages(mailbox.id).await.expect("messages") {
        out.push(store.read_message(&m).await.expect("read"));
    }
    out
}
