//! The filter pipeline run on every message at the end of DATA: small stages,
//! each looking at the message and its envelope, adding tags and score, and
//! possibly deciding. Spam, antivirus and rules arrive as more stages.

use std::net::IpAddr;

use async_trait::async_trait;

/// What to do with a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accept,
    /// Deliver, but to the recipients' Junk folder.
    Junk,
    /// Refuse with this SMTP reply.
    Reject {
        code: u16,
        enhanced: &'static str,
        text: String,
    },
}

/// What a stage sees; stages add to `tags` and `score`.
pub struct MessageContext<'a> {
    pub message: &'a [u8],
    pub sender: &'a str,
    pub recipients: &'a [String],
    pub peer: IpAddr,
    pub helo: &'a str,
    pub authenticated: bool,
    /// Received on the MX listener (from other servers), not submitted.
    pub inbound: bool,
    /// Short results for the mail log, e.g. "spf=pass".
    pub tags: Vec<String>,
    pub score: f64,
    /// Header fields (with their CRLF) to put in front of the message.
    pub headers: Vec<String>,
}

#[async_trait]
pub trait Stage: Send + Sync {
    fn name(&self) -> &'static str;
    /// `Some` decides; `None` passes the message to the next stage.
    async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict>;
}

/// Stages in order; the first decision wins. With no decision the message is
/// accepted, or filed as Junk when the score reaches `junk_score`.
pub struct Pipeline {
    stages: Vec<Box<dyn Stage>>,
    junk_score: f64,
}

impl Pipeline {
    pub fn new(stages: Vec<Box<dyn Stage>>) -> Pipeline {
        Pipeline { stages, junk_score: 5.0 }
    }

    pub async fn run(&self, ctx: &mut MessageContext<'_>) -> Verdict {
        for stage in &self.stages {
            if let Some(v) = stage.check(ctx).await {
                ctx.tags.push(format!("decided-by:{}", stage.name()));
                return v;
            }
        }
        if ctx.score >= self.junk_score {
            Verdict::Junk
        } else {
            Verdict::Accept
        }
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
        // Parsing a large message takes a while: not on a runtime thread.
        let depth = if ctx.message.len() < 256 * 1024 {
            caravel_store::mime::nesting_depth(ctx.message)
        } else {
            let copy = ctx.message.to_vec();
            tokio::task::spawn_blocking(move || caravel_store::mime::nesting_depth(&copy)).await.unwrap_or(usize::MAX)
        };
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

    struct Score(f64);
    #[async_trait]
    impl Stage for Score {
        fn name(&self) -> &'static str {
            "score"
        }
        async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict> {
            ctx.score += self.0;
            None
        }
    }

    fn ctx(message: &[u8]) -> MessageContext<'_> {
        MessageContext {
            message,
            sender: "a@b.test",
            recipients: &[],
            peer: "127.0.0.1".parse().expect("ip"),
            helo: "h",
            authenticated: false,
            inbound: true,
            tags: vec![],
            score: 0.0,
            headers: vec![],
        }
    }

    #[tokio::test]
    async fn size_stage_rejects_and_score_files_as_junk() {
        let p = Pipeline::new(vec![Box::new(SizeStage { max: 10 }), Box::new(Score(6.0))]);
        assert!(matches!(p.run(&mut ctx(b"01234567890")).await, Verdict::Reject { code: 552, .. }));
        assert_eq!(p.run(&mut ctx(b"short")).await, Verdict::Junk);
        let p = Pipeline::new(vec![Box::new(SizeStage { max: 10 })]);
        assert_eq!(p.run(&mut ctx(b"short")).await, Verdict::Accept);
    }
}
