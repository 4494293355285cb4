//! APPEND (RFC 9051 §6.3.12) with UIDPLUS APPENDUID (RFC 4315).

use std::sync::Arc;

use caravel_auth::SignedIn;
use caravel_store::{Delivery, Flags, MailboxTarget, StoreError, Target};

use crate::session::{tagged, Session, Step};

/// System flags and keywords from a flag list.
pub fn split_flags(list: &[String]) -> Result<(Flags, Vec<String>), String> {
    let mut flags = Flags::default();
    let mut keywords = Vec::new();
    for f in list {
        match f.to_ascii_lowercase().as_str() {
            "\\seen" => flags = flags.union(Flags::SEEN),
            "\\answered" => flags = flags.union(Flags::ANSWERED),
            "\\flagged" => flags = flags.union(Flags::FLAGGED),
            "\\deleted" => flags = flags.union(Flags::DELETED),
            "\\draft" => flags = flags.union(Flags::DRAFT),
            "\\recent" => return Err("\\Recent cannot be set".into()),
            s if s.starts_with('\\') => return Err(format!("unknown system flag {f}")),
            _ => {
                if !keywords.iter().any(|k: &String| k.eq_ignore_ascii_case(f)) {
                    keywords.push(f.clone());
                }
            }
        }
    }
    Ok((flags, keywords))
}

pub async fn append(
    session: &mut Session,
    user: &SignedIn,
    tag: &str,
    mailbox: &str,
    flags: &[String],
    date: Option<(i64, i32)>,
    message: Vec<u8>,
) -> Step {
    let step = |out| Step { out, next: crate::session::Next::Command, auth_failed: false };
    if message.is_empty() {
        return step(tagged(tag, "NO", "Empty message"));
    }
    if message.len() as u64 > session.ctx.config.max_message_size {
        return step(tagged(tag, "NO", "[TOOBIG] Message larger than APPENDLIMIT"));
    }
    let (flags, keywords) = match split_flags(flags) {
        Ok(x) => x,
        Err(e) => return session.bad(tag, &e),
    };
    let target_box = match session.find_mailbox(user.account, mailbox).await {
        Ok(Some(m)) => m,
        Ok(None) => return step(tagged(tag, "NO", "[TRYCREATE] No such mailbox")),
        Err(e) => return step(tagged(tag, "NO", &crate::errors::store_failure(&e))),
    };
    let delivery = Delivery {
        raw: Arc::new(message),
        internal_date: date.map(|d| d.0).unwrap_or_else(caravel_store::now_secs),
        internal_zone: date.map(|d| d.1).unwrap_or(0),
        targets: vec![Target {
            flags,
            keywords,
            ..Target::new(user.account, MailboxTarget::Name(mailbox.to_string()))
        }],
        sender: user.address.clone(),
        session: "imap-append".into(),
        ..Default::default()
    };
    let result = match session.ctx.store.deliver(delivery).await {
        Ok(mut o) => o.stored.remove(0),
        Err(e) => Err(e),
    };
    let mut out = Vec::new();
    match result {
        Ok(stored) => {
            // Our own APPEND to the selected mailbox shows up at once.
            if let crate::session::State::Selected(_, s) = &mut session.state {
                if s.mailbox.id == stored.mailbox {
                    out.extend(s.sync(&session.ctx, true).await);
                }
            }
            let text = format!("[APPENDUID {} {}] APPEND completed", target_box.uidvalidity, stored.uid);
            out.extend(tagged(tag, "OK", &text));
        }
        Err(StoreError::OverQuota(_)) => out.extend(tagged(tag, "NO", "[OVERQUOTA] Mailbox is full")),
        Err(e) => out.extend(tagged(tag, "NO", &crate::errors::store_failure(&e))),
    }
    step(out)
}
