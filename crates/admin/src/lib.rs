//! The admin service: every administrative action with its validation, used by
//! the CLI today and by the web API later, so both refuse the same input with
//! the same words (STYLE.md practice 15).

pub mod client_setup;
pub mod dkim;
pub mod tls_check;
mod two_factor;

use std::sync::Arc;

use caravel_config::units::parse_size;
use caravel_store::address::normalize_domain;
use caravel_store::{
    Address, Alias, CheckReport, CompactReport, Domain, NewUser, Protocol, Protocols, Role, Store, StoreError, User,
    UserUpdate,
};
pub use two_factor::{Enrollment, RECOVERY_CODES};

/// An admin action that was refused or failed; the message is for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminError(pub String);

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AdminError {}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError(e.to_string())
    }
}

impl From<String> for AdminError {
    fn from(e: String) -> Self {
        AdminError(e)
    }
}

pub type Result<T> = std::result::Result<T, AdminError>;

/// A new account as given on the command line.
#[derive(Debug, Default)]
pub struct UserRequest {
    pub address: String,
    /// `None`: generate one and return it.
    pub password: Option<String>,
    pub name: Option<String>,
    pub quota: Option<String>,
}

/// Changes to an account as given on the command line.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub name: Option<String>,
    pub quota: Option<String>,
    pub recovery: Option<String>,
}

pub struct Admin {
    store: Arc<dyn Store>,
}

fn address(text: &str) -> Result<Address> {
    Ok(Address::parse(text)?)
}

/// The largest quota accepted: 1 PiB.
const MAX_QUOTA: u64 = 1 << 50;

/// `0`, `none` and `unlimited` remove the quota; otherwise a size.
fn quota(text: &str) -> Result<Option<u64>> {
    match text.trim().to_ascii_lowercase().as_str() {
        "0" | "none" | "unlimited" => Ok(None),
        t => match parse_size(t) {
            Ok(q) if q <= MAX_QUOTA => Ok(Some(q)),
            Ok(_) => Err(AdminError("bad quota: more than 1024T is not supported".into())),
            Err(e) => Err(AdminError(format!("bad quota: {e}"))),
        },
    }
}

fn display_name(text: &str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() || t.chars().any(char::is_control) || t.chars().count() > 200 {
        return Err(AdminError(format!("bad name {text:?}: 1 to 200 printable characters")));
    }
    Ok(t.to_string())
}

/// A phone number in international form (E.164: `+`, the country code and
/// the number, 8 to 15 digits in all); spaces, dashes, dots and brackets
/// as people write them are dropped.
pub fn e164(text: &str) -> Result<String> {
    let t = text.trim();
    let bad = || {
        AdminError(format!(
            "{t:?} is not a mobile number in international form: write + and the country code, e.g. +86 138 0013 8000"
        ))
    };
    let rest = t.strip_prefix('+').ok_or_else(bad)?;
    let mut digits = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(bad()),
        }
    }
    if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
        return Err(bad());
    }
    Ok(format!("+{digits}"))
}

impl Admin {
    pub fn new(store: Arc<dyn Store>) -> Admin {
        Admin { store }
    }

    pub async fn domain_add(&self, name: &str) -> Result<Domain> {
        let name = normalize_domain(name)?;
        Ok(self.store.add_domain(&name).await?)
    }

    pub async fn domain_list(&self) -> Result<Vec<Domain>> {
        Ok(self.store.list_domains().await?)
    }

    pub async fn domain_del(&self, name: &str) -> Result<()> {
        let name = normalize_domain(name)?;
        Ok(self.store.del_domain(&name).await?)
    }

    /// Creates an account; returns the generated password when none was given.
    pub async fn user_add(&self, req: UserRequest) -> Result<(User, Option<String>)> {
        let address = address(&req.address)?;
        let name = req.name.as_deref().map(display_name).transpose()?;
        let quota = match req.quota.as_deref() {
            Some(q) => quota(q)?,
            None => None,
        };
        let (password, generated) = match req.password {
            Some(p) => (p, None),
            None => {
                let p = caravel_auth::generate_password();
                (p.clone(), Some(p))
            }
        };
        caravel_auth::check_policy(&password, &address.to_string())?;
        let password_hash = caravel_auth::hash_password(&password)?;
        let user = self.store.add_user(NewUser { address, name, quota, password_hash }).await?;
        Ok((user, generated))
    }

    pub async fn user_set(&self, addr: &str, changes: UserChanges) -> Result<User> {
        let address = address(addr)?;
        let mut update = UserUpdate::default();
        if let Some(n) = changes.name.as_deref() {
            update.name = Some(display_name(n)?);
        }
        if let Some(q) = changes.quota.as_deref() {
            update.quota = Some(quota(q)?);
        }
        if let Some(r) = changes.recovery.as_deref() {
            let recovery = Address::parse(r).map_err(|e| AdminError(format!("bad recovery address: {e}")))?;
            if recovery.key() == address.key() {
                return Err(AdminError("the recovery address must be another mailbox than the account's own".into()));
            }
            update.recovery = Some(recovery.to_string());
        }
        if update.name.is_none() && update.quota.is_none() && update.recovery.is_none() {
            return Err(AdminError("nothing to change: give --name, --quota or --recovery".into()));
        }
        Ok(self.store.update_user(&address, update).await?)
    }

    /// Turns protocols on or off for one account; the account as it is now.
    pub async fn user_protocols(&self, addr: &str, changes: &[(Protocol, bool)]) -> Result<User> {
        let address = address(addr)?;
        let user = self.store.get_user(&address).await?.ok_or_else(|| AdminError(format!("no user {address}")))?;
        let mut protocols = user.protocols;
        for (p, on) in changes {
            protocols.set(*p, *on);
        }
        let update = UserUpdate { protocols: Some(protocols), ..Default::default() };
        Ok(self.store.update_user(&address, update).await?)
    }

    /// The protocols new accounts of `domain` get (existing ones keep
    /// theirs); the domain's setting as it is now.
    pub async fn domain_protocols(&self, name: &str, changes: &[(Protocol, bool)]) -> Result<Protocols> {
        let name = normalize_domain(name)?;
        let domains = self.store.list_domains().await?;
        let domain = domains.iter().find(|d| d.name == name).ok_or_else(|| {
            AdminError(format!("domain {name} is not served here (add it with: caravel domain add {name})"))
        })?;
        let mut protocols = domain.protocols;
        for (p, on) in changes {
            protocols.set(*p, *on);
        }
        self.store.set_domain_protocols(&name, protocols).await?;
        Ok(protocols)
    }

    /// What the account may administer (the web console and the API).
    pub async fn user_role(&self, addr: &str, role: Role) -> Result<User> {
        let address = address(addr)?;
        Ok(self.store.update_user(&address, UserUpdate { role: Some(role), ..Default::default() }).await?)
    }

    /// The number text-message codes go to; `""` removes it. The number is
    /// kept in its international form (E.164): `+86 138-0013-8000` becomes
    /// `+8613800138000`.
    pub async fn user_phone(&self, addr: &str, phone: &str) -> Result<User> {
        let address = address(addr)?;
        let phone = if phone.trim().is_empty() { None } else { Some(e164(phone)?) };
        Ok(self.store.update_user(&address, UserUpdate { phone: Some(phone), ..Default::default() }).await?)
    }

    pub async fn user_passwd(&self, addr: &str, password: &str) -> Result<()> {
        let address = address(addr)?;
        caravel_auth::check_policy(password, &address.to_string())?;
        let hash = caravel_auth::hash_password(password)?;
        self.store.update_user(&address, UserUpdate { password_hash: Some(hash), ..Default::default() }).await?;
        Ok(())
    }

    pub async fn user_list(&self) -> Result<Vec<User>> {
        Ok(self.store.list_users().await?)
    }

    pub async fn user_del(&self, addr: &str) -> Result<()> {
        Ok(self.store.del_user(&address(addr)?).await?)
    }

    pub async fn user_unlock(&self, addr: &str) -> Result<()> {
        Ok(self.store.unlock_user(&address(addr)?).await?)
    }

    /// `alias` may be `@domain`: the catch-all for unknown addresses of the domain.
    pub async fn alias_add(&self, alias: &str, targets: &[String]) -> Result<Alias> {
        let alias = Address::parse_alias(alias)?;
        if targets.is_empty() {
            return Err(AdminError("an alias needs at least one target address".into()));
        }
        let mut normalized: Vec<String> = Vec::new();
        for t in targets {
            let t = address(t)?;
            if t.key() == alias.key() {
                return Err(AdminError(format!("alias {alias} cannot point at itself")));
            }
            let s = t.to_string();
            if normalized.iter().any(|x| x.eq_ignore_ascii_case(&s)) {
                return Err(AdminError(format!("target {s} is given twice")));
            }
            normalized.push(s);
        }
        Ok(self.store.add_alias(&alias, &normalized).await?)
    }

    pub async fn alias_list(&self) -> Result<Vec<Alias>> {
        Ok(self.store.list_aliases().await?)
    }

    pub async fn alias_del(&self, alias: &str) -> Result<()> {
        Ok(self.store.del_alias(&Address::parse_alias(alias)?).await?)
    }

    pub async fn store_check(&self) -> Result<CheckReport> {
        Ok(self.store.check().await?)
    }

    pub async fn store_compact(&self, vacuum: bool) -> Result<CompactReport> {
        Ok(self.store.compact(vacuum).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::e164;

    #[test]
    fn phone_numbers_in_international_form() {
        assert_eq!(e164("+86 138-0013-8000").as_deref(), Ok("+8613800138000"));
        assert_eq!(e164(" +1 (415) 555.0100 ").as_deref(), Ok("+14155550100"));
        for bad in ["13800138000", "+86 138 0013 8000 ext 5", "+0123456789", "+1234", "+1234567890123456", "+"] {
            assert!(e164(bad).is_err(), "{bad}");
        }
    }
}
