//! Outbound delivery to a real, foreign receiving MTA: Debian's Postfix, as
//! the MX of buyer.test on loopback. Each test starts a private Postfix
//! instance (its own config, queue, data and Maildir directories in a
//! temporary directory, on a free 127.0.0.1 port, STARTTLS with a
//! self-signed certificate, no DNS) and a Caravel for export.test whose
//! `[delivery.routes]` send buyer.test to it.
//!
//! Postfix's master must run as root (it refuses otherwise): without root
//! these tests print why and pass without checking anything.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use caravel::testing::TestServer;
use caravel_config::Relay;
use caravel_store::{EventKind, EventQuery, Store};

/// The services of the instance: smtpd on `{port}`, the virtual(8)
/// delivery agent, and postlogd (the log goes to a file, not syslog). No
/// chroot anywhere.
const MASTER_CF: &str = "\
127.0.0.1:{port} inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
proxywrite unix  - - n - 1 proxymap
smtp       unix  - - n - - smtp
relay      unix  - - n - - smtp
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
virtual    unix  - n n - - virtual
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
";

/// A private Postfix instance receiving mail for buyer.test; stopped when
/// dropped.
struct Postfix {
    dir: tempfile::TempDir,
    port: u16,
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn id(flag: &str, user: &str) -> String {
    let out = Command::new("id").args([flag, user]).output().expect("id");
    assert!(out.status.success(), "no user {user}: is Debian's postfix package installed?");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (Debian package postfix installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postfix {
    /// Starts Postfix with a Maildir for each of `mailboxes`; None (with a
    /// note on stderr) when the test does not run as root.
    fn start(mailboxes: &[&str]) -> Option<Postfix> {
        if effective_uid() != Some(0) {
            // CI runs as root: there, a skip would hide a test that checks nothing.
            assert!(
                std::env::var_os("CI").is_none(),
                "under CI this test must run as root (Postfix's master needs it)"
            );
            eprintln!("SKIPPED: Postfix's master runs only as root; run this test as root to use it");
            return None;
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let d = dir.path();
        // Postfix's daemons run as the postfix user and must reach the queue.
        run(Command::new("chmod").arg("0755").arg(d));
        for sub in ["conf", "spool", "data", "mail"] {
            std::fs::create_dir(d.join(sub)).expect("mkdir");
        }
        let (uid, gid) = (id("-u", "postfix"), id("-g", "postfix"));
        run(Command::new("chown").arg("postfix").arg(d.join("data")));
        run(Command::new("chown").arg(format!("{uid}:{gid}")).arg(d.join("mail")));

        let params = rcgen::CertificateParams::new(vec!["mx.buyer.test".to_string()]).expect("params");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("certificate");
        std::fs::write(d.join("conf/cert.pem"), cert.pem()).expect("write cert");
        std::fs::write(d.join("conf/key.pem"), key.serialize_pem()).expect("write key");
        run(Command::new("chmod").arg("0600").arg(d.join("conf/key.pem")));

        let vmailbox: String =
            mailboxes.iter().map(|m| format!("{m} buyer.test/{}/\n", m.split('@').next().unwrap_or(m))).collect();
        std::fs::write(d.join("conf/vmailbox"), vmailbox).expect("write vmailbox");
        let port = free_tcp_port();
        let d = d.display();
        let main_cf = format!(
            "compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {d}/postfix.log
maillog_file_prefixes = {d}
myhostname = mx.buyer.test
mydomain = buyer.test
myorigin = buyer.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
biff = no
smtputf8_enable = no
# no DNS, no /etc/hosts lookups of the client, nothing sent anywhere
smtpd_peername_lookup = no
smtp_host_lookup = native
smtp_dns_support_level = disabled
default_transport = error:no outbound mail from this test instance
relay_transport = error:no outbound mail from this test instance
# buyer.test: Maildirs under {d}/mail; unknown users get 550 5.1.1 at RCPT
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
virtual_mailbox_domains = buyer.test
virtual_mailbox_maps = texthash:{d}/conf/vmailbox
virtual_mailbox_base = {d}/mail
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
# STARTTLS offered; the Received header records the protocol and cipher
smtpd_tls_cert_file = {d}/conf/cert.pem
smtpd_tls_key_file = {d}/conf/key.pem
smtpd_tls_security_level = may
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
smtpd_banner = $myhostname ESMTP Postfix peer
"
        );
        std::fs::write(format!("{d}/conf/main.cf"), main_cf).expect("main.cf");
        std::fs::write(format!("{d}/conf/master.cf"), MASTER_CF.replace("{port}", &port.to_string()))
            .expect("master.cf");
        let conf = format!("{d}/conf");
        // `check` creates the queue's sub-directories with their owners.
        run(Command::new("postfix").args(["-c", &conf, "check"]));
        run(Command::new("postfix").args(["-c", &conf, "start"]));
        let postfix = Postfix { dir, port };
        let start = Instant::now();
        while TcpStream::connect(postfix.addr()).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "Postfix does not listen:\n{}", postfix.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(postfix)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("postfix.log")).unwrap_or_default()
    }

    /// The messages in `user`'s Maildir (new/ and cur/).
    fn maildir(&self, user: &str) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.path(&format!("mail/buyer.test/{user}/{sub}"))) else { continue };
            for e in entries.flatten() {
                out.push(std::fs::read_to_string(e.path()).expect("read message"));
            }
        }
        out
    }

    /// Waits (up to 30 s) until `user`'s Maildir has `n` messages.
    async fn wait_for_maildir(&self, user: &str, n: usize, sender: &TestServer) -> Vec<String> {
        let start = Instant::now();
        loop {
            let got = self.maildir(user);
            if got.len() >= n {
                return got;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let queue = sender.store().queued().await.expect("queue");
                panic!(
                    "{user} has {} of {n} messages; Caravel's queue: {queue:?}\nPostfix log:\n{}",
                    got.len(),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn master_pid(&self) -> Option<String> {
        let pid = std::fs::read_to_string(self.path("spool/pid/master.pid")).ok()?;
        Some(pid.trim().to_string()).filter(|p| !p.is_empty())
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let pid = self.master_pid();
        let conf = self.path("conf");
        let _ = Command::new("postfix").arg("-c").arg(&conf).arg("stop").output();
        // Wait for the master to exit (it takes its children along), then
        // make sure; the directory is removed after this.
        if let Some(pid) = pid {
            let proc = Path::new("/proc").join(&pid);
            let start = Instant::now();
            while proc.exists() && start.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(50));
            }
            if proc.exists() {
                let _ = Command::new("kill").args(["-KILL", &pid]).output();
            }
        }
    }
}

/// A Caravel for export.test (alice@, bob@) routing buyer.test to Postfix.
async fn sender(postfix: &Postfix) -> TestServer {
    let port = postfix.port;
    TestServer::start_for("export.test", |c| {
        c.delivery.routes =
            vec![("buyer.test".to_string(), Relay { host: "127.0.0.1".into(), port, user: None, password: None })];
        c.delivery.retry = vec![Duration::from_secs(1)];
    })
    .await
}

async fn events(store: &dyn Store, recipient: &str) -> Vec<(EventKind, String)> {
    store
        .events(EventQuery { recipient: Some(recipient.into()), ..Default::default() })
        .await
        .expect("events")
        .into_iter()
        .map(|e| (e.kind, e.detail))
        .collect()
}

async fn wait_for_empty_queue(sender: &TestServer) {
    let start = Instant::now();
    loop {
        let queue = sender.store().queued().await.expect("queue");
        if queue.is_empty() {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "queue not emptied: {queue:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postfix_receives_over_starttls_into_its_maildir() {
    let Some(postfix) = Postfix::start(&["someone@buyer.test"]) else { return };
    let caravel = sender(&postfix).await;
    caravel.submit_as("alice@export.test", &["someone@buyer.test"], "Quotation 1").await;
    let got = postfix.wait_for_maildir("someone", 1, &caravel).await;
    let m = &got[0];
    let headers = m.split("\n\n").next().expect("headers");
    assert!(m.contains("Subject: Quotation 1") && m.contains("Prices attached."), "{m}");
    assert!(headers.contains("Delivered-To: someone@buyer.test"), "{headers}");
    // Postfix's own Received header: Caravel's EHLO name, STARTTLS, TLS 1.3.
    assert!(headers.contains("Received: from mail.export.test (unknown [127.0.0.1])"), "{headers}");
    assert!(headers.contains("(using TLSv1.3 with cipher "), "{headers}");
    assert!(headers.contains("by mx.buyer.test (Postfix) with ESMTPS id "), "{headers}");
    // Caravel's Received header from the submission is below Postfix's.
    assert!(headers.matches("Received:").count() >= 2, "{headers}");
    // export.test has no DKIM key here: nothing is signed.
    assert!(!headers.contains("DKIM-Signature:"), "{headers}");
    let log = postfix.log();
    assert!(log.contains("TLS connection established from unknown[127.0.0.1]: TLSv1.3"), "{log}");
    assert!(log.contains("status=sent (delivered to maildir)"), "{log}");

    wait_for_empty_queue(&caravel).await;
    let events = events(&*caravel.store(), "someone@buyer.test").await;
    assert!(
        events.iter().any(|(k, d)| *k == EventKind::Delivered
            && d.starts_with("127.0.0.1 said: 250 2.0.0 Ok")
            && d.contains("queued as")),
        "{events:?}"
    );
    assert!(!events.iter().any(|(k, _)| matches!(k, EventKind::Deferred | EventKind::Bounced)), "{events:?}");
    assert!(caravel.inbox("alice@export.test").await.is_empty(), "no bounce");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_user_at_postfix_is_bounced_to_the_senders_inbox() {
    let Some(postfix) = Postfix::start(&["someone@buyer.test"]) else { return };
    let caravel = sender(&postfix).await;
    // One transaction, two recipients: Postfix takes one, refuses the other.
    caravel.submit_as("alice@export.test", &["someone@buyer.test", "nobody@buyer.test"], "Quotation 2").await;
    let got = postfix.wait_for_maildir("someone", 1, &caravel).await;
    assert!(got[0].contains("Subject: Quotation 2"));

    let start = Instant::now();
    let bounce = loop {
        if let Some(m) = caravel.inbox("alice@export.test").await.into_iter().next() {
            break m;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no bounce; Postfix log:\n{}", postfix.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(bounce.contains("Subject: Undelivered mail: Quotation 2"), "{bounce}");
    assert!(bounce.contains("Content-Type: multipart/report; report-type=delivery-status"), "{bounce}");
    assert!(bounce.contains("nobody@buyer.test: the receiving server says this mailbox does not exist"), "{bounce}");
    assert!(
        bounce.contains(
            "said: \"550 5.1.1 <nobody@buyer.test>: Recipient address rejected: User unknown in virtual mailbox table"
        ),
        "{bounce}"
    );
    assert!(bounce.contains("Status: 5.1.1") && bounce.contains("Action: failed"), "{bounce}");
    assert!(!bounce.contains("Final-Recipient: rfc822; someone@buyer.test"), "only the refused one: {bounce}");
    let log = postfix.log();
    assert!(log.contains("NOQUEUE: reject: RCPT from unknown[127.0.0.1]: 550 5.1.1 <nobody@buyer.test>"), "{log}");

    wait_for_empty_queue(&caravel).await;
    let nobody = events(&*caravel.store(), "nobody@buyer.test").await;
    assert!(nobody.iter().any(|(k, _)| *k == EventKind::Bounced), "{nobody:?}");
    let someone = events(&*caravel.store(), "someone@buyer.test").await;
    assert!(someone.iter().any(|(k, _)| *k == EventKind::Delivered), "{someone:?}");
}
