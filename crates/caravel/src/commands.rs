//! The admin commands: parse, call the admin service, print. Each returns a
//! one-line error for stderr; `main` maps it to exit status 1.

use std::io::BufRead;
use std::sync::Arc;

use caravel_admin::{Admin, UserChanges, UserRequest};
use caravel_config::units::format_size;
use caravel_config::{Config, StoreConfig};
use caravel_store::postgres::PgStore;
use caravel_store::sqlite::SqliteStore;
use caravel_store::Store;
use serde::Serialize;

use crate::cli::{AliasCmd, DomainCmd, StoreCmd, UserCmd};

pub type CmdResult = Result<(), String>;

/// Opens the store of a server that has run before: admin commands never
/// create one (a wrong directory would otherwise get a store of its own that
/// the server never sees).
pub async fn open_existing_store(config: &Config) -> Result<Arc<dyn Store>, String> {
    if matches!(config.store, StoreConfig::Sqlite) && !config.data_dir.join("caravel.db").exists() {
        return Err(format!(
            "no Caravel store in {}: start the server once (caravel serve) to create it, or point --config or data_dir at the server's data",
            config.data_dir.display()
        ));
    }
    let store = open_store(config).await?;
    let _ = USED_STORE.set(match &config.store {
        StoreConfig::Sqlite => config.data_dir.display().to_string(),
        StoreConfig::Postgres { url } => redact_url(url),
    });
    Ok(store)
}

/// The data directory an admin command used; `main` names it on stderr after
/// success (stdout stays clean for --json), so a command run with the wrong
/// configuration shows at once which store it read or changed.
pub static USED_STORE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Opens the store the configuration names, creating it if needed (the
/// PostgreSQL database must exist; its tables are created or migrated).
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, String> {
    open_store_as(config, None).await
}

/// [`open_store`] for the server: on PostgreSQL as the node named in
/// `data_dir/node-id` (made at the first start), which takes back what its
/// previous run left claimed.
pub async fn open_store_for_serving(config: &Config) -> Result<Arc<dyn Store>, String> {
    let node = match &config.store {
        StoreConfig::Sqlite => None,
        StoreConfig::Postgres { .. } => Some(node_id(&config.data_dir)?),
    };
    open_store_as(config, node).await
}

/// This node's lasting name: random, kept in `data_dir/node-id`.
fn node_id(data_dir: &std::path::Path) -> Result<String, String> {
    let path = data_dir.join("node-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        if !id.trim().is_empty() {
            return Ok(id.trim().to_string());
        }
    }
    caravel_store::private::create_dir(data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let id = caravel_store::postgres::node_name();
    std::fs::write(&path, format!("{id}\n")).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(id)
}

async fn open_store_as(config: &Config, node: Option<String>) -> Result<Arc<dyn Store>, String> {
    match &config.store {
        StoreConfig::Sqlite => SqliteStore::open(&config.data_dir)
            .map(|s| Arc::new(s) as Arc<dyn Store>)
            .map_err(|e| format!("cannot open the store in {}: {e}", config.data_dir.display())),
        StoreConfig::Postgres { url } => PgStore::connect_node(url, node.as_deref())
            .await
            .map(|s| Arc::new(s) as Arc<dyn Store>)
            .map_err(|e| format!("cannot open the PostgreSQL store at {}: {e}", redact_url(url))),
    }
}

/// The URL without its password (in the user part or the query), for
/// messages and logs.
pub fn redact_url(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user_info = &url[scheme + 3..at];
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{}{user}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn passwords_never_show() {
        let r = super::redact_url;
        assert_eq!(r("postgres://caravel:s3cret@db:5432/mail"), "postgres://caravel@db:5432/mail");
        assert_eq!(r("postgres://db/mail?user=c&password=s3cret"), "postgres://db/mail");
        assert_eq!(r("postgresql://u:p:q@h/d"), "postgresql://u@h/d");
        assert_eq!(r("postgres://db/mail"), "postgres://db/mail");
    }
}

pub(crate) async fn admin(config: &Config) -> Result<Admin, String> {
    let store: Arc<dyn Store> = open_existing_store(config).await?;
    Ok(Admin::new(store))
}

/// One line from standard input, without its line ending.
fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub(crate) fn print_json<T: Serialize>(value: &T) -> CmdResult {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

pub async fn domain(config: &Config, cmd: DomainCmd) -> CmdResult {
    let admin = admin(config).await?;
    match cmd {
        DomainCmd::Add { domain } => {
            let d = admin.domain_add(&domain).await.map_err(|e| e.to_string())?;
            println!("domain {} added", d.display);
        }
        DomainCmd::Del { domain } => {
            admin.domain_del(&domain).await.map_err(|e| e.to_string())?;
            println!("domain {domain} deleted");
        }
        DomainCmd::Set { domain, profile, switches } => {
            let changes = switches.changes();
            if !changes.is_empty() {
                let p = admin.domain_protocols(&domain, &changes).await.map_err(|e| e.to_string())?;
                println!("new users of {domain} get: {}; existing users keep theirs", protocols_text(p));
            }
            if changes.is_empty() || crate::personal_commands::has_profile(&profile) {
                crate::personal_commands::domain_profile(config, &domain, &profile).await?
            }
        }
        DomainCmd::List(j) => {
            let list = admin.domain_list().await.map_err(|e| e.to_string())?;
            if j.json {
                return print_json(&list);
            }
            for d in list {
                let shown = if d.display != d.name { format!("{} ({})", d.display, d.name) } else { d.name.clone() };
                println!(
                    "{shown}\t{} users\t{} aliases\tnew users: {}",
                    d.users,
                    d.aliases,
                    protocols_text(d.protocols)
                );
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct UserView {
    address: String,
    name: Option<String>,
    quota: Option<u64>,
    used: u64,
    recovery: Option<String>,
    failed_logins: u32,
    locked: bool,
    protocols: caravel_store::Protocols,
    phone: Option<String>,
    role: caravel_store::Role,
}

/// "SMTP on, IMAP on, POP3 off".
pub fn protocols_text(p: caravel_store::Protocols) -> String {
    caravel_store::Protocol::ALL
        .iter()
        .map(|q| format!("{} {}", q.key().to_uppercase(), if p.allows(*q) { "on" } else { "off" }))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn user(config: &Config, cmd: UserCmd) -> CmdResult {
    let admin = admin(config).await?;
    let e = |e: caravel_admin::AdminError| e.to_string();
    match cmd {
        UserCmd::Add { address, password_stdin, name, quota } => {
            let password = if password_stdin { Some(read_password()?) } else { None };
            let (user, generated) = admin.user_add(UserRequest { address, password, name, quota }).await.map_err(e)?;
            println!("user {} added", user.address);
            if let Some(p) = generated {
                println!("password (shown once): {p}");
            }
        }
        UserCmd::Set { address, name, quota, recovery, switches, role, profile } => {
            if let Some(role) = role.as_deref().and_then(caravel_store::Role::parse) {
                let user = admin.user_role(&address, role).await.map_err(e)?;
                println!("{} is now {}", user.address, user.role.as_str());
            }
            let changes = name.is_some() || quota.is_some() || recovery.is_some();
            let profiled = crate::personal_commands::has_profile(&profile);
            let switched = switches.changes();
            if !switched.is_empty() {
                let user = admin.user_protocols(&address, &switched).await.map_err(e)?;
                println!("{}: {}", user.address, protocols_text(user.protocols));
            }
            if let Some(phone) = profile.phone.as_deref() {
                // The account's number for text-message codes; a number
                // without a country code is for signatures only.
                match admin.user_phone(&address, phone).await {
                    Ok(u) => println!(
                        "text-message codes for {} go to {}",
                        u.address,
                        u.phone.as_deref().unwrap_or("no number")
                    ),
                    Err(why) => println!("note: {why}; it is used in signatures only"),
                }
            }
            if changes || (!profiled && switched.is_empty() && role.is_none()) {
                let user = admin.user_set(&address, UserChanges { name, quota, recovery }).await.map_err(e)?;
                println!("user {} updated", user.address);
            }
            if profiled {
                crate::personal_commands::user_profile(config, &address, &profile).await?;
                println!("details of {address} updated");
            }
        }
        UserCmd::Passwd { address, .. } => {
            let password = read_password()?;
            admin.user_passwd(&address, &password).await.map_err(e)?;
            println!("password of {address} changed");
        }
        UserCmd::Del { address } => {
            admin.user_del(&address).await.map_err(e)?;
            println!("user {address} deleted with all its mail");
        }
        UserCmd::Unlock { address } => {
            admin.user_unlock(&address).await.map_err(e)?;
            println!("user {address} unlocked");
        }
        UserCmd::List(j) => {
            let now = caravel_store::now_secs();
            let users: Vec<UserView> = admin
                .user_list()
                .await
                .map_err(e)?
                .into_iter()
                .map(|u| UserView {
                    locked: u.locked_until.is_some_and(|t| t > now),
                    address: u.address,
                    name: u.name,
                    quota: u.quota,
                    used: u.used,
                    recovery: u.recovery,
                    failed_logins: u.failed_logins,
                    protocols: u.protocols,
                    phone: u.phone,
                    role: u.role,
                })
                .collect();
            if j.json {
                return print_json(&users);
            }
            for u in users {
                let quota = u.quota.map(format_size).unwrap_or_else(|| "unlimited".into());
                let lock = if u.locked { "\tLOCKED" } else { "" };
                let off: Vec<&str> =
                    caravel_store::Protocol::ALL.iter().filter(|p| !u.protocols.allows(**p)).map(|p| p.key()).collect();
                let off =
                    if off.is_empty() { String::new() } else { format!("\t{} off", off.join(", ").to_uppercase()) };
                println!(
                    "{}\t{}\t{} of {quota}{lock}{off}",
                    u.address,
                    u.name.as_deref().unwrap_or("-"),
                    format_size(u.used)
                );
            }
        }
    }
    Ok(())
}

pub async fn alias(config: &Config, cmd: AliasCmd) -> CmdResult {
    let admin = admin(config).await?;
    let e = |e: caravel_admin::AdminError| e.to_string();
    match cmd {
        AliasCmd::Add { alias, targets } => {
            let a = admin.alias_add(&alias, &targets).await.map_err(e)?;
            println!("alias {} -> {}", a.address, a.targets.join(", "));
        }
        AliasCmd::Del { alias } => {
            admin.alias_del(&alias).await.map_err(e)?;
            println!("alias {alias} deleted");
        }
        AliasCmd::List(j) => {
            let list = admin.alias_list().await.map_err(e)?;
            if j.json {
                return print_json(&list);
            }
            for a in list {
                println!("{}\t{}", a.address, a.targets.join(", "));
            }
        }
    }
    Ok(())
}

pub async fn store(config: &Config, cmd: StoreCmd) -> CmdResult {
    if let StoreCmd::Migrate { to, json } = cmd {
        return migrate_store(config, &to, json.json).await;
    }
    let admin = admin(config).await?;
    match cmd {
        StoreCmd::Check(j) => {
            let report = admin.store_check().await.map_err(|e| e.to_string())?;
            if j.json {
                print_json(&report)?;
            } else {
                for p in &report.problems {
                    println!("DAMAGE: {p}");
                }
                println!("{} messages, {} blobs, {} problem(s)", report.messages, report.blobs, report.problems.len());
            }
            if !report.problems.is_empty() {
                return Err(format!("the store is damaged: {} problem(s) found", report.problems.len()));
            }
        }
        StoreCmd::Migrate { .. } => {}
        StoreCmd::Compact { vacuum, json } => {
            let r = admin.store_compact(vacuum).await.map_err(|e| e.to_string())?;
            if json.json {
                print_json(&r)?;
            } else {
                let mb = |b: u64| b as f64 / 1e6;
                println!(
                    "{} bodies compressed ({:.1} MB to {:.1} MB); database file {:.1} MB, now {:.1} MB",
                    r.bodies,
                    mb(r.stored_before),
                    mb(r.stored_after),
                    mb(r.file_before),
                    mb(r.file_after)
                );
            }
        }
    }
    Ok(())
}

/// `caravel store migrate --to URL`: the embedded store of this
/// configuration's data_dir, copied into PostgreSQL with a bar per table,
/// then verified (row counts and checksums on both sides).
async fn migrate_store(config: &Config, to: &str, json: bool) -> CmdResult {
    use std::io::IsTerminal;
    if !matches!(config.store, StoreConfig::Sqlite) {
        return Err("the configuration already uses PostgreSQL: migrate from the embedded store's configuration".into());
    }
    if !config.data_dir.join("caravel.db").exists() {
        return Err(format!("no Caravel store in {} to migrate", config.data_dir.display()));
    }
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        return Err("--to needs a URL: postgres://USER:PASSWORD@HOST:PORT/DB".into());
    }
    let terminal = std::io::stderr().is_terminal();
    let mut bar: Option<(String, indicatif::ProgressBar)> = None;
    let mut last_line = std::time::Instant::now();
    let mut show = |p: caravel_store::postgres::import::Progress| {
        if !terminal {
            if p.done == p.total || last_line.elapsed() >= std::time::Duration::from_secs(5) {
                eprintln!("migrate: {} {}/{} rows", p.table, p.done, p.total);
                last_line = std::time::Instant::now();
            }
            return;
        }
        if bar.as_ref().is_none_or(|(t, _)| t != p.table) {
            if let Some((_, old)) = bar.take() {
                old.finish();
            }
            let b = indicatif::ProgressBar::with_draw_target(Some(p.total), indicatif::ProgressDrawTarget::stderr());
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>18} [{bar:30}] {pos}/{len} rows ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_prefix(p.table.to_string());
            bar = Some((p.table.to_string(), b));
        }
        if let Some((_, b)) = &bar {
            b.set_position(p.done);
        }
    };
    let report = caravel_store::postgres::import::copy_from_sqlite(&config.data_dir, to, &mut show)
        .await
        .map_err(|e| format!("migration to {} failed (the database is left as it was): {e}", redact_url(to)))?;
    if let Some((_, b)) = bar {
        b.finish();
    }
    if json {
        print_json(&report)?;
    } else {
        for (check, ok) in &report.checks {
            println!("{} {check}", if *ok { "ok  " } else { "FAIL" });
        }
        let rows: u64 = report.tables.iter().map(|(_, n)| n).sum();
        println!("{rows} rows in {} tables copied to {}", report.tables.len(), redact_url(to));
    }
    if !report.verified() {
        return Err("the copy does not match the embedded store (see FAIL above); do not switch to it".into());
    }
    if !json {
        println!("Verified. To switch: stop the server, set [store] backend = \"postgres\" and url = the URL given to --to, start it");
    }
    Ok(())
}
