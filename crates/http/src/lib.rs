//! The `http` and `https` listeners: the health check and the JSON API under
//! `/api/v1/` (web sign-in with a second factor, two-factor enrollment, app
//! passwords) that the web UI builds its pages on. axum over hyper, one
//! connection at a time from the `net` listeners.

mod admin_api;
mod api;
pub mod api_error;
mod autoconfig;
pub mod compose_message;
mod console_api;
mod cookie;
mod email_code;
mod metrics;
mod safe_html;
mod web;
mod webmail_api;
mod webmail_compose;
mod webmail_uploads;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use caravel_admin::Admin;
use caravel_auth::Authenticator;
use caravel_net::{Handler, Service, Session, Stream, Transport};
use caravel_store::Store;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

/// JSON bodies are small; anything larger is refused before it is read.
const MAX_BODY: usize = 64 * 1024;
/// A message to classify or learn, as JSON text (escaping can double it).
const MAX_MESSAGE_BODY: usize = 64 << 20;
/// A client that does not send its request head in this time is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handlers share.
pub struct State {
    pub hostname: String,
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
    pub admin: Admin,
    /// What mail programs are told to use (from the listeners).
    pub setup: caravel_admin::client_setup::ClientSetup,
    pub mta_sts: caravel_config::MtaSts,
    /// Who may read `/metrics`.
    pub metrics_allow: Vec<caravel_config::Network>,
    /// The data directory, whose size `/metrics` reports.
    pub data_dir: Option<std::path::PathBuf>,
    /// The doctor and trace (the binary provides them: they read the
    /// configuration, DNS and the mail log).
    pub troubleshoot: Option<Arc<dyn Troubleshoot>>,
    /// Text-message codes (`[sms] webhook_url`); None: not offered.
    pub sms: Option<Arc<dyn SmsSender>>,
    /// Every listener's address, which `/healthz` checks.
    pub listeners: Vec<std::net::SocketAddr>,
    /// Quarantine releases, the antivirus and live DNS checks (the binary
    /// provides them: they need the configuration and the network).
    pub ops: Option<Arc<dyn Operations>>,
    /// The ACME HTTP-01 answers being validated.
    pub acme: Option<Arc<caravel_net::tls::AcmeChallenges>>,
    /// Sending from the webmail (the binary provides the SMTP submission
    /// path); None: the webmail reads only.
    pub submission: Option<Arc<dyn Submission>>,
}

/// A message the webmail sends, through the same submission as port 587:
/// the sender check, the recipients' lookup and limits, the outbound
/// filter, the signature, DKIM and the queue.
#[async_trait]
pub trait Submission: Send + Sync {
    /// The largest message the server accepts (`[limits] max_message_size`).
    fn max_message_size(&self) -> u64;
    /// Submits `message` as `user`, from the browser at `peer`.
    async fn submit(
        &self,
        user: caravel_auth::SignedIn,
        peer: IpAddr,
        envelope: Envelope,
        message: Vec<u8>,
    ) -> Result<Submitted, SubmitRefused>;
}

/// MAIL FROM and RCPT TO.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub from: String,
    pub recipients: Vec<String>,
}

/// An accepted submission.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The queue id the SMTP reply named.
    pub queue_id: String,
    /// The message as it left (Date, Message-ID, the signature in it),
    /// without the trace fields: the copy for Sent.
    pub message: Vec<u8>,
}

/// A refused submission: the SMTP reply, and the recipient it was about.
#[derive(Debug, Clone)]
pub struct SubmitRefused {
    pub code: u16,
    /// The reply's text, its enhanced code first (`5.1.1 ...`).
    pub text: String,
    pub recipient: Option<String>,
}

/// The server operations behind the console that need more than the store:
/// the same code as `caravel quarantine release`, `caravel av update` and
/// `caravel dns --check`.
#[async_trait]
pub trait Operations: Send + Sync {
    /// Delivers a held message to its recipients, or to `only` that one
    /// (the others keep it held); the addresses it went to.
    async fn release(&self, id: i64, only: Option<String>) -> Result<Vec<String>, String>;
    /// The antivirus's state: `status`, `verdict`, `fix` as the doctor
    /// says them, and `signatures`, `updated`, `age_days`.
    async fn antivirus(&self) -> serde_json::Value;
    /// Installs new signatures (from `[antivirus] update_from` if None).
    async fn antivirus_update(&self, from: Option<String>) -> Result<String, String>;
    /// What DNS answers now for each record.
    async fn dns_check(&self, records: Vec<caravel_admin::dkim::DnsRecord>) -> Result<serde_json::Value, String>;
    /// `[spam]` as configured: the thresholds (the server's, each domain's
    /// and user's), the block-list zones, greylisting.
    async fn spam_settings(&self) -> serde_json::Value;
    /// The verdict the pipeline would give a message (for an account, by
    /// address and id: with its rules, training and thresholds).
    async fn classify(&self, raw: Vec<u8>, account: Option<(String, i64)>) -> serde_json::Value;
    /// Learns a message as spam or not, for an account or (None) the server.
    async fn train(&self, raw: Vec<u8>, spam: bool, account: Option<i64>) -> Result<serde_json::Value, String>;
}

/// Sends a sign-in code by text message (the binary provides the webhook).
#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send_code(&self, to: &str, code: &str) -> Result<(), String>;
    /// A test message with a code of its own (which it returns).
    async fn send_test(&self, to: &str) -> Result<String, String>;
}

/// Which messages `caravel trace` follows.
#[derive(Debug, Clone)]
pub enum TraceQuery {
    MessageId(String),
    From(String),
    To(String),
}

/// The troubleshooter behind `/api/v1/doctor` and `/api/v1/trace`: the
/// same checks and traces as `caravel doctor` and `caravel trace`, as the
/// JSON they print with `--json`.
#[async_trait]
pub trait Troubleshoot: Send + Sync {
    /// The server's checks (None) or one account's; `server_parts`: with
    /// the antivirus and quarantine checks (for the server's administrator).
    async fn doctor(&self, address: Option<String>, server_parts: bool) -> Result<serde_json::Value, String>;
    /// `scope`: only events whose sender or recipient is this address, or
    /// in this domain (no `@`); None: every event.
    async fn trace(&self, query: TraceQuery, last: usize, scope: Option<Visible>) -> Result<serde_json::Value, String>;
    /// The mail log's newest events that match, newest first; `scope` as
    /// for `trace`.
    async fn log(&self, query: LogQuery, scope: Option<Visible>) -> Result<serde_json::Value, String>;
}

/// The part of the mail log a caller sees: the events of an address (a
/// user) or a domain (its administrator), less those of `hidden` accounts
/// (administrators who outrank the caller).
#[derive(Debug, Clone)]
pub struct Visible {
    pub of: String,
    pub hidden: Vec<String>,
}

/// A search of the mail log.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// An address (sender or recipient) or a Message-ID.
    pub text: Option<String>,
    pub kind: Option<caravel_store::EventKind>,
    /// Unix milliseconds.
    pub since: Option<i64>,
    pub last: usize,
}

/// Where a request came from (set per connection).
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub ip: IpAddr,
    /// Over TLS: session cookies get `Secure`.
    pub https: bool,
}

pub struct HttpServer {
    router: axum::Router,
}

impl HttpServer {
    pub fn new(state: State) -> HttpServer {
        let router = axum::Router::new()
            .route("/healthz", get(api::healthz))
            .route("/metrics", get(metrics::metrics))
            .route("/api/v1/openapi.json", get(openapi))
            .route("/mail/config-v1.1.xml", get(autoconfig::thunderbird))
            .route("/.well-known/autoconfig/mail/config-v1.1.xml", get(autoconfig::thunderbird))
            .route("/autodiscover/autodiscover.xml", post(autoconfig::outlook))
            .route("/Autodiscover/Autodiscover.xml", post(autoconfig::outlook))
            .route("/apple/mobileconfig", get(autoconfig::apple))
            .route("/.well-known/mta-sts.txt", get(autoconfig::mta_sts))
            .route("/.well-known/acme-challenge/{token}", get(acme_challenge))
            .route("/api/v1/session", post(api::sign_in).get(api::whoami).delete(api::sign_out))
            .route("/api/v1/session/totp", post(api::second_factor_totp))
            .route("/api/v1/session/recovery", post(api::second_factor_recovery))
            .route("/api/v1/session/email-code", post(api::send_email_code))
            .route("/api/v1/session/email", post(api::second_factor_email))
            .route("/api/v1/session/sms-code", post(api::send_sms_code))
            .route("/api/v1/session/sms", post(api::second_factor_email))
            .route("/api/v1/sign-out-everywhere", post(api::sign_out_everywhere))
            .route("/api/v1/password-reset", post(api::password_reset))
            .route("/api/v1/password-reset/confirm", post(api::password_reset_confirm))
            .route("/api/v1/password", post(api::change_password))
            .route("/api/v1/2fa/enroll", post(api::enroll))
            .route("/api/v1/2fa/qr.png", get(api::enroll_qr))
            .route("/api/v1/2fa/confirm", post(api::confirm))
            .route("/api/v1/app-passwords", get(api::app_passwords).post(api::add_app_password))
            .route("/api/v1/app-passwords/{name}", delete(api::del_app_password))
            .route("/api/v1/domains", get(admin_api::domains).post(admin_api::add_domain))
            .route("/api/v1/domains/{name}", delete(admin_api::del_domain))
            .route("/api/v1/domains/{name}/protocols", put(admin_api::domain_protocols))
            .route("/api/v1/domains/{name}/dkim", get(admin_api::dkim_keys).post(admin_api::dkim_generate))
            .route("/api/v1/domains/{name}/dkim/{selector}", delete(admin_api::dkim_del))
            .route("/api/v1/domains/{name}/dns", get(admin_api::dns_records))
            .route("/api/v1/queue", get(admin_api::queue))
            .route("/api/v1/queue/retry", post(admin_api::queue_retry_all))
            .route("/api/v1/queue/{id}/retry", post(admin_api::queue_retry))
            .route("/api/v1/queue/{id}", delete(admin_api::queue_del))
            .route("/api/v1/users", get(admin_api::users).post(admin_api::add_user))
            .route(
                "/api/v1/users/{address}",
                get(admin_api::user).patch(admin_api::patch_user).delete(admin_api::del_user),
            )
            .route("/api/v1/users/{address}/unlock", post(admin_api::unlock_user))
            .route("/api/v1/users/{address}/password", put(admin_api::set_password))
            .route("/api/v1/aliases", get(admin_api::aliases).post(admin_api::add_alias))
            .route("/api/v1/aliases/{alias}", delete(admin_api::del_alias))
            .route("/", get(web::index))
            .route("/index.html", get(web::index))
            .route("/mail", get(web::index))
            .route("/assets/app.js", get(web::script))
            .route("/assets/app.css", get(web::style))
            .route("/api/v1/mail/folders", get(webmail_api::folders))
            .route("/api/v1/mail/messages", get(webmail_api::messages))
            .route("/api/v1/mail/message", get(webmail_api::message))
            .route("/api/v1/mail/render", get(webmail_api::render))
            .route("/api/v1/mail/search", get(webmail_api::search))
            .route("/api/v1/mail/events", get(webmail_api::events))
            .route("/api/v1/mail/flags", post(webmail_api::flags))
            .route("/api/v1/mail/move", post(webmail_api::move_messages))
            .route("/api/v1/mail/delete", post(webmail_api::delete))
            .route("/api/v1/mail/empty", post(webmail_api::empty))
            .route("/api/v1/mail/folders/create", post(webmail_api::create_folder))
            .route("/api/v1/mail/folders/rename", post(webmail_api::rename_folder))
            .route("/api/v1/mail/folders/delete", post(webmail_api::delete_folder))
            .route("/api/v1/mail/attachment", get(webmail_api::attachment))
            .route("/api/v1/mail/inline", get(webmail_api::inline))
            .route("/api/v1/mail/images/trust", post(webmail_api::trust_images))
            .route("/api/v1/mail/compose", get(webmail_compose::compose_info))
            .route("/api/v1/mail/contacts", get(webmail_compose::contacts))
            .route("/api/v1/mail/signature", post(webmail_compose::signature))
            // Streamed to disk under the largest message's limit, not held.
            .route("/api/v1/mail/upload", post(webmail_uploads::upload).layer(DefaultBodyLimit::disable()))
            // A message being written: its text and HTML, up to a whole message.
            .route(
                "/api/v1/mail/draft",
                post(webmail_compose::save_draft).layer(DefaultBodyLimit::max(MAX_MESSAGE_BODY)),
            )
            .route("/api/v1/mail/send", post(webmail_compose::send).layer(DefaultBodyLimit::max(MAX_MESSAGE_BODY)))
            .route("/api/v1/setup", get(console_api::setup))
            .route("/api/v1/users/{address}/phone", put(console_api::set_phone))
            .route("/api/v1/users/{address}/signatures", get(console_api::signatures))
            .route("/api/v1/users/{address}/signatures/preview", post(console_api::preview_signature))
            .route(
                "/api/v1/users/{address}/signatures/{name}",
                put(console_api::set_signature).delete(console_api::del_signature),
            )
            .route("/api/v1/users/{address}/autoreplies", get(console_api::autoreplies))
            .route(
                "/api/v1/users/{address}/autoreplies/{name}",
                put(console_api::set_autoreply).delete(console_api::del_autoreply),
            )
            .route(
                "/api/v1/users/{address}/profile",
                get(console_api::user_profile).patch(console_api::patch_user_profile),
            )
            .route(
                "/api/v1/domains/{name}/profile",
                get(console_api::domain_profile).patch(console_api::patch_domain_profile),
            )
            .route("/api/v1/store/check", get(console_api::store_check))
            .route("/api/v1/store/compact", post(console_api::store_compact))
            .route("/api/v1/sms/test", post(console_api::sms_test))
            .route("/api/v1/users/{address}/rules", get(console_api::rules).post(console_api::add_rule))
            .route("/api/v1/users/{address}/rules/{id}", delete(console_api::del_rule))
            .route(
                "/api/v1/domains/{name}/footer",
                get(console_api::footer).put(console_api::set_footer).delete(console_api::del_footer),
            )
            .route("/api/v1/domains/{name}/dns/check", get(console_api::dns_check))
            .route("/api/v1/filter/rules", get(console_api::filter_rules).post(console_api::add_filter_rule))
            .route("/api/v1/filter/rules/{id}", delete(console_api::del_filter_rule))
            .route("/api/v1/quarantine", get(console_api::quarantine))
            .route("/api/v1/quarantine/{id}", get(console_api::held_message).delete(console_api::del_held))
            .route("/api/v1/quarantine/{id}/release", post(console_api::release))
            .route("/api/v1/users/{address}/2fa", delete(console_api::disable_two_factor))
            .route(
                "/api/v1/users/{address}/app-passwords",
                get(console_api::user_app_passwords).post(console_api::add_user_app_password),
            )
            .route("/api/v1/users/{address}/app-passwords/{name}", delete(console_api::del_user_app_password))
            .route("/api/v1/holidays", get(console_api::holidays).post(console_api::add_holiday))
            .route("/api/v1/holidays/{name}", delete(console_api::del_holiday))
            .route("/api/v1/spam/settings", get(console_api::spam_settings))
            // A whole message in the body: up to the largest accepted.
            .route("/api/v1/spam/classify", post(console_api::classify).layer(DefaultBodyLimit::max(MAX_MESSAGE_BODY)))
            .route("/api/v1/spam/train", post(console_api::train).layer(DefaultBodyLimit::max(MAX_MESSAGE_BODY)))
            .route("/api/v1/antivirus", get(console_api::antivirus))
            .route("/api/v1/antivirus/update", post(console_api::antivirus_update))
            .route("/api/v1/log", get(console_api::log))
            .route("/api/v1/doctor", get(admin_api::doctor))
            .route("/api/v1/doctor/{address}", get(admin_api::doctor_account))
            .route("/api/v1/trace", get(admin_api::trace))
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::from_fn(csrf_guard))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .layer(axum::middleware::map_response(no_store))
            .with_state(Arc::new(state));
        HttpServer { router }
    }
}

/// Requests that need no session, though a browser may send an old cookie
/// with them: signing in, and the forgotten-password flow.
const NO_SESSION: [&str; 3] = ["/api/v1/session", "/api/v1/password-reset", "/api/v1/password-reset/confirm"];

/// Every request that changes something and carries a session cookie must
/// carry the session's anti-forgery token too ([`cookie::csrf`]): a page
/// of another site can make the browser send the cookie, not the token.
async fn csrf_guard(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::Method;
    use axum::response::IntoResponse;
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    let exempt = req.method() == Method::POST && NO_SESSION.contains(&path);
    if changes && path.starts_with("/api/") && !exempt {
        if let Some(token) = cookie::token(req.headers()) {
            let given = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
            let want = cookie::csrf(&token);
            if !caravel_auth::constant_time_eq(given.as_bytes(), want.as_bytes()) {
                return api_error::ApiError::forbidden(
                    "This request lacks the page's X-CSRF-Token (from the sign-in answer or GET /api/v1/session).",
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}

/// A path that exists, asked with a method it does not take: the one JSON
/// error shape, naming the methods it does (from axum's Allow header).
async fn method_not_allowed(req: axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = req.uri().path().to_string();
    api_error::ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {} (see the Allow header, or /api/v1/openapi.json).", path, req.method()),
    )
    .into_response()
}

/// Answers carry secrets (codes, app passwords, the TOTP key): no cache
/// may keep them.
async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    response
}

/// An ACME HTTP-01 validation (RFC 8555 §8.3): the key authorization for
/// the token, as plain text; 404 for any other.
async fn acme_challenge(
    axum::extract::State(st): axum::extract::State<Arc<State>>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match st.acme.as_ref().and_then(|c| c.http(&token)) {
        Some(answer) => ([(axum::http::header::CONTENT_TYPE, "application/octet-stream")], answer).into_response(),
        None => (axum::http::StatusCode::NOT_FOUND, "no such challenge\n").into_response(),
    }
}

/// The API's description (OpenAPI 3), kept next to the routes it describes.
const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

fn plain_http_refused() -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::json!({ "error": "Sign-in works over HTTPS only: use the https:// address." });
    (axum::http::StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

impl HttpServer {
    /// Serves HTTP/1.1 requests over `stream` until it closes.
    pub async fn serve_connection<S: Transport + 'static>(&self, session: Session, stream: S) {
        let client = Client { ip: session.peer.ip(), https: session.service == Service::Https };
        let router = self.router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(client);
            let router = router.clone();
            async move {
                // Passwords and codes never cross the network in clear text:
                // plain HTTP serves the API to this machine only (a local
                // reverse proxy that terminates TLS).
                if req.uri().path().starts_with("/api/") && !client.https && !client.ip.is_loopback() {
                    return Ok(plain_http_refused());
                }
                router.oneshot(req.map(Body::new)).await
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let mut shutdown = session.shutdown.clone();
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => if let Err(e) = r {
                tracing::debug!(error = %e, "http connection ended");
            },
            _ = shutdown.requested() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }
}

#[async_trait]
impl Handler for HttpServer {
    async fn handle(&self, session: Session, stream: Stream) {
        self.serve_connection(session, stream).await
    }

    async fn refuse(&self, _service: Service, mut stream: Stream) {
        let body = "too many connections from your address\n";
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    /// Every route the router serves is described in openapi.json, and the
    /// other way round.
    #[test]
    fn openapi_describes_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).expect("valid JSON");
        let mut described: Vec<String> = doc["paths"].as_object().expect("paths").keys().cloned().collect();
        described.push("/api/v1/openapi.json".into());
        let source = include_str!("lib.rs");
        // Each `.route(` and the path string after it (on its line or the next).
        let code = source.split("#[cfg(test)]").next().unwrap_or("");
        let mut routed: Vec<String> = code
            .split(".route(")
            .skip(1)
            .filter_map(|rest| rest.trim_start().strip_prefix('"'))
            .filter_map(|l| l.split('"').next())
            .map(str::to_string)
            .collect();
        described.sort();
        routed.sort();
        assert_eq!(described, routed);
    }
}
