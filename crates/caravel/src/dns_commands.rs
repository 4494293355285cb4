//! `caravel dkim` and `caravel dns`: what a domain publishes so that its mail
//! is accepted abroad.

use caravel_admin::dkim::{dkim_txt, zone_strings, Algorithm};
use caravel_config::Config;

use crate::cli::{DkimCmd, QueueCmd};
use crate::commands::{admin, print_json, CmdResult};

pub async fn dkim(config: &Config, cmd: DkimCmd) -> CmdResult {
    let admin = admin(config).await?;
    match cmd {
        DkimCmd::Generate { domain, algo } => {
            let algorithm = Algorithm::parse(&algo).map_err(|e| e.to_string())?;
            let key = admin.dkim_generate(&domain, algorithm).await.map_err(|e| e.to_string())?;
            println!(
                "Key {} made for {} ({}). Publish this record, then mail is signed with it:",
                key.selector, key.domain, key.algorithm
            );
            println!("{}._domainkey.{} TXT {}", key.selector, key.domain, zone_strings(&dkim_txt(&key)));
        }
        DkimCmd::List { domain, json } => {
            let keys = admin.dkim_keys(&domain).await.map_err(|e| e.to_string())?;
            if json.json {
                return print_json(&keys);
            }
            for k in keys {
                println!("{}\t{}\t{}", k.selector, k.algorithm, crate::security_commands::date(k.created));
            }
        }
        DkimCmd::Del { domain, selector } => {
            admin.dkim_del(&domain, &selector).await.map_err(|e| e.to_string())?;
            println!("key {selector} of {domain} deleted");
        }
    }
    Ok(())
}

pub async fn dns(config: &Config, domain: &str, check: bool, json: bool) -> CmdResult {
    let admin = admin(config).await?;
    let setup = caravel_admin::client_setup::ClientSetup::from_listen(&config.hostname, &config.listen);
    let records = admin.dns_records(domain, &setup).await.map_err(|e| e.to_string())?;
    if check {
        let dns = caravel_dns::Resolver::new(&config.dns.resolvers, std::time::Duration::from_secs(5))?;
        let checked = crate::dns_check::check(&dns, &config.hostname, records).await;
        if json {
            return print_json(&checked);
        }
        for c in &checked {
            let status = serde_json::to_value(c.status).ok().and_then(|v| v.as_str().map(str::to_uppercase));
            println!("{:<5} {}\t{}\t{}", status.unwrap_or_default(), c.name, c.kind, c.note);
            if c.status != crate::doctor::Status::Ok {
                println!("      publish: {}\n      found:   {}", c.value, c.found.join(" | "));
            }
        }
        return Ok(());
    }
    if json {
        return print_json(&records);
    }
    for r in records {
        let value = if r.kind == "TXT" { zone_strings(&r.value) } else { r.value.clone() };
        println!("{}\t{}\t{}\n\t; {}", r.name, r.kind, value, r.why);
    }
    Ok(())
}

pub async fn queue(config: &Config, cmd: QueueCmd) -> CmdResult {
    let admin = admin(config).await?;
    match cmd {
        QueueCmd::List(json) => {
            let list = admin.queue_list().await.map_err(|e| e.to_string())?;
            if json.json {
                return print_json(&list);
            }
            for m in &list {
                let from = if m.sender.is_empty() { "<>" } else { m.sender.as_str() };
                println!("{}\t{from}\t{} bytes\tqueued {}", m.id, m.size, crate::security_commands::date(m.created));
                for r in &m.recipients {
                    let error = r.last_error.as_deref().map(|e| format!("\t{e}")).unwrap_or_default();
                    println!(
                        "\t{}\t{}\t{} attempts\tnext {}{error}",
                        r.address,
                        r.status,
                        r.attempts,
                        crate::security_commands::date(r.next_attempt)
                    );
                }
            }
            if list.is_empty() {
                println!("the queue is empty");
            }
        }
        QueueCmd::Retry { id, .. } => {
            let n = admin.queue_retry(id).await.map_err(|e| e.to_string())?;
            println!("{n} recipient(s) will be tried again now");
        }
        QueueCmd::Del { id } => {
            admin.queue_del(id).await.map_err(|e| e.to_string())?;
            println!("message {id} removed from the queue");
        }
    }
    Ok(())
}
