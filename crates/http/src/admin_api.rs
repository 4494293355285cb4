//! The administration API (`/api/v1/domains`, `/users`, `/aliases`,
//! `/doctor`, `/trace`): what the CLI does, through the same admin service
//! ([`caravel_admin::Admin`]), so both refuse the same input with the same
//! words. Roles: an `admin` manages everything; a `domain-admin` the
//! accounts and aliases of its own domain; a `user` reads its own account,
//! doctor and trace only.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State as AxState};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use caravel_admin::{UserChanges, UserRequest};
use caravel_store::{Address, Protocol, Role, User};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{Current, Full, JsonBody};
use crate::api_error::ApiError;
use crate::State;

type St = AxState<Arc<State>>;
type ApiResult = Result<Json<Value>, ApiError>;

/// A signed-in account with an administrator's role.
pub struct Manager(pub Current);

impl FromRequestParts<Arc<State>> for Manager {
    type Rejection = axum::response::Response;
    async fn from_request_parts(parts: &mut Parts, st: &Arc<State>) -> Result<Self, Self::Rejection> {
        let Full(cur) = Full::from_request_parts(parts, st).await?;
        if cur.user.role == Role::User {
            return Err(axum::response::IntoResponse::into_response(ApiError::forbidden(
                "This needs an administrator's account (caravel user set ADDRESS --role admin|domain-admin).",
            )));
        }
        Ok(Manager(cur))
    }
}

pub(crate) fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or(address, |(_, d)| d)
}

/// Whether `user` may manage things of `domain`.
pub(crate) fn manages(user: &User, domain: &str) -> bool {
    match user.role {
        Role::Admin => true,
        Role::DomainAdmin => domain_of(&user.address).eq_ignore_ascii_case(domain),
        Role::User => false,
    }
}

pub(crate) fn require(user: &User, domain: &str) -> Result<(), ApiError> {
    if manages(user, domain) {
        return Ok(());
    }
    Err(ApiError::forbidden(format!("{} does not administer {domain}.", user.address)))
}

pub(crate) fn require_admin(user: &User) -> Result<(), ApiError> {
    if user.role == Role::Admin {
        return Ok(());
    }
    Err(ApiError::forbidden("This needs the server administrator's role (admin)."))
}

/// Whether `cur` may change the account `target`: its own, or as the
/// administrator of its domain, and never an account that holds as much
/// power or more (a domain admin cannot reset the server admin's password
/// or recovery address, nor another domain admin's).
pub(crate) fn may_change(cur: &User, target: &User) -> Result<(), ApiError> {
    if cur.id == target.id {
        return Ok(());
    }
    require(cur, domain_of(&target.address))?;
    let outranked = match cur.role {
        Role::Admin => false,
        Role::DomainAdmin => target.role != Role::User,
        Role::User => true,
    };
    if outranked {
        return Err(ApiError::forbidden(format!(
            "{} is an administrator too: only the server's administrator changes it.",
            target.address
        )));
    }
    Ok(())
}

/// The domain of an address as the store keeps it (ASCII, lowercase).
fn normalized_domain(address: &str) -> Result<String, ApiError> {
    let d = domain_of(address.trim().trim_start_matches('@'));
    caravel_store::address::normalize_domain(d).map_err(ApiError::bad_request)
}

// ---- domains ----

pub async fn domains(AxState(st): St, Manager(cur): Manager) -> ApiResult {
    let list = st.admin.domain_list().await?;
    let visible: Vec<_> = list.into_iter().filter(|d| manages(&cur.user, &d.name)).collect();
    Ok(Json(json!(visible)))
}

#[derive(Deserialize)]
pub struct NewDomain {
    name: String,
}

pub async fn add_domain(AxState(st): St, Manager(cur): Manager, JsonBody(d): JsonBody<NewDomain>) -> ApiResult {
    require_admin(&cur.user)?;
    Ok(Json(json!(st.admin.domain_add(&d.name).await?)))
}

pub async fn del_domain(AxState(st): St, Manager(cur): Manager, Path(name): Path<String>) -> ApiResult {
    require_admin(&cur.user)?;
    st.admin.domain_del(&name).await?;
    Ok(Json(json!({ "deleted": name })))
}

/// Protocol switches as JSON: `{"smtp": false}` changes only SMTP.
#[derive(Deserialize, Default)]
pub struct Switches {
    smtp: Option<bool>,
    imap: Option<bool>,
    pop3: Option<bool>,
}

impl Switches {
    fn changes(&self) -> Vec<(Protocol, bool)> {
        [(Protocol::Smtp, self.smtp), (Protocol::Imap, self.imap), (Protocol::Pop3, self.pop3)]
            .into_iter()
            .filter_map(|(p, on)| on.map(|on| (p, on)))
            .collect()
    }
}

pub async fn domain_protocols(
    AxState(st): St,
    Manager(cur): Manager,
    Path(name): Path<String>,
    JsonBody(s): JsonBody<Switches>,
) -> ApiResult {
    require(&cur.user, &normalized_domain(&name)?)?;
    let protocols = st.admin.domain_protocols(&name, &s.changes()).await?;
    Ok(Json(json!({ "domain": name, "protocols": protocols })))
}

// ---- users ----

pub async fn users(AxState(st): St, Manager(cur): Manager) -> ApiResult {
    let list = st.admin.user_list().await?;
    let visible: Vec<&User> = list.iter().filter(|u| manages(&cur.user, domain_of(&u.address))).collect();
    Ok(Json(json!(visible)))
}

#[derive(Deserialize)]
pub struct NewUser {
    address: String,
    password: Option<String>,
    name: Option<String>,
    quota: Option<String>,
}

pub async fn add_user(AxState(st): St, Manager(cur): Manager, JsonBody(u): JsonBody<NewUser>) -> ApiResult {
    require(&cur.user, &normalized_domain(&u.address)?)?;
    let req = UserRequest { address: u.address, password: u.password, name: u.name, quota: u.quota };
    let (user, generated) = st.admin.user_add(req).await?;
    Ok(Json(json!({ "user": user, "password": generated })))
}

/// The account `address`, if the caller may see it (itself, or as its
/// administrator).
pub(crate) async fn visible_user(st: &State, cur: &Current, address: &str) -> Result<User, ApiError> {
    let a = Address::parse(address).map_err(ApiError::bad_request)?;
    let own = a.key() == Address::parse(&cur.user.address).map(|o| o.key()).unwrap_or_default();
    if !own {
        require(&cur.user, &a.domain)?;
    }
    st.store.get_user(&a).await?.ok_or_else(|| ApiError::not_found(format!("no user {a}")))
}

pub async fn user(AxState(st): St, Full(cur): Full, Path(address): Path<String>) -> ApiResult {
    Ok(Json(json!(visible_user(&st, &cur, &address).await?)))
}

#[derive(Deserialize, Default)]
pub struct UserPatch {
    name: Option<String>,
    quota: Option<String>,
    recovery: Option<String>,
    phone: Option<String>,
    role: Option<Role>,
    #[serde(flatten)]
    switches: Switches,
}

pub async fn patch_user(
    AxState(st): St,
    Manager(cur): Manager,
    Path(address): Path<String>,
    JsonBody(p): JsonBody<UserPatch>,
) -> ApiResult {
    let target = visible_user(&st, &cur, &address).await?;
    require(&cur.user, domain_of(&target.address))?;
    may_change(&cur.user, &target)?;
    if let Some(role) = p.role {
        // Only the server's administrator makes administrators of the
        // server; nobody changes their own role.
        if role == Role::Admin || target.role == Role::Admin {
            require_admin(&cur.user)?;
        }
        if target.id == cur.user.id {
            return Err(ApiError::forbidden("Nobody changes their own role; ask another administrator."));
        }
        st.admin.user_role(&target.address, role).await?;
    }
    let changes = p.switches.changes();
    if !changes.is_empty() {
        st.admin.user_protocols(&target.address, &changes).await?;
    }
    if let Some(phone) = p.phone.as_deref() {
        st.admin.user_phone(&target.address, phone).await?;
    }
    if p.name.is_some() || p.quota.is_some() || p.recovery.is_some() {
        let c = UserChanges { name: p.name, quota: p.quota, recovery: p.recovery };
        st.admin.user_set(&target.address, c).await?;
    }
    Ok(Json(json!(visible_user(&st, &cur, &target.address).await?)))
}

pub async fn del_user(AxState(st): St, Manager(cur): Manager, Path(address): Path<String>) -> ApiResult {
    let target = visible_user(&st, &cur, &address).await?;
    if target.id == cur.user.id {
        return Err(ApiError::forbidden("You cannot delete the account you are signed in with."));
    }
    may_change(&cur.user, &target)?;
    st.admin.user_del(&target.address).await?;
    Ok(Json(json!({ "deleted": target.address })))
}

pub async fn unlock_user(AxState(st): St, Manager(cur): Manager, Path(address): Path<String>) -> ApiResult {
    let target = visible_user(&st, &cur, &address).await?;
    may_change(&cur.user, &target)?;
    st.admin.user_unlock(&target.address).await?;
    Ok(Json(json!({ "unlocked": address })))
}

#[derive(Deserialize)]
pub struct NewPassword {
    password: String,
}

/// An administrator sets a new password (the old sessions and app
/// passwords end with it).
pub async fn set_password(
    AxState(st): St,
    Manager(cur): Manager,
    Path(address): Path<String>,
    JsonBody(p): JsonBody<NewPassword>,
) -> ApiResult {
    let target = visible_user(&st, &cur, &address).await?;
    may_change(&cur.user, &target)?;
    if target.id == cur.user.id {
        // Without the current password: a stolen session would keep the account.
        return Err(ApiError::forbidden("For your own password use the security page (it asks for the current one)."));
    }
    st.admin.user_passwd(&target.address, &p.password).await?;
    Ok(Json(json!({ "changed": address })))
}

// ---- aliases ----

pub async fn aliases(AxState(st): St, Manager(cur): Manager) -> ApiResult {
    let list = st.admin.alias_list().await?;
    let visible: Vec<_> = list.into_iter().filter(|a| manages(&cur.user, domain_of(&a.address))).collect();
    Ok(Json(json!(visible)))
}

#[derive(Deserialize)]
pub struct NewAlias {
    alias: String,
    targets: Vec<String>,
}

pub async fn add_alias(AxState(st): St, Manager(cur): Manager, JsonBody(a): JsonBody<NewAlias>) -> ApiResult {
    require(&cur.user, &normalized_domain(&a.alias)?)?;
    Ok(Json(json!(st.admin.alias_add(&a.alias, &a.targets).await?)))
}

pub async fn del_alias(AxState(st): St, Manager(cur): Manager, Path(alias): Path<String>) -> ApiResult {
    require(&cur.user, &normalized_domain(&alias)?)?;
    st.admin.alias_del(&alias).await?;
    Ok(Json(json!({ "deleted": alias })))
}

// ---- troubleshooting ----

pub(crate) fn troubleshooter(st: &State) -> Result<&Arc<dyn crate::Troubleshoot>, ApiError> {
    st.troubleshoot.as_ref().ok_or_else(|| ApiError::new(StatusCode::NOT_IMPLEMENTED, "No troubleshooter here."))
}

/// The server's checks (administrators of the whole server).
pub async fn doctor(AxState(st): St, Manager(cur): Manager) -> ApiResult {
    require_admin(&cur.user)?;
    Ok(Json(troubleshooter(&st)?.doctor(None, true).await.map_err(ApiError::unavailable)?))
}

/// One account's checks: its own, or as its administrator.
pub async fn doctor_account(AxState(st): St, Full(cur): Full, Path(address): Path<String>) -> ApiResult {
    let user = visible_user(&st, &cur, &address).await?;
    let server_parts = cur.user.role == Role::Admin;
    let checks = troubleshooter(&st)?.doctor(Some(user.address), server_parts).await;
    Ok(Json(checks.map_err(ApiError::unavailable)?))
}

#[derive(Deserialize)]
pub struct TraceParams {
    message_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    last: Option<usize>,
}

/// Mail of `address` may be traced by the address itself and its
/// administrator; mail of an address that is no account here (a sender
/// outside) by the server's administrator.
async fn may_trace(st: &State, cur: &Current, address: &str) -> Result<(), ApiError> {
    match visible_user(st, cur, address).await {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.status, StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST) => require_admin(&cur.user),
        Err(e) => Err(e),
    }
}

/// A message's path: by Message-ID for administrators of the server; by
/// sender or recipient for that address's administrator or the address
/// itself.
pub async fn trace(AxState(st): St, Full(cur): Full, Query(q): Query<TraceParams>) -> ApiResult {
    let query = match (q.message_id, q.from, q.to) {
        (Some(id), _, _) => {
            require_admin(&cur.user)?;
            crate::TraceQuery::MessageId(id)
        }
        (None, Some(a), _) => {
            may_trace(&st, &cur, &a).await?;
            crate::TraceQuery::From(a)
        }
        (None, None, Some(a)) => {
            may_trace(&st, &cur, &a).await?;
            crate::TraceQuery::To(a)
        }
        (None, None, None) => return Err(ApiError::bad_request("Give message_id, from or to.")),
    };
    let last = q.last.unwrap_or(10).clamp(1, 100);
    let scope = visible(&st, &cur).await?;
    Ok(Json(troubleshooter(&st)?.trace(query, last, scope).await.map_err(ApiError::unavailable)?))
}

/// The accounts that outrank a domain admin (the server's administrators
/// and other domain admins): their mail and events are not its to see.
pub(crate) async fn outranking(st: &State, cur: &Current) -> Result<Vec<String>, ApiError> {
    if cur.user.role != Role::DomainAdmin {
        return Ok(Vec::new());
    }
    let all = st.admin.user_list().await?;
    Ok(all.into_iter().filter(|u| u.role != Role::User && u.id != cur.user.id).map(|u| u.address).collect())
}

/// What of the mail log the caller sees: the events of its own address (a
/// user), of its domain less its betters' (a domain admin), or all.
pub(crate) async fn visible(st: &State, cur: &Current) -> Result<Option<crate::Visible>, ApiError> {
    Ok(match cur.user.role {
        Role::Admin => None,
        Role::DomainAdmin => {
            Some(crate::Visible { of: domain_of(&cur.user.address).to_string(), hidden: outranking(st, cur).await? })
        }
        Role::User => Some(crate::Visible { of: cur.user.address.clone(), hidden: Vec::new() }),
    })
}

// ---- the outbound queue (the server's administrator) ----

pub async fn queue(AxState(st): St, Manager(cur): Manager) -> ApiResult {
    require_admin(&cur.user)?;
    Ok(Json(json!(st.admin.queue_list().await?)))
}

/// Makes every waiting recipient due now.
pub async fn queue_retry_all(AxState(st): St, Manager(cur): Manager) -> ApiResult {
    require_admin(&cur.user)?;
    Ok(Json(json!({ "recipients": st.admin.queue_retry(None).await? })))
}

pub async fn queue_retry(AxState(st): St, Manager(cur): Manager, Path(id): Path<i64>) -> ApiResult {
    require_admin(&cur.user)?;
    Ok(Json(json!({ "recipients": st.admin.queue_retry(Some(id)).await? })))
}

pub async fn queue_del(AxState(st): St, Manager(cur): Manager, Path(id): Path<i64>) -> ApiResult {
    require_admin(&cur.user)?;
    st.admin.queue_del(id).await?;
    Ok(Json(json!({ "deleted": id })))
}

// ---- DKIM keys and the DNS records of a domain ----

pub async fn dkim_keys(AxState(st): St, Manager(cur): Manager, Path(name): Path<String>) -> ApiResult {
    require(&cur.user, &normalized_domain(&name)?)?;
    Ok(Json(json!(st.admin.dkim_keys(&name).await?)))
}

#[derive(Deserialize, Default)]
pub struct NewKey {
    algorithm: Option<String>,
}

/// A new signing key (RSA 2048 unless `"algorithm": "ed25519"`) and the
/// TXT record to publish for it.
pub async fn dkim_generate(
    AxState(st): St,
    Manager(cur): Manager,
    Path(name): Path<String>,
    JsonBody(k): JsonBody<NewKey>,
) -> ApiResult {
    require(&cur.user, &normalized_domain(&name)?)?;
    let algorithm = caravel_admin::dkim::Algorithm::parse(k.algorithm.as_deref().unwrap_or("rsa"))?;
    let key = st.admin.dkim_generate(&name, algorithm).await?;
    let record = json!({
        "name": format!("{}._domainkey.{}", key.selector, key.domain),
        "type": "TXT",
        "value": caravel_admin::dkim::dkim_txt(&key),
    });
    Ok(Json(json!({ "key": key, "record": record })))
}

pub async fn dkim_del(
    AxState(st): St,
    Manager(cur): Manager,
    Path((name, selector)): Path<(String, String)>,
) -> ApiResult {
    require(&cur.user, &normalized_domain(&name)?)?;
    st.admin.dkim_del(&name, &selector).await?;
    Ok(Json(json!({ "deleted": selector })))
}

/// Every record the domain should publish, each with why (as `caravel dns`).
pub async fn dns_records(AxState(st): St, Manager(cur): Manager, Path(name): Path<String>) -> ApiResult {
    require(&cur.user, &normalized_domain(&name)?)?;
    Ok(Json(json!(st.admin.dns_records(&name, &st.setup).await?)))
}
