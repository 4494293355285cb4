//! What recipients' own settings do at delivery (caravel-personal): their
//! mail rules file, flag, forward or refuse each copy, and their
//! auto-reply answers it. Spam copies are not touched: a rule neither
//! rescues nor forwards what the filter junked, and nothing answers it.

use std::sync::Arc;

use caravel_personal::delivery::{auto_reply, forward, rules_outcome, Delivered};
use caravel_personal::rules::Outcome;
use caravel_store::settings::{account_scope, alias_scope};
use caravel_store::AccountId;

use crate::backend::{Accepted, Folder};
use crate::store_backend::StoreBackend;

/// The rules' decision per local recipient (None: no rules, or a copy the
/// filter junked or held).
pub type Plans = Vec<Option<Outcome>>;

/// The refusal text when every recipient's rules refuse the message and
/// nothing else takes it (RFC 5429: refuse at SMTP time when possible).
pub fn refused_by_all(m: &Accepted, plans: &Plans) -> Option<String> {
    if m.local.is_empty()
        || !m.remote.is_empty()
        || !m.held_remote.is_empty()
        || m.local.iter().any(|l| l.folder == Folder::Quarantine)
    {
        return None;
    }
    let mut texts = plans.iter().map(|p| p.as_ref().and_then(|p| p.reject.clone()));
    let first = texts.next().flatten()?;
    texts.all(|t| t.is_some()).then(|| printable(&first))
}

/// A rule's text as it may appear in an SMTP reply: one line of
/// printable ASCII.
fn printable(text: &str) -> String {
    let t: String = text.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { ' ' }).collect();
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.is_empty() {
        "Message refused by the recipient".into()
    } else {
        t.chars().take(200).collect()
    }
}

impl StoreBackend {
    pub(crate) async fn plan_copies(&self, m: &Accepted) -> Plans {
        let mut view = None;
        let mut plans = Vec::with_capacity(m.local.len());
        for l in &m.local {
            plans.push(match l.folder {
                Folder::Inbox => rules_outcome(self.store.as_ref(), l.account, &m.message, &m.sender, &mut view).await,
                _ => None,
            });
        }
        for (l, p) in m.local.iter().zip(&plans) {
            if let Some(p) = p.as_ref().filter(|p| !p.applied.is_empty()) {
                tracing::info!(recipient = %l.address, rules = ?p.applied, "mail rules applied");
            }
        }
        plans
    }

    /// The copies rules forward (before the 250, like the stored ones);
    /// per local recipient, whether every forward went out. A copy whose
    /// rule keeps none here is kept after all when one did not, so a
    /// failed forward loses nothing.
    pub(crate) async fn forward_copies(&self, m: &Accepted, plans: &Plans) -> Vec<bool> {
        let mut sent = vec![true; m.local.len()];
        for (i, (l, plan)) in m.local.iter().zip(plans).enumerate() {
            let Some(plan) = plan.as_ref().filter(|p| p.reject.is_none()) else { continue };
            for to in &plan.forward {
                match forward(self.store.as_ref(), &l.address, &m.sender, &m.message, to, self.clock.now()).await {
                    Ok(()) => tracing::info!(from = %l.address, to, "forwarded by a mail rule"),
                    Err(e) => {
                        tracing::warn!(from = %l.address, to, error = e, "a rule's forward failed; the copy is kept");
                        sent[i] = false;
                    }
                }
            }
        }
        sent
    }

    /// A non-delivery report for the copies a rule refused, when others
    /// were delivered (the message as a whole got its 250).
    pub(crate) async fn notify_refused(&self, m: &Accepted, raw: &[u8], plans: &Plans) {
        use caravel_delivery::dsn;
        if !m.sender_verified {
            let refused = plans.iter().any(|p| p.as_ref().is_some_and(|p| p.reject.is_some()));
            if refused && dsn::should_report(&m.sender) {
                tracing::info!(
                    sender = %m.sender,
                    "no notice of a copy refused by a mail rule: neither SPF nor a DKIM signature of the sender's \
                     own message vouches for the sender, who may be forged"
                );
            }
            return;
        }
        let failed: Vec<dsn::RecipientStatus> = m
            .local
            .iter()
            .zip(plans)
            .filter_map(|(l, p)| Some((l, p.as_ref()?.reject.as_ref()?)))
            // RFC 3461 §4.1: no report unless failures were asked for
            // (the default asks for them; NEVER and SUCCESS/DELAY alone do not).
            .filter(|(l, _)| l.notify.as_deref().is_none_or(|n| n.split(',').any(|v| v == "FAILURE")))
            .map(|(l, text)| dsn::RecipientStatus {
                recipient: l.via.clone(),
                original_recipient: l.orcpt.clone(),
                action: dsn::Action::Failed,
                status: "5.7.1".into(),
                remote_mta: None,
                reply: Some(format!("550 5.7.1 {}", printable(text))),
            })
            .collect();
        self.send_report(m, raw, &failed, false, "refused", "refused by rule").await;
    }

    /// Auto-replies, in the background: they are not part of what the
    /// 250 promises, and the sender should not wait for them. Each account
    /// answers for itself; a shared alias (sales@) with an auto-reply of
    /// its own answers once for all its members.
    pub(crate) fn auto_replies(&self, m: &Accepted, raw: &Arc<Vec<u8>>, plans: &Plans, stored: &[bool]) {
        let mut aliases: Vec<(String, bool)> = Vec::new();
        for ((l, plan), ok) in m.local.iter().zip(plans).zip(stored) {
            if !ok || plan.as_ref().is_some_and(|p| p.reject.is_some()) {
                continue;
            }
            let spam = l.folder != Folder::Inbox;
            if !l.via.eq_ignore_ascii_case(&l.address) && !aliases.iter().any(|(a, _)| a.eq_ignore_ascii_case(&l.via)) {
                aliases.push((l.via.clone(), spam));
            }
            let account = l.account;
            self.spawn_reply(account_scope(account), Some(account), l.address.clone(), l.via.clone(), m, raw, spam);
        }
        for (alias, spam) in aliases {
            self.spawn_reply(alias_scope(&alias), None, alias.clone(), alias, m, raw, spam);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn_reply(
        &self,
        scope: String,
        account: Option<AccountId>,
        address: String,
        via: String,
        m: &Accepted,
        raw: &Arc<Vec<u8>>,
        spam: bool,
    ) {
        let (store, raw, hostname) = (self.store.clone(), raw.clone(), self.hostname.clone());
        let (sender, now) = (m.sender.clone(), self.clock.now());
        tokio::spawn(async move {
            let d = Delivered {
                scope: &scope,
                address: &address,
                via: &via,
                account,
                sender: &sender,
                raw: &raw,
                spam,
                now,
                hostname: &hostname,
            };
            match auto_reply(store.as_ref(), &d).await {
                Ok(done) => tracing::info!(recipient = %address, "{done}"),
                Err(why) => tracing::debug!(recipient = %address, "{why}"),
            }
        });
    }
}
