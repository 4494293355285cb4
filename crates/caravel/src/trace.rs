//! `caravel trace`: a message's whole path, from the mail log: received
//! (from where, over which port, TLS, who signed in), the filters' verdict
//! with its reasons, refused, stored in which folder, held in the
//! quarantine, queued, each remote delivery attempt with the other
//! server's reply, delivered or given up. Events of one message share its
//! Message-ID; refusals before the message was read (unknown recipient,
//! blocked sender, too large) share only the SMTP session, and are shown
//! as that session's refusals.

use serde::Serialize;

use caravel_config::Config;
use caravel_store::{EventKind, EventQuery, MailEvent, Store};

use crate::commands::{open_existing_store, print_json, CmdResult};
use crate::security_commands::date;

pub enum Which {
    MessageId(String),
    From(String),
    To(String),
}

/// Events read to find messages, and per message.
const SEEDS: usize = 200;
const PER_MESSAGE: usize = 500;

#[derive(Debug, Serialize)]
pub struct Step {
    /// Unix milliseconds.
    pub ts: i64,
    pub time: String,
    pub event: &'static str,
    pub recipient: Option<String>,
    /// What happened, in plain words.
    pub what: String,
    /// The log's own words (replies quoted as given).
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct Trace {
    pub message_id: Option<String>,
    pub session: Option<String>,
    pub sender: Option<String>,
    pub steps: Vec<Step>,
}

fn words(e: &MailEvent) -> String {
    let to = e.recipient.as_deref().unwrap_or("");
    match e.kind {
        EventKind::Received => format!("received for {to}"),
        EventKind::Rejected => format!("refused for {to}"),
        EventKind::Delivered if e.detail.starts_with("stored in ") => format!("delivered to {to}'s mailbox"),
        EventKind::Delivered => format!("delivered to {to} by the receiving server"),
        EventKind::Queued => format!("queued for {to} (another server's address)"),
        EventKind::Deferred => {
            format!("a delivery attempt to {to} failed for now; it is tried again for up to 5 days")
        }
        EventKind::Bounced => {
            let code = crate::doctor::account::status_code(&e.detail).unwrap_or("5.0.0");
            format!(
                "given up for {to}: {}; a report went to the sender",
                caravel_delivery::dsn::explain(code, caravel_delivery::dsn::Action::Failed)
            )
        }
        EventKind::Quarantined => format!("held in the quarantine instead of {to}'s mailbox"),
        EventKind::SignInFailed => "a failed sign-in".into(),
        EventKind::Locked => "account locked".into(),
        EventKind::Banned => "address banned".into(),
        EventKind::Certificate => "the TLS certificate".into(),
    }
}

fn step(e: &MailEvent) -> Step {
    Step {
        ts: e.ts,
        time: date(e.ts / 1000),
        event: e.kind.as_str(),
        recipient: e.recipient.clone(),
        what: words(e),
        detail: e.detail.clone(),
    }
}

fn is_mail(e: &MailEvent) -> bool {
    !matches!(e.kind, EventKind::SignInFailed | EventKind::Locked | EventKind::Banned)
}

/// Whether `address` is `scope` (an address) or in it (a domain).
fn address_in_scope(address: &str, scope: &str) -> bool {
    match scope.contains('@') {
        true => address.eq_ignore_ascii_case(scope),
        false => address.rsplit_once('@').is_some_and(|(_, d)| d.eq_ignore_ascii_case(scope)),
    }
}

/// An event a caller limited to `scope` may see: one it sent or received
/// (a message's other recipients, Bcc ones included, are not its business).
fn event_in_scope(e: &MailEvent, scope: &Scope) -> bool {
    if scope.hidden.iter().any(|h| [&e.sender, &e.recipient].into_iter().flatten().any(|a| a.eq_ignore_ascii_case(h))) {
        return false;
    }
    if e.recipient.as_deref().is_some_and(|r| address_in_scope(r, &scope.of)) {
        return true;
    }
    let sent = e.sender.as_deref().is_some_and(|s| address_in_scope(s, &scope.of));
    // What became of mail at a recipient here (its folder, a forward, an
    // alias's members, the quarantine) is the recipient's business: the
    // sender sees its mail accepted or refused, and its progress outside.
    sent && (!to_hosted(e, scope) || matches!(e.kind, EventKind::Received | EventKind::Rejected))
}

/// Whether the event's recipient is an address of a domain served here.
fn to_hosted(e: &MailEvent, scope: &Scope) -> bool {
    let domain = e.recipient.as_deref().and_then(|r| r.rsplit_once('@')).map(|(_, d)| d);
    domain.is_some_and(|d| scope.hosted.iter().any(|h| h.eq_ignore_ascii_case(d)))
}

/// An event as a caller limited to `scope` sees it, if at all. A sender
/// sees its mail received at a recipient here without the filter's
/// verdict on that recipient's copy: its folder, and the recipient's own
/// rules and lists in the reasons.
fn scoped(mut e: MailEvent, scope: &Scope) -> Option<MailEvent> {
    if !event_in_scope(&e, scope) {
        return None;
    }
    let as_recipient = e.recipient.as_deref().is_some_and(|r| address_in_scope(r, &scope.of));
    if !as_recipient && e.kind == EventKind::Received && to_hosted(&e, scope) {
        if let Some(at) = e.detail.find(", spam ") {
            e.detail.truncate(at);
        }
    }
    Some(e)
}

/// What a caller limited to part of the mail log sees.
pub struct Scope {
    /// An address (a user) or a domain (its administrator).
    pub of: String,
    /// The domains served here.
    pub hosted: Vec<String>,
    /// Accounts whose events are not shown (a domain's administrators, to
    /// another domain admin).
    pub hidden: Vec<String>,
}

impl Scope {
    pub async fn new(store: &dyn Store, of: &str, hidden: Vec<String>) -> Result<Scope, String> {
        let hosted = store.list_domains().await.map_err(|e| e.to_string())?.into_iter().map(|d| d.name).collect();
        Ok(Scope { of: of.to_string(), hosted, hidden })
    }
}

/// The messages `which` names, the newest `last`, oldest first; with
/// `scope`, only the events of that address or domain (the Message-ID a
/// sender wrote must not open other people's events).
pub async fn traces(
    store: &dyn Store,
    which: &Which,
    last: usize,
    scope: Option<&Scope>,
) -> Result<Vec<Trace>, String> {
    let e = |e: caravel_store::StoreError| e.to_string();
    let seed_query = match which {
        Which::MessageId(id) => {
            let id = id.trim().trim_start_matches('<').trim_end_matches('>');
            EventQuery { message_id: Some(format!("<{id}>")), ..Default::default() }
        }
        Which::From(a) => EventQuery { sender: Some(a.trim().to_string()), ..Default::default() },
        Which::To(a) => EventQuery { recipient: Some(a.trim().to_string()), ..Default::default() },
    };
    let seeds = store.events(EventQuery { newest: true, limit: SEEDS, ..seed_query }).await.map_err(e)?;
    // Newest first: one trace per Message-ID, or per session for refusals
    // without one.
    let mut out: Vec<Trace> = Vec::new();
    for seed in seeds.iter().rev().filter(|s| is_mail(s)) {
        if out.len() >= last {
            break;
        }
        let known = out.iter().any(|t| match (&seed.message_id, &t.message_id) {
            (Some(a), Some(b)) => a == b,
            (None, None) => t.session == seed.session,
            _ => false,
        });
        if known {
            continue;
        }
        let events: Vec<MailEvent> = match (&seed.message_id, &seed.session) {
            (Some(id), _) => {
                let q = EventQuery { message_id: Some(id.clone()), limit: PER_MESSAGE, ..Default::default() };
                store.events(q).await.map_err(e)?
            }
            (None, Some(session)) => {
                let q = EventQuery { session: Some(session.clone()), limit: PER_MESSAGE, ..Default::default() };
                let all = store.events(q).await.map_err(e)?;
                all.into_iter().filter(|e| e.message_id.is_none()).collect()
            }
            (None, None) => vec![seed.clone()],
        };
        let events = events.into_iter().filter(is_mail);
        let mut events: Vec<MailEvent> = match scope {
            Some(s) => events.filter_map(|e| scoped(e, s)).collect(),
            None => events.collect(),
        };
        if events.is_empty() {
            continue;
        }
        events.sort_by_key(|e| e.ts);
        out.push(Trace {
            message_id: seed.message_id.clone(),
            session: seed.session.clone(),
            sender: events.first().and_then(|e| e.sender.clone()),
            steps: events.iter().map(step).collect(),
        });
    }
    out.reverse();
    Ok(out)
}

pub async fn run(config: &Config, which: Which, last: usize, json: bool) -> CmdResult {
    let store = open_existing_store(config).await?;
    let traces = traces(store.as_ref(), &which, last.max(1), None).await?;
    if json {
        return print_json(&traces);
    }
    if traces.is_empty() {
        return Err("no such message in the mail log".into());
    }
    for t in &traces {
        let sender = match t.sender.as_deref() {
            Some("") | None => "<>",
            Some(s) => s,
        };
        match &t.message_id {
            Some(id) => println!("message {id} from {sender}"),
            None => println!("refused in session {} from {sender}", t.session.as_deref().unwrap_or("?")),
        }
        for s in &t.steps {
            println!("  {}  {}\n      {}", s.time, s.what, s.detail);
        }
        println!();
    }
    Ok(())
}

/// A search of the mail log (`caravel log`, the console's mail log page).
#[derive(Debug, Clone, Default)]
pub struct LogSearch {
    /// An address (as sender or recipient), or a Message-ID.
    pub text: Option<String>,
    pub kind: Option<EventKind>,
    /// Unix milliseconds.
    pub since: Option<i64>,
    pub last: usize,
}

/// The newest `last` events that match, newest first; with `scope`, only
/// those of that address or domain.
pub async fn search(store: &dyn Store, q: &LogSearch, scope: Option<&Scope>) -> Result<Vec<MailEvent>, String> {
    let e = |e: caravel_store::StoreError| e.to_string();
    let last = q.last.clamp(1, 1000);
    // A user's log is their own address's; a domain's is read wider, then
    // narrowed.
    let text = q.text.clone().filter(|t| !t.trim().is_empty()).map(|t| t.trim().to_string());
    let text = text.or_else(|| scope.filter(|s| s.of.contains('@')).map(|s| s.of.clone()));
    let base = EventQuery { kind: q.kind, since: q.since, newest: true, limit: last, ..Default::default() };
    let queries = match &text {
        Some(t) if t.contains('@') && !t.starts_with('<') => vec![
            EventQuery { sender: Some(t.clone()), ..base.clone() },
            EventQuery { recipient: Some(t.clone()), ..base.clone() },
        ],
        Some(t) => {
            let id = t.trim_start_matches('<').trim_end_matches('>');
            vec![EventQuery { message_id: Some(format!("<{id}>")), ..base.clone() }]
        }
        None if scope.is_some() => vec![EventQuery { limit: last * 20, ..base }],
        None => vec![base],
    };
    let mut found: Vec<MailEvent> = Vec::new();
    for query in queries {
        for ev in store.events(query).await.map_err(e)? {
            if !found.contains(&ev) {
                found.push(ev);
            }
        }
    }
    let mut found: Vec<MailEvent> = match scope {
        Some(s) => found.into_iter().filter_map(|e| scoped(e, s)).collect(),
        None => found,
    };
    found.sort_by_key(|e| std::cmp::Reverse(e.ts));
    found.truncate(last);
    Ok(found)
}

/// `caravel log`
pub async fn log(config: &Config, q: LogSearch, json: bool) -> CmdResult {
    let store = open_existing_store(config).await?;
    let events = search(store.as_ref(), &q, None).await?;
    if json {
        return print_json(&events);
    }
    if events.is_empty() {
        println!("nothing in the mail log matches");
    }
    for ev in &events {
        let who = match (&ev.sender, &ev.recipient) {
            (Some(s), Some(r)) => format!("{s} -> {r}"),
            (Some(s), None) => s.clone(),
            (None, Some(r)) => format!("-> {r}"),
            (None, None) => String::new(),
        };
        println!("{}  {:<14} {who}\n      {}", date(ev.ts / 1000), ev.kind.as_str(), ev.detail);
    }
    Ok(())
}

/// The doctor and trace for the web API (`/api/v1/doctor`, `/api/v1/trace`).
pub struct Troubleshooter {
    pub config: Config,
    pub store: std::sync::Arc<dyn Store>,
    /// The server's spam filter (its trained models are kept, not trained
    /// again for each console request).
    pub spam: std::sync::Arc<caravel_filter::SpamFilter>,
}

impl Troubleshooter {
    async fn scope(&self, visible: Option<caravel_http::Visible>) -> Result<Option<Scope>, String> {
        match visible {
            None => Ok(None),
            Some(v) => Ok(Some(Scope::new(self.store.as_ref(), &v.of, v.hidden).await?)),
        }
    }
}

#[async_trait::async_trait]
impl caravel_http::Troubleshoot for Troubleshooter {
    async fn doctor(&self, address: Option<String>, server_parts: bool) -> Result<serde_json::Value, String> {
        let checks = crate::doctor::checks(&self.config, self.store.as_ref(), address.as_deref(), server_parts).await;
        serde_json::to_value(checks).map_err(|e| e.to_string())
    }

    async fn trace(
        &self,
        query: caravel_http::TraceQuery,
        last: usize,
        scope: Option<caravel_http::Visible>,
    ) -> Result<serde_json::Value, String> {
        let scope = self.scope(scope).await?;
        let which = match query {
            caravel_http::TraceQuery::MessageId(id) => Which::MessageId(id),
            caravel_http::TraceQuery::From(a) => Which::From(a),
            caravel_http::TraceQuery::To(a) => Which::To(a),
        };
        let traces = traces(self.store.as_ref(), &which, last, scope.as_ref()).await?;
        serde_json::to_value(traces).map_err(|e| e.to_string())
    }

    async fn log(
        &self,
        query: caravel_http::LogQuery,
        scope: Option<caravel_http::Visible>,
    ) -> Result<serde_json::Value, String> {
        let scope = self.scope(scope).await?;
        let q = LogSearch { text: query.text, kind: query.kind, since: query.since, last: query.last };
        let events = search(self.store.as_ref(), &q, scope.as_ref()).await?;
        serde_json::to_value(events).map_err(|e| e.to_string())
    }
}
