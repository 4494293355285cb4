//! A small authoritative DNS server for tests, on loopback UDP in its own
//! thread: it answers from records the test adds, NXDOMAIN for names it
//! has none for, and can be told to stay silent (a timeout) or fail
//! (SERVFAIL) for a name. Tests point `[dns] resolvers` at it, so they
//! never ask the machine's own resolver.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_auth::hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use mail_auth::hickory_resolver::proto::rr::rdata::{A, AAAA, MX, PTR, TXT};
use mail_auth::hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

#[derive(Clone)]
enum Entry {
    Records(Vec<RData>),
    Silent,
    ServFail,
}

type Zone = HashMap<String, HashMap<RecordType, Entry>>;

pub struct TestDns {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    stop: Arc<AtomicBool>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn name(n: &str) -> Name {
    Name::from_str_relaxed(format!("{}.", n.trim_end_matches('.'))).expect("a valid DNS name")
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
        let types = zone.entry(key(n)).or_default();
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
    let n = key(&q.name().to_ascii());
    match zone.get(&n) {
        None => {
            reply.set_response_code(ResponseCode::NXDomain);
        }
        Some(types) => match types.get(&q.query_type()) {
            Some(Entry::Silent) => return None,
            Some(Entry::ServFail) => {
                reply.set_response_code(ResponseCode::ServFail);
            }
            Some(Entry::Records(records)) => {
                for r in records {
                    reply.add_answer(Record::from_rdata(q.name().clone(), 300, r.clone()));
                }
            }
            None => {}
        },
    }
    Some(reply)
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
