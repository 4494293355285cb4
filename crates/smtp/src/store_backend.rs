//! The [`Backend`] over the store and the authenticator: how a running server
//! resolves, signs in, stores and queues.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use caravel_auth::{Authenticator, SignIn, SignedIn};
use caravel_store::{Address, Delivery, MailEvent, MailboxTarget, Recipient, SpecialUse, Store, Target, User};

use crate::backend::{Accepted, Backend, Folder, LocalRecipient, Lookup, TempFailure};

pub struct StoreBackend {
    store: Arc<dyn Store>,
    auth: Arc<Authenticator>,
    /// Our name, in delivery notices.
    hostname: String,
}

impl StoreBackend {
    pub fn new(store: Arc<dyn Store>, auth: Arc<Authenticator>, hostname: &str) -> StoreBackend {
        StoreBackend { store, auth, hostname: hostname.to_string() }
    }

    /// NOTIFY=SUCCESS (RFC 3461 §6.2): tell the sender the message is in
    /// the mailboxes of the recipients who asked.
    async fn notify_delivered(&self, m: &Accepted, message: &[u8], stored: &[bool]) {
        use caravel_delivery::dsn;
        let wanted: Vec<dsn::RecipientStatus> = m
            .local
            .iter()
            .zip(stored)
            .filter(|(l, ok)| **ok && l.notify.as_deref().is_some_and(|n| n.split(',').any(|v| v == "SUCCESS")))
            .map(|(l, _)| dsn::RecipientStatus {
                recipient: l.address.clone(),
                original_recipient: l.orcpt.clone(),
                action: dsn::Action::Delivered,
                status: "2.0.0".into(),
                remote_mta: None,
                reply: None,
            })
            .collect();
        if wanted.is_empty() || !dsn::should_report(&m.sender) {
            return;
        }
        let now = caravel_store::now_secs();
        let original = dsn::Original {
            sender: &m.sender,
            message,
            envid: m.dsn.envid.as_deref(),
            return_full: m.dsn.ret.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("FULL")),
            arrival: now,
        };
        let boundary = format!("delivered-{}", m.id);
        let report = dsn::report(&self.hostname, &original, &wanted, &caravel_store::rfc5322_date(now), &boundary);
        if let Err(e) =
            caravel_store::send_system_mail(self.store.as_ref(), &m.sender, "", report, "delivery report").await
        {
            tracing::warn!(error = %e, "cannot send a delivery notice");
        }
    }
}

impl StoreBackend {
    /// Puts the copies the filter quarantined in the quarantine, as one held
    /// message for all their recipients (on disk before the 250).
    async fn hold(&self, m: &Accepted) -> Result<(), TempFailure> {
        let held: Vec<&LocalRecipient> = m.local.iter().filter(|l| l.folder == Folder::Quarantine).collect();
        if held.is_empty() && m.held_remote.is_empty() {
            return Ok(());
        }
        let (headers, reason) = match (held.first(), &m.held_by_scanner) {
            (Some(first), _) => (first.headers.as_str(), first.reason.clone()),
            (None, why) => ("", why.clone().unwrap_or_default()),
        };
        let kind = match m.held_by_scanner {
            Some(_) => caravel_store::HeldKind::Suspicious,
            None => caravel_store::HeldKind::Spam,
        };
        let raw = [headers.as_bytes(), &m.message].concat();
        let subject = m.held_subject.clone();
        let id = self
            .store
            .hold(caravel_store::NewHeld {
                kind,
                reason,
                sender: m.sender.clone(),
                recipients: held.iter().map(|l| l.address.clone()).chain(m.held_remote.iter().cloned()).collect(),
                subject,
                raw: Arc::new(raw),
                created: caravel_store::now_secs(),
            })
            .await
            .map_err(temp)?;
        tracing::info!(id, sender = %m.sender, "message held in the quarantine");
        Ok(())
    }
}

fn temp(e: caravel_store::StoreError) -> TempFailure {
    TempFailure(e.to_string())
}

fn local(user: &User, size: u64) -> LocalRecipient {
    let over_quota = user.quota.is_some_and(|q| user.used.saturating_add(size) > q || user.used >= q);
    LocalRecipient {
        account: user.id,
        address: user.address.clone(),
        over_quota,
        notify: None,
        orcpt: None,
        folder: Folder::Inbox,
        headers: String::new(),
        reason: String::new(),
    }
}

#[async_trait]
impl Backend for StoreBackend {
    async fn lookup(&self, address: &str, size: u64) -> Result<Lookup, TempFailure> {
        let Ok(address) = Address::parse(address) else { return Ok(Lookup::UnknownUser) };
        match self.store.resolve(&address).await.map_err(temp)? {
            Recipient::Account(user) => Ok(Lookup::Deliver { local: vec![local(&user, size)], remote: vec![] }),
            Recipient::Alias(targets) => {
                // Expanded once: a target that is itself an alias is not followed.
                let (mut locals, mut remote) = (Vec::new(), Vec::new());
                for t in targets {
                    let Ok(target) = Address::parse(&t) else { continue };
                    match self.store.resolve(&target).await.map_err(temp)? {
                        Recipient::Account(user) => locals.push(local(&user, size)),
                        Recipient::NotLocal => remote.push(target.to_string()),
                        other => tracing::warn!(alias = %address, target = %t, ?other, "alias target skipped"),
                    }
                }
                if locals.is_empty() && remote.is_empty() {
                    return Ok(Lookup::UnknownUser);
                }
                Ok(Lookup::Deliver { local: locals, remote })
            }
            Recipient::UnknownUser => Ok(Lookup::UnknownUser),
            Recipient::NotLocal => Ok(Lookup::NotLocal),
        }
    }

    async fn authenticate(&self, username: &str, password: &str, peer: IpAddr) -> Result<SignIn, TempFailure> {
        self.auth.verify(username, password, peer).await.map_err(temp)
    }

    async fn may_send_as(&self, user: &SignedIn, from: &str) -> Result<bool, TempFailure> {
        let (Ok(from), Ok(own)) = (Address::parse(from), Address::parse(&user.address)) else { return Ok(false) };
        if from.key() == own.key() {
            return Ok(true);
        }
        // An alias the user receives for is theirs to send as.
        Ok(match self.store.resolve(&from).await.map_err(temp)? {
            Recipient::Alias(targets) => targets.iter().any(|t| Address::parse(t).is_ok_and(|t| t.key() == own.key())),
            Recipient::Account(u) => u.id == user.account,
            _ => false,
        })
    }

    async fn deliver(&self, mut m: Accepted) -> Result<(), TempFailure> {
        self.hold(&m).await?;
        let targets = m
            .local
            .iter()
            .filter(|l| l.folder != Folder::Quarantine)
            .map(|l| {
                let (mailbox, keywords) = match l.folder {
                    Folder::Inbox => (SpecialUse::Inbox, vec![]),
                    // $Junk: what Thunderbird and Apple Mail mark junk with.
                    _ => (SpecialUse::Junk, vec!["$Junk".to_string()]),
                };
                Target {
                    // RFC 5321 §4.4: the final delivery adds Return-Path.
                    prefix: format!("Return-Path: <{}>\r\nDelivered-To: {}\r\n{}", m.sender, l.address, l.headers)
                        .into_bytes(),
                    check_quota: false,
                    keywords,
                    ..Target::new(l.account, MailboxTarget::Special(mailbox))
                }
            })
            .collect();
        let raw = Arc::new(std::mem::take(&mut m.message));
        let delivery = Delivery {
            raw: raw.clone(),
            internal_date: caravel_store::now_secs(),
            internal_zone: 0,
            targets,
            remote: m.remote.clone(),
            dsn: m.dsn.clone(),
            sender: m.sender.clone(),
            session: m.id.clone(),
            sign_as: m.sign_as.clone(),
        };
        if delivery.targets.is_empty() && delivery.remote.is_empty() {
            return Ok(());
        }
        let outcome = self.store.deliver(delivery).await.map_err(temp)?;
        let stored: Vec<bool> = outcome.stored.iter().map(|r| r.is_ok()).collect();
        for r in outcome.stored {
            match r {
                Ok(_) => {}
                // Storage trouble: the client retries the whole message.
                Err(e) if e.is_transient() => return Err(temp(e)),
                // The account went away since RCPT: nothing to retry.
                Err(e) => tracing::warn!(error = %e, "a recipient could not be stored"),
            }
        }
        self.notify_delivered(&m, &raw, &stored).await;
        Ok(())
    }

    async fn log(&self, event: MailEvent) {
        if let Err(e) = self.store.record(event).await {
            tracing::warn!(error = %e, "could not write the mail log");
        }
    }
}

#[cfg(test)]
mod tests {
    /// The SMTP reply to a full disk depends on the store's words for it.
    #[test]
    fn a_full_store_is_a_full_temp_failure() {
        assert!(super::temp(caravel_store::StoreError::Full("ENOSPC".into())).is_full());
        assert!(!super::temp(caravel_store::StoreError::Backend("locked".into())).is_full());
    }
}
