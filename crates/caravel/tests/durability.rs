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
            let store = SqliteStore::open(&env.data_dir()).expect("open store");
            let user = store.get_user(&Address::parse(USER).expect("addr")).await.expect("get").expect("user");
            let inbox = store
                .mailboxes(user.id)
                .await
                .expect("mailboxes")
                .into_iter()
                .find(|m| m.name == "INBOX")
                .expect("INBOX");
            let present: HashSet<(u32, String)> =
                store.messages(inbox.id).await.expect("messages").into_iter().map(|m| (m.uid, m.blob)).collect();
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
