//! `caravel serve` as a process, and the in-process test harness.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use caravel::testing::TestServer;
use caravel_net::Service;
use common::{free_port, send_signal, wait_for_port, Env};

fn listen_config(ports: &[(&str, u16)]) -> String {
    let mut s = String::from("[listen]\n");
    for (k, p) in ports {
        s.push_str(&format!("{k} = [\"127.0.0.1:{p}\"]\n"));
    }
    s
}

#[test]
fn sigterm_stops_the_server_within_5_seconds() {
    let (smtp, http) = (free_port(), free_port());
    let env = Env::with_config(&listen_config(&[("smtp", smtp), ("http", http)]));
    let mut child = env.command(&["serve"]).stderr(Stdio::piped()).spawn().expect("serve");
    wait_for_port(http);
    // An open SMTP session, idle between commands.
    let open = std::net::TcpStream::connect(("127.0.0.1", smtp)).expect("connect");
    let mut open = BufReader::new(open);
    let mut greeting = String::new();
    open.read_line(&mut greeting).expect("greeting");
    assert!(greeting.starts_with("220 "), "{greeting:?}");
    send_signal(child.id(), "-TERM");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "still running 5 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut goodbye = String::new();
    let _ = open.read_to_string(&mut goodbye);
    assert!(goodbye.starts_with("421 4.3.2"), "the idle session is told the server stops: {goodbye:?}");
    let mut log = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut log).expect("log");
    assert!(log.contains("SIGTERM received") && log.contains("stopped"), "{log}");
}

#[test]
fn a_listener_that_cannot_bind_stops_start_up_and_says_which() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let env = Env::with_config(&listen_config(&[("smtp", free_port()), ("pop3", port)]));
    let r = common::to_run(env.command(&["serve"]).output().expect("serve"));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains(&format!("cannot listen for pop3 on 127.0.0.1:{port}")), "{}", r.stderr);
    assert!(r.stderr.contains("change [listen] pop3"), "{}", r.stderr);
}

#[test]
fn a_self_signed_certificate_is_generated_once() {
    let http = free_port();
    let env = Env::with_config(&listen_config(&[("http", http)]));
    let cert = env.data_dir().join("tls/cert.pem");
    let mut first = env.command(&["serve"]).stderr(Stdio::null()).spawn().expect("serve");
    wait_for_port(http);
    let pem = std::fs::read(&cert).expect("certificate generated");
    send_signal(first.id(), "-TERM");
    first.wait().expect("wait");
    let mut second = env.command(&["serve"]).stderr(Stdio::null()).spawn().expect("serve");
    wait_for_port(http);
    assert_eq!(std::fs::read(&cert).expect("certificate"), pem, "kept across restarts");
    send_signal(second.id(), "-TERM");
    second.wait().expect("wait");
}

fn first_line(addr: std::net::SocketAddr) -> String {
    let s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).expect("read");
    line
}

#[tokio::test(flavor = "multi_thread")]
async fn the_harness_starts_every_listener_on_loopback() {
    let t = TestServer::start().await;
    for service in Service::ALL {
        assert!(t.addr(service).ip().is_loopback(), "{service}");
    }
    let (smtp, imap, pop3, http) =
        (t.addr(Service::Smtp), t.addr(Service::Imap), t.addr(Service::Pop3), t.addr(Service::Http));
    let lines = tokio::task::spawn_blocking(move || {
        let mut h = std::net::TcpStream::connect(http).expect("http");
        h.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
        let mut resp = String::new();
        h.read_to_string(&mut resp).expect("read");
        (first_line(smtp), first_line(imap), first_line(pop3), resp)
    })
    .await
    .expect("clients");
    assert!(lines.0.starts_with("220 mail.example.test ESMTP"), "{}", lines.0);
    assert!(lines.1.starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 "), "{}", lines.1);
    assert!(lines.2.starts_with("+OK mail.example.test Caravel POP3"), "{}", lines.2);
    assert!(lines.3.starts_with("HTTP/1.1 200 OK") && lines.3.ends_with("ok\n"), "{}", lines.3);
    let users = t.store().list_users().await.expect("users");
    assert_eq!(users.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_commands_act_on_a_running_server_without_restart() {
    let t = TestServer::start().await;
    let config = t.dir.path().join("admin.toml");
    std::fs::write(&config, format!("data_dir = {:?}\n[listen]\n", t.config.data_dir)).expect("config");
    let cli = move |args: &[&str], stdin: &str| {
        let mut child = std::process::Command::new(common::BIN)
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("caravel");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("stdin");
        common::to_run(child.wait_with_output().expect("wait"))
    };
    let cli2 = cli.clone();
    let out = tokio::task::spawn_blocking(move || {
        (
            cli2(&["domain", "add", "second.test"], ""),
            cli2(&["user", "add", "carol@second.test", "--password-stdin"], "Harbour-Crane-77\n"),
            cli2(&["alias", "add", "info@second.test", "carol@second.test"], ""),
        )
    })
    .await
    .expect("cli");
    assert_eq!((out.0.code, out.1.code, out.2.code), (0, 0, 0), "{} {} {}", out.0.stderr, out.1.stderr, out.2.stderr);
    // The running server's own store handle sees the changes at once.
    let store = t.store();
    let users: Vec<String> = store.list_users().await.expect("users").into_iter().map(|u| u.address).collect();
    assert!(users.contains(&"carol@second.test".to_string()), "{users:?}");
    let info = caravel_store::Address::parse("info@second.test").expect("address");
    assert!(matches!(store.resolve(&info).await.expect("resolve"), caravel_store::Recipient::Alias(_)));
    let check = tokio::task::spawn_blocking(move || cli(&["store", "check"], "")).await.expect("check");
    assert_eq!(check.code, 0, "{}", check.stdout);
}
