//! Domains, accounts and aliases in PostgreSQL.
//!
//! An address is either an account or an alias, never both; the two live in
//! different tables, so no unique index can say so. Creating either locks
//! the domain's row first (`FOR NO KEY UPDATE`: it does not block the
//! foreign-key checks of ordinary writes), which serializes the creation of
//! addresses within a domain across nodes, and `del_domain` locks it
//! `FOR UPDATE`, so no address is created in a domain being deleted.

use async_trait::async_trait;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

use super::mailboxes::{insert_mailbox, release_blobs};
use super::PgStore;
use crate::address::display_domain;
use crate::settings::{account_scope, alias_scope};
use crate::{
    now_secs, AccountId, Address, Alias, Directory, Domain, NewUser, Protocols, Recipient, Result, Role, SpecialUse,
    StoreError, User, UserUpdate,
};

const USER_COLUMNS: &str = "id, address, name, quota, used, recovery, failed_logins, locked_until, password_hash, \
                            totp_enabled, protocols_off, phone, role";

fn user_from_row(r: &Row) -> User {
    User {
        id: r.get(0),
        address: r.get(1),
        name: r.get(2),
        quota: r.get::<_, Option<i64>>(3).map(|q| q as u64),
        used: r.get::<_, i64>(4) as u64,
        recovery: r.get(5),
        failed_logins: r.get::<_, i64>(6) as u32,
        locked_until: r.get(7),
        password_hash: r.get(8),
        totp_enabled: r.get(9),
        protocols: Protocols::from_off_bits(r.get(10)),
        phone: r.get(11),
        role: Role::parse(r.get(12)).unwrap_or_default(),
    }
}

fn no_domain(domain: &str) -> StoreError {
    StoreError::NotFound(format!("domain {domain} is not served here (add it with: caravel domain add {domain})"))
}

/// Locks the domain's row for creating an address in it (see the module
/// documentation); its id and the protocols its new accounts get.
async fn lock_domain_for_address(c: &impl GenericClient, domain: &str) -> Result<(i64, i64)> {
    let row =
        c.query_opt("SELECT id, protocols_off FROM domains WHERE name = $1 FOR NO KEY UPDATE", &[&domain]).await?;
    row.map(|r| (r.get(0), r.get(1))).ok_or_else(|| no_domain(domain))
}

async fn load_user(c: &impl GenericClient, address: &Address) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM accounts WHERE address_key = $1");
    Ok(c.query_opt(&sql, &[&address.key()]).await?.as_ref().map(user_from_row))
}

/// Creates the standard mailboxes (RFC 6154 special-use) of a new account,
/// subscribed.
async fn create_standard_mailboxes(c: &impl GenericClient, account: AccountId) -> Result<()> {
    let names: Vec<&str> = SpecialUse::ALL.iter().map(|u| u.default_name()).collect();
    for name in &names {
        insert_mailbox(c, account, name, Some(name)).await?;
    }
    c.execute(
        "INSERT INTO subscriptions (account_id, name) SELECT $1, n FROM unnest($2::text[]) AS n ON CONFLICT DO NOTHING",
        &[&account, &names],
    )
    .await?;
    Ok(())
}

/// Deletes everything the account owns, in the caller's transaction, which
/// already holds the locks of its mailboxes and its account row.
async fn delete_account_data(c: &impl GenericClient, user: &User) -> Result<()> {
    let id = user.id;
    let boxes = "SELECT id FROM mailboxes WHERE account_id = $1";
    let counts: Vec<(String, i64)> = c
        .query(
            &format!(
                "WITH gone AS (DELETE FROM messages WHERE mailbox_id IN ({boxes}) RETURNING blob)
                 SELECT blob, count(*) FROM gone GROUP BY blob ORDER BY blob"
            ),
            &[&id],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for table in ["vanished", "sort_keys"] {
        c.execute(&format!("DELETE FROM {table} WHERE mailbox_id IN ({boxes})"), &[&id]).await?;
    }
    for table in [
        "urlauth_keys",
        "mailboxes",
        "subscriptions",
        "app_passwords",
        "web_sessions",
        "reset_tokens",
        "recovery_codes",
    ] {
        c.execute(&format!("DELETE FROM {table} WHERE account_id = $1"), &[&id]).await?;
    }
    // Blob rows are locked last (the lock order of mailboxes.rs).
    release_blobs(c, &counts).await?;
    // The user's own spam training and rules go with them.
    for table in ["spam_learnt", "spam_scopes"] {
        c.execute(&format!("DELETE FROM {table} WHERE scope = $1"), &[&id]).await?;
    }
    c.execute("DELETE FROM spam_learn_queue WHERE account = $1", &[&id]).await?;
    c.execute("DELETE FROM correspondents WHERE account = $1", &[&id]).await?;
    if c.execute("DELETE FROM filter_rules WHERE scope = $1", &[&user.address.to_lowercase()]).await? > 0 {
        c.execute("UPDATE filter_generation SET value = value + 1", &[]).await?;
    }
    let scope = account_scope(id);
    c.execute("DELETE FROM settings WHERE scope = $1", &[&scope]).await?;
    c.execute("DELETE FROM reply_log WHERE scope = $1", &[&scope]).await?;
    // Its UIDVALIDITY counter (serials) stays, one small row: deleting it
    // would take that row's lock after the account's, the reverse of a
    // mailbox being created for the account at the same moment (deadlock).
    Ok(())
}

/// The SET clauses and values of an update (the values from `$2` on).
fn update_assignments(update: UserUpdate) -> (Vec<String>, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut sets: Vec<(&str, Box<dyn ToSql + Sync + Send>)> = Vec::new();
    if let Some(name) = update.name {
        sets.push(("name", Box::new(name)));
    }
    if let Some(quota) = update.quota {
        sets.push(("quota", Box::new(quota.map(|q| q as i64))));
    }
    if let Some(recovery) = update.recovery {
        sets.push(("recovery", Box::new(recovery)));
    }
    if let Some(p) = update.protocols {
        sets.push(("protocols_off", Box::new(p.off_bits())));
    }
    if let Some(role) = update.role {
        sets.push(("role", Box::new(role.as_str())));
    }
    if let Some(phone) = update.phone {
        sets.push(("phone", Box::new(phone)));
    }
    if let Some(hash) = update.password_hash {
        sets.push(("password_hash", Box::new(hash)));
    }
    sets.into_iter().enumerate().map(|(i, (column, value))| (format!("{column} = ${}", i + 2), value)).unzip()
}

#[async_trait]
impl Directory for PgStore {
    async fn add_domain(&self, name: &str) -> Result<Domain> {
        let c = self.client().await?;
        let added = c
            .query_opt(
                "INSERT INTO domains (name, created) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING id",
                &[&name, &now_secs()],
            )
            .await?;
        if added.is_none() {
            return Err(StoreError::Conflict(format!("domain {name} already exists")));
        }
        Ok(Domain {
            display: display_domain(name),
            name: name.to_string(),
            users: 0,
            aliases: 0,
            protocols: Protocols::default(),
        })
    }

    async fn list_domains(&self) -> Result<Vec<Domain>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT name, (SELECT count(*) FROM accounts a WHERE a.domain_id = d.id),
                        (SELECT count(*) FROM aliases l WHERE l.domain_id = d.id), protocols_off
                 FROM domains d ORDER BY name COLLATE \"C\"",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let name: String = r.get(0);
                Domain {
                    display: display_domain(&name),
                    name,
                    users: r.get::<_, i64>(1) as u64,
                    aliases: r.get::<_, i64>(2) as u64,
                    protocols: Protocols::from_off_bits(r.get(3)),
                }
            })
            .collect())
    }

    async fn set_domain_protocols(&self, name: &str, protocols: Protocols) -> Result<()> {
        let c = self.client().await?;
        let n =
            c.execute("UPDATE domains SET protocols_off = $2 WHERE name = $1", &[&name, &protocols.off_bits()]).await?;
        if n == 0 {
            return Err(no_domain(name));
        }
        Ok(())
    }

    async fn del_domain(&self, name: &str) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // FOR UPDATE: no address is created in it meanwhile (see the module doc).
        let id: i64 = match tx.query_opt("SELECT id FROM domains WHERE name = $1 FOR UPDATE", &[&name]).await? {
            Some(r) => r.get(0),
            None => return Err(no_domain(name)),
        };
        let r = tx
            .query_one(
                "SELECT (SELECT count(*) FROM accounts WHERE domain_id = $1),
                        (SELECT count(*) FROM aliases WHERE domain_id = $1)",
                &[&id],
            )
            .await?;
        let (users, aliases): (i64, i64) = (r.get(0), r.get(1));
        if users + aliases > 0 {
            return Err(StoreError::Conflict(format!(
                "domain {name} still has {users} user(s) and {aliases} alias(es); delete them first"
            )));
        }
        tx.execute("DELETE FROM domains WHERE id = $1", &[&id]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_user(&self, user: NewUser) -> Result<User> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let (domain, protocols_off) = lock_domain_for_address(&*tx, &user.address.domain).await?;
        let key = user.address.key();
        if tx.query_opt("SELECT 1 FROM aliases WHERE address_key = $1", &[&key]).await?.is_some() {
            return Err(StoreError::Conflict(format!("{} is already an alias", user.address)));
        }
        let sql = format!(
            "INSERT INTO accounts (domain_id, address, address_key, name, password_hash, quota, created, protocols_off)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING {USER_COLUMNS}"
        );
        let quota = user.quota.map(|q| q as i64);
        let row = tx
            .query_opt(
                &sql,
                &[
                    &domain,
                    &user.address.to_string(),
                    &key,
                    &user.name,
                    &user.password_hash,
                    &quota,
                    &now_secs(),
                    &protocols_off,
                ],
            )
            .await?;
        let Some(row) = row else {
            return Err(StoreError::Conflict(format!("user {} already exists", user.address)));
        };
        let created = user_from_row(&row);
        create_standard_mailboxes(&*tx, created.id).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn get_user(&self, address: &Address) -> Result<Option<User>> {
        let c = self.client().await?;
        let st = c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM accounts WHERE address_key = $1")).await?;
        Ok(c.query_opt(&st, &[&address.key()]).await?.as_ref().map(user_from_row))
    }

    async fn user_by_id(&self, account: AccountId) -> Result<Option<User>> {
        let c = self.client().await?;
        let st = c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM accounts WHERE id = $1")).await?;
        Ok(c.query_opt(&st, &[&account]).await?.as_ref().map(user_from_row))
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let c = self.client().await?;
        let rows =
            c.query(&format!("SELECT {USER_COLUMNS} FROM accounts ORDER BY address_key COLLATE \"C\""), &[]).await?;
        Ok(rows.iter().map(user_from_row).collect())
    }

    async fn update_user(&self, address: &Address, update: UserUpdate) -> Result<User> {
        let new_password = update.password_hash.is_some();
        let (sets, values) = update_assignments(update);
        let mut c = self.client().await?;
        if sets.is_empty() {
            return load_user(&**c, address).await?.ok_or_else(|| StoreError::NotFound(format!("no user {address}")));
        }
        let tx = c.transaction().await?;
        let sql = format!("UPDATE accounts SET {} WHERE address_key = $1 RETURNING {USER_COLUMNS}", sets.join(", "));
        let key = address.key();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&key];
        params.extend(values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)));
        let Some(row) = tx.query_opt(&sql, &params).await? else {
            return Err(StoreError::NotFound(format!("no user {address}")));
        };
        let user = user_from_row(&row);
        if new_password {
            // A new password signs out every web session and app password
            // (the old password may have leaked with them), and voids
            // pending reset codes.
            for table in ["web_sessions", "app_passwords", "reset_tokens"] {
                tx.execute(&format!("DELETE FROM {table} WHERE account_id = $1"), &[&user.id]).await?;
            }
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn del_user(&self, address: &Address) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let Some(user) = load_user(&*tx, address).await? else {
            return Err(StoreError::NotFound(format!("no user {address}")));
        };
        // Mailbox rows first, ascending, then the account row (the lock
        // order): a delivery or change under way in one of them finishes
        // first, a later one finds the mailbox gone.
        tx.execute("SELECT id FROM mailboxes WHERE account_id = $1 ORDER BY id FOR UPDATE", &[&user.id]).await?;
        if tx.query_opt("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", &[&user.id]).await?.is_none() {
            return Err(StoreError::NotFound(format!("no user {address}")));
        }
        delete_account_data(&*tx, &user).await?;
        tx.execute("DELETE FROM accounts WHERE id = $1", &[&user.id]).await?;
        tx.commit().await?;
        // Its sessions on every node learn that its mailboxes are gone.
        self.publish_account(user.id);
        Ok(())
    }

    async fn unlock_user(&self, address: &Address) -> Result<()> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE accounts SET failed_logins = 0, locked_until = NULL, first_failure = NULL, lock_count = 0
                 WHERE address_key = $1",
                &[&address.key()],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no user {address}")));
        }
        Ok(())
    }

    async fn add_alias(&self, alias: &Address, targets: &[String]) -> Result<Alias> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let (domain, _) = lock_domain_for_address(&*tx, &alias.domain).await?;
        let key = alias.key();
        if tx.query_opt("SELECT 1 FROM accounts WHERE address_key = $1", &[&key]).await?.is_some() {
            return Err(StoreError::Conflict(format!("{alias} is already a user")));
        }
        let row = tx
            .query_opt(
                "INSERT INTO aliases (domain_id, address, address_key) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING RETURNING id",
                &[&domain, &alias.to_string(), &key],
            )
            .await?;
        let Some(row) = row else {
            return Err(StoreError::Conflict(format!("alias {alias} already exists")));
        };
        let id: i64 = row.get(0);
        tx.execute(
            "INSERT INTO alias_targets (alias_id, position, target)
             SELECT $1, n - 1, t FROM unnest($2::text[]) WITH ORDINALITY AS x(t, n)",
            &[&id, &targets],
        )
        .await?;
        tx.commit().await?;
        Ok(Alias { address: alias.to_string(), targets: targets.to_vec() })
    }

    async fn list_aliases(&self) -> Result<Vec<Alias>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT a.address, t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id
                 ORDER BY a.address_key COLLATE \"C\", t.position",
                &[],
            )
            .await?;
        let mut out: Vec<Alias> = Vec::new();
        for r in &rows {
            let (address, target): (String, String) = (r.get(0), r.get(1));
            match out.last_mut() {
                Some(last) if last.address == address => last.targets.push(target),
                _ => out.push(Alias { address, targets: vec![target] }),
            }
        }
        Ok(out)
    }

    async fn del_alias(&self, alias: &Address) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Its targets go with it (ON DELETE CASCADE).
        let n = tx.execute("DELETE FROM aliases WHERE address_key = $1", &[&alias.key()]).await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no alias {alias}")));
        }
        // Its auto-reply goes with it.
        let scope = alias_scope(&alias.to_string());
        tx.execute("DELETE FROM settings WHERE scope = $1", &[&scope]).await?;
        tx.execute("DELETE FROM reply_log WHERE scope = $1", &[&scope]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn resolve(&self, address: &Address) -> Result<Recipient> {
        let mut candidates = vec![address.key()];
        // Subaddressing (RFC 5233): user+tag@ reaches user@ when no exact match.
        if let Some(plus) = address.local.find('+').filter(|&i| i > 0) {
            candidates.push(format!("{}@{}", address.local[..plus].to_lowercase(), address.domain));
        }
        // Last, the domain's catch-all alias, if it has one.
        candidates.push(format!("@{}", address.domain));

        // One statement, so the domain, accounts and aliases are read at one
        // instant: a row per candidate, in order, with its account or its
        // alias's targets; no row when the domain is not ours. (The names of
        // USER_COLUMNS are the account's: unnest gives `key` and `n` only.)
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS},
                        (SELECT array_agg(t.target ORDER BY t.position) FROM aliases a
                         JOIN alias_targets t ON t.alias_id = a.id WHERE a.address_key = k.key)
                 FROM unnest($2::text[]) WITH ORDINALITY AS k(key, n)
                 LEFT JOIN accounts ON accounts.address_key = k.key
                 WHERE EXISTS (SELECT 1 FROM domains WHERE name = $1)
                 ORDER BY k.n"
            ))
            .await?;
        let rows = c.query(&st, &[&address.domain, &candidates]).await?;
        if rows.is_empty() {
            return Ok(Recipient::NotLocal);
        }
        for r in &rows {
            if r.get::<_, Option<i64>>(0).is_some() {
                return Ok(Recipient::Account(Box::new(user_from_row(r))));
            }
            if let Some(targets) = r.get::<_, Option<Vec<String>>>(13) {
                return Ok(Recipient::Alias(targets));
            }
        }
        Ok(Recipient::UnknownUser)
    }
}

#[cfg(test)]
mod tests {
    use crate::postgres::security::races::{at_once, two_nodes};
    use crate::{Address, Directory, NewUser, Recipient};

    /// Deleting an account takes everything of it, and its messages'
    /// references to shared bodies (a body another account holds stays).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn del_user_takes_its_rows_and_blob_references() {
        let (a, _, u) = two_nodes().await;
        let other = NewUser {
            address: Address::parse("v@example.com").expect("address"),
            name: None,
            quota: None,
            password_hash: "x".into(),
        };
        let v = a.add_user(other).await.expect("user v").id;
        let c = a.client().await.expect("client");
        c.batch_execute("INSERT INTO blobs (hash, size, refcount, data) VALUES ('h', 1, 2, '\\x00')")
            .await
            .expect("blob");
        for account in [u, v] {
            c.execute(
                "INSERT INTO messages (mailbox_id, uid, modseq, internal_date, size, blob, envelope, structure)
                 SELECT id, 1, 1, 0, 1, 'h', '\\x', '{}' FROM mailboxes WHERE account_id = $1 AND name = 'INBOX'",
                &[&account],
            )
            .await
            .expect("message");
            c.execute(
                "INSERT INTO urlauth_keys (mailbox_id, account_id, key)
                 SELECT id, account_id, '\\x01' FROM mailboxes WHERE account_id = $1 AND name = 'INBOX'",
                &[&account],
            )
            .await
            .expect("urlauth key");
        }
        a.del_user(&Address::parse("u@example.com").expect("address")).await.expect("del u");
        let left = |sql: &'static str| {
            let c = &c;
            async move { c.query_one(sql, &[]).await.expect("count").get::<_, i64>(0) }
        };
        assert_eq!(left("SELECT refcount FROM blobs WHERE hash = 'h'").await, 1, "v's message still holds it");
        assert_eq!(left("SELECT count(*) FROM messages").await, 1);
        assert_eq!(left("SELECT count(*) FROM urlauth_keys").await, 1);
        assert_eq!(left("SELECT count(*) FROM mailboxes").await, 6, "v's");
        assert_eq!(left("SELECT count(*) FROM subscriptions").await, 6);
        a.del_user(&Address::parse("v@example.com").expect("address")).await.expect("del v");
        assert_eq!(left("SELECT count(*) FROM blobs").await, 0, "the last reference took the body");
        assert_eq!(left("SELECT count(*) FROM mailboxes").await, 0);
        assert_eq!(left("SELECT count(*) FROM accounts").await, 0);
        assert_eq!(left("SELECT count(*) FROM serials").await, 2, "counters stay (ids are never given again)");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_address_becomes_a_user_or_an_alias_not_both() {
        let (a, b, _) = two_nodes().await;
        let made = at_once(&a, &b, 8, |s, i| async move {
            let address = Address::parse("same@example.com").expect("address");
            if i % 4 < 2 {
                let user = NewUser { address, name: None, quota: None, password_hash: "x".into() };
                s.add_user(user).await.map(|_| ()).ok()
            } else {
                s.add_alias(&address, &["u@example.com".into()]).await.map(|_| ()).ok()
            }
        })
        .await;
        assert_eq!(made.iter().filter(|m| m.is_some()).count(), 1);
        let resolved = a.resolve(&Address::parse("same@example.com").expect("address")).await.expect("resolve");
        assert!(matches!(resolved, Recipient::Account(_) | Recipient::Alias(_)));
    }
}
