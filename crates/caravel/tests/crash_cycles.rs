//! Issue 12: every write path under SIGKILL. A real `caravel serve` takes a
//! workload of SMTP deliveries, IMAP APPEND, COPY, MOVE, EXPUNGE, CREATE,
//! RENAME and DELETE, and POP3 DELE+QUIT (tests/clients/crash_workload.py),
//! and is killed at a random moment, `CRASH_CYCLES` (100) times. After each
//! kill: `caravel store check` is clean, every acknowledged message is there
//! byte for byte where the acknowledged operations put it, an unfinished MOVE
//! left exactly one copy, nothing is stored twice, acknowledged folder
//! changes stand. (The queue and `caravel import` have their own kill tests:
//! queue_durability.rs, durability.rs.)

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use caravel_store::sqlite::SqliteStore;
use caravel_store::{Address, Directory, MailStore};
use common::{free_port, wait_for_port, Env};

const WORKLOAD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/crash_workload.py");
const USER: &str = "alice@example.test";

/// What the journals of all passes say was acknowledged.
#[derive(Default)]
struct Journal {
    delivered: HashMap<String, String>,
    appended: HashMap<String, String>,
    copied: HashSet<String>,
    moved: HashSet<String>,
    expunging: HashSet<String>,
    expunged: HashSet<String>,
    popping: HashSet<String>,
    popped: HashSet<String>,
    /// Folder names that must exist / must not.
    present: HashSet<String>,
    absent: HashSet<String>,
    done: usize,
}

impl Journal {
    fn take(&mut self, line: &str) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let mut folder = |name: &str, exists: bool| {
            let (add, remove) =
                if exists { (&mut self.present, &mut self.absent) } else { (&mut self.absent, &mut self.present) };
            remove.remove(name);
            add.insert(name.to_string());
        };
        match w.as_slice() {
            ["DELIVER", id, sha] => drop(self.delivered.insert(id.to_string(), sha.to_string())),
            ["APPEND", _, id, sha] => drop(self.appended.insert(id.to_string(), sha.to_string())),
            ["COPY", id] => drop(self.copied.insert(id.to_string())),
            ["MOVE", id] => drop(self.moved.insert(id.to_string())),
            ["EXPUNGING", id] => drop(self.expunging.insert(id.to_string())),
            ["EXPUNGE", id] => drop(self.expunged.insert(id.to_string())),
            ["POPPING", id] => drop(self.popping.insert(id.to_string())),
            ["POPPED", id] => drop(self.popped.insert(id.to_string())),
            ["CREATE", name] => folder(name, true),
            ["RENAME", from, to] => {
                folder(from, false);
                folder(to, true);
                // Its children moved along.
                folder(&format!("{from}/sub"), false);
                folder(&format!("{to}/sub"), true);
            }
            ["DELETE", name] => folder(name, false),
            // Unacknowledged: either outcome is right until the reply comes.
            ["RENAMING", from, to] => {
                for name in [from.to_string(), format!("{from}/sub"), to.to_string(), format!("{to}/sub")] {
                    self.present.remove(&name);
                    self.absent.remove(&name);
                }
            }
            ["DELETING", name] => drop(self.present.remove(*name)),
            ["DONE"] => self.done += 1,
            _ => panic!("unknown journal line {line:?}"),
        }
    }
}

/// Message-ID → (sha256 of the sent text, copies) per mailbox.
type Contents = HashMap<String, HashMap<String, (String, usize)>>;

async fn contents(env: &Env) -> Contents {
    let store = SqliteStore::open(&env.data_dir()).expect("open store");
    let user = store.get_user(&Address::parse(USER).expect("addr")).await.expect("get").expect("user");
    let mut out = Contents::new();
    for mailbox in store.mailboxes(user.id).await.expect("mailboxes") {
        let slot = out.entry(mailbox.name.clone()).or_default();
        for m in store.messages(mailbox.id).await.expect("messages") {
            let raw = store.read_message(&m).await.expect("readable");
            // Local delivery puts trace fields in front of what was sent.
            let start = raw.windows(25).position(|w| w == b"From: crash@remote.test\r\n").expect("the sent text");
            let text = String::from_utf8_lossy(&raw[start..]).to_string();
            let id = text.lines().find_map(|l| l.strip_prefix("Message-ID: ")).expect("Message-ID").to_string();
            use sha2::Digest;
            let sha = hex::encode(sha2::Sha256::digest(&raw[start..]));
            let entry = slot.entry(id).or_insert((sha, 0));
            entry.1 += 1;
        }
    }
    out
}

fn verify(cycle: usize, j: &Journal, c: &Contents) {
    let count = |mailbox: &str, id: &str| c.get(mailbox).and_then(|m| m.get(id)).map_or(0, |e| e.1);
    let sha = |mailbox: &str, id: &str| c.get(mailbox).and_then(|m| m.get(id)).map(|e| e.0.clone());
    for (mailbox, messages) in c {
        for (id, (_, n)) in messages {
            assert!(*n <= 1, "cycle {cycle}: {id} stored {n} times in {mailbox}");
        }
    }
    for (id, want) in &j.delivered {
        let (inbox, archive) = (count("INBOX", id), count("Archive", id));
        if j.moved.contains(id) {
            assert_eq!((inbox, archive), (0, 1), "cycle {cycle}: moved {id}");
            assert_eq!(sha("Archive", id).as_ref(), Some(want), "cycle {cycle}: {id} altered");
        } else if j.popped.contains(id) {
            assert_eq!(inbox, 0, "cycle {cycle}: {id} deleted by POP3 came back");
        } else if !j.popping.contains(id) {
            // An unfinished MOVE leaves it in one place or the other, never both or neither.
            assert_eq!(inbox + archive, 1, "cycle {cycle}: acknowledged {id}: INBOX {inbox}, Archive {archive}");
            let where_ = if inbox == 1 { "INBOX" } else { "Archive" };
            assert_eq!(sha(where_, id).as_ref(), Some(want), "cycle {cycle}: {id} altered");
        }
    }
    for (id, want) in &j.appended {
        if j.expunged.contains(id) {
            assert_eq!((count("Work", id), count("Copies", id)), (0, 0), "cycle {cycle}: expunged {id} came back");
        } else if !j.expunging.contains(id) {
            assert_eq!(count("Work", id), 1, "cycle {cycle}: appended {id} missing from Work");
            assert_eq!(sha("Work", id).as_ref(), Some(want), "cycle {cycle}: {id} altered");
            if j.copied.contains(id) {
                assert_eq!(sha("Copies", id).as_ref(), Some(want), "cycle {cycle}: copy of {id}");
            }
        }
    }
    for name in &j.present {
        assert!(c.contains_key(name), "cycle {cycle}: acknowledged folder {name} missing");
    }
    for name in &j.absent {
        assert!(!c.contains_key(name), "cycle {cycle}: {name} should be gone");
    }
}

#[test]
fn every_write_path_survives_sigkill_cycles() {
    let cycles: usize = std::env::var("CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let (smtp, imaps, pop3s, http) = (free_port(), free_port(), free_port(), free_port());
    let env = Env::with_config(&format!(
        "[listen]\nsmtp = [\"127.0.0.1:{smtp}\"]\nimaps = [\"127.0.0.1:{imaps}\"]\npop3s = [\"127.0.0.1:{pop3s}\"]\nhttp = [\"127.0.0.1:{http}\"]\n\
         [security]\nmax_failed_logins = 10000\nip_max_failed_logins = 10000\n"
    ));
    env.ok(&["domain", "add", "example.test"]);
    let r = env.run_with_input(&["user", "add", USER, "--password-stdin"], "Wonderland-Key-2026\n");
    assert_eq!(r.code, 0, "{}", r.stderr);

    let mut next = caravel_testkit::xorshift(0x00c0_ffee);
    let mut journal = Journal::default();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for cycle in 0..cycles {
        let mut server = env.command(&["serve"]).stderr(Stdio::null()).spawn().expect("serve");
        wait_for_port(http);
        let mut workload = Command::new("python3")
            .args([WORKLOAD, &format!("c{cycle}")])
            .envs([
                ("SMTP_PORT", smtp.to_string()),
                ("IMAPS_PORT", imaps.to_string()),
                ("POP3S_PORT", pop3s.to_string()),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let stdout = workload.stdout.take().expect("stdout");
        let reader =
            std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<_>>());
        // Anywhere from the first commands to after the pass.
        std::thread::sleep(Duration::from_millis(20 + next() % 900));
        server.kill().expect("SIGKILL");
        server.wait().expect("reaped");
        workload.wait().expect("workload");
        for line in reader.join().expect("journal") {
            journal.take(&line);
        }
        let check = env.run(&["store", "check"]);
        assert_eq!(check.code, 0, "cycle {cycle}: store check after the kill:\n{}{}", check.stdout, check.stderr);
        let c = rt.block_on(contents(&env));
        verify(cycle, &journal, &c);
    }
    eprintln!(
        "{cycles} SIGKILL cycles: {} deliveries, {} appends, {} copies, {} moves, {} expunges, {} POP3 deletions acknowledged; {} passes finished before their kill",
        journal.delivered.len(),
        journal.appended.len(),
        journal.copied.len(),
        journal.moved.len(),
        journal.expunged.len(),
        journal.popped.len(),
        journal.done
    );
    assert!(journal.delivered.len() > cycles / 2 && journal.moved.len() > 5 && journal.expunged.len() > 2);
}

/// The admin commands under SIGKILL: each change is one transaction, so a
/// kill at any moment leaves the store clean, and a command that finished
/// (exit 0) left its change.
#[test]
fn admin_commands_survive_sigkill() {
    let env = Env::with_config("[listen]\n");
    env.ok(&["domain", "add", "example.test"]);
    let mut next = caravel_testkit::xorshift(0x0bad_5eed);
    let mut finished = Vec::new();
    for i in 0..30 {
        let address = format!("user{i}@example.test");
        let mut child = env
            .command(&["user", "add", &address, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("user add");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            let _ = stdin.write_all(b"Admin-Crash-Key-2026\n");
        }
        std::thread::sleep(Duration::from_millis(next() % 120));
        let _ = child.kill();
        if child.wait().expect("reaped").success() {
            finished.push(address);
        }
        let check = env.run(&["store", "check"]);
        assert_eq!(check.code, 0, "kill {i}: {}{}", check.stdout, check.stderr);
    }
    let list = env.ok(&["user", "list", "--json"]);
    for address in &finished {
        assert!(list.contains(address.as_str()), "{address} was added (exit 0) but is missing");
    }
    eprintln!("admin commands: 30 kills, {} commands finished first, store clean after each", finished.len());
}
