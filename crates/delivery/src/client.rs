//! The SMTP client side, without I/O (RFC 5321 §3-4): fed the server's
//! bytes, it says what to send, when to start TLS, and what became of each
//! recipient. EHLO (HELO if refused), STARTTLS whenever offered, AUTH PLAIN
//! at a relay, SIZE, 8BITMIME, SMTPUTF8, DSN parameters, and the envelope
//! pipelined when the server offers PIPELINING (RFC 2920).

use std::sync::Arc;

/// One server reply, all its lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The text after the code, lines joined by a space.
    pub text: String,
}

impl Reply {
    fn local(code: u16, text: &str) -> Reply {
        Reply { code, text: text.into() }
    }

    /// "550 5.1.1 No such user", as quoted in reports.
    pub fn line(&self) -> String {
        format!("{} {}", self.code, self.text)
    }

    /// The enhanced status code (RFC 3463) if the reply has one, else one
    /// made from the reply's class.
    pub fn status(&self) -> String {
        let first = self.text.split_whitespace().next().unwrap_or("");
        let parts: Vec<&str> = first.split('.').collect();
        if parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
            return first.to_string();
        }
        if self.code >= 500 { "5.0.0" } else { "4.0.0" }.to_string()
    }
}

/// Splits the server's bytes into replies (multi-line: `250-...` then `250 ...`).
#[derive(Default)]
struct Replies {
    buf: Vec<u8>,
    lines: Vec<String>,
}

/// Longest reply line accepted (RFC 5321 §4.5.3.1.5 says 512; some send more).
const MAX_LINE: usize = 4096;
/// Most lines in one reply (an EHLO reply has a dozen or two).
const MAX_LINES: usize = 100;

impl Replies {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Reply>, String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok()).filter(|c| (200..600).contains(c));
            let Some(code) = code else { return Err(format!("not an SMTP reply: {line:?}")) };
            let more = line.as_bytes().get(3) == Some(&b'-');
            self.lines.push(line.get(4..).unwrap_or("").to_string());
            if self.lines.len() > MAX_LINES {
                return Err("a reply has too many lines".into());
            }
            if !more {
                out.push(Reply { code, text: std::mem::take(&mut self.lines).join(" ") });
            }
        }
        if self.buf.len() > MAX_LINE {
            return Err("a reply line is too long".into());
        }
        Ok(out)
    }
}

/// One recipient and its DSN parameters (RFC 3461).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    pub notify: Option<String>,
    pub orcpt: Option<String>,
}

/// What is to be sent.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub from: String,
    pub recipients: Vec<Recipient>,
    /// The message, CRLF lines (dot-stuffed on the way out).
    pub message: Arc<Vec<u8>>,
    /// Has 8-bit bytes: needs 8BITMIME (RFC 6152).
    pub eight_bit: bool,
    /// Has UTF-8 addresses or headers: needs SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    pub ret: Option<String>,
    pub envid: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Our name in EHLO.
    pub hostname: String,
    /// STARTTLS can be done on this connection.
    pub tls_possible: bool,
    /// Refuse to go on without TLS (MTA-STS enforce, DANE, a relay).
    pub tls_required: bool,
    /// AUTH PLAIN at a relay (only ever after TLS).
    pub credentials: Option<(String, String)>,
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send(Vec<u8>),
    /// Run the TLS handshake now, then call [`Client::tls_started`].
    StartTls,
    /// Done with this connection (QUIT was sent if it made sense).
    Close,
}

/// What became of one recipient on this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered(Reply),
    /// Try again later (or at the next MX host).
    Temporary(Reply),
    /// Give up: report to the sender.
    Permanent(Reply),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    /// Waiting for the MAIL reply and the RCPT replies.
    Envelope,
    Data,
    Dot,
    Quit,
    Done,
}

#[derive(Debug, Default, Clone)]
struct Extensions {
    pipelining: bool,
    size: Option<u64>,
    eight_bit: bool,
    smtputf8: bool,
    starttls: bool,
    dsn: bool,
    auth_plain: bool,
    chunking: bool,
}

pub struct Client {
    settings: Settings,
    env: Envelope,
    state: State,
    tls: bool,
    ext: Extensions,
    replies: Replies,
    mail_ok: bool,
    /// Replies read in the envelope phase: 0 is MAIL's, then one per RCPT.
    seen: usize,
    /// Per recipient: its RCPT reply, then its final outcome.
    outcomes: Vec<Option<Outcome>>,
    /// Recipients whose RCPT was accepted, waiting for the end of DATA.
    accepted: Vec<usize>,
    /// MAIL FROM was sent: the server took part in a transaction.
    mail_sent: bool,
}

impl Client {
    pub fn new(settings: Settings, env: Envelope) -> Client {
        let n = env.recipients.len();
        Client {
            settings,
            env,
            state: State::Greeting,
            tls: false,
            ext: Extensions::default(),
            replies: Replies::default(),
            mail_ok: false,
            seen: 0,
            outcomes: vec![None; n],
            accepted: Vec::new(),
            mail_sent: false,
        }
    }

    /// Each recipient's outcome; recipients not decided (the connection
    /// broke) are temporary failures.
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.outcomes
            .iter()
            .map(|o| {
                o.clone().unwrap_or_else(|| Outcome::Temporary(Reply::local(421, "4.4.2 the connection was lost")))
            })
            .collect()
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Waiting for the reply to the end of the message, which RFC 5321
    /// §4.5.3.2.6 gives 10 minutes where other replies get 5.
    pub fn awaiting_final_reply(&self) -> bool {
        self.state == State::Dot
    }

    /// Whether the attempt got as far as MAIL FROM. If not (no connection,
    /// a refusing greeting, EHLO or STARTTLS failing), the next MX host
    /// may do better (RFC 5321 §5.1).
    pub fn began_transaction(&self) -> bool {
        self.mail_sent
    }

    /// Whether the server offered DSN (RFC 3461): then it reports delivery
    /// itself; if not, a sender who asked for NOTIFY=SUCCESS is told now
    /// that the message was relayed.
    pub fn peer_reports(&self) -> bool {
        self.ext.dsn
    }

    /// The connection broke or timed out: nothing undecided was delivered.
    pub fn connection_lost(&mut self, why: &str) {
        self.fail_rest(&Reply::local(421, &format!("4.4.2 {why}")));
        self.state = State::Done;
    }

    /// Bytes from the server.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<Action> {
        let replies = match self.replies.feed(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.fail_rest(&Reply::local(421, &format!("4.5.0 {e}")));
                self.state = State::Done;
                return vec![Action::Close];
            }
        };
        let mut actions = Vec::new();
        let count = replies.len();
        for (i, r) in replies.into_iter().enumerate() {
            let next = self.reply(r);
            // RFC 3207 §5: nothing may follow the 220 to STARTTLS in the
            // clear; bytes that did were injected by someone on the path.
            if next.contains(&Action::StartTls) && (i + 1 < count || !self.replies.buf.is_empty()) {
                self.fail_rest(&Reply::local(421, "4.7.0 the server sent more after agreeing to start TLS"));
                self.state = State::Done;
                return vec![Action::Close];
            }
            actions.extend(next);
            if self.state == State::Done {
                break;
            }
        }
        actions
    }

    /// The TLS handshake is done: start again with EHLO (RFC 3207 §4.2).
    pub fn tls_started(&mut self) -> Vec<Action> {
        self.tls = true;
        self.ext = Extensions::default();
        self.state = State::Ehlo;
        vec![self.ehlo()]
    }

    fn ehlo(&self) -> Action {
        Action::Send(format!("EHLO {}\r\n", self.settings.hostname).into_bytes())
    }

    /// Every recipient not decided yet gets `reply`'s class.
    fn fail_rest(&mut self, reply: &Reply) {
        for o in self.outcomes.iter_mut().filter(|o| o.is_none()) {
            *o = Some(classify(reply));
        }
        self.accepted.clear();
    }

    fn quit(&mut self) -> Vec<Action> {
        self.state = State::Quit;
        vec![Action::Send(b"QUIT\r\n".to_vec())]
    }

    /// Gives up on everything with `reply` and ends politely.
    fn abort(&mut self, reply: Reply) -> Vec<Action> {
        self.fail_rest(&reply);
        self.quit()
    }

    fn reply(&mut self, r: Reply) -> Vec<Action> {
        match self.state {
            State::Greeting if r.code == 220 => {
                self.state = State::Ehlo;
                vec![self.ehlo()]
            }
            // A server that will not talk: try the next host later.
            State::Greeting => self.abort(Reply { code: r.code.clamp(400, 499), ..r }),
            State::Ehlo if r.code == 250 => {
                self.ext = extensions(&r.text);
                self.after_hello()
            }
            State::Ehlo if r.code >= 500 => {
                // RFC 5321 §4.1.4: an old server; HELO it is.
                self.state = State::Helo;
                vec![Action::Send(format!("HELO {}\r\n", self.settings.hostname).into_bytes())]
            }
            State::Helo if r.code == 250 => self.after_hello(),
            State::Ehlo | State::Helo => self.abort(r),
            State::StartTls if r.code == 220 => vec![Action::StartTls],
            State::StartTls => {
                if self.settings.tls_required {
                    return self.abort(Reply::local(451, "4.7.5 the server offers TLS but would not start it"));
                }
                self.envelope()
            }
            State::Auth if r.code == 235 => self.envelope(),
            State::Auth => self.abort(Reply { code: if r.code >= 500 { 530 } else { 454 }, ..r }),
            State::Envelope => {
                let n = self.outcomes.len();
                let index = self.seen;
                self.seen += 1;
                if index == 0 {
                    self.mail_ok = r.code == 250;
                    if !self.mail_ok {
                        self.fail_rest(&r);
                        // Pipelined RCPTs still get (useless) replies.
                        if !self.ext.pipelining {
                            return self.quit();
                        }
                    }
                } else if self.mail_ok {
                    let i = index - 1;
                    if (200..300).contains(&r.code) {
                        self.accepted.push(i);
                    } else {
                        self.outcomes[i] = Some(classify(&r));
                    }
                }
                if self.seen <= n {
                    // Not pipelined: one RCPT after the other.
                    return if self.ext.pipelining { Vec::new() } else { vec![self.rcpt_line(self.seen - 1)] };
                }
                if !self.mail_ok || self.accepted.is_empty() {
                    return self.quit();
                }
                if self.ext.chunking {
                    // RFC 3030: the message as it is, in one last chunk; no
                    // dot-stuffing and no wait for 354.
                    let mut chunk = format!("BDAT {} LAST\r\n", self.env.message.len()).into_bytes();
                    chunk.extend_from_slice(&self.env.message);
                    self.state = State::Dot;
                    return vec![Action::Send(chunk)];
                }
                self.state = State::Data;
                vec![Action::Send(b"DATA\r\n".to_vec())]
            }
            State::Data if r.code == 354 => {
                let mut data = Vec::with_capacity(self.env.message.len() + 64);
                caravel_store::mime::dot_stuff(&self.env.message, None, &mut data);
                self.state = State::Dot;
                vec![Action::Send(data)]
            }
            State::Data => self.abort(r),
            State::Dot => {
                for &i in &self.accepted {
                    self.outcomes[i] = Some(if r.code == 250 { Outcome::Delivered(r.clone()) } else { classify(&r) });
                }
                self.accepted.clear();
                self.quit()
            }
            State::Quit => {
                self.state = State::Done;
                vec![Action::Close]
            }
            State::Done => Vec::new(),
        }
    }

    /// After EHLO/HELO: TLS first if possible, then AUTH at a relay, then the envelope.
    fn after_hello(&mut self) -> Vec<Action> {
        if !self.tls && self.ext.starttls && self.settings.tls_possible {
            self.state = State::StartTls;
            return vec![Action::Send(b"STARTTLS\r\n".to_vec())];
        }
        if !self.tls && self.settings.tls_required {
            return self.abort(Reply::local(451, "4.7.5 the receiving server does not offer TLS, which is required"));
        }
        if let Some((user, password)) = self.settings.credentials.clone() {
            if !self.tls || !self.ext.auth_plain {
                return self.abort(Reply::local(454, "4.7.0 the relay offers no AUTH PLAIN over TLS"));
            }
            self.state = State::Auth;
            let token = caravel_auth::sasl::encode(format!("\0{user}\0{password}").as_bytes());
            return vec![Action::Send(format!("AUTH PLAIN {token}\r\n").into_bytes())];
        }
        self.envelope()
    }

    fn envelope(&mut self) -> Vec<Action> {
        let size = self.env.message.len() as u64;
        if self.ext.size.is_some_and(|max| max > 0 && size > max) {
            return self.abort(Reply::local(552, "5.3.4 the message is larger than the receiving server accepts"));
        }
        if self.env.smtputf8 && !self.ext.smtputf8 {
            return self
                .abort(Reply::local(553, "5.6.7 the receiving server cannot take international addresses (SMTPUTF8)"));
        }
        if self.env.eight_bit && !self.ext.eight_bit {
            return self.abort(Reply::local(554, "5.6.3 the receiving server cannot take 8-bit text (8BITMIME)"));
        }
        let mut mail = format!("MAIL FROM:<{}>", self.env.from);
        if self.ext.size.is_some() {
            mail.push_str(&format!(" SIZE={size}"));
        }
        if self.env.eight_bit {
            mail.push_str(" BODY=8BITMIME");
        }
        if self.env.smtputf8 {
            mail.push_str(" SMTPUTF8");
        }
        if self.ext.dsn {
            if let Some(ret) = &self.env.ret {
                mail.push_str(&format!(" RET={ret}"));
            }
            if let Some(envid) = self.env.envid.as_ref().filter(|e| is_xtext(e)) {
                mail.push_str(&format!(" ENVID={envid}"));
            }
        }
        mail.push_str("\r\n");
        let n = self.env.recipients.len();
        self.mail_sent = true;
        self.state = State::Envelope;
        self.seen = 0;
        let mut out = mail.into_bytes();
        if self.ext.pipelining {
            for i in 0..n {
                if let Action::Send(line) = self.rcpt_line(i) {
                    out.extend(line);
                }
            }
        }
        vec![Action::Send(out)]
    }

    fn rcpt_line(&self, i: usize) -> Action {
        let r = &self.env.recipients[i];
        let mut line = format!("RCPT TO:<{}>", r.address);
        if self.ext.dsn {
            if let Some(n) = &r.notify {
                line.push_str(&format!(" NOTIFY={n}"));
            }
            let orcpt = r.orcpt.as_ref().filter(|o| {
                o.split_once(';').is_some_and(|(kind, addr)| {
                    !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && is_xtext(addr)
                })
            });
            if let Some(o) = orcpt {
                line.push_str(&format!(" ORCPT={o}"));
            }
        }
        line.push_str("\r\n");
        Action::Send(line.into_bytes())
    }
}

/// RFC 3461 §4: printable ASCII but `+` and `=`, which only `+XX` may
/// stand for. Anything else is not passed on (it could carry more SMTP).
fn is_xtext(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if b.get(i + 1..i + 3).is_some_and(|h| h.iter().all(|c| c.is_ascii_hexdigit())) => i += 3,
            b'!'..=b'~' if b[i] != b'+' && b[i] != b'=' => i += 1,
            _ => return false,
        }
    }
    !b.is_empty()
}

fn classify(r: &Reply) -> Outcome {
    if r.code >= 500 {
        Outcome::Permanent(r.clone())
    } else {
        Outcome::Temporary(r.clone())
    }
}

/// The EHLO keywords (RFC 5321 §4.1.1.1): the first line is the greeting.
fn extensions(text: &str) -> Extensions {
    let mut e = Extensions::default();
    // Multi-line replies were joined with spaces; keywords are upper case.
    let words: Vec<&str> = text.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        match w.to_ascii_uppercase().as_str() {
            "PIPELINING" => e.pipelining = true,
            "8BITMIME" => e.eight_bit = true,
            "SMTPUTF8" => e.smtputf8 = true,
            "STARTTLS" => e.starttls = true,
            "DSN" => e.dsn = true,
            "CHUNKING" => e.chunking = true,
            "SIZE" => e.size = Some(words.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(0)),
            "AUTH" => {
                e.auth_plain |= words[i + 1..]
                    .iter()
                    .take_while(|m| {
                        m.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_')
                    })
                    .any(|m| *m == "PLAIN")
            }
            _ => {}
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(rcpts: &[&str]) -> Envelope {
        Envelope {
            from: "sales@export.test".into(),
            recipients: rcpts
                .iter()
                .map(|a| Recipient { address: a.to_string(), notify: None, orcpt: Some(format!("rfc822;{a}")) })
                .collect(),
            message: Arc::new(b"Subject: hi\r\n\r\n.dot line\r\nend\r\n".to_vec()),
            eight_bit: false,
            smtputf8: false,
            ret: Some("HDRS".into()),
            envid: Some("Q1".into()),
        }
    }

    fn settings() -> Settings {
        Settings { hostname: "mail.export.test".into(), tls_possible: true, tls_required: false, credentials: None }
    }

    /// Feeds `server` lines one reply at a time; returns everything sent.
    fn talk(c: &mut Client, server: &[&str]) -> String {
        let mut sent = String::new();
        for line in server {
            for a in c.receive(format!("{line}\r\n").as_bytes()) {
                match a {
                    Action::Send(b) => sent.push_str(&String::from_utf8_lossy(&b)),
                    Action::StartTls => sent.push_str("<TLS>"),
                    Action::Close => sent.push_str("<CLOSE>"),
                }
            }
        }
        sent
    }

    #[test]
    fn pipelined_envelope_with_one_recipient_refused() {
        let mut c = Client::new(Settings { tls_possible: false, ..settings() }, env(&["a@far.test", "b@far.test"]));
        let sent = talk(
            &mut c,
            &[
                "220 mx.far.test ESMTP",
                "250-mx.far.test hello\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-DSN\r\n250 8BITMIME",
                "250 2.1.0 ok",
                "250 2.1.5 ok",
                "550 5.1.1 <b@far.test>: no such user",
                "354 go ahead",
                "250 2.0.0 queued as 42",
                "221 bye",
            ],
        );
        assert!(sent.starts_with("EHLO mail.export.test\r\n"));
        assert!(sent.contains(
            "MAIL FROM:<sales@export.test> SIZE=31 RET=HDRS ENVID=Q1\r\nRCPT TO:<a@far.test> ORCPT=rfc822;a@far.test\r\nRCPT TO:<b@far.test> ORCPT=rfc822;b@far.test\r\nDATA\r\n"
        ), "{sent}");
        assert!(sent.contains("Subject: hi\r\n\r\n..dot line\r\nend\r\n.\r\nQUIT\r\n<CLOSE>"), "dot-stuffed: {sent}");
        let o = c.outcomes();
        assert!(matches!(&o[0], Outcome::Delivered(r) if r.text.contains("queued as 42")));
        assert!(matches!(&o[1], Outcome::Permanent(r) if r.status() == "5.1.1"));
        assert!(c.is_done());
    }

    #[test]
    fn dsn_parameters_that_are_not_xtext_are_not_passed_on() {
        assert!(is_xtext("Q1") && is_xtext("a+2Bb") && is_xtext("rfc822"));
        assert!(!is_xtext("a b") && !is_xtext("a=b") && !is_xtext("a+zz") && !is_xtext("") && !is_xtext("é"));
        let mut e = env(&["a@far.test"]);
        e.envid = Some("bad id".into());
        e.recipients[0].orcpt = Some("rfc822;a@far.test SIZE=1".into());
        let mut c = Client::new(Settings { tls_possible: false, ..settings() }, e);
        let sent = talk(&mut c, &["220 x", "250-x\r\n250-PIPELINING\r\n250 DSN"]);
        assert!(sent.contains("MAIL FROM:<sales@export.test> RET=HDRS\r\nRCPT TO:<a@far.test>\r\n"), "{sent}");
    }

    #[test]
    fn bytes_after_the_starttls_reply_end_the_connection() {
        let mut c = Client::new(settings(), env(&["a@far.test"]));
        talk(&mut c, &["220 mx.far.test ESMTP", "250-mx.far.test\r\n250 STARTTLS"]);
        let sent = talk(&mut c, &["220 go ahead\r\n250 injected"]);
        assert_eq!(sent, "<CLOSE>", "no TLS over a tampered stream");
        assert!(matches!(&c.outcomes()[0], Outcome::Temporary(r) if r.text.contains("after agreeing to start TLS")));
    }

    #[test]
    fn an_endless_reply_is_cut_off() {
        let mut c = Client::new(settings(), env(&["a@far.test"]));
        talk(&mut c, &["220 mx.far.test ESMTP"]);
        let mut sent = String::new();
        for _ in 0..200 {
            sent.push_str(&talk(&mut c, &["250-more"]));
        }
        assert!(sent.contains("<CLOSE>") && c.is_done());
    }

    #[test]
    fn chunking_sends_the_message_unstuffed_in_one_last_bdat() {
        let mut c = Client::new(Settings { tls_possible: false, ..settings() }, env(&["a@far.test"]));
        let sent = talk(
            &mut c,
            &[
                "220 mx.far.test ESMTP",
                "250-mx.far.test hello\r\n250-PIPELINING\r\n250 CHUNKING",
                "250 2.1.0 ok",
                "250 2.1.5 ok",
                "250 2.0.0 queued as 43",
                "221 bye",
            ],
        );
        assert!(
            sent.contains("RCPT TO:<a@far.test>\r\nBDAT 31 LAST\r\nSubject: hi\r\n\r\n.dot line\r\nend\r\nQUIT\r\n"),
            "{sent}"
        );
        assert!(!sent.contains("DATA"), "{sent}");
        assert!(matches!(&c.outcomes()[0], Outcome::Delivered(r) if r.text.contains("queued as 43")));
    }

    #[test]
    fn one_rcpt_at_a_time_without_pipelining_and_helo_for_old_servers() {
        let mut c = Client::new(Settings { tls_possible: false, ..settings() }, env(&["a@far.test", "b@far.test"]));
        let first = talk(&mut c, &["220 old", "502 what"]);
        assert_eq!(first, "EHLO mail.export.test\r\nHELO mail.export.test\r\n");
        assert_eq!(talk(&mut c, &["250 old"]), "MAIL FROM:<sales@export.test>\r\n", "no DSN/SIZE without EHLO");
        assert_eq!(talk(&mut c, &["250 ok"]), "RCPT TO:<a@far.test>\r\n");
        assert_eq!(talk(&mut c, &["451 4.3.0 try later"]), "RCPT TO:<b@far.test>\r\n");
        assert_eq!(talk(&mut c, &["250 ok"]), "DATA\r\n");
        talk(&mut c, &["354 go", "250 ok", "221 bye"]);
        let o = c.outcomes();
        assert!(matches!(o[0], Outcome::Temporary(_)), "only that recipient is retried");
        assert!(matches!(o[1], Outcome::Delivered(_)));
    }

    #[test]
    fn starttls_whenever_offered_then_ehlo_again() {
        let mut c = Client::new(settings(), env(&["a@far.test"]));
        let sent = talk(&mut c, &["220 mx", "250-mx\r\n250 STARTTLS", "220 2.0.0 ready"]);
        assert_eq!(sent, "EHLO mail.export.test\r\nSTARTTLS\r\n<TLS>");
        let again: Vec<Action> = c.tls_started();
        assert_eq!(again, vec![Action::Send(b"EHLO mail.export.test\r\n".to_vec())]);
        let sent = talk(&mut c, &["250-mx\r\n250 PIPELINING"]);
        assert!(
            sent.starts_with("MAIL FROM:<sales@export.test>\r\nRCPT TO:<a@far.test>\r\n"),
            "no STARTTLS twice: {sent}"
        );
    }

    #[test]
    fn tls_required_but_not_offered_is_a_temporary_failure() {
        let mut c = Client::new(Settings { tls_required: true, ..settings() }, env(&["a@far.test"]));
        let sent = talk(&mut c, &["220 mx", "250 mx"]);
        assert_eq!(sent, "EHLO mail.export.test\r\nQUIT\r\n");
        assert!(matches!(&c.outcomes()[0], Outcome::Temporary(r) if r.status() == "4.7.5"));
    }

    #[test]
    fn size_smtputf8_and_8bitmime_are_checked_before_sending() {
        let mut c = Client::new(settings(), env(&["a@far.test"]));
        talk(&mut c, &["220 mx", "250-mx\r\n250 SIZE 10"]);
        assert!(matches!(&c.outcomes()[0], Outcome::Permanent(r) if r.status() == "5.3.4"));
        let mut e = env(&["李@far.test"]);
        e.smtputf8 = true;
        let mut c = Client::new(settings(), e);
        talk(&mut c, &["220 mx", "250-mx\r\n250 8BITMIME"]);
        assert!(matches!(&c.outcomes()[0], Outcome::Permanent(r) if r.status() == "5.6.7"));
        let mut e = env(&["a@far.test"]);
        e.eight_bit = true;
        let mut c = Client::new(settings(), e);
        talk(&mut c, &["220 mx", "250 mx"]);
        assert!(matches!(&c.outcomes()[0], Outcome::Permanent(r) if r.status() == "5.6.3"));
    }

    #[test]
    fn refusals_and_lost_connections() {
        let mut c = Client::new(settings(), env(&["a@far.test"]));
        talk(&mut c, &["554 no service here"]);
        assert!(matches!(&c.outcomes()[0], Outcome::Temporary(_)), "a greeting refusal: try another host later");
        let mut c = Client::new(settings(), env(&["a@far.test"]));
        talk(&mut c, &["220 mx", "250 mx", "550 5.7.1 sender refused"]);
        assert!(matches!(&c.outcomes()[0], Outcome::Permanent(r) if r.status() == "5.7.1"));
        let mut c = Client::new(settings(), env(&["a@far.test"]));
        talk(&mut c, &["220 mx", "250-mx\r\n250 PIPELINING", "250 ok", "250 ok", "354 go"]);
        c.connection_lost("timed out after DATA");
        assert!(
            matches!(&c.outcomes()[0], Outcome::Temporary(r) if r.text.contains("timed out")),
            "never counted delivered"
        );
        let mut c = Client::new(settings(), env(&["a@far.test"]));
        assert_eq!(c.receive(b"hello there\r\n"), vec![Action::Close]);
        assert!(matches!(c.outcomes()[0], Outcome::Temporary(_)));
    }

    #[test]
    fn auth_plain_at_a_relay_only_after_tls() {
        let creds = Some(("sales@export.test".to_string(), "secret".to_string()));
        let mut c = Client::new(Settings { credentials: creds.clone(), ..settings() }, env(&["a@far.test"]));
        talk(&mut c, &["220 relay", "250-relay\r\n250-STARTTLS\r\n250 AUTH LOGIN PLAIN", "220 go"]);
        c.tls_started();
        let sent = talk(&mut c, &["250-relay\r\n250 AUTH LOGIN PLAIN"]);
        assert_eq!(sent, format!("AUTH PLAIN {}\r\n", caravel_auth::sasl::encode(b"\0sales@export.test\0secret")));
        assert!(talk(&mut c, &["235 2.7.0 ok"]).starts_with("MAIL FROM:"));
        let mut c =
            Client::new(Settings { credentials: creds, tls_possible: false, ..settings() }, env(&["a@far.test"]));
        talk(&mut c, &["220 relay", "250-relay\r\n250 AUTH PLAIN"]);
        assert!(matches!(&c.outcomes()[0], Outcome::Temporary(r) if r.code == 454), "no password in clear text");
    }

    /// Random server bytes (a stand-in for a fuzzer): never a panic, and a
    /// recipient is only ever delivered after a 250 to the final dot.
    #[test]
    fn random_server_bytes_never_panic() {
        let mut next = caravel_testkit::xorshift(0xdead_beef_cafe_f00d);
        let pieces = [
            "220 x\r\n",
            "250 ok\r\n",
            "250-A\r\n",
            "354 go\r\n",
            "550 5.1.1 no\r\n",
            "421 bye\r\n",
            "xyz\r\n",
            "\r\n",
            "250",
        ];
        for _ in 0..3000 {
            let mut c = Client::new(settings(), env(&["a@far.test", "b@far.test"]));
            let mut saw_dot_ok = false;
            for _ in 0..(next() % 12) {
                let p = pieces[(next() as usize) % pieces.len()];
                saw_dot_ok |= c.state == State::Dot && p.starts_with("250 ");
                let _ = c.receive(p.as_bytes());
            }
            if c.outcomes().iter().any(|o| matches!(o, Outcome::Delivered(_))) {
                assert!(saw_dot_ok);
            }
        }
    }
}
