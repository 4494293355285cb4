//! The admin commands of INTERFACE.md, through the real binary: what they
//! accept, what they refuse (exit 1, one line, nothing changed), and --json.

mod common;

use common::Env;

fn users_json(env: &Env) -> serde_json::Value {
    serde_json::from_str(&env.ok(&["user", "list", "--json"])).expect("user list --json is JSON")
}

fn setup() -> Env {
    let env = Env::new();
    env.ok(&["domain", "add", "Example.TEST"]);
    let r = env.run_with_input(
        &["user", "add", "Maria.Silva@example.test", "--password-stdin", "--name", "Maria Silva", "--quota", "2G"],
        "Lisbon-Harbour-42\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    env
}

/// Runs a command that must be refused, and checks that it said why in one
/// line and changed nothing.
fn refused(env: &Env, args: &[&str], stdin: &str, says: &str) {
    let users = users_json(env);
    let aliases = env.ok(&["alias", "list", "--json"]);
    let domains = env.ok(&["domain", "list", "--json"]);
    let r = env.run_with_input(args, stdin);
    assert_eq!(r.code, 1, "{args:?} should exit 1; stdout {} stderr {}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "one line on stderr for {args:?}: {:?}", r.stderr);
    assert!(r.stderr.contains(says), "{args:?}: expected {says:?} in {:?}", r.stderr);
    assert_eq!(users_json(env), users, "{args:?} changed the users");
    assert_eq!(env.ok(&["alias", "list", "--json"]), aliases, "{args:?} changed the aliases");
    assert_eq!(env.ok(&["domain", "list", "--json"]), domains, "{args:?} changed the domains");
}

#[test]
fn user_add_normalises_and_lists_as_json() {
    let env = setup();
    let users = users_json(&env);
    let u = &users[0];
    assert_eq!(u["address"], "Maria.Silva@example.test", "local part preserved, domain lowercased");
    assert_eq!(u["name"], "Maria Silva");
    assert_eq!(u["quota"], 2u64 << 30);
    assert_eq!(u["used"], 0);
    assert_eq!(u["locked"], false);
    assert!(u.get("password_hash").is_none(), "no secret in output");
}

#[test]
fn generated_password_is_printed_once_and_is_strong() {
    let env = setup();
    let out = env.ok(&["user", "add", "joao@example.test"]);
    let password = out.lines().last().and_then(|l| l.split(": ").nth(1)).expect("password line");
    assert_eq!(password.len(), 20, "{out}");
    assert_eq!(users_json(&env).as_array().expect("array").len(), 2);
}

#[test]
fn unicode_domains_are_stored_as_idna() {
    let env = Env::new();
    env.ok(&["domain", "add", "Bücher.DE"]);
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["domain", "list", "--json"])).expect("json");
    assert_eq!(list[0]["name"], "xn--bcher-kva.de");
    assert_eq!(list[0]["display"], "bücher.de");
    let r = env.run_with_input(&["user", "add", "info@bücher.de", "--password-stdin"], "Frankfurt-Buch-77\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(users_json(&env)[0]["address"], "info@xn--bcher-kva.de");
}

#[test]
fn refusals_exit_1_with_one_line_and_change_nothing() {
    let env = setup();
    let strong = "Another-Strong-Pass-9\n";
    refused(&env, &["user", "add", "someone@unknown.test", "--password-stdin"], strong, "not served here");
    refused(&env, &["user", "add", "not-an-address", "--password-stdin"], strong, "not an email address");
    refused(&env, &["user", "add", "two..dots@example.test", "--password-stdin"], strong, "two dots");
    refused(&env, &["user", "add", "maria.silva@EXAMPLE.test", "--password-stdin"], strong, "already exists");
    refused(&env, &["user", "add", "new@example.test", "--password-stdin"], "\n", "password is empty");
    refused(&env, &["user", "add", "new@example.test", "--password-stdin"], "short\n", "too short");
    refused(&env, &["user", "add", "new@example.test", "--password-stdin"], "password123\n", "most common");
    refused(&env, &["user", "add", "new@example.test", "--password-stdin", "--quota", "lots"], strong, "bad quota");
    refused(&env, &["user", "add", "new@example.test", "--password-stdin", "--quota=-5G"], strong, "bad quota");
    refused(&env, &["user", "set", "maria.silva@example.test", "--quota", "12Q"], "", "bad quota");
    refused(&env, &["user", "set", "nobody@example.test", "--name", "X"], "", "no user");
    refused(&env, &["user", "set", "maria.silva@example.test", "--recovery", "nope"], "", "bad recovery address");
    refused(&env, &["user", "passwd", "maria.silva@example.test", "--password-stdin"], "weak\n", "too short");
    refused(&env, &["user", "del", "nobody@example.test"], "", "no user");
    refused(&env, &["user", "unlock", "nobody@example.test"], "", "no user");
    refused(&env, &["domain", "add", "example.test"], "", "already exists");
    refused(&env, &["domain", "add", "not a domain"], "", "not a valid domain");
    refused(&env, &["domain", "add", "localhost"], "", "not a valid domain");
    refused(&env, &["domain", "del", "example.test"], "", "still has 1 user");
    refused(&env, &["domain", "del", "other.test"], "", "not served here");
    refused(&env, &["alias", "add", "sales@unknown.test", "maria.silva@example.test"], "", "not served here");
    refused(&env, &["alias", "add", "maria.silva@example.test", "x@remote.test"], "", "already a user");
    refused(&env, &["alias", "add", "sales@example.test", "broken"], "", "not an email address");
    refused(&env, &["alias", "add", "sales@example.test", "sales@example.test"], "", "itself");
    refused(&env, &["alias", "del", "nothing@example.test"], "", "no alias");
}

#[test]
fn usage_errors_exit_2() {
    let env = setup();
    for args in [
        &["user"][..],
        &["user", "frobnicate"],
        &["user", "passwd", "a@example.test"],
        &["alias", "add", "a@example.test"],
        &["nonsense"],
    ] {
        let r = env.run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn user_lifecycle() {
    let env = setup();
    let a = "maria.silva@example.test";
    env.ok(&["user", "set", a, "--name", "Maria S.", "--quota", "500M", "--recovery", "maria@home.test"]);
    let u = &users_json(&env)[0];
    assert_eq!((u["name"].as_str(), u["quota"].as_u64()), (Some("Maria S."), Some(500 << 20)));
    assert_eq!(u["recovery"], "maria@home.test");
    env.ok(&["user", "set", a, "--quota", "0"]);
    assert!(users_json(&env)[0]["quota"].is_null(), "0 removes the quota");
    let r = env.run_with_input(&["user", "passwd", a, "--password-stdin"], "A-New-Long-Secret-1\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    env.ok(&["user", "unlock", a]);
    env.ok(&["user", "del", a]);
    assert_eq!(users_json(&env), serde_json::json!([]));
    env.ok(&["domain", "del", "example.test"]);
    assert_eq!(env.ok(&["domain", "list", "--json"]).trim(), "[]");
}

#[test]
fn aliases() {
    let env = setup();
    env.ok(&["alias", "add", "Sales@Example.test", "maria.silva@example.test", "partner@remote.test"]);
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["alias", "list", "--json"])).expect("json");
    assert_eq!(list[0]["address"], "Sales@example.test");
    assert_eq!(list[0]["targets"], serde_json::json!(["maria.silva@example.test", "partner@remote.test"]));
    let r = env.run(&["alias", "add", "sales@example.test", "x@remote.test"]);
    assert_eq!(r.code, 1);
    env.ok(&["alias", "del", "SALES@example.test"]);
    assert_eq!(env.ok(&["alias", "list", "--json"]).trim(), "[]");
    env.ok(&["alias", "add", "@Example.TEST", "maria.silva@example.test"]);
    assert!(env.ok(&["alias", "list"]).contains("@example.test\tmaria.silva@example.test"));
    env.ok(&["alias", "del", "@example.test"]);
}

#[test]
fn store_check_passes_on_a_good_store() {
    let env = setup();
    let out = env.ok(&["store", "check"]);
    assert!(out.contains("0 problem(s)"), "{out}");
}

#[test]
fn store_check_fails_with_a_report_on_damage() {
    let env = setup();
    let mbox = env.dir.path().join("in.mbox");
    // Large enough (40 KB) to be kept in a blob file rather than in the database.
    let body = "a line of a long message body\n".repeat(1400);
    std::fs::write(&mbox, format!("From a@b Sat Jan  1 00:00:00 2026\nSubject: hi\n\n{body}")).expect("mbox");
    env.ok(&["import", "maria.silva@example.test", mbox.to_str().expect("path")]);
    let blobs = env.data_dir().join("blobs");
    let file = std::fs::read_dir(&blobs)
        .expect("blobs")
        .filter_map(|d| d.ok())
        .filter(|d| d.file_name().len() == 2)
        .flat_map(|d| std::fs::read_dir(d.path()).expect("dir").filter_map(|f| f.ok()))
        .next()
        .expect("a blob file")
        .path();
    std::fs::write(&file, b"tampered").expect("tamper");
    let r = env.run(&["store", "check"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("DAMAGE"), "{}", r.stdout);
    assert!(r.stderr.contains("damaged"), "{}", r.stderr);
}

#[test]
fn bad_config_reports_every_problem_and_exits_1() {
    // Line 3 of the file names the test DNS server; the problems are on 4 and 6.
    let env = Env::with_config("colour = \"blue\"\n[limits]\nmax_message_size = \"huge\"\n");
    let r = env.run(&["domain", "list"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("2 configuration errors"), "{}", r.stderr);
    assert!(r.stderr.contains("line 4: colour"), "{}", r.stderr);
    assert!(r.stderr.contains("line 6: limits.max_message_size"), "{}", r.stderr);
}

#[test]
fn admin_commands_never_create_a_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = common::to_run(
        std::process::Command::new(common::BIN)
            .current_dir(dir.path())
            .args(["domain", "add", "example.test"])
            .output()
            .expect("run"),
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no Caravel store"), "{}", r.stderr);
    assert!(!dir.path().join("caravel-data").exists(), "a failed command changes nothing");
}

#[test]
fn tls_check_says_what_is_wrong_with_the_certificate() {
    let env = Env::new();
    caravel_net::tls::ensure_self_signed(&env.data_dir().join("tls"), "mail.example.test").expect("certificate");
    let r = env.run(&["tls", "check"]);
    assert_eq!(r.code, 1, "a self-signed certificate is a problem");
    assert!(r.stdout.starts_with("PROBLEM\tdefault") && r.stdout.contains("self-signed"), "{}", r.stdout);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    let r = env.run(&["tls", "check", "--json"]);
    let reports: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(reports[0]["names"], serde_json::json!(["mail.example.test", "localhost"]));
    assert_eq!(reports[0]["self_signed"], true);
}

#[test]
fn dkim_keys_and_the_records_a_domain_publishes() {
    // The SRV records announce the ports the listeners are on.
    let env = Env::with_config(
        "[listen]\nimaps = [\"0.0.0.0:10993\"]\nsubmissions = [\"0.0.0.0:465\"]\n\
         submission = [\"0.0.0.0:587\"]\nhttps = [\"0.0.0.0:443\"]\n",
    );
    env.ok(&["domain", "add", "export.test"]);
    let r = env.run(&["dkim", "generate", "nowhere.test"]);
    assert_eq!(r.code, 1, "only for domains served here");
    let out = env.ok(&["dkim", "generate", "export.test", "--algo", "ed25519"]);
    let record = out.lines().last().expect("record");
    assert!(record.contains("._domainkey.export.test TXT \"v=DKIM1; k=ed25519; p="), "{out}");
    let out = env.ok(&["dkim", "generate", "EXPORT.test"]);
    assert!(out.contains("k=rsa; p=MIIBIjAN"), "RSA 2048 SubjectPublicKeyInfo: {out}");
    // Zone files take at most 255 characters per string: the RSA record
    // (about 410) is printed as several quoted strings.
    let record = out.lines().last().expect("record");
    let strings: Vec<&str> = record.split_once(" TXT ").expect("TXT").1.split("\" \"").collect();
    assert!(strings.len() >= 2, "{record}");
    assert!(strings.iter().all(|s| s.trim_matches('"').len() <= 255), "{record}");
    assert!(strings.concat().trim_matches('"').starts_with("v=DKIM1; k=rsa; p=MIIBIjAN"), "{record}");
    let keys: serde_json::Value =
        serde_json::from_str(&env.ok(&["dkim", "list", "export.test", "--json"])).expect("json");
    assert_eq!(keys.as_array().expect("keys").len(), 2);
    assert!(keys[0].get("private_key").is_none(), "private keys are never printed");
    assert_eq!(env.run(&["dkim", "generate", "export.test", "--algo", "dsa"]).code, 1);

    let records: serde_json::Value = serde_json::from_str(&env.ok(&["dns", "export.test", "--json"])).expect("json");
    let find = |name: &str, kind: &str| {
        records.as_array().expect("records").iter().filter(|r| r["name"] == name && r["type"] == kind).count()
    };
    assert_eq!(find("export.test", "MX"), 1);
    assert_eq!(find("export.test", "TXT"), 1, "SPF");
    assert_eq!(
        records
            .as_array()
            .expect("records")
            .iter()
            .filter(|r| r["name"].as_str().is_some_and(|n| n.ends_with("._domainkey.export.test")))
            .count(),
        2
    );
    for (name, kind) in [
        ("_dmarc.export.test", "TXT"),
        ("_mta-sts.export.test", "TXT"),
        ("_smtp._tls.export.test", "TXT"),
        ("_imaps._tcp.export.test", "SRV"),
        ("_submissions._tcp.export.test", "SRV"),
        ("_submission._tcp.export.test", "SRV"),
        ("_autodiscover._tcp.export.test", "SRV"),
        ("autoconfig.export.test", "CNAME"),
        ("autodiscover.export.test", "CNAME"),
    ] {
        assert_eq!(find(name, kind), 1, "{name} {kind}");
    }
    // No POP3 listener, no POP3 record.
    assert_eq!(find("_pop3s._tcp.export.test", "SRV"), 0);
    let srv = |name: &str| {
        records.as_array().expect("records").iter().find(|r| r["name"] == name).expect(name)["value"].clone()
    };
    assert_eq!(srv("_imaps._tcp.export.test"), "0 1 10993 mail.example.test.");
    assert_eq!(srv("_submission._tcp.export.test"), "10 1 587 mail.example.test.");
    let text = env.ok(&["dns", "export.test"]);
    assert!(text.contains("export.test\tMX\t10 mail.example.test."), "{text}");
}

#[test]
fn queue_list_retry_and_del() {
    let env = Env::new();
    assert!(env.ok(&["queue", "list"]).contains("the queue is empty"));
    // A message for another domain, queued as SMTP would queue it.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let id = rt.block_on(async {
        use caravel_store::{Delivery, MailStore, RemoteRecipient};
        let store = caravel_store::sqlite::SqliteStore::open(&env.data_dir()).expect("store");
        let d = Delivery {
            sign_as: None,
            raw: std::sync::Arc::new(b"Subject: quote\r\n\r\nhello\r\n".to_vec()),
            internal_date: 1,
            sender: "sales@export.test".into(),
            remote: vec![
                RemoteRecipient { address: "buyer@far.test".into(), ..Default::default() },
                RemoteRecipient { address: "agent@far.test".into(), ..Default::default() },
            ],
            ..Default::default()
        };
        store.deliver(d).await.expect("deliver").queued.expect("queued")
    });
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["queue", "list", "--json"])).expect("json");
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["recipients"].as_array().expect("rcpts").len(), 2);
    assert!(env.ok(&["queue", "list"]).contains("buyer@far.test\tpending"));
    assert!(env.ok(&["queue", "retry", &id.to_string()]).starts_with("2 recipient(s)"));
    assert!(env.ok(&["queue", "retry", "--all"]).starts_with("2 recipient(s)"));
    assert_eq!(env.run(&["queue", "retry"]).code, 2, "an id or --all");
    assert_eq!(env.run(&["queue", "del", "999"]).code, 1);
    env.ok(&["queue", "del", &id.to_string()]);
    assert!(env.ok(&["queue", "list"]).contains("the queue is empty"));
    env.ok(&["store", "check"]);
}

/// `caravel import` streams: a 60 MB mbox goes in with the importer's peak
/// memory far below the file's size; a message over the size limit stops it
/// with the count of messages stored and `--skip` to go on, which works.
#[test]
fn import_streams_with_bounded_memory_and_resumes() {
    let env = Env::with_config("[limits]\nmax_message_size = \"8M\"\n");
    env.ok(&["domain", "add", "example.test"]);
    let r = env.run_with_input(
        &["user", "add", "maria.silva@example.test", "--password-stdin", "--quota", "2G"],
        "Lisbon-Harbour-42\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mbox = env.dir.path().join("big.mbox");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&mbox).expect("mbox"));
        let body = "A line of an old quotation, prices and terms of delivery.\n".repeat(33);
        for n in 0..24_000 {
            // 2 KB each: 48 MB in all, then a 12 MB one.
            write!(f, "From a@far.test Sat Jan  1 00:00:00 2022\nSubject: archive {n}\n\n{body}").expect("write");
        }
        // Then one message over the limit, and one more after it.
        write!(f, "From a@far.test Sat Jan  1 00:00:00 2022\nSubject: too big\n\n{}\n", "z".repeat(12 << 20))
            .expect("write");
        write!(f, "From a@far.test Sat Jan  1 00:00:00 2022\nSubject: last\n\nlast\n").expect("write");
    }
    let size = std::fs::metadata(&mbox).expect("size").len();
    assert!(size > 56 << 20, "{size}");
    let mut child = env
        .command(&["import", "maria.silva@example.test", mbox.to_str().expect("path")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("import");
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let exit = loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            if let Some(hwm) = text.lines().find(|l| l.starts_with("VmHWM:")) {
                peak_kib = hwm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(peak_kib);
            }
        }
        if let Some(code) = child.try_wait().expect("wait") {
            break code;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut stderr).expect("stderr");
    eprintln!("import of {} MiB: peak {peak_kib} KiB", size >> 20);
    assert!(!exit.success(), "the big message stops the import: {stderr}");
    assert!(stderr.contains("The first 24000 message(s) of the sources are stored"), "{stderr}");
    assert!(stderr.contains("--skip 24000"), "{stderr}");
    // The whole file in memory, split, would be at least twice its 57 MiB;
    // streaming stays near the process's own size (about 33 MiB in a debug
    // build for a small import).
    assert!(peak_kib > 0 && peak_kib < 88 * 1024, "peak {peak_kib} KiB for a {} MiB mbox", size >> 20);
    let r = env.run(&["import", "maria.silva@example.test", "--skip", "24001", mbox.to_str().expect("path")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("imported 1 message(s)"), "{}", r.stderr);
}

#[test]
fn store_compact_reports_what_it_did() {
    let env = setup();
    let mbox = env.dir.path().join("in.mbox");
    let body = "a line of a message body\n".repeat(100);
    std::fs::write(&mbox, format!("From a@b Sat Jan  1 00:00:00 2026\nSubject: hi\n\n{body}")).expect("mbox");
    env.ok(&["import", "maria.silva@example.test", mbox.to_str().expect("path")]);
    // Stored compressed already: nothing to do.
    let out = env.ok(&["store", "compact"]);
    assert!(out.starts_with("0 bodies compressed"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["store", "compact", "--vacuum", "--json"])).expect("json");
    assert_eq!(json["bodies"], 0);
    assert!(json["file_after"].as_u64().expect("size") > 0);
    env.ok(&["store", "check"]);
}

#[test]
fn signatures_auto_replies_holidays_and_rules_from_the_command_line() {
    let env = Env::new();
    env.ok(&["domain", "add", "export.test"]);
    env.ok(&["user", "add", "li@export.test"]);
    let text = env.dir.path().join("sig.txt");
    std::fs::write(&text, "{name}\n{title}").expect("write");
    let text = text.to_str().expect("path");

    // Profiles: the user's and the domain's; a bad zone is refused.
    assert!(env
        .ok(&["user", "set", "li@export.test", "--title", "Sales", "--zone", "Asia/Shanghai"])
        .contains("updated"));
    assert_eq!(env.run(&["user", "set", "li@export.test", "--zone", "Mars/Base"]).code, 1);
    env.ok(&["domain", "set", "export.test", "--company", "Export Co."]);
    assert_eq!(env.run(&["domain", "set", "li@export.test", "--company", "X"]).code, 1, "a domain, not an address");
    assert_eq!(env.run(&["domain", "set", "export.test", "--title", "Boss"]).code, 1, "a person's detail");

    env.ok(&["signature", "set", "li@export.test", "--text-file", text, "--name", "cn", "--domain", ".cn"]);
    env.ok(&["signature", "set", "li@export.test", "--text-file", text, "--when", "reply", "--name", "re"]);
    env.ok(&["signature", "set", "export.test", "--text-file", text]);
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["signature", "list", "li@export.test", "--json"])).expect("json");
    assert_eq!(list.as_array().expect("list").len(), 2);
    assert_eq!(list[0]["name"], "cn");
    assert_eq!(list[0]["domains"][0], ".cn");
    assert_eq!(list[1]["when"], "reply");
    assert!(env.ok(&["signature", "list", "export.test"]).contains("(footer)"));
    assert_eq!(env.run(&["signature", "set", "li@export.test", "--text-file", text, "--when", "sometimes"]).code, 1);
    assert_eq!(env.run(&["signature", "set", "nobody@export.test", "--text-file", text]).code, 1);
    assert_eq!(env.run(&["signature", "set", "other.test", "--text-file", text]).code, 1);
    env.ok(&["signature", "del", "li@export.test", "cn"]);
    assert_eq!(env.run(&["signature", "del", "li@export.test", "cn"]).code, 1);

    env.ok(&["autoreply", "set", "li@export.test", "--subject", "Away", "--body-file", text, "--from", "2027-02-06"]);
    env.ok(&[
        "autoreply",
        "set",
        "li@export.test",
        "--subject",
        "Closed",
        "--body-file",
        text,
        "--name",
        "evening",
        "--scenario",
        "after-hours",
        "--hours",
        "08:30-17:30",
        "--workdays",
        "mon-sat",
        "--sender-domain",
        ".de",
    ]);
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["autoreply", "list", "li@export.test", "--json"])).expect("json");
    assert_eq!(list[1]["name"], "evening");
    assert_eq!(list[1]["template"]["hours"]["days"], serde_json::json!([1, 2, 3, 4, 5, 6]));
    assert_eq!(list[1]["template"]["scenario"], "after-hours");
    for bad in [
        vec!["--from", "6 Feb"],
        vec!["--scenario", "weekend"],
        vec!["--hours", "18:00-09:00"],
        vec!["--workdays", "someday"],
    ] {
        let mut args = vec!["autoreply", "set", "li@export.test", "--subject", "S", "--body-file", text];
        args.extend(bad.iter());
        assert_eq!(env.run(&args).code, 1, "{bad:?}");
    }
    // The troubleshooter says what answers buyers now.
    let doctor: serde_json::Value =
        serde_json::from_str(&env.run(&["doctor", "li@export.test", "--json"]).stdout).expect("json");
    let verdict = |name: &str| {
        doctor.as_array().expect("checks").iter().find(|c| c["name"] == name).expect("check")["verdict"]
            .as_str()
            .expect("verdict")
            .to_string()
    };
    let replies = verdict("auto-reply");
    assert!(replies.contains("\"default\" (out-of-office, 2027-02-06 to further notice)"), "{replies}");
    assert!(replies.contains("\"evening\" (after-hours)"), "{replies}");
    assert_eq!(verdict("rules"), "no mail rules");
    assert!(env.ok(&["autoreply", "off", "li@export.test", "--name", "evening"]).contains("1 auto-reply"));
    assert!(env.ok(&["autoreply", "off", "li@export.test"]).contains("1 auto-reply"));
    assert!(env.ok(&["autoreply", "list", "li@export.test"]).contains("off"));

    env.ok(&["holiday", "add", "Spring Festival", "--from", "2027-02-06", "--until", "2027-02-12"]);
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["holiday", "list", "--json"])).expect("json");
    assert_eq!(list[0]["calendar"], "company");
    env.ok(&["holiday", "del", "Spring Festival"]);

    assert!(env
        .ok(&["rule", "add", "li@export.test", "--from", "@buyer.cn", "--move", "客户/报价"])
        .contains("rule 1"));
    assert!(env
        .ok(&["rule", "add", "li@export.test", "--larger", "5M", "--forward", "boss@export.test"])
        .contains("rule 2"));
    assert_eq!(env.run(&["rule", "add", "li@export.test", "--from", "x"]).code, 1, "an action is needed");
    assert_eq!(env.run(&["rule", "add", "li@export.test", "--no-keep", "--flag"]).code, 1);
    assert_eq!(env.run(&["rule", "add", "li@export.test", "--header", "no colon", "--flag"]).code, 1);
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["rule", "list", "li@export.test", "--json"])).expect("json");
    assert_eq!(list[0]["id"], 1);
    assert_eq!(list[0]["actions"][0], serde_json::json!({"do": "move", "value": "客户/报价"}));
    assert_eq!(list[1]["conditions"][0], serde_json::json!({"on": "larger", "value": 5 * 1024 * 1024}));
    let doctor: serde_json::Value =
        serde_json::from_str(&env.run(&["doctor", "li@export.test", "--json"]).stdout).expect("json");
    let rules =
        doctor.as_array().expect("checks").iter().find(|c| c["name"] == "rules").expect("rules")["verdict"].to_string();
    assert!(rules.contains("2 mail rule(s): rule 2 forwards to boss@export.test (a copy is kept)"), "{rules}");
    let text = env.ok(&["rule", "list", "li@export.test"]);
    assert!(text.contains("1\tif from contains \"@buyer.cn\" then file into 客户/报价"), "{text}");
    env.ok(&["rule", "del", "li@export.test", "1"]);
    assert!(env.ok(&["rule", "add", "li@export.test", "--flag"]).contains("rule 3"), "numbers are not reused");
    // Deleting the account deletes its settings.
    env.ok(&["user", "del", "li@export.test"]);
    env.ok(&["user", "add", "li@export.test"]);
    assert!(env.ok(&["rule", "list", "li@export.test"]).contains("no rules"));
}

/// A long import shows a progress bar (bytes, messages, rate, time left)
/// when run at a terminal, and only plain lines in a log; what scripts read
/// on standard output stays the same.
#[test]
fn a_long_import_shows_its_progress_at_a_terminal() {
    let env = setup();
    let mbox = env.dir.path().join("old.mbox");
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(&format!("From x@partner.test Mon Jan  1 00:00:00 2024\nSubject: order {i}\n\n"));
        text.push_str(&format!("line of order {i}\n").repeat(40));
        text.push('\n');
    }
    std::fs::write(&mbox, text).expect("mbox");
    let command = format!(
        "{} --config {} import maria.silva@example.test {} > {}",
        common::BIN,
        env.config.display(),
        mbox.display(),
        env.dir.path().join("uids.txt").display()
    );
    // util-linux `script` runs the command on a pseudo-terminal and copies
    // what it draws to its own output.
    let out =
        std::process::Command::new("script").args(["-qec", &command, "/dev/null"]).output().expect("script (bsdutils)");
    let drawn = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    assert!(out.status.success(), "{drawn}");
    assert!(drawn.contains("import [") && drawn.contains("message(s)") && drawn.contains("left)"), "{drawn}");
    let uids = std::fs::read_to_string(env.dir.path().join("uids.txt")).expect("uids");
    assert_eq!(uids.lines().filter(|l| l.starts_with("UID ")).count(), 3000, "stdout as before");
    // In a log: no bar, no terminal codes.
    let r = env.run(&["import", "maria.silva@example.test", "--mailbox", "Again", mbox.to_str().expect("path")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains('\u{1b}') && !r.stderr.contains("import ["), "{}", r.stderr);
    assert!(r.stderr.contains("imported 3000 message(s)"), "{}", r.stderr);
}
