//! CPU per message of the filter pipeline at the end of DATA, in process:
//! the spam stage (lists, default and 200 extra keyword rules, a trained
//! classifier) and the sender-authentication stage (SPF, DKIM, DMARC over
//! dnsmasq on loopback, which knows no names: every lookup is a "no such
//! name" the resolver keeps as long as the answer says).
//!
//! cargo run --release -p caravel-filter --example pipeline_cost [-- N]

use std::sync::Arc;
use std::time::Duration;

use caravel_filter::pipeline::{MessageContext, Pipeline, RecipientCtx, Stage};
use caravel_filter::{AuthenticationStage, SpamFilter, SpamSettings};
use caravel_store::filter_data::{FilterRule, Learn};
use caravel_store::Store;

fn cpu_seconds() -> f64 {
    // utime + stime of this process, from /proc (no libc binding needed).
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let fields: Vec<&str> = stat.rsplit(") ").next().expect("fields").split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

fn message(n: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Buyer {n} <buyer{n}@customer{n}.test>\r\nTo: alice@example.test\r\nSubject: Order {n}: LED panels, FOB Shanghai\r\n\
         Message-ID: <{n}@customer.test>\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    .into_bytes();
    while m.len() < 1024 {
        m.extend_from_slice(b"Please quote 500 units of the 600x600 panel, delivery in March, payment by L/C.\r\n");
    }
    m
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(caravel_store::sqlite::SqliteStore::open(dir.path()).expect("store"));
        for i in 0..200 {
            let rule = FilterRule {
                id: 0,
                kind: "keyword".into(),
                pattern: format!("promo word {i}"),
                scope: String::new(),
                place: Some("any".into()),
                action: Some("score:1".into()),
                created: 0,
            };
            store.add_filter_rule(rule).await.expect("rule");
        }
        // A classifier trained on 200 messages of words and 5-grams.
        let learn: Vec<Learn> = (0..200)
            .map(|i| Learn {
                digest: format!("d{i}"),
                spam: i % 2 == 0,
                features: {
                    let mut f: Vec<u32> = (0..3000).map(|t| ((t * 7 + i) % 50_000) as u32 * 83).collect();
                    f.sort_unstable();
                    f.dedup();
                    f
                },
            })
            .collect();
        store.spam_learn(0, learn).await.expect("learn");
        let spam = Arc::new(SpamFilter::new(store.clone(), SpamSettings { min_messages: 10, ..Default::default() }));
        // dnsmasq in its own process, so its CPU is not counted here.
        let port = caravel_dns::test_server::ReservedPort::new();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port.number()));
        // Authoritative for .test, so that "no such name" carries the
        // zone's SOA and its negative TTL, as a real resolver's answer
        // does (RFC 2308 §5: without it nothing may be cached, and every
        // message would ask again). NO_SOA=1 measures that case.
        let zone: Vec<String> = match std::env::var("NO_SOA") {
            Ok(_) => Vec::new(),
            Err(_) => ["--auth-server=ns.test,lo", "--auth-zone=test", "--auth-soa=1,hostmaster.test,1200,120,604800"]
                .map(String::from)
                .to_vec(),
        };
        let _dns = caravel_dns::test_server::Dnsmasq::start(port, &zone);
        let resolver = caravel_dns::Resolver::new(&[addr], Duration::from_secs(2)).expect("resolver");
        let auth = AuthenticationStage { dns: resolver, hostname: "mx.example.test".into(), store: store.clone() };
        let spam_only = Pipeline::new(vec![Box::new(spam.clone()) as Box<dyn Stage>]);
        let auth2 =
            AuthenticationStage { dns: auth.dns.clone(), hostname: auth.hostname.clone(), store: store.clone() };
        let with_auth = Pipeline::new(vec![Box::new(auth) as Box<dyn Stage>, Box::new(spam.clone())]);
        // The virus scanner with 10,000 signatures of its own.
        let av_dir = tempfile::tempdir().expect("tempdir");
        let sigs: String = (0..10_000)
            .map(|i| format!("Bench.{i}:0:*:{:016x}{:08x}\n", i as u64 * 0x9e37_79b9_7f4a_7c15, i))
            .collect();
        std::fs::write(av_dir.path().join("bench.ndb"), sigs).expect("signatures");
        let engine =
            caravel_antivirus::Engine::open(&dir.path().join("antivirus"), Some(av_dir.path()), Default::default())
                .expect("engine");
        let av = caravel_filter::antivirus::AntivirusStage {
            engine: Arc::new(engine),
            actions: Default::default(),
            clamd: None,
            store: store.clone(),
        };
        let whole = Pipeline::new(vec![Box::new(av) as Box<dyn Stage>, Box::new(auth2), Box::new(spam.clone())]);
        let messages: Vec<Vec<u8>> = (0..64).map(message).collect();
        for (label, pipeline) in [
            ("spam stage", &spam_only),
            ("authentication + spam", &with_auth),
            ("antivirus + authentication + spam", &whole),
        ] {
            // Warm up (rules compiled, model loaded, DNS answers cached).
            for m in &messages {
                run(pipeline, m).await;
            }
            let before = cpu_seconds();
            let started = std::time::Instant::now();
            for i in 0..n {
                run(pipeline, &messages[i % messages.len()]).await;
            }
            let cpu = cpu_seconds() - before;
            println!(
                "{label}: {:.3} ms CPU per 1 KB message ({n} messages, {:.2} s wall)",
                1000.0 * cpu / n as f64,
                started.elapsed().as_secs_f64()
            );
        }
    });
}

async fn run(p: &Pipeline, m: &[u8]) {
    let mut ctx = MessageContext::new(m, "buyer@customer.test", "192.0.2.7".parse().expect("ip"), "mx.customer.test");
    ctx.recipients = vec![RecipientCtx::new("alice@example.test", Some(1))];
    p.run(&mut ctx).await;
}
