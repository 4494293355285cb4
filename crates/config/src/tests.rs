use super::*;

#[test]
fn empty_file_gives_defaults() {
    let c = Config::parse("").expect("empty config");
    assert_eq!(c.listen, Listen::standard());
    assert_eq!(c.data_dir, PathBuf::from("./caravel-data"));
    assert_eq!(c.limits.max_message_size, 50 << 20);
}

#[test]
fn full_interface_example_parses() {
    let text = r#"
hostname = "mail.example.test"
data_dir = "./caravel-data"

[listen]
smtp        = ["0.0.0.0:25"]
submission  = ["0.0.0.0:587"]
submissions = ["0.0.0.0:465"]
imap        = ["0.0.0.0:143"]
imaps       = ["0.0.0.0:993"]
pop3        = ["0.0.0.0:110"]
pop3s       = ["0.0.0.0:995"]
http        = ["0.0.0.0:8080"]
https       = ["0.0.0.0:443"]

[tls]
cert = "/etc/caravel/fullchain.pem"
key  = "/etc/caravel/key.pem"

[dns]
resolvers = ["127.0.0.1:5353"]

[limits]
max_message_size = "50M"

[store]
backend = "postgres"
url = "postgres://caravel:secret@db.internal:5432/caravel"
"#;
    let c = Config::parse(text).expect("valid");
    assert_eq!(c.hostname, "mail.example.test");
    assert_eq!(c.listen, Listen::standard());
    assert_eq!(c.dns.resolvers, vec!["127.0.0.1:5353".parse().expect("addr")]);
    assert!(matches!(c.store, StoreConfig::Postgres { .. }));
    assert_eq!(c.tls.expect("tls").key, PathBuf::from("/etc/caravel/key.pem"));
}

#[test]
fn listen_section_lists_only_what_it_names() {
    let c = Config::parse("[listen]\nimap = [\"127.0.0.1:1143\", \"[::1]:1143\"]\n").expect("valid");
    assert_eq!(c.listen.imap.len(), 2);
    assert!(c.listen.smtp.is_empty());
    assert!(c.listen.https.is_empty());
}

#[test]
fn every_error_is_reported_at_once_with_key_and_line() {
    let text = "hostname = \"bad host!\"\ncolour = \"blue\"\n[limits]\nmax_message_size = \"lots\"\nmax_connections = -3\n[listen]\nsmtp = [\"nowhere\"]\nftp = [\"0.0.0.0:21\"]\n";
    let errors = Config::parse(text).expect_err("invalid");
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let find = |key: &str, line: usize| {
        assert!(
            errors.iter().any(|e| e.key == key && e.line == Some(line)),
            "no error for {key} at line {line}: {shown:#?}"
        )
    };
    find("hostname", 1);
    find("colour", 2);
    find("limits.max_message_size", 4);
    find("limits.max_connections", 5);
    find("listen.smtp", 7);
    find("listen.ftp", 8);
    assert_eq!(errors.len(), 6, "{shown:#?}");
}

#[test]
fn syntax_error_names_the_line() {
    let errors = Config::parse("hostname = \"a\"\n[limits\n").expect_err("invalid");
    assert_eq!(errors[0].line, Some(2));
}

#[test]
fn postgres_needs_a_url_and_unknown_backends_are_refused() {
    assert!(Config::parse("[store]\nbackend = \"postgres\"\n").is_err());
    let e = Config::parse("[store]\nbackend = \"mysql\"\n").expect_err("invalid");
    assert_eq!(e[0].key, "store.backend");
}

#[test]
fn tls_needs_both_files() {
    assert!(Config::parse("[tls]\ncert = \"/a.pem\"\n").is_err());
}

#[test]
fn missing_explicit_file_is_an_error_but_missing_default_is_not() {
    let e = Config::load(Some(Path::new("/nonexistent/caravel.toml"))).expect_err("missing");
    assert!(e.to_string().contains("/nonexistent/caravel.toml"));
}

#[test]
fn relative_data_dir_is_relative_to_the_config_file() {
    let dir = std::env::temp_dir().join(format!("caravel-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("caravel.toml");
    std::fs::write(&file, "data_dir = \"mail-data\"\n").expect("write");
    let c = Config::load(Some(&file)).expect("load");
    assert_eq!(c.data_dir, dir.join("mail-data"));
    std::fs::write(&file, "data_dir = \"/var/lib/caravel\"\n").expect("write");
    assert_eq!(Config::load(Some(&file)).expect("load").data_dir, PathBuf::from("/var/lib/caravel"));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn absurd_limits_are_refused() {
    assert!(Config::parse("[limits]\nmax_connections = 99999999999\n").is_err());
    assert!(Config::parse("[limits]\nidle_timeout = \"99999999999999999d\"\n").is_err());
}

#[test]
fn mime_depth_has_a_default_and_a_bound() {
    assert_eq!(Config::parse("").expect("empty").limits.max_mime_depth, 50);
    assert_eq!(Config::parse("[limits]\nmax_mime_depth = 20\n").expect("valid").limits.max_mime_depth, 20);
    assert!(Config::parse("[limits]\nmax_mime_depth = 0\n").is_err());
    assert!(Config::parse("[limits]\nmax_mime_depth = 61\n").is_err());
}

/// `[limits] idle_timeout` is what POP3 and IMAP use unless their own key
/// says otherwise.
#[test]
fn common_idle_timeout_is_the_protocols_default() {
    let c = Config::parse("").expect("empty");
    assert_eq!((c.pop3.idle_timeout, c.imap.idle_timeout), (c.limits.idle_timeout, c.limits.idle_timeout));
    let c = Config::parse("[limits]\nidle_timeout = \"12m\"\n[imap]\nidle_timeout = \"40m\"\n").expect("valid");
    assert_eq!(c.pop3.idle_timeout, Duration::from_secs(720));
    assert_eq!(c.imap.idle_timeout, Duration::from_secs(2400));
}

#[test]
fn smtp_section() {
    let c = Config::parse("[smtp]\nmax_recipients = 5\nover_quota = \"permanent\"\ncommand_timeout = \"2s\"\n")
        .expect("valid");
    assert_eq!(c.smtp.max_recipients, 5);
    assert!(c.smtp.over_quota_permanent);
    assert_eq!(c.smtp.command_timeout, Duration::from_secs(2));
    let e = Config::parse("[smtp]\nmax_line_length = 10\nover_quota = \"maybe\"\n").expect_err("invalid");
    assert_eq!(e.len(), 2);
    assert_eq!(Config::parse("[smtp]\nmax_hops = 30\n").expect("valid").smtp.max_hops, 30);
    assert!(Config::parse("[smtp]\nmax_hops = 3\n").is_err(), "at least 10");
}

#[test]
fn security_section_sets_lockout_and_ban() {
    assert_eq!(Config::parse("").expect("defaults").security, Security::default());
    let c = Config::parse("[security]\nmax_failed_logins = 3\nfailure_window = \"10m\"\nlockout = \"1h\"\nip_max_failed_logins = 50\nip_ban = \"2h\"\n")
        .expect("valid");
    assert_eq!(c.security.max_failed_logins, 3);
    assert_eq!(c.security.failure_window, Duration::from_secs(600));
    assert_eq!(c.security.lockout, Duration::from_secs(3600));
    assert_eq!((c.security.ip_max_failed_logins, c.security.ip_ban), (50, Duration::from_secs(7200)));
    let e = Config::parse("[security]\nmax_failed_logins = 0\nip_ban = \"0s\"\nlock = 3\nlockout = \"400d\"\n")
        .expect_err("invalid");
    for key in ["security.max_failed_logins", "security.ip_ban", "security.lock", "security.lockout"] {
        assert!(format!("{e:?}").contains(key), "{key}: {e:?}");
    }
}

#[test]
fn tls_sni_certificates_by_host_name() {
    let c = Config::parse(
        "[tls]\ncert = \"/a.pem\"\nkey = \"/a.key\"\n[tls.sni.\"mail.Other.test\"]\ncert = \"/b.pem\"\nkey = \"/b.key\"\n[tls.sni.\"*.third.test\"]\ncert = \"/c.pem\"\nkey = \"/c.key\"\n",
    )
    .expect("valid");
    assert_eq!(c.tls_sni.len(), 2);
    assert_eq!(c.tls_sni[0].0, "mail.other.test");
    assert_eq!(c.tls_sni[1].1.key, PathBuf::from("/c.key"));
    let e = Config::parse(
        "[tls.sni.\"bad host!\"]\ncert = \"/b.pem\"\nkey = \"/b.key\"\n[tls.sni.\"ok.test\"]\ncert = \"/x\"\n",
    )
    .expect_err("invalid");
    let text = format!("{e:?}");
    assert!(text.contains("tls.sni.bad host!") && text.contains("tls.sni.ok.test"), "{text}");
}

#[test]
fn delivery_section_sets_retries_limits_and_relays() {
    let d = Config::parse("").expect("defaults").delivery;
    assert_eq!(d, crate::Delivery::default());
    assert_eq!(d.retry.len(), 7);
    assert_eq!(
        (d.mx_port, d.delay_notice, d.expire),
        (25, Duration::from_secs(4 * 3600), Duration::from_secs(432_000))
    );
    let c = Config::parse(
        "[delivery]\nretry = [\"1s\", \"2s\"]\nexpire = \"1h\"\nmax_connections = 4\nmax_connections_per_domain = 2\nmx_port = 2525\nsmarthost = { host = \"Smtp.Provider.test\", port = 587, user = \"u\", password = \"p\" }\n[delivery.routes]\n\"Partner.test\" = \"gw.partner.test:25\"\n",
    )
    .expect("valid");
    let d = c.delivery;
    assert_eq!(d.retry, vec![Duration::from_secs(1), Duration::from_secs(2)]);
    assert_eq!((d.max_connections, d.max_connections_per_domain, d.mx_port), (4, 2, 2525));
    let relay = d.smarthost.expect("smarthost");
    assert_eq!((relay.host.as_str(), relay.port, relay.user.as_deref()), ("smtp.provider.test", 587, Some("u")));
    assert_eq!(d.routes[0].0, "partner.test");
    assert_eq!((d.routes[0].1.host.as_str(), d.routes[0].1.port), ("gw.partner.test", 25));
    let e = Config::parse(
        "[delivery]\nretry = []\nexpire = \"0s\"\nmx_port = 70000\nmax_connections = 0\nsmarthost = \"nohost\"\nwhat = 1\n[delivery.routes]\n\"x.test\" = { host = \"h\", user = \"u\" }\n",
    )
    .expect_err("invalid");
    let text = format!("{e:?}");
    for key in [
        "delivery.retry",
        "delivery.expire",
        "delivery.mx_port",
        "delivery.max_connections",
        "delivery.smarthost",
        "delivery.what",
        "delivery.routes.x.test",
    ] {
        assert!(text.contains(key), "{key}: {text}");
    }
}

#[test]
fn dns_section_sets_resolvers_and_dnssec() {
    let c = Config::parse(
        "[dns]\nresolvers = [\"127.0.0.1:5353\"]\ndnssec = true\ntrust_anchor = \"/etc/caravel/root.key\"\n",
    )
    .expect("valid");
    assert!(c.dns.dnssec);
    assert_eq!(c.dns.trust_anchor, Some(PathBuf::from("/etc/caravel/root.key")));
    assert!(!Config::parse("").expect("defaults").dns.dnssec, "off unless asked for");
    assert!(Config::parse("[dns]\ndnssec = \"yes\"\n").is_err());
}

#[test]
fn antivirus_and_quarantine_sections() {
    let c = Config::parse(
        r#"
[antivirus]
clamd = "/run/clamav/clamd.ctl"
clamd_timeout = "10s"
on_clamd_error = "builtin"
max_file_size = "10M"
max_ratio = 50
update_from = "/srv/signatures"
[antivirus.actions]
encrypted = "accept"
double_extension = "reject"
[quarantine]
retention = "7d"
notify = "immediate"
"#,
    )
    .expect("parses");
    let a = &c.antivirus;
    assert_eq!(a.clamd.as_deref(), Some("/run/clamav/clamd.ctl"));
    assert_eq!((a.clamd_timeout.as_secs(), a.on_clamd_error), (10, ClamdFailure::Builtin));
    assert_eq!((a.max_file_size, a.max_ratio, a.max_depth), (10 << 20, 50, 16));
    assert_eq!(a.action("encrypted"), AvAction::Accept);
    assert_eq!(a.action("double_extension"), AvAction::Reject);
    assert_eq!(a.action("executable"), AvAction::Quarantine);
    assert_eq!((c.quarantine.retention.as_secs(), c.quarantine.notify), (7 * 86_400, Notify::Immediate));
    let d = Config::parse("").expect("defaults");
    assert_eq!((d.antivirus.enabled, d.antivirus.on_clamd_error), (true, ClamdFailure::Tempfail));
    assert_eq!((d.quarantine.retention.as_secs(), d.quarantine.notify), (30 * 86_400, Notify::Digest));
    for bad in [
        "[antivirus]\non_clamd_error = \"ignore\"",
        "[antivirus.actions]\nexecutable = \"drop\"",
        "[antivirus]\nscan = 1",
        "[quarantine]\nnotify = 3",
    ] {
        let e = format!("{:?}", Config::parse(bad).expect_err(bad));
        assert!(e.contains("antivirus") || e.contains("quarantine"), "{bad}: {e}");
    }
}

#[test]
fn mta_sts_section() {
    let c = Config::parse("[mta_sts]\nmode = \"enforce\"\nmax_age = \"30d\"\n").expect("parses");
    assert_eq!((c.mta_sts.mode, c.mta_sts.max_age.as_secs()), (StsMode::Enforce, 30 * 86_400));
    let d = Config::parse("").expect("defaults");
    assert_eq!((d.mta_sts.mode.as_str(), d.mta_sts.max_age.as_secs()), ("testing", 7 * 86_400));
    for bad in ["[mta_sts]\nmode = \"strict\"", "[mta_sts]\nmax_age = \"400d\"", "[mta_sts]\npolicy = 1"] {
        let e = format!("{:?}", Config::parse(bad).expect_err(bad));
        assert!(e.contains("mta_sts"), "{bad}: {e}");
    }
}

#[test]
fn metrics_section() {
    let c = Config::parse("[metrics]\nallow = [\"10.0.0.5\", \"192.0.2.0/24\"]\n").expect("parses");
    assert!(c.metrics.allow.iter().any(|n| n.contains("192.0.2.9".parse().expect("ip"))));
    assert!(!c.metrics.allow.iter().any(|n| n.contains("127.0.0.1".parse().expect("ip"))), "replaces the default");
    let d = Config::parse("").expect("defaults");
    assert!(d.metrics.allow.iter().any(|n| n.contains("127.0.0.1".parse().expect("ip"))));
    let e = format!("{:?}", Config::parse("[metrics]\nallow = [\"example.com\"]").expect_err("bad"));
    assert!(e.contains("metrics.allow"), "{e}");
}

#[test]
fn sms_section() {
    let c = Config::parse("[sms]\nwebhook_url = \"https://sms.example.com/send\"\ntoken = \"t0k\"\ntimeout = \"5s\"\n")
        .expect("parses");
    assert_eq!(c.sms.webhook_url.as_deref(), Some("https://sms.example.com/send"));
    assert_eq!((c.sms.token.as_deref(), c.sms.timeout.as_secs()), (Some("t0k"), 5));
    assert!(Config::parse("[sms]\nwebhook_url = \"http://127.0.0.1:9/x\"").is_ok(), "this machine may use http");
    let d = Config::parse("").expect("defaults");
    assert_eq!((d.sms.webhook_url.clone(), d.sms.timeout.as_secs()), (None, 10));
    let e = format!("{:?}", Config::parse("[sms]\nwebhook_url = \"http://sms.example.com/send\"").expect_err("clear"));
    assert!(e.contains("sms.webhook_url") && e.contains("https"), "{e}");
}

#[test]
fn spam_example_limit_has_a_default_and_a_floor() {
    assert_eq!(Config::parse("").expect("defaults").spam.max_examples, 10_000);
    let c = Config::parse("[spam]\nmax_examples = 20000\n").expect("config");
    assert_eq!(c.spam.max_examples, 20_000);
    let c = Config::parse("[spam]\nmax_examples = 3\nmin_messages = 5\n").expect("config");
    assert_eq!(c.spam.max_examples, 10, "the floor");
    let c = Config::parse("[spam]\nmax_examples = 30\n").expect("config");
    assert_eq!(c.spam.max_examples, 50, "never below min_messages (50): the classifier would never speak");
}

#[test]
fn correspondents_have_a_default_score_and_limit() {
    let d = Config::parse("").expect("defaults").spam;
    assert_eq!((d.correspondent_score, d.correspondents_kept), (-4.0, 5_000));
    let c = Config::parse("[spam]\ncorrespondent_score = 0\ncorrespondents_kept = 200\n").expect("config").spam;
    assert_eq!((c.correspondent_score, c.correspondents_kept), (0.0, 200), "0 turns it off");
    let c = Config::parse("[spam]\ncorrespondents_kept = 2\n").expect("config").spam;
    assert_eq!(c.correspondents_kept, 10, "the floor");
    let e = format!("{:?}", Config::parse("[spam]\ncorrespondent_score = 3\n").expect_err("never a penalty"));
    assert!(e.contains("correspondent_score") && e.contains("negative"), "{e}");
}
