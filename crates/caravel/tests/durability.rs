//! Nothing acknowledged is lost: a process storing a stream of messages
//! (16 in flight, group-committed) is SIGKILLed at different points; after a
//! restart every message it reported as stored is there, byte for byte, and
//! `caravel store check` finds nothing half-written.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use caravel_store::sqlite::SqliteStore;
use caravel_store::{Address, Directory, MailStore};
use common::{free_port, send_signal, wait_for_port, Env};

const USER: &str = "archive@example.test";

fn write_mbox(path: &std::path::Path, round: usize, count: usize) {
    let mut out = String::new();
    for i in 0..count {
        out.push_str(&format!(
            "From sender@remote.test Sat Jan  3 10:00:00 2026\nFrom: sender@remote.test\nTo: {USER}\nSubject: round {round} message {i}\nMessage-ID: <r{round}m{i}@remote.test>\n\n"
        ));
        // Sizes from about 1 KB to 40 KB.
        for line in 0..(10 + (i * 37) % 500) {
            out.push_str(&format!("round {round} message {i} line {line} of the body text\n"));
        }
    }
    std::fs::write(path, out).expect("write mbox");
}

/// Imports `count` messages, kills the importer with SIGKILL once `kill_after`
/// were acknowledged, and returns the acknowledged (uid, sha256) pairs.
fn import_and_kill(env: &Env, round: usize, count: usize, kill_after: usize) -> Vec<(u32, String)> {
    let mbox = env.dir.path().join(format!("round{round}.mbox"));
    write_mbox(&mbox, round, count);
    let mut child = env
        .command(&["import", USER, mbox.to_str().expect("path")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("import");
    let stdout = child.stdout.take().expect("stdout");
    let mut acked = Vec::new();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some("UID"), "{line}");
        let uid: u32 = parts.next().expect("uid").parse().expect("number");
        acked.push((uid, parts.next().expect("hash").to_string()));
        if acked.len() == kill_after && !killed {
            child.kill().expect("SIGKILL");
            killed = true;
        }
    }
    child.wait().expect("reaped");
    assert!(killed, "round {round}: the import finished before it could be killed");
    assert!(acked.len() < count, "round {round}: killed too late to test anything");
    acked
}

/// The store after a restart, and the messages of `user`'s INBOX.
async fn inbox(env: &Env, user: &str) -> (SqliteStore, Vec<caravel_store::MessageMeta>) {
    let store = SqliteStore::open(&env.data_dir()).expect("open store");
    let user = store.get_user(&Address::parse(user).expect("addr")).await.expect("get").expect("user");
    let mailboxes = store.mailboxes(user.id).await.expect("mailboxes");
    let inbox = mailboxes.into_iter().find(|m| m.name == "INBOX").expect("INBOX");
    let messages = store.messages(inbox.id).await.expect("messages");
    (store, messages)
}

/// Starts and stops the server once: start-up is crash recovery.
fn restart_server(env: &Env) {
    let http = free_port();
    let config = env.dir.path().join("serve.toml");
    let text = std::fs::read_to_string(&env.config).expect("config") + &format!("http = [\"127.0.0.1:{http}\"]\n");
    std::fs::write(&config, text).expect("serve config");
    let mut child = std::process::Command::new(common::BIN)
        .args(["--config", config.to_str().expect("path"), "serve"])
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    wait_for_port(http);
    send_signal(child.id(), "-TERM");
    assert!(child.wait().expect("wait").success());
}

#[test]
fn sigkill_during_deliveries_loses_nothing_acknowledged() {
    let env = Env::with_config("[listen]\n");
    env.ok(&["domain", "add", "example.test"]);
    let r = env.run_with_input(&["user", "add", USER, "--password-stdin"], "Durable-Vault-Key-2026\n");
    assert_eq!(r.code, 0, "{}", r.stderr);

    let mut all_acked: Vec<(u32, String)> = Vec::new();
    for (round, kill_after) in [(1, 40), (2, 300), (3, 900)] {
        all_acked.extend(import_and_kill(&env, round, 2500, kill_after));
        restart_server(&env);

        let check = env.run(&["store", "check"]);
        assert_eq!(check.code, 0, "round {round}: store check found damage:\n{}{}", check.stdout, check.stderr);

        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let (store, messages) = inbox(&env, USER).await;
            let present: HashSet<(u32, String)> = messages.into_iter().map(|m| (m.uid, m.blob)).collect();
            for (uid, hash) in &all_acked {
                assert!(present.contains(&(*uid, hash.clone())), "round {round}: acknowledged UID {uid} is missing");
                let body = store.read_blob(hash).await.expect("blob readable");
                assert_eq!(&caravel_store::blobs::BlobStore::hash(&body), hash, "content intact");
            }
            // Messages stored but not yet acknowledged when the kill came may
            // exist too; nothing else may.
            assert!(present.len() >= all_acked.len());
        });
    }
}

/// The issue's own scenario: the *server* is SIGKILLed while 16 SMTP clients
/// stream messages into it. Every message that got its 250 must be in the
/// mailbox after a restart, byte for byte, and the store must check clean.
#[test]
fn sigkill_of_the_server_during_smtp_deliveries_loses_nothing_acknowledged() {
    let (smtp, http) = (free_port(), free_port());
    let env = Env::with_config(&format!("[listen]\nsmtp = [\"127.0.0.1:{smtp}\"]\nhttp = [\"127.0.0.1:{http}\"]\n"));
    env.ok(&["domain", "add", "example.test"]);
    let r = env.run_with_input(&["user", "add", "alice@example.test", "--password-stdin"], "Wonderland-Key-2026\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let stream = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/smtp_stream.py");

    let mut acked: std::collections::HashMap<String, String> = Default::default();
    for (round, kill_after) in [(1, 150), (2, 600)] {
        let mut server = env.command(&["serve"]).stderr(Stdio::null()).spawn().expect("serve");
        wait_for_port(smtp);
        let mut client = std::process::Command::new("python3")
            .args([stream, &smtp.to_string(), "16", "4000", &format!("r{round}")])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut seen = 0;
        for line in BufReader::new(client.stdout.take().expect("stdout")).lines() {
            let line = line.expect("line");
            let mut parts = line.split_whitespace().skip(1);
            let (id, hash) = (parts.next().expect("id").to_string(), parts.next().expect("hash").to_string());
            acked.insert(id, hash);
            seen += 1;
            if seen == kill_after {
                server.kill().expect("SIGKILL the server");
            }
        }
        client.wait().expect("client");
        server.wait().expect("reaped");
        assert!(seen >= kill_after && seen < 4000, "round {round}: {seen} acknowledged; the kill came too late");

        // Start-up is crash recovery.
        let mut again = env.command(&["serve"]).stderr(Stdio::null()).spawn().expect("serve");
        wait_for_port(http);
        send_signal(again.id(), "-TERM");
        assert!(again.wait().expect("wait").success());
        let check = env.run(&["store", "check"]);
        assert_eq!(check.code, 0, "round {round}: damage after the kill:\n{}{}", check.stdout, check.stderr);

        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let (store, messages) = inbox(&env, "alice@example.test").await;
            let mut stored: std::collections::HashMap<String, String> = Default::default();
            for m in messages {
                let raw = store.read_message(&m).await.expect("readable");
                let start = raw.windows(26).position(|w| w == b"From: stream@remote.test\r\n").expect("the sent text");
                let text = String::from_utf8_lossy(&raw[start..]).to_string();
                let id = text.lines().find_map(|l| l.strip_prefix("Message-ID: ")).expect("Message-ID").to_string();
                use sha2::Digest;
                stored.insert(id, hex::encode(sha2::Sha256::digest(&raw[start..])));
            }
            for (id, hash) in &acked {
                assert_eq!(stored.get(id), Some(hash), "round {round}: acknowledged {id} missing or altered");
            }
        });
    }
}
