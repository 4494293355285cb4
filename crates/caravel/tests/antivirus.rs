//! The antivirus and the quarantine end to end: mail through smtplib, the
//! mailboxes seen with imaplib (tests/clients/av_scenarios.py), held
//! messages listed and released with the `caravel` binary, a signature
//! installed by `caravel av update` while the server runs, and clamd
//! (Debian's clamav-daemon, started here with a database of our own).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use caravel::testing::TestServer;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/av_scenarios.py");

async fn scenario(t: &TestServer, name: &str, args: &[&str]) {
    common::python_scenario_args(SCENARIOS, name, args, t, vec![]).await;
}

/// `caravel ARGS` against the running server's data; (success, stdout, stderr).
fn admin(t: &TestServer, args: &[&str]) -> (bool, String, String) {
    let config = t.dir.path().join("av-admin.toml");
    std::fs::write(&config, format!("data_dir = {:?}\n[listen]\n", t.config.data_dir)).expect("config");
    let out = Command::new(common::BIN).arg("--config").arg(&config).args(args).output().expect("caravel");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn held(t: &TestServer) -> Vec<serde_json::Value> {
    let (ok, out, err) = admin(t, &["quarantine", "list", "--json"]);
    assert!(ok, "{err}");
    serde_json::from_str::<serde_json::Value>(&out).expect("json").as_array().expect("array").clone()
}

/// A body-pattern signature file for an ASCII marker.
fn ndb(name: &str, marker: &str) -> String {
    let hex: String = marker.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{name}:0:*:{hex}\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn viruses_refused_suspicious_held_and_released() {
    let t = TestServer::start().await;
    let (ok, _, err) = admin(&t, &["filter", "keyword", "add", "zircon bargain", "--action", "quarantine"]);
    assert!(ok, "{err}");
    scenario(&t, "keyword_held", &[]).await;
    let spam = held(&t);
    assert_eq!(spam.len(), 1, "{spam:#?}");
    assert_eq!((spam[0]["kind"].as_str(), spam[0]["subject"].as_str()), (Some("spam"), Some("Order spamheld-1")));
    let (ok, _, err) = admin(&t, &["quarantine", "release", &spam[0]["id"].to_string()]);
    assert!(ok, "{err}");
    scenario(&t, "released", &["<spamheld-1@remote.test>"]).await;
    scenario(&t, "eicar_refused", &[]).await;
    scenario(&t, "double_extension_held", &[]).await;
    scenario(&t, "clean_pdf_delivered", &[]).await;
    scenario(&t, "outbound_program_refused", &[]).await;

    // Both refused EICAR messages are kept for the administrator; the
    // .pdf.exe is held for alice.
    let list = held(&t);
    assert_eq!(list.len(), 3, "{list:#?}");
    let viruses: Vec<_> = list.iter().filter(|h| h["kind"] == "virus").collect();
    assert_eq!(viruses.len(), 2, "{list:#?}");
    assert!(viruses.iter().all(|h| h["reason"].as_str().is_some_and(|r| r.contains("Eicar-Test-Signature"))));
    let suspicious = list.iter().find(|h| h["kind"] == "suspicious").expect("the .pdf.exe is held");
    assert_eq!(suspicious["recipients"], serde_json::json!(["alice@example.test"]));
    assert_eq!(suspicious["subject"], "Order pdfexe-1");
    assert!(suspicious["reason"].as_str().is_some_and(|r| r.contains("invoice.pdf.exe")), "{suspicious}");
    let id = suspicious["id"].as_i64().expect("id").to_string();

    // alice hears of what is held for her (the daily digest, run now);
    // nobody hears of refused viruses; a second run repeats nothing.
    let sent = caravel::antivirus::notify_recipients(t.store().as_ref(), &t.config.hostname).await.expect("notify");
    assert_eq!(sent, 1);
    assert_eq!(caravel::antivirus::notify_recipients(t.store().as_ref(), &t.config.hostname).await.expect("again"), 0);
    scenario(&t, "digest_received", &[&suspicious["id"].to_string()]).await;

    // show prints why and the message itself.
    let (ok, out, _) = admin(&t, &["quarantine", "show", &id]);
    assert!(ok && out.contains("kind: suspicious") && out.contains("pdfexe-1@remote.test"), "{out}");
    // Held messages count toward nobody's quota.
    let alice = t.store().get_user(&caravel_store::Address::parse("alice@example.test").expect("a")).await;
    let used_before = alice.expect("store").expect("alice").used;

    let (ok, out, err) = admin(&t, &["quarantine", "release", &id]);
    assert!(ok, "{err}");
    assert!(out.contains("alice@example.test"), "{out}");
    scenario(&t, "released", &["<pdfexe-1@remote.test>"]).await;
    assert_eq!(held(&t).len(), 2);
    let alice = t.store().get_user(&caravel_store::Address::parse("alice@example.test").expect("a")).await;
    assert!(alice.expect("store").expect("alice").used > used_before, "the released copy counts once delivered");

    let virus_id = viruses[0]["id"].as_i64().expect("id").to_string();
    let (ok, _, err) = admin(&t, &["quarantine", "release", &virus_id]);
    assert!(!ok && err.contains("--force"), "a virus is released only on purpose: {err}");
    let (ok, _, _) = admin(&t, &["quarantine", "del", &virus_id]);
    assert!(ok);
    assert_eq!(held(&t).len(), 1);
    let (ok, _, err) = admin(&t, &["quarantine", "del", &virus_id]);
    assert!(!ok && err.contains("no held message"), "{err}");
}

/// A held message's copies for outside addresses (an alias that forwards)
/// wait in the quarantine too, in one entry with the local copies (the
/// scanner's reason is the same for all), and leave through the queue on
/// release while the local copy is stored.
#[tokio::test(flavor = "multi_thread")]
async fn forwarded_copies_are_held_with_the_message() {
    let t = TestServer::start().await;
    let (ok, _, err) =
        admin(&t, &["alias", "add", "orders@example.test", "alice@example.test", "partner@elsewhere.test"]);
    assert!(ok, "{err}");
    scenario(&t, "program_to", &["orders@example.test", "fwd-1"]).await;
    let list = held(&t);
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["kind"], "suspicious");
    assert_eq!(list[0]["recipients"], serde_json::json!(["alice@example.test", "partner@elsewhere.test"]));
    assert_eq!(list[0]["via"], serde_json::json!({"partner@elsewhere.test": ["orders@example.test"]}));
    let queue = |t: &TestServer| {
        let (ok, out, err) = admin(t, &["queue", "list", "--json"]);
        assert!(ok, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).expect("json").as_array().expect("array").len()
    };
    assert_eq!(queue(&t), 0, "nothing went out while held");
    let (ok, out, err) = admin(&t, &["quarantine", "release", &list[0]["id"].to_string()]);
    assert!(ok, "{err}");
    assert!(out.contains("partner@elsewhere.test") && out.contains("alice@example.test"), "{out}");
    assert_eq!(queue(&t), 1, "released into the queue");
    assert!(held(&t).is_empty(), "released for both");
    assert_eq!(t.inbox("alice@example.test").await.len(), 1, "alice's copy is stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signature_installed_by_update_is_used_by_the_running_server() {
    let t = TestServer::start().await;
    let doctor = |t: &TestServer| {
        let (_, out, _) = admin(t, &["doctor", "--json", "alice@example.test"]);
        serde_json::from_str::<serde_json::Value>(&out).expect("doctor --json")
    };
    let before = doctor(&t);
    assert_eq!(before[0]["name"], "antivirus");
    assert_eq!(before[0]["status"], "warn", "{before}");
    assert!(before[0]["verdict"].as_str().is_some_and(|v| v.contains("only the built-in")), "{before}");
    assert!(before.as_array().expect("checks").iter().any(|c| c["name"] == "account" && c["status"] == "ok"));
    let dir = tempfile::tempdir().expect("dir");
    let marker = "caravel-update-marker-7f3a";
    std::fs::write(dir.path().join("local.ndb"), ndb("Caravel.Test.UpdateMarker", marker)).expect("write");
    let (ok, out, err) = admin(&t, &["av", "update", "--from", &dir.path().display().to_string()]);
    assert!(ok, "{err}");
    assert!(out.contains("installed 1 signature(s)"), "{out}");
    scenario(&t, "marker_refused", &[marker, "Caravel.Test.UpdateMarker"]).await;
    let after = doctor(&t);
    assert_eq!(after[0]["status"], "ok", "{after}");
    assert!(after[0]["verdict"].as_str().is_some_and(|v| v.starts_with("3 signatures from 1 file(s)")), "{after}");
    // Files a week old get a warning.
    let installed = std::fs::read_dir(t.config.data_dir.join("antivirus"))
        .expect("installed")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("db-"))
        .expect("a db- directory");
    let old = std::time::SystemTime::now() - Duration::from_secs(8 * 86_400);
    let f = std::fs::File::options().write(true).open(installed.path().join("local.ndb")).expect("open");
    f.set_modified(old).expect("mtime");
    let stale = doctor(&t);
    assert_eq!(stale[0]["status"], "warn", "{stale}");
    assert!(stale[0]["fix"].as_str().is_some_and(|f| f.contains("more than a week old")), "{stale}");

    // From a URL: a SHA256SUMS list served over HTTP, each file checked
    // against it; a whole-file .hdb hash this time.
    let web = tempfile::tempdir().expect("web");
    let file = b"caravel hdb marker: the exact bytes of one attachment\n";
    let md5 = {
        let out = Command::new("md5sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("md5sum");
        use std::io::Write;
        out.stdin.as_ref().expect("stdin").write_all(file).expect("write");
        String::from_utf8(out.wait_with_output().expect("md5sum").stdout).expect("utf8")[..32].to_string()
    };
    std::fs::write(web.path().join("marker.hdb"), format!("{md5}:{}:Caravel.Test.HashMarker\n", file.len()))
        .expect("w");
    std::fs::write(web.path().join("local.ndb"), ndb("Caravel.Test.UpdateMarker", marker)).expect("w");
    let sums = Command::new("sha256sum")
        .current_dir(web.path())
        .args(["marker.hdb", "local.ndb"])
        .output()
        .expect("sha256sum");
    std::fs::write(web.path().join("SHA256SUMS"), &sums.stdout).expect("w");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let mut http = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
        .current_dir(web.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("http.server");
    let url = format!("http://127.0.0.1:{port}/SHA256SUMS");
    let mut result = admin(&t, &["av", "update", "--from", &url]);
    for _ in 0..50 {
        if result.0 || !result.2.contains("refused") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100)); // the server is still starting
        result = admin(&t, &["av", "update", "--from", &url]);
    }
    assert!(result.0, "{}", result.2);
    assert!(result.1.contains("installed 2 signature(s)"), "{}", result.1);
    std::fs::write(web.path().join("tmp.txt"), file).expect("w");
    scenario(&t, "file_refused", &[&web.path().join("tmp.txt").display().to_string(), "Caravel.Test.HashMarker"]).await;
    // A file that does not match its listed sum is refused, and nothing changes.
    std::fs::write(web.path().join("marker.hdb"), "0123456789abcdef0123456789abcdef:5:Other\n").expect("w");
    let (ok, _, err) = admin(&t, &["av", "update", "--from", &url]);
    assert!(!ok && err.contains("does not match"), "{err}");
    let _ = http.kill();
    let _ = http.wait();

    // A broken update changes nothing.
    std::fs::write(dir.path().join("broken.hdb"), "not-a-hash:1:X\n").expect("write");
    let (ok, _, err) = admin(&t, &["av", "update", "--from", &dir.path().display().to_string()]);
    assert!(!ok && err.contains("broken.hdb line 1"), "{err}");
    assert_eq!(t.server.antivirus.info().signatures, 4);
}

#[test]
fn av_scan_names_what_it_finds_and_exits_1() {
    let dir = tempfile::tempdir().expect("dir");
    let eicar = [&b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$"[..], b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"].concat();
    std::fs::write(dir.path().join("eicar.com"), &eicar).expect("w");
    std::fs::write(dir.path().join("fine.txt"), "fine").expect("w");
    std::fs::write(dir.path().join("report.pdf.scr"), "x").expect("w");
    let run = |files: &[&str]| {
        let mut c = Command::new(common::BIN);
        c.current_dir(dir.path()).args(["av", "scan"]).args(files);
        c.output().expect("caravel")
    };
    let out = run(&["fine.txt"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "fine.txt: OK\n");
    let out = run(&["fine.txt", "eicar.com", "report.pdf.scr"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("eicar.com: Eicar-Test-Signature FOUND"), "{text}");
    assert!(text.contains("report.pdf.scr: SUSPICIOUS Heuristics.DoubleExtension"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 file(s) infected or suspicious"));
}

/// clamd from Debian's clamav-daemon, in the foreground on a unix socket of
/// our own, with a one-line database (clamd will not start without one).
struct Clamd {
    child: Child,
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clamd_binary() -> &'static str {
    for p in ["/usr/sbin/clamd", "/usr/bin/clamd"] {
        if Path::new(p).exists() {
            return p;
        }
    }
    panic!("clamd is not installed: apt-get install clamav-daemon (.ci/run does)");
}

fn start_clamd(dir: &Path, signatures: &str) -> Clamd {
    let db = dir.join("db");
    std::fs::create_dir_all(&db).expect("db dir");
    std::fs::write(db.join("caravel-test.ndb"), signatures).expect("db");
    let socket = dir.join("clamd.sock");
    let conf = dir.join("clamd.conf");
    std::fs::write(
        &conf,
        format!(
            "LocalSocket {}\nDatabaseDirectory {}\nForeground yes\nLogFile {}\nPidFile {}\nTemporaryDirectory {}\nStreamMaxLength 60M\n",
            socket.display(),
            db.display(),
            dir.join("clamd.log").display(),
            dir.join("clamd.pid").display(),
            dir.display()
        ),
    )
    .expect("conf");
    let child = Command::new(clamd_binary())
        .arg("--config-file")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("clamd");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "clamd did not start: {:?}",
            std::fs::read_to_string(dir.join("clamd.log"))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Clamd { child }
}

#[tokio::test(flavor = "multi_thread")]
async fn clamd_finds_what_the_builtin_scanner_does_not_and_its_absence_is_a_temporary_refusal() {
    let dir = tempfile::tempdir().expect("dir");
    let marker = "caravel-clamd-only-marker-91c2";
    let clamd = start_clamd(dir.path(), &ndb("Caravel.Test.ClamdOnly", marker));
    let socket = dir.path().join("clamd.sock");
    let t = TestServer::start_with(|c| c.antivirus.clamd = Some(socket.display().to_string())).await;
    scenario(&t, "clamd_finds", &[marker, "Caravel.Test.ClamdOnly"]).await;
    scenario(&t, "clean_pdf_delivered", &[]).await;
    drop(clamd);
    let _ = std::fs::remove_file(&socket);
    scenario(&t, "clamd_down", &[]).await;
}
