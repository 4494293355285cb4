//! APPEND (RFC 9051 §6.3.12) with UIDPLUS APPENDUID (RFC 4315), MULTIAPPEND
//! (RFC 3502) and CATENATE (RFC 4469).

use std::sync::Arc;

use caravel_auth::SignedIn;
use caravel_store::{Delivery, Flags, MailboxTarget, StoreError, Target};

use crate::command::{AppendData, AppendMessage, CatPart};
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

/// APPEND (RFC 9051 §6.3.12) of one message or several (MULTIAPPEND, RFC
/// 3502: all or none), each given whole or built by CATENATE (RFC 4469)
/// from text and URLs of messages on this server.
pub async fn append(
    session: &mut Session,
    user: &SignedIn,
    tag: &str,
    mailbox: &str,
    messages: Vec<AppendMessage>,
) -> Step {
    let step = |out| Step { out, next: crate::session::Next::Command, auth_failed: false };
    let target_box = match session.find_mailbox(user.account, mailbox).await {
        Ok(Some(m)) => m,
        Ok(None) => return step(tagged(tag, "NO", "[TRYCREATE] No such mailbox")),
        Err(e) => return step(tagged(tag, "NO", &crate::errors::store_failure(&e))),
    };
    // Everything is checked and built before anything is stored.
    let mut ready = Vec::with_capacity(messages.len());
    for m in messages {
        if m.utf8 && !session.utf8 {
            return session.bad(tag, "ENABLE UTF8=ACCEPT first");
        }
        let (flags, keywords) = match split_flags(&m.flags) {
            Ok(x) => x,
            Err(e) => return session.bad(tag, &e),
        };
        let raw = match m.data {
            // Line ends of a binary literal are content, not to be mended.
            AppendData::Literal { bytes, binary: true } => bytes,
            AppendData::Literal { bytes, binary: false } => caravel_store::mime::to_crlf(bytes),
            AppendData::Catenate(parts) => match catenate(session, user, &parts).await {
                Ok(raw) => raw,
                Err(code) => return step(tagged(tag, "NO", &code)),
            },
        };
        if raw.is_empty() {
            return step(tagged(tag, "NO", "Empty message"));
        }
        if raw.len() as u64 > session.ctx.config.max_message_size {
            return step(tagged(tag, "NO", "[TOOBIG] Message larger than APPENDLIMIT"));
        }
        ready.push((raw, flags, keywords, m.date));
    }
    let deliveries: Vec<Delivery> = ready
        .into_iter()
        .map(|(raw, flags, keywords, date)| Delivery {
            sign_as: None,
            raw: Arc::new(raw),
            internal_date: date.map(|d| d.0).unwrap_or_else(caravel_store::now_secs),
            internal_zone: date.map(|d| d.1).unwrap_or(0),
            targets: vec![Target {
                flags,
                keywords,
                user_filed: true,
                ..Target::new(user.account, MailboxTarget::Name(mailbox.to_string()))
            }],
            sender: user.address.clone(),
            session: "imap-append".into(),
            ..Default::default()
        })
        .collect();
    // RFC 3502 §6: all the messages in one transaction, or none.
    let uids: Vec<u32> = match session.ctx.store.deliver_all(deliveries).await {
        Ok(stored) => stored.iter().map(|s| s.uid).collect(),
        Err(e) => {
            let text = match e {
                StoreError::OverQuota(_) => "[OVERQUOTA] Mailbox is full".to_string(),
                StoreError::NotFound(_) => "[TRYCREATE] No such mailbox".to_string(),
                e => crate::errors::store_failure(&e),
            };
            return step(tagged(tag, "NO", &text));
        }
    };
    let mut out = Vec::new();
    // Our own APPEND to the selected mailbox shows up at once.
    if let crate::session::State::Selected(_, s) = &mut session.state {
        if s.mailbox.id == target_box.id {
            out.extend(s.sync(&session.ctx, true).await);
        }
    }
    let text = format!("[APPENDUID {} {}] APPEND completed", target_box.uidvalidity, crate::selected::compress(&uids));
    out.extend(tagged(tag, "OK", &text));
    step(out)
}

/// Parts one CATENATE may have; each URL reads a message.
pub const MAX_CATENATE_PARTS: usize = 100;

/// The message a CATENATE part list makes (RFC 4469 §5): text as given,
/// URLs replaced by what they name. A URL that names nothing fails the
/// APPEND with `[BADURL url]`.
async fn catenate(session: &Session, user: &SignedIn, parts: &[CatPart]) -> Result<Vec<u8>, String> {
    if parts.len() > MAX_CATENATE_PARTS {
        return Err(format!("[LIMIT] At most {MAX_CATENATE_PARTS} parts in one CATENATE"));
    }
    let mut out = Vec::new();
    for part in parts {
        match part {
            // Text is mended like a plain APPEND's literal: bare LF to CRLF.
            CatPart::Text(bytes) => out.extend(caravel_store::mime::to_crlf(bytes.clone())),
            CatPart::Url(text) => {
                let found = match crate::url::parse(text) {
                    // An authorized URL is checked as URLFETCH checks it; a
                    // plain one must name the user's own mail.
                    Some(u) if u.auth.is_some() => crate::urlauth::fetch_authorized(session, user, &u).await,
                    Some(u) if u.user.as_deref().is_none_or(|n| n.eq_ignore_ascii_case(&user.address)) => {
                        crate::urlauth::resolve(session, user.account, &u).await
                    }
                    _ => None,
                };
                let Some(found) = found else {
                    let mut code = b"[BADURL ".to_vec();
                    crate::fetch::string(&mut code, text.as_bytes());
                    return Err(format!("{}] The URL names no message here", String::from_utf8_lossy(&code)));
                };
                out.extend_from_slice(&found.data);
            }
        }
        if out.len() as u64 > session.ctx.config.max_message_size {
            return Err("[TOOBIG] Message larger than APPENDLIMIT".into());
        }
    }
    Ok(out)
}
