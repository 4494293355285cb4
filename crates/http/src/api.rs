//! The JSON API of web sign-in (`/api/v1/...`). Every answer is JSON; an
//! error is `{"error": "what went wrong, in plain words"}`.
//!
//! Sign-in is two steps when two-factor sign-in is on: `POST /session` with
//! the password gives a session that only the second factor (`/session/totp`,
//! `/session/recovery` or `/session/email` after `/session/email-code`) can
//! complete. Wrong codes count as failed sign-ins (lockout and ban apply).

use std::sync::Arc;

use axum::extract::{Extension, FromRequest, FromRequestParts, Json, Path, State as AxState};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use caravel_auth::{secret_hash, totp, SignIn};
use caravel_store::{now_secs, User, WebSession};
use serde::Deserialize;
use serde_json::json;

use crate::api_error::ApiError;
use crate::{cookie, email_code, Client, State};

type St = AxState<Arc<State>>;

/// A signed-in web session lasts this long.
const SESSION_SECS: i64 = 12 * 3600;
/// The time to give the second factor after the password.
const PENDING_SECS: i64 = 600;
/// A password-reset code works this long.
const RESET_SECS: i64 = 900;
/// One reset code per account in this time.
const RESET_INTERVAL_SECS: i64 = 300;
/// Every refused credential is answered after this pause (as the mail
/// protocols do), so guessing is slow.
const FAILURE_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// A JSON body; a malformed one is refused in JSON too, like every error.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            // One status for a body the endpoint cannot take (axum tells
            // 415, 422 and 400 apart; a client needs only the words).
            Err(r) => {
                let status = match r.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                Err(error(status, &format!("This request is not what the endpoint takes: {}", r.body_text())))
            }
        }
    }
}

fn error(status: StatusCode, text: &str) -> Response {
    ApiError::new(status, text).into_response()
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    ApiError::unavailable(e).into_response()
}

/// 200 when the store answers and every listener accepts a connection.
pub async fn healthz(AxState(st): St) -> Response {
    if let Err(e) = st.store.list_domains().await {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}\n")).into_response();
    }
    for addr in &st.listeners {
        let at = caravel_net::reachable_at(*addr);
        let connect = tokio::time::timeout(HEALTH_TIMEOUT, tokio::net::TcpStream::connect(at)).await;
        if !matches!(connect, Ok(Ok(_))) {
            return (StatusCode::SERVICE_UNAVAILABLE, format!("listener {addr} does not accept connections\n"))
                .into_response();
        }
    }
    (StatusCode::OK, "ok\n").into_response()
}

/// How long `/healthz` waits for each listener.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The request's session and its account. `pending_ok`: a session still
/// waiting for its second factor will do.
pub struct Current {
    pub(crate) token_hash: String,
    pub(crate) session: WebSession,
    pub(crate) user: User,
}

/// A signed-in session (the second factor, if any, given).
pub struct Full(pub(crate) Current);
/// A session waiting for its second factor.
pub struct Pending(pub(crate) Current);

impl FromRequestParts<Arc<State>> for Full {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, st: &Arc<State>) -> Result<Self, Response> {
        current(st, &parts.headers, Want::Full).await.map(Full)
    }
}

impl FromRequestParts<Arc<State>> for Pending {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, st: &Arc<State>) -> Result<Self, Response> {
        // A banned address guesses no more codes, even on a session it has.
        if parts.extensions.get::<Client>().is_some_and(|c| st.auth.banned(c.ip)) {
            return Err(banned());
        }
        current(st, &parts.headers, Want::Pending).await.map(Pending)
    }
}

fn banned() -> Response {
    error(StatusCode::TOO_MANY_REQUESTS, "Too many failed sign-ins from your address. Try again later.")
}

/// Which session a request needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Signed in (the second factor, if any, given).
    Full,
    /// Waiting for its second factor.
    Pending,
    /// Either (who is this?).
    Any,
}

async fn current(st: &State, headers: &HeaderMap, want: Want) -> Result<Current, Response> {
    let Some(token) = cookie::token(headers) else {
        return Err(error(StatusCode::UNAUTHORIZED, "Not signed in."));
    };
    let token_hash = cookie::token_hash(&token);
    let session = st.store.web_session(&token_hash, now_secs()).await.map_err(unavailable)?;
    let Some(session) = session else {
        return Err(error(StatusCode::UNAUTHORIZED, "Not signed in (or the session has ended)."));
    };
    if session.pending && want == Want::Full {
        return Err(error(StatusCode::UNAUTHORIZED, "Finish signing in with your second factor first."));
    }
    if !session.pending && want == Want::Pending {
        return Err(error(StatusCode::CONFLICT, "Already signed in."));
    }
    let user = st.store.user_by_id(session.account).await.map_err(unavailable)?;
    let Some(user) = user else { return Err(error(StatusCode::UNAUTHORIZED, "The account no longer exists.")) };
    // A lock stops new sign-ins; a session signed in before it goes on (so
    // its owner can still sign out everywhere or revoke app passwords).
    if session.pending && user.locked_until.is_some_and(|t| t > now_secs()) {
        return Err(locked());
    }
    Ok(Current { token_hash, session, user })
}

/// Serializes one account's second-factor attempts and reads its state
/// again under that lock, so each of many parallel guesses sees the failures
/// counted before it (a burst gets no more tries than one at a time).
async fn gated(st: &State, mut cur: Current) -> Result<(tokio::sync::OwnedMutexGuard<()>, Current), Response> {
    let guard = st.auth.gate(cur.user.id).await;
    let now = now_secs();
    let session = st.store.web_session(&cur.token_hash, now).await.map_err(unavailable)?;
    let Some(session) = session.filter(|s| s.pending) else {
        return Err(error(StatusCode::UNAUTHORIZED, "This sign-in has ended; start again."));
    };
    let user = st.store.user_by_id(session.account).await.map_err(unavailable)?;
    let Some(user) = user else { return Err(error(StatusCode::UNAUTHORIZED, "The account no longer exists.")) };
    if user.locked_until.is_some_and(|t| t > now) {
        return Err(locked());
    }
    (cur.session, cur.user) = (session, user);
    Ok((guard, cur))
}

fn locked() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "This account is locked after too many failed sign-ins. Try again later or ask your administrator.",
    )
}

fn second_factors(st: &State, user: &User) -> Vec<&'static str> {
    let mut m = vec!["totp", "recovery"];
    if user.recovery.is_some() {
        m.push("email");
    }
    if user.phone.is_some() && st.sms.is_some() {
        m.push("sms");
    }
    m
}

#[derive(Deserialize)]
pub struct Credentials {
    address: String,
    password: String,
}

pub async fn sign_in(
    AxState(st): St,
    Extension(client): Extension<Client>,
    JsonBody(c): JsonBody<Credentials>,
) -> Response {
    let user = match st.auth.verify_web(&c.address, &c.password, client.ip).await {
        Err(e) => return unavailable(e),
        Ok(Err(SignIn::Locked)) => return locked(),
        Ok(Err(SignIn::Banned)) => return banned(),
        Ok(Err(_)) => {
            tokio::time::sleep(FAILURE_DELAY).await;
            return error(StatusCode::UNAUTHORIZED, "Wrong address or password.");
        }
        Ok(Ok(user)) => user,
    };
    let (token, now) = (cookie::new_token(), now_secs());
    let pending = user.totp_enabled;
    let lifetime = if pending { PENDING_SECS } else { SESSION_SECS };
    let session = WebSession {
        account: user.id,
        created: now,
        expires: now + lifetime,
        pending,
        code_hash: None,
        code_expires: 0,
        code_sent: 0,
        codes_sent: 0,
        code_failures: 0,
    };
    if let Err(e) = st.store.create_web_session(&cookie::token_hash(&token), session).await {
        return unavailable(e);
    }
    if !pending {
        let _ = st.auth.succeeded(&user).await;
    }
    let mut headers = HeaderMap::new();
    cookie::set(&mut headers, &client, &token, lifetime);
    let csrf = cookie::csrf(&token);
    let body = if pending {
        json!({ "signed_in": false, "address": user.address, "second_factor": second_factors(&st, &user), "csrf": csrf })
    } else {
        json!({ "signed_in": true, "address": user.address, "role": user.role, "csrf": csrf })
    };
    (StatusCode::OK, headers, Json(body)).into_response()
}

/// The second factor was right: a new, full session replaces the pending
/// one (a new token: whoever saw the pending cookie gains nothing).
async fn complete(st: &State, client: &Client, cur: Current) -> Response {
    let now = now_secs();
    let token = cookie::new_token();
    let session =
        WebSession { pending: false, code_hash: None, created: now, expires: now + SESSION_SECS, ..cur.session };
    if let Err(e) = st.store.create_web_session(&cookie::token_hash(&token), session).await {
        return unavailable(e);
    }
    if let Err(e) = st.store.delete_web_session(&cur.token_hash).await {
        return unavailable(e);
    }
    let _ = st.auth.succeeded(&cur.user).await;
    let mut headers = HeaderMap::new();
    cookie::set(&mut headers, client, &token, SESSION_SECS);
    let body =
        json!({ "signed_in": true, "address": cur.user.address, "role": cur.user.role, "csrf": cookie::csrf(&token) });
    (StatusCode::OK, headers, Json(body)).into_response()
}

/// A wrong code: counted as a failed sign-in.
async fn wrong_code(st: &State, client: &Client, user: &User, text: &str) -> Response {
    if let Err(e) = st.auth.second_factor_failed(user, client.ip).await {
        return unavailable(e);
    }
    tokio::time::sleep(FAILURE_DELAY).await;
    // 400, not 401: the session stands; the code was wrong.
    error(StatusCode::BAD_REQUEST, text)
}

#[derive(Deserialize)]
pub struct Code {
    code: String,
}

pub async fn second_factor_totp(
    AxState(st): St,
    Extension(client): Extension<Client>,
    Pending(cur): Pending,
    JsonBody(c): JsonBody<Code>,
) -> Response {
    let (_gate, cur) = match gated(&st, cur).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let state = match st.store.totp(cur.user.id).await {
        Ok(s) => s,
        Err(e) => return unavailable(e),
    };
    let Some(key) = state.secret.as_deref().and_then(totp::base32_decode).filter(|_| state.enabled) else {
        return error(StatusCode::BAD_REQUEST, "This account has no authenticator app.");
    };
    let now = now_secs();
    match totp::matching_step(&key, &c.code, now, state.last_step) {
        Some(step) => match st.store.use_totp_step(cur.user.id, step).await {
            Ok(true) => complete(&st, &client, cur).await,
            Ok(false) => {
                wrong_code(&st, &client, &cur.user, "That code was already used; wait for the next one.").await
            }
            Err(e) => unavailable(e),
        },
        None if totp::matching_step(&key, &c.code, now, i64::MIN).is_some() => {
            wrong_code(&st, &client, &cur.user, "That code was already used; wait for the next one.").await
        }
        None => wrong_code(&st, &client, &cur.user, "That code is not right.").await,
    }
}

/// A TOTP code or a recovery code of `user` (each taken once).
async fn second_factor_ok(st: &State, user: &User, code: &str, now: i64) -> Result<bool, caravel_store::StoreError> {
    let state = st.store.totp(user.id).await?;
    if let Some(key) = state.secret.as_deref().and_then(totp::base32_decode).filter(|_| state.enabled) {
        if let Some(step) = totp::matching_step(&key, code, now, state.last_step) {
            return st.store.use_totp_step(user.id, step).await;
        }
    }
    st.store.use_recovery_code(user.id, &secret_hash(code)).await
}

pub async fn second_factor_recovery(
    AxState(st): St,
    Extension(client): Extension<Client>,
    Pending(cur): Pending,
    JsonBody(c): JsonBody<Code>,
) -> Response {
    let (_gate, cur) = match gated(&st, cur).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    match st.store.use_recovery_code(cur.user.id, &secret_hash(&c.code)).await {
        Ok(true) => complete(&st, &client, cur).await,
        Ok(false) => wrong_code(&st, &client, &cur.user, "That recovery code is not right, or was used before.").await,
        Err(e) => unavailable(e),
    }
}

/// Where a sign-in code goes.
enum Channel {
    Email(String),
    Sms(String, Arc<dyn crate::SmsSender>),
}

pub async fn send_email_code(AxState(st): St, Pending(cur): Pending) -> Response {
    let Some(recovery) = cur.user.recovery.clone() else {
        return error(StatusCode::BAD_REQUEST, "This account has no recovery address to send a code to.");
    };
    send_code(&st, cur, Channel::Email(recovery)).await
}

pub async fn send_sms_code(AxState(st): St, Pending(cur): Pending) -> Response {
    let Some(sender) = st.sms.clone() else {
        return error(StatusCode::BAD_REQUEST, "Text-message codes are not set up on this server ([sms] webhook_url).");
    };
    let Some(phone) = cur.user.phone.clone() else {
        return error(StatusCode::BAD_REQUEST, "This account has no mobile number to send a code to.");
    };
    send_code(&st, cur, Channel::Sms(phone, sender)).await
}

/// One code per sign-in at a time, by email or text message: the same
/// limits either way (a resend pause, a few codes per sign-in, a few wrong
/// tries per code, ten minutes), checked by `second_factor_email`.
async fn send_code(st: &State, cur: Current, channel: Channel) -> Response {
    let (gate, mut cur) = match gated(st, cur).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let now = now_secs();
    if matches!(channel, Channel::Sms(..)) && !sms_allowed(st, cur.user.id, now).await {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many text messages for this account today; use the authenticator app or an emailed code.",
        );
    }
    if cur.session.codes_sent >= email_code::MAX_SENT {
        return error(StatusCode::TOO_MANY_REQUESTS, "Too many codes for this sign-in; start again later.");
    }
    if now - cur.session.code_sent < email_code::RESEND_SECS {
        return error(StatusCode::TOO_MANY_REQUESTS, "A code was just sent; wait a minute before asking again.");
    }
    let code = email_code::new_code();
    cur.session.code_hash = Some(secret_hash(&code));
    cur.session.code_expires = now + email_code::VALID_SECS;
    cur.session.code_sent = now;
    cur.session.codes_sent += 1;
    cur.session.code_failures = 0;
    if let Err(e) = st.store.update_web_session(&cur.token_hash, cur.session).await {
        return unavailable(e);
    }
    // Sending may wait on the SMS provider: the account's other sign-ins
    // (its mail programs) must not wait with it.
    drop(gate);
    let sent_to = match channel {
        Channel::Email(recovery) => {
            let message = email_code::code_message(&cur.user.address, &code);
            if let Err(e) = email_code::send(&st.store, &st.hostname, &recovery, message).await {
                return unavailable(e);
            }
            mask(&recovery)
        }
        Channel::Sms(phone, sender) => {
            if let Err(e) = sender.send_code(&phone, &code).await {
                tracing::warn!(user = %cur.user.address, error = %e, "cannot send a text-message code");
                return error(
                    StatusCode::BAD_GATEWAY,
                    "The text message could not be sent; try your authenticator app or an emailed code.",
                );
            }
            mask_phone(&phone)
        }
    };
    (StatusCode::ACCEPTED, Json(json!({ "sent_to": sent_to }))).into_response()
}

/// Text messages cost money and a sign-in's limits reset with a new
/// sign-in: at most this many per account per day, kept in memory, or in
/// the store when other nodes share it (they count together).
const SMS_PER_DAY: usize = 10;

async fn sms_allowed(st: &State, account: caravel_store::AccountId, now: i64) -> bool {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    if st.store.shared() {
        let name = format!("sms:{account}");
        return match st.store.add_events(&name, 1, SMS_PER_DAY as u64, now, 86_400).await {
            Ok(counted) => counted.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "the text-message limit could not be checked; none sent");
                false
            }
        };
    }
    static SENT: OnceLock<Mutex<HashMap<caravel_store::AccountId, Vec<i64>>>> = OnceLock::new();
    let mut sent = SENT.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    sent.retain(|_, times| {
        times.retain(|t| now - t < 86_400);
        !times.is_empty()
    });
    let times = sent.entry(account).or_default();
    if times.len() >= SMS_PER_DAY {
        return false;
    }
    times.push(now);
    true
}

/// `+86*******8000`.
fn mask_phone(phone: &str) -> String {
    let n = phone.chars().count();
    phone.chars().enumerate().map(|(i, c)| if i < 3 || i + 4 >= n { c } else { '*' }).collect()
}

/// `a***@example.com`: enough to recognise, not to harvest.
fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}

pub async fn second_factor_email(
    AxState(st): St,
    Extension(client): Extension<Client>,
    Pending(cur): Pending,
    JsonBody(c): JsonBody<Code>,
) -> Response {
    let (_gate, mut cur) = match gated(&st, cur).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let now = now_secs();
    let usable = cur.session.code_hash.is_some()
        && now < cur.session.code_expires
        && cur.session.code_failures < email_code::MAX_FAILURES;
    if usable && cur.session.code_hash.as_deref() == Some(secret_hash(c.code.trim()).as_str()) {
        return complete(&st, &client, cur).await;
    }
    if usable {
        cur.session.code_failures += 1;
        if let Err(e) = st.store.update_web_session(&cur.token_hash, cur.session.clone()).await {
            return unavailable(e);
        }
    }
    let text = if usable { "That code is not right." } else { "That code has expired or was used; ask for a new one." };
    wrong_code(&st, &client, &cur.user, text).await
}

pub async fn whoami(AxState(st): St, headers: HeaderMap) -> Response {
    let csrf = cookie::token(&headers).map(|t| cookie::csrf(&t));
    match current(&st, &headers, Want::Any).await {
        Ok(cur) => Json(json!({
            "address": cur.user.address,
            "signed_in": !cur.session.pending,
            "two_factor": cur.user.totp_enabled,
            "expires": cur.session.expires,
            "role": cur.user.role,
            "protocols": cur.user.protocols,
            "csrf": csrf,
            // While waiting for the second factor: which ones it takes.
            "second_factor": cur.session.pending.then(|| second_factors(&st, &cur.user)),
        }))
        .into_response(),
        Err(r) => r,
    }
}

pub async fn sign_out(AxState(st): St, Extension(client): Extension<Client>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie::token(&headers) {
        if let Err(e) = st.store.delete_web_session(&cookie::token_hash(&token)).await {
            return unavailable(e);
        }
    }
    let mut out = HeaderMap::new();
    cookie::set(&mut out, &client, "", 0);
    (StatusCode::OK, out, Json(json!({ "signed_in": false }))).into_response()
}

#[derive(Deserialize)]
pub struct Everywhere {
    #[serde(default)]
    app_passwords: bool,
}

/// Signs the account out of every web session (and, if asked, revokes every
/// app password): for a lost phone or a password that leaked.
pub async fn sign_out_everywhere(AxState(st): St, Full(cur): Full, JsonBody(e): JsonBody<Everywhere>) -> Response {
    match st.store.revoke_all(cur.user.id, e.app_passwords).await {
        Ok(()) => Json(json!({ "signed_out": true, "app_passwords_revoked": e.app_passwords })).into_response(),
        Err(e) => unavailable(e),
    }
}

fn admin_error(e: caravel_admin::AdminError) -> Response {
    error(StatusCode::BAD_REQUEST, &e.0)
}

#[derive(Deserialize)]
pub struct Reauth {
    password: String,
}

/// Actions that give lasting access (a new app password, a new second
/// factor) ask for the password again: a stolen session cookie alone must
/// not be enough to keep the account.
async fn reauthenticate(st: &State, client: &Client, user: &User, password: &str) -> Result<(), Response> {
    match st.auth.verify_web(&user.address, password, client.ip).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(SignIn::Locked)) => Err(locked()),
        Ok(Err(SignIn::Banned)) => Err(banned()),
        Ok(Err(_)) => {
            tokio::time::sleep(FAILURE_DELAY).await;
            Err(error(StatusCode::FORBIDDEN, "Your password is needed for this, and that one is not right."))
        }
        Err(e) => Err(unavailable(e)),
    }
}

#[derive(Deserialize)]
pub struct PasswordChange {
    /// The current password.
    password: String,
    new_password: String,
}

/// A user changes its own password, giving the current one. Every web
/// session and app password ends with it (this one too: sign in again).
pub async fn change_password(
    AxState(st): St,
    Extension(client): Extension<Client>,
    Full(cur): Full,
    JsonBody(c): JsonBody<PasswordChange>,
) -> Response {
    if let Err(r) = reauthenticate(&st, &client, &cur.user, &c.password).await {
        return r;
    }
    if let Err(e) = st.admin.user_passwd(&cur.user.address, &c.new_password).await {
        return admin_error(e);
    }
    let mut headers = HeaderMap::new();
    cookie::set(&mut headers, &client, "", 0);
    (StatusCode::OK, headers, Json(json!({ "password_changed": true, "signed_in": false }))).into_response()
}

pub async fn enroll(
    AxState(st): St,
    Extension(client): Extension<Client>,
    Full(cur): Full,
    JsonBody(r): JsonBody<Reauth>,
) -> Response {
    if let Err(r) = reauthenticate(&st, &client, &cur.user, &r.password).await {
        return r;
    }
    match st.admin.totp_enroll(&cur.user.address).await {
        Ok(e) => Json(json!({ "uri": e.uri, "secret": e.secret, "qr": "/api/v1/2fa/qr.png" })).into_response(),
        Err(e) => admin_error(e),
    }
}

pub async fn enroll_qr(AxState(st): St, Full(cur): Full) -> Response {
    let uri = match st.admin.pending_enrollment_uri(&cur.user.address).await {
        Ok(u) => u,
        Err(e) => return admin_error(e),
    };
    match caravel_auth::qr::png(&uri, 6) {
        Ok(png) => ([(CONTENT_TYPE, "image/png")], png).into_response(),
        Err(e) => unavailable(e),
    }
}

pub async fn confirm(AxState(st): St, Full(cur): Full, JsonBody(c): JsonBody<Code>) -> Response {
    match st.admin.totp_confirm(&cur.user.address, &c.code, now_secs()).await {
        Ok(codes) => Json(json!({ "two_factor": true, "recovery_codes": codes })).into_response(),
        Err(e) => admin_error(e),
    }
}

pub async fn app_passwords(AxState(st): St, Full(cur): Full) -> Response {
    match st.admin.app_password_list(&cur.user.address).await {
        Ok(list) => Json(json!(list)).into_response(),
        Err(e) => admin_error(e),
    }
}

#[derive(Deserialize)]
pub struct NewAppPassword {
    name: String,
    /// The account password, asked again.
    password: String,
}

pub async fn add_app_password(
    AxState(st): St,
    Extension(client): Extension<Client>,
    Full(cur): Full,
    JsonBody(n): JsonBody<NewAppPassword>,
) -> Response {
    if let Err(r) = reauthenticate(&st, &client, &cur.user, &n.password).await {
        return r;
    }
    match st.admin.app_password_add(&cur.user.address, &n.name).await {
        Ok(password) => {
            (StatusCode::CREATED, Json(json!({ "name": n.name.trim(), "password": password }))).into_response()
        }
        Err(e) => admin_error(e),
    }
}

pub async fn del_app_password(AxState(st): St, Full(cur): Full, Path(name): Path<String>) -> Response {
    match st.admin.app_password_del(&cur.user.address, &name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, &e.0),
    }
}

#[derive(Deserialize)]
pub struct ResetRequest {
    address: String,
}

/// Self-service "forgot password": a one-time code to the recovery address,
/// valid 15 minutes, at most one every 5 minutes. The answer is the same,
/// and as fast, whether or not the account exists or has a recovery address
/// (the work happens after the answer): no account discovery.
pub async fn password_reset(
    AxState(st): St,
    Extension(client): Extension<Client>,
    JsonBody(r): JsonBody<ResetRequest>,
) -> Response {
    if st.auth.banned(client.ip) {
        return banned();
    }
    tokio::spawn(async move {
        if let Err(e) = send_reset(&st, &r.address).await {
            tracing::warn!(error = %e, "password reset code not sent");
        }
    });
    (StatusCode::ACCEPTED, Json(json!({ "sent": "if the account has a recovery address, a reset code is on its way" })))
        .into_response()
}

async fn send_reset(st: &State, address: &str) -> Result<(), String> {
    let Ok(address) = caravel_store::Address::parse(address) else { return Ok(()) };
    let Some(user) = st.store.get_user(&address).await.map_err(|e| e.to_string())? else { return Ok(()) };
    let Some(recovery) = user.recovery.clone() else { return Ok(()) };
    let (token, now) = (cookie::new_token(), now_secs());
    let made = st
        .store
        .create_reset_token(&cookie::token_hash(&token), user.id, now, now + RESET_SECS, now - RESET_INTERVAL_SECS)
        .await
        .map_err(|e| e.to_string())?;
    if made {
        email_code::send(&st.store, &st.hostname, &recovery, email_code::reset_message(&user.address, &token)).await?;
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct ResetConfirm {
    token: String,
    password: String,
    /// With two-factor sign-in on: a code from the app or a recovery code.
    /// The recovery mailbox alone must not be enough to take the account.
    #[serde(default)]
    code: Option<String>,
}

/// Sets the new password with a reset code; every web session of the
/// account ends (the password change does it).
pub async fn password_reset_confirm(
    AxState(st): St,
    Extension(client): Extension<Client>,
    JsonBody(r): JsonBody<ResetConfirm>,
) -> Response {
    let now = now_secs();
    let token = r.token.trim().to_ascii_lowercase();
    let token_hash = cookie::token_hash(&token);
    // Checked first, taken last: a refused password or second factor keeps
    // the code usable for another try.
    let refused = || async {
        tokio::time::sleep(FAILURE_DELAY).await;
        error(StatusCode::BAD_REQUEST, "That reset code is not right, was used, or has expired.")
    };
    let account = match st.store.reset_token_account(&token_hash, now).await {
        Ok(Some(a)) => a,
        Ok(None) => return refused().await,
        Err(e) => return unavailable(e),
    };
    let user = match st.store.user_by_id(account).await {
        Ok(Some(u)) => u,
        Ok(None) => return error(StatusCode::BAD_REQUEST, "The account no longer exists."),
        Err(e) => return unavailable(e),
    };
    if let Err(e) = caravel_auth::check_policy(&r.password, &user.address) {
        return error(StatusCode::BAD_REQUEST, &e);
    }
    let _gate = st.auth.gate(user.id).await;
    if user.totp_enabled {
        let ok = match r.code.as_deref() {
            Some(code) => match second_factor_ok(&st, &user, code, now).await {
                Ok(ok) => ok,
                Err(e) => return unavailable(e),
            },
            None => false,
        };
        if !ok {
            return wrong_code(
                &st,
                &client,
                &user,
                "This account has two-factor sign-in: give a code from the authenticator app, or a recovery code.",
            )
            .await;
        }
    }
    match st.store.take_reset_token(&token_hash, now).await {
        Ok(Some((taken, _))) if taken == account => {}
        Ok(_) => return refused().await,
        Err(e) => return unavailable(e),
    }
    match st.admin.user_passwd(&user.address, &r.password).await {
        Ok(()) => {
            tracing::info!(user = %user.address, ip = %client.ip, "password reset through the recovery address");
            // Whoever holds the recovery mailbox (and the second factor, if
            // any) may sign in again at once.
            let _ = st.admin.user_unlock(&user.address).await;
            // The account itself is told, so a reset it did not ask for shows.
            let notice = (
                "Your password was changed".to_string(),
                format!(
                    "The password of {} was reset through its recovery address, from {}.\r\n\
                     Every web session and app password was signed out. If this was not you, tell your\r\n\
                     administrator at once.\r\n",
                    user.address, client.ip
                ),
            );
            let _ = email_code::send(&st.store, &st.hostname, &user.address, notice).await;
            Json(json!({ "password_changed": true })).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, &e.0),
    }
}
