//! The RFC 7208 SPF test suite (openspf.org release 2014.04, by the pyspf
//! authors; see data/rfc7208-tests.LICENSE) run through Caravel's SPF check.
//! Each scenario's zone is served by the test DNS server, a Caravel
//! resolver asks it, and `check_spf` (the call the authentication stage
//! makes) must give one of the results the suite accepts.
//!
//! The data is data/rfc7208-tests.json, converted from the suite's YAML by
//! data/convert_spf_suite.py. Where mail-auth (the SPF implementation under
//! Caravel) is known to decide otherwise, the case is in
//! `KNOWN_DIFFERENCES` with the reason; the test fails if any other case
//! differs, and also if a listed case stops differing (so the list stays
//! true).

use std::net::IpAddr;
use std::time::Duration;

use caravel_dns::test_server::TestDns;
use caravel_dns::Resolver;
use caravel_filter::authentication::{check_spf, spf_result_word};
use serde_json::{Map, Value};

const SUITE: &str = include_str!("data/rfc7208-tests.json");

/// Our hostname for the `%{r}` macro: pyspf's default receiver name.
const HOSTNAME: &str = "unknown";

/// Short, so the suite's TIMEOUT cases (no answer at all) end quickly.
const DNS_TIMEOUT: Duration = Duration::from_millis(500);

/// A /0 CIDR length makes mail-auth's parser shift `u32::MAX` by 32 (or
/// `u128::MAX` by 128): a panic where overflow checks are on (debug builds,
/// as this test runs; Caravel's check catches it and says temperror), and a
/// /32 (/128) mask where they are off (release), so under `--release` some
/// of these cases would come out differently.
const SHIFT_PANIC: &str =
    "mail-auth panics on a /0 CIDR length (shift overflow: temperror here; release builds take it as /32, /128)";

/// Cases where mail-auth 0.7.5 is known to decide otherwise than the suite
/// (each checked against the queries the test server saw: the DNS side
/// answers as the suite's zone says; the difference is in mail-auth).
/// "Name error" below: mail-auth cannot make a DNS name of the target
/// (hickory refuses it), sends no query and returns TempError.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    // Record syntax: mail-auth's parser is lenient where RFC 7208 says permerror.
    ("badip4", "a LF inside the record is taken as a separator, not a syntax error"),
    ("control-char-policy", "a CR inside the record is taken as a separator, not a syntax error"),
    ("non-ascii-policy", "non-ASCII bytes in a mechanism are not a syntax error"),
    ("non-ascii-mech", "non-ASCII bytes before a mechanism are not a syntax error"),
    ("invalid-domain", "a target without a valid top label (a:foo-bar) is looked up, not a permerror"),
    ("a-numeric", "a:111.222.33.44 (numeric top label) is looked up, not a permerror"),
    ("a-numeric-toplabel", "a:abc.123 (numeric top label) is looked up, not a permerror"),
    ("a-only-toplabel", "a:museum (single label) is looked up, not a permerror"),
    ("a-only-toplabel-trailing-dot", "a:museum. (single label) is looked up, not a permerror"),
    ("mx-numeric-top-label", "mx:abc.123 (numeric top label) is looked up, not a permerror"),
    ("a-bad-cidr4", "a/33 is clamped to /32, not a permerror"),
    ("a-bad-cidr6", "a//129 is clamped to /128, not a permerror"),
    ("mx-bad-cidr4", "mx/33 is clamped to /32, not a permerror"),
    ("mx-bad-cidr6", "mx//129 is clamped to /128, not a permerror"),
    ("cidr4-33", "ip4:.../33 is clamped to /32, not a permerror"),
    ("cidr6-129", "ip6:.../129 is clamped to /128, not a permerror"),
    ("cidr4-032", "a CIDR length with a leading zero (/032) is accepted"),
    ("a-dual-cidr-ip4-err", "a/24/64 (second length without //) is accepted"),
    ("empty-modifier-name", "a modifier with an empty name (=all) is ignored, not a permerror"),
    ("invalid-modifier", "a modifier name starting with a digit (1up=foo) is ignored, not a permerror"),
    ("exp-syntax-error", "exp= with an empty domain-spec is ignored, not a permerror"),
    ("redirect-syntax-error", "redirect= with an empty domain-spec is ignored, not a permerror"),
    ("modifier-charset-good", "the unknown modifier moo.cow-far_out=man:dog/cat is refused (permerror)"),
    ("redirect-after-mechanisms2", "its redirect target has the moo.cow-far_out= modifier mail-auth refuses"),
    ("a-colon-domain", "a:foo:bar/baz.example.com is refused (the / is read as a CIDR), suite wants pass"),
    ("a-colon-domain-ip4mapped", "a:foo:bar/baz.example.com is refused (the / is read as a CIDR), suite wants pass"),
    ("mx-colon-domain", "mx:foo:bar/baz.example.com is refused (the / is read as a CIDR), suite wants pass"),
    ("mx-colon-domain-ip4mapped", "mx:foo:bar/baz.example.com is refused (the / is read as a CIDR), suite wants pass"),
    // Record selection.
    // Names that cannot be put into a query: TempError instead of None/PermError/no-match.
    ("domain-literal", "Name error on the MAIL FROM domain [1.2.3.5]: temperror, suite wants none"),
    ("emptylabel", "Name error on the MAIL FROM domain A...example.com: temperror, suite wants none"),
    ("invalid-domain-empty-label", "Name error on a:mail.example...com: temperror, suite wants fail|permerror"),
    ("invalid-domain-long", "Name error on a 64-byte label: temperror, suite wants fail|permerror"),
    ("invalid-domain-long-via-macro", "Name error on a 64-byte label from %{H}: temperror, suite wants fail|permerror"),
    ("a-bad-domain", "Name error on a:example.com:8080: temperror, suite wants permerror"),
    ("a-bad-toplabel", "Name error on a:example.-com: temperror, suite wants permerror"),
    ("a-null", "Name error on a target ending in NUL: temperror, suite wants permerror"),
    ("mx-bad-domain", "Name error on mx:example.com:8080: temperror, suite wants permerror"),
    ("mx-bad-toplab", "Name error on mx:example.-com: temperror, suite wants permerror"),
    ("mx-null", "Name error on a target ending in NUL: temperror, suite wants permerror"),
    ("invalid-hello-macro", "Name error on a:%{H} with HELO \"JUMPIN' JUPITER\": temperror, suite wants fail"),
    ("macro-mania-in-domain", "Name error on the expanded name with spaces (%_%_): temperror, suite wants pass"),
    ("p-macro-multiple", "%{p} is the first PTR name unvalidated and with its trailing dot, giving a Name error"),
    // Mechanism semantics.
    ("ptr-match-implicit", "ptr: a PTR name equal to the domain never matches (compared with its trailing dot)"),
    ("ptr-match-ip6", "ptr: a PTR name equal to the domain never matches (compared with its trailing dot)"),
    ("exists-ip6only", "exists: also counts AAAA records; RFC 7208 5.7 asks for A only"),
    ("void-over-limit", "the limit of two void lookups (RFC 7208 4.6.4) is not enforced"),
    // CIDR length 0.
    ("a-cidr4-0", SHIFT_PANIC),
    ("a-cidr4-0-ip6", SHIFT_PANIC),
    ("a-cidr6-0-ip4", SHIFT_PANIC),
    ("a-cidr6-0-ip4mapped", SHIFT_PANIC),
    ("a-cidr6-0-ip6", SHIFT_PANIC),
    ("a-cidr6-0-nxdomain", SHIFT_PANIC),
    ("a-nxdomain", SHIFT_PANIC),
    ("mx-cidr4-0", SHIFT_PANIC),
    ("mx-cidr4-0-ip6", SHIFT_PANIC),
    ("mx-cidr6-0-ip4", SHIFT_PANIC),
    ("mx-cidr6-0-ip4mapped", SHIFT_PANIC),
    ("mx-cidr6-0-ip6", SHIFT_PANIC),
    ("mx-cidr6-0-nxdomain", SHIFT_PANIC),
    ("mx-nxdomain", SHIFT_PANIC),
    ("cidr4-0", SHIFT_PANIC),
    ("cidr6-0", SHIFT_PANIC),
    ("cidr6-0-ip4", SHIFT_PANIC),
    ("cidr6-ip4", SHIFT_PANIC),
    // Explanations (exp=): the result is right, the text differs.
    ("nolocalpart", "explanation: %{l} of \"@example.net\" expands to \"\", RFC 7208 4.3 says postmaster"),
    ("exp-multiple-txt", "explanation: of several exp= TXT records the first is used; RFC 7208 6.2 says none"),
    ("two-exp-records", "explanation: of several exp= TXT records the first is used; RFC 7208 6.2 says none"),
    ("non-ascii-exp", "explanation: non-ASCII exp= text is used; RFC 7208 6.2 says none"),
    ("domain-name-truncation", "explanation: a macro expansion over 253 bytes is not truncated from the left"),
    ("p-macro-ip4-novalid", "explanation: %{p} expands to \"\" (no PTR lookup for exp=), suite wants unknown"),
    ("p-macro-ip4-valid", "explanation: %{p} expands to \"\" (no PTR lookup for exp=), suite wants mx.example.com"),
    ("p-macro-ip6-novalid", "explanation: %{p} expands to \"\" (no PTR lookup for exp=), suite wants unknown"),
    ("p-macro-ip6-valid", "explanation: %{p} expands to \"\" (no PTR lookup for exp=), suite wants mx.example.com"),
    ("upper-macro", "explanation: URL-escaping of uppercase macros uses lowercase hex (%3d, suite has %3D)"),
    ("v-macro-ip6", "explanation: %{ir} nibbles of an IPv6 address are lowercase (suite has uppercase)"),
];

struct Outcome {
    name: String,
    expected: Vec<String>,
    got: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn rfc7208_suite() {
    let suite: Value = serde_json::from_str(SUITE).expect("the suite is valid JSON");
    let scenarios = suite["scenarios"].as_array().expect("a list of scenarios");
    let mut outcomes = Vec::new();
    let mut broken = Vec::new();
    for scenario in scenarios {
        let description = scenario["description"].as_str().unwrap_or_default();
        let dns = TestDns::start();
        let zone = scenario["zonedata"].as_object().expect("zonedata is a map");
        if let Err(e) = load_zone(&dns, zone) {
            broken.push(format!("scenario {description:?}: {e}"));
            continue;
        }
        let resolver = Resolver::new(&[dns.addr()], DNS_TIMEOUT).expect("a resolver for the test DNS server");
        let tests = scenario["tests"].as_object().expect("tests is a map");
        for (name, test) in tests {
            match run(&resolver, test).await {
                Ok((expected, got)) => outcomes.push(Outcome { name: name.clone(), expected, got }),
                Err(e) => broken.push(format!("{name}: {e}")),
            }
        }
    }

    let known = |name: &str| KNOWN_DIFFERENCES.iter().find(|(n, _)| *n == name).map(|(_, why)| *why);
    let mut report = Vec::new();
    let (mut matching, mut differing_as_known) = (0, 0);
    for o in &outcomes {
        let matches = o.expected.contains(&o.got);
        match (matches, known(&o.name)) {
            (true, None) => matching += 1,
            (false, Some(why)) => {
                differing_as_known += 1;
                println!("known difference {}: expected {}, got {} ({why})", o.name, o.expected.join("|"), o.got);
            }
            (false, None) => {
                report.push(format!("MISMATCH {}: expected {}, got {}", o.name, o.expected.join("|"), o.got))
            }
            (true, Some(_)) => {
                report.push(format!("STALE {}: listed as a known difference, but it now gives {}", o.name, o.got))
            }
        }
    }
    for (name, _) in KNOWN_DIFFERENCES {
        if !outcomes.iter().any(|o| o.name == *name) {
            report.push(format!("STALE {name}: listed as a known difference, but there is no such case"));
        }
    }
    report.extend(broken.iter().map(|b| format!("BROKEN {b}")));
    println!(
        "SPF suite: {} cases, {matching} match, {differing_as_known} known differences",
        outcomes.len() + broken.len()
    );
    assert!(report.is_empty(), "{} problems:\n{}", report.len(), report.join("\n"));
}

/// Runs one test case: (the results it accepts, what Caravel says).
async fn run(resolver: &Resolver, test: &Value) -> Result<(Vec<String>, String), String> {
    let field = |k: &str| test[k].as_str().ok_or(format!("no {k}"));
    let ip: IpAddr = field("host")?.parse().map_err(|e| format!("host: {e}"))?;
    let mut expected = match &test["result"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list.iter().filter_map(|r| r.as_str().map(str::to_string)).collect(),
        other => return Err(format!("result {other}")),
    };
    let (resolver, helo, mail_from) = (resolver.clone(), field("helo")?.to_string(), field("mailfrom")?.to_string());
    // A task of its own, so that a panic inside mail-auth is one case's
    // outcome rather than the end of the whole run.
    let task = tokio::spawn(async move {
        let output = check_spf(&resolver, ip, &helo, HOSTNAME, &mail_from).await;
        (output.result(), output.explanation().map(str::to_string))
    });
    let got = match task.await {
        // The explanation is compared where the suite gives one; its
        // "DEFAULT" is pyspf's stand-in for "no exp= explanation".
        Ok((result, explanation)) => match test["explanation"].as_str() {
            Some(wanted) if explanation.as_deref().unwrap_or("DEFAULT") != wanted => {
                expected = expected.iter().map(|r| format!("{r} (explanation {wanted:?})")).collect();
                format!("{} (explanation {:?})", spf_result_word(result), explanation.as_deref().unwrap_or("DEFAULT"))
            }
            _ => spf_result_word(result).to_string(),
        },
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            format!("panic ({message})")
        }
        Err(e) => return Err(format!("the check did not finish: {e}")),
    };
    Ok((expected, got))
}

/// Serves a scenario's `zonedata` the way pyspf's test driver (testspf.py)
/// reads it:
/// - `SPF` records (type 99, which RFC 7208 dropped and mail-auth never
///   asks) are served as TXT records when the name has no `TXT` entry, as
///   the suite expects of drivers;
/// - `TXT: NONE` stands for no TXT record, and stops that copying;
/// - `TIMEOUT` makes queries for every type not listed before it go
///   unanswered (and the copied SPF records come after it, so never count).
fn load_zone(dns: &TestDns, zone: &Map<String, Value>) -> Result<(), String> {
    for (name, records) in zone {
        let records = records.as_array().ok_or(format!("{name}: records are not a list"))?;
        let has_txt = records.iter().any(|r| r.get("TXT").is_some());
        let has_timeout = records.iter().any(|r| r == "TIMEOUT");
        for record in records {
            if record == "TIMEOUT" {
                dns.silent_all(name);
                break;
            }
            let (rtype, value) = record
                .as_object()
                .filter(|m| m.len() == 1)
                .and_then(|m| m.iter().next())
                .ok_or(format!("{name}: unexpected record {record}"))?;
            if value == "NONE" {
                continue;
            }
            let text = || value.as_str().ok_or(format!("{name}: {rtype} {value} is not a string"));
            let ip = || text()?.parse::<IpAddr>().map_err(|e| format!("{name}: {rtype} {value}: {e}"));
            match rtype.as_str() {
                "TXT" => dns.txt_strings(name, strings(value)?),
                "SPF" if !has_txt && !has_timeout => dns.txt_strings(name, strings(value)?),
                "SPF" => {}
                "A" | "AAAA" => dns.address(name, ip()?),
                "MX" => {
                    let pair = value.as_array().filter(|p| p.len() == 2);
                    let pref = pair.and_then(|p| p[0].as_u64()).and_then(|p| u16::try_from(p).ok());
                    let exchange = pair.and_then(|p| p[1].as_str());
                    let (Some(pref), Some(exchange)) = (pref, exchange) else {
                        return Err(format!("{name}: MX {value} is not [preference, host]"));
                    };
                    dns.mx(name, pref, exchange);
                }
                "PTR" => dns.ptr(name, text()?),
                "CNAME" => dns.cname(name, text()?),
                _ => return Err(format!("{name}: record type {rtype} not supported")),
            }
        }
    }
    Ok(())
}

/// A TXT record's strings: one string, or a list of them (possibly none).
fn strings(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(list) => {
            list.iter().map(|s| s.as_str().map(str::to_string).ok_or(format!("TXT string {s}"))).collect()
        }
        other => Err(format!("TXT {other}")),
    }
}
