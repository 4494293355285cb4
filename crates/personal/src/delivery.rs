//! What a user's settings do to a message delivered to them: their mail
//! rules decide its folder, flags and forwards, and their auto-reply may
//! answer it. The SMTP back end calls these for each local copy.

use caravel_store::settings::account_scope;
use caravel_store::{AccountId, Address, Store};
use jiff::Timestamp;

use crate::autoreply::{self, AutoReply, Holiday, Incoming};
use crate::book::{load, load_one, AUTOREPLY, HOLIDAY, PROFILE, RULE};
use crate::profile::{render, Profile, VARIABLES};
use crate::reply::{self, Reply};
use crate::rules::{apply, in_order, Outcome, Rule, View};
use crate::srs::Srs;

/// The scope of server-wide settings (holidays, the SRS secret).
pub const SERVER: &str = "server";

/// The account's rules applied to the message; None when it has none.
/// `view` is computed on first need and shared between the copies.
pub async fn rules_outcome(
    store: &dyn Store,
    account: AccountId,
    raw: &[u8],
    sender: &str,
    view: &mut Option<View>,
) -> Option<Outcome> {
    let rules: Vec<(String, Rule)> = match load(store, &account_scope(account), RULE).await {
        Ok(r) if !r.is_empty() => in_order(r),
        Ok(_) => return None,
        Err(e) => {
            // The message is delivered to INBOX rather than not at all.
            tracing::warn!(account, error = %e, "cannot read mail rules");
            return None;
        }
    };
    let view = view.get_or_insert_with(|| View::of(raw, sender));
    Some(apply(&rules, view))
}

/// Makes the folder a rule files into, with its parents, if missing.
pub async fn ensure_folder(store: &dyn Store, account: AccountId, name: &str) -> caravel_store::Result<()> {
    let existing: Vec<String> = store.mailboxes(account).await?.into_iter().map(|m| m.name).collect();
    let mut path = String::new();
    for part in name.split('/').filter(|p| !p.is_empty()) {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(part);
        if !existing.iter().any(|e| e == &path) {
            match store.create_mailbox(account, &path).await {
                Ok(_) | Err(caravel_store::StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// The server's SRS secret, made on first use.
pub async fn srs(store: &dyn Store) -> caravel_store::Result<Srs> {
    if let Some((_, hex)) = store.settings(SERVER, "secret").await?.into_iter().find(|(n, _)| n == "srs") {
        return Ok(Srs::new(hex.as_bytes()));
    }
    let mut secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| caravel_store::StoreError::Backend("no random numbers".into()))?;
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    store.add_setting(SERVER, "secret", "srs", &hex).await?;
    // Read back: of two first uses at once, both use the one kept.
    let kept = store.settings(SERVER, "secret").await?.into_iter().find(|(n, _)| n == "srs").map(|(_, v)| v);
    Ok(Srs::new(kept.unwrap_or(hex).as_bytes()))
}

/// A copy a rule forwards: queued (or stored, for a local address) with an
/// SRS envelope sender in the account's domain; `Delivered-To` marks it,
/// so a message that comes back around is not forwarded again.
pub async fn forward(
    store: &dyn Store,
    account_address: &str,
    sender: &str,
    raw: &[u8],
    to: &str,
    now: i64,
) -> Result<(), String> {
    let delivered_to = format!("Delivered-To: {account_address}");
    let head_end = caravel_store::fields::header_end(raw);
    if String::from_utf8_lossy(&raw[..head_end]).lines().any(|l| l.trim().eq_ignore_ascii_case(&delivered_to)) {
        return Err(format!("not forwarded to {to}: it came back (a forwarding loop)"));
    }
    let domain = account_address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let srs = srs(store).await.map_err(|e| e.to_string())?;
    let envelope = srs.forward(sender, domain, now.div_euclid(86400));
    let mut copy = format!("{delivered_to}\r\n").into_bytes();
    copy.extend_from_slice(raw);
    caravel_store::send_mail_as(store, to, &envelope, copy, "rule-forward", None).await
}

/// The original sender of a bounce to an SRS address made here.
pub async fn srs_reverse(store: &dyn Store, address: &Address, now: i64) -> Option<String> {
    let local = address.to_string();
    let local = local.rsplit_once('@').map(|(l, _)| l)?;
    if !local.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("srs0=")) {
        return None;
    }
    srs(store).await.ok()?.reverse(local, now.div_euclid(86400))
}

/// One delivered copy an auto-reply may answer.
pub struct Delivered<'a> {
    /// Whose auto-replies: an account's (`account_scope`) or a shared
    /// alias's (`alias_scope`).
    pub scope: &'a str,
    /// The account's address, or the alias.
    pub address: &'a str,
    /// The address the message was sent to (an alias of the account).
    pub via: &'a str,
    /// The account (for its display name); None for a shared alias.
    pub account: Option<AccountId>,
    pub sender: &'a str,
    pub raw: &'a [u8],
    /// Filed as spam or held.
    pub spam: bool,
    pub now: i64,
    pub hostname: &'a str,
}

/// Sends the account's auto-reply to the message if one applies and RFC
/// 3834 allows it; what was sent, or why not, for the log.
pub async fn auto_reply(store: &dyn Store, d: &Delivered<'_>) -> Result<String, String> {
    let scope = d.scope;
    let templates: Vec<(String, AutoReply)> = load(store, scope, AUTOREPLY).await.map_err(|e| e.to_string())?;
    if templates.is_empty() {
        return Err("no auto-reply".into());
    }
    let facts = reply::facts(d.raw);
    let own: Vec<String> = [d.address, d.via].iter().map(|a| a.to_lowercase()).collect();
    reply::may_reply(d.sender, &facts, &own, d.spam).map_err(|why| format!("no auto-reply: {why:?}"))?;
    let domain = d.address.rsplit_once('@').map(|(_, x)| x.to_ascii_lowercase()).unwrap_or_default();
    let profile: Profile = load_one(store, scope, PROFILE).await.map_err(|e| e.to_string())?.unwrap_or_default();
    let company: Profile = load_one(store, &caravel_store::settings::domain_scope(&domain), PROFILE)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let name = match d.account {
        Some(id) => store.user_by_id(id).await.map_err(|e| e.to_string())?.and_then(|u| u.name),
        None => None,
    };
    let named = Profile { name, ..Default::default() };
    let profile = profile.or(&company).or(&named);
    let zone_name = profile.zone.clone();
    let tz = autoreply::zone(zone_name.as_deref());
    let holidays: Vec<Holiday> =
        load(store, SERVER, HOLIDAY).await.map_err(|e| e.to_string())?.into_iter().map(|(_, h)| h).collect();
    let now = Timestamp::from_second(d.now).map_err(|e| e.to_string())?;
    let language = facts.content_language.clone().or_else(|| autoreply::detect_language(&facts.text).map(String::from));
    let sender_domain = d.sender.rsplit_once('@').map(|(_, x)| x.to_ascii_lowercase()).unwrap_or_default();
    let incoming = Incoming {
        sender_domain: &sender_domain,
        language: language.as_deref(),
        is_reply: !facts.references.is_empty() || has_in_reply_to(d.raw),
    };
    let Some((name, template)) = autoreply::choose(&templates, &incoming, now, &tz, &holidays) else {
        return Err("no auto-reply applies now".into());
    };
    let every = i64::from(template.days.max(1)) * 86400;
    // Per template and sender (RFC 5230 §4.2: each vacation action keeps
    // its own record), so yesterday's acknowledgement does not silence
    // today's out-of-office notice.
    let key = format!("{name}\n{}", d.sender);
    if !store.claim_reply(scope, &key, d.now, every).await.map_err(|e| e.to_string())? {
        return Err(format!("no auto-reply: {} was answered in the last {} days", d.sender, template.days.max(1)));
    }
    let opens = template.next_opening(now, &tz, &holidays);
    let lookup = |var: &str| -> Option<String> {
        match var {
            "subject" => Some(facts.subject.clone()),
            "sender" => Some(d.sender.to_string()),
            "opens" => Some(opens.as_ref().map(|o| format_opening(o, &tz)).unwrap_or_default()),
            "opens_sender" => Some(
                opens
                    .as_ref()
                    .zip(facts.sender_offset)
                    .and_then(|(o, off)| jiff::tz::Offset::from_seconds(off).ok().map(|off| (o, off)))
                    .map(|(o, off)| format_opening(o, &jiff::tz::TimeZone::fixed(off)))
                    .unwrap_or_default(),
            ),
            v if VARIABLES.contains(&v) => Some(profile.get(v).unwrap_or_default().to_string()),
            _ => None,
        }
    };
    let text = render(&template.text, &lookup, false);
    let html = template.html.as_ref().map(|h| render(h, &lookup, true));
    let subject_template = render(&template.subject.replace("{subject}", "\u{1}"), &lookup, false);
    let subject = reply::reply_subject(&subject_template.replace('\u{1}', "{subject}"), &facts.subject);
    let date = caravel_store::rfc5322_date(d.now);
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let message_id = format!("auto.{}.{n}@{}", caravel_store::now_millis(), d.hostname);
    // From the address the buyer wrote to (an alias such as sales@), if
    // it is in To: or Cc:, else the account's own.
    let from = if facts.addressed.iter().any(|a| a.eq_ignore_ascii_case(d.via)) { d.via } else { d.address };
    let r = Reply {
        from_name: profile.name.as_deref(),
        from,
        to: d.sender,
        subject,
        text,
        html,
        date: &date,
        message_id: &message_id,
    };
    let message = reply::build(&r, &facts);
    // RFC 3834 §3.3: the null reverse-path, so nothing answers it.
    // Signed for the domain of the address it comes from (an alias may be
    // in another of our domains).
    let from_domain = from.rsplit_once('@').map(|(_, x)| x.to_ascii_lowercase()).unwrap_or(domain);
    caravel_store::send_mail_as(store, d.sender, "", message, "auto-reply", Some(from_domain)).await?;
    Ok(format!("auto-reply \"{name}\" sent to {}", d.sender))
}

fn has_in_reply_to(raw: &[u8]) -> bool {
    caravel_store::fields::field_value(&raw[..caravel_store::fields::header_end(raw)], "in-reply-to").is_some()
}

/// "Monday 8 March 2027, 09:00 (UTC+01:00)".
fn format_opening(at: &jiff::Zoned, tz: &jiff::tz::TimeZone) -> String {
    let local = at.with_time_zone(tz.clone());
    let offset = local.offset().seconds();
    let sign = if offset < 0 { '-' } else { '+' };
    let (h, m) = (offset.abs() / 3600, offset.abs() % 3600 / 60);
    let d = local.date();
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    format!(
        "{} {} {} {}, {:02}:{:02} (UTC{sign}{h:02}:{m:02})",
        autoreply::weekday_name(d.weekday()),
        d.day(),
        MONTHS[(d.month() - 1) as usize],
        d.year(),
        local.hour(),
        local.minute()
    )
}

/// In plain words, for `caravel doctor ADDRESS`: the account's auto-reply
/// templates and whether each answers at `now`, and what its rules do with
/// mail (forwards first: they explain mail that "never arrived").
pub async fn describe(store: &dyn Store, account: AccountId, now: i64) -> caravel_store::Result<(String, String)> {
    let scope = account_scope(account);
    let templates: Vec<(String, AutoReply)> = load(store, &scope, AUTOREPLY).await?;
    let profile: Profile = load_one(store, &scope, PROFILE).await?.unwrap_or_default();
    let tz = autoreply::zone(profile.zone.as_deref());
    let holidays: Vec<Holiday> = load(store, SERVER, HOLIDAY).await?.into_iter().map(|(_, h)| h).collect();
    let at = Timestamp::from_second(now).unwrap_or(Timestamp::UNIX_EPOCH);
    let replies = match templates.is_empty() {
        true => "auto-replies are off".to_string(),
        false => templates
            .iter()
            .map(|(name, t)| {
                let period = match (&t.from, &t.until) {
                    (None, None) => String::new(),
                    (f, u) => {
                        format!(", {} to {}", f.as_deref().unwrap_or("now"), u.as_deref().unwrap_or("further notice"))
                    }
                };
                let now_word = if t.active(at, &tz, &holidays) { "answers now" } else { "does not answer now" };
                format!("\"{name}\" ({}{period}) {now_word}", t.scenario)
            })
            .collect::<Vec<_>>()
            .join("; "),
    };
    let rules = in_order(load::<Rule>(store, &scope, RULE).await?);
    let mut forwards = Vec::new();
    for (id, rule) in &rules {
        for action in &rule.actions {
            if let crate::rules::Action::Forward { to, keep } = action {
                let kept = if *keep { "a copy is kept" } else { "no copy is kept" };
                forwards.push(format!("rule {id} forwards to {to} ({kept})"));
            }
        }
    }
    let rules = match (rules.len(), forwards.is_empty()) {
        (0, _) => "no mail rules".to_string(),
        (n, true) => format!("{n} mail rule(s), none forwards (caravel rule list)"),
        (n, false) => format!("{n} mail rule(s): {} (caravel rule list)", forwards.join("; ")),
    };
    Ok((replies, rules))
}
