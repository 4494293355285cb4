//! A small authoritative DNS server for tests, on loopback UDP in its own
//! thread: it answers from records the test adds, NXDOMAIN for names it
//! has none for, and can be told to stay silent (a timeout) or fail
//! (SERVFAIL) for a name. Tests point `[dns] resolvers` at it, so they
//! never ask the machine's own resolver. CNAMEs are followed inside the
//! zone, as an authoritative server does, so the RFC 7208 suite's aliases
//! resolve without the client chasing them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_auth::hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use mail_auth::hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, MX, PTR, TXT};
use mail_auth::hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

#[derive(Clone)]
enum Entry {
    Records(Vec<RData>),
    Silent,
    ServFail,
}

/// What one name has: entries by type, and what queries for any other type
/// get (`None`: NOERROR with no answer).
#[derive(Clone, Default)]
struct Node {
    types: HashMap<RecordType, Entry>,
    otherwise: Option<Entry>,
}

type Zone = HashMap<String, Node>;

pub struct TestDns {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    stop: Arc<AtomicBool>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `n` as a DNS name. Labels may hold any bytes (RFC 2181 §11), such as the
/// ':' and '/' of an SPF suite case that hickory's text parser refuses; those
/// are taken label by label as they are.
fn name(n: &str) -> Name {
    let n = n.trim_end_matches('.');
    Name::from_str_relaxed(format!("{n}.")).unwrap_or_else(|_| {
        let labels = n.split('.').map(str::as_bytes);
        let mut raw = Name::from_labels(labels).expect("labels of at most 63 bytes");
        raw.set_fqdn(true);
        raw
    })
}

impl TestDns {
    /// Starts on 127.0.0.1 (a free port), serving nothing yet.
    pub fn start() -> TestDns {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port for the test DNS server");
        socket.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        let addr = socket.local_addr().expect("address");
        let zone = Arc::new(Mutex::new(Zone::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (z, s) = (zone.clone(), stop.clone());
        std::thread::spawn(move || serve(socket, z, s));
        TestDns { addr, zone, stop }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn put(&self, n: &str, rtype: RecordType, entry: Entry) {
        let mut zone = self.zone.lock().unwrap_or_else(|p| p.into_inner());
        let types = &mut zone.entry(key(n)).or_default().types;
        match (types.get_mut(&rtype), entry) {
            (Some(Entry::Records(have)), Entry::Records(more)) => have.extend(more),
            (_, entry) => {
                types.insert(rtype, entry);
            }
        }
    }

    /// A TXT record; text longer than 255 bytes is split into strings.
    pub fn txt(&self, n: &str, text: &str) {
        let parts: Vec<String> = text.as_bytes().chunks(255).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
        self.put(n, RecordType::TXT, Entry::Records(vec![RData::TXT(TXT::new(parts))]));
    }

    /// A TXT record given as its strings, exactly.
    pub fn txt_strings(&self, n: &str, strings: Vec<String>) {
        self.put(n, RecordType::TXT, Entry::Records(vec![RData::TXT(TXT::new(strings))]));
    }

    /// An A or AAAA record.
    pub fn address(&self, n: &str, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => self.put(n, RecordType::A, Entry::Records(vec![RData::A(A(v4))])),
            IpAddr::V6(v6) => self.put(n, RecordType::AAAA, Entry::Records(vec![RData::AAAA(AAAA(v6))])),
        }
    }

    pub fn mx(&self, n: &str, preference: u16, exchange: &str) {
        self.put(n, RecordType::MX, Entry::Records(vec![RData::MX(MX::new(preference, name(exchange)))]));
    }

    /// A PTR record: `n` is the reverse name (e.g. 1.0.0.127.in-addr.arpa).
    pub fn ptr(&self, n: &str, target: &str) {
        self.put(n, RecordType::PTR, Entry::Records(vec![RData::PTR(PTR(name(target)))]));
    }

    /// An alias: queries for `n` get the CNAME and, when `target` is in the
    /// zone, its records too (the chain is followed a few steps, so a loop
    /// ends).
    pub fn cname(&self, n: &str, target: &str) {
        self.put(n, RecordType::CNAME, Entry::Records(vec![RData::CNAME(CNAME(name(target)))]));
    }

    /// Makes `n` exist with no records of any type asked (NOERROR, empty).
    pub fn exists(&self, n: &str) {
        let mut zone = self.zone.lock().unwrap_or_else(|p| p.into_inner());
        zone.entry(key(n)).or_default();
    }

    /// Queries for `n` of type `rtype` get no answer at all.
    pub fn silent(&self, n: &str, rtype: RecordType) {
        self.put(n, rtype, Entry::Silent);
    }

    /// Queries for `n` of type `rtype` get SERVFAIL.
    pub fn servfail(&self, n: &str, rtype: RecordType) {
        self.put(n, rtype, Entry::ServFail);
    }

    /// Queries for `n` of every type it has no records for get no answer
    /// (the SPF suite's `TIMEOUT`: only the types listed before it answer).
    pub fn silent_all(&self, n: &str) {
        let mut zone = self.zone.lock().unwrap_or_else(|p| p.into_inner());
        zone.entry(key(n)).or_default().otherwise = Some(Entry::Silent);
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(socket: UdpSocket, zone: Arc<Mutex<Zone>>, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
        let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
        let zone = zone.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(reply) = answer(&query, &zone) {
            if let Ok(bytes) = reply.to_vec() {
                let _ = socket.send_to(&bytes, from);
            }
        }
    }
}

/// The reply to `query`, or None to stay silent.
fn answer(query: &Message, zone: &Zone) -> Option<Message> {
    let mut reply = Message::new(query.id(), MessageType::Response, query.op_code());
    reply.set_recursion_desired(query.recursion_desired());
    reply.set_recursion_available(true);
    reply.set_authoritative(true);
    let Some(q) = query.queries().first() else {
        reply.set_response_code(ResponseCode::FormErr);
        return Some(reply);
    };
    reply.add_query(q.clone());
    let mut owner = q.name().clone();
    // Each step follows one CNAME; eight is plenty for tests and ends a loop
    // (answered with the chain so far, which the client treats as no data).
    for _ in 0..8 {
        let Some(node) = zone.get(&label_key(&owner)) else {
            reply.set_response_code(ResponseCode::NXDomain);
            break;
        };
        if q.query_type() != RecordType::CNAME {
            if let Some(Entry::Records(records)) = node.types.get(&RecordType::CNAME) {
                if let Some(RData::CNAME(CNAME(target))) = records.first() {
                    let target = target.clone();
                    reply.add_answer(Record::from_rdata(owner, 300, RData::CNAME(CNAME(target.clone()))));
                    owner = target;
                    continue;
                }
            }
        }
        match node.types.get(&q.query_type()).or(node.otherwise.as_ref()) {
            Some(Entry::Silent) => return None,
            Some(Entry::ServFail) => {
                reply.set_response_code(ResponseCode::ServFail);
            }
            Some(Entry::Records(records)) => {
                for r in records {
                    reply.add_answer(Record::from_rdata(owner.clone(), 300, r.clone()));
                }
            }
            None => {}
        }
        break;
    }
    Some(reply)
}

/// The zone key of a name from the wire: its labels as they are (not
/// `to_ascii`, which escapes odd bytes such as the spaces in a label the
/// SPF suite's macro test expands to), lowercased.
fn label_key(n: &Name) -> String {
    let labels: Vec<String> = n.iter().map(|l| String::from_utf8_lossy(l).to_ascii_lowercase()).collect();
    labels.join(".")
}

/// dnsmasq (Debian package dnsmasq-base) on 127.0.0.1:`port`, answering
/// only from `records` (its options, e.g. `--mx-host=...`; `--local=/#/`:
/// nothing from outside). Killed on drop.
pub struct Dnsmasq(std::process::Child);

impl Dnsmasq {
    /// Starts on the reserved port (released just before dnsmasq binds it)
    /// and waits until it answers a query over UDP.
    pub fn start(port: ReservedPort, records: &[String]) -> Dnsmasq {
        let number = port.number();
        drop(port);
        let child = std::process::Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--pid-file=",
                "--local=/#/",
            ])
            .arg(format!("--port={number}"))
            .args(records)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dnsmasq installed (Debian package dnsmasq-base)");
        let mut dnsmasq = Dnsmasq(child);
        dnsmasq.wait_ready(number);
        dnsmasq
    }

    fn wait_ready(&mut self, port: u16) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        // A query for "ready.invalid", type A.
        let query: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ready\x07invalid\x00\x00\x01\x00\x01";
        let mut buf = [0u8; 512];
        for _ in 0..100 {
            if let Ok(Some(status)) = self.0.try_wait() {
                panic!("dnsmasq exited at start ({status}): port {port} taken?");
            }
            let _ = socket.send_to(query, ("127.0.0.1", port));
            if matches!(socket.recv_from(&mut buf), Ok((n, _)) if n >= 2 && buf[..2] == [0x12, 0x34]) {
                return;
            }
        }
        panic!("dnsmasq on port {port} does not answer");
    }

    /// A `--txt-record` option; text over 255 bytes becomes several strings.
    /// Given as a program argument (no shell), quotes would stay in the
    /// record, so the strings are bare and `text` must have no comma.
    pub fn txt(name: &str, text: &str) -> String {
        assert!(!text.contains(','), "dnsmasq separates TXT strings with commas");
        let parts: Vec<String> = text.as_bytes().chunks(255).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
        format!("--txt-record={name},{}", parts.join(","))
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port on 127.0.0.1 free for both UDP and TCP, held until dropped, so
/// that nothing else takes it between choosing it and starting a DNS
/// server on it (dnsmasq listens on both).
pub struct ReservedPort {
    _udp: UdpSocket,
    _tcp: std::net::TcpListener,
    port: u16,
}

impl ReservedPort {
    pub fn new() -> ReservedPort {
        for _ in 0..100 {
            let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind TCP");
            let port = tcp.local_addr().expect("addr").port();
            if let Ok(udp) = UdpSocket::bind(("127.0.0.1", port)) {
                return ReservedPort { _udp: udp, _tcp: tcp, port };
            }
        }
        panic!("no port free for both UDP and TCP");
    }

    pub fn number(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Default for ReservedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// Knot DNS (Debian packages knot, knot-dnsutils) on 127.0.0.1:`port`,
/// serving one DNSSEC-signed root zone made of `records` (zone-file lines
/// under "."), so that a validating resolver can be given its key as the
/// trust anchor. Killed on drop.
pub struct Knot {
    child: std::process::Child,
    port: u16,
    _dir: TempDir,
}

/// A directory removed on drop (the tests' own tempfile is not a
/// dependency of this crate).
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Knot {
    pub fn start(port: ReservedPort, records: &[String]) -> Knot {
        let number = port.number();
        let dir = std::env::temp_dir().join(format!("caravel-knot-{}-{number}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("db")).expect("knot directory");
        let d = dir.display();
        let conf = format!(
            "server:\n    listen: 127.0.0.1@{number}\n    rundir: {d}\n    user: root:root\n\
             database:\n    storage: {d}/db\n    kasp-db: {d}/keys\n\
             policy:\n  - id: test\n    algorithm: ecdsap256sha256\n    single-type-signing: on\n\
             template:\n  - id: default\n    storage: {d}\n    dnssec-signing: on\n    dnssec-policy: test\n    zonefile-sync: -1\n\
             zone:\n  - domain: .\n    file: root.zone\n"
        );
        std::fs::write(dir.join("knot.conf"), conf).expect("knot.conf");
        let mut zone = String::from(". 300 IN SOA ns.test. admin.test. 1 3600 600 86400 300\n. 300 IN NS ns.test.\nns.test. 300 IN A 127.0.0.1\n");
        for r in records {
            zone.push_str(r);
            zone.push('\n');
        }
        std::fs::write(dir.join("root.zone"), zone).expect("root.zone");
        drop(port);
        let child = std::process::Command::new("knotd")
            .arg("-c")
            .arg(dir.join("knot.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("knotd installed (Debian package knot)");
        let knot = Knot { child, port: number, _dir: TempDir(dir) };
        // Signed and answering once its key can be read.
        for _ in 0..100 {
            if knot.anchor().contains("DNSKEY") {
                return knot;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("knotd on port {number} does not serve a signed zone");
    }

    /// The zone's DNSKEY records, as a trust-anchor file holds them.
    pub fn anchor(&self) -> String {
        let out = std::process::Command::new("kdig")
            .args(["@127.0.0.1", "-p", &self.port.to_string(), "+short", "+time=1", "+retry=0", "DNSKEY", "."])
            .output()
            .expect("kdig installed (Debian package knot-dnsutils)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
            .map(|l| format!(". 300 IN DNSKEY {l}\n"))
            .collect()
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
