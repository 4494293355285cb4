//! The filter pipeline run on every message at the end of DATA: small stages,
//! each looking at the message and its envelope, adding tests and score, and
//! possibly deciding, for the whole message or for one recipient. The SMTP
//! session calls it; sender authentication, spam and rules are stages here.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use caravel_store::AccountId;

use crate::content::Content;
use crate::spam::SpamFilter;
use crate::thresholds::Thresholds;

/// What to do with a message, for one recipient or for all.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accept,
    /// Deliver, but to the recipient's Junk folder.
    Junk,
    /// Hold it for the administrator. Until the quarantine exists (the
    /// antivirus issue) it is a Junk copy tagged `$Quarantine`.
    Quarantine,
    /// Refuse with this SMTP reply (a 4xx code asks the client to retry).
    Reject {
        code: u16,
        enhanced: &'static str,
        text: String,
    },
}

impl Verdict {
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Junk => "junk",
            Verdict::Quarantine => "quarantine",
            Verdict::Reject { .. } => "reject",
        }
    }

    /// The harsher of two verdicts (rules and scores only ever make a
    /// verdict harsher).
    pub fn harsher(self, other: Verdict) -> Verdict {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// How far from the inbox: a later stage or rule can make a verdict
    /// harsher, never milder.
    fn severity(&self) -> u8 {
        match self {
            Verdict::Accept => 0,
            Verdict::Junk => 1,
            Verdict::Quarantine => 2,
            Verdict::Reject { .. } => 3,
        }
    }
}

/// One test that fired, SpamAssassin style: a name for `X-Spam-Status`,
/// points, and words for the log and for the person whose mail it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub name: String,
    pub score: f64,
    pub detail: String,
}

/// A recipient as the stages see it: their own tests, score and decision.
#[derive(Debug, Clone)]
pub struct RecipientCtx {
    pub address: String,
    /// The local account (None: the copies an alias forwards outside,
    /// filtered as the alias's).
    pub account: Option<AccountId>,
    pub hits: Vec<Hit>,
    /// A decision a rule of this recipient made (the harshest wins).
    pub decision: Option<Verdict>,
    /// On this recipient's allow list: content scoring is skipped.
    pub allowed: bool,
    /// A stage asked for this copy to be held (kept even if a harsher
    /// refusal is overruled by the other recipients).
    pub held: bool,
}

impl RecipientCtx {
    pub fn new(address: &str, account: Option<AccountId>) -> RecipientCtx {
        RecipientCtx {
            address: address.to_string(),
            account,
            hits: Vec::new(),
            decision: None,
            allowed: false,
            held: false,
        }
    }

    pub fn decide(&mut self, v: Verdict) {
        self.held |= v == Verdict::Quarantine;
        self.decision = Some(match self.decision.take() {
            Some(d) => d.harsher(v),
            None => v,
        });
    }
}

/// Messages this large are parsed on a blocking thread.
const LARGE: usize = 256 * 1024;

/// What a stage sees; stages add to `hits`, `tags` and `headers`.
pub struct MessageContext<'a> {
    pub message: &'a [u8],
    pub sender: &'a str,
    pub recipients: Vec<RecipientCtx>,
    pub peer: IpAddr,
    pub helo: &'a str,
    /// The signed-in user who submitted it, if any.
    pub user: Option<&'a str>,
    /// The From: address (lowercase) when the authentication stage found
    /// it is the sender's own: the only address of the field, and DMARC
    /// passed, or the domain has no DMARC record and SPF or DKIM passed
    /// for it.
    pub authenticated_from: Option<String>,
    /// Received on the MX listener (from other servers), not submitted.
    pub inbound: bool,
    /// The envelope sender vouches for the message: SPF passed for it, or
    /// its domain (or a parent) signed a message it wrote (`From:` is the
    /// sender). Notices (a mail rule's refusal) go back only to such a
    /// sender: to a forged one they are backscatter.
    pub sender_verified: bool,
    /// Short results for the mail log, e.g. "spf=pass".
    pub tags: Vec<String>,
    /// Tests that fired for every recipient.
    pub hits: Vec<Hit>,
    /// Header fields (with their CRLF) to put in front of the message.
    pub headers: Vec<String>,
    /// Bounds on the parts decoded for the virus scanner (the pipeline sets
    /// the configured ones).
    pub file_limits: caravel_antivirus::Limits,
    /// Set by the virus scanner when it holds the whole message, with why:
    /// copies for outside addresses (aliases that forward) are held too.
    pub held_by_scanner: Option<String>,
    content: OnceLock<Content>,
}

impl<'a> MessageContext<'a> {
    pub fn new(message: &'a [u8], sender: &'a str, peer: IpAddr, helo: &'a str) -> MessageContext<'a> {
        MessageContext {
            message,
            sender,
            recipients: Vec::new(),
            peer,
            helo,
            user: None,
            authenticated_from: None,
            inbound: true,
            sender_verified: false,
            tags: Vec::new(),
            hits: Vec::new(),
            headers: Vec::new(),
            file_limits: caravel_antivirus::Limits::default(),
            held_by_scanner: None,
            content: OnceLock::new(),
        }
    }

    pub fn authenticated(&self) -> bool {
        self.user.is_some()
    }

    /// The decoded text of the message, parsed once for all stages.
    pub fn content(&self) -> &Content {
        self.content.get_or_init(|| Content::parse_with_files(self.message, &self.file_limits))
    }

    /// Parses a large message off the async runtime's threads (decoding
    /// every part of a 50 MB message takes a while) before any stage asks.
    async fn parse_large(&mut self) {
        if self.message.len() < LARGE || self.content.get().is_some() {
            return;
        }
        let copy = self.message.to_vec();
        let limits = self.file_limits.clone();
        if let Ok(c) = tokio::task::spawn_blocking(move || Content::parse_with_files(&copy, &limits)).await {
            let _ = self.content.set(c);
        }
    }

    /// The score of the tests that fired for everyone.
    pub fn score(&self) -> f64 {
        self.hits.iter().map(|h| h.score).sum()
    }

    pub fn hit(&mut self, name: &str, score: f64, detail: impl Into<String>) {
        self.hits.push(Hit { name: name.to_string(), score, detail: detail.into() });
    }
}

#[async_trait]
pub trait Stage: Send + Sync {
    fn name(&self) -> &'static str;
    /// `Some` decides for the whole message and ends the pipeline; `None`
    /// passes the message (and any per-recipient decisions) on.
    async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict>;
}

#[async_trait]
impl<T: Stage + ?Sized> Stage for Arc<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict> {
        (**self).check(ctx).await
    }
}

/// What became of the message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Refused for everyone, with this reply.
    Refuse { code: u16, enhanced: &'static str, text: String },
    /// One result per recipient, in order.
    Deliver(Vec<RecipientResult>),
}

/// A recipient's verdict and the figures behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientResult {
    pub verdict: Verdict,
    pub score: f64,
    /// The junk threshold that applied (for `required=`).
    pub required: f64,
    pub hits: Vec<Hit>,
}

impl RecipientResult {
    pub fn is_spam(&self) -> bool {
        self.verdict != Verdict::Accept
    }

    /// `X-Spam-Status` and `X-Spam-Score` fields, as SpamAssassin writes
    /// them (mail clients and users' own rules read these).
    pub fn headers(&self) -> String {
        let mut names: Vec<&str> = self.hits.iter().map(|h| h.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let tests = if names.is_empty() { "none".to_string() } else { names.join(",") };
        format!(
            "X-Spam-Status: {}, score={:.1} required={:.1} tests={}\r\n\tverdict={}\r\nX-Spam-Score: {:.1}\r\n",
            if self.is_spam() { "Yes" } else { "No" },
            self.score,
            self.required,
            fold_tests(&tests),
            self.verdict.word(),
            self.score
        )
    }

    /// The reasons in words, for the mail log and refusals.
    pub fn reasons(&self) -> String {
        let parts: Vec<String> = self
            .hits
            .iter()
            .map(|h| if h.score != 0.0 { format!("{} ({:+.1})", h.detail, h.score) } else { h.detail.clone() })
            .collect();
        parts.join("; ")
    }
}

/// Breaks a long `tests=` list after commas so no header line is too long
/// (RFC 5322 §2.1.1: 78 characters should, 998 must).
fn fold_tests(tests: &str) -> String {
    let mut out = String::new();
    // "X-Spam-Status: Yes, score=-10.0 required=10.0 tests=" comes first.
    let mut line = 52;
    for (i, t) in tests.split(',').enumerate() {
        if i > 0 {
            out.push(',');
            line += 1;
            if line + t.len() > 70 {
                out.push_str("\r\n\t");
                line = 0;
            }
        }
        out.push_str(t);
        line += t.len();
    }
    out
}

/// Stages in order; the first whole-message decision wins. Otherwise each
/// recipient gets the harshest of their own rule decisions and of their
/// thresholds applied to the score. A refusal needs every recipient to
/// refuse: after DATA, one reply answers for all of them, so a recipient
/// whose rules would refuse a message others take gets it in Junk instead
/// (never a bounce to a sender who may be forged).
pub struct Pipeline {
    stages: Vec<Box<dyn Stage>>,
    thresholds: Thresholds,
    /// Answers block-list questions at MAIL and RCPT.
    lists: Option<Arc<SpamFilter>>,
    /// The configured bounds on decoding a message's parts.
    file_limits: Option<caravel_antivirus::Limits>,
}

impl Pipeline {
    pub fn new(stages: Vec<Box<dyn Stage>>) -> Pipeline {
        Pipeline::with_thresholds(stages, Thresholds::default())
    }

    pub fn with_thresholds(stages: Vec<Box<dyn Stage>>, thresholds: Thresholds) -> Pipeline {
        Pipeline { stages, thresholds, lists: None, file_limits: None }
    }

    /// Block lists are checked at MAIL and RCPT too (the spam filter is
    /// then usually also one of the stages).
    pub fn with_lists(mut self, lists: Arc<SpamFilter>) -> Pipeline {
        self.lists = Some(lists);
        self
    }

    /// Decodes parts for the virus scanner within these limits
    /// (`[antivirus] max_*`) rather than the defaults.
    pub fn with_file_limits(mut self, limits: caravel_antivirus::Limits) -> Pipeline {
        self.file_limits = Some(limits);
        self
    }

    /// A refusal at MAIL FROM: the sender or the client's address is on the
    /// server's block list (no content needed to decide).
    pub async fn refuse_sender(&self, sender: &str, peer: IpAddr) -> Option<Verdict> {
        let p = self.lists.as_ref()?.blocked_sender(sender, peer).await?;
        Some(crate::spam::block_reply(&p))
    }

    /// A refusal at RCPT TO: the sender is on the recipient's (or their
    /// domain's) block list.
    pub async fn refuse_recipient(&self, sender: &str, peer: IpAddr, recipient: &str) -> Option<Verdict> {
        let p = self.lists.as_ref()?.blocked_for(sender, peer, recipient).await?;
        Some(crate::spam::block_reply(&p))
    }

    /// A signed-in user's message was accepted (250) for `recipients`:
    /// the spam filter remembers whom they wrote to.
    pub async fn sent(&self, account: AccountId, recipients: &[String]) {
        if let Some(lists) = &self.lists {
            lists.note_correspondents(account, recipients).await;
        }
    }

    /// "Try again later" (451) for a new (network, sender, recipient) triple
    /// when greylisting is on.
    pub async fn greylist(&self, sender: &str, peer: IpAddr, recipient: &str) -> Option<Verdict> {
        self.lists.as_ref()?.greylisted(sender, peer, recipient).await
    }

    pub async fn run(&self, ctx: &mut MessageContext<'_>) -> Outcome {
        if let Some(l) = &self.file_limits {
            ctx.file_limits = l.clone();
        }
        ctx.parse_large().await;
        for stage in &self.stages {
            if let Some(v) = stage.check(ctx).await {
                ctx.tags.push(format!("decided-by:{}", stage.name()));
                match v {
                    Verdict::Reject { code, enhanced, text } => return Outcome::Refuse { code, enhanced, text },
                    other => ctx.recipients.iter_mut().for_each(|r| r.decide(other.clone())),
                }
                break;
            }
        }
        let mut results: Vec<RecipientResult> = ctx.recipients.iter().map(|r| self.result(ctx, r)).collect();
        let refused = results.iter().filter(|r| matches!(r.verdict, Verdict::Reject { .. })).count();
        if refused > 0 && refused == results.len() {
            if let Some(Verdict::Reject { code, enhanced, text }) = results.first().map(|r| r.verdict.clone()) {
                return Outcome::Refuse { code, enhanced, text };
            }
        }
        for (r, c) in results.iter_mut().zip(&ctx.recipients) {
            if !matches!(r.verdict, Verdict::Reject { .. }) {
                continue;
            }
            // Never milder than a hold asked for before the refusal; a copy
            // that goes elsewhere (no account here) has no Junk folder.
            let held = c.held
                || c.account.is_none()
                || self.thresholds.for_address(&c.address).verdict(r.score) == Verdict::Quarantine;
            r.hits.push(Hit {
                name: "REJECT_OVERRULED".into(),
                score: 0.0,
                detail: format!(
                    "refused by this recipient's rules, {} because others accepted it",
                    if held { "held" } else { "filed as junk" }
                ),
            });
            r.verdict = if held { Verdict::Quarantine } else { Verdict::Junk };
        }
        Outcome::Deliver(results)
    }

    fn result(&self, ctx: &MessageContext<'_>, r: &RecipientCtx) -> RecipientResult {
        let hits: Vec<Hit> = ctx.hits.iter().chain(&r.hits).cloned().collect();
        let score: f64 = hits.iter().map(|h| h.score).sum();
        let limits = self.thresholds.for_address(&r.address);
        let by_score = limits.verdict(score);
        let verdict = match &r.decision {
            Some(d) if d.severity() >= by_score.severity() => d.clone(),
            _ => by_score,
        };
        // + 0.0: an empty sum is -0.0, which would print as "-0.0".
        RecipientResult { verdict, score: (score * 10.0).round() / 10.0 + 0.0, required: limits.junk, hits }
    }
}

/// Refuses messages over the size limit (the DATA receiver stops reading
/// them early; this stage also covers BDAT and later entry points).
pub struct SizeStage {
    pub max: u64,
}

#[async_trait]
impl Stage for SizeStage {
    fn name(&self) -> &'static str {
        "size"
    }

    async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict> {
        (ctx.message.len() as u64 > self.max).then(|| Verdict::Reject {
            code: 552,
            enhanced: "5.3.4",
            text: format!("Message size exceeds fixed maximum message size of {} bytes", self.max),
        })
    }
}

/// Refuses messages whose MIME parts nest deeper than `max` levels, as
/// Postfix does past its mime_nesting_limit: no client needs them, and every
/// reader of the message would have to walk them.
pub struct MimeDepthStage {
    pub max: usize,
}

#[async_trait]
impl Stage for MimeDepthStage {
    fn name(&self) -> &'static str {
        "mime-depth"
    }

    async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict> {
        let depth = ctx.content().depth;
        (depth > self.max).then(|| Verdict::Reject {
            code: 554,
            enhanced: "5.6.0",
            text: format!("Message MIME structure nests {depth} levels deep; the limit is {}", self.max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thresholds::Limits;

    struct Score(f64);
    #[async_trait]
    impl Stage for Score {
        fn name(&self) -> &'static str {
            "score"
        }
        async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict> {
            ctx.hit("SCORE", self.0, "test points");
            None
        }
    }

    /// bob's rules refuse everything.
    struct BobRefuses;
    #[async_trait]
    impl Stage for BobRefuses {
        fn name(&self) -> &'static str {
            "bob"
        }
        async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict> {
            for r in ctx.recipients.iter_mut().filter(|r| r.address.starts_with("bob@")) {
                r.decide(Verdict::Reject { code: 550, enhanced: "5.7.1", text: "bob says no".into() });
            }
            None
        }
    }

    fn ctx<'a>(message: &'a [u8], to: &[&str]) -> MessageContext<'a> {
        let mut c = MessageContext::new(message, "a@b.test", "127.0.0.1".parse().expect("ip"), "h");
        c.recipients = to.iter().zip(1..).map(|(a, account)| RecipientCtx::new(a, Some(account))).collect();
        c
    }

    fn verdicts(o: Outcome) -> Vec<&'static str> {
        match o {
            Outcome::Deliver(r) => r.iter().map(|r| r.verdict.word()).collect(),
            Outcome::Refuse { .. } => vec!["refused"],
        }
    }

    #[tokio::test]
    async fn size_stage_refuses_and_score_files_as_junk() {
        let p = Pipeline::new(vec![Box::new(SizeStage { max: 10 }), Box::new(Score(6.0))]);
        assert!(matches!(p.run(&mut ctx(b"01234567890", &["x@y"])).await, Outcome::Refuse { code: 552, .. }));
        assert_eq!(verdicts(p.run(&mut ctx(b"short", &["x@y"])).await), ["junk"]);
        let p = Pipeline::new(vec![Box::new(SizeStage { max: 10 })]);
        assert_eq!(verdicts(p.run(&mut ctx(b"short", &["x@y"])).await), ["accept"]);
    }

    #[tokio::test]
    async fn thresholds_apply_per_recipient() {
        let mut t = Thresholds::default();
        t.users.push(("alice@x.test".into(), Limits { junk: 3.0, ..Limits::default() }));
        let p = Pipeline::with_thresholds(vec![Box::new(Score(4.0))], t);
        assert_eq!(verdicts(p.run(&mut ctx(b"m", &["alice@x.test", "bob@x.test"])).await), ["junk", "accept"]);
    }

    #[tokio::test]
    async fn one_refusing_recipient_gets_junk_when_others_accept() {
        let p = Pipeline::new(vec![Box::new(BobRefuses)]);
        assert_eq!(verdicts(p.run(&mut ctx(b"m", &["alice@x.test", "bob@x.test"])).await), ["accept", "junk"]);
        assert_eq!(verdicts(p.run(&mut ctx(b"m", &["bob@x.test"])).await), ["refused"]);
        // bob@ an alias forwarding outside: no Junk folder there, held here.
        let mut c = ctx(b"m", &["alice@x.test"]);
        c.recipients.push(RecipientCtx::new("bob@x.test", None));
        assert_eq!(verdicts(p.run(&mut c).await), ["accept", "quarantine"]);
    }

    /// bob's copy is held by one stage, then refused by his rules: when
    /// alice takes the message, bob's copy stays held (not Junk).
    #[tokio::test]
    async fn an_overruled_refusal_keeps_an_earlier_hold() {
        struct HoldAll;
        #[async_trait]
        impl Stage for HoldAll {
            fn name(&self) -> &'static str {
                "hold"
            }
            async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict> {
                ctx.recipients.iter_mut().for_each(|r| r.decide(Verdict::Quarantine));
                None
            }
        }
        let p = Pipeline::new(vec![Box::new(HoldAll), Box::new(BobRefuses)]);
        assert_eq!(
            verdicts(p.run(&mut ctx(b"m", &["alice@x.test", "bob@x.test"])).await),
            ["quarantine", "quarantine"]
        );
    }

    #[test]
    fn headers_name_the_tests_and_fold() {
        let r = RecipientResult {
            verdict: Verdict::Junk,
            score: 7.0,
            required: 5.0,
            hits: (0..12).map(|i| Hit { name: format!("TEST_NUMBER_{i}"), score: 0.5, detail: "d".into() }).collect(),
        };
        let h = r.headers();
        assert!(h.starts_with("X-Spam-Status: Yes, score=7.0 required=5.0 tests=TEST_NUMBER_0,"), "{h}");
        assert!(h.lines().all(|l| l.len() <= 90), "{h}");
        assert!(h.ends_with("X-Spam-Score: 7.0\r\n"), "{h}");
    }
}
