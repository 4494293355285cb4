//! Sending from the webmail: one in-process SMTP submission session per
//! message, already signed in (the web sign-in did password, second factor
//! and lockout), driven through MAIL, RCPT and DATA like a port-587
//! client. So the same code checks the sender, the recipients, the limits
//! and the outbound filter, adds the signature, and stores and queues
//! (DKIM signs at delivery). Nothing here decides anything SMTP would not.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use caravel_auth::{SignIn, SignedIn};
use caravel_http::{Envelope, SubmitRefused, Submitted};
use caravel_smtp::backend::{Accepted, Backend, Lookup, TempFailure};
use caravel_smtp::data::DataError;
use caravel_smtp::pipeline::Pipeline;
use caravel_smtp::reply::Reply;
use caravel_smtp::session::{Session, SessionConfig};
use caravel_smtp::StoreBackend;
use caravel_store::MailEvent;

/// How the Received field and the mail log describe these sessions.
const HOW: &str = "webmail over HTTPS";

pub struct WebSubmission {
    pub config: Arc<SessionConfig>,
    pub backend: Arc<StoreBackend>,
    pub pipeline: Arc<Pipeline>,
}

#[async_trait]
impl caravel_http::Submission for WebSubmission {
    fn max_message_size(&self) -> u64 {
        self.config.max_message_size
    }

    async fn submit(
        &self,
        user: SignedIn,
        peer: IpAddr,
        envelope: Envelope,
        message: Vec<u8>,
    ) -> Result<Submitted, SubmitRefused> {
        let backend = Arc::new(Capture { inner: self.backend.clone(), sent: Mutex::new(None) });
        let id = format!("web{:08x}", rand::random::<u32>());
        let mut session = Session::new(self.config.clone(), backend.clone(), self.pipeline.clone(), peer, id, None)
            .signed_in_elsewhere(user, HOW);
        // Addresses were parsed by the webmail: no space, bracket or line
        // end can reach the command line.
        let smtputf8 = match envelope.recipients.iter().chain([&envelope.from]).any(|a| !a.is_ascii()) {
            true => " SMTPUTF8",
            false => "",
        };
        // A message forwarded whole may carry 8-bit text (RFC 6152).
        let body = if message.is_ascii() { "" } else { " BODY=8BITMIME" };
        let mail = format!("MAIL FROM:<{}> SIZE={}{body}{smtputf8}", envelope.from, message.len());
        expect(session.line(mail.as_bytes()).await.replies, None)?;
        for rcpt in &envelope.recipients {
            expect(session.line(format!("RCPT TO:<{rcpt}>").as_bytes()).await.replies, Some(rcpt))?;
        }
        expect(session.line(b"DATA").await.replies, None)?;
        // What the DATA reader refuses on the wire it refuses here too (the
        // webmail builds clean messages; this keeps it so): a bare CR or LF
        // or a NUL could smuggle a second message past the next hop.
        let longest = message.split(|b| *b == b'\n').map(<[u8]>::len).max().unwrap_or(0);
        let refused = if caravel_smtp::data::bare_line_ending(&message, false) || message.ends_with(b"\r") {
            Some(DataError::BareLineEnding)
        } else if message.contains(&0) {
            Some(DataError::Nul)
        } else if longest >= self.config.max_line_length {
            Some(DataError::LineTooLong)
        } else {
            None
        };
        let done = match refused {
            Some(e) => session.data_done(Err(e)).await.replies,
            None => session.data_done(Ok(message)).await.replies,
        };
        let queue_id = done
            .first()
            .filter(|r| r.code == 250)
            .and_then(|r| r.lines.first())
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string);
        expect(done, None)?;
        let message = backend.sent.lock().map(|mut s| s.take()).ok().flatten().unwrap_or_default();
        Ok(Submitted { queue_id: queue_id.unwrap_or_default(), message })
    }
}

/// The first reply's verdict: 2xx and 3xx go on, anything else is the
/// refusal (about `recipient` when it answered a RCPT).
fn expect(replies: Vec<Reply>, recipient: Option<&String>) -> Result<(), SubmitRefused> {
    match replies.into_iter().next() {
        Some(r) if r.code < 400 => Ok(()),
        Some(r) => Err(SubmitRefused { code: r.code, text: r.lines.join(" "), recipient: recipient.cloned() }),
        None => Err(SubmitRefused { code: 451, text: "4.3.0 no reply".into(), recipient: None }),
    }
}

/// The store backend, keeping the message as it left the signature step
/// (before the trace fields): the copy for Sent.
struct Capture {
    inner: Arc<StoreBackend>,
    sent: Mutex<Option<Vec<u8>>>,
}

#[async_trait]
impl Backend for Capture {
    async fn lookup(&self, address: &str, size: u64) -> Result<Lookup, TempFailure> {
        self.inner.lookup(address, size).await
    }
    async fn authenticate(&self, username: &str, password: &str, peer: IpAddr) -> Result<SignIn, TempFailure> {
        self.inner.authenticate(username, password, peer).await
    }
    async fn may_send_as(&self, user: &SignedIn, from: &str) -> Result<bool, TempFailure> {
        self.inner.may_send_as(user, from).await
    }
    async fn personalize(&self, user: &SignedIn, message: Vec<u8>, recipients: &[String]) -> Vec<u8> {
        let message = self.inner.personalize(user, message, recipients).await;
        if let Ok(mut sent) = self.sent.lock() {
            *sent = Some(message.clone());
        }
        message
    }
    async fn deliver(&self, message: Accepted) -> Result<(), TempFailure> {
        self.inner.deliver(message).await
    }
    async fn log(&self, event: MailEvent) {
        self.inner.log(event).await
    }
}
