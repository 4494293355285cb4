//! The [`Backend`] over the store and the authenticator: how a running server
//! resolves, signs in, stores and queues.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use caravel_auth::{Authenticator, SignIn, SignedIn};
use caravel_store::{
    Address, Clock, Delivery, Flags, MailEvent, MailboxTarget, Recipient, SpecialUse, Store, Target, User,
};

use crate::backend::{Accepted, Backend, Folder, LocalRecipient, Lookup, TempFailure};
use crate::user_settings::refused_by_all;

pub struct StoreBackend {
    pub(crate) store: Arc<dyn Store>,
    auth: Arc<Authenticator>,
    /// Our name, in delivery notices.
    pub(crate) hostname: String,
    /// What auto-replies read the hour from.
    pub(crate) clock: Clock,
}

impl StoreBackend {
    pub fn new(store: Arc<dyn Store>, auth: Arc<Authenticator>, hostname: &str, clock: Clock) -> StoreBackend {
        StoreBackend { store, auth, hostname: hostname.to_string(), clock }
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
        let full = m.dsn.ret.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("FULL"));
        self.send_report(m, message, &wanted, full, "delivered", "delivery report").await;
    }

    /// Sends a delivery status notification about `m` to its sender
    /// (none for the null sender); `kind` names the boundary, `why` the
    /// cause in the mail log.
    pub(crate) async fn send_report(
        &self,
        m: &Accepted,
        message: &[u8],
        statuses: &[caravel_delivery::dsn::RecipientStatus],
        return_full: bool,
        kind: &str,
        why: &str,
    ) {
        use caravel_delivery::dsn;
        if statuses.is_empty() || !dsn::should_report(&m.sender) {
            return;
        }
        let now = caravel_store::now_secs();
        let original =
            dsn::Original { sender: &m.sender, message, envid: m.dsn.envid.as_deref(), return_full, arrival: now };
        let boundary = format!("{kind}-{}", m.id);
        let report = dsn::report(&self.hostname, &original, statuses, &caravel_store::rfc5322_date(now), &boundary);
        if let Err(e) = caravel_store::send_system_mail(self.store.as_ref(), &m.sender, "", report, why).await {
            tracing::warn!(error = %e, "cannot send a delivery status notification");
        }
    }
}

impl StoreBackend {
    /// Puts the copies the filter quarantined in the quarantine (on disk
    /// before the 250). The local copies are one held message, with the
    /// first one's X-Spam fields and reason. The copies that aliases
    /// forward outside are another, with the filter's verdict on them: the
    /// aliases' domain administrators answer for those, and must not read
    /// a local recipient's verdict. When the virus scanner held the whole
    /// message, one held message has every copy (its reason is the same
    /// for all).
    async fn hold(&self, m: &Accepted) -> Result<(), TempFailure> {
        let local: Vec<&LocalRecipient> = m.local.iter().filter(|l| l.folder == Folder::Quarantine).collect();
        let locals: Vec<String> = local.iter().map(|l| l.address.clone()).collect();
        let remote: Vec<String> = m.held_remote.iter().map(|r| r.0.clone()).collect();
        let via: BTreeMap<String, Vec<String>> = m.held_remote.iter().filter(|r| !r.1.is_empty()).cloned().collect();
        let mut entries: Vec<HeldEntry> = Vec::new();
        match (local.first(), &m.held_by_scanner) {
            (Some(first), Some(_)) => entries.push((&first.headers, &first.reason, [locals, remote].concat(), via)),
            (None, Some(why)) => entries.push(("", why, remote, via)),
            (first, None) => {
                if let Some(first) = first {
                    entries.push((&first.headers, &first.reason, locals, BTreeMap::new()));
                }
                entries.push((&m.held_remote_why.0, &m.held_remote_why.1, remote, via));
            }
        }
        let kind = match m.held_by_scanner {
            Some(_) => caravel_store::HeldKind::Suspicious,
            None => caravel_store::HeldKind::Spam,
        };
        for (headers, reason, recipients, via) in entries.into_iter().filter(|e| !e.2.is_empty()) {
            let id = self
                .store
                .hold(caravel_store::NewHeld {
                    kind,
                    reason: reason.to_string(),
                    sender: m.sender.clone(),
                    recipients,
                    via,
                    subject: m.held_subject.clone(),
                    raw: Arc::new([headers.as_bytes(), &m.message].concat()),
                    created: caravel_store::now_secs(),
                    message_id: m.message_id.clone(),
                    session: Some(m.session.clone()),
                })
                .await
                .map_err(temp)?;
            tracing::info!(id, sender = %m.sender, "message held in the quarantine");
        }
        Ok(())
    }
}

/// A held message to write: X-Spam fields, reason, recipients, and the
/// aliases of its outside recipients.
type HeldEntry<'a> = (&'a str, &'a str, Vec<String>, BTreeMap<String, Vec<String>>);

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
        via: user.address.clone(),
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
            // A bounce to the address a rule forwarded a copy from goes
            // back to the original sender (srs.rs).
            Recipient::UnknownUser => {
                let Some(original) =
                    caravel_personal::delivery::srs_reverse(self.store.as_ref(), &address, self.clock.now()).await
                else {
                    return Ok(Lookup::UnknownUser);
                };
                // The original sender may be one of ours.
                let user = match Address::parse(&original) {
                    Ok(a) => match self.store.resolve(&a).await.map_err(temp)? {
                        Recipient::Account(user) => Some(user),
                        _ => None,
                    },
                    Err(_) => None,
                };
                Ok(match user {
                    Some(user) => Lookup::Deliver { local: vec![local(&user, size)], remote: vec![] },
                    None => Lookup::Deliver { local: vec![], remote: vec![original] },
                })
            }
            Recipient::NotLocal => Ok(Lookup::NotLocal),
        }
    }

    async fn authenticate(&self, username: &str, password: &str, peer: IpAddr) -> Result<SignIn, TempFailure> {
        self.auth.verify(username, password, peer, caravel_store::Protocol::Smtp).await.map_err(temp)
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

    async fn personalize(&self, user: &SignedIn, message: Vec<u8>, recipients: &[String]) -> Vec<u8> {
        let sender = caravel_personal::compose::Sender { account: user.account, address: &user.address, recipients };
        caravel_personal::compose::add_signatures(self.store.as_ref(), &sender, message).await
    }

    async fn deliver(&self, mut m: Accepted) -> Result<(), TempFailure> {
        self.hold(&m).await?;
        let plans = self.plan_copies(&m).await;
        if let Some(text) = refused_by_all(&m, &plans) {
            return Err(TempFailure(format!("{}{text}", TempFailure::REFUSED)));
        }
        let forwarded = self.forward_copies(&m, &plans).await;
        // Which local recipient each target is for.
        let mut owners = Vec::new();
        let mut targets = Vec::new();
        for (i, (l, plan)) in m.local.iter().zip(&plans).enumerate() {
            let kept_elsewhere = plan.as_ref().is_some_and(|p| !p.keep) && forwarded[i];
            if l.folder == Folder::Quarantine || plan.as_ref().is_some_and(|p| p.reject.is_some()) || kept_elsewhere {
                continue;
            }
            let (mut mailbox, keywords) = match l.folder {
                Folder::Inbox => (MailboxTarget::Special(SpecialUse::Inbox), vec![]),
                // $Junk: what Thunderbird and Apple Mail mark junk with.
                _ => (MailboxTarget::Special(SpecialUse::Junk), vec!["$Junk".to_string()]),
            };
            let mut flags = Flags::default();
            if let Some(p) = plan {
                if let Some(folder) = &p.folder {
                    match caravel_personal::delivery::ensure_folder(self.store.as_ref(), l.account, folder).await {
                        Ok(()) => mailbox = MailboxTarget::Name(folder.clone()),
                        Err(e) => tracing::warn!(folder, error = %e, "a rule's folder cannot be made; INBOX instead"),
                    }
                }
                if p.seen {
                    flags = flags.union(Flags::SEEN);
                }
                if p.flagged {
                    flags = flags.union(Flags::FLAGGED);
                }
            }
            owners.push(i);
            targets.push(Target {
                // RFC 5321 §4.4: the final delivery adds Return-Path.
                prefix: format!("Return-Path: <{}>\r\nDelivered-To: {}\r\n{}", m.sender, l.address, l.headers)
                    .into_bytes(),
                check_quota: false,
                keywords,
                flags,
                ..Target::new(l.account, mailbox)
            });
        }
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
        let mut stored = vec![false; m.local.len()];
        if !delivery.targets.is_empty() || !delivery.remote.is_empty() {
            let outcome = self.store.deliver(delivery).await.map_err(temp)?;
            for (r, &owner) in outcome.stored.into_iter().zip(&owners) {
                match r {
                    Ok(_) => stored[owner] = true,
                    // Storage trouble: the client retries the whole message.
                    Err(e) if e.is_transient() => return Err(temp(e)),
                    // The account went away since RCPT: nothing to retry.
                    Err(e) => tracing::warn!(error = %e, "a recipient could not be stored"),
                }
            }
        }
        self.notify_refused(&m, &raw, &plans).await;
        self.notify_delivered(&m, &raw, &stored).await;
        self.auto_replies(&m, &raw, &plans, &stored);
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
