//! The doctor's checks of the server, as an administrator would make them
//! by hand: does every listener answer, is the certificate valid for the
//! name and not about to expire, does DNS say what `caravel dns` asks for
//! (MX here, SPF allowing this server's address, each DKIM key published,
//! DMARC, reverse DNS matching the host name, MTA-STS), is the server's
//! address on a block list, is there disk space left, does the queue move,
//! and is the clock sane.

use std::net::IpAddr;
use std::time::Duration;

use caravel_config::Config;
use caravel_store::{EventQuery, Store};

use super::{check, Check, Status};

/// How long a listener has to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn server(config: &Config, store: &dyn Store, now: i64) -> Vec<Check> {
    let mut out = listeners(config).await;
    out.extend(certificates(config, now));
    match caravel_dns::Resolver::new(&config.dns.resolvers, Duration::from_secs(5)) {
        Ok(dns) => out.extend(dns_checks(config, store, &dns).await),
        Err(e) => out.push(check(
            "dns",
            Status::Fail,
            format!("cannot set up DNS lookups: {e}"),
            Some("check [dns] resolvers"),
        )),
    }
    out.push(disk(config));
    out.push(queue(store, now).await);
    out.push(clock(store, now).await);
    out
}

async fn listeners(config: &Config) -> Vec<Check> {
    let mut down = Vec::new();
    let mut up = 0;
    for service in caravel_config::SERVICES {
        for addr in config.listen.service(service) {
            let at = caravel_net::reachable_at(*addr);
            match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(at)).await {
                Ok(Ok(_)) => up += 1,
                Ok(Err(e)) => down.push(format!("{service} on {addr} ({e})")),
                Err(_) => down.push(format!("{service} on {addr} (no answer in {} s)", CONNECT_TIMEOUT.as_secs())),
            }
        }
    }
    if up == 0 && down.is_empty() {
        return vec![check("listeners", Status::Warn, "no listeners are configured ([listen])".into(), None)];
    }
    if down.is_empty() {
        return vec![check("listeners", Status::Ok, format!("all {up} listener(s) accept connections"), None)];
    }
    vec![check(
        "listeners",
        Status::Fail,
        format!("not answering: {}", down.join(", ")),
        Some("is caravel serve running (with this configuration)? A firewall in front must let these ports through"),
    )]
}

fn certificates(config: &Config, now: i64) -> Vec<Check> {
    let roots = caravel_admin::tls_check::system_roots();
    let reports = match caravel_admin::tls_check::check(config, &roots, now) {
        Ok(r) => r,
        Err(e) => return vec![check("certificate", Status::Fail, e, Some("check [tls] cert and key"))],
    };
    reports
        .into_iter()
        .map(|r| {
            let names = r.names.join(", ");
            if r.problems.is_empty() {
                return check(
                    "certificate",
                    Status::Ok,
                    format!("{} ({names}) is valid for {} more day(s)", r.used_for, r.days_left),
                    None,
                );
            }
            let status = if r.days_left < 0 { Status::Fail } else { Status::Warn };
            check(
                "certificate",
                status,
                format!("{} ({names}): {}", r.used_for, r.problems.join("; ")),
                Some("caravel tls check says more; a certificate from Let's Encrypt (certbot) for the host name is read again when it changes"),
            )
        })
        .collect()
}

async fn dns_checks(config: &Config, store: &dyn Store, dns: &caravel_dns::Resolver) -> Vec<Check> {
    let host = config.hostname.as_str();
    let mut out = Vec::new();
    let ips = match dns.addresses(host).await {
        Ok(ips) if !ips.is_empty() => {
            let list: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
            out.push(check("host name", Status::Ok, format!("{host} resolves to {}", list.join(", ")), None));
            ips
        }
        Ok(_) => {
            out.push(check(
                "host name",
                Status::Fail,
                format!("{host} has no address in DNS: other servers cannot find this one"),
                Some("publish an A (and AAAA) record for the host name with this server's public address"),
            ));
            Vec::new()
        }
        Err(e) => {
            out.push(check("host name", Status::Fail, e, Some("check [dns] resolvers")));
            Vec::new()
        }
    };
    out.extend(reverse_dns(dns, host, &ips).await);
    out.extend(block_lists(config, dns, &ips).await);
    let domains = store.list_domains().await.unwrap_or_default();
    for d in domains {
        out.extend(domain_checks(store, dns, host, &d.name, &ips).await);
    }
    out
}

async fn reverse_dns(dns: &caravel_dns::Resolver, host: &str, ips: &[IpAddr]) -> Vec<Check> {
    let mut out = Vec::new();
    for ip in ips {
        out.push(match dns.ptr(*ip).await {
            Ok(names) if names.iter().any(|n| n.eq_ignore_ascii_case(host)) => {
                check("reverse dns", Status::Ok, format!("{ip} points back to {host}"), None)
            }
            Ok(names) => check(
                "reverse dns",
                Status::Fail,
                match names.is_empty() {
                    true => format!("{ip} has no reverse DNS name: many receivers refuse or mark such mail"),
                    false => {
                        format!("{ip} points back to {}, not {host}: receivers distrust the mismatch", names.join(", "))
                    }
                },
                Some(&format!("ask whoever gives you the address (hosting provider, ISP) to set its PTR to {host}")),
            ),
            Err(e) => check("reverse dns", Status::Warn, e, None),
        });
    }
    out
}

/// The server's IPv4 addresses in `[spam] dnsbl` zones (the zones the
/// admin chose to trust; none are asked when none are set).
async fn block_lists(config: &Config, dns: &caravel_dns::Resolver, ips: &[IpAddr]) -> Vec<Check> {
    if config.spam.dnsbl.is_empty() {
        return vec![check(
            "block lists",
            Status::Ok,
            "no block lists are configured ([spam] dnsbl), so none were asked about this server".into(),
            None,
        )];
    }
    let mut listed = Vec::new();
    for ip in ips {
        let IpAddr::V4(v4) = ip else { continue };
        let o = v4.octets();
        for zone in &config.spam.dnsbl {
            let name = format!("{}.{}.{}.{}.{zone}", o[3], o[2], o[1], o[0]);
            // 127.255.255.x are the lists' error codes (a refused public
            // resolver), not listings.
            if let Ok(answers) = dns.ipv4(&name).await {
                if let Some(code) = caravel_filter::dnsbl::listed(&answers) {
                    listed.push(format!("{ip} on {zone} ({code})"));
                }
            }
        }
    }
    if listed.is_empty() {
        return vec![check("block lists", Status::Ok, format!("not listed on {}", config.spam.dnsbl.join(", ")), None)];
    }
    vec![check(
        "block lists",
        Status::Fail,
        format!("listed: {}: receivers that use these lists refuse this server's mail", listed.join(", ")),
        Some("find out why on the list's web site (a compromised account sending spam?), fix it, then ask for removal"),
    )]
}

async fn domain_checks(
    store: &dyn Store,
    dns: &caravel_dns::Resolver,
    host: &str,
    domain: &str,
    ips: &[IpAddr],
) -> Vec<Check> {
    let fix = format!("publish what caravel dns {domain} prints");
    let mut out = Vec::new();
    out.push(match dns.mx(domain).await {
        Ok(caravel_dns::MxAnswer::Records(mx))
            if mx.iter().any(|(_, h)| h.trim_end_matches('.').eq_ignore_ascii_case(host)) =>
        {
            check("mx", Status::Ok, format!("{domain}: MX points to {host}"), None)
        }
        Ok(caravel_dns::MxAnswer::Records(mx)) => {
            let names: Vec<&str> = mx.iter().map(|(_, h)| h.as_str()).collect();
            check(
                "mx",
                Status::Fail,
                format!(
                    "{domain}: MX points to {}, not to this server ({host}): mail for the domain goes there",
                    names.join(", ")
                ),
                Some(&fix),
            )
        }
        Ok(_) => check(
            "mx",
            Status::Fail,
            format!("{domain} has no MX record: other servers do not know where to send its mail"),
            Some(&fix),
        ),
        Err(e) => check("mx", Status::Warn, format!("{domain}: {e}"), None),
    });
    out.push(spf(dns, host, domain, ips, &fix).await);
    out.extend(dkim(store, dns, domain, &fix).await);
    let txt = |name: String| async move { dns.txt_records(&name).await.unwrap_or_default() };
    let dmarc = txt(format!("_dmarc.{domain}")).await;
    out.push(match dmarc.iter().find(|r| r.trim_start().to_ascii_lowercase().starts_with("v=dmarc1")) {
        Some(r) => check("dmarc", Status::Ok, format!("{domain}: {r}"), None),
        None => check(
            "dmarc",
            Status::Warn,
            format!("{domain} publishes no DMARC policy: receivers (Gmail, Outlook) trust its mail less, and forgers are not stopped"),
            Some(&fix),
        ),
    });
    out.push(match dns.mta_sts_id(domain).await {
        Ok(Some(id)) => check("mta-sts", Status::Ok, format!("{domain}: MTA-STS record published (id {id})"), None),
        Ok(None) => check(
            "mta-sts",
            Status::Warn,
            format!("{domain} publishes no MTA-STS record: senders may deliver to it without TLS"),
            Some(&fix),
        ),
        Err(e) => check("mta-sts", Status::Warn, format!("{domain}: {e}"), None),
    });
    out
}

async fn spf(dns: &caravel_dns::Resolver, host: &str, domain: &str, ips: &[IpAddr], fix: &str) -> Check {
    let records = dns.txt_records(domain).await.unwrap_or_default();
    let Some(record) = records.iter().find(|r| r.to_ascii_lowercase().starts_with("v=spf1")) else {
        return check(
            "spf",
            Status::Fail,
            format!("{domain} has no SPF record: receivers cannot tell this server may send its mail"),
            Some(fix),
        );
    };
    if ips.is_empty() {
        return check(
            "spf",
            Status::Warn,
            format!("{domain}: \"{record}\" cannot be checked: the host name has no address"),
            None,
        );
    }
    let mut refused = Vec::new();
    for ip in ips {
        let out =
            caravel_filter::authentication::check_spf(dns, *ip, host, host, &format!("postmaster@{domain}")).await;
        if out.result() != caravel_dns::mail_auth::SpfResult::Pass {
            refused.push(format!("{ip} ({:?})", out.result()).to_lowercase());
        }
    }
    if refused.is_empty() {
        return check("spf", Status::Ok, format!("{domain}: \"{record}\" allows this server"), None);
    }
    check(
        "spf",
        Status::Fail,
        format!(
            "{domain}: \"{record}\" does not allow this server's address {}: its mail fails SPF",
            refused.join(", ")
        ),
        Some(fix),
    )
}

async fn dkim(store: &dyn Store, dns: &caravel_dns::Resolver, domain: &str, fix: &str) -> Vec<Check> {
    let keys = store.dkim_keys(domain).await.unwrap_or_default();
    if keys.is_empty() {
        return vec![check(
            "dkim",
            Status::Warn,
            format!("{domain} has no DKIM key: its mail goes out unsigned"),
            Some(&format!("caravel dkim generate {domain}, then publish the record it prints")),
        )];
    }
    let p_of = |record: &str| -> String {
        record
            .split(';')
            .find_map(|t| t.trim().strip_prefix("p="))
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect()
    };
    let mut out = Vec::new();
    for key in keys {
        let name = format!("{}._domainkey.{domain}", key.selector);
        let want = p_of(&caravel_admin::dkim::dkim_txt(&key));
        let published = dns.txt_records(&name).await.unwrap_or_default();
        out.push(match published.iter().find(|r| p_of(r) == want) {
            Some(_) => check("dkim", Status::Ok, format!("{name}: the published key matches"), None),
            None if published.is_empty() => check(
                "dkim",
                Status::Fail,
                format!("{name} is not published: receivers cannot check the signatures made with it"),
                Some(fix),
            ),
            None => check(
                "dkim",
                Status::Fail,
                format!("{name} publishes another key than this server signs with: the signatures fail"),
                Some(fix),
            ),
        });
    }
    out
}

/// Free space where the data lives, from `df` (the store refuses mail when
/// the disk is full).
fn disk(config: &Config) -> Check {
    let dir = if config.data_dir.exists() { config.data_dir.clone() } else { std::path::PathBuf::from(".") };
    let out = std::process::Command::new("df").arg("-Pk").arg(&dir).output();
    let parsed = out.ok().and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let line = text.lines().nth(1)?.to_string();
        let f: Vec<&str> = line.split_whitespace().collect();
        let total: u64 = f.get(1)?.parse().ok()?;
        let avail: u64 = f.get(3)?.parse().ok()?;
        Some((total, avail))
    });
    let Some((total_kb, avail_kb)) = parsed else {
        return check("disk", Status::Warn, format!("cannot tell the free space of {}", dir.display()), None);
    };
    let used_pct = 100 - avail_kb.saturating_mul(100) / total_kb.max(1);
    let text = format!("{:.1} GB free of {:.1} GB where the data is ({used_pct}% used)", gb(avail_kb), gb(total_kb));
    if avail_kb < 1 << 20 || used_pct >= 95 {
        check("disk", Status::Fail, text, Some("free space now: mail is refused (452) when the disk is full"))
    } else if used_pct >= 90 {
        check("disk", Status::Warn, text, Some("free space soon, or move data_dir to a larger disk"))
    } else {
        check("disk", Status::Ok, text, None)
    }
}

fn gb(kb: u64) -> f64 {
    kb as f64 / (1u64 << 20) as f64
}

async fn queue(store: &dyn Store, now: i64) -> Check {
    match store.queue_summary().await {
        Ok((0, _)) => check("queue", Status::Ok, "the outbound queue is empty".into(), None),
        Ok((n, oldest)) => {
            let age_h = oldest.map_or(0, |t| (now - t).max(0) / 3600);
            let text = format!("{n} message(s) waiting to go out, the oldest for {age_h} hour(s)");
            let fix = Some("caravel queue list shows why each waits (the other server's last reply)");
            match age_h {
                0 => check("queue", Status::Ok, text, None),
                1..=23 => check("queue", Status::Warn, text, fix),
                _ => check("queue", Status::Fail, text, fix),
            }
        }
        Err(e) => check("queue", Status::Fail, format!("cannot read the queue: {e}"), None),
    }
}

/// The clock must not be behind what the server has already recorded (a
/// clock that jumped back misdates mail and breaks two-factor codes).
async fn clock(store: &dyn Store, now: i64) -> Check {
    let newest = store
        .events(EventQuery { newest: true, limit: 1, ..Default::default() })
        .await
        .ok()
        .and_then(|e| e.last().map(|e| e.ts / 1000));
    match newest {
        Some(t) if t > now + 300 => check(
            "clock",
            Status::Fail,
            format!(
                "the clock says {}, but mail was logged at {}: the clock went back",
                crate::security_commands::date(now),
                crate::security_commands::date(t)
            ),
            Some("set the time right and keep it right (systemd-timesyncd or chrony)"),
        ),
        _ => check(
            "clock",
            Status::Ok,
            format!(
                "{} (two-factor codes need it within a minute of the phone's)",
                crate::security_commands::date(now)
            ),
            None,
        ),
    }
}
