//! The antivirus stage: every message, received or submitted, scanned by
//! the built-in scanner (and clamd when configured) over the parts the
//! context already decoded.
//!
//! - A virus: refused with 554 5.7.1 naming it (at SMTP time, so no bounce
//!   goes to a forged sender), and a copy kept in the quarantine for the
//!   administrator.
//! - A heuristic (a program, `invoice.pdf.exe`, macros ...): its configured
//!   action: refuse, hold in the quarantine (the default), or accept with a
//!   note in the headers.
//! - Submitted mail with either is refused with the reason in plain words:
//!   the sender is the one to tell, and nothing leaves that we would not
//!   take in.
//! - clamd down or too slow: 451 by default (the sender retries; nothing
//!   passes unscanned), or the built-in verdict alone if so configured.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caravel_antivirus::clamd::{self, Answer, Endpoint};
use caravel_antivirus::{Engine, Finding, Heuristic, Report};
use caravel_store::{HeldKind, NewHeld, Store};

use crate::pipeline::{MessageContext, Stage, Verdict};

/// What a heuristic finding does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Accept,
    Quarantine,
    Reject,
}

/// When clamd cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnClamdError {
    Tempfail,
    Builtin,
}

pub struct Clamd {
    pub endpoint: Endpoint,
    pub timeout: Duration,
    pub on_error: OnClamdError,
}

pub struct AntivirusStage {
    pub engine: Arc<Engine>,
    pub actions: HashMap<Heuristic, Action>,
    pub clamd: Option<Clamd>,
    /// Where a refused virus's copy is kept.
    pub store: Arc<dyn Store>,
}

impl AntivirusStage {
    fn action(&self, h: Heuristic) -> Action {
        self.actions.get(&h).copied().unwrap_or(Action::Quarantine)
    }

    /// On a blocking thread, always: a small message can hold archives
    /// that unpack to the scanner's limits.
    async fn scan(&self, ctx: &MessageContext<'_>) -> Report {
        let scanner = self.engine.scanner();
        let content = ctx.content();
        let (files, notes) = (content.files.clone(), content.file_notes.clone());
        let raw = ctx.message[..ctx.message.len().min(caravel_antivirus::scan::RAW_MAIL_SCAN)].to_vec();
        tokio::task::spawn_blocking(move || scanner.scan_message(&raw, &files, &notes)).await.unwrap_or_else(|e| {
            // A panic in the scanner must not pass the message: hold it.
            tracing::error!(error = %e, "the virus scan failed");
            Report {
                findings: vec![Finding::Suspicious { kind: Heuristic::Limits, detail: "the scan failed".into() }],
                ..Report::default()
            }
        })
    }

    /// Keeps a refused message for the administrator.
    async fn keep(&self, ctx: &MessageContext<'_>, reason: &str) {
        let held = NewHeld {
            kind: HeldKind::Virus,
            reason: reason.to_string(),
            sender: ctx.sender.to_string(),
            recipients: ctx.recipients.iter().map(|r| r.address.clone()).collect(),
            via: Default::default(),
            verdicts: Default::default(),
            subject: ctx.content().subject_text.clone(),
            raw: Arc::new(ctx.message.to_vec()),
            created: caravel_store::now_secs(),
            message_id: None,
            session: None,
        };
        if let Err(e) = self.store.hold(held).await {
            tracing::warn!(error = %e, "could not keep a copy of a refused infected message");
        }
    }
}

#[async_trait]
impl Stage for AntivirusStage {
    fn name(&self) -> &'static str {
        "antivirus"
    }

    async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict> {
        let mut report = self.scan(ctx).await;
        if report.virus().is_none() {
            if let Some(c) = &self.clamd {
                match clamd::scan(&c.endpoint, ctx.message, c.timeout).await {
                    Ok(Answer::Clean) => ctx.tags.push("clamd=clean".into()),
                    Ok(Answer::Found(name)) => {
                        report.findings.insert(0, Finding::Virus { name, file: "the message (clamd)".into() })
                    }
                    Err(e) if c.on_error == OnClamdError::Tempfail => {
                        tracing::warn!(error = %e, "clamd failed: asking the sender to retry");
                        return Some(Verdict::Reject {
                            code: 451,
                            enhanced: "4.3.0",
                            text: "The virus scanner is not available; please try again later".into(),
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "clamd failed: going by the built-in scanner alone");
                        ctx.tags.push("clamd=error".into());
                    }
                }
            }
        }
        let inbound = ctx.inbound && !ctx.authenticated();
        if let Some(virus) = report.virus() {
            let (name, words) = (virus.name().to_string(), virus.describe());
            ctx.tags.push(format!("av=virus:{name}"));
            if inbound {
                self.keep(ctx, &format!("virus: {words}")).await;
                return Some(reject(format!("Virus found: {words}; the message was not accepted")));
            }
            return Some(reject(format!("Not sent: a virus was found ({words})")));
        }
        let worst = report.findings.iter().filter_map(|f| match f {
            Finding::Suspicious { kind, detail } => Some((self.action(*kind), *kind, detail)),
            Finding::Virus { .. } => None,
        });
        let worst = worst.max_by_key(|(a, _, _)| *a);
        let Some((action, kind, detail)) = worst else {
            ctx.tags.push("av=clean".into());
            ctx.headers.push("X-Virus-Scanned: Caravel\r\n".into());
            return None;
        };
        let detail = detail.clone();
        ctx.tags.push(format!("av=suspicious:{}", kind.name()));
        // Tests (in X-Spam-Status, the log and the quarantine's reason) for
        // the findings that act; accepted ones are noted in X-Virus-Status.
        for f in &report.findings {
            if let Finding::Suspicious { kind, detail } = f {
                if self.action(*kind) != Action::Accept {
                    ctx.hit(&format!("AV_{}", kind.key().to_ascii_uppercase()), 0.0, detail.clone());
                }
            }
        }
        if !inbound && action != Action::Accept {
            return Some(reject(format!("Not sent: {detail} (blocked by the virus policy)")));
        }
        ctx.headers.push(format!("X-Virus-Scanned: Caravel\r\nX-Virus-Status: Suspicious ({})\r\n", kind.name()));
        match action {
            Action::Reject => Some(reject(format!("Not accepted: {detail}"))),
            Action::Quarantine => {
                ctx.recipients.iter_mut().for_each(|r| r.decide(Verdict::Quarantine));
                ctx.held_by_scanner = Some(detail);
                None
            }
            Action::Accept => None,
        }
    }
}

fn reject(text: String) -> Verdict {
    Verdict::Reject { code: 554, enhanced: "5.7.1", text }
}
