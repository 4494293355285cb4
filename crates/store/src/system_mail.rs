//! Mail the server itself writes (sign-in codes, delivery reports): into
//! the recipient's INBOX when the address is local, else into the queue.

use std::sync::Arc;

use crate::{now_secs, Address, Delivery, MailboxTarget, Recipient, RemoteRecipient, SpecialUse, Store, Target};

/// Delivers `raw` to `to` with envelope sender `sender` ('' for a delivery
/// report, RFC 5321 §4.5.5); `session` names the cause in the mail log.
pub async fn send_system_mail(
    store: &dyn Store,
    to: &str,
    sender: &str,
    raw: Vec<u8>,
    session: &str,
) -> Result<(), String> {
    send_mail_as(store, to, sender, raw, session, None).await
}

/// [`send_system_mail`] for mail written on a user's behalf (an
/// auto-reply): its remote copy is DKIM-signed for `sign_as`.
pub async fn send_mail_as(
    store: &dyn Store,
    to: &str,
    sender: &str,
    raw: Vec<u8>,
    session: &str,
    sign_as: Option<String>,
) -> Result<(), String> {
    let to = Address::parse(to).map_err(|e| format!("{to:?} is not a valid address: {e}"))?;
    let mut delivery = Delivery {
        sign_as,
        raw: Arc::new(raw),
        internal_date: now_secs(),
        sender: sender.to_string(),
        session: session.to_string(),
        ..Default::default()
    };
    // Users may send as an alias: its report goes to the alias's targets
    // (one level, as the SMTP server expands them).
    let addresses = match store.resolve(&to).await.map_err(|e| e.to_string())? {
        Recipient::Alias(targets) => targets,
        _ => vec![to.to_string()],
    };
    for address in addresses {
        let Ok(parsed) = Address::parse(&address) else { continue };
        match store.resolve(&parsed).await.map_err(|e| e.to_string())? {
            Recipient::Account(user) => {
                // RFC 5321 §4.4: the final delivery adds Return-Path.
                let prefix = format!("Return-Path: <{sender}>\r\nDelivered-To: {}\r\n", user.address).into_bytes();
                delivery
                    .targets
                    .push(Target { prefix, ..Target::new(user.id, MailboxTarget::Special(SpecialUse::Inbox)) });
            }
            Recipient::NotLocal => delivery.remote.push(RemoteRecipient { address, notify: None, orcpt: None }),
            Recipient::Alias(_) | Recipient::UnknownUser => {}
        }
    }
    if delivery.targets.is_empty() && delivery.remote.is_empty() {
        return Err(format!("{to} cannot receive mail here"));
    }
    let outcome = store.deliver(delivery).await.map_err(|e| e.to_string())?;
    match outcome.stored.first() {
        Some(Err(e)) => Err(format!("it could not be stored for {to}: {e}")),
        _ => Ok(()),
    }
}
