//! Domains, accounts and aliases in SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::mail::{blob_counts, release_blob_counts};
use super::{found, SqliteStore};
use crate::address::display_domain;
use crate::{
    now_secs, AccountId, Address, Alias, Directory, Domain, NewUser, Protocols, Recipient, Result, Role, SpecialUse,
    StoreError, User, UserUpdate,
};

const USER_COLUMNS: &str =
    "id, address, name, quota, used, recovery, failed_logins, locked_until, password_hash, totp_enabled, \
     protocols_off, phone, role";

fn user_from_row(r: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        address: r.get(1)?,
        name: r.get(2)?,
        quota: r.get::<_, Option<i64>>(3)?.map(|q| q as u64),
        used: r.get::<_, i64>(4)? as u64,
        recovery: r.get(5)?,
        failed_logins: r.get::<_, i64>(6)? as u32,
        locked_until: r.get(7)?,
        password_hash: r.get(8)?,
        totp_enabled: r.get(9)?,
        protocols: Protocols::from_off_bits(r.get(10)?),
        phone: r.get(11)?,
        role: Role::parse(&r.get::<_, String>(12)?).unwrap_or_default(),
    })
}

fn domain_id(conn: &Connection, domain: &str) -> Result<i64> {
    found(conn.query_row("SELECT id FROM domains WHERE name = ?1", [domain], |r| r.get(0)), || {
        format!("domain {domain} is not served here (add it with: caravel domain add {domain})")
    })
}

fn load_user(conn: &Connection, address: &Address) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM accounts WHERE address_key = ?1");
    Ok(conn.query_row(&sql, [address.key()], user_from_row).optional()?)
}

fn require_user(conn: &Connection, address: &Address) -> Result<User> {
    load_user(conn, address)?.ok_or_else(|| StoreError::NotFound(format!("no user {address}")))
}

/// The next value of a counter in `serials` that only goes up: above what it
/// gave last and above `floor` (what the tables hold now).
fn next_serial(conn: &Connection, name: &str, floor: i64) -> Result<i64> {
    let last: Option<i64> =
        conn.query_row("SELECT value FROM serials WHERE name = ?1", [name], |r| r.get(0)).optional()?;
    let next = last.unwrap_or(0).max(floor) + 1;
    conn.execute(
        "INSERT INTO serials VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![name, next],
    )?;
    Ok(next)
}

/// A UIDVALIDITY above every other the account ever had, so a mailbox
/// deleted and created again never reuses one (RFC 3501 §2.3.1.1).
pub(crate) fn next_uidvalidity(conn: &Connection, account: i64) -> Result<u32> {
    let max: Option<i64> =
        conn.query_row("SELECT max(uidvalidity) FROM mailboxes WHERE account_id = ?1", [account], |r| r.get(0))?;
    // The time keeps values apart across a restore from backup.
    let floor = (now_secs() as u32 as i64 - 1).max(max.unwrap_or(0));
    let next = next_serial(conn, &format!("uidvalidity:{account}"), floor)?;
    u32::try_from(next).map_err(|_| StoreError::Invalid("the account has run out of UIDVALIDITY values".into()))
}

/// Creates a mailbox with an id no mailbox ever had and a new UIDVALIDITY;
/// `None` when the account already has one of that name.
pub(crate) fn insert_mailbox(
    conn: &Connection,
    account: i64,
    name: &str,
    special_use: Option<&str>,
) -> Result<Option<i64>> {
    let max_id: Option<i64> = conn.query_row("SELECT max(id) FROM mailboxes", [], |r| r.get(0))?;
    let id = next_serial(conn, "mailbox_id", max_id.unwrap_or(0))?;
    let uidvalidity = next_uidvalidity(conn, account)?;
    let n = conn.execute(
        "INSERT INTO mailboxes (id, account_id, name, special_use, uidvalidity) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO NOTHING",
        params![id, account, name, special_use, uidvalidity],
    )?;
    Ok((n == 1).then_some(id))
}

#[async_trait]
impl Directory for SqliteStore {
    async fn add_domain(&self, name: &str) -> Result<Domain> {
        let name = name.to_string();
        self.writer
            .write(move |c| {
                let n = c.execute(
                    "INSERT INTO domains (name, created) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![name, now_secs()],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict(format!("domain {name} already exists")));
                }
                Ok(Domain {
                    display: display_domain(&name),
                    name,
                    users: 0,
                    aliases: 0,
                    protocols: Protocols::default(),
                })
            })
            .await
    }

    async fn list_domains(&self) -> Result<Vec<Domain>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT name, (SELECT count(*) FROM accounts a WHERE a.domain_id = d.id),
                        (SELECT count(*) FROM aliases l WHERE l.domain_id = d.id), protocols_off
                 FROM domains d ORDER BY name",
            )?;
            let rows = st.query_map([], |r| {
                let name: String = r.get(0)?;
                Ok(Domain {
                    display: display_domain(&name),
                    name,
                    users: r.get::<_, i64>(1)? as u64,
                    aliases: r.get::<_, i64>(2)? as u64,
                    protocols: Protocols::from_off_bits(r.get(3)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn set_domain_protocols(&self, name: &str, protocols: Protocols) -> Result<()> {
        let name = name.to_string();
        self.writer
            .write(move |c| {
                let id = domain_id(c, &name)?;
                c.execute("UPDATE domains SET protocols_off = ?1 WHERE id = ?2", params![protocols.off_bits(), id])?;
                Ok(())
            })
            .await
    }

    async fn del_domain(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.writer
            .write(move |c| {
                let id = domain_id(c, &name)?;
                let users: i64 =
                    c.query_row("SELECT count(*) FROM accounts WHERE domain_id = ?1", [id], |r| r.get(0))?;
                let aliases: i64 =
                    c.query_row("SELECT count(*) FROM aliases WHERE domain_id = ?1", [id], |r| r.get(0))?;
                if users + aliases > 0 {
                    return Err(StoreError::Conflict(format!(
                        "domain {name} still has {users} user(s) and {aliases} alias(es); delete them first"
                    )));
                }
                c.execute("DELETE FROM domains WHERE id = ?1", [id])?;
                Ok(())
            })
            .await
    }

    async fn add_user(&self, user: NewUser) -> Result<User> {
        self.writer
            .write(move |c| {
                let domain = domain_id(c, &user.address.domain)?;
                let key = user.address.key();
                let alias: Option<i64> =
                    c.query_row("SELECT id FROM aliases WHERE address_key = ?1", [&key], |r| r.get(0)).optional()?;
                if alias.is_some() {
                    return Err(StoreError::Conflict(format!("{} is already an alias", user.address)));
                }
                let n = c.execute(
                    "INSERT INTO accounts (domain_id, address, address_key, name, password_hash, quota, created,
                                           protocols_off)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, (SELECT protocols_off FROM domains WHERE id = ?1))
                     ON CONFLICT DO NOTHING",
                    params![
                        domain,
                        user.address.to_string(),
                        key,
                        user.name,
                        user.password_hash,
                        user.quota.map(|q| q as i64),
                        now_secs()
                    ],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict(format!("user {} already exists", user.address)));
                }
                let account = c.last_insert_rowid();
                for special in SpecialUse::ALL {
                    insert_mailbox(c, account, special.default_name(), Some(special.default_name()))?;
                    c.execute(
                        "INSERT OR IGNORE INTO subscriptions VALUES (?1, ?2)",
                        params![account, special.default_name()],
                    )?;
                }
                require_user(c, &user.address)
            })
            .await
    }

    async fn get_user(&self, address: &Address) -> Result<Option<User>> {
        let address = address.clone();
        self.read(move |c| load_user(c, &address)).await
    }

    async fn user_by_id(&self, account: AccountId) -> Result<Option<User>> {
        self.read(move |c| {
            let sql = format!("SELECT {USER_COLUMNS} FROM accounts WHERE id = ?1");
            Ok(c.prepare_cached(&sql)?.query_row([account], user_from_row).optional()?)
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.read(|c| {
            let sql = format!("SELECT {USER_COLUMNS} FROM accounts ORDER BY address_key");
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map([], user_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn update_user(&self, address: &Address, update: UserUpdate) -> Result<User> {
        let address = address.clone();
        self.writer
            .write(move |c| {
                let user = require_user(c, &address)?;
                if let Some(name) = update.name {
                    c.execute("UPDATE accounts SET name = ?1 WHERE id = ?2", params![name, user.id])?;
                }
                if let Some(quota) = update.quota {
                    c.execute(
                        "UPDATE accounts SET quota = ?1 WHERE id = ?2",
                        params![quota.map(|q| q as i64), user.id],
                    )?;
                }
                if let Some(recovery) = update.recovery {
                    c.execute("UPDATE accounts SET recovery = ?1 WHERE id = ?2", params![recovery, user.id])?;
                }
                if let Some(p) = update.protocols {
                    c.execute("UPDATE accounts SET protocols_off = ?1 WHERE id = ?2", params![p.off_bits(), user.id])?;
                }
                if let Some(role) = update.role {
                    c.execute("UPDATE accounts SET role = ?1 WHERE id = ?2", params![role.as_str(), user.id])?;
                }
                if let Some(phone) = update.phone {
                    c.execute("UPDATE accounts SET phone = ?1 WHERE id = ?2", params![phone, user.id])?;
                }
                if let Some(hash) = update.password_hash {
                    c.execute("UPDATE accounts SET password_hash = ?1 WHERE id = ?2", params![hash, user.id])?;
                    // A new password signs out every web session and app password
                    // (the old password may have leaked with them), and voids
                    // pending reset codes.
                    for table in ["web_sessions", "app_passwords", "reset_tokens"] {
                        c.execute(&format!("DELETE FROM {table} WHERE account_id = ?1"), [user.id])?;
                    }
                }
                require_user(c, &address)
            })
            .await
    }

    async fn del_user(&self, address: &Address) -> Result<()> {
        let address = address.clone();
        self.writer
            .write(move |c| {
                let user = require_user(c, &address)?;
                let counts = blob_counts(
                    c,
                    "SELECT blob, count(*) FROM messages WHERE mailbox_id IN
                     (SELECT id FROM mailboxes WHERE account_id = ?1) GROUP BY blob",
                    user.id,
                )?;
                c.execute(
                    "DELETE FROM messages WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = ?1)",
                    [user.id],
                )?;
                c.execute(
                    "DELETE FROM vanished WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = ?1)",
                    [user.id],
                )?;
                release_blob_counts(c, &counts)?;
                c.execute("DELETE FROM mailboxes WHERE account_id = ?1", [user.id])?;
                c.execute("DELETE FROM app_passwords WHERE account_id = ?1", [user.id])?;
                c.execute("DELETE FROM web_sessions WHERE account_id = ?1", [user.id])?;
                c.execute("DELETE FROM reset_tokens WHERE account_id = ?1", [user.id])?;
                c.execute("DELETE FROM recovery_codes WHERE account_id = ?1", [user.id])?;
                c.execute("DELETE FROM subscriptions WHERE account_id = ?1", [user.id])?;
                // The user's own spam training and rules go with them.
                for table in ["spam_learnt", "spam_scopes"] {
                    c.execute(&format!("DELETE FROM {table} WHERE scope = ?1"), [user.id])?;
                }
                c.execute("DELETE FROM spam_learn_queue WHERE account = ?1", [user.id])?;
                c.execute("DELETE FROM correspondents WHERE account = ?1", [user.id])?;
                if c.execute("DELETE FROM filter_rules WHERE scope = ?1", [&user.address.to_lowercase()])? > 0 {
                    c.execute("UPDATE filter_generation SET value = value + 1", [])?;
                }
                let scope = crate::settings::account_scope(user.id);
                c.execute("DELETE FROM settings WHERE scope = ?1", [&scope])?;
                c.execute("DELETE FROM reply_log WHERE scope = ?1", [&scope])?;
                c.execute("DELETE FROM accounts WHERE id = ?1", [user.id])?;
                Ok(())
            })
            .await
    }

    async fn unlock_user(&self, address: &Address) -> Result<()> {
        let address = address.clone();
        self.writer
            .write(move |c| {
                let user = require_user(c, &address)?;
                c.execute(
                    "UPDATE accounts SET failed_logins = 0, locked_until = NULL, first_failure = NULL, lock_count = 0
                     WHERE id = ?1",
                    [user.id],
                )?;
                Ok(())
            })
            .await
    }

    async fn add_alias(&self, alias: &Address, targets: &[String]) -> Result<Alias> {
        let alias = alias.clone();
        let targets = targets.to_vec();
        self.writer
            .write(move |c| {
                let domain = domain_id(c, &alias.domain)?;
                if load_user(c, &alias)?.is_some() {
                    return Err(StoreError::Conflict(format!("{alias} is already a user")));
                }
                let n = c.execute(
                    "INSERT INTO aliases (domain_id, address, address_key) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![domain, alias.to_string(), alias.key()],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict(format!("alias {alias} already exists")));
                }
                let id = c.last_insert_rowid();
                for (i, t) in targets.iter().enumerate() {
                    c.execute(
                        "INSERT INTO alias_targets (alias_id, position, target) VALUES (?1, ?2, ?3)",
                        params![id, i as i64, t],
                    )?;
                }
                Ok(Alias { address: alias.to_string(), targets })
            })
            .await
    }

    async fn list_aliases(&self) -> Result<Vec<Alias>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT a.address, t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id
                 ORDER BY a.address_key, t.position",
            )?;
            let mut out: Vec<Alias> = Vec::new();
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (address, target) = row?;
                match out.last_mut() {
                    Some(last) if last.address == address => last.targets.push(target),
                    _ => out.push(Alias { address, targets: vec![target] }),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn del_alias(&self, alias: &Address) -> Result<()> {
        let alias = alias.clone();
        self.writer
            .write(move |c| {
                let n = c.execute("DELETE FROM aliases WHERE address_key = ?1", [alias.key()])?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("no alias {alias}")));
                }
                // Its auto-reply goes with it.
                let scope = crate::settings::alias_scope(&alias.to_string());
                c.execute("DELETE FROM settings WHERE scope = ?1", [&scope])?;
                c.execute("DELETE FROM reply_log WHERE scope = ?1", [&scope])?;
                Ok(())
            })
            .await
    }

    async fn resolve(&self, address: &Address) -> Result<Recipient> {
        let address = address.clone();
        self.read(move |c| {
            let local: Option<i64> =
                c.query_row("SELECT id FROM domains WHERE name = ?1", [&address.domain], |r| r.get(0)).optional()?;
            if local.is_none() {
                return Ok(Recipient::NotLocal);
            }
            let mut candidates = vec![address.key()];
            // Subaddressing (RFC 5233): user+tag@ reaches user@ when no exact match.
            if let Some(plus) = address.local.find('+').filter(|&i| i > 0) {
                candidates.push(format!("{}@{}", address.local[..plus].to_lowercase(), address.domain));
            }
            // Last, the domain's catch-all alias, if it has one.
            candidates.push(format!("@{}", address.domain));
            for key in candidates {
                let sql = format!("SELECT {USER_COLUMNS} FROM accounts WHERE address_key = ?1");
                if let Some(user) = c.prepare_cached(&sql)?.query_row([&key], user_from_row).optional()? {
                    return Ok(Recipient::Account(Box::new(user)));
                }
                let mut st = c.prepare_cached(
                    "SELECT t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id
                     WHERE a.address_key = ?1 ORDER BY t.position",
                )?;
                let targets: Vec<String> = st.query_map([&key], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
                if !targets.is_empty() {
                    return Ok(Recipient::Alias(targets));
                }
            }
            Ok(Recipient::UnknownUser)
        })
        .await
    }
}
