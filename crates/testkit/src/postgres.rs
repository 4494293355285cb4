//! A real PostgreSQL server for tests (Debian's binaries), started by the
//! test process itself as an ordinary user in a temporary directory: initdb,
//! then `postgres` listening on a free loopback port. Not the system service.
//!
//! The server runs under a small shell that reads commands on its standard
//! input (`stop`, `start`); when the test process exits, that input closes
//! and the shell stops the server and removes its directory, so no server
//! outlives the tests that started it.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One PostgreSQL server; databases are created in it per test.
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
    control: Mutex<ChildStdin>,
}

/// The server shared by every test of this process, started at first use
/// (without fsync: these tests check behaviour, not durability).
pub fn shared() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(|| PgServer::start(false))
}

/// A new, empty database on the shared server; its connection URL.
pub fn fresh_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!("t{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    shared().create_database(&name)
}

impl PgServer {
    /// Initializes a cluster and starts it; panics (the test's failure) when
    /// PostgreSQL is not installed or does not start. `durable`: fsync as in
    /// production, for tests that stop the server mid-load.
    pub fn start(durable: bool) -> PgServer {
        let bin = bin_dir();
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "caravel-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the PostgreSQL directory");
        // PostgreSQL refuses to run as root: as root, run it as the
        // `postgres` user the Debian package creates (or nobody).
        let owner = run_as();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the PostgreSQL directory");
        }
        let data = dir.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb.args(["-D"]).arg(&data).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        initdb.args(["--locale=C"]).current_dir(&dir);
        let out = as_owner(&mut initdb, owner).output().expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let fsync = if durable { "on" } else { "off" };
        let postgres = format!(
            "{} -D {} -p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync={fsync} -c synchronous_commit={fsync} \
             -c full_page_writes={fsync} -c max_connections=300 -c shared_buffers=64MB",
            bin.join("postgres").display(),
            data.display(),
            dir.display()
        );
        // Commands on stdin; at end of input, stop and clean up.
        let script = format!(
            "{postgres} >>{log} 2>&1 & pid=$!\n\
             while read cmd; do case $cmd in\n\
               stop) kill -INT $pid; wait $pid;;\n\
               start) {postgres} >>{log} 2>&1 & pid=$!;;\n\
             esac; done\n\
             kill -INT $pid; wait $pid; rm -rf {dir}\n",
            log = dir.join("log").display(),
            dir = dir.display()
        );
        let mut shell = Command::new("sh");
        shell.args(["-c", &script]).stdin(Stdio::piped()).stdout(Stdio::null()).current_dir(&dir);
        let mut child = as_owner(&mut shell, owner).spawn().expect("start PostgreSQL");
        let control = child.stdin.take().expect("the server's control input");
        // The shell lives on its own; its input keeps it until we exit.
        std::mem::forget(child);
        let server = PgServer { bin, dir, port, owner, control: Mutex::new(control) };
        server.wait_ready();
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connection URL of database `name` (trust authentication on loopback).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name`; returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", name])
            .output()
            .expect("run createdb");
        assert!(out.status.success(), "createdb {name} failed: {}", String::from_utf8_lossy(&out.stderr));
        self.url(name)
    }

    /// Runs SQL through psql on database `name`; its output, unaligned.
    pub fn psql(&self, name: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", name])
            .args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("run psql");
        assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the server (a fast shutdown: connections are cut) and waits
    /// until it no longer accepts connections.
    pub fn stop(&self) {
        self.command("stop");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.ready() {
            assert!(Instant::now() < deadline, "PostgreSQL did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the server again after `stop` and waits until it is ready.
    pub fn restart(&self) {
        self.command("start");
        self.wait_ready();
    }

    fn command(&self, cmd: &str) {
        let mut control = self.control.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(control, "{cmd}").expect("control the PostgreSQL server");
        control.flush().expect("control the PostgreSQL server");
    }

    fn ready(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.ready() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
                panic!("PostgreSQL did not start within 60 s; its log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The user the server runs as, when the tests run as root.
    pub fn owner(&self) -> Option<(u32, u32)> {
        self.owner
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Debian's PostgreSQL binaries: `$CARAVEL_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARAVEL_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("postgres").exists())
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): apt install postgresql"),
    }
}

/// As root: the uid and gid of `postgres` (else `nobody`) from /etc/passwd.
fn run_as() -> Option<(u32, u32)> {
    let me = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(0);
    if me != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let find = |user: &str| {
        passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.first() == Some(&user) && f.len() > 3).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
        })
    };
    Some(find("postgres").or_else(|| find("nobody")).expect("a postgres or nobody user to run PostgreSQL as"))
}

fn as_owner(cmd: &mut Command, owner: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid).env("HOME", "/tmp");
    }
    cmd
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}
