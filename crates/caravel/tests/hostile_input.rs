//! Issue 12, end to end: messages whose MIME tree nests 1,000 or 2,000
//! levels deep (which once overflowed a worker's stack and stopped every
//! listener) are refused on port 25 and on submission, stored flattened by
//! APPEND and `caravel import`, and never make a mailbox unreadable; the
//! data directory is private whatever the umask; a failed sign-in is
//! answered only after the pause, on a fresh connection too.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use caravel::testing::TestServer;
use caravel_testkit::{nested_message, Nesting};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/hostile_scenarios.py");

/// The messages of the report: 1,000 multipart levels (the 68 KB one),
/// 2,000 chained message/rfc822 levels, 1,000 alternating levels.
fn killers() -> Vec<Vec<u8>> {
    let (from, to) = ("a@x.test", "alice@example.test");
    vec![
        nested_message(Nesting::Multipart, 1000, from, to),
        nested_message(Nesting::Message, 2000, from, to),
        nested_message(Nesting::Alternating, 1000, from, to),
    ]
}

/// Writes `messages` to files in the server's directory; the MESSAGES value.
fn message_files(t: &TestServer, messages: &[Vec<u8>]) -> Vec<(String, String)> {
    let paths: Vec<String> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let p = t.dir.path().join(format!("message-{i}.eml"));
            std::fs::write(&p, m).expect("write message");
            p.display().to_string()
        })
        .collect();
    vec![("MESSAGES".into(), paths.join(":"))]
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_messages_are_refused_on_port_25_and_the_server_lives() {
    let t = TestServer::start().await;
    let messages = killers();
    assert!((60_000..75_000).contains(&messages[0].len()), "the 68 KB message");
    common::python_scenario(SCENARIOS, "deep_mx", &t, message_files(&t, &messages)).await;
    // The healthy messages around the refused ones arrived.
    assert_eq!(t.inbox("alice@example.test").await.len(), messages.len() + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_messages_are_refused_on_submission() {
    let t = TestServer::start().await;
    common::python_scenario(SCENARIOS, "deep_submission", &t, message_files(&t, &killers())).await;
}

/// The 63-level message (which once made every FETCH of its mailbox fail)
/// and the killers, APPENDed between healthy messages.
#[tokio::test(flavor = "multi_thread")]
async fn deep_messages_appended_keep_the_mailbox_readable() {
    let t = TestServer::start().await;
    let mut messages = vec![nested_message(Nesting::Multipart, 63, "a@x.test", "alice@example.test")];
    messages.extend(killers());
    common::python_scenario(SCENARIOS, "deep_append_then_fetch_range", &t, message_files(&t, &messages)).await;
    let report = t.store().check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sign_in_is_answered_after_the_pause_on_a_fresh_connection() {
    let pause = Duration::from_millis(800);
    let t = TestServer::start_with(|c| {
        (c.imap.auth_failure_delay, c.pop3.auth_failure_delay, c.smtp.auth_failure_delay) = (pause, pause, pause);
    })
    .await;
    let env = vec![("PAUSE_MS".to_string(), pause.as_millis().to_string())];
    common::python_scenario(SCENARIOS, "pause_before_the_reply", &t, env).await;
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

/// Under umask 022 (as a default install runs) the data directory is 0700
/// and everything in it 0600: the database, its WAL and SHM, the blob
/// files, the TLS key.
#[tokio::test(flavor = "multi_thread")]
async fn the_data_directory_is_private_whatever_the_umask() {
    let out = std::process::Command::new("sh").args(["-c", "umask"]).output().expect("sh");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0022", "the test runs under the usual umask");
    // A data directory the server creates (the test's own temporary
    // directory is made by the test).
    let t = TestServer::start_with(|c| c.data_dir = c.data_dir.join("data")).await;
    // A message larger than the inline limit: a blob file.
    let mut big = nested_message(Nesting::Multipart, 3, "a@x.test", "alice@example.test");
    big.extend(std::iter::repeat_n(b'x', 200_000));
    common::python_scenario(SCENARIOS, "deep_append_then_fetch_range", &t, message_files(&t, &[big])).await;
    let data = &t.config.data_dir;
    let mut checked = 0;
    let mut dirs = vec![data.clone()];
    while let Some(dir) = dirs.pop() {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
                checked += 1;
            }
        }
    }
    for name in ["caravel.db", "caravel.db-wal", "caravel.db-shm", "tls/key.pem"] {
        assert!(data.join(name).exists(), "{name} was checked");
    }
    assert!(checked >= 5, "the database files, the TLS files and a blob: {checked}");
}

/// `caravel serve` refuses a data directory others can write, and warns
/// when they can read it.
#[test]
fn serve_refuses_a_data_directory_others_can_write() {
    let env = common::Env::with_config("[listen]\n");
    let data = env.data_dir();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let r = env.run(&["serve"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("refusing to start") && r.stderr.contains("chmod 700"), "{}", r.stderr);
}

/// `caravel import` of the killers (the CLI once aborted) stores them,
/// flattened, and says which store it used.
#[test]
fn import_stores_deep_messages_flattened() {
    let env = common::Env::with_config("[listen]\n");
    env.ok(&["domain", "add", "example.test"]);
    env.ok(&["user", "add", "alice@example.test"]);
    let mut paths = Vec::new();
    for (i, m) in killers().iter().enumerate() {
        let p = env.dir.path().join(format!("deep-{i}.eml"));
        std::fs::write(&p, m).expect("write");
        paths.push(p.display().to_string());
    }
    let mut args = vec!["import", "alice@example.test"];
    args.extend(paths.iter().map(String::as_str));
    let r = env.run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("store in {}", env.data_dir().display())), "{}", r.stderr);
    let r = env.run(&["store", "check"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
}

/// Sends `command` over and over without ever reading the replies; the
/// server must give up on us (its writes time out) within `limit`, which
/// shows as our writes failing once it has closed the connection.
async fn never_reading_client_is_dropped(addr: std::net::SocketAddr, command: &[u8], limit: Duration) {
    use tokio::io::AsyncWriteExt;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (_unread, mut write) = stream.into_split();
    let batch = command.repeat(1000);
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(limit, async {
        loop {
            if write.write_all(&batch).await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(outcome.is_ok(), "{addr}: still connected after {:?} without reading", started.elapsed());
}

/// Issue 12: only IMAP had a write timeout; an SMTP or POP3 client that
/// stops reading held its session for ever.
#[tokio::test(flavor = "multi_thread")]
async fn clients_that_stop_reading_are_dropped() {
    let short = Duration::from_secs(1);
    let t = TestServer::start_with(|c| {
        c.smtp.command_timeout = short;
        c.pop3.idle_timeout = short;
        c.imap.idle_timeout = short;
    })
    .await;
    common::python_scenario(SCENARIOS, "tls_client_stops_reading", &t, vec![]).await;
    let limit = Duration::from_secs(15);
    never_reading_client_is_dropped(t.addr(caravel_net::Service::Smtp), b"EHLO client.test\r\n", limit).await;
    never_reading_client_is_dropped(t.addr(caravel_net::Service::Pop3), b"CAPA\r\n", limit).await;
    never_reading_client_is_dropped(t.addr(caravel_net::Service::Imap), b"a CAPABILITY\r\n", limit).await;
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Issue 12: a full disk refuses with 452 4.3.1 (SMTP) and NO [OVERQUOTA]
/// (IMAP), loses and damages nothing, and mail flows again once space
/// returns. The data directory is an 8 MB tmpfs (mounting needs root, as
/// CI has; elsewhere the test says so and does nothing).
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_cleanly_and_recovers() {
    let outer = tempfile::tempdir().expect("tempdir");
    let data = outer.path().join("data");
    std::fs::create_dir(&data).expect("mount point");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs"])
        .arg(&data)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI runs as root and must run this test");
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let _disk = SmallDisk(data.clone());
    let dir = data.clone();
    let t = TestServer::start_with(move |c| c.data_dir = dir).await;
    // Some mail before the disk fills up.
    let freed = vec![("PHASE".to_string(), "freed".to_string())];
    common::python_scenario(SCENARIOS, "disk_full", &t, freed.clone()).await;
    let before = t.inbox("alice@example.test").await;

    // Fill what is left of the disk.
    let filler = data.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).expect("filler");
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    let full = vec![("PHASE".to_string(), "full".to_string())];
    common::python_scenario(SCENARIOS, "disk_full", &t, full).await;

    std::fs::remove_file(&filler).expect("free the space");
    common::python_scenario(SCENARIOS, "disk_full", &t, freed).await;
    let after = t.inbox("alice@example.test").await;
    assert_eq!(after.len(), before.len() + 2, "the refused ones are not there, the later ones are");
    assert_eq!(&after[..before.len()], &before[..], "nothing stored earlier changed");
    let report = t.store().check().await.expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread")]
async fn rename_onto_a_child_left_by_delete_is_already_exists() {
    let t = TestServer::start().await;
    common::python_scenario(SCENARIOS, "rename_onto_a_left_child", &t, vec![]).await;
}

/// Issue 12: the per-address connection limit is a temporary condition
/// ([SYS/TEMP], RFC 3206), not a locked maildrop ([IN-USE]).
#[tokio::test(flavor = "multi_thread")]
async fn pop3_per_address_limit_says_sys_temp() {
    use tokio::io::AsyncReadExt;
    let t = TestServer::start_with(|c| c.limits.max_connections_per_ip = 1).await;
    let addr = t.addr(caravel_net::Service::Pop3);
    let mut first = tokio::net::TcpStream::connect(addr).await.expect("first");
    let mut greeting = [0u8; 64];
    let n = first.read(&mut greeting).await.expect("greeting");
    assert!(greeting[..n].starts_with(b"+OK"));
    let mut second = tokio::net::TcpStream::connect(addr).await.expect("second");
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), second.read_to_end(&mut reply))
        .await
        .expect("answered")
        .expect("read");
    assert!(reply.starts_with(b"-ERR [SYS/TEMP]"), "{}", String::from_utf8_lossy(&reply));
}
