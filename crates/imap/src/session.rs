//! The IMAP session state machine (RFC 9051 §3): NotAuthenticated,
//! Authenticated, Selected (which owns the selected mailbox's view), Logout.
//! Commands in, response bytes out; the driver does the socket work.

use std::net::IpAddr;
use std::sync::Arc;

use caravel_auth::sasl::{self, SaslError};
use caravel_auth::{Authenticator, SignIn, SignedIn};
use caravel_store::{AccountId, Mailbox, SpecialUse, Store, StoreError};

use crate::command::{self, Command, StatusItem, Tagged};
use crate::fetch::string;
use crate::selected::Selected;
use crate::utf7;

pub struct Config {
    pub hostname: String,
    /// Signed-in sessions one account may have at once ([LIMIT] beyond).
    pub max_sessions_per_user: usize,
    /// BAD replies in a row after which the session is closed with BYE.
    pub max_bad: usize,
    /// Largest message APPEND accepts (APPENDLIMIT).
    pub max_message_size: u64,
}

/// What the server shares with every session.
pub struct Context {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
    /// Signed-in sessions per account.
    pub sessions: std::sync::Mutex<std::collections::HashMap<AccountId, usize>>,
}

impl Context {
    /// `auth` is shared with the other protocols: one set of password-check
    /// threads for the whole server.
    pub fn new(config: Config, store: Arc<dyn Store>, auth: Arc<Authenticator>) -> Context {
        Context { config, store, auth, sessions: Default::default() }
    }
}

/// Counts a signed-in session of an account until dropped.
pub(crate) struct SessionSlot {
    ctx: Arc<Context>,
    account: AccountId,
    _signed_in: caravel_metrics::Held,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut map = self.ctx.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.account) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.account);
            }
        }
    }
}

/// What the driver does after writing `out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Command,
    /// The next line is a SASL response for this tag.
    AuthResponse(String),
    StartTls,
    /// More of the answer to come: send `out`, then call [`Session::resume`].
    Resume,
    /// Compress both directions with DEFLATE from the next byte on (RFC 4978 §3).
    Compress,
    /// In IDLE for this tag: wait for DONE or a mailbox change.
    Idle(String),
    Close,
}

pub struct Step {
    pub out: Vec<u8>,
    pub next: Next,
    pub auth_failed: bool,
}

impl Step {
    pub(crate) fn new(out: Vec<u8>) -> Step {
        Step { out, next: Next::Command, auth_failed: false }
    }
}

pub(crate) enum State {
    NotAuthenticated,
    Authenticated(SignedIn),
    Selected(SignedIn, Box<Selected>),
    Logout,
}

pub struct Session {
    pub(crate) ctx: Arc<Context>,
    pub(crate) state: State,
    pub(crate) tls: bool,
    /// UTF8=ACCEPT enabled: mailbox names and strings in UTF-8 (RFC 9051 §6.3.1).
    pub(crate) utf8: bool,
    /// IMAP4rev2 enabled (RFC 9051 §2.1): UTF-8 names, ESEARCH, no RECENT.
    pub(crate) rev2: bool,
    pub(crate) condstore: bool,
    /// QRESYNC enabled (RFC 7162 §3.2.3): VANISHED replaces EXPUNGE.
    pub(crate) qresync: bool,
    /// COMPRESS=DEFLATE is active.
    compressed: bool,
    /// NOTIFY is set (RFC 5465).
    pub(crate) notify: Option<Box<crate::notify::Notify>>,
    bad: usize,
    _slot: Option<SessionSlot>,
    /// The client's address, for lockout and the address ban.
    peer: IpAddr,
}

pub(crate) fn tagged(tag: &str, status: &str, text: &str) -> Vec<u8> {
    format!("{tag} {status} {text}\r\n").into_bytes()
}

/// A mailbox name as the client sent it, made into the stored UTF-8 name.
pub(crate) fn mailbox_name(raw: &str, utf8: bool) -> Result<String, &'static str> {
    let name =
        if utf8 { raw.to_string() } else { utf7::decode(raw).ok_or("invalid modified UTF-7 in mailbox name")? };
    if name.eq_ignore_ascii_case("INBOX") {
        return Ok("INBOX".into());
    }
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.ends_with('/')
        || name.contains("//")
        || name.split('/').any(|p| p == "." || p == "..")
        || name.chars().any(|c| c.is_control() || c == '*' || c == '%');
    if bad {
        return Err("invalid mailbox name");
    }
    Ok(name)
}

impl Session {
    pub fn new(ctx: Arc<Context>, tls: bool, peer: IpAddr) -> Session {
        Session {
            peer,
            ctx,
            state: State::NotAuthenticated,
            tls,
            utf8: false,
            rev2: false,
            condstore: false,
            qresync: false,
            compressed: false,
            notify: None,
            bad: 0,
            _slot: None,
        }
    }

    pub fn greeting(&self) -> Vec<u8> {
        format!("* OK [CAPABILITY {}] {} Caravel IMAP ready\r\n", self.capabilities(), self.ctx.config.hostname)
            .into_bytes()
    }

    pub fn timeout_reply(&self) -> Vec<u8> {
        b"* BYE Autologout; idle for too long\r\n".to_vec()
    }

    pub fn shutdown_reply(&self) -> Vec<u8> {
        b"* BYE [UNAVAILABLE] Server shutting down\r\n".to_vec()
    }

    /// Waits for a change of the selected mailbox, or of anything NOTIFY
    /// watches (forever when there is neither).
    pub async fn idle_wait(&mut self) {
        match (&mut self.notify, &mut self.state) {
            (Some(n), State::Selected(_, s)) => tokio::select! {
                _ = n.changed() => {}
                _ = s.changed() => {}
            },
            (Some(n), _) => n.changed().await,
            (None, State::Selected(_, s)) => s.changed().await,
            (None, _) => std::future::pending().await,
        }
    }

    /// The untagged responses for changes, during IDLE (EXPUNGE allowed).
    pub async fn idle_sync(&mut self) -> Vec<u8> {
        let ctx = self.ctx.clone();
        let mut out = match &mut self.state {
            State::Selected(_, s) => s.sync(&ctx, true).await,
            _ => Vec::new(),
        };
        out.extend(self.notify_report().await);
        out
    }

    /// Whether NOTIFY is set: events are then sent between commands too.
    pub fn notify_active(&self) -> bool {
        self.notify.is_some()
    }

    /// Between commands with NOTIFY set: waits for an event it asked for
    /// (the selected mailbox's only with a SELECTED group).
    pub async fn notify_wait(&mut self) {
        let selected_events = self.notify.as_ref().and_then(|n| n.spec.selected()).is_some();
        match (&mut self.notify, &mut self.state) {
            (Some(n), State::Selected(_, s)) if selected_events => tokio::select! {
                _ = n.changed() => {}
                _ = s.changed() => {}
            },
            (Some(n), _) => n.changed().await,
            (None, _) => std::future::pending().await,
        }
    }

    /// What NOTIFY has to say now (RFC 5465 §5), outside any command.
    pub async fn notify_sync(&mut self) -> Vec<u8> {
        let ctx = self.ctx.clone();
        let selected_events = self.notify.as_ref().and_then(|n| n.spec.selected()).is_some();
        // SELECTED-DELAYED: expunges wait for a command (RFC 5465 §6).
        let expunges = !self.notify.as_ref().is_some_and(|n| n.spec.delayed);
        let mut out = match &mut self.state {
            State::Selected(_, s) if selected_events => s.sync(&ctx, expunges).await,
            _ => Vec::new(),
        };
        out.extend(self.notify_report().await);
        out
    }

    async fn notify_report(&mut self) -> Vec<u8> {
        let selected = match &self.state {
            State::Selected(_, s) => Some(s.mailbox.id),
            _ => None,
        };
        let utf8 = self.utf8;
        let store = self.ctx.store.clone();
        match &mut self.notify {
            Some(n) => n.report(&*store, selected, &|name| encode_mailbox_name(name, utf8)).await,
            None => Vec::new(),
        }
    }

    pub fn tls_started(&mut self) {
        self.tls = true;
    }

    pub fn capabilities(&self) -> String {
        let mut caps = vec!["IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "UIDPLUS", "MOVE"];
        caps.extend(["UNSELECT", "SPECIAL-USE", "NAMESPACE", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "ESEARCH"]);
        caps.extend(["CONDSTORE", "QUOTA", "QUOTA=RES-STORAGE", "UTF8=ACCEPT", "BINARY"]);
        caps.extend(["SORT", "SORT=DISPLAY", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "QRESYNC", "SEARCHRES"]);
        caps.extend(["MULTIAPPEND", "CATENATE", "URLAUTH", "URLAUTH=BINARY"]);
        caps.extend(["ESORT", "CONTEXT=SEARCH", "CONTEXT=SORT", "PARTIAL", "NOTIFY"]);
        if !self.compressed {
            caps.push("COMPRESS=DEFLATE");
        }
        let mut s = caps.join(" ");
        s.push_str(&format!(" APPENDLIMIT={}", self.ctx.config.max_message_size));
        if self.tls {
            if matches!(self.state, State::NotAuthenticated) {
                s.push_str(" AUTH=PLAIN");
            }
        } else {
            // RFC 9051 §6.2.3: no LOGIN and no AUTHENTICATE before TLS.
            s.push_str(" STARTTLS LOGINDISABLED");
        }
        s
    }

    /// A whole command from the receiver.
    pub async fn command(&mut self, input: &[u8]) -> Step {
        let cmd = match command::parse(input) {
            Ok(c) => c,
            // RFC 9051 §6.4.4: an unsupported charset is NO, not BAD.
            Err(e) if e.reason.starts_with("[BADCHARSET") && e.tag.is_some() => {
                return Step::new(tagged(e.tag.as_deref().unwrap_or("*"), "NO", &e.reason))
            }
            Err(e) => return self.bad(e.tag.as_deref().unwrap_or("*"), &e.reason),
        };
        let bad = self.bad;
        let started = std::time::Instant::now();
        let step = self.execute(cmd).await;
        caravel_metrics::global().imap_command_seconds.observe(caravel_metrics::since(started));
        // The limit is on BAD commands in a row, as Dovecot counts them: a
        // client that mixes in a wrong one now and then is not cut off.
        if self.bad == bad {
            self.bad = 0;
        }
        step
    }

    /// The next chunk of a command answered in parts (a large FETCH).
    pub async fn resume(&mut self) -> Step {
        let ctx = self.ctx.clone();
        match &mut self.state {
            State::Selected(_, sel) => match sel.fetching.take() {
                Some(job) => crate::fetch_run::run(&ctx, sel, job, Vec::new()).await,
                None => Step::new(Vec::new()),
            },
            _ => Step::new(Vec::new()),
        }
    }

    /// A command over the size limits.
    pub fn too_long(&mut self, tag: Option<&str>, literal: bool) -> Step {
        let text = if literal { "[TOOBIG] Literal too large" } else { "Command line too long" };
        match tag {
            Some(t) if literal => Step::new(tagged(t, "NO", text)),
            Some(t) => self.bad(t, text),
            None => self.bad("*", text),
        }
    }

    pub(crate) fn bad(&mut self, tag: &str, why: &str) -> Step {
        self.bad += 1;
        let mut out = tagged(tag, "BAD", why);
        if self.bad >= self.ctx.config.max_bad {
            out.extend_from_slice(b"* BYE Too many invalid commands\r\n");
            return Step { out, next: Next::Close, auth_failed: false };
        }
        Step::new(out)
    }

    async fn execute(&mut self, t: Tagged) -> Step {
        let tag = t.tag.clone();
        match (&self.state, &t.command) {
            (_, Command::Capability) => {
                let mut out = format!("* CAPABILITY {}\r\n", self.capabilities()).into_bytes();
                out.extend(tagged(&tag, "OK", "CAPABILITY completed"));
                Step::new(out)
            }
            (_, Command::Logout) => {
                self.state = State::Logout;
                let mut out = b"* BYE Logging out\r\n".to_vec();
                out.extend(tagged(&tag, "OK", "LOGOUT completed"));
                Step { out, next: Next::Close, auth_failed: false }
            }
            (_, Command::Id) => {
                let mut out = b"* ID (\"name\" \"Caravel\")\r\n".to_vec();
                out.extend(tagged(&tag, "OK", "ID completed"));
                Step::new(out)
            }
            (State::NotAuthenticated, Command::Noop) | (State::Authenticated(_), Command::Noop) => {
                Step::new(tagged(&tag, "OK", "NOOP completed"))
            }
            (State::NotAuthenticated, Command::StartTls) => {
                if self.tls {
                    return self.bad(&tag, "TLS is already active");
                }
                Step { out: tagged(&tag, "OK", "Begin TLS negotiation now"), next: Next::StartTls, auth_failed: false }
            }
            (State::NotAuthenticated, Command::Login { user, password }) => {
                if !self.tls {
                    return Step::new(tagged(&tag, "NO", "[PRIVACYREQUIRED] LOGIN is disabled before STARTTLS"));
                }
                let (u, p) = (user.clone(), password.clone());
                self.sign_in(&tag, &u, &p).await
            }
            (State::NotAuthenticated, Command::Authenticate { mechanism, initial }) => {
                if !self.tls {
                    return Step::new(tagged(
                        &tag,
                        "NO",
                        "[PRIVACYREQUIRED] Authentication is disabled before STARTTLS",
                    ));
                }
                if mechanism != "PLAIN" {
                    return Step::new(tagged(&tag, "NO", "Unsupported mechanism; use PLAIN"));
                }
                match initial.clone() {
                    Some(resp) => self.sasl_response(&tag, &resp).await,
                    None => Step { out: b"+ \r\n".to_vec(), next: Next::AuthResponse(tag), auth_failed: false },
                }
            }
            (State::NotAuthenticated, _) => self.bad(&tag, "Not allowed before sign-in"),
            (State::Logout, _) => Step { out: Vec::new(), next: Next::Close, auth_failed: false },
            (_, Command::Compress(mechanism)) => {
                // RFC 4978 §3: BAD for an unknown mechanism or COMPRESS twice.
                if mechanism != "DEFLATE" {
                    return self.bad(&tag, "Unknown compression mechanism; DEFLATE is supported");
                }
                if self.compressed {
                    return self.bad(&tag, "[COMPRESSIONACTIVE] DEFLATE is already active");
                }
                self.compressed = true;
                Step { out: tagged(&tag, "OK", "DEFLATE active"), next: Next::Compress, auth_failed: false }
            }
            (_, Command::StartTls | Command::Login { .. } | Command::Authenticate { .. }) => {
                self.bad(&tag, "Already signed in")
            }
            _ => self.authenticated(t).await,
        }
    }

    /// A SASL response line for a pending AUTHENTICATE.
    pub async fn sasl_response(&mut self, tag: &str, line: &str) -> Step {
        match sasl::plain(line) {
            Ok(c) => self.sign_in(tag, &c.username, &c.password).await,
            Err(SaslError::Cancelled) => self.bad(tag, "AUTHENTICATE cancelled"),
            Err(SaslError::Malformed) => self.bad(tag, "Cannot decode the response"),
            Err(SaslError::AuthzidNotAllowed) => {
                Step::new(tagged(tag, "NO", "[AUTHORIZATIONFAILED] Acting as another user is not allowed"))
            }
        }
    }

    async fn sign_in(&mut self, tag: &str, user: &str, password: &str) -> Step {
        let refused = |code: &str, text: &str, auth_failed: bool| Step {
            out: tagged(tag, "NO", &format!("[{code}] {text}")),
            next: Next::Command,
            auth_failed,
        };
        match self.ctx.auth.verify(user, password, self.peer, caravel_store::Protocol::Imap).await {
            Ok(SignIn::Ok(u)) => {
                {
                    let mut map = self.ctx.sessions.lock().unwrap_or_else(|e| e.into_inner());
                    let n = map.entry(u.account).or_insert(0);
                    if *n >= self.ctx.config.max_sessions_per_user {
                        return Step::new(tagged(tag, "NO", "[LIMIT] Too many sessions for this account"));
                    }
                    *n += 1;
                }
                self._slot = Some(SessionSlot {
                    ctx: self.ctx.clone(),
                    account: u.account,
                    _signed_in: caravel_metrics::Held::new(
                        &caravel_metrics::global().sessions_signed_in,
                        &[("protocol", "imap")],
                    ),
                });
                tracing::info!(user = %u.address, "signed in");
                self.state = State::Authenticated(u);
                let text = format!("[CAPABILITY {}] Signed in", self.capabilities());
                Step::new(tagged(tag, "OK", &text))
            }
            // RFC 5530 response codes.
            Ok(SignIn::Failed) => {
                tracing::info!(username = %user, "sign-in failed");
                refused("AUTHENTICATIONFAILED", "Authentication failed", true)
            }
            Ok(SignIn::AppPasswordRequired) => refused(
                "AUTHENTICATIONFAILED",
                "Two-factor sign-in is on for this account: create an app password for this mail program and use it instead",
                true,
            ),
            Ok(SignIn::Locked) => refused(
                "AUTHENTICATIONFAILED",
                "Account locked after too many failed sign-ins; try again later or ask your administrator",
                false,
            ),
            Ok(SignIn::Banned) => {
                refused("UNAVAILABLE", "Too many failed sign-ins from your address; try again later", false)
            }
            // RFC 5530: the user should contact the administrator.
            Ok(SignIn::ProtocolOff(p, address)) => {
                tracing::info!(user = %address, protocol = p.key(), "sign-in refused: protocol turned off");
                refused("CONTACTADMIN", &caravel_auth::protocol_off_text(p, &address), false)
            }
            // Before sign-in, the details go to the log only.
            Err(e) => {
                tracing::error!(error = %e, "sign-in could not be checked");
                Step::new(tagged(tag, "NO", "[UNAVAILABLE] Sign-in is not possible right now; try again later"))
            }
        }
    }

    pub fn signed_in(&self) -> bool {
        self.user().is_some()
    }

    pub(crate) fn user(&self) -> Option<&SignedIn> {
        match &self.state {
            State::Authenticated(u) | State::Selected(u, _) => Some(u),
            _ => None,
        }
    }

    pub(crate) fn encode_name(&self, name: &str) -> Vec<u8> {
        encode_mailbox_name(name, self.utf8)
    }

    pub(crate) async fn find_mailbox(&self, account: AccountId, name: &str) -> Result<Option<Mailbox>, StoreError> {
        Ok(self.ctx.store.mailboxes(account).await?.into_iter().find(|m| m.name == name))
    }

    /// Commands of the Authenticated state (and those valid in both).
    async fn authenticated(&mut self, t: Tagged) -> Step {
        let tag = t.tag.clone();
        let Some(user) = self.user().cloned() else { return self.bad(&tag, "Sign in first") };
        let utf8 = self.utf8;
        let name = |raw: &str| mailbox_name(raw, utf8);
        let read_only = matches!(t.command, Command::Examine { .. });
        let subscribe = matches!(t.command, Command::Subscribe { .. });
        match t.command {
            Command::Enable(caps) => {
                let mut enabled = Vec::new();
                for c in caps {
                    match c.as_str() {
                        "UTF8=ACCEPT" if !self.utf8 => {
                            self.utf8 = true;
                            enabled.push(c);
                        }
                        "IMAP4REV2" if !self.rev2 => {
                            self.rev2 = true;
                            self.utf8 = true;
                            enabled.push("IMAP4rev2".into());
                        }
                        "CONDSTORE" if !self.condstore => {
                            self.condstore = true;
                            enabled.push(c);
                        }
                        "QRESYNC" if !self.qresync => {
                            self.condstore = true;
                            self.qresync = true;
                            enabled.push(c);
                        }
                        _ => {}
                    }
                }
                if let State::Selected(_, sel) = &mut self.state {
                    sel.qresync = self.qresync;
                    sel.condstore = self.condstore;
                }
                let mut out = if enabled.is_empty() {
                    b"* ENABLED\r\n".to_vec()
                } else {
                    format!("* ENABLED {}\r\n", enabled.join(" ")).into_bytes()
                };
                out.extend(tagged(&tag, "OK", "ENABLE completed"));
                Step::new(out)
            }
            Command::Select { mailbox, condstore, qresync } | Command::Examine { mailbox, condstore, qresync } => {
                if qresync.is_some() && !self.qresync {
                    return self.bad(&tag, "ENABLE QRESYNC first");
                }
                // A new SELECT first leaves any selected mailbox, even when it
                // fails (RFC 9051 §6.3.2).
                let mut out = Vec::new();
                if matches!(self.state, State::Selected(..)) {
                    out.extend_from_slice(b"* OK [CLOSED] Previous mailbox closed\r\n");
                    self.state = State::Authenticated(user.clone());
                }
                let Ok(mb) = name(&mailbox) else {
                    out.extend(tagged(&tag, "NO", "Invalid mailbox name"));
                    return Step::new(out);
                };
                if condstore {
                    self.condstore = true;
                }
                match Selected::open(self, &user, &mb, read_only).await {
                    Ok((mut selected, text)) => {
                        out.extend(text);
                        // RFC 9051 §6.3.2: IMAP4rev2 also gets the mailbox's LIST line.
                        if self.rev2 {
                            let store = &self.ctx.store;
                            if let (Ok(all), Ok(subs)) =
                                (store.mailboxes(user.account).await, store.subscriptions(user.account).await)
                            {
                                out.extend(crate::list::selected_line(self, &all, subs, &selected.mailbox));
                            }
                        }
                        selected.qresync = self.qresync;
                        selected.condstore = self.condstore;
                        if let Some(q) = &qresync {
                            out.extend(selected.resync(&self.ctx, q).await);
                        }
                        let code = if read_only { "[READ-ONLY]" } else { "[READ-WRITE]" };
                        out.extend(tagged(
                            &tag,
                            "OK",
                            &format!("{code} {} completed", if read_only { "EXAMINE" } else { "SELECT" }),
                        ));
                        self.state = State::Selected(user, Box::new(selected));
                        Step::new(out)
                    }
                    Err(why) => {
                        out.extend(tagged(&tag, "NO", &why));
                        Step::new(out)
                    }
                }
            }
            Command::Create { mailbox } => {
                // RFC 9051 §6.3.4: a trailing separator says "will have children".
                let trimmed = mailbox.strip_suffix('/').unwrap_or(&mailbox);
                let Ok(mb) = name(trimmed) else { return Step::new(tagged(&tag, "NO", "Invalid mailbox name")) };
                if mb == "INBOX" {
                    return Step::new(tagged(&tag, "NO", "[ALREADYEXISTS] INBOX always exists"));
                }
                // Missing parents are created too (RFC 9051 §6.3.4).
                let mut path = String::new();
                let parts: Vec<&str> = mb.split('/').collect();
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        path.push('/');
                    }
                    path.push_str(part);
                    match self.ctx.store.create_mailbox(user.account, &path).await {
                        Ok(_) => {}
                        Err(StoreError::Conflict(_)) if i + 1 < parts.len() => {}
                        Err(StoreError::Conflict(_)) => {
                            return Step::new(tagged(&tag, "NO", "[ALREADYEXISTS] Mailbox already exists"))
                        }
                        Err(e) => return Step::new(tagged(&tag, "NO", &e.to_string())),
                    }
                }
                Step::new(tagged(&tag, "OK", "CREATE completed"))
            }
            Command::Delete { mailbox } => {
                let Ok(mb) = name(&mailbox) else { return Step::new(tagged(&tag, "NO", "Invalid mailbox name")) };
                if let State::Selected(_, s) = &self.state {
                    if s.mailbox.name == mb {
                        return Step::new(tagged(&tag, "NO", "[INUSE] Unselect the mailbox first"));
                    }
                }
                match self.ctx.store.delete_mailbox(user.account, &mb).await {
                    Ok(()) => Step::new(tagged(&tag, "OK", "DELETE completed")),
                    Err(StoreError::NotFound(_)) => Step::new(tagged(&tag, "NO", "[NONEXISTENT] No such mailbox")),
                    Err(e) => Step::new(tagged(&tag, "NO", &e.to_string())),
                }
            }
            Command::Rename { from, to } => {
                let (Ok(from), Ok(to)) = (name(&from), name(&to)) else {
                    return Step::new(tagged(&tag, "NO", "Invalid mailbox name"));
                };
                match self.ctx.store.rename_mailbox(user.account, &from, &to).await {
                    Ok(()) => Step::new(tagged(&tag, "OK", "RENAME completed")),
                    Err(StoreError::NotFound(_)) => Step::new(tagged(&tag, "NO", "[NONEXISTENT] No such mailbox")),
                    Err(StoreError::Conflict(_)) => Step::new(tagged(&tag, "NO", "[ALREADYEXISTS] Target exists")),
                    Err(StoreError::Invalid(why)) => Step::new(tagged(&tag, "NO", &format!("[CANNOT] {why}"))),
                    Err(e) => Step::new(tagged(&tag, "NO", &e.to_string())),
                }
            }
            Command::Subscribe { mailbox } | Command::Unsubscribe { mailbox } => {
                let on = subscribe;
                let Ok(mb) = name(&mailbox) else { return Step::new(tagged(&tag, "NO", "Invalid mailbox name")) };
                match self.ctx.store.set_subscribed(user.account, &mb, on).await {
                    Ok(()) => Step::new(tagged(&tag, "OK", "Done")),
                    Err(StoreError::NotFound(_)) => Step::new(tagged(&tag, "NO", "[NONEXISTENT] No such mailbox")),
                    Err(e) => Step::new(tagged(&tag, "NO", &e.to_string())),
                }
            }
            Command::List { reference, patterns, options } => {
                Step::new(crate::list::list(self, &user, &reference, &patterns, &options, &tag).await)
            }
            Command::Lsub { reference, pattern } => {
                let out = crate::list::lsub(self, &user, &reference, &pattern, &tag).await;
                Step::new(out)
            }
            Command::Namespace => {
                let mut out = b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n".to_vec();
                out.extend(tagged(&tag, "OK", "NAMESPACE completed"));
                Step::new(out)
            }
            Command::Status { mailbox, items } => {
                let Ok(mb) = name(&mailbox) else { return Step::new(tagged(&tag, "NO", "Invalid mailbox name")) };
                // RFC 7162 §3.1: STATUS (HIGHESTMODSEQ) turns CONDSTORE on.
                let first = if items.contains(&StatusItem::HighestModSeq) {
                    crate::selected::enable_condstore(self)
                } else {
                    Vec::new()
                };
                match self.find_mailbox(user.account, &mb).await {
                    Ok(Some(m)) => {
                        let mut out = first;
                        out.extend_from_slice(b"* STATUS ");
                        out.extend(self.encode_name(&m.name));
                        out.extend(format!(" ({})\r\n", status_items(&m, &items)).into_bytes());
                        out.extend(tagged(&tag, "OK", "STATUS completed"));
                        Step::new(out)
                    }
                    Ok(None) => Step::new(tagged(&tag, "NO", "[NONEXISTENT] No such mailbox")),
                    Err(e) => Step::new(tagged(&tag, "NO", &crate::errors::store_failure(&e))),
                }
            }
            Command::Append { mailbox, messages } => {
                let Ok(mb) = name(&mailbox) else { return Step::new(tagged(&tag, "NO", "Invalid mailbox name")) };
                crate::append::append(self, &user, &tag, &mb, messages).await
            }
            Command::Notify(None) => {
                self.notify = None;
                Step::new(tagged(&tag, "OK", "NOTIFY completed"))
            }
            Command::Notify(Some(req)) => {
                let spec = match crate::notify::Spec::from_request(req, self.utf8) {
                    Ok(s) => s,
                    Err(("BAD", why)) => return self.bad(&tag, &why),
                    Err((status, why)) => return Step::new(tagged(&tag, status, &why)),
                };
                let selected = match &self.state {
                    State::Selected(_, s) => Some(s.mailbox.id),
                    _ => None,
                };
                let utf8 = self.utf8;
                let encode = |name: &str| encode_mailbox_name(name, utf8);
                self.notify = None;
                match crate::notify::Notify::start(&*self.ctx.store, user.account, spec, selected, &encode).await {
                    Ok((notify, mut out)) => {
                        self.notify = Some(Box::new(notify));
                        out.extend(tagged(&tag, "OK", "NOTIFY completed"));
                        Step::new(out)
                    }
                    Err(e) => Step::new(tagged(&tag, "NO", &crate::errors::store_failure(&e))),
                }
            }
            Command::GenUrlAuth(pairs) => crate::urlauth::genurlauth(self, &user, &tag, &pairs).await,
            Command::UrlFetch(items) => crate::urlauth::urlfetch(self, &user, &tag, &items).await,
            Command::ResetKey { mailbox } => {
                let mb = match mailbox.as_deref().map(name) {
                    Some(Ok(m)) => Some(m),
                    Some(Err(_)) => return Step::new(tagged(&tag, "NO", "Invalid mailbox name")),
                    None => None,
                };
                crate::urlauth::resetkey(self, &user, &tag, mb.as_deref()).await
            }
            Command::GetQuotaRoot { mailbox } => {
                let Ok(mb) = name(&mailbox) else { return Step::new(tagged(&tag, "NO", "Invalid mailbox name")) };
                match self.find_mailbox(user.account, &mb).await {
                    Ok(Some(_)) => {}
                    Ok(None) => return Step::new(tagged(&tag, "NO", "[NONEXISTENT] No such mailbox")),
                    Err(e) => return Step::new(tagged(&tag, "NO", &crate::errors::store_failure(&e))),
                }
                let mut out = b"* QUOTAROOT ".to_vec();
                out.extend(self.encode_name(&mb));
                out.extend_from_slice(b" \"\"\r\n");
                out.extend(self.quota_line(&user).await);
                out.extend(tagged(&tag, "OK", "GETQUOTAROOT completed"));
                Step::new(out)
            }
            Command::GetQuota { root } => {
                if !root.is_empty() {
                    return Step::new(tagged(&tag, "NO", "[NONEXISTENT] No such quota root"));
                }
                let mut out = self.quota_line(&user).await;
                out.extend(tagged(&tag, "OK", "GETQUOTA completed"));
                Step::new(out)
            }
            Command::Idle if !matches!(self.state, State::Selected(..)) => {
                Step { out: b"+ idling\r\n".to_vec(), next: Next::Idle(tag), auth_failed: false }
            }
            _ => match &self.state {
                State::Selected(..) => crate::selected::execute(self, t).await,
                _ => self.bad(&tag, "Select a mailbox first"),
            },
        }
    }

    async fn quota_line(&self, user: &SignedIn) -> Vec<u8> {
        let address = caravel_store::Address::parse(&user.address);
        let account = match address {
            Ok(a) => self.ctx.store.get_user(&a).await.ok().flatten(),
            Err(_) => None,
        };
        match account.and_then(|a| a.quota.map(|q| (a.used, q))) {
            // RFC 9208: STORAGE in units of 1024 octets.
            Some((used, quota)) => {
                format!("* QUOTA \"\" (STORAGE {} {})\r\n", used.div_ceil(1024), quota / 1024).into_bytes()
            }
            None => Vec::new(),
        }
    }
}

/// A stored mailbox name as the client reads it: UTF-8 once UTF8=ACCEPT is
/// on, modified UTF-7 before (RFC 3501 §5.1.3).
pub(crate) fn encode_mailbox_name(name: &str, utf8: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let shown = if utf8 { name.to_string() } else { utf7::encode(name) };
    string(&mut out, shown.as_bytes());
    out
}

pub(crate) fn status_items(m: &Mailbox, items: &[StatusItem]) -> String {
    items
        .iter()
        .map(|i| match i {
            StatusItem::Messages => format!("MESSAGES {}", m.messages),
            StatusItem::Recent => format!("RECENT {}", m.recent),
            StatusItem::UidNext => format!("UIDNEXT {}", m.uidnext),
            StatusItem::UidValidity => format!("UIDVALIDITY {}", m.uidvalidity),
            StatusItem::Unseen => format!("UNSEEN {}", m.unseen),
            StatusItem::Deleted => format!("DELETED {}", m.deleted),
            StatusItem::Size => format!("SIZE {}", m.size),
            StatusItem::HighestModSeq => format!("HIGHESTMODSEQ {}", m.highestmodseq),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The special-use attribute of a mailbox (RFC 6154).
pub(crate) fn special_attribute(m: &Mailbox) -> Option<&'static str> {
    m.special_use.and_then(SpecialUse::attribute)
}
