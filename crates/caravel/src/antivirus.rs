//! The antivirus and the quarantine as the server runs them: the scanner
//! built from `[antivirus]`, its pipeline stage, the background tasks
//! (signature reloads and scheduled updates, quarantine retention and
//! notices), and releasing a held message.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use caravel_antivirus::{Engine, Heuristic, Limits};
use caravel_config::{AvAction, ClamdFailure, Config, Notify};
use caravel_filter::antivirus::{Action, AntivirusStage, Clamd, OnClamdError};
use caravel_store::{Address, Delivery, Held, HeldKind, MailboxTarget, Recipient, SpecialUse, Store, Target};

/// Where `caravel av update` installs signatures.
pub fn av_root(config: &Config) -> PathBuf {
    config.data_dir.join("antivirus")
}

pub fn av_limits(config: &Config) -> Limits {
    let a = &config.antivirus;
    Limits {
        max_depth: a.max_depth,
        max_files: a.max_files,
        max_file_size: a.max_file_size as usize,
        max_total: a.max_total as usize,
        max_ratio: a.max_ratio as usize,
    }
}

pub fn open_engine(config: &Config) -> Result<Arc<Engine>, String> {
    Engine::open(&av_root(config), config.antivirus.signatures.as_deref(), av_limits(config))
        .map(Arc::new)
        .map_err(|e| format!("antivirus signatures: {e}"))
}

pub fn stage(config: &Config, engine: Arc<Engine>, store: Arc<dyn Store>) -> AntivirusStage {
    let a = &config.antivirus;
    let actions: HashMap<Heuristic, Action> = Heuristic::ALL
        .iter()
        .map(|h| {
            let action = match a.action(h.key()) {
                AvAction::Reject => Action::Reject,
                AvAction::Quarantine => Action::Quarantine,
                AvAction::Accept => Action::Accept,
            };
            (*h, action)
        })
        .collect();
    AntivirusStage {
        engine,
        actions,
        clamd: a.clamd.as_deref().map(|c| Clamd {
            endpoint: caravel_antivirus::clamd::Endpoint::parse(c),
            timeout: a.clamd_timeout,
            on_error: match a.on_clamd_error {
                ClamdFailure::Tempfail => OnClamdError::Tempfail,
                ClamdFailure::Builtin => OnClamdError::Builtin,
            },
        }),
        store,
    }
}

/// How often the signature files are checked for a change.
const RELOAD_CHECK: Duration = Duration::from_secs(5);
/// How often retention and notices run.
const QUARANTINE_SWEEP: Duration = Duration::from_secs(600);
const DAY: i64 = 86_400;

/// Reloads changed signatures, runs scheduled updates, and expires and
/// announces held messages, until the server stops.
pub async fn run_tasks(config: Config, engine: Arc<Engine>, store: Arc<dyn Store>) {
    let e = engine.clone();
    let reload = async move {
        loop {
            tokio::time::sleep(RELOAD_CHECK).await;
            let e2 = e.clone();
            match tokio::task::spawn_blocking(move || e2.reload_if_changed()).await {
                Ok(Ok(true)) => {
                    let i = e.info();
                    tracing::info!(signatures = i.signatures, skipped = i.skipped, "antivirus signatures reloaded")
                }
                Ok(Ok(false)) => {}
                Ok(Err(err)) => tracing::warn!(error = %err, "new antivirus signatures do not load; the old ones stay"),
                Err(err) => tracing::warn!(error = %err, "antivirus reload failed"),
            }
        }
    };
    let updates = {
        let config = config.clone();
        async move {
            let Some(from) = config.antivirus.update_from.clone() else { return };
            loop {
                match crate::av_commands::update(&config, &from, crate::progress::Progress::quiet("signature update"))
                    .await
                {
                    Ok(msg) => tracing::info!("{msg}"),
                    Err(err) => tracing::warn!(error = %err, source = %from, "scheduled antivirus update failed"),
                }
                tokio::time::sleep(config.antivirus.update_interval).await;
            }
        }
    };
    let sweep = async move {
        let mut last_digest = 0i64;
        loop {
            let now = caravel_store::now_secs();
            let before = now - config.quarantine.retention.as_secs() as i64;
            match store.expire_held(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "held messages past the quarantine's retention deleted"),
                Err(err) => tracing::warn!(error = %err, "quarantine retention failed"),
            }
            let due = match config.quarantine.notify {
                Notify::Off => false,
                Notify::Immediate => true,
                Notify::Digest => now - last_digest >= DAY,
            };
            if due {
                last_digest = now;
                if let Err(err) = notify_recipients(store.as_ref(), &config.hostname).await {
                    tracing::warn!(error = %err, "quarantine notices failed");
                }
            }
            let wait =
                if config.quarantine.notify == Notify::Immediate { Duration::from_secs(30) } else { QUARANTINE_SWEEP };
            tokio::time::sleep(wait).await;
        }
    };
    tokio::join!(reload, updates, sweep);
}

/// Tells each local recipient, in one message, what was held for them
/// since the last notice.
pub async fn notify_recipients(store: &dyn Store, hostname: &str) -> Result<usize, String> {
    let held = store.held().await.map_err(|e| e.to_string())?;
    let mut by_rcpt: HashMap<String, Vec<&Held>> = HashMap::new();
    let mut unresolved: Vec<i64> = Vec::new();
    for h in held.iter().filter(|h| !h.notified && h.kind != HeldKind::Virus) {
        for r in &h.recipients {
            // Only accounts here: an outside address an alias forwards to
            // (or an SRS bounce's original sender) is not told about our
            // quarantine; its copy waits for the administrator.
            let local = match Address::parse(r) {
                Ok(a) => store.resolve(&a).await.map(|r| matches!(r, Recipient::Account(_))),
                Err(_) => Ok(false),
            };
            match local {
                Ok(true) => by_rcpt.entry(r.to_lowercase()).or_default().push(h),
                Ok(false) => {}
                // Not known now: this one is told next time.
                Err(e) => {
                    tracing::warn!(recipient = %r, error = %e, "cannot tell whether a held message's recipient is ours");
                    unresolved.push(h.id);
                }
            }
        }
    }
    let mut sent = 0;
    let mut failed: Vec<i64> = unresolved;
    for (rcpt, items) in &by_rcpt {
        let mut body = format!(
            "Caravel on {hostname} held {} message(s) addressed to you, because they may be dangerous or are very likely spam.\r\nThey are not in your mailbox. If one of them is a message you expect, ask your mail administrator to release it, quoting its number.\r\n\r\n",
            items.len()
        );
        for h in items {
            body.push_str(&format!(
                "  #{}  {}\r\n      from: {}\r\n      subject: {}\r\n      why: {}\r\n\r\n",
                h.id,
                caravel_store::rfc5322_date(h.created),
                h.sender,
                h.subject,
                h.reason_told_to(std::slice::from_ref(rcpt))
            ));
        }
        let message = format!(
            "From: Mail system <postmaster@{hostname}>\r\nTo: <{rcpt}>\r\nSubject: Messages held for you in the quarantine\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n{body}",
            caravel_store::rfc5322_date(caravel_store::now_secs())
        );
        match caravel_store::send_system_mail(store, rcpt, "", message.into_bytes(), "quarantine notice").await {
            Ok(_) => sent += 1,
            Err(e) => {
                tracing::warn!(recipient = %rcpt, error = %e, "cannot send a quarantine notice");
                failed.extend(items.iter().map(|h| h.id));
            }
        }
    }
    // A notice that could not be sent is tried again next time.
    let ids: Vec<i64> = held.iter().filter(|h| !h.notified && !failed.contains(&h.id)).map(|h| h.id).collect();
    if !ids.is_empty() {
        store.mark_held_notified(ids).await.map_err(|e| e.to_string())?;
    }
    Ok(sent)
}

/// Delivers a held message to its recipients' inboxes (or to `only` that
/// one of them, the others keeping it held), then deletes it from the
/// quarantine; a message held as spam is learnt as not spam for each of
/// them. Returns the addresses it went to.
pub async fn release(
    store: Arc<dyn Store>,
    config: &Config,
    id: i64,
    only: Option<&str>,
) -> Result<Vec<String>, String> {
    let e = |e: caravel_store::StoreError| e.to_string();
    if store.held_message(id).await.map_err(e)?.is_none() {
        return Err(format!("no held message {id} (caravel quarantine list)"));
    }
    if !store.claim_held(id, caravel_store::now_secs(), RELEASE_CLAIM).await.map_err(e)? {
        return Err(format!("held message {id} is being released already"));
    }
    // Read again under the claim: a release that finished meanwhile took
    // its recipients off (or the whole message), and none goes twice.
    let result = match store.held_message(id).await.map_err(e)? {
        None => Err(format!("held message {id} was released or deleted meanwhile")),
        Some((held, _))
            if only.is_some_and(|one| !held.recipients.iter().any(|r| caravel_store::same_recipient(r, one))) =>
        {
            Err(format!("held message {id} is not held for {} (any more)", only.unwrap_or_default()))
        }
        Some((held, raw)) => deliver_held(store.clone(), config, id, held, raw, only).await,
    };
    if result.is_err() {
        let _ = store.unclaim_held(id).await;
    }
    result
}

/// How long a release's claim keeps others off (a release that crashed
/// midway can be done again after this).
const RELEASE_CLAIM: i64 = 600;

async fn deliver_held(
    store: Arc<dyn Store>,
    config: &Config,
    id: i64,
    held: Held,
    raw: Vec<u8>,
    only: Option<&str>,
) -> Result<Vec<String>, String> {
    let mut targets = Vec::new();
    let mut accounts = Vec::new();
    // The held recipients that are accounts here, as the quarantine has them.
    let mut local_held: Vec<&str> = Vec::new();
    let mut remote = Vec::new();
    for r in held.recipients.iter().filter(|r| only.is_none_or(|o| caravel_store::same_recipient(r, o))) {
        let Ok(a) = Address::parse(r) else { continue };
        match store.resolve(&a).await.map_err(|e| e.to_string())? {
            Recipient::Account(u) => {
                // The recipient's own X-Spam fields go on its copy only.
                targets.push(Target {
                    prefix: format!(
                        "Return-Path: <{}>\r\nDelivered-To: {}\r\n{}",
                        held.sender,
                        u.address,
                        held.fields_of(r)
                    )
                    .into_bytes(),
                    check_quota: false,
                    ..Target::new(u.id, MailboxTarget::Special(SpecialUse::Inbox))
                });
                accounts.push((u.id, u.address.clone()));
                local_held.push(r);
            }
            // An outside address an alias forwarded to: queued now.
            Recipient::NotLocal => {
                remote.push(caravel_store::RemoteRecipient { address: a.to_string(), notify: None, orcpt: None })
            }
            _ => {}
        }
    }
    let remote_addresses: Vec<String> = remote.iter().map(|r| r.address.clone()).collect();
    if targets.is_empty() && remote.is_empty() {
        return Err(format!(
            "none of the recipients of held message {id} has an account any more ({})",
            held.recipients.join(", ")
        ));
    }
    // A message held before each recipient's verdict was kept apart has
    // the first recipient's X-Spam fields in its text: not on the others'
    // copies.
    let raw = match held.verdicts.is_empty() {
        true => caravel_smtp::auth_results::strip_verdicts(&raw).into_owned(),
        false => raw,
    };
    let raw = Arc::new(raw);
    // Outside addresses get the message without our verdict fields: they
    // would show the company's filter rules to whoever receives it.
    let outward = (!remote.is_empty()).then(|| Arc::new(caravel_smtp::auth_results::strip_verdicts(&raw).into_owned()));
    let delivery = |raw: Arc<Vec<u8>>, targets: Vec<Target>, remote: Vec<caravel_store::RemoteRecipient>| Delivery {
        sign_as: None,
        raw,
        internal_date: held.created,
        internal_zone: 0,
        targets,
        remote,
        dsn: Default::default(),
        sender: held.sender.clone(),
        session: format!("release-{id}"),
    };
    if !targets.is_empty() {
        let outcome = store.deliver(delivery(raw.clone(), targets, Vec::new())).await.map_err(|e| e.to_string())?;
        if let Some(Err(e)) = outcome.stored.iter().find(|r| r.is_err()) {
            return Err(format!("releasing held message {id}: {e}"));
        }
    }
    if let Some(outward) = outward {
        // Two deliveries: if the second fails, a release tried again must
        // not give the accounts here their copy twice.
        for r in &local_held {
            store.drop_held_recipient(id, r).await.map_err(|e| e.to_string())?;
        }
        store.deliver(delivery(outward, Vec::new(), remote)).await.map_err(|e| e.to_string())?;
    }
    if held.kind == HeldKind::Spam {
        let filter = caravel_filter::SpamFilter::new(store.clone(), crate::server::spam_settings(&config.spam));
        let digest = caravel_store::blobs::BlobStore::hash(&raw);
        for (account, _) in &accounts {
            if let Err(e) = filter.train(*account, vec![(digest.clone(), raw.to_vec(), false)]).await {
                tracing::warn!(error = %e, "could not learn a released message as not spam");
            }
        }
    }
    match only {
        Some(one) => {
            store.drop_held_recipient(id, one).await.map_err(|e| e.to_string())?;
            // The others' copy stays held, and may be released again.
            store.unclaim_held(id).await.map_err(|e| e.to_string())?;
        }
        None => {
            store.unhold(id).await.map_err(|e| e.to_string())?;
        }
    }
    Ok(accounts.into_iter().map(|(_, a)| a).chain(remote_addresses).collect())
}
