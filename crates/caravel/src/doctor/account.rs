//! The doctor's checks of one account, as a business mail FAQ walks
//! through "I can't log in", "I didn't get the buyer's mail" and "my mail
//! was not sent": the account, its lock and recent failed sign-ins (with
//! the protocol and the address they came from), two-factor sign-in and app
//! passwords, protocol switches, the quota, recent refusals of mail to it,
//! mail filed as spam or held, recent failed sends, auto-replies and rules.
//! Each verdict is in plain words, from the mail log.

use std::collections::BTreeMap;

use caravel_store::{Address, EventKind, EventQuery, MailEvent, Protocol, Store, User};

use super::{check, Check, Status};
use crate::security_commands::date;

/// How far back "recent" looks.
const RECENT_DAYS: i64 = 7;
/// Events read per question (the newest).
const EVENTS: usize = 500;
/// Examples listed per check.
const EXAMPLES: usize = 5;

pub async fn account(store: &dyn Store, address: &str, now: i64) -> Vec<Check> {
    let a = match Address::parse(address) {
        Ok(a) => a,
        Err(e) => return vec![check("account", Status::Fail, e, Some("give an address such as alice@example.com"))],
    };
    let user = match store.get_user(&a).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return vec![check(
                "account",
                Status::Fail,
                format!("there is no account {a}: mail to it is refused and nobody can sign in as it"),
                Some("caravel user add ADDRESS, or caravel alias add if it should go to someone else"),
            )]
        }
        Err(e) => return vec![check("account", Status::Fail, e.to_string(), None)],
    };
    // One query per kind of event: a busy mailbox's deliveries must not
    // push its sign-in failures out of the newest few hundred.
    let since = (now - RECENT_DAYS * 86_400) * 1000;
    let mut to_them = Vec::new();
    for kind in [EventKind::SignInFailed, EventKind::Rejected, EventKind::Received, EventKind::Quarantined] {
        let q = EventQuery { recipient: Some(user.address.clone()), kind: Some(kind), ..query(since) };
        to_them.extend(recent(store, q).await);
    }
    let mut from_them = Vec::new();
    for kind in [EventKind::Bounced, EventKind::Deferred, EventKind::Rejected] {
        let q = EventQuery { sender: Some(user.address.clone()), kind: Some(kind), ..query(since) };
        from_them.extend(recent(store, q).await);
    }
    to_them.sort_by_key(|e| e.ts);
    from_them.sort_by_key(|e| e.ts);
    let mut out = vec![check("account", Status::Ok, format!("{} exists", user.address), None)];
    out.push(lock(&user, &to_them, now));
    out.push(sign_in_failures(&user, &to_them, now));
    out.push(two_factor(store, &user).await);
    out.push(protocols(&user));
    out.extend(quota(&user));
    out.push(refused_mail(&to_them));
    out.push(spam_filed(&to_them));
    out.push(failed_sends(&from_them));
    match caravel_personal::delivery::describe(store, user.id, now).await {
        Ok((replies, rules)) => {
            out.push(check("auto-reply", Status::Ok, replies, None));
            out.push(check("rules", Status::Ok, rules, None));
        }
        Err(e) => out.push(check("auto-reply", Status::Fail, format!("cannot read the settings: {e}"), None)),
    }
    out
}

fn query(since_ms: i64) -> EventQuery {
    EventQuery { since: Some(since_ms), newest: true, limit: EVENTS, ..Default::default() }
}

async fn recent(store: &dyn Store, q: EventQuery) -> Vec<MailEvent> {
    store.events(q).await.unwrap_or_default()
}

fn of_kind(events: &[MailEvent], kind: EventKind) -> impl Iterator<Item = &MailEvent> {
    events.iter().filter(move |e| e.kind == kind)
}

fn when(e: &MailEvent) -> String {
    date(e.ts / 1000)
}

fn lock(user: &User, events: &[MailEvent], now: i64) -> Check {
    let Some(until) = user.locked_until.filter(|t| *t > now) else {
        return check("sign-in", Status::Ok, "sign-in is not locked".into(), None);
    };
    let last = of_kind(events, EventKind::SignInFailed)
        .last()
        .map(|e| format!("; the last: {} at {}", e.detail, when(e)))
        .unwrap_or_default();
    check(
        "sign-in",
        Status::Fail,
        format!(
            "sign-in is locked until {} ({} more minute(s)) after {} failed attempts{last}",
            date(until),
            (until - now + 59) / 60,
            user.failed_logins
        ),
        Some("caravel user unlock ADDRESS, and put the right password in the device that keeps failing"),
    )
}

/// Failed sign-ins grouped by what failed, how and from where: a phone
/// with an old password shows as the same line again and again.
fn sign_in_failures(user: &User, events: &[MailEvent], now: i64) -> Check {
    let day_ago = (now - 86_400) * 1000;
    let mut groups: BTreeMap<&str, (usize, &MailEvent)> = BTreeMap::new();
    for e in of_kind(events, EventKind::SignInFailed).filter(|e| e.ts >= day_ago) {
        let g = groups.entry(e.detail.as_str()).or_insert((0, e));
        g.0 += 1;
        g.1 = e;
    }
    if groups.is_empty() {
        return check("sign-in failures", Status::Ok, "no failed sign-ins in the last 24 hours".into(), None);
    }
    let total: usize = groups.values().map(|g| g.0).sum();
    let lines: Vec<String> = groups
        .iter()
        .take(EXAMPLES)
        .map(|(detail, (n, last))| format!("{n}x {detail} (the last at {})", when(last)))
        .collect();
    let details = groups.keys().copied().collect::<Vec<_>>().join(" ");
    let fix = if details.contains("is turned off") {
        format!(
            "a mail program uses a protocol turned off for this account: turn it on (caravel user set {} --imap|--pop3|--smtp on) or change the program's settings",
            user.address
        )
    } else if details.contains("app password") {
        format!(
            "two-factor sign-in is on: create an app password for that program (caravel app-password add {} NAME) and enter it there",
            user.address
        )
    } else {
        "a phone or mail program still has an old password: enter the current one in it (the address it comes from says which device)".into()
    };
    check(
        "sign-in failures",
        Status::Warn,
        format!("{total} failed sign-in(s) in the last 24 hours: {}", lines.join("; ")),
        Some(&fix),
    )
}

async fn two_factor(store: &dyn Store, user: &User) -> Check {
    if !user.totp_enabled {
        return check(
            "two-factor",
            Status::Warn,
            "two-factor sign-in is off: a stolen password is enough to read this mail".into(),
            Some("turn it on: caravel 2fa enroll ADDRESS (or in the web console)"),
        );
    }
    let passwords = store.app_passwords(user.id).await.unwrap_or_default();
    let list = if passwords.is_empty() {
        "no app passwords: mail programs cannot sign in until one is made (caravel app-password add)".to_string()
    } else {
        let names: Vec<String> = passwords
            .iter()
            .map(|p| match p.last_used {
                Some(t) => format!("{} (last used {})", p.name, date(t)),
                None => format!("{} (never used)", p.name),
            })
            .collect();
        format!("app passwords: {}", names.join(", "))
    };
    check("two-factor", Status::Ok, format!("two-factor sign-in is on; {list}"), None)
}

fn protocols(user: &User) -> Check {
    let off: Vec<Protocol> = Protocol::ALL.into_iter().filter(|p| !user.protocols.allows(*p)).collect();
    if off.is_empty() {
        return check("protocols", Status::Ok, "sending (SMTP), IMAP and POP3 are on".into(), None);
    }
    let names: Vec<&str> = off.iter().map(|p| p.label()).collect();
    let flags: Vec<String> = off.iter().map(|p| format!("--{} on", p.key())).collect();
    check(
        "protocols",
        Status::Warn,
        format!("turned off for this account: {} (mail programs using it are refused)", names.join(", ")),
        Some(&format!("caravel user set {} {}", user.address, flags.join(" "))),
    )
}

fn quota(user: &User) -> Option<Check> {
    let q = user.quota?;
    let pct = user.used.saturating_mul(100) / q.max(1);
    let used = format!("{} of {} used ({pct}%)", size(user.used), size(q));
    Some(if user.used >= q {
        check(
            "quota",
            Status::Fail,
            format!("the mailbox is full: {used}; new mail to it is refused (452/552 mailbox full)"),
            Some("delete or archive mail (empty Trash and Junk), or raise it: caravel user set ADDRESS --quota SIZE"),
        )
    } else if pct >= 90 {
        check(
            "quota",
            Status::Warn,
            format!("the mailbox is nearly full: {used}"),
            Some("delete or archive mail, or raise it: caravel user set ADDRESS --quota SIZE"),
        )
    } else {
        check("quota", Status::Ok, used, None)
    })
}

/// `1.5 MB`.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// What a refusal's class means to the recipient.
fn refusal_words(reply: &str) -> &'static str {
    match caravel_metrics::rejection_reason(reply) {
        "unknown_recipient" => "the address does not exist here",
        "mailbox_full" => "the mailbox was full",
        "too_large" => "the message was larger than allowed",
        "spam" => "it looked like spam",
        "virus" => "it carried a virus",
        "blocked" => "the sender is on a block list",
        "authentication" => "the sender's domain did not authenticate it (SPF/DKIM/DMARC)",
        "greylisted" => "greylisting asked the sender to come back later (it usually does)",
        "rate_limit" => "too much at once",
        "temporary" => "a temporary problem; the sender's server tries again",
        _ => "refused by this server's rules",
    }
}

fn refused_mail(events: &[MailEvent]) -> Check {
    let refused: Vec<&MailEvent> = of_kind(events, EventKind::Rejected).collect();
    if refused.is_empty() {
        return check("mail refused", Status::Ok, format!("no mail to it refused in {RECENT_DAYS} days"), None);
    }
    let lines: Vec<String> = refused
        .iter()
        .rev()
        .take(EXAMPLES)
        .map(|e| {
            let from = e.sender.as_deref().filter(|s| !s.is_empty()).unwrap_or("<>");
            format!("{} from {from}: {} ({})", when(e), refusal_words(&e.detail), e.detail)
        })
        .collect();
    check(
        "mail refused",
        Status::Warn,
        format!(
            "{} message(s) to it refused in {RECENT_DAYS} days, the newest first: {}",
            refused.len(),
            lines.join("; ")
        ),
        Some("the sender got the reason in the refusal; caravel trace --to ADDRESS shows each message's path"),
    )
}

/// ", spam junk score=7.2 (BAYES_99 ...)" out of a received event.
fn spam_part(detail: &str) -> Option<&str> {
    let at = detail.find(", spam ")?;
    let part = &detail[at + 7..];
    (!part.starts_with("accept")).then_some(part)
}

fn spam_filed(events: &[MailEvent]) -> Check {
    let junk: Vec<(&MailEvent, &str)> =
        of_kind(events, EventKind::Received).filter_map(|e| spam_part(&e.detail).map(|s| (e, s))).collect();
    let held: Vec<&MailEvent> = of_kind(events, EventKind::Quarantined).collect();
    if junk.is_empty() && held.is_empty() {
        return check("spam", Status::Ok, format!("nothing filed as spam or held in {RECENT_DAYS} days"), None);
    }
    let mut lines: Vec<String> = junk
        .iter()
        .rev()
        .take(EXAMPLES)
        .map(|(e, verdict)| {
            let from = e.sender.as_deref().unwrap_or("<>");
            let to = if verdict.starts_with("quarantine") { "held in the quarantine" } else { "filed in Junk" };
            format!("{} from {from}: {to}, spam {verdict}", when(e))
        })
        .collect();
    lines.extend(held.iter().rev().take(EXAMPLES).map(|e| format!("{}: {}", when(e), e.detail)));
    check(
        "spam",
        Status::Warn,
        format!("{} message(s) judged spam in {RECENT_DAYS} days: {}", junk.len().max(held.len()), lines.join("; ")),
        Some("look in Junk (or the quarantine: caravel quarantine list); a wanted sender can be allowed: caravel filter allow add SENDER --user ADDRESS"),
    )
}

/// The enhanced status code in a reply or a remote server's words
/// ("mx.partner.test said: 550 5.1.1 ...").
pub(crate) fn status_code(text: &str) -> Option<&str> {
    text.split_whitespace().find(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    })
}

fn failed_sends(events: &[MailEvent]) -> Check {
    let failed: Vec<&MailEvent> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Bounced | EventKind::Deferred | EventKind::Rejected))
        .collect();
    if failed.is_empty() {
        return check("sending", Status::Ok, format!("no failed sends in {RECENT_DAYS} days"), None);
    }
    let bounced = failed.iter().any(|e| e.kind == EventKind::Bounced);
    let lines: Vec<String> = failed
        .iter()
        .rev()
        .take(EXAMPLES)
        .map(|e| {
            let to = e.recipient.as_deref().filter(|r| !r.is_empty()).unwrap_or("(every recipient)");
            let action = match e.kind {
                EventKind::Bounced => caravel_delivery::dsn::Action::Failed,
                _ => caravel_delivery::dsn::Action::Delayed,
            };
            let words = match (e.kind, status_code(&e.detail)) {
                (EventKind::Rejected, _) => "this server refused to send it".to_string(),
                (EventKind::Deferred, _) => caravel_delivery::dsn::explain("4.0.0", action).to_string(),
                (_, Some(code)) => caravel_delivery::dsn::explain(code, action).to_string(),
                (_, None) => "the receiving server refused it".to_string(),
            };
            let what = match e.kind {
                EventKind::Bounced => "not delivered",
                EventKind::Deferred => "delayed",
                _ => "refused",
            };
            format!("{} to {to}: {what}: {words} ({})", when(e), e.detail)
        })
        .collect();
    check(
        "sending",
        if bounced { Status::Fail } else { Status::Warn },
        format!(
            "{} failed or delayed send(s) in {RECENT_DAYS} days, the newest first: {}",
            failed.len(),
            lines.join("; ")
        ),
        Some("check the recipient's address; a delayed message is tried again for 5 days (caravel queue list)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_and_spam_verdicts() {
        assert_eq!(status_code("mx.partner.test said: 550 5.1.1 <x@partner.test>: no such user"), Some("5.1.1"));
        assert_eq!(status_code("connection refused"), None);
        assert_eq!(
            spam_part("from 1.2.3.4 (h), 300 bytes, spam junk score=7.2 (BAYES_99)"),
            Some("junk score=7.2 (BAYES_99)")
        );
        assert_eq!(spam_part("from 1.2.3.4 (h), 300 bytes, spam accept score=0.1"), None);
        assert_eq!(size(10 << 20), "10.0 MB");
    }
}
