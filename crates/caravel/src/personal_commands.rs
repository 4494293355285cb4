//! `caravel signature`, `autoreply`, `holiday`, `rule`, and the profile
//! options of `user set` and `domain set`: what users' mail carries and
//! what happens to mail they receive (caravel-personal).

use std::path::Path;

use caravel_config::units::parse_size;
use caravel_config::Config;
use caravel_personal::autoreply::{self, AutoReply, Holiday, Hours, Scenario};
use caravel_personal::book::{load, load_one, save, AUTOREPLY, FOOTER, HOLIDAY, PROFILE, RULE, SIGNATURE};
use caravel_personal::delivery::SERVER;
use caravel_personal::profile::Profile;
use caravel_personal::rules::{in_order, Action, Condition, Rule};
use caravel_personal::signature::{Template, When};
use caravel_store::settings::{account_scope, alias_scope, domain_scope};
use caravel_store::{Address, Settings, Store};

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
    if let Some(zone) = changes.zone.as_deref().filter(|z| !z.is_empty()) {
        if !autoreply::valid_zone(zone) {
            return Err(format!("unknown time zone {zone:?}: use a name like Asia/Shanghai or an offset like +08:00"));
        }
    }
    let mut profile: Profile = load_one(store, scope, PROFILE).await.map_err(e)?.unwrap_or_default();
    profile.update(&changes);
    save(store, scope, PROFILE, "", &profile).await.map_err(e)?;
    Ok(true)
}

/// `caravel user set ADDRESS --title ...`
pub async fn user_profile(config: &Config, address: &str, args: &ProfileArgs) -> Result<bool, String> {
    let store = open_existing_store(config)?;
    let scope = account(store.as_ref(), address).await?;
    update_profile(store.as_ref(), &scope, args).await
}

/// `caravel domain set DOMAIN --company ...`
pub async fn domain_profile(config: &Config, domain: &str, args: &ProfileArgs) -> CmdResult {
    let store = open_existing_store(config)?;
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
    let store = open_existing_store(config)?;
    let store = store.as_ref();
    match cmd {
        SignatureCmd::Set { address, text_file, html_file, name, when, domains } => {
            let (scope, kind) = account_or_domain(store, &address).await?;
            let when = When::parse(&when)
                .ok_or_else(|| format!("--when {when}: use new, reply, external, internal or always"))?;
            let template = Template {
                text: read(&text_file)?.trim_end().to_string(),
                html: html_file.as_deref().map(read).transpose()?,
                when,
                domains: domains.iter().map(|d| d.trim().to_ascii_lowercase()).collect(),
            };
            if template.text.is_empty() {
                return Err(format!("{} is empty", text_file.display()));
            }
            let name = if kind == FOOTER { String::new() } else { name };
            save(store, &scope, kind, &name, &template).await.map_err(e)?;
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
    let store = open_existing_store(config)?;
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
            let scenario = Scenario::parse(&scenario).ok_or_else(|| {
                format!("--scenario {scenario}: use out-of-office, holidays, after-hours or acknowledge")
            })?;
            for d in [&from, &until].into_iter().flatten() {
                if !autoreply::valid_moment(d) {
                    return Err(format!("{d:?} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM"));
                }
            }
            let (start, end) = hours.split_once('-').ok_or("--hours: use HH:MM-HH:MM, e.g. 09:00-18:00")?;
            let days_list = autoreply::parse_days(&workdays).ok_or("--workdays: use e.g. mon-fri or mon,tue,thu")?;
            let template = AutoReply {
                subject,
                text: read(&body_file)?,
                html: html_file.as_deref().map(read).transpose()?,
                scenario,
                from,
                until,
                hours: Hours { days: days_list, start: start.trim().into(), end: end.trim().into() },
                calendar,
                senders: sender_domains.iter().map(|d| d.trim().to_ascii_lowercase()).collect(),
                language: language.map(|l| l.to_ascii_lowercase()),
                days: days.max(1),
            };
            if !autoreply::valid_hours(&template.hours) {
                return Err(format!("--hours {hours}: use HH:MM-HH:MM with the start before the end"));
            }
            save(store, &scope, AUTOREPLY, &name, &template).await.map_err(e)?;
            println!("auto-reply {name} of {address} set ({scenario}, once per sender per {} days)", template.days);
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
            let names: Vec<String> = match name {
                Some(n) => vec![n],
                None => store.settings(&scope, AUTOREPLY).await.map_err(e)?.into_iter().map(|(n, _)| n).collect(),
            };
            let mut removed = 0;
            for n in &names {
                removed += usize::from(store.del_setting(&scope, AUTOREPLY, n).await.map_err(e)?);
            }
            if removed == 0 {
                return Err(format!("{address} has no such auto-reply"));
            }
            println!("{removed} auto-reply template(s) of {address} turned off");
        }
    }
    Ok(())
}

pub async fn holiday(config: &Config, cmd: HolidayCmd) -> CmdResult {
    let store = open_existing_store(config)?;
    let store = store.as_ref();
    match cmd {
        HolidayCmd::Add { name, from, until, calendar } => {
            for d in [&from, &until] {
                if !autoreply::valid_moment(d) {
                    return Err(format!("{d:?} is not a date: use YYYY-MM-DD"));
                }
            }
            let h = Holiday { from, until, calendar: calendar.to_ascii_lowercase() };
            save(store, SERVER, HOLIDAY, &name, &h).await.map_err(e)?;
            println!("holiday {name} ({} to {}) in calendar {}", h.from, h.until, h.calendar);
        }
        HolidayCmd::List(json) => {
            let all: Vec<(String, Holiday)> = load(store, SERVER, HOLIDAY).await.map_err(e)?;
            if json.json {
                let list: Vec<serde_json::Value> =
                    all.iter().map(|(n, h)| serde_json::json!({"name": n, "from": h.from, "until": h.until, "calendar": h.calendar})).collect();
                return print_json(&list);
            }
            for (n, h) in &all {
                println!("{n}\t{} to {}\t{}", h.from, h.until, h.calendar);
            }
        }
        HolidayCmd::Del { name } => {
            if !store.del_setting(SERVER, HOLIDAY, &name).await.map_err(e)? {
                return Err(format!("no holiday {name}"));
            }
            println!("holiday {name} deleted");
        }
    }
    Ok(())
}

pub async fn rule(config: &Config, cmd: RuleCmd) -> CmdResult {
    let store = open_existing_store(config)?;
    let store = store.as_ref();
    match cmd {
        RuleCmd::Add {
            address,
            from,
            to,
            subject,
            body,
            header,
            larger,
            smaller,
            attachment,
            any,
            move_to,
            forward,
            no_keep,
            mark_read,
            flag,
            reject,
            stop,
        } => {
            let scope = account(store, &address).await?;
            let mut conditions = Vec::new();
            conditions.extend(from.map(Condition::From));
            conditions.extend(to.map(Condition::To));
            conditions.extend(subject.map(Condition::Subject));
            conditions.extend(body.map(Condition::Body));
            for h in header {
                let (name, value) = h.split_once(':').ok_or_else(|| format!("--header {h:?}: use \"Name: value\""))?;
                conditions.push(Condition::Header(name.trim().to_string(), value.trim().to_string()));
            }
            if let Some(s) = larger {
                conditions.push(Condition::Larger(parse_size(&s)?));
            }
            if let Some(s) = smaller {
                conditions.push(Condition::Smaller(parse_size(&s)?));
            }
            if attachment {
                conditions.push(Condition::Attachment);
            }
            let mut actions = Vec::new();
            if let Some(folder) = move_to {
                let folder = folder.trim_matches('/').to_string();
                if folder.is_empty() {
                    return Err("--move needs a folder name".into());
                }
                actions.push(Action::Move(folder));
            }
            for to in &forward {
                Address::parse(to).map_err(|err| format!("--forward {to:?}: {err}"))?;
                actions.push(Action::Forward { to: to.clone(), keep: !no_keep });
            }
            if mark_read {
                actions.push(Action::MarkRead);
            }
            if flag {
                actions.push(Action::Flag);
            }
            if let Some(text) = reject {
                actions.push(Action::Reject(text));
            }
            if stop {
                actions.push(Action::Stop);
            }
            if actions.is_empty() {
                return Err("a rule needs an action: --move, --forward, --mark-read, --flag, --reject or --stop".into());
            }
            if no_keep && forward.is_empty() {
                return Err("--no-keep goes with --forward".into());
            }
            let existing = in_order(load::<Rule>(store, &scope, RULE).await.map_err(e)?);
            let id = existing.iter().filter_map(|(n, _)| n.parse::<u64>().ok()).max().unwrap_or(0) + 1;
            save(store, &scope, RULE, &id.to_string(), &Rule { conditions, any, actions }).await.map_err(e)?;
            println!("rule {id} added for {address}");
        }
        RuleCmd::List { address, json } => {
            let scope = account(store, &address).await?;
            let rules = in_order(load::<Rule>(store, &scope, RULE).await.map_err(e)?);
            if json.json {
                let list: Vec<serde_json::Value> = rules
                    .iter()
                    .map(|(id, r)| serde_json::json!({"id": id.parse::<u64>().unwrap_or(0), "conditions": r.conditions, "any": r.any, "actions": r.actions}))
                    .collect();
                return print_json(&list);
            }
            for (id, r) in &rules {
                let join = if r.any { " or " } else { " and " };
                let when: Vec<String> = r.conditions.iter().map(|c| c.to_string()).collect();
                let what: Vec<String> = r.actions.iter().map(|a| a.to_string()).collect();
                let when = if when.is_empty() { "always".to_string() } else { when.join(join) };
                println!("{id}\tif {when}\tthen {}", what.join(", "));
            }
            if rules.is_empty() {
                println!("no rules");
            }
        }
        RuleCmd::Del { address, id } => {
            let scope = account(store, &address).await?;
            if !store.del_setting(&scope, RULE, &id.to_string()).await.map_err(e)? {
                return Err(format!("{address} has no rule {id}"));
            }
            println!("rule {id} of {address} deleted");
        }
    }
    Ok(())
}
