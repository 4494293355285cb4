//! The Selected state: the session's view of one mailbox (sequence numbers to
//! UIDs), kept in step with the store through the change notifier, and the
//! commands that work on it (RFC 9051 §6.4).

use caravel_auth::SignedIn;
use caravel_store::{FlagMode, Flags, Mailbox, MailboxChange, MessageMeta, StoreError};
use tokio::sync::broadcast;

use crate::append::split_flags;
use crate::command::{Command, StoreMode, Tagged};
use crate::cursor::{SequenceSet, STAR};
use crate::fetch::FetchItem;
use crate::fetch_run;
use crate::search::{self, Candidate, SearchKey};
use crate::session::{tagged, Context, Next, Session, State, Step};

pub struct Selected {
    pub mailbox: Mailbox,
    pub read_only: bool,
    /// The messages in sequence-number order, as this session knows them.
    pub messages: Vec<MessageMeta>,
    watch: broadcast::Receiver<MailboxChange>,
    /// Changes announced by the store and not yet synced.
    pending: Pending,
    /// Expunges seen but held back for a command that may report them: not
    /// a new change, so nothing waits on them (no NOTIFY or IDLE spin).
    deferred_gone: std::collections::HashSet<u32>,
    /// QRESYNC is on: expunges are reported as VANISHED.
    pub qresync: bool,
    /// CONDSTORE is on: flag updates carry MODSEQ (RFC 7162 §3.1.4.1).
    pub condstore: bool,
    /// The rest of a FETCH answered in chunks (see [`fetch_run`]).
    pub(crate) fetching: Option<fetch_run::FetchJob>,
    /// UIDs saved by SEARCH RETURN (SAVE), sorted: `$` (RFC 5182).
    saved: Vec<u32>,
    /// UID ranges `[from, to)` that are \Recent to this session (RFC 3501
    /// §2.3.2); empty in IMAP4rev2, which has no \Recent.
    recent: Vec<(u32, u32)>,
    /// IMAP4rev1: new messages are claimed as \Recent (read-write) or
    /// shown as such while unclaimed (read-only).
    track_recent: bool,
    /// The keywords the client was told of in FLAGS (RFC 3501 §7.2.6), and
    /// the same lowercased, to look up.
    keywords: Vec<String>,
    known_keywords: std::collections::HashSet<String>,
    /// Live SEARCH and SORT results (RFC 5267 §4).
    pub(crate) contexts: Vec<crate::context::SearchContext>,
}

/// What the store announced since the last sync: a sync reads just these
/// messages, so its cost follows the change, not the mailbox.
#[derive(Default)]
struct Pending {
    /// Read the whole list again (the channel lagged: changes were lost).
    full: bool,
    /// Messages whose flags changed.
    flags: std::collections::HashSet<u32>,
    /// Messages expunged and not yet reported (kept while a command may not
    /// report expunges, RFC 9051 §7.5.1).
    gone: std::collections::HashSet<u32>,
    /// New messages came.
    appended: bool,
}

impl Pending {
    fn any(&self) -> bool {
        self.full || self.appended || !self.flags.is_empty() || !self.gone.is_empty()
    }

    fn record(&mut self, change: MailboxChange) {
        match change {
            MailboxChange::Appended { .. } => self.appended = true,
            MailboxChange::FlagsChanged { uids, .. } => self.flags.extend(uids),
            MailboxChange::Expunged { uids, .. } => self.gone.extend(uids),
            MailboxChange::Resync => self.full = true,
        }
    }
}

/// The FLAGS list of a message; `recent` adds \Recent (IMAP4rev1 only).
pub fn flags_text(m: &MessageMeta, recent: bool) -> String {
    let mut f: Vec<String> = Vec::new();
    for (flag, name) in [
        (Flags::SEEN, "\\Seen"),
        (Flags::ANSWERED, "\\Answered"),
        (Flags::FLAGGED, "\\Flagged"),
        (Flags::DELETED, "\\Deleted"),
        (Flags::DRAFT, "\\Draft"),
    ] {
        if m.flags.contains(flag) {
            f.push(name.into());
        }
    }
    if recent {
        f.push("\\Recent".into());
    }
    f.extend(m.keywords.iter().cloned());
    f.join(" ")
}

/// `17-Jul-1996 02:44:25 -0700` (RFC 9051 date-time), in the zone it was
/// given in (`zone`: minutes east of UTC).
pub fn internal_date(unix: i64, zone: i32) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let local = unix + zone as i64 * 60;
    let secs = local.rem_euclid(86400);
    let (year, month, day) = caravel_store::civil_from_days(local.div_euclid(86400));
    let sign = if zone < 0 { '-' } else { '+' };
    format!(
        "{day:02}-{}-{year:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        zone.abs() / 60,
        zone.abs() % 60
    )
}

/// The UIDs recent to a session that opens `mailbox`: claimed for good by a
/// read-write SELECT, only looked at by EXAMINE.
async fn recent_range(session: &Session, mailbox: &Mailbox, read_only: bool) -> (u32, u32) {
    if read_only {
        return (mailbox.first_recent, mailbox.uidnext);
    }
    session.ctx.store.claim_recent(mailbox.id).await.unwrap_or((0, 0))
}

/// FLAGS and PERMANENTFLAGS for a mailbox with these keywords.
fn flags_lines(keywords: &[String], read_only: bool) -> Vec<u8> {
    let kw = keywords.join(" ");
    let system = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
    let mut out = format!("* FLAGS ({system} {kw})\r\n").into_bytes();
    let permanent = if read_only { String::new() } else { format!("{system} {kw} \\*") };
    out.extend(format!("* OK [PERMANENTFLAGS ({permanent})] Flags permitted\r\n").into_bytes());
    out
}

fn in_ranges(ranges: &[(u32, u32)], uid: u32) -> bool {
    ranges.iter().any(|&(from, to)| uid >= from && uid < to)
}

impl Selected {
    /// The UIDs SEARCH RETURN (SAVE) kept (`$`).
    pub(crate) fn saved_uids(&self) -> &[u32] {
        &self.saved
    }

    pub fn is_recent(&self, uid: u32) -> bool {
        in_ranges(&self.recent, uid)
    }

    /// RFC 3501 §7.2.6: a keyword that first appears in the mailbox (set by
    /// this session or another) is announced in a new FLAGS, and in
    /// PERMANENTFLAGS, before any FETCH shows it.
    fn learn_keywords<'a>(&mut self, messages: impl IntoIterator<Item = &'a MessageMeta>) -> Vec<u8> {
        let mut added = false;
        for m in messages {
            for k in &m.keywords {
                if !self.known_keywords.contains(&k.to_ascii_lowercase()) {
                    self.known_keywords.insert(k.to_ascii_lowercase());
                    self.keywords.push(k.clone());
                    added = true;
                }
            }
        }
        if added {
            flags_lines(&self.keywords, self.read_only)
        } else {
            Vec::new()
        }
    }

    pub async fn open(
        session: &Session,
        user: &SignedIn,
        name: &str,
        read_only: bool,
    ) -> Result<(Selected, Vec<u8>), String> {
        let store = &session.ctx.store;
        let mailbox = match session.find_mailbox(user.account, name).await {
            Ok(Some(m)) => m,
            Ok(None) => return Err("[NONEXISTENT] No such mailbox".into()),
            Err(e) => return Err(crate::errors::store_failure(&e)),
        };
        // Watch first, then read: no change can fall between the two.
        let watch = store.watch(mailbox.id);
        let messages = store.messages(mailbox.id).await.map_err(|e| crate::errors::store_failure(&e))?;
        let mut keywords: Vec<String> = Vec::new();
        for m in &messages {
            for k in &m.keywords {
                if !keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                    keywords.push(k.clone());
                }
            }
        }
        for k in ["$Forwarded", "$MDNSent", "$Junk", "$NotJunk"] {
            if !keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                keywords.push(k.into());
            }
        }
        let mut out = flags_lines(&keywords, read_only);
        out.extend(format!("* {} EXISTS\r\n", messages.len()).into_bytes());
        // RECENT and the UNSEEN code are IMAP4rev1 only (RFC 9051 Appendix E).
        let recent = if session.rev2 { Vec::new() } else { vec![recent_range(session, &mailbox, read_only).await] };
        if !session.rev2 {
            let n = messages.iter().filter(|m| in_ranges(&recent, m.uid)).count();
            out.extend(format!("* {n} RECENT\r\n").into_bytes());
            if let Some(pos) = messages.iter().position(|m| !m.flags.contains(Flags::SEEN)) {
                out.extend(format!("* OK [UNSEEN {}] First unseen\r\n", pos + 1).into_bytes());
            }
        }
        out.extend(format!("* OK [UIDVALIDITY {}] UIDs valid\r\n", mailbox.uidvalidity).into_bytes());
        out.extend(format!("* OK [UIDNEXT {}] Predicted next UID\r\n", mailbox.uidnext).into_bytes());
        out.extend(format!("* OK [HIGHESTMODSEQ {}] Highest\r\n", mailbox.highestmodseq).into_bytes());
        Ok((
            Selected {
                mailbox,
                read_only,
                messages,
                watch,
                pending: Pending::default(),
                deferred_gone: Default::default(),
                qresync: false,
                condstore: false,
                fetching: None,
                saved: Vec::new(),
                recent,
                track_recent: !session.rev2,
                known_keywords: keywords.iter().map(|k| k.to_ascii_lowercase()).collect(),
                keywords,
                contexts: Vec::new(),
            },
            out,
        ))
    }

    /// Whether the store has announced a change since the last sync.
    fn drain(&mut self) -> bool {
        loop {
            match self.watch.try_recv() {
                Ok(change) => self.pending.record(change),
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.pending.full = true,
                Err(_) => return self.pending.any(),
            }
        }
    }

    /// Waits until the mailbox changes (for IDLE).
    pub async fn changed(&mut self) {
        if !self.pending.any() {
            match self.watch.recv().await {
                Ok(change) => self.pending.record(change),
                Err(broadcast::error::RecvError::Lagged(_)) => self.pending.full = true,
                // No notifier any more: nothing will ever change.
                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }

    /// What changed, as (messages of the view with their new state, UIDs
    /// gone, new messages): read by UID after announced changes, or from
    /// the whole list after lost ones.
    async fn delta(
        &mut self,
        ctx: &Context,
    ) -> Result<(Vec<MessageMeta>, std::collections::HashSet<u32>, Vec<MessageMeta>), StoreError> {
        let p = std::mem::take(&mut self.pending);
        let last = self.messages.last().map(|m| m.uid).unwrap_or(0);
        let known = |sel: &Selected, uid: u32| sel.messages.binary_search_by_key(&uid, |m| m.uid).is_ok();
        if p.full {
            let fresh = match ctx.store.messages(self.mailbox.id).await {
                Ok(f) => f,
                Err(e) => {
                    self.pending.full = true;
                    return Err(e);
                }
            };
            let present: std::collections::HashSet<u32> = fresh.iter().map(|m| m.uid).collect();
            let gone = self.messages.iter().map(|m| m.uid).filter(|u| !present.contains(u)).collect();
            let (new, updated) = fresh.into_iter().partition(|m| m.uid > last);
            return Ok((updated, gone, new));
        }
        let mut ask: Vec<u32> = p.flags.iter().copied().filter(|u| !p.gone.contains(u) && known(self, *u)).collect();
        ask.sort_unstable();
        let from = p.appended.then_some(last + 1);
        let metas = if ask.is_empty() && from.is_none() {
            Vec::new()
        } else {
            match ctx.store.messages_changed(self.mailbox.id, &ask, from).await {
                Ok(m) => m,
                Err(e) => {
                    self.pending = p;
                    return Err(e);
                }
            }
        };
        // (The caller keeps only UIDs its view knows.) An asked message that
        // is no longer there went meanwhile.
        let mut gone = p.gone;
        for uid in ask.iter().filter(|u| metas.binary_search_by_key(*u, |m| m.uid).is_err()) {
            gone.insert(*uid);
        }
        let (new, updated) = metas.into_iter().partition(|m| m.uid > last);
        Ok((updated, gone, new))
    }

    /// Brings the view up to date and says what changed: EXISTS for new
    /// messages, FETCH FLAGS for changed ones, and EXPUNGE only when
    /// `allow_expunge` (never during FETCH, STORE or SEARCH, RFC 9051 §7.5.1).
    pub async fn sync(&mut self, ctx: &Context, allow_expunge: bool) -> Vec<u8> {
        let announced = self.drain();
        if !announced && (self.deferred_gone.is_empty() || !allow_expunge) {
            return Vec::new();
        }
        let Ok((updated, mut gone, new)) = self.delta(ctx).await else { return Vec::new() };
        gone.extend(std::mem::take(&mut self.deferred_gone));
        gone.retain(|u| self.messages.binary_search_by_key(u, |m| m.uid).is_ok());
        let mut out = self.learn_keywords(updated.iter().chain(new.iter()));
        // What live results (RFC 5267) look at again: changed and new messages.
        let mut changed = std::collections::HashSet::new();
        // Flag changes of messages both sides know, found by UID.
        for f in updated {
            let Ok(i) = self.messages.binary_search_by_key(&f.uid, |m| m.uid) else { continue };
            let m = &mut self.messages[i];
            if f.modseq != m.modseq || f.flags != m.flags || f.keywords != m.keywords {
                changed.insert(f.uid);
                *m = f;
                // MODSEQ only once CONDSTORE is on (RFC 7162 §3.1).
                let modseq = if self.condstore { format!(" MODSEQ ({})", m.modseq) } else { String::new() };
                out.extend(
                    format!(
                        "* {} FETCH (UID {} FLAGS ({}){modseq})\r\n",
                        i + 1,
                        m.uid,
                        flags_text(m, in_ranges(&self.recent, m.uid)),
                    )
                    .into_bytes(),
                );
            }
        }
        if !gone.is_empty() && !allow_expunge {
            // Expunges this command may not report: the next one will.
            self.deferred_gone = gone;
        } else if !gone.is_empty() {
            if !self.contexts.is_empty() {
                out.extend(self.context_expunges(&gone));
            }
            let mut numbers: Vec<usize> =
                gone.iter().filter_map(|u| self.messages.binary_search_by_key(u, |m| m.uid).ok()).collect();
            numbers.sort_unstable();
            if self.qresync {
                let mut vanished: Vec<u32> = gone.iter().copied().collect();
                vanished.sort_unstable();
                out.extend(format!("* VANISHED {}\r\n", compress(&vanished)).into_bytes());
            } else {
                // From the end, so each number is right when it is sent.
                for i in numbers.iter().rev() {
                    out.extend(format!("* {} EXPUNGE\r\n", i + 1).into_bytes());
                }
            }
            self.messages.retain(|m| !gone.contains(&m.uid));
        }
        let mut new = new;
        let last = self.messages.last().map(|m| m.uid).unwrap_or(0);
        let before = self.messages.len();
        new.retain(|m| m.uid > last);
        self.messages.extend(new);
        changed.extend(self.messages[before..].iter().map(|m| m.uid));
        if self.messages.len() != before {
            out.extend(format!("* {} EXISTS\r\n", self.messages.len()).into_bytes());
        }
        if let Ok(Some(m)) = ctx.store.mailbox(self.mailbox.id).await {
            self.mailbox = m;
        }
        // RFC 3501 §7.3.2: new messages come with the new RECENT count.
        if self.track_recent && self.messages.len() > before {
            let range = if self.read_only {
                (self.mailbox.first_recent, self.mailbox.uidnext)
            } else {
                ctx.store.claim_recent(self.mailbox.id).await.unwrap_or((0, 0))
            };
            self.recent.push(range);
            let n = self.messages.iter().filter(|m| self.is_recent(m.uid)).count();
            out.extend(format!("* {n} RECENT\r\n").into_bytes());
        }
        out.extend(self.refresh_contexts(ctx, &changed).await);
        out
    }

    /// SELECT (QRESYNC ...): what changed since the client's last sync
    /// (RFC 7162 §3.2.5.1): VANISHED (EARLIER) and FETCH of changed flags.
    pub async fn resync(&mut self, ctx: &Context, q: &crate::command::Qresync) -> Vec<u8> {
        if q.uidvalidity != self.mailbox.uidvalidity {
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Ok(mut gone) = ctx.store.vanished_since(self.mailbox.id, q.modseq).await {
            if let Some(known) = &q.known_uids {
                let largest = self.mailbox.uidnext.saturating_sub(1);
                gone.retain(|u| known.contains(*u, largest));
            }
            if !gone.is_empty() {
                out.extend(format!("* VANISHED (EARLIER) {}\r\n", compress(&gone)).into_bytes());
            }
        }
        for (i, m) in self.messages.iter().enumerate() {
            if m.modseq > q.modseq {
                out.extend(
                    format!(
                        "* {} FETCH (UID {} FLAGS ({}) MODSEQ ({}))\r\n",
                        i + 1,
                        m.uid,
                        flags_text(m, self.is_recent(m.uid)),
                        m.modseq
                    )
                    .into_bytes(),
                );
            }
        }
        out
    }

    /// Indexes (0-based) of the messages a set names; `None` if a sequence
    /// number is out of range (an error for non-UID commands).
    fn resolve(&self, set: &SequenceSet, uid: bool) -> Option<Vec<usize>> {
        let SequenceSet::Ranges(ranges) = set else {
            // `$`: the saved messages still here (RFC 5182 §2.1), UID or not.
            return Some(
                self.saved.iter().filter_map(|u| self.messages.binary_search_by_key(u, |m| m.uid).ok()).collect(),
            );
        };
        // Each interval is found by binary search in the UID-ordered list:
        // a FETCH of the last 50 messages costs the same in a mailbox of
        // 100 or 100,000.
        if uid {
            let largest = self.messages.last().map(|m| m.uid).unwrap_or(0);
            let mut out = Vec::new();
            for (lo, hi) in set.intervals(largest) {
                let start = self.messages.partition_point(|m| (m.uid as u64) < lo);
                let end = self.messages.partition_point(|m| (m.uid as u64) <= hi);
                out.extend(start..end);
            }
            return Some(out);
        }
        let n = self.messages.len() as u32;
        for r in ranges {
            for v in [r.from, r.to] {
                if v != STAR && v > n as u64 {
                    return None;
                }
            }
            if n == 0 {
                return None;
            }
        }
        let mut out = Vec::new();
        for (lo, hi) in set.intervals(n) {
            // Sequence numbers start at 1; the parser refuses 0.
            out.extend(lo.max(1) as usize - 1..hi.min(n as u64) as usize);
        }
        Some(out)
    }
}

fn step(out: Vec<u8>) -> Step {
    Step { out, next: Next::Command, auth_failed: false }
}

/// Untagged responses already owed to the client, then the tagged one: a
/// NO or BAD must not swallow the EXPUNGE/EXISTS a sync produced.
fn after(mut out: Vec<u8>, tagged: Vec<u8>) -> Vec<u8> {
    out.extend(tagged);
    out
}

fn prefixed(out: Vec<u8>, mut s: Step) -> Step {
    s.out = after(out, std::mem::take(&mut s.out));
    s
}

/// Whether a command turns CONDSTORE on for the session (RFC 7162 §3.1):
/// FETCH of MODSEQ or with CHANGEDSINCE, SEARCH MODSEQ, STORE UNCHANGEDSINCE.
fn enables_condstore(c: &Command) -> bool {
    match c {
        Command::Fetch { items, changed_since, .. } => changed_since.is_some() || items.contains(&FetchItem::ModSeq),
        Command::Search { keys, .. } | Command::Sort { keys, .. } | Command::Thread { keys, .. } => {
            search::uses_modseq(keys)
        }
        Command::Store { unchanged_since, .. } => unchanged_since.is_some(),
        _ => false,
    }
}

impl Selected {
    /// The mailbox's highest mod-sequence as this session knows it.
    pub fn highest_modseq(&self) -> u64 {
        self.messages.iter().map(|m| m.modseq).max().unwrap_or(0).max(self.mailbox.highestmodseq)
    }
}

/// Turns CONDSTORE on for the session; when that happens with a mailbox
/// selected, the `OK [HIGHESTMODSEQ]` the client has not seen yet (RFC 7162
/// §3.1) comes first.
pub fn enable_condstore(session: &mut Session) -> Vec<u8> {
    if session.condstore {
        return Vec::new();
    }
    session.condstore = true;
    match &mut session.state {
        State::Selected(_, sel) => {
            sel.condstore = true;
            format!("* OK [HIGHESTMODSEQ {}] Highest\r\n", sel.highest_modseq()).into_bytes()
        }
        _ => Vec::new(),
    }
}

pub async fn execute(session: &mut Session, t: Tagged) -> Step {
    let first = if enables_condstore(&t.command) { enable_condstore(session) } else { Vec::new() };
    prefixed(first, execute_command(session, t).await)
}

async fn execute_command(session: &mut Session, t: Tagged) -> Step {
    let tag = t.tag.clone();
    let ctx = session.ctx.clone();
    let condstore = session.condstore;
    let session_qresync = session.qresync;
    let rev2 = session.rev2;
    let user = match &session.state {
        State::Selected(u, _) => u.clone(),
        _ => return session.bad(&tag, "Select a mailbox first"),
    };
    let moving = matches!(t.command, Command::Move { .. });
    let closing = matches!(t.command, Command::Close);
    let State::Selected(_, sel) = &mut session.state else { return session.bad(&tag, "Select a mailbox first") };
    match t.command {
        Command::Noop | Command::Check => {
            let mut out = sel.sync(&ctx, true).await;
            out.extend(tagged(&tag, "OK", "NOOP completed"));
            step(out)
        }
        Command::Idle => Step { out: b"+ idling\r\n".to_vec(), next: Next::Idle(tag), auth_failed: false },
        Command::Close | Command::Unselect => {
            if closing && !sel.read_only {
                let deleted: Vec<u32> =
                    sel.messages.iter().filter(|m| m.flags.contains(Flags::DELETED)).map(|m| m.uid).collect();
                if !deleted.is_empty() {
                    if let Err(e) = ctx.store.expunge(sel.mailbox.id, &deleted).await {
                        return step(tagged(&tag, "NO", &crate::errors::store_failure(&e)));
                    }
                }
            }
            session.state = State::Authenticated(user);
            step(tagged(&tag, "OK", "Mailbox closed"))
        }
        Command::Expunge { uids } => {
            if sel.read_only {
                return step(tagged(&tag, "NO", "[READ-ONLY] Mailbox is read-only"));
            }
            let mut out = sel.sync(&ctx, true).await;
            let within: Option<std::collections::HashSet<usize>> =
                uids.as_ref().and_then(|set| sel.resolve(set, true)).map(|v| v.into_iter().collect());
            let targets: Vec<u32> = sel
                .messages
                .iter()
                .enumerate()
                .filter(|(i, m)| m.flags.contains(Flags::DELETED) && within.as_ref().is_none_or(|w| w.contains(i)))
                .map(|(_, m)| m.uid)
                .collect();
            if !targets.is_empty() {
                if let Err(e) = ctx.store.expunge(sel.mailbox.id, &targets).await {
                    return step(after(out, tagged(&tag, "NO", &crate::errors::store_failure(&e))));
                }
                out.extend(sel.sync(&ctx, true).await);
            }
            out.extend(tagged(&tag, "OK", "EXPUNGE completed"));
            step(out)
        }
        Command::Search { keys, esearch } => {
            let mut out = sel.sync(&ctx, t.uid).await;
            let save = esearch.as_ref().is_some_and(|o| o.iter().any(|x| x == "SAVE"));
            let hits = match search_messages(&ctx, sel, &keys).await {
                Ok(h) => h,
                Err(e) => {
                    if save {
                        sel.saved.clear(); // RFC 5182 §2.1: a failed SAVE empties `$`
                    }
                    return step(after(out, tagged(&tag, "NO", &crate::errors::store_failure(&e))));
                }
            };
            let numbers: Vec<u32> =
                hits.iter().map(|&i| if t.uid { sel.messages[i].uid } else { i as u32 + 1 }).collect();
            // RFC 7162 §3.1.5: with a MODSEQ key, the highest mod-sequence of
            // the messages returned (none when nothing is found): with MIN
            // and/or MAX alone, of just those.
            let returned = match &esearch {
                Some(opts) => saved_result(&hits, opts),
                None => hits.clone(),
            };
            let highest =
                search::uses_modseq(&keys).then(|| returned.iter().map(|&i| sel.messages[i].modseq).max()).flatten();
            if let Some(opts) = esearch.as_ref().filter(|_| save) {
                sel.saved = saved_result(&hits.iter().map(|&i| sel.messages[i].uid).collect::<Vec<_>>(), opts);
            }
            if esearch.as_ref().is_some_and(|o| o.iter().any(|x| x == "UPDATE")) {
                let context = crate::context::SearchContext {
                    tag: tag.clone(),
                    uid: t.uid,
                    keys: sel.pin_keys(&keys),
                    sort: None,
                    result: hits.iter().map(|&i| sel.messages[i].uid).collect(),
                };
                if !sel.add_context(context) {
                    out.extend(format!("* NO [NOUPDATE \"{tag}\"] Too many live results\r\n").into_bytes());
                }
            }
            // IMAP4rev2 (RFC 9051 §6.4.4) answers every SEARCH with ESEARCH.
            let esearch = if rev2 { Some(esearch.unwrap_or_default()) } else { esearch };
            match esearch {
                // RETURN (SAVE) alone answers nothing but the tagged OK (RFC 5182 §2.4).
                Some(opts) if opts.iter().all(|o| o == "SAVE") && !opts.is_empty() => {}
                None => {
                    out.extend_from_slice(b"* SEARCH");
                    for n in &numbers {
                        out.extend(format!(" {n}").into_bytes());
                    }
                    if let Some(m) = highest {
                        out.extend(format!(" (MODSEQ {m})").into_bytes());
                    }
                    out.extend_from_slice(b"\r\n");
                }
                Some(opts) => {
                    let mut line = esearch_line(&tag, t.uid, &numbers, &opts);
                    if let Some(m) = highest {
                        line.truncate(line.len() - 2);
                        line.push_str(&format!(" MODSEQ {m}\r\n"));
                    }
                    out.extend(line.into_bytes());
                }
            }
            out.extend(tagged(&tag, "OK", "SEARCH completed"));
            step(out)
        }
        Command::Sort { criteria, keys, esearch } => {
            let mut out = sel.sync(&ctx, t.uid).await;
            let order = match sorted_indexes(&ctx, sel, &keys, &criteria).await {
                Ok(o) => o,
                Err(e) => return step(after(out, tagged(&tag, "NO", &crate::errors::store_failure(&e)))),
            };
            let numbers: Vec<u32> =
                order.iter().map(|&i| if t.uid { sel.messages[i].uid } else { i as u32 + 1 }).collect();
            match esearch {
                None => {
                    out.extend_from_slice(b"* SORT");
                    for n in &numbers {
                        out.extend(format!(" {n}").into_bytes());
                    }
                    out.extend_from_slice(b"\r\n");
                }
                // ESORT (RFC 5267 §3): ESEARCH in sort order; CONTEXT=SORT
                // keeps it live with UPDATE.
                Some(opts) => {
                    if opts.iter().any(|x| x == "UPDATE") {
                        let context = crate::context::SearchContext {
                            tag: tag.clone(),
                            uid: t.uid,
                            keys: sel.pin_keys(&keys),
                            sort: Some(criteria.clone()),
                            result: order.iter().map(|&i| sel.messages[i].uid).collect(),
                        };
                        if !sel.add_context(context) {
                            out.extend(format!("* NO [NOUPDATE \"{tag}\"] Too many live results\r\n").into_bytes());
                        }
                    }
                    out.extend(esearch_line(&tag, t.uid, &numbers, &opts).into_bytes());
                }
            }
            out.extend(tagged(&tag, "OK", "SORT completed"));
            step(out)
        }
        Command::CancelUpdate(tags) => {
            if sel.cancel_contexts(&tags) {
                step(tagged(&tag, "OK", "CANCELUPDATE completed"))
            } else {
                session.bad(&tag, "No live result has that tag")
            }
        }
        Command::Thread { references, keys } => {
            let mut out = sel.sync(&ctx, t.uid).await;
            match thread(&ctx, sel, &keys, references, t.uid).await {
                Ok(line) => out.extend(line.into_bytes()),
                Err(e) => return step(after(out, tagged(&tag, "NO", &crate::errors::store_failure(&e)))),
            }
            out.extend(tagged(&tag, "OK", "THREAD completed"));
            step(out)
        }
        Command::Fetch { set, items, changed_since, vanished } => {
            let mut out = sel.sync(&ctx, t.uid).await;
            let Some(indexes) = sel.resolve(&set, t.uid) else {
                return prefixed(out, session.bad(&tag, "Invalid sequence number"));
            };
            if vanished {
                if !session_qresync {
                    return prefixed(out, session.bad(&tag, "ENABLE QRESYNC first"));
                }
                if let Ok(mut gone) = ctx.store.vanished_since(sel.mailbox.id, changed_since.unwrap_or(0)).await {
                    let largest = sel.mailbox.uidnext.saturating_sub(1);
                    gone.retain(|u| set.contains(*u, largest));
                    if !gone.is_empty() {
                        out.extend(format!("* VANISHED (EARLIER) {}\r\n", compress(&gone)).into_bytes());
                    }
                }
            }
            let mut items = items;
            if t.uid && !items.contains(&FetchItem::Uid) {
                items.insert(0, FetchItem::Uid);
            }
            if (changed_since.is_some() || condstore) && !items.contains(&FetchItem::ModSeq) && changed_since.is_some()
            {
                items.push(FetchItem::ModSeq);
            }
            if !sel.read_only && items.iter().any(FetchItem::sets_seen) {
                if let Err(e) = fetch_run::mark_seen(&ctx, sel, &indexes).await {
                    return step(after(out, tagged(&tag, "NO", &crate::errors::store_failure(&e))));
                }
            }
            let job = fetch_run::FetchJob::new(tag, indexes, items, changed_since, sel.read_only, condstore);
            fetch_run::run(&ctx, sel, job, out).await
        }
        Command::Store { set, mode, silent, flags, unchanged_since } => {
            if sel.read_only {
                return step(tagged(&tag, "NO", "[READ-ONLY] Mailbox is read-only"));
            }
            let mut out = sel.sync(&ctx, t.uid).await;
            let Some(indexes) = sel.resolve(&set, t.uid) else {
                return prefixed(out, session.bad(&tag, "Invalid sequence number"));
            };
            let (f, kw) = match split_flags(&flags) {
                Ok(x) => x,
                Err(e) => return prefixed(out, session.bad(&tag, &e)),
            };
            let (mut ok, mut modified) = (Vec::new(), Vec::new());
            for &i in &indexes {
                let m = &sel.messages[i];
                match unchanged_since {
                    Some(n) if m.modseq > n => modified.push(if t.uid { m.uid } else { i as u32 + 1 }),
                    _ => ok.push(m.uid),
                }
            }
            let mode = match mode {
                StoreMode::Replace => FlagMode::Replace,
                StoreMode::Add => FlagMode::Add,
                StoreMode::Remove => FlagMode::Remove,
            };
            let mut ours = 0;
            if !ok.is_empty() {
                match ctx.store.set_flags(sel.mailbox.id, &ok, f, &kw, mode).await {
                    Ok(modseq) => ours = modseq,
                    Err(e) => return step(after(out, tagged(&tag, "NO", &crate::errors::store_failure(&e)))),
                }
            }
            // Our own change comes back through the notifier; show it now.
            let stored_set: std::collections::HashSet<u32> = ok.iter().copied().collect();
            // Just the messages this STORE touched, read back by UID.
            let touched: Vec<u32> = indexes.iter().map(|&i| sel.messages[i].uid).collect();
            let fresh = match ctx.store.messages_changed(sel.mailbox.id, &touched, None).await {
                Ok(f) => f,
                Err(e) => return step(after(out, tagged(&tag, "NO", &crate::errors::store_failure(&e)))),
            };
            out.extend(sel.learn_keywords(&fresh));
            let fresh: std::collections::HashMap<u32, MessageMeta> = fresh.into_iter().map(|m| (m.uid, m)).collect();
            let mut changed = stored_set.clone();
            for &i in &indexes {
                let uid = sel.messages[i].uid;
                // A state newer than this STORE's is another session's
                // change: shown now, even with .SILENT, or it would never be.
                let mut theirs = false;
                if let Some(f) = fresh.get(&uid) {
                    let known = &sel.messages[i];
                    theirs = f.modseq != known.modseq
                        && (f.modseq != ours || !stored_set.contains(&uid))
                        && (f.flags != known.flags || f.keywords != known.keywords);
                    if theirs {
                        changed.insert(uid);
                    }
                    sel.messages[i] = f.clone();
                }
                let m = &sel.messages[i];
                if (!silent && stored_set.contains(&uid)) || theirs {
                    let uid_item = if t.uid || condstore { format!("UID {} ", m.uid) } else { String::new() };
                    let modseq = if condstore || unchanged_since.is_some() {
                        format!(" MODSEQ ({})", m.modseq)
                    } else {
                        String::new()
                    };
                    out.extend(
                        format!(
                            "* {} FETCH ({uid_item}FLAGS ({}){modseq})\r\n",
                            i + 1,
                            flags_text(m, sel.is_recent(m.uid))
                        )
                        .into_bytes(),
                    );
                }
            }

            out.extend(sel.refresh_contexts(&ctx, &changed).await);
            if modified.is_empty() {
                out.extend(tagged(&tag, "OK", "STORE completed"));
            } else {
                let list: Vec<String> = modified.iter().map(u32::to_string).collect();
                out.extend(tagged(
                    &tag,
                    "OK",
                    &format!("[MODIFIED {}] Conditional STORE failed for some", list.join(",")),
                ));
            }
            step(out)
        }
        Command::Copy { set, mailbox } | Command::Move { set, mailbox } => {
            if moving && sel.read_only {
                return step(tagged(&tag, "NO", "[READ-ONLY] Mailbox is read-only"));
            }
            let mut out = sel.sync(&ctx, t.uid).await;
            let Some(indexes) = sel.resolve(&set, t.uid) else {
                return prefixed(out, session.bad(&tag, "Invalid sequence number"));
            };
            let Ok(name) = crate::session::mailbox_name(&mailbox, session.utf8) else {
                return step(after(out, tagged(&tag, "NO", "Invalid mailbox name")));
            };
            let State::Selected(_, sel) = &mut session.state else { return step(Vec::new()) };
            let target = match ctx.store.mailboxes(user.account).await {
                Ok(b) => b.into_iter().find(|m| m.name == name),
                Err(e) => return step(after(out, tagged(&tag, "NO", &crate::errors::store_failure(&e)))),
            };
            let Some(target) = target else {
                return step(after(out, tagged(&tag, "NO", "[TRYCREATE] No such mailbox")));
            };
            let uids: Vec<u32> = indexes.iter().map(|&i| sel.messages[i].uid).collect();
            let pairs = match ctx.store.copy_messages(sel.mailbox.id, &uids, target.id, moving).await {
                Ok(p) => p,
                Err(StoreError::OverQuota(_)) => {
                    return step(after(out, tagged(&tag, "NO", "[OVERQUOTA] Mailbox is full")))
                }
                Err(e) => return step(after(out, tagged(&tag, "NO", &crate::errors::store_failure(&e)))),
            };
            let code = if pairs.is_empty() {
                String::new()
            } else {
                let src: Vec<String> = pairs.iter().map(|p| p.0.to_string()).collect();
                let dst: Vec<String> = pairs.iter().map(|p| p.1.to_string()).collect();
                format!("[COPYUID {} {} {}] ", target.uidvalidity, src.join(","), dst.join(","))
            };
            if moving {
                out.extend(format!("* OK {code}Moved\r\n").into_bytes());
                out.extend(sel.sync(&ctx, true).await);
                out.extend(tagged(&tag, "OK", "MOVE completed"));
            } else {
                out.extend(tagged(&tag, "OK", &format!("{code}COPY completed")));
            }
            step(out)
        }
        _ => session.bad(&tag, "Command not valid in this state"),
    }
}

/// What SAVE keeps: with MIN and/or MAX alone, just those (RFC 5182 §2.4);
/// otherwise every match. `uids` ascending.
fn saved_result<T: Copy + PartialEq>(uids: &[T], opts: &[String]) -> Vec<T> {
    let has = |o: &str| opts.iter().any(|x| x == o);
    let partial = opts.iter().any(|x| x.starts_with("PARTIAL "));
    if (has("MIN") || has("MAX")) && !has("ALL") && !has("COUNT") && !partial {
        let mut v: Vec<T> = Vec::new();
        v.extend(uids.first().filter(|_| has("MIN")));
        v.extend(uids.last().filter(|_| has("MAX")));
        v.dedup();
        return v;
    }
    uids.to_vec()
}

/// The ESEARCH response (RFC 4731 §3.1, RFC 5267 §3, RFC 9394) for
/// `numbers` (ascending for SEARCH, in sort order for SORT: MIN and MAX are
/// the first and the last).
fn esearch_line(tag: &str, uid: bool, numbers: &[u32], opts: &[String]) -> String {
    let mut line = format!("* ESEARCH (TAG \"{tag}\")");
    if uid {
        line.push_str(" UID");
    }
    let mut data: Vec<&str> =
        opts.iter().map(String::as_str).filter(|o| !matches!(*o, "SAVE" | "UPDATE" | "CONTEXT")).collect();
    // RETURN () is ALL; SAVE or UPDATE alone return no data.
    if data.is_empty() && !opts.iter().any(|o| o == "SAVE" || o == "UPDATE") {
        data.push("ALL");
    }
    for o in data {
        match o {
            "MIN" if !numbers.is_empty() => line.push_str(&format!(" MIN {}", numbers[0])),
            "MAX" if !numbers.is_empty() => line.push_str(&format!(" MAX {}", numbers[numbers.len() - 1])),
            "COUNT" => line.push_str(&format!(" COUNT {}", numbers.len())),
            "ALL" if !numbers.is_empty() => line.push_str(&format!(" ALL {}", compress(numbers))),
            p => {
                let Some((a, b)) = p.strip_prefix("PARTIAL ").and_then(|r| {
                    let (a, b) = r.split_once(':')?;
                    Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?))
                }) else {
                    continue;
                };
                let part = search::partial_slice(numbers, (a, b));
                let set = if part.is_empty() { "NIL".to_string() } else { compress(part) };
                line.push_str(&format!(" PARTIAL ({a}:{b} {set})"));
            }
        }
    }
    line.push_str("\r\n");
    line
}

/// `1,2,3,7` becomes `1:3,7`.
pub(crate) fn compress(numbers: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        let mut end = start;
        while i + 1 < numbers.len() && numbers[i + 1] == end + 1 {
            i += 1;
            end = numbers[i];
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}:{end}") });
        i += 1;
    }
    parts.join(",")
}

/// The view's index of each UID of `uids` that is among `hits` (indexes into
/// the view), in the order of `uids`: the store's order, restricted to what
/// the session searched and knows of.
fn among_hits(sel: &Selected, hits: &[usize], uids: impl IntoIterator<Item = u32>) -> Vec<usize> {
    let mut hit = vec![false; sel.messages.len()];
    for &i in hits {
        hit[i] = true;
    }
    uids.into_iter()
        .filter_map(|uid| sel.messages.binary_search_by_key(&uid, |m| m.uid).ok())
        .filter(|&i| hit[i])
        .collect()
}

/// THREAD (RFC 5256 §3): the `* THREAD` response.
async fn thread(
    ctx: &Context,
    sel: &Selected,
    keys: &[SearchKey],
    references: bool,
    uid: bool,
) -> Result<String, StoreError> {
    let hits = search_messages(ctx, sel, keys).await?;
    let mut all: std::collections::HashMap<u32, caravel_store::sort_keys::ThreadKeys> =
        ctx.store.thread_keys(sel.mailbox.id).await?.into_iter().collect();
    let items: Vec<crate::sort::SortItem> = hits
        .iter()
        .filter_map(|&i| {
            let m = &sel.messages[i];
            // A message expunged meanwhile has no keys: left out.
            Some(crate::sort::SortItem { seq: i as u32 + 1, uid: m.uid, keys: all.remove(&m.uid)? })
        })
        .collect();
    let number = |i: &crate::sort::SortItem| if uid { i.uid } else { i.seq };
    let threads =
        if references { crate::sort::references(&items, number) } else { crate::sort::ordered_subject(&items, number) };
    Ok(match crate::sort::render(&threads) {
        t if t.is_empty() => "* THREAD\r\n".to_string(),
        t => format!("* THREAD {t}\r\n"),
    })
}

/// The messages (indexes into the view) that match `keys`, in the order of
/// `criteria` (RFC 5256 §3).
pub(crate) async fn sorted_indexes(
    ctx: &Context,
    sel: &Selected,
    keys: &[SearchKey],
    criteria: &[crate::sort::SortCriterion],
) -> Result<Vec<usize>, StoreError> {
    let hits = search_messages(ctx, sel, keys).await?;
    sort_indexes(ctx, sel, hits, criteria).await
}

/// `hits` (indexes into the view) in the order of `criteria`: the store
/// sorts the whole mailbox by its stored keys, the session keeps its hits.
pub(crate) async fn sort_indexes(
    ctx: &Context,
    sel: &Selected,
    hits: Vec<usize>,
    criteria: &[crate::sort::SortCriterion],
) -> Result<Vec<usize>, StoreError> {
    let order = ctx.store.sorted_uids(sel.mailbox.id, criteria).await?;
    Ok(among_hits(sel, &hits, order))
}

pub(crate) async fn search_messages(
    ctx: &Context,
    sel: &Selected,
    keys: &[SearchKey],
) -> Result<Vec<usize>, StoreError> {
    search_among(ctx, sel, keys, None).await
}

/// The messages (indexes into the view, ascending) that match `keys`; with
/// `only`, just those of these UIDs are looked at (a live result checks
/// the messages that changed, not the whole mailbox).
pub(crate) async fn search_among(
    ctx: &Context,
    sel: &Selected,
    keys: &[SearchKey],
    only: Option<&std::collections::HashSet<u32>>,
) -> Result<Vec<usize>, StoreError> {
    // Header keys the store can answer from its decoded columns go first.
    let mut pairs = Vec::new();
    search::header_keys(keys, &mut pairs);
    let mut answers = std::collections::HashMap::new();
    for (field, needle) in pairs {
        if let Some(uids) = ctx.store.header_search(sel.mailbox.id, &field, &needle).await? {
            answers.insert((field, needle), uids);
        }
    }
    let substituted: Vec<SearchKey> =
        keys.iter().cloned().map(|k| search::substitute(k, &answers, &sel.saved)).collect();
    let keys = &substituted[..];
    let content = search::needs_content(keys);
    let largest_seq = sel.messages.len() as u32;
    let largest_uid = sel.messages.last().map(|m| m.uid).unwrap_or(0);
    let mut hits = Vec::new();
    let candidates: Vec<usize> = match only {
        None => (0..sel.messages.len()).collect(),
        Some(uids) => (0..sel.messages.len()).filter(|&i| uids.contains(&sel.messages[i].uid)).collect(),
    };
    // Subject, From, To... come from the envelope stored at delivery: one
    // query, no message read.
    let envelopes = if search::needs_envelope(keys) {
        let uids: Vec<u32> = candidates.iter().map(|&i| sel.messages[i].uid).collect();
        ctx.store.envelopes_of(sel.mailbox.id, &uids).await?
    } else {
        Default::default()
    };
    // Bodies are read a chunk at a time in one query each, not one by one.
    for chunk in candidates.chunks(256) {
        let mut bodies: std::collections::HashMap<u32, Vec<u8>> = if content {
            let uids: Vec<u32> = chunk.iter().map(|&i| sel.messages[i].uid).collect();
            ctx.store.read_messages(sel.mailbox.id, &uids).await?.into_iter().collect()
        } else {
            Default::default()
        };
        for &i in chunk {
            let m = &sel.messages[i];
            let raw = bodies.remove(&m.uid);
            if content && raw.is_none() {
                continue; // expunged meanwhile
            }
            let envelope = envelopes.get(&m.uid);
            let cand = Candidate {
                seq: i as u32 + 1,
                meta: m,
                largest_seq,
                largest_uid,
                raw: raw.as_deref(),
                envelope,
                recent: sel.is_recent(m.uid),
            };
            if keys.iter().all(|k| search::matches(k, &cand)) {
                hits.push(i);
            }
        }
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_sets() {
        assert_eq!(internal_date(837_571_465, 0), "17-Jul-1996 02:44:25 +0000");
        assert_eq!(internal_date(837_596_665, -420), "17-Jul-1996 02:44:25 -0700");
        assert_eq!(internal_date(837_571_465, 330), "17-Jul-1996 08:14:25 +0530");
        assert_eq!(compress(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
    }
}
