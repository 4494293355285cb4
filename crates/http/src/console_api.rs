//! The rest of the console's API: each user's own settings (signatures,
//! auto-replies, mail rules, allow/block lists, quarantine, phone number,
//! the mail-program set-up) and the administrators' filter rules,
//! quarantine, antivirus, mail log and live DNS check. The same checks as
//! the CLI (`caravel_personal::manage`, `caravel_filter::rules`, and the
//! binary's [`crate::Operations`]); roles as in [`crate::admin_api`]: a
//! user reaches its own things, a domain admin its domain's, an admin all.

use std::sync::Arc;

use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::Json;
use caravel_personal::book::{FOOTER, SIGNATURE};
use caravel_personal::manage::{self, AutoReplyForm, RuleForm, SignatureForm};
use caravel_store::filter_data::FilterRule;
use caravel_store::settings::{account_scope, domain_scope};
use caravel_store::{same_recipient, Held, HeldKind, HeldVerdict, Role, User};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::admin_api::{
    domain_of, manages, may_change, outranking, require, require_admin, troubleshooter, visible, visible_user, Manager,
};
use crate::api::{Current, Full, JsonBody};
use crate::api_error::ApiError;
use crate::State;

type St = AxState<Arc<State>>;
type ApiResult = Result<Json<Value>, ApiError>;

/// A refusal of the shared checks, in their words ("no ..." is a 404).
fn refused(e: String) -> ApiError {
    ApiError::from(caravel_admin::AdminError(e))
}

fn ops(st: &State) -> Result<&Arc<dyn crate::Operations>, ApiError> {
    st.ops.as_ref().ok_or_else(|| ApiError::new(StatusCode::NOT_IMPLEMENTED, "Not available on this server."))
}

/// The account `address` for reading or changing its settings: itself, or
/// one its administrator may change (a domain admin never reaches an
/// administrator's mail, rules or devices).
async fn changeable(st: &State, cur: &Current, address: &str) -> Result<User, ApiError> {
    let target = visible_user(st, cur, address).await?;
    may_change(&cur.user, &target)?;
    Ok(target)
}

// ---- the signed-in account ----

/// What mail programs are told to use (the set-up page).
pub async fn setup(AxState(st): St, Full(_): Full) -> ApiResult {
    Ok(Json(json!(st.setup)))
}

#[derive(Deserialize)]
pub struct Phone {
    phone: String,
}

/// The number text-message codes go to (empty: none).
pub async fn set_phone(
    AxState(st): St,
    Full(cur): Full,
    Path(address): Path<String>,
    JsonBody(p): JsonBody<Phone>,
) -> ApiResult {
    let target = changeable(&st, &cur, &address).await?;
    st.admin.user_phone(&target.address, &p.phone).await?;
    Ok(Json(json!(visible_user(&st, &cur, &target.address).await?)))
}

// ---- signatures ----

pub async fn signatures(AxState(st): St, Full(cur): Full, Path(address): Path<String>) -> ApiResult {
    let user = changeable(&st, &cur, &address).await?;
    let list = manage::signatures(st.store.as_ref(), &account_scope(user.id), SIGNATURE).await.map_err(refused)?;
    Ok(Json(json!(list)))
}

pub async fn set_signature(
    AxState(st): St,
    Full(cur): Full,
    Path((address, name)): Path<(String, String)>,
    JsonBody(form): JsonBody<SignatureForm>,
) -> ApiResult {
    let user = changeable(&st, &cur, &address).await?;
    manage::set_signature(st.store.as_ref(), &account_scope(user.id), SIGNATURE, name.trim(), form)
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Json(json!({ "saved": name.trim() })))
}

pub async fn del_signature(
    AxState(st): St,
    Full(cur): Full,
    Path((address, name)): Path<(String, String)>,
) -> ApiResult {
    let user = changeable(&st, &cur, &address).await?;
    let name = name.trim();
    if !st.store.del_setting(&account_scope(user.id), SIGNATURE, name).await? {
        return Err(ApiError::not_found(format!("{} has no signature {name}", user.address)));
    }
    Ok(Json(json!({ "deleted": name })))
}

#[derive(Deserialize)]
pub struct Preview {
    text: String,
    html: Option<String>,
}

/// A template filled in from the account's details, as its mail will
/// carry it.
pub async fn preview_signature(
    AxState(st): St,
    Full(cur): Full,
    Path(address): Path<String>,
    JsonBody(p): JsonBody<Preview>,
) -> ApiResult {
    let user = changeable(&st, &cur, &address).await?;
    let html = p.html.as_deref().filter(|h| !h.trim().is_empty());
    let (text, html) =
        manage::preview_signature(st.store.as_ref(), user.id, &user.address, &p.text, html).await.map_err(refused)?;
    Ok(Json(json!({ "text": text, "html": html })))
}

/// A domain's footer (a legal disclaimer after every signature).
pub async fn footer(AxState(st): St, Manager(cur): Manager, Path(domain): Path<String>) -> ApiResult {
    require(&cur.user, &domain)?;
    let list = manage::signatures(st.store.as_ref(), &domain_scope(&domain), FOOTER).await.map_err(refused)?;
    Ok(Json(json!(list.into_iter().next())))
}

pub async fn set_footer(
    AxState(st): St,
    Manager(cur): Manager,
    Path(domain): Path<String>,
    JsonBody(form): JsonBody<SignatureForm>,
) -> ApiResult {
    require(&cur.user, &domain)?;
    if !st.store.list_domains().await?.iter().any(|d| d.name.eq_ignore_ascii_case(&domain)) {
        return Err(ApiError::not_found(format!("no domain {domain}")));
    }
    manage::set_signature(st.store.as_ref(), &domain_scope(&domain), FOOTER, "", form)
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Json(json!({ "saved": domain })))
}

pub async fn del_footer(AxState(st): St, Manager(cur): Manager, Path(domain): Path<String>) -> ApiResult {
    require(&cur.user, &domain)?;
    if !st.store.del_setting(&domain_scope(&domain), FOOTER, "").await? {
        return Err(ApiError::not_found(format!("{domain} has no footer")));
    }
    Ok(Json(json!({ "deleted": domain })))
}

// ---- auto-replies ----

/// Whose auto-replies: an account (itself or as its administrator), or a
/// shared alias such as sales@ (its domain's administrator), which answers
/// once for everyone it reaches. The settings scope and the time zone.
async fn autoreply_scope(st: &State, cur: &Current, address: &str) -> Result<(String, Option<String>), ApiError> {
    match changeable(st, cur, address).await {
        Ok(user) => {
            let scope = account_scope(user.id);
            Ok((scope.clone(), manage::profile(st.store.as_ref(), &scope).await.map_err(refused)?.zone))
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            let a = caravel_store::Address::parse(address).map_err(ApiError::bad_request)?;
            match st.store.resolve(&a).await? {
                caravel_store::Recipient::Alias(_) => {
                    require(&cur.user, &a.domain)?;
                    let zone =
                        manage::profile(st.store.as_ref(), &domain_scope(&a.domain)).await.map_err(refused)?.zone;
                    Ok((caravel_store::settings::alias_scope(&a.to_string()), zone))
                }
                _ => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

pub async fn autoreplies(AxState(st): St, Full(cur): Full, Path(address): Path<String>) -> ApiResult {
    let (scope, zone) = autoreply_scope(&st, &cur, &address).await?;
    let list = manage::autoreplies(st.store.as_ref(), &scope, zone.as_deref(), caravel_store::now_secs())
        .await
        .map_err(refused)?;
    Ok(Json(json!(list)))
}

pub async fn set_autoreply(
    AxState(st): St,
    Full(cur): Full,
    Path((address, name)): Path<(String, String)>,
    JsonBody(form): JsonBody<AutoReplyForm>,
) -> ApiResult {
    let (scope, _) = autoreply_scope(&st, &cur, &address).await?;
    let t = manage::set_autoreply(st.store.as_ref(), &scope, name.trim(), form).await.map_err(ApiError::bad_request)?;
    Ok(Json(json!({ "saved": name.trim(), "scenario": t.scenario.to_string(), "days": t.days })))
}

pub async fn del_autoreply(
    AxState(st): St,
    Full(cur): Full,
    Path((address, name)): Path<(String, String)>,
) -> ApiResult {
    let (scope, _) = autoreply_scope(&st, &cur, &address).await?;
    match manage::autoreplies_off(st.store.as_ref(), &scope, Some(name.trim())).await.map_err(refused)? {
        0 => Err(ApiError::not_found(format!("{address} has no auto-reply {name}"))),
        _ => Ok(Json(json!({ "deleted": name }))),
    }
}

// ---- profiles ----

/// The details signatures and auto-replies are filled with.
#[derive(Deserialize, Default)]
pub struct ProfileChanges {
    title: Option<String>,
    company: Option<String>,
    phone: Option<String>,
    mobile: Option<String>,
    website: Option<String>,
    address: Option<String>,
    zone: Option<String>,
}

impl From<ProfileChanges> for caravel_personal::profile::Profile {
    fn from(c: ProfileChanges) -> Self {
        caravel_personal::profile::Profile {
            name: None,
            title: c.title,
            company: c.company,
            phone: c.phone,
            mobile: c.mobile,
            website: c.website,
            address: c.address,
            zone: c.zone,
        }
    }
}

pub async fn user_profile(AxState(st): St, Full(cur): Full, Path(address): Path<String>) -> ApiResult {
    let user = changeable(&st, &cur, &address).await?;
    Ok(Json(json!(manage::profile(st.store.as_ref(), &account_scope(user.id)).await.map_err(refused)?)))
}

pub async fn patch_user_profile(
    AxState(st): St,
    Full(cur): Full,
    Path(address): Path<String>,
    JsonBody(c): JsonBody<ProfileChanges>,
) -> ApiResult {
    let user = changeable(&st, &cur, &address).await?;
    let changes = c.into();
    let saved = manage::update_profile(st.store.as_ref(), &account_scope(user.id), &changes).await;
    Ok(Json(json!(saved.map_err(ApiError::bad_request)?)))
}

pub async fn domain_profile(AxState(st): St, Manager(cur): Manager, Path(domain): Path<String>) -> ApiResult {
    require(&cur.user, &domain)?;
    Ok(Json(json!(manage::profile(st.store.as_ref(), &domain_scope(&domain)).await.map_err(refused)?)))
}

pub async fn patch_domain_profile(
    AxState(st): St,
    Manager(cur): Manager,
    Path(domain): Path<String>,
    JsonBody(c): JsonBody<ProfileChanges>,
) -> ApiResult {
    require(&cur.user, &domain)?;
    if !st.store.list_domains().await?.iter().any(|d| d.name.eq_ignore_ascii_case(&domain)) {
        return Err(ApiError::not_found(format!("no domain {domain}")));
    }
    if c.title.is_some() || c.mobile.is_some() {
        return Err(ApiError::bad_request("title and mobile are a person's: set them on the account"));
    }
    let saved = manage::update_profile(st.store.as_ref(), &domain_scope(&domain.to_ascii_lowercase()), &c.into()).await;
    Ok(Json(json!(saved.map_err(ApiError::bad_request)?)))
}

// ---- the store and text messages (the server's administrator) ----

/// `caravel store check`: every message's blob there and intact.
pub async fn store_check(AxState(st): St, Manager(cur): Manager) -> ApiResult {
    require_admin(&cur.user)?;
    Ok(Json(json!(st.admin.store_check().await?)))
}

#[derive(Deserialize, Default)]
pub struct Compact {
    #[serde(default)]
    vacuum: bool,
}

/// `caravel store compact`: unreferenced blobs removed (and, with vacuum,
/// the database file shrunk).
pub async fn store_compact(AxState(st): St, Manager(cur): Manager, JsonBody(c): JsonBody<Compact>) -> ApiResult {
    require_admin(&cur.user)?;
    Ok(Json(json!(st.admin.store_compact(c.vacuum).await?)))
}

#[derive(Deserialize)]
pub struct SmsTest {
    number: String,
}

/// `caravel sms test NUMBER`: a test code through the webhook.
pub async fn sms_test(AxState(st): St, Manager(cur): Manager, JsonBody(t): JsonBody<SmsTest>) -> ApiResult {
    require_admin(&cur.user)?;
    let sms =
        st.sms.as_ref().ok_or_else(|| ApiError::new(StatusCode::NOT_IMPLEMENTED, "[sms] webhook_url is not set."))?;
    let number = caravel_admin::e164(&t.number).map_err(|e| ApiError::bad_request(e.0))?;
    let code = sms.send_test(&number).await.map_err(ApiError::bad_request)?;
    Ok(Json(json!({ "sent_to": number, "code": code })))
}

// ---- mail rules ----

pub async fn rules(AxState(st): St, Full(cur): Full, Path(address): Path<String>) -> ApiResult {
    let user = changeable(&st, &cur, &address).await?;
    Ok(Json(json!(manage::rules(st.store.as_ref(), &account_scope(user.id)).await.map_err(refused)?)))
}

pub async fn add_rule(
    AxState(st): St,
    Full(cur): Full,
    Path(address): Path<String>,
    JsonBody(form): JsonBody<RuleForm>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = changeable(&st, &cur, &address).await?;
    let id = manage::add_rule(st.store.as_ref(), &account_scope(user.id), form).await.map_err(ApiError::bad_request)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

pub async fn del_rule(AxState(st): St, Full(cur): Full, Path((address, id)): Path<(String, u64)>) -> ApiResult {
    let user = changeable(&st, &cur, &address).await?;
    if !manage::del_rule(st.store.as_ref(), &account_scope(user.id), id).await.map_err(refused)? {
        return Err(ApiError::not_found(format!("{} has no rule {id}", user.address)));
    }
    Ok(Json(json!({ "deleted": id })))
}

// ---- filter rules: allow and block lists, keyword rules ----

/// Whether `cur` may see and change rules of `scope` ("" the server's,
/// "@domain", or an address).
async fn may_rule(st: &State, cur: &Current, scope: &str) -> Result<(), ApiError> {
    match scope {
        "" => require_admin(&cur.user),
        s if s.starts_with('@') => require(&cur.user, &s[1..]),
        address => changeable(st, cur, address).await.map(|_| ()),
    }
}

/// Rules a caller sees: all (admin), its domain's and its users' (domain
/// admin), its own (user).
fn sees_rule(user: &User, rule: &FilterRule) -> bool {
    match rule.scope.as_str() {
        "" => user.role == Role::Admin,
        s if s.starts_with('@') => manages(user, &s[1..]),
        address => address.eq_ignore_ascii_case(&user.address) || manages(user, domain_of(address)),
    }
}

pub async fn filter_rules(AxState(st): St, Full(cur): Full) -> ApiResult {
    let rules: Vec<FilterRule> =
        st.store.filter_rules().await?.into_iter().filter(|r| sees_rule(&cur.user, r)).collect();
    Ok(Json(json!(rules)))
}

#[derive(Deserialize)]
pub struct NewRule {
    kind: String,
    pattern: String,
    place: Option<String>,
    action: Option<String>,
    /// "" for the server, "@domain" (or "domain"), an address; absent: the
    /// caller's own address.
    scope: Option<String>,
}

/// The stored form of a scope as typed.
fn scope_key(given: Option<&str>, own: &str) -> String {
    match given.map(str::trim) {
        None => own.to_lowercase(),
        Some("") => String::new(),
        Some(s) if s.contains('@') && !s.starts_with('@') => {
            caravel_store::Address::parse(s).map(|a| a.to_string().to_lowercase()).unwrap_or_else(|_| s.to_lowercase())
        }
        Some(s) => format!("@{}", s.trim_start_matches('@').to_ascii_lowercase()),
    }
}

pub async fn add_filter_rule(
    AxState(st): St,
    Full(cur): Full,
    JsonBody(r): JsonBody<NewRule>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scope = scope_key(r.scope.as_deref(), &cur.user.address);
    may_rule(&st, &cur, &scope).await?;
    if let Some(d) = scope.strip_prefix('@') {
        if !st.store.list_domains().await?.iter().any(|k| k.name == d) {
            return Err(ApiError::not_found(format!("no domain {d}")));
        }
    }
    let rule = caravel_filter::rules::new_rule(&r.kind, &r.pattern, r.place.as_deref(), r.action.as_deref(), scope)
        .map_err(ApiError::bad_request)?;
    let saved = caravel_filter::rules::add(st.store.as_ref(), rule).await.map_err(ApiError::bad_request)?;
    Ok((StatusCode::CREATED, Json(json!(saved))))
}

pub async fn del_filter_rule(AxState(st): St, Full(cur): Full, Path(id): Path<i64>) -> ApiResult {
    let rules = st.store.filter_rules().await?;
    let rule = rules
        .into_iter()
        .find(|r| r.id == id && sees_rule(&cur.user, r))
        .ok_or_else(|| ApiError::not_found(format!("no filter rule {id}")))?;
    may_rule(&st, &cur, &rule.scope).await?;
    st.store.del_filter_rule(&rule.kind, &rule.pattern, &rule.scope).await?;
    Ok(Json(json!({ "deleted": id })))
}

// ---- the quarantine ----

/// The recipients of `held` the caller answers for: all (admin), those of
/// its domain except accounts that outrank it, and the outside addresses
/// an alias of its domain forwarded the copy to (domain admin; all the
/// aliases are shown, since the copy was each one's), itself
/// (user). Nobody but the server's administrator handles a virus: the
/// sender was refused, the copy is kept for the administrator alone.
fn own_recipients(user: &User, outranking: &[String], held: &Held) -> Vec<String> {
    if held.kind == HeldKind::Virus && user.role != Role::Admin {
        return Vec::new();
    }
    held.recipients
        .iter()
        .filter(|r| match user.role {
            Role::Admin => true,
            Role::DomainAdmin => match held.via.get(*r) {
                Some(aliases) => aliases.iter().any(|a| manages(user, domain_of(a))),
                None => manages(user, domain_of(r)) && !outranking.iter().any(|o| same_recipient(o, r)),
            },
            Role::User => same_recipient(r, &user.address),
        })
        .cloned()
        .collect()
}

/// A held message as the caller may see it: the recipients it answers
/// for only (the others, Bcc included, are none of its business).
/// Their verdicts only, too: another recipient's reason would tell its
/// rules and lists; so would the verdict another alias's filter gave an
/// outside copy, to a domain administrator of this one.
fn shown(user: &User, mut held: Held, mine: Vec<String>) -> Held {
    if user.role != Role::Admin {
        held.via.retain(|r, _| mine.contains(r));
        held.verdicts.retain(|r, _| mine.iter().any(|m| same_recipient(m, r)));
        let kind = held.kind;
        for v in held.verdicts.values_mut().filter(|v| !v.alias.is_empty() && !manages(user, domain_of(&v.alias))) {
            *v = HeldVerdict { reason: kind.held_as().to_string(), ..HeldVerdict::default() };
        }
        held.recipients = mine;
    }
    // The reasons of the recipients still held (and shown) only.
    held.reason = match user.role {
        Role::Admin => held.reason_for(&held.recipients),
        _ => held.reason_told_to(&held.recipients),
    };
    held
}

pub async fn quarantine(AxState(st): St, Full(cur): Full) -> ApiResult {
    let above = outranking(&st, &cur).await?;
    let mut out = Vec::new();
    for h in st.store.held().await? {
        let mine = own_recipients(&cur.user, &above, &h);
        if !mine.is_empty() {
            out.push(shown(&cur.user, h, mine));
        }
    }
    Ok(Json(json!(out)))
}

/// A held message the caller may act on, and the recipients it acts for.
async fn held_for(st: &State, cur: &Current, id: i64) -> Result<(Held, Vec<u8>, Vec<String>), ApiError> {
    let not_found = || ApiError::not_found(format!("no held message {id}"));
    let (held, raw) = st.store.held_message(id).await?.ok_or_else(not_found)?;
    let mine = own_recipients(&cur.user, &outranking(st, cur).await?, &held);
    if mine.is_empty() {
        return Err(not_found());
    }
    Ok((held, raw, mine))
}

/// The most of a held message's text shown (its source, as text).
const HELD_TEXT: usize = 256 * 1024;

pub async fn held_message(AxState(st): St, Full(cur): Full, Path(id): Path<i64>) -> ApiResult {
    let (held, raw, mine) = held_for(&st, &cur, id).await?;
    // An older held message has the first recipient's X-Spam fields in
    // its text.
    let raw = match held.is_older() && cur.user.role != Role::Admin {
        true => caravel_filter::verdict_fields::strip_verdicts(&raw).into_owned(),
        false => raw,
    };
    let held = shown(&cur.user, held, mine);
    // The text with the X-Spam fields of the caller's copies on top, when
    // they are the same for all of them (each recipient's are in
    // `verdicts`).
    let fields = match held.recipients.iter().map(|r| held.fields_of(r)).collect::<Vec<_>>().as_slice() {
        [first, rest @ ..] if rest.iter().all(|f| f == first) => first.to_string(),
        _ => String::new(),
    };
    // Only what is shown is copied (a held message may be 50 MB).
    let total = fields.len() + raw.len();
    let shown_text: Vec<u8> = fields.bytes().chain(raw.iter().copied()).take(HELD_TEXT).collect();
    let text: String = String::from_utf8_lossy(&shown_text)
        .chars()
        .map(|c| if c.is_control() && !matches!(c, '\n' | '\r' | '\t') { '\u{fffd}' } else { c })
        .collect();
    Ok(Json(json!({ "held": held, "text": text, "truncated": total > HELD_TEXT })))
}

#[derive(Deserialize, Default)]
pub struct Release {
    #[serde(default)]
    force: bool,
}

/// Delivers a held message: to all its recipients still held (the
/// server's administrator), or to those the caller answers for, the
/// others' copy staying held. A suspicious attachment goes out only by an
/// administrator; a virus only by the server's, who says `force`.
pub async fn release(
    AxState(st): St,
    Full(cur): Full,
    Path(id): Path<i64>,
    JsonBody(r): JsonBody<Release>,
) -> ApiResult {
    let (held, _, mine) = held_for(&st, &cur, id).await?;
    if held.kind == HeldKind::Suspicious && cur.user.role == Role::User {
        return Err(ApiError::forbidden(format!(
            "Held message {id} was held for a risky attachment ({}); ask your administrator to release it.",
            held.reason_told_to(&mine)
        )));
    }
    if held.kind == HeldKind::Virus && !r.force {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Held message {id} carries a virus ({}); release it with force if you must.", held.reason),
        ));
    }
    let ops = ops(&st)?;
    let released = if cur.user.role == Role::Admin {
        // Whatever recipients are still held when the release claims it.
        ops.release(id, None).await.map_err(ApiError::bad_request)?
    } else {
        let mut to = Vec::new();
        for one in mine {
            match ops.release(id, Some(one)).await {
                Ok(went) => to.extend(went),
                // Those before went out: say so with the failure.
                Err(e) if !to.is_empty() => {
                    return Err(ApiError::bad_request(format!("released to {} only: {e}", to.join(", "))))
                }
                Err(e) => return Err(ApiError::bad_request(e)),
            }
        }
        to
    };
    Ok(Json(json!({ "released_to": released })))
}

/// How long a deletion keeps a release off (and the other way round).
const CLAIM_SECS: i64 = 600;

/// Deletes a held message (for the caller's recipients only: the others
/// keep their copy). Not while a release of it is under way.
pub async fn del_held(AxState(st): St, Full(cur): Full, Path(id): Path<i64>) -> ApiResult {
    let (_, _, mine) = held_for(&st, &cur, id).await?;
    if !st.store.claim_held(id, caravel_store::now_secs(), CLAIM_SECS).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("Held message {id} is being released.")));
    }
    let result = async {
        if cur.user.role == Role::Admin {
            st.store.unhold(id).await?;
        } else {
            for one in &mine {
                st.store.drop_held_recipient(id, one).await?;
            }
        }
        Ok::<_, caravel_store::StoreError>(())
    }
    .await;
    st.store.unclaim_held(id).await?;
    result?;
    Ok(Json(json!({ "deleted": id })))
}

// ---- an administrator's hand on an account's sign-in ----

/// Another account the caller administers. Its own second factor and app
/// passwords go through the self-service routes, which ask for the
/// password again: a stolen session alone must not turn 2FA off or mint a
/// lasting password.
async fn someone_else(st: &State, cur: &Current, address: &str) -> Result<User, ApiError> {
    let target = changeable(st, cur, address).await?;
    if target.id == cur.user.id {
        return Err(ApiError::forbidden(
            "For your own account use the security page (it asks for your password again).",
        ));
    }
    Ok(target)
}

/// Turns two-factor sign-in off (a lost phone and lost recovery codes).
pub async fn disable_two_factor(AxState(st): St, Manager(cur): Manager, Path(address): Path<String>) -> ApiResult {
    let target = someone_else(&st, &cur, &address).await?;
    st.admin.totp_disable(&target.address).await?;
    Ok(Json(json!({ "two_factor": false, "address": target.address })))
}

pub async fn user_app_passwords(AxState(st): St, Manager(cur): Manager, Path(address): Path<String>) -> ApiResult {
    let target = changeable(&st, &cur, &address).await?;
    Ok(Json(json!(st.admin.app_password_list(&target.address).await?)))
}

#[derive(Deserialize)]
pub struct AppPasswordName {
    name: String,
}

/// An app password made by an administrator for a user's device.
pub async fn add_user_app_password(
    AxState(st): St,
    Manager(cur): Manager,
    Path(address): Path<String>,
    JsonBody(n): JsonBody<AppPasswordName>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let target = someone_else(&st, &cur, &address).await?;
    let password = st.admin.app_password_add(&target.address, &n.name).await?;
    // Quiet access to a mailbox: on the record.
    tracing::warn!(by = %cur.user.address, account = %target.address, name = %n.name.trim(), "app password made by an administrator");
    Ok((StatusCode::CREATED, Json(json!({ "name": n.name.trim(), "password": password }))))
}

pub async fn del_user_app_password(
    AxState(st): St,
    Manager(cur): Manager,
    Path((address, name)): Path<(String, String)>,
) -> ApiResult {
    let target = changeable(&st, &cur, &address).await?;
    st.admin.app_password_del(&target.address, &name).await?;
    Ok(Json(json!({ "deleted": name })))
}

// ---- the company's holidays (for holiday auto-replies) ----

pub async fn holidays(AxState(st): St, Full(_): Full) -> ApiResult {
    Ok(Json(json!(manage::holidays(st.store.as_ref()).await.map_err(refused)?)))
}

#[derive(Deserialize)]
pub struct NewHoliday {
    name: String,
    from: String,
    until: String,
    #[serde(default)]
    calendar: String,
}

pub async fn add_holiday(AxState(st): St, Manager(cur): Manager, JsonBody(h): JsonBody<NewHoliday>) -> ApiResult {
    require_admin(&cur.user)?;
    let saved = manage::set_holiday(st.store.as_ref(), &h.name, &h.from, &h.until, &h.calendar)
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Json(json!({ "name": h.name.trim(), "holiday": saved })))
}

pub async fn del_holiday(AxState(st): St, Manager(cur): Manager, Path(name): Path<String>) -> ApiResult {
    require_admin(&cur.user)?;
    if !manage::del_holiday(st.store.as_ref(), name.trim()).await.map_err(refused)? {
        return Err(ApiError::not_found(format!("no holiday {name}")));
    }
    Ok(Json(json!({ "deleted": name })))
}

// ---- the spam filter ----

/// `[spam]` as configured; a domain admin sees its own domain's and users'
/// thresholds only.
pub async fn spam_settings(AxState(st): St, Manager(cur): Manager) -> ApiResult {
    let mut settings = ops(&st)?.spam_settings().await;
    if cur.user.role != Role::Admin {
        for (key, of) in [("domains", false), ("users", true)] {
            if let Some(map) = settings.get_mut(key).and_then(Value::as_object_mut) {
                map.retain(|k, _| manages(&cur.user, if of { domain_of(k) } else { k }));
            }
        }
    }
    Ok(Json(settings))
}

#[derive(Deserialize)]
pub struct Sample {
    /// The whole message (header and body).
    message: String,
    /// Whose rules, training and thresholds: the caller's own unless an
    /// administrator names another account; "" is the server's.
    user: Option<String>,
    #[serde(default)]
    spam: bool,
}

/// The account a classification or training is for: the caller itself; an
/// administrator may name an account it manages, or the server ("").
async fn sample_account(st: &State, cur: &Current, user: Option<&str>) -> Result<Option<(String, i64)>, ApiError> {
    match user.map(str::trim) {
        None => Ok(Some((cur.user.address.clone(), cur.user.id))),
        Some("") => require_admin(&cur.user).map(|_| None),
        Some(address) => {
            let target = changeable(st, cur, address).await?;
            Ok(Some((target.address, target.id)))
        }
    }
}

fn sample_bytes(message: String) -> Result<Vec<u8>, ApiError> {
    if message.trim().is_empty() {
        return Err(ApiError::bad_request("Give the whole message (header and body) in \"message\"."));
    }
    Ok(caravel_store::mime::to_crlf(message.into_bytes()))
}

/// What the filter would say of a message: verdict, score, and why.
pub async fn classify(AxState(st): St, Full(cur): Full, JsonBody(s): JsonBody<Sample>) -> ApiResult {
    let who = sample_account(&st, &cur, s.user.as_deref()).await?;
    Ok(Json(ops(&st)?.classify(sample_bytes(s.message)?, who).await))
}

/// Teaches the classifier a message as spam (`"spam": true`) or not.
pub async fn train(AxState(st): St, Full(cur): Full, JsonBody(s): JsonBody<Sample>) -> ApiResult {
    let who = sample_account(&st, &cur, s.user.as_deref()).await?;
    let report = ops(&st)?.train(sample_bytes(s.message)?, s.spam, who.map(|(_, id)| id)).await;
    Ok(Json(report.map_err(ApiError::bad_request)?))
}

// ---- antivirus, mail log, DNS (administrators) ----

pub async fn antivirus(AxState(st): St, Manager(cur): Manager) -> ApiResult {
    require_admin(&cur.user)?;
    Ok(Json(ops(&st)?.antivirus().await))
}

#[derive(Deserialize, Default)]
pub struct Update {
    from: Option<String>,
}

pub async fn antivirus_update(AxState(st): St, Manager(cur): Manager, JsonBody(u): JsonBody<Update>) -> ApiResult {
    require_admin(&cur.user)?;
    let result = ops(&st)?.antivirus_update(u.from).await.map_err(ApiError::bad_request)?;
    Ok(Json(json!({ "result": result })))
}

#[derive(Deserialize)]
pub struct LogParams {
    q: Option<String>,
    kind: Option<String>,
    /// Unix seconds.
    since: Option<i64>,
    last: Option<usize>,
}

/// The mail log: administrators see their domain's (or every) event;
/// a user its own.
pub async fn log(AxState(st): St, Full(cur): Full, Query(p): Query<LogParams>) -> ApiResult {
    let kind = match p.kind.as_deref().map(str::trim).filter(|k| !k.is_empty() && *k != "any") {
        None => None,
        Some(k) => Some(
            caravel_store::EventKind::parse(k)
                .or_else(|| serde_json::from_value(json!(k)).ok())
                .ok_or_else(|| ApiError::bad_request(format!("{k:?} is not a kind of event")))?,
        ),
    };
    let scope = visible(&st, &cur).await?;
    let query = crate::LogQuery {
        text: p.q,
        kind,
        since: p.since.map(|s| s.saturating_mul(1000)),
        last: p.last.unwrap_or(100).clamp(1, 1000),
    };
    Ok(Json(troubleshooter(&st)?.log(query, scope).await.map_err(ApiError::unavailable)?))
}

/// What DNS answers now for each record the domain needs.
pub async fn dns_check(AxState(st): St, Manager(cur): Manager, Path(name): Path<String>) -> ApiResult {
    require(&cur.user, &name)?;
    let records = st.admin.dns_records(&name, &st.setup).await?;
    Ok(Json(ops(&st)?.dns_check(records).await.map_err(ApiError::unavailable)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_read_as_stored() {
        assert_eq!(scope_key(None, "Li@Export.test"), "li@export.test");
        assert_eq!(scope_key(Some(""), "li@export.test"), "");
        assert_eq!(scope_key(Some("Export.test"), "x"), "@export.test");
        assert_eq!(scope_key(Some("@export.test"), "x"), "@export.test");
        assert_eq!(scope_key(Some("bob@export.test"), "x"), "bob@export.test");
    }
}
