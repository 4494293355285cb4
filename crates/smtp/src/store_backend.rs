//! The [`Backend`] over the store and the authenticator: how a running server
//! resolves, signs in, stores and queues.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use caravel_auth::{Authenticator, SignIn, SignedIn};
use caravel_store::{
    Address, Clock, Delivery, Flags, HeldVerdict, MailEvent, MailboxTarget, Recipient, SpecialUse, Store, Target, User,
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
    /// Puts the copies the filter or the scanner held in the quarantine
    /// (on disk before the 250): one held message, its text without our
    /// X-Spam fields, and each recipient's verdict (reason and fields)
    /// apart. A recipient's fields go on top of its own copy when it is
    /// released, and whoever answers for one recipient reads that one's
    /// verdict only, never another's (its own rules and lists).
    async fn hold(&self, m: &Accepted) -> Result<(), TempFailure> {
        let scanner = m.held_by_scanner.as_deref();
        let local = m.local.iter().filter(|l| l.folder == Folder::Quarantine);
        let copies = local
            .map(|l| (&l.address, &l.headers, &l.reason, ""))
            .chain(m.held_remote.iter().map(|r| (&r.address, &r.headers, &r.reason, r.verdict_by.as_str())));
        let (mut recipients, mut verdicts) = (Vec::<String>::new(), BTreeMap::new());
        for (address, fields, reason, alias) in copies {
            // An account reached twice (itself and an alias) is held once.
            if recipients.iter().any(|r| caravel_store::same_recipient(r, address)) {
                continue;
            }
            recipients.push(address.clone());
            // The scanner's reason is everyone's.
            let reason = scanner.unwrap_or(reason).to_string();
            verdicts.insert(address.clone(), HeldVerdict { reason, fields: fields.clone(), alias: alias.to_string() });
        }
        if recipients.is_empty() {
            return Ok(());
        }
        let via: BTreeMap<String, Vec<String>> =
            m.held_remote.iter().filter(|r| !r.via.is_empty()).map(|r| (r.address.clone(), r.via.clone())).collect();
        let id = self
            .store
            .hold(caravel_store::NewHeld {
                kind: match scanner {
                    Some(_) => caravel_store::HeldKind::Suspicious,
                    None => caravel_store::HeldKind::Spam,
                },
                // For the server's administrator: each recipient's reason, once.
                reason: caravel_store::joined_reasons(verdicts.values()),
                sender: m.sender.clone(),
                recipients,
                via,
                verdicts,
                subject: m.held_subject.clone(),
                raw: Arc::new(m.message.clone()),
                created: caravel_store::now_secs(),
                message_id: m.message_id.clone(),
                session: Some(m.session.clone()),
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
        via: user.address.clone(),
        also_via: Vec::new(),
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
