//! `caravel signature`, `autoreply`, `holiday`, `rule`, and the profile
//! options of `user set` and `domain set`: what users' mail carries and
//! what happens to mail they receive (caravel-personal).

use std::path::Path;

use caravel_config::Config;
use caravel_personal::autoreply::AutoReply;
use caravel_personal::book::{load, AUTOREPLY, FOOTER, SIGNATURE};
use caravel_personal::manage::{self, AutoReplyForm, RuleForm, SignatureForm};
use caravel_personal::profile::Profile;
use caravel_personal::signature::Template;
use caravel_store::settings::{account_scope, alias_scope, domain_scope};
use caravel_store::{Address, Store};

use crate::cli::{AutoreplyCmd, HolidayCmd, ProfileArgs, RuleCmd, SignatureCmd};
use crate::commands::{open_existing_store, print_json, CmdResult};

fn e(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The settings scope of an account's address.
async fn account(store: &dyn Store, address: &str) -> Result<String, String> {
    let parsed = Address::parse(address).map_err(|err| format!("{address:?} is not an address: {err}"))?;
    match store.get_user(&parsed).await.map_err(e)? {
        Some(user) => Ok(account_scope(user.id)),
        None => Err(format!(
            "no account {address} (auto-replies, signatures and rules belong to accounts: caravel user list)"
        )),
    }
}

/// The scope of an account, or of a shared alias (auto-replies only: a
/// sales@ that goes to several people answers once, for all of them).
async fn account_or_alias(store: &dyn Store, address: &str) -> Result<String, String> {
    let parsed = Address::parse(address).map_err(|err| format!("{address:?} is not an address: {err}"))?;
    match store.resolve(&parsed).await.map_err(e)? {
        caravel_store::Recipient::Account(user) => Ok(account_scope(user.id)),
        caravel_store::Recipient::Alias(_) => Ok(alias_scope(&parsed.to_string())),
        _ => Err(format!("no account or alias {address} (caravel user list, caravel alias list)")),
    }
}

/// An address's scope, or a served domain's (for its footer).
async fn account_or_domain(store: &dyn Store, target: &str) -> Result<(String, &'static str), String> {
    if target.contains('@') {
        return Ok((account(store, target).await?, SIGNATURE));
    }
    let domain = target.trim().to_ascii_lowercase();
    if !store.list_domains().await.map_err(e)?.iter().any(|d| d.name == domain) {
        return Err(format!("{target} is neither an account nor a domain served here"));
    }
    Ok((domain_scope(&domain), FOOTER))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
}

impl From<&ProfileArgs> for Profile {
    fn from(a: &ProfileArgs) -> Profile {
        Profile {
            name: None,
            title: a.title.clone(),
            company: a.company.clone(),
            phone: a.phone.clone(),
            mobile: a.mobile.clone(),
            website: a.website.clone(),
            address: a.postal_address.clone(),
            zone: a.zone.clone(),
        }
    }
}

/// Whether any profile option was given.
pub fn has_profile(args: &ProfileArgs) -> bool {
    !Profile::from(args).is_empty()
}

/// Applies the profile options of `user set` / `domain set` to `scope`;
/// whether there were any.
pub async fn update_profile(store: &dyn Store, scope: &str, args: &ProfileArgs) -> Result<bool, String> {
    let changes = Profile::from(args);
    if changes.is_empty() {
        return Ok(false);
    }
    manage::update_profile(store, scope, &changes).await?;
    Ok(true)
}

/// `caravel user set ADDRESS --title ...`
pub async fn user_profile(config: &Config, address: &str, args: &ProfileArgs) -> Result<bool, String> {
    let store = open_existing_store(config).await?;
    let scope = account(store.as_ref(), address).await?;
    update_profile(store.as_ref(), &scope, args).await
}

/// `caravel domain set DOMAIN --company ...`
pub async fn domain_profile(config: &Config, domain: &str, args: &ProfileArgs) -> CmdResult {
    let store = open_existing_store(config).await?;
    if domain.contains('@') {
        return Err(format!("{domain} is an address: caravel user set changes an account's details"));
    }
    if args.title.is_some() || args.mobile.is_some() {
        return Err("--title and --mobile are a person's: set them with caravel user set".into());
    }
    let (scope, _) = account_or_domain(store.as_ref(), domain).await?;
    if update_profile(store.as_ref(), &scope, args).await? {
        println!("details of {domain} updated");
    } else {
        println!("nothing to change: give --company, --website, --postal-address, --phone or --zone");
    }
    Ok(())
}

pub async fn signature(config: &Config, cmd: SignatureCmd) -> CmdResult {
    let store = open_existing_store(config).await?;
    let store = store.as_ref();
    match cmd {
        SignatureCmd::Set { address, text_file, html_file, name, when, domains } => {
            let (scope, kind) = account_or_domain(store, &address).await?;
            let form = SignatureForm {
                text: read(&text_file)?,
                html: html_file.as_deref().map(read).transpose()?,
                when: Some(when),
                domains,
            };
            let name = if kind == FOOTER { String::new() } else { name };
            manage::set_signature(store, &scope, kind, &name, form).await?;
            match kind {
                FOOTER => println!("footer of {address} set: it follows every signature of its users' mail"),
                _ => println!("signature {name} of {address} set"),
            }
        }
        SignatureCmd::List { address, json } => {
            let (scope, kind) = account_or_domain(store, &address).await?;
            let all: Vec<(String, Template)> = load(store, &scope, kind).await.map_err(e)?;
            if json.json {
                let list: Vec<serde_json::Value> = all
                    .iter()
                    .map(|(n, t)| serde_json::json!({"name": n, "when": t.when, "domains": t.domains, "text": t.text, "html": t.html}))
                    .collect();
                return print_json(&list);
            }
            for (n, t) in &all {
                let domains =
                    if t.domains.is_empty() { String::new() } else { format!(" to {}", t.domains.join(", ")) };
                println!(
                    "{}\t{}{domains}\t{}",
                    if n.is_empty() { "(footer)" } else { n },
                    t.when,
                    t.text.lines().next().unwrap_or("")
                );
            }
            if all.is_empty() {
                println!("no signatures");
            }
        }
        SignatureCmd::Del { address, name } => {
            let (scope, kind) = account_or_domain(store, &address).await?;
            let name = if kind == FOOTER { String::new() } else { name };
            if !store.del_setting(&scope, kind, &name).await.map_err(e)? {
                return Err(format!("{address} has no signature {name}"));
            }
            println!("signature deleted");
        }
    }
    Ok(())
}

pub async fn autoreply(config: &Config, cmd: AutoreplyCmd) -> CmdResult {
    let store = open_existing_store(config).await?;
    let store = store.as_ref();
    match cmd {
        AutoreplyCmd::Set {
            address,
            subject,
            body_file,
            html_file,
            from,
            until,
            name,
            scenario,
            hours,
            workdays,
            calendar,
            sender_domains,
            language,
            days,
        } => {
            let scope = account_or_alias(store, &address).await?;
            let form = AutoReplyForm {
                subject,
                text: read(&body_file)?,
                html: html_file.as_deref().map(read).transpose()?,
                scenario,
                from,
                until,
                hours,
                workdays,
                calendar,
                sender_domains,
                language,
                days,
            };
            let template = manage::set_autoreply(store, &scope, &name, form).await?;
            println!(
                "auto-reply {name} of {address} set ({}, once per sender per {} days)",
                template.scenario, template.days
            );
        }
        AutoreplyCmd::List { address, json } => {
            let scope = account_or_alias(store, &address).await?;
            let all: Vec<(String, AutoReply)> = load(store, &scope, AUTOREPLY).await.map_err(e)?;
            if json.json {
                let list: Vec<serde_json::Value> =
                    all.iter().map(|(n, t)| serde_json::json!({"name": n, "template": t})).collect();
                return print_json(&list);
            }
            for (n, t) in &all {
                let period = match (&t.from, &t.until) {
                    (None, None) => String::new(),
                    (f, u) => {
                        format!(" {} to {}", f.as_deref().unwrap_or("now"), u.as_deref().unwrap_or("further notice"))
                    }
                };
                println!("{n}\t{}{period}\t{}", t.scenario, t.subject);
            }
            if all.is_empty() {
                println!("auto-replies are off");
            }
        }
        AutoreplyCmd::Off { address, name } => {
            let scope = account_or_alias(store, &address).await?;
            let removed = manage::autoreplies_off(store, &scope, name.as_deref()).await?;
            if removed == 0 {
                return Err(format!("{address} has no such auto-reply"));
            }
            println!("{removed} auto-reply template(s) of {address} turned off");
        }
    }
    Ok(())
}

pub async fn holiday(config: &Config, cmd: HolidayCmd) -> CmdResult {
    let store = open_existing_store(config).await?;
    let store = store.as_ref();
    match cmd {
        HolidayCmd::Add { name, from, until, calendar } => {
            let h = manage::set_holiday(store, &name, &from, &until, &calendar).await?;
            println!("holiday {name} ({} to {}) in calendar {}", h.from, h.until, h.calendar);
        }
        HolidayCmd::List(json) => {
            let all = manage::holidays(store).await?;
            if json.json {
                return print_json(&all);
            }
            for h in &all {
                println!("{}\t{} to {}\t{}", h.name, h.holiday.from, h.holiday.until, h.holiday.calendar);
            }
        }
        HolidayCmd::Del { name } => {
            if !manage::del_holiday(store, &name).await? {
                return Err(format!("no holiday {name}"));
            }
            println!("holiday {name} deleted");
        }
    }
    Ok(())
}

pub async fn rule(config: &Config, cmd: RuleCmd) -> CmdResult {
    let store = open_existing_store(config).await?;
    let store = store.as_ref();
    match cmd {
        RuleCmd::Add { address, rule } => {
            let scope = account(store, &address).await?;
            let form = RuleForm {
                from: rule.from,
                to: rule.to,
                subject: rule.subject,
                body: rule.body,
                header: rule.header,
                larger: rule.larger,
                smaller: rule.smaller,
                attachment: rule.attachment,
                any: rule.any,
                move_to: rule.move_to,
                forward: rule.forward,
                no_keep: rule.no_keep,
                mark_read: rule.mark_read,
                flag: rule.flag,
                reject: rule.reject,
                stop: rule.stop,
            };
            let id = manage::add_rule(store, &scope, form).await?;
            println!("rule {id} added for {address}");
        }
        RuleCmd::List { address, json } => {
            let scope = account(store, &address).await?;
            let rules = manage::rules(store, &scope).await?;
            if json.json {
                return print_json(&rules);
            }
            for r in &rules {
                println!("{}\t{}", r.id, r.description);
            }
            if rules.is_empty() {
                println!("no rules");
            }
        }
        RuleCmd::Del { address, id } => {
            let scope = account(store, &address).await?;
            if !manage::del_rule(store, &scope, id).await? {
                return Err(format!("{address} has no rule {id}"));
            }
            println!("rule {id} of {address} deleted");
        }
    }
    Ok(())
}
