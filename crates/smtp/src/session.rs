//! The SMTP session state machine (RFC 5321 §4.1.4 command order): lines and
//! data in, replies and the next thing to read out. All socket work is the
//! driver's (`server.rs`); everything else the session asks of a [`Backend`].

use std::net::IpAddr;
use std::sync::Arc;

use caravel_auth::sasl::{self, SaslError};
use caravel_auth::{SignIn, SignedIn};
use caravel_store::{now_millis, now_secs, Address, Dsn, EventKind, MailEvent, RemoteRecipient};

use crate::backend::Folder;
use crate::backend::{Accepted, Backend, HeldRemote, LocalRecipient, Lookup};
use crate::command::{self, Command, ParseError};
use crate::data::{bare_line_ending, DataError, DataReceiver};
use crate::limits::{SendLimiter, SizeLimits};
use crate::pipeline::{MessageContext, Outcome, Pipeline, RecipientCtx, RecipientResult, Verdict};
use crate::received::{received_header, TraceInfo};
use crate::reply::Reply;

/// Which door the session came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Port 25: mail from the Internet for local domains; no AUTH.
    Mx,
    /// Port 587: STARTTLS, then AUTH, before any mail.
    Submission,
    /// Port 465: implicit TLS, then AUTH, before any mail.
    Submissions,
}

impl Kind {
    /// The listener's name in `[listen]`.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Mx => "smtp",
            Kind::Submission => "submission",
            Kind::Submissions => "submissions",
        }
    }
}

pub struct SessionConfig {
    pub hostname: String,
    pub kind: Kind,
    pub max_message_size: u64,
    pub max_recipients: usize,
    /// Errors after which the session is closed with 421.
    pub max_errors: usize,
    /// Longest message line, CRLF included (RFC 5321 §4.5.3.1.6: 1000).
    pub max_line_length: usize,
    /// Over-quota recipients get 552 5.2.2 instead of 452 4.2.2.
    pub over_quota_permanent: bool,
    /// Largest message per domain and per user.
    pub size_limits: SizeLimits,
    /// Recipients per signed-in user per hour (shared by all sessions).
    pub send_limiter: Arc<SendLimiter>,
}

/// What the driver reads after sending the replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Command,
    /// Message text up to `<CRLF>.<CRLF>`, through [`Session::data_receiver`].
    Data,
    /// Exactly `size` octets for BDAT, given to [`Session::bdat_piece`].
    Bdat {
        size: u64,
        last: bool,
    },
    /// A SASL response line (may be longer than a command line).
    AuthResponse,
    /// Discard anything buffered, then the TLS handshake.
    StartTls,
    Close,
}

#[derive(Debug)]
pub struct Step {
    pub replies: Vec<Reply>,
    pub next: Next,
    /// A failed sign-in: the driver waits before reading on.
    pub auth_failed: bool,
}

impl Step {
    fn reply(r: Reply) -> Step {
        Step { replies: vec![r], next: Next::Command, auth_failed: false }
    }
    fn then(r: Reply, next: Next) -> Step {
        Step { replies: vec![r], next, auth_failed: false }
    }
}

struct MailTx {
    from: String,
    declared_size: u64,
    smtputf8: bool,
    dsn: Dsn,
    local: Vec<LocalRecipient>,
    remote: Vec<RemoteRecipient>,
    /// For each of `remote`, the addresses it was sent to (aliases here
    /// that forward outside, on the MX listener): its copy is filtered as
    /// theirs, and held if any of them holds it. Empty for a bounce to an
    /// SRS address of ours (a copy we forwarded, coming back).
    remote_via: Vec<Vec<String>>,
    /// Recipient addresses as accepted, for the mail log and the filter.
    accepted: Vec<String>,
    bdat: Option<Bdat>,
}

struct Bdat {
    data: Vec<u8>,
    error: Option<DataError>,
    prev_cr: bool,
}

enum AuthPending {
    Plain,
    LoginUser,
    LoginPassword(String),
}

pub struct Session<B: Backend> {
    cfg: Arc<SessionConfig>,
    backend: Arc<B>,
    pipeline: Arc<Pipeline>,
    peer: IpAddr,
    id: String,
    tls: Option<String>,
    helo: Option<String>,
    esmtp: bool,
    user: Option<SignedIn>,
    tx: Option<MailTx>,
    auth: Option<AuthPending>,
    errors: usize,
    /// Messages accepted so far, for their ids.
    messages: u32,
}

impl<B: Backend> Session<B> {
    /// `tls` is the TLS description when the connection started with TLS.
    pub fn new(
        cfg: Arc<SessionConfig>,
        backend: Arc<B>,
        pipeline: Arc<Pipeline>,
        peer: IpAddr,
        id: String,
        tls: Option<String>,
    ) -> Session<B> {
        Session {
            cfg,
            backend,
            pipeline,
            peer,
            id,
            tls,
            helo: None,
            esmtp: false,
            user: None,
            tx: None,
            auth: None,
            errors: 0,
            messages: 0,
        }
    }

    /// A session for someone already signed in elsewhere (the webmail:
    /// password, second factor and lockout passed at the web sign-in),
    /// past EHLO: MAIL, RCPT and DATA then run every check port 587 runs.
    /// `how` describes the connection for the Received field and the log.
    pub fn signed_in_elsewhere(mut self, user: SignedIn, how: &str) -> Session<B> {
        self.tls = Some(how.to_string());
        self.helo = Some(self.cfg.hostname.clone());
        self.esmtp = true;
        self.user = Some(user);
        self
    }

    pub fn greeting(&self) -> Reply {
        Reply::plain(220, format!("{} ESMTP Caravel", self.cfg.hostname))
    }

    pub fn timeout_reply(&self) -> Reply {
        Reply::new(421, "4.4.2", format!("{} Timeout, closing connection", self.cfg.hostname))
    }

    pub fn shutdown_reply(&self) -> Reply {
        Reply::new(421, "4.3.2", format!("{} Service shutting down, try again later", self.cfg.hostname))
    }

    pub fn signed_in(&self) -> Option<&SignedIn> {
        self.user.as_ref()
    }

    pub fn data_receiver(&self) -> DataReceiver {
        DataReceiver::new(self.cfg.max_message_size, self.cfg.max_line_length)
    }

    /// After a successful STARTTLS handshake: forget everything learned
    /// before it (RFC 3207 §4.2); the client must say EHLO again.
    pub fn tls_started(&mut self, description: String) {
        self.tls = Some(description);
        self.helo = None;
        self.esmtp = false;
        self.tx = None;
        self.auth = None;
    }

    /// A command line longer than the limit.
    pub fn line_too_long(&mut self) -> Step {
        self.error(Reply::new(500, "5.5.2", "Line too long"))
    }

    /// Counts an error reply; too many close the session (STYLE: abuse limits).
    fn error(&mut self, r: Reply) -> Step {
        self.errors += 1;
        if self.errors >= self.cfg.max_errors {
            let bye = Reply::new(421, "4.7.0", format!("{} Too many errors, closing connection", self.cfg.hostname));
            return Step { replies: vec![r, bye], next: Next::Close, auth_failed: false };
        }
        Step::reply(r)
    }

    pub async fn line(&mut self, line: &[u8]) -> Step {
        if let Some(pending) = self.auth.take() {
            return self.auth_response(pending, line).await;
        }
        let cmd = match command::parse(line) {
            Ok(c) => c,
            Err(ParseError::Http) => return Step { replies: vec![], next: Next::Close, auth_failed: false },
            Err(ParseError::Unknown) => return self.error(Reply::new(500, "5.5.1", "Command unrecognized")),
            Err(ParseError::Encoding) => return self.error(Reply::new(500, "5.5.2", "Invalid UTF-8 in command")),
            Err(ParseError::Syntax(why)) => {
                return self.error(Reply::new(501, "5.5.4", format!("Syntax error: {why}")))
            }
        };
        match cmd {
            Command::Ehlo(name) => self.ehlo(name, true),
            Command::Helo(name) => self.ehlo(name, false),
            Command::Mail { from, params } => self.mail(from.address, params).await,
            Command::Rcpt { to, params } => self.rcpt(to.address, params).await,
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat_start(size, last),
            Command::Rset => {
                self.tx = None;
                Step::reply(Reply::new(250, "2.0.0", "Ok"))
            }
            Command::Noop => Step::reply(Reply::new(250, "2.0.0", "Ok")),
            Command::Quit => {
                Step::then(Reply::new(221, "2.0.0", format!("{} closing connection", self.cfg.hostname)), Next::Close)
            }
            // RFC 5321 §3.5.3: a server that will not verify says 252.
            Command::Vrfy(_) => {
                Step::reply(Reply::new(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery"))
            }
            Command::Expn(_) => Step::reply(Reply::new(502, "5.5.1", "EXPN not available")),
            Command::Help => Step::reply(Reply::new(
                214,
                "2.0.0",
                "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS AUTH",
            )),
            Command::StartTls => self.starttls(),
            Command::Auth { mechanism, initial } => self.auth(mechanism, initial).await,
        }
    }

    fn ehlo(&mut self, name: String, esmtp: bool) -> Step {
        self.helo = Some(name);
        self.esmtp = esmtp;
        self.tx = None;
        let host = &self.cfg.hostname;
        if !esmtp {
            return Step::reply(Reply::plain(250, host.clone()));
        }
        let mut lines = vec![
            format!("{host} Hello"),
            "PIPELINING".to_string(),
            format!("SIZE {}", self.cfg.max_message_size),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
            "CHUNKING".into(),
            "DSN".into(),
        ];
        if self.tls.is_none() {
            lines.push("STARTTLS".into());
        }
        // RFC 4954 §4 and RFC 8314: never offer AUTH over a plain connection.
        if self.tls.is_some() && self.cfg.kind != Kind::Mx && self.user.is_none() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        Step::reply(Reply::multiline(250, lines))
    }

    fn starttls(&mut self) -> Step {
        if self.tls.is_some() {
            return self.error(Reply::new(503, "5.5.1", "TLS already active"));
        }
        Step::then(Reply::new(220, "2.0.0", "Ready to start TLS"), Next::StartTls)
    }

    async fn mail(&mut self, from: String, params: command::Params) -> Step {
        if self.helo.is_none() {
            return self.error(Reply::new(503, "5.5.1", "Send EHLO first"));
        }
        if self.tx.is_some() {
            return self.error(Reply::new(503, "5.5.1", "Nested MAIL command"));
        }
        if self.cfg.kind != Kind::Mx {
            if self.tls.is_none() {
                return self.error(Reply::new(530, "5.7.0", "Must issue a STARTTLS command first"));
            }
            if self.user.is_none() {
                return self.error(Reply::new(530, "5.7.0", "Authentication required"));
            }
        }
        let mut tx = MailTx {
            from: String::new(),
            declared_size: 0,
            smtputf8: false,
            dsn: Dsn::default(),
            local: Vec::new(),
            remote: Vec::new(),
            remote_via: Vec::new(),
            accepted: Vec::new(),
            bdat: None,
        };
        if !params.is_empty() && !self.esmtp {
            return self.error(Reply::new(555, "5.5.4", "Parameters need EHLO"));
        }
        for (key, value) in params {
            match (key.as_str(), value.as_deref()) {
                ("SIZE", Some(v)) => match v.parse::<u64>() {
                    Ok(n) if n > self.cfg.max_message_size => {
                        let why = format!("552 5.3.4 announced size {n} over the limit");
                        self.log(EventKind::Rejected, &from, "", &why).await;
                        return self.error(Reply::new(
                            552,
                            "5.3.4",
                            format!("Message size exceeds fixed maximum message size of {}", self.cfg.max_message_size),
                        ));
                    }
                    Ok(n) => tx.declared_size = n,
                    Err(_) => return self.error(Reply::new(501, "5.5.4", "Bad SIZE value")),
                },
                ("BODY", Some(v)) if v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME") => {}
                ("SMTPUTF8", None) => tx.smtputf8 = true,
                ("RET", Some(v)) if v.eq_ignore_ascii_case("FULL") || v.eq_ignore_ascii_case("HDRS") => {
                    tx.dsn.ret = Some(v.to_ascii_uppercase())
                }
                ("ENVID", Some(v)) if !v.is_empty() && v.len() <= 100 => tx.dsn.envid = Some(v.to_string()),
                // RFC 4954 §5: accepted and not trusted.
                ("AUTH", Some(_)) => {}
                _ => return self.error(Reply::new(555, "5.5.4", format!("Unsupported parameter {key}"))),
            }
        }
        if !from.is_ascii() && !tx.smtputf8 {
            return self.error(Reply::new(553, "5.6.7", "Non-ASCII sender address needs the SMTPUTF8 parameter"));
        }
        let from = if from.is_empty() {
            String::new()
        } else {
            match Address::parse(&from) {
                Ok(a) => a.to_string(),
                Err(e) => return self.error(Reply::new(501, "5.1.7", format!("Bad sender address: {e}"))),
            }
        };
        if let Some(user) = &self.user {
            let allowed = match from.is_empty() {
                true => Ok(false),
                false => self.backend.may_send_as(user, &from).await,
            };
            match allowed {
                Ok(true) => {}
                Ok(false) => {
                    let text = format!("Sender address <{from}> is not owned by user {}", user.address);
                    self.log(EventKind::Rejected, &from, "", &format!("553 5.7.1 {text}")).await;
                    return self.error(Reply::new(553, "5.7.1", text));
                }
                Err(e) => return Step::reply(Reply::new(451, "4.3.0", format!("Temporary failure: {}", e.0))),
            }
        }
        if let Some(user) = &self.user {
            if let Some(reply) = self.cfg.size_limits.refusal(tx.declared_size, &user.address, true) {
                self.log(EventKind::Rejected, &from, "", &reply.lines.join(" ")).await;
                return self.error(reply);
            }
        }
        if self.cfg.kind == Kind::Mx {
            if let Some(Verdict::Reject { code, enhanced, text }) = self.pipeline.refuse_sender(&from, self.peer).await
            {
                self.log(EventKind::Rejected, &from, "", &format!("{code} {enhanced} {text}")).await;
                return self.error(Reply::new(code, enhanced, text));
            }
        }
        tx.from = from;
        self.tx = Some(tx);
        Step::reply(Reply::new(250, "2.1.0", "Ok"))
    }

    async fn rcpt(&mut self, to: String, params: command::Params) -> Step {
        let Some(tx) = self.tx.as_ref() else {
            return self.error(Reply::new(503, "5.5.1", "Need MAIL command"));
        };
        if tx.accepted.len() >= self.cfg.max_recipients {
            return Step::reply(Reply::new(452, "4.5.3", "Too many recipients"));
        }
        let smtputf8 = tx.smtputf8;
        let declared_size = tx.declared_size;
        let mut rcpt = RemoteRecipient::default();
        for (key, value) in params {
            match (key.as_str(), value) {
                ("NOTIFY", Some(v)) if valid_notify(&v) => rcpt.notify = Some(v.to_ascii_uppercase()),
                ("ORCPT", Some(v)) if v.contains(';') && v.len() <= 500 => rcpt.orcpt = Some(v),
                _ => return self.error(Reply::new(555, "5.5.4", format!("Unsupported parameter {key}"))),
            }
        }
        if !to.is_ascii() && !smtputf8 {
            return self.error(Reply::new(553, "5.6.7", "Non-ASCII recipient address needs SMTPUTF8"));
        }
        let address = match Address::parse(&to) {
            Ok(a) => a.to_string(),
            Err(e) => return self.error(Reply::new(501, "5.1.3", format!("Bad recipient address: {e}"))),
        };
        let lookup = match self.backend.lookup(&address, declared_size).await {
            Ok(l) => l,
            Err(e) => return Step::reply(Reply::new(451, "4.3.0", format!("Temporary lookup failure: {}", e.0))),
        };
        let (local, mut remote) = match lookup {
            Lookup::Deliver { local, remote } => (local, remote),
            Lookup::UnknownUser => {
                self.log_rejected(&address, "550 5.1.1 no such user").await;
                return self.error(Reply::new(
                    550,
                    "5.1.1",
                    format!("<{address}>: Recipient address rejected: User unknown"),
                ));
            }
            Lookup::NotLocal if self.user.is_some() => (Vec::new(), vec![address.clone()]),
            Lookup::NotLocal => {
                self.log_rejected(&address, "554 5.7.1 relay access denied").await;
                return self.error(Reply::new(554, "5.7.1", format!("<{address}>: Relay access denied")));
            }
        };
        if local.iter().any(|l| l.over_quota) {
            let r = match self.cfg.over_quota_permanent {
                true => Reply::new(552, "5.2.2", format!("<{address}>: Mailbox full")),
                false => Reply::new(452, "4.2.2", format!("<{address}>: Mailbox full, try again later")),
            };
            self.log_rejected(&address, &r.lines.join(" ")).await;
            return Step::reply(r);
        }
        for l in local.iter().filter(|_| self.cfg.kind == Kind::Mx) {
            if let Some(reply) = self.cfg.size_limits.refusal(declared_size, &l.address, false) {
                self.log_rejected(&address, &reply.lines.join(" ")).await;
                return self.error(reply);
            }
        }
        if let Some(user) = &self.user {
            if let Err(reply) = self.cfg.send_limiter.take(&user.address, 1, std::time::Instant::now()).await {
                self.log_rejected(&address, &reply.lines.join(" ")).await;
                return self.error(reply);
            }
        }
        let mut local = local;
        let srs = is_srs_bounce(self.tx.as_ref().map_or("", |t| t.from.as_str()), &address, local.is_empty());
        if self.cfg.kind == Kind::Mx {
            let sender = self.tx.as_ref().map(|t| t.from.clone()).unwrap_or_default();
            // A block list refuses for its own scope: one member's list
            // drops that member from an alias, and refuses the address
            // only when nobody is left to deliver to.
            let mut refusal = None;
            let mut kept = Vec::with_capacity(local.len());
            for l in local {
                match self.pipeline.refuse_recipient(&sender, self.peer, &l.address).await {
                    Some(Verdict::Reject { code, enhanced, text }) => {
                        refusal.get_or_insert((code, enhanced, text));
                    }
                    _ => kept.push(l),
                }
            }
            local = kept;
            // Copies an alias forwards outside: the alias's own lists (a
            // bounce to an SRS address of ours goes back as it came).
            if !remote.is_empty() && !srs {
                if let Some(Verdict::Reject { code, enhanced, text }) =
                    self.pipeline.refuse_recipient(&sender, self.peer, &address).await
                {
                    if !local.is_empty() {
                        // The address is accepted for its members here: the
                        // log says what became of the outside copies.
                        tracing::info!(alias = %address, sender = %sender, reason = %text, "forwarded copies refused");
                    }
                    refusal.get_or_insert((code, enhanced, text));
                    remote.clear();
                }
            }
            if let Some((code, enhanced, text)) = refusal.filter(|_| local.is_empty() && remote.is_empty()) {
                self.log_rejected(&address, &format!("{code} {enhanced} {text}")).await;
                return self.error(Reply::new(code, enhanced, text));
            }
            // Once per address (an alias to many accounts is one triple);
            // a 451 asks for a retry and is not counted as an error.
            if !local.is_empty() || (!remote.is_empty() && !srs) {
                if let Some(Verdict::Reject { code, enhanced, text }) =
                    self.pipeline.greylist(&sender, self.peer, &address).await
                {
                    self.log_rejected(&address, &format!("{code} {enhanced} {text}")).await;
                    return Step::reply(Reply::new(code, enhanced, text));
                }
            }
        }
        let Some(tx) = self.tx.as_mut() else {
            return self.error(Reply::new(503, "5.5.1", "Need MAIL command"));
        };
        for l in local {
            match tx.local.iter_mut().find(|x| x.account == l.account) {
                // One copy per account, whichever RCPTs led to it.
                Some(x) => x.also_via.push(address.clone()),
                None => tx.local.push(LocalRecipient {
                    notify: rcpt.notify.clone(),
                    orcpt: rcpt.orcpt.clone(),
                    via: address.clone(),
                    ..l
                }),
            }
        }
        for r in remote {
            let via: Vec<String> = (!srs).then(|| address.clone()).into_iter().collect();
            match tx.remote.iter().position(|x| x.address.eq_ignore_ascii_case(&r)) {
                Some(i) => {
                    for v in via {
                        if !tx.remote_via[i].iter().any(|x| x.eq_ignore_ascii_case(&v)) {
                            tx.remote_via[i].push(v);
                        }
                    }
                }
                None => {
                    tx.remote.push(RemoteRecipient { address: r, ..rcpt.clone() });
                    tx.remote_via.push(via);
                }
            }
        }
        tx.accepted.push(address);
        Step::reply(Reply::new(250, "2.1.5", "Ok"))
    }

    fn data(&mut self) -> Step {
        match &self.tx {
            None => self.error(Reply::new(503, "5.5.1", "Need MAIL command")),
            Some(tx) if tx.accepted.is_empty() => self.error(Reply::new(554, "5.5.1", "No valid recipients")),
            Some(tx) if tx.bdat.is_some() => self.error(Reply::new(503, "5.5.1", "DATA after BDAT")),
            Some(_) => Step::then(Reply::plain(354, "End data with <CR><LF>.<CR><LF>"), Next::Data),
        }
    }

    /// The DATA receiver found the end of the message.
    pub async fn data_done(&mut self, result: Result<Vec<u8>, DataError>) -> Step {
        match result {
            Ok(message) => self.finish(message).await,
            Err(e) => {
                let tx = self.tx.take();
                self.refuse_data(e, tx).await
            }
        }
    }

    async fn refuse_data(&mut self, e: DataError, tx: Option<MailTx>) -> Step {
        let reply = match e {
            DataError::TooBig => Reply::new(
                552,
                "5.3.4",
                format!("Message size exceeds fixed maximum message size of {}", self.cfg.max_message_size),
            ),
            DataError::LineTooLong => {
                Reply::new(500, "5.5.2", format!("Message line longer than {} octets", self.cfg.max_line_length))
            }
            DataError::BareLineEnding => {
                Reply::new(554, "5.6.0", "Message contains a bare CR or LF; lines must end with CRLF")
            }
            DataError::Nul => Reply::new(554, "5.6.0", "Message contains a NUL byte; BINARYMIME is not offered"),
        };
        if let Some(tx) = tx {
            for rcpt in &tx.accepted {
                self.log(EventKind::Rejected, &tx.from, rcpt, &reply.lines.join(" ")).await;
            }
        }
        self.error(reply)
    }

    fn bdat_start(&mut self, size: u64, last: bool) -> Step {
        // RFC 3030 §2: the chunk is read in any case; errors are answered after it.
        if let Some(tx) = self.tx.as_mut() {
            if !tx.accepted.is_empty() && tx.bdat.is_none() {
                tx.bdat = Some(Bdat { data: Vec::new(), error: None, prev_cr: false });
            }
        }
        Step { replies: vec![], next: Next::Bdat { size, last }, auth_failed: false }
    }

    /// Part of a BDAT chunk.
    pub fn bdat_piece(&mut self, piece: &[u8]) {
        let max = self.cfg.max_message_size;
        if let Some(b) = self.tx.as_mut().and_then(|t| t.bdat.as_mut()) {
            if b.error.is_none() {
                if bare_line_ending(piece, b.prev_cr) {
                    b.error = Some(DataError::BareLineEnding);
                } else if piece.contains(&0) {
                    b.error = Some(DataError::Nul);
                } else if (b.data.len() + piece.len()) as u64 > max {
                    b.error = Some(DataError::TooBig);
                } else {
                    b.data.extend_from_slice(piece);
                }
                if b.error.is_some() {
                    b.data = Vec::new();
                }
            }
            b.prev_cr = piece.last() == Some(&b'\r');
        }
    }

    /// The whole BDAT chunk has been read.
    pub async fn bdat_end(&mut self, size: u64, last: bool) -> Step {
        let Some(tx) = self.tx.as_mut() else {
            return self.error(Reply::new(503, "5.5.1", "Need MAIL command"));
        };
        let Some(b) = tx.bdat.as_mut() else {
            return self.error(Reply::new(554, "5.5.1", "No valid recipients"));
        };
        if !last {
            return Step::reply(Reply::new(250, "2.0.0", format!("{size} octets received")));
        }
        if b.prev_cr {
            b.error.get_or_insert(DataError::BareLineEnding);
        }
        let b = tx.bdat.take();
        match b {
            Some(Bdat { error: Some(e), .. }) => {
                let tx = self.tx.take();
                self.refuse_data(e, tx).await
            }
            Some(Bdat { data, .. }) => self.finish(data).await,
            None => self.error(Reply::new(503, "5.5.1", "Need MAIL command")),
        }
    }

    /// Filters, adds the trace header, stores and queues; 250 only once all
    /// of it is on disk.
    async fn finish(&mut self, message: Vec<u8>) -> Step {
        let started = std::time::Instant::now();
        let step = self.finish_message(message).await;
        let metrics = caravel_metrics::global();
        let service = [("service", self.cfg.kind.key())];
        metrics.smtp_data_seconds.get_or_create(&service.to_vec()).observe(caravel_metrics::since(started));
        if step.replies.first().is_some_and(|r| r.code == 250) {
            caravel_metrics::inc(&metrics.messages_received, &service);
        }
        step
    }

    async fn finish_message(&mut self, message: Vec<u8>) -> Step {
        let Some(tx) = self.tx.take() else {
            return self.error(Reply::new(503, "5.5.1", "Need MAIL command"));
        };
        if let Some(reply) = self.size_refusal(&tx, message.len() as u64) {
            for rcpt in &tx.accepted {
                self.log(EventKind::Rejected, &tx.from, rcpt, &reply.lines.join(" ")).await;
            }
            return Step::reply(reply);
        }
        let (message, sign_as) = match self.user.clone() {
            Some(user) => {
                let id = format!("{}{:02x}.{}@{}", self.id, self.messages + 1, now_millis(), self.cfg.hostname);
                let message = crate::submission::prepare(&message, &caravel_store::rfc5322_date(now_secs()), &id);
                let message = self.backend.personalize(&user, message, &tx.accepted).await;
                let sign_as = self.sign_as(&user, &message).await;
                (message, sign_as)
            }
            None => (message, None),
        };
        let helo = self.helo.clone().unwrap_or_default();
        let mut ctx = MessageContext::new(&message, &tx.from, self.peer, &helo);
        ctx.user = self.user.as_ref().map(|u| u.address.as_str());
        ctx.inbound = self.cfg.kind == Kind::Mx;
        ctx.recipients = tx.local.iter().map(|l| RecipientCtx::new(&l.address, Some(l.account))).collect();
        // Received mail an alias forwards outside is filtered as the alias's
        // (its domain's rules and thresholds): spam held or refused here is
        // not sent on in the company's name.
        let mut forwarding: Vec<String> = Vec::new();
        if ctx.inbound {
            for via in tx.remote_via.iter().flatten() {
                if !forwarding.iter().any(|f| f.eq_ignore_ascii_case(via)) {
                    forwarding.push(via.clone());
                }
            }
        }
        ctx.recipients.extend(forwarding.iter().map(|via| RecipientCtx::new(via, None)));
        let outcome = self.pipeline.run(&mut ctx).await;
        let (tags, added) = (std::mem::take(&mut ctx.tags), std::mem::take(&mut ctx.headers));
        let held_by_scanner = ctx.held_by_scanner.take();
        let sender_verified = ctx.sender_verified;
        let verdicts = &caravel_metrics::global().filter_verdicts;
        let results = match outcome {
            Outcome::Deliver(results) => {
                for r in &results {
                    caravel_metrics::inc(verdicts, &[("verdict", r.verdict.word())]);
                }
                results
            }
            Outcome::Refuse { code, enhanced, text } => {
                caravel_metrics::inc(verdicts, &[("verdict", "reject")]);
                for rcpt in &tx.accepted {
                    self.log(EventKind::Rejected, &tx.from, rcpt, &format!("{code} {enhanced} {text}")).await;
                }
                return Step::reply(Reply::new(code, enhanced, text));
            }
        };
        let mut results = results;
        let forwarded: Vec<(String, RecipientResult)> =
            forwarding.into_iter().zip(results.split_off(tx.local.len())).collect();
        // A forwarded copy is never filed in a Junk folder outside: held,
        // or refused (the whole message when nobody else takes it), it
        // waits in the quarantine, where nothing is lost.
        let held_by = |via: &str| {
            forwarded.iter().find(|(f, r)| {
                f.eq_ignore_ascii_case(via) && matches!(r.verdict, Verdict::Quarantine | Verdict::Reject { .. })
            })
        };
        let held_forward = |via: &str| held_by(via).is_some();
        // The subject for the quarantine's list, from the parse the stages
        // already made (only when something is held).
        let held_subject = match held_by_scanner.is_some()
            || results.iter().any(|r| r.verdict == Verdict::Quarantine)
            || tx.remote_via.iter().flatten().any(|v| held_forward(v))
        {
            true => ctx.content().subject_text.clone(),
            false => String::new(),
        };
        let mut tx = tx;
        for (l, r) in tx.local.iter_mut().zip(&results) {
            l.folder = match r.verdict {
                Verdict::Accept => Folder::Inbox,
                Verdict::Quarantine => Folder::Quarantine,
                _ => Folder::Junk,
            };
            l.headers = r.headers();
            l.reason = r.reasons();
        }
        self.messages += 1;
        let id = format!("{}{:02x}", self.id, self.messages);
        let message_id = header_value(&message, "message-id");
        let trace = received_header(&TraceInfo {
            helo: &helo,
            peer: self.peer,
            hostname: &self.cfg.hostname,
            esmtp: self.esmtp,
            tls: self.tls.as_deref(),
            authenticated: self.user.is_some(),
            smtputf8: tx.smtputf8,
            id: &id,
            single_recipient: (tx.accepted.len() == 1).then(|| tx.accepted[0].as_str()),
            now: now_secs(),
        });
        // RFC 8601 §5: results claiming to be ours did not come from us.
        let message = crate::auth_results::strip_forged(&message, &self.cfg.hostname);
        let added: String = added.concat();
        let mut full = Vec::with_capacity(added.len() + trace.len() + message.len());
        // RFC 8601 §5: our results go on top, above our Received field.
        full.extend_from_slice(added.as_bytes());
        full.extend_from_slice(trace.as_bytes());
        full.extend_from_slice(&message);
        let size = full.len();
        let auth: String = tags.iter().filter(|t| t.contains('=')).map(|t| format!(", {t}")).collect();
        for rcpt in &tx.accepted {
            // The verdict of each account this address delivers to (an
            // alias to several accounts logs each account's), and of the
            // copy it forwards outside. Whoever reads this address's log
            // answers for its domain: the reasons of an account of another
            // domain (its own rules and lists) are not theirs to read.
            let rcpt_domain = rcpt.rsplit_once('@').map_or("", |(_, d)| d);
            let verdicts: Vec<String> = tx
                .local
                .iter()
                .map(|l| (l, l.address.as_str()))
                .zip(&results)
                .filter(|((l, _), _)| std::iter::once(&l.via).chain(&l.also_via).any(|v| v.eq_ignore_ascii_case(rcpt)))
                .map(|((_, address), r)| (address, r))
                .chain(
                    forwarded
                        .iter()
                        .map(|(via, r)| (via.as_str(), r))
                        .filter(|(via, _)| via.eq_ignore_ascii_case(rcpt)),
                )
                .map(|(address, r)| {
                    let ours = address.rsplit_once('@').is_some_and(|(_, d)| d.eq_ignore_ascii_case(rcpt_domain));
                    let reasons = match r.reasons() {
                        x if x.is_empty() || !ours => String::new(),
                        x => format!(" ({x})"),
                    };
                    format!(", spam {} score={:.1}{reasons}", r.verdict.word(), r.score)
                })
                .collect();
            let how = match (&self.tls, &self.user) {
                (Some(tls), Some(u)) => format!("port {}, {tls}, signed in as {}", self.cfg.kind.key(), u.address),
                (Some(tls), None) => format!("port {}, {tls}", self.cfg.kind.key()),
                (None, _) => format!("port {}, without TLS", self.cfg.kind.key()),
            };
            let detail = format!("from {} ({}), {how}, {size} bytes{auth}{}", self.peer, helo, verdicts.concat());
            self.log_message(EventKind::Received, message_id.clone(), &tx.from, rcpt, &detail).await;
        }
        // The scanner held the message: its copies for outside addresses
        // (aliases that forward) wait in the quarantine too. A copy the
        // filter held keeps the verdict of the first alias that held it.
        let mut held_remote: Vec<HeldRemote> = Vec::new();
        let mut kept = Vec::with_capacity(tx.remote.len());
        for (r, via) in std::mem::take(&mut tx.remote).into_iter().zip(&tx.remote_via) {
            if held_by_scanner.is_none() && !via.iter().any(|v| held_forward(v)) {
                kept.push(r);
                continue;
            }
            let verdict = via.iter().find_map(|v| held_by(v).map(|(_, r)| (v, r)));
            held_remote.push(HeldRemote {
                address: r.address,
                via: via.clone(),
                headers: verdict.map(|(_, r)| r.headers()).unwrap_or_default(),
                reason: verdict.map(|(_, r)| r.reasons()).unwrap_or_default(),
                verdict_by: verdict.map(|(v, _)| v.clone()).unwrap_or_default(),
            });
        }
        tx.remote = kept;
        let accepted = Accepted {
            id: id.clone(),
            message_id: message_id.clone(),
            sender: tx.from.clone(),
            message: full,
            local: tx.local,
            remote: tx.remote,
            dsn: tx.dsn,
            session: self.id.clone(),
            held_remote,
            held_by_scanner,
            held_subject,
            sign_as,
            sender_verified: self.user.is_some() || sender_verified,
        };
        let (local_copies, remote_copies) = (accepted.local.len() as u64, accepted.remote.len() as u64);
        match self.backend.deliver(accepted).await {
            Ok(()) => {
                if let Some(user) = &self.user {
                    self.pipeline.sent(user.account, &tx.accepted).await;
                }
                let metrics = caravel_metrics::global();
                metrics.messages_delivered.get_or_create(&vec![("destination", "local")]).inc_by(local_copies);
                metrics.messages_queued.inc_by(remote_copies);
                Step::reply(Reply::new(250, "2.0.0", format!("Ok: queued as {id}")))
            }
            Err(e) if e.refused().is_some() => {
                let text = e.refused().unwrap_or_default().to_string();
                for rcpt in &tx.accepted {
                    self.log(EventKind::Rejected, &tx.from, rcpt, &format!("550 5.7.1 {text}")).await;
                }
                // RFC 5429 §2.1: a refusal at SMTP time, not a bounce.
                Step::reply(Reply::new(550, "5.7.1", text))
            }
            Err(e) => {
                let code = if e.is_full() { 452 } else { 451 };
                for rcpt in &tx.accepted {
                    self.log(EventKind::Rejected, &tx.from, rcpt, &format!("{code} {}", e.0)).await;
                }
                if e.is_full() {
                    // RFC 3463 §3.4: mail system full.
                    Step::reply(Reply::new(452, "4.3.1", "Insufficient system storage, please try again later"))
                } else {
                    Step::reply(Reply::new(451, "4.3.0", "Temporary storage failure, please try again"))
                }
            }
        }
    }

    /// The From: domain of a submitted message when every From: address is
    /// one the user may send as: its DKIM keys sign it even when the
    /// envelope sender is in another domain (an alias of another hosted
    /// domain).
    async fn sign_as(&self, user: &SignedIn, message: &[u8]) -> Option<String> {
        let domain = caravel_delivery::sign::from_domain(message)?;
        for address in caravel_delivery::sign::from_addresses(message)? {
            if !self.backend.may_send_as(user, &address).await.unwrap_or(false) {
                return None;
            }
        }
        Some(domain)
    }

    /// A message over the sender's limit (submitted), or over the limit of
    /// every recipient (received: one recipient's smaller limit cannot
    /// refuse a message the others take, after DATA).
    fn size_refusal(&self, tx: &MailTx, size: u64) -> Option<Reply> {
        if let Some(user) = &self.user {
            return self.cfg.size_limits.refusal(size, &user.address, true);
        }
        if !tx.remote.is_empty() {
            return None;
        }
        let mut refusals = tx.local.iter().map(|l| self.cfg.size_limits.refusal(size, &l.address, false));
        let first = refusals.next().flatten()?;
        refusals.all(|r| r.is_some()).then_some(first)
    }

    async fn log(&self, kind: EventKind, sender: &str, recipient: &str, detail: &str) {
        self.log_message(kind, None, sender, recipient, detail).await
    }

    async fn log_message(
        &self,
        kind: EventKind,
        message_id: Option<String>,
        sender: &str,
        recipient: &str,
        detail: &str,
    ) {
        if kind == EventKind::Rejected {
            let reason = caravel_metrics::rejection_reason(detail);
            caravel_metrics::inc(&caravel_metrics::global().messages_rejected, &[("reason", reason)]);
        }
        self.backend
            .log(MailEvent {
                ts: now_millis(),
                kind,
                message_id,
                sender: Some(sender.to_string()),
                recipient: Some(recipient.to_string()),
                detail: detail.to_string(),
                session: Some(self.id.clone()),
            })
            .await;
    }

    async fn log_rejected(&self, recipient: &str, why: &str) {
        let sender = self.tx.as_ref().map(|t| t.from.clone()).unwrap_or_default();
        self.log(EventKind::Rejected, &sender, recipient, why).await;
    }

    async fn auth(&mut self, mechanism: String, initial: Option<String>) -> Step {
        if self.cfg.kind == Kind::Mx {
            return self.error(Reply::new(502, "5.5.1", "AUTH is not available on this port; use port 587 or 465"));
        }
        if self.tls.is_none() {
            return self.error(Reply::new(538, "5.7.11", "Encryption required for requested authentication mechanism"));
        }
        if self.user.is_some() {
            return self.error(Reply::new(503, "5.5.1", "Already authenticated"));
        }
        if self.tx.is_some() {
            return self.error(Reply::new(503, "5.5.1", "AUTH not allowed during a mail transaction"));
        }
        match (mechanism.as_str(), initial) {
            ("PLAIN", Some(resp)) => self.auth_response(AuthPending::Plain, resp.as_bytes()).await,
            ("PLAIN", None) => {
                self.auth = Some(AuthPending::Plain);
                Step::then(Reply::plain(334, ""), Next::AuthResponse)
            }
            ("LOGIN", Some(resp)) => self.auth_response(AuthPending::LoginUser, resp.as_bytes()).await,
            ("LOGIN", None) => {
                self.auth = Some(AuthPending::LoginUser);
                Step::then(Reply::plain(334, sasl::LOGIN_USERNAME_CHALLENGE), Next::AuthResponse)
            }
            _ => self.error(Reply::new(504, "5.5.4", "Unrecognized authentication type")),
        }
    }

    async fn auth_response(&mut self, pending: AuthPending, line: &[u8]) -> Step {
        let text = String::from_utf8_lossy(line);
        let decoded = match pending {
            AuthPending::Plain => sasl::plain(&text).map(|c| (c.username, c.password)),
            AuthPending::LoginUser => match sasl::login_step(&text) {
                Ok(user) => {
                    self.auth = Some(AuthPending::LoginPassword(user));
                    return Step::then(Reply::plain(334, sasl::LOGIN_PASSWORD_CHALLENGE), Next::AuthResponse);
                }
                Err(e) => Err(e),
            },
            AuthPending::LoginPassword(user) => sasl::login_step(&text).map(|p| (user, p)),
        };
        let (username, password) = match decoded {
            Ok(c) => c,
            Err(SaslError::Cancelled) => return self.error(Reply::new(501, "5.7.0", "Authentication cancelled")),
            Err(SaslError::Malformed) => return self.error(Reply::new(501, "5.5.2", "Cannot decode the response")),
            Err(SaslError::AuthzidNotAllowed) => {
                return self.error(Reply::new(535, "5.7.8", "Authorization as another user is not allowed"))
            }
        };
        // RFC 4954 §6: 535 5.7.8 for credentials; 454 4.7.0 for a condition
        // that will pass (here: the address ban).
        let refused = |text: &str| Reply::new(535, "5.7.8", text);
        match self.backend.authenticate(&username, &password, self.peer).await {
            Ok(SignIn::Ok(user)) => {
                tracing::info!(user = %user.address, "signed in");
                self.user = Some(user);
                Step::reply(Reply::new(235, "2.7.0", "Authentication successful"))
            }
            Ok(outcome @ (SignIn::Failed | SignIn::AppPasswordRequired)) => {
                tracing::info!(username = %username, ?outcome, "sign-in failed");
                let text = match outcome {
                    SignIn::AppPasswordRequired => {
                        "Two-factor sign-in is on for this account: create an app password for this mail program and use it instead"
                    }
                    _ => "Authentication credentials invalid",
                };
                let mut step = self.error(refused(text));
                step.auth_failed = true;
                step
            }
            Ok(SignIn::Locked) => self.error(refused(
                "Account locked after too many failed sign-ins; try again later or ask your administrator",
            )),
            Ok(SignIn::Banned) => {
                self.error(Reply::new(454, "4.7.0", "Too many failed sign-ins from your address; try again later"))
            }
            // The credentials were right: 5.7.1 (refused by policy), not
            // 5.7.8 (wrong credentials), so the user is not asked again
            // for a password that is right.
            Ok(SignIn::ProtocolOff(p, address)) => {
                tracing::info!(user = %address, protocol = p.key(), "sign-in refused: protocol turned off");
                self.error(Reply::new(535, "5.7.1", caravel_auth::protocol_off_text(p, &address)))
            }
            Err(e) => {
                // Before sign-in, the details go to the log only.
                tracing::error!(error = %e.0, "sign-in could not be checked");
                Step::reply(Reply::new(454, "4.7.0", "Temporary authentication failure; try again later"))
            }
        }
    }
}

/// The unfolded value of the first header field `name` (lowercase), if any.
pub fn header_value(message: &[u8], name: &str) -> Option<String> {
    let end = message.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2).unwrap_or(message.len());
    let head = String::from_utf8_lossy(&message[..end]);
    let mut found: Option<String> = None;
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(v) = found.as_mut() {
                v.push_str(line.trim_start());
                continue;
            }
        }
        if found.is_some() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.trim().eq_ignore_ascii_case(name) {
                found = Some(v.trim().to_string());
            }
        }
    }
    found.filter(|v| !v.is_empty())
}

/// RFC 3461 §4.1: NEVER alone, or any of SUCCESS, FAILURE, DELAY.
fn valid_notify(v: &str) -> bool {
    let parts: Vec<String> = v.split(',').map(|p| p.to_ascii_uppercase()).collect();
    if parts.len() == 1 && parts[0] == "NEVER" {
        return true;
    }
    !parts.is_empty() && parts.iter().all(|p| matches!(p.as_str(), "SUCCESS" | "FAILURE" | "DELAY"))
}

/// A bounce (null sender) to an SRS address of ours: a copy we forwarded,
/// coming back to its original sender (`srs_reverse` checked its hash).
/// It goes back as it came. Mail from anyone else to such an address is
/// filtered like any forwarded copy: the address is valid for weeks.
fn is_srs_bounce(sender: &str, address: &str, nobody_here: bool) -> bool {
    sender.is_empty() && nobody_here && address.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("srs0="))
}

#[cfg(test)]
mod srs_bounce_tests {
    use super::is_srs_bounce;

    #[test]
    fn only_a_bounce_to_an_srs_address_goes_back_unfiltered() {
        assert!(is_srs_bounce("", "SRS0=HhJk=2T=orig.test=user@example.test", true));
        assert!(!is_srs_bounce("spammer@x.test", "SRS0=HhJk=2T=orig.test=user@example.test", true), "a sender");
        assert!(!is_srs_bounce("", "SRS0=HhJk=2T=orig.test=user@example.test", false), "an account here");
        assert!(!is_srs_bounce("", "orders@example.test", true));
    }
}
