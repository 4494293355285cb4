//! IMAP commands (RFC 9051 §6 and the extensions Caravel announces), parsed
//! from one whole command as the receiver delivers it.

use crate::cursor::{err, Cursor, PResult, SequenceSet};
use crate::fetch::{parse_fetch_items, FetchItem};
use crate::search::{parse_search, SearchKey};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreMode {
    Replace,
    Add,
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    Size,
    HighestModSeq,
}

/// LIST-EXTENDED selection and return options (RFC 5258 §3, RFC 6154,
/// RFC 5819).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Extended syntax was used: missing parents are \NonExistent.
    pub extended: bool,
    /// Selection SUBSCRIBED: subscribed names, existing or not.
    pub subscribed: bool,
    /// Selection SPECIAL-USE: only mailboxes with a special use.
    pub special_use: bool,
    /// Selection RECURSIVEMATCH: parents of matches excluded by `%` too.
    pub recursive: bool,
    /// Return SUBSCRIBED: the \Subscribed attribute.
    pub return_subscribed: bool,
    /// Return STATUS (LIST-STATUS).
    pub status: Vec<StatusItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Capability,
    Noop,
    Logout,
    StartTls,
    /// RFC 4978: COMPRESS DEFLATE.
    Compress(String),
    Id,
    Enable(Vec<String>),
    Login {
        user: String,
        password: String,
    },
    Authenticate {
        mechanism: String,
        initial: Option<String>,
    },
    Select {
        mailbox: String,
        condstore: bool,
        qresync: Option<Qresync>,
    },
    Examine {
        mailbox: String,
        condstore: bool,
        qresync: Option<Qresync>,
    },
    Create {
        mailbox: String,
    },
    Delete {
        mailbox: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Subscribe {
        mailbox: String,
    },
    Unsubscribe {
        mailbox: String,
    },
    List {
        reference: String,
        patterns: Vec<String>,
        options: ListOptions,
    },
    Lsub {
        reference: String,
        pattern: String,
    },
    Namespace,
    Status {
        mailbox: String,
        items: Vec<StatusItem>,
    },
    /// APPEND of one message or, with MULTIAPPEND (RFC 3502), several.
    Append {
        mailbox: String,
        messages: Vec<AppendMessage>,
    },
    /// GENURLAUTH (RFC 4467 §4.2): (URL, mechanism) pairs.
    GenUrlAuth(Vec<(String, String)>),
    /// URLFETCH (RFC 4467 §4.3, RFC 5524).
    UrlFetch(Vec<UrlFetch>),
    /// RESETKEY (RFC 4467 §4.1): one mailbox's keys, or all.
    ResetKey {
        mailbox: Option<String>,
    },
    Idle,
    Check,
    Close,
    Unselect,
    Expunge {
        uids: Option<SequenceSet>,
    },
    Search {
        keys: Vec<SearchKey>,
        esearch: Option<Vec<String>>,
    },
    Sort {
        criteria: Vec<crate::sort::SortCriterion>,
        keys: Vec<SearchKey>,
        /// ESORT (RFC 5267 §3): `SORT RETURN (...)` answers with ESEARCH.
        esearch: Option<Vec<String>>,
    },
    /// CANCELUPDATE (RFC 5267 §4.3.5): the tags whose updates stop.
    CancelUpdate(Vec<String>),
    /// NOTIFY SET / NOTIFY NONE (RFC 5465 §3); names as sent.
    Notify(Option<NotifyRequest>),
    Thread {
        references: bool,
        keys: Vec<SearchKey>,
    },
    Fetch {
        set: SequenceSet,
        items: Vec<FetchItem>,
        changed_since: Option<u64>,
        vanished: bool,
    },
    Store {
        set: SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: Vec<String>,
        unchanged_since: Option<u64>,
    },
    Copy {
        set: SequenceSet,
        mailbox: String,
    },
    Move {
        set: SequenceSet,
        mailbox: String,
    },
    GetQuotaRoot {
        mailbox: String,
    },
    GetQuota {
        root: String,
    },
}

/// `NOTIFY SET` as parsed: mailbox names still encoded as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyRequest {
    pub status: bool,
    pub groups: Vec<NotifyGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyGroup {
    /// SELECTED, SELECTED-DELAYED, INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES.
    pub filter: String,
    pub mailboxes: Vec<String>,
    /// Event names, upper-cased; empty for NONE.
    pub events: Vec<String>,
    /// MessageNew came with fetch attributes.
    pub fetch_attributes: bool,
}

/// One message of an APPEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<String>,
    /// Unix seconds and the zone in minutes east of UTC.
    pub date: Option<(i64, i32)>,
    pub data: AppendData,
    /// Sent as `UTF8 (~{n}...)` (RFC 6855 §4), only after ENABLE UTF8=ACCEPT.
    pub utf8: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendData {
    /// The message itself; `binary` when sent as a literal8 `~{n}` (RFC 3516
    /// §4.4): stored exactly as sent.
    Literal { bytes: Vec<u8>, binary: bool },
    /// CATENATE (RFC 4469): the message made of these parts, in order.
    Catenate(Vec<CatPart>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    Text(Vec<u8>),
    /// An IMAP URL (RFC 5092) naming a message or part on this server.
    Url(String),
}

/// One URL of URLFETCH, with the RFC 5524 parameters when given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UrlFetch {
    pub url: String,
    /// `(url ...)` form: the response gives each asked item in parentheses.
    pub extended: bool,
    pub body_part_structure: bool,
    pub binary: bool,
    pub body: bool,
}

/// SELECT's QRESYNC parameter (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qresync {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
}

/// A parsed command with its tag; `uid` for the UID variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub tag: String,
    pub uid: bool,
    pub command: Command,
}

/// Why a command could not be parsed: the tag (if it was read) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFailure {
    pub tag: Option<String>,
    pub reason: String,
}

pub fn parse(input: &[u8]) -> Result<Tagged, ParseFailure> {
    let mut c = Cursor::new(input);
    let tag = c.tag().map_err(|e| ParseFailure { tag: None, reason: e.0 })?;
    let fail = |e: crate::cursor::SyntaxError| ParseFailure { tag: Some(tag.clone()), reason: e.0 };
    c.sp().map_err(fail)?;
    let name = c.atom().map_err(fail)?.to_ascii_uppercase();
    let (uid, name) = if name == "UID" {
        c.sp().map_err(fail)?;
        (true, c.atom().map_err(fail)?.to_ascii_uppercase())
    } else {
        (false, name)
    };
    let command = body(&mut c, &name, uid).map_err(fail)?;
    c.end().map_err(fail)?;
    Ok(Tagged { tag, uid, command })
}

/// The charset SORT and THREAD require (RFC 5256 §3).
fn charset(c: &mut Cursor) -> PResult<()> {
    let cs = String::from_utf8_lossy(&c.astring()?).to_ascii_uppercase();
    if cs != "UTF-8" && cs != "US-ASCII" {
        return err("[BADCHARSET (UTF-8 US-ASCII)] unsupported charset");
    }
    Ok(())
}

fn mailbox(c: &mut Cursor) -> PResult<String> {
    c.sp()?;
    c.astring_utf8()
}

fn status_items(c: &mut Cursor) -> PResult<Vec<StatusItem>> {
    let items = c.paren_list(|c| {
        Ok(match c.atom()?.to_ascii_uppercase().as_str() {
            "MESSAGES" => StatusItem::Messages,
            "RECENT" => StatusItem::Recent,
            "UIDNEXT" => StatusItem::UidNext,
            "UIDVALIDITY" => StatusItem::UidValidity,
            "UNSEEN" => StatusItem::Unseen,
            "DELETED" => StatusItem::Deleted,
            "SIZE" => StatusItem::Size,
            "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
            _ => return err("unknown STATUS item"),
        })
    })?;
    // RFC 9051 §9: status-att-list has at least one item.
    if items.is_empty() {
        return err("STATUS needs at least one item");
    }
    Ok(items)
}

fn body(c: &mut Cursor, name: &str, uid: bool) -> PResult<Command> {
    if uid && !matches!(name, "FETCH" | "STORE" | "SEARCH" | "COPY" | "MOVE" | "EXPUNGE" | "SORT" | "THREAD") {
        return err("UID goes only with FETCH, STORE, SEARCH, COPY, MOVE and EXPUNGE");
    }
    Ok(match name {
        "CAPABILITY" => Command::Capability,
        "NOOP" => Command::Noop,
        "LOGOUT" => Command::Logout,
        "STARTTLS" => Command::StartTls,
        "COMPRESS" => {
            c.sp()?;
            Command::Compress(c.atom()?.to_ascii_uppercase())
        }
        "ID" => {
            // RFC 2971: ID ( "name" "value" ... ) or NIL; the content is ignored.
            c.sp()?;
            if c.eat(b'(') {
                while !c.eat(b')') {
                    let _ = c.eat(b' ');
                    if c.peek().is_none() {
                        return err("unterminated ID list");
                    }
                    let _ = c.astring().or_else(|_| c.atom().map(|a| a.into_bytes()))?;
                }
            } else {
                c.atom()?;
            }
            Command::Id
        }
        "ENABLE" => {
            let mut caps = Vec::new();
            while c.eat(b' ') {
                caps.push(c.atom()?.to_ascii_uppercase());
            }
            if caps.is_empty() {
                return err("ENABLE needs a capability");
            }
            Command::Enable(caps)
        }
        "LOGIN" => {
            c.sp()?;
            let user = c.astring_utf8()?;
            c.sp()?;
            let password = c.astring_utf8()?;
            Command::Login { user, password }
        }
        "AUTHENTICATE" => {
            c.sp()?;
            let mechanism = c.atom()?.to_ascii_uppercase();
            let initial = if c.eat(b' ') {
                let start = c.pos;
                while c.peek().is_some_and(|b| b != b'\r' && b != b'\n') {
                    c.pos += 1;
                }
                Some(String::from_utf8_lossy(&c.b_slice(start)).into_owned())
            } else {
                None
            };
            Command::Authenticate { mechanism, initial }
        }
        "SELECT" | "EXAMINE" => {
            let mailbox = mailbox(c)?;
            let mut condstore = false;
            let mut qresync = None;
            if c.eat(b' ') {
                // select-params (RFC 7162): CONDSTORE, QRESYNC (uidvalidity modseq [known-uids [seq-match]]).
                c.expect(b'(')?;
                while !c.eat(b')') {
                    let _ = c.eat(b' ');
                    match c.atom()?.to_ascii_uppercase().as_str() {
                        "CONDSTORE" => condstore = true,
                        "QRESYNC" => {
                            c.sp()?;
                            c.expect(b'(')?;
                            let uidvalidity = c.number()?;
                            c.sp()?;
                            let modseq = c.number64()?;
                            let mut known_uids = None;
                            if c.eat(b' ') && c.peek() != Some(b'(') {
                                known_uids = Some(c.sequence_set()?);
                                let _ = c.eat(b' ');
                            }
                            if c.eat(b'(') {
                                // seq-match-data is accepted and not needed.
                                while !c.eat(b')') {
                                    if c.peek().is_none() {
                                        return err("unterminated QRESYNC");
                                    }
                                    c.pos += 1;
                                }
                            }
                            c.expect(b')')?;
                            qresync = Some(Qresync { uidvalidity, modseq, known_uids });
                        }
                        _ => return err("unknown SELECT parameter"),
                    }
                }
            }
            if name == "SELECT" {
                Command::Select { mailbox, condstore, qresync }
            } else {
                Command::Examine { mailbox, condstore, qresync }
            }
        }
        "CREATE" => {
            let mailbox = mailbox(c)?;
            if c.eat(b' ') {
                // CREATE-SPECIAL-USE parameters are accepted and ignored.
                c.expect(b'(')?;
                let mut depth = 1;
                while depth > 0 {
                    match c.peek() {
                        Some(b'(') => depth += 1,
                        Some(b')') => depth -= 1,
                        None => return err("unterminated CREATE parameters"),
                        _ => {}
                    }
                    c.pos += 1;
                }
            }
            Command::Create { mailbox }
        }
        "DELETE" => Command::Delete { mailbox: mailbox(c)? },
        "RENAME" => {
            let from = mailbox(c)?;
            let to = mailbox(c)?;
            Command::Rename { from, to }
        }
        "SUBSCRIBE" => Command::Subscribe { mailbox: mailbox(c)? },
        "UNSUBSCRIBE" => Command::Unsubscribe { mailbox: mailbox(c)? },
        "LIST" => list(c)?,
        "LSUB" => {
            c.sp()?;
            let reference = c.astring_utf8()?;
            c.sp()?;
            let pattern = c.list_mailbox()?;
            Command::Lsub { reference, pattern }
        }
        "NAMESPACE" => Command::Namespace,
        "STATUS" => {
            let mailbox = mailbox(c)?;
            c.sp()?;
            Command::Status { mailbox, items: status_items(c)? }
        }
        "APPEND" => {
            let mailbox = mailbox(c)?;
            let mut messages = Vec::new();
            // MULTIAPPEND (RFC 3502 §6): append-message repeats.
            while c.eat(b' ') {
                messages.push(append_message(c)?);
            }
            if messages.is_empty() {
                return err("APPEND needs a message");
            }
            Command::Append { mailbox, messages }
        }
        "GENURLAUTH" => {
            let mut pairs = Vec::new();
            while c.eat(b' ') {
                let url = c.astring_utf8()?;
                c.sp()?;
                pairs.push((url, c.atom()?.to_ascii_uppercase()));
            }
            if pairs.is_empty() {
                return err("GENURLAUTH needs a URL and a mechanism");
            }
            Command::GenUrlAuth(pairs)
        }
        "URLFETCH" => {
            let mut urls = Vec::new();
            while c.eat(b' ') {
                urls.push(url_fetch(c)?);
            }
            if urls.is_empty() {
                return err("URLFETCH needs a URL");
            }
            Command::UrlFetch(urls)
        }
        "RESETKEY" => {
            let mailbox = if c.eat(b' ') { Some(c.astring_utf8()?) } else { None };
            // Mechanisms after the mailbox: INTERNAL is the only one.
            while c.eat(b' ') {
                if !c.atom()?.eq_ignore_ascii_case("INTERNAL") {
                    return err("unknown URLAUTH mechanism; INTERNAL is supported");
                }
            }
            Command::ResetKey { mailbox }
        }
        "IDLE" => Command::Idle,
        "CHECK" => Command::Check,
        "CLOSE" => Command::Close,
        "UNSELECT" => Command::Unselect,
        "EXPUNGE" => {
            let uids = if uid {
                c.sp()?;
                Some(c.sequence_set()?)
            } else {
                None
            };
            Command::Expunge { uids }
        }
        "SEARCH" => {
            c.sp()?;
            let (keys, esearch) = parse_search(c)?;
            Command::Search { keys, esearch }
        }
        "SORT" => {
            c.sp()?;
            // ESORT (RFC 5267 §3.1): sort-modifier = "RETURN" SP "(" options ")".
            let mut esearch = None;
            let start = c.pos;
            if c.atom().is_ok_and(|a| a.eq_ignore_ascii_case("RETURN")) {
                c.pos = start;
                esearch = Some(crate::search::return_options(c)?);
            } else {
                c.pos = start;
            }
            let criteria = crate::sort::parse_criteria(c)?;
            c.sp()?;
            charset(c)?;
            c.sp()?;
            let (keys, _) = parse_search(c)?;
            Command::Sort { criteria, keys, esearch }
        }
        "NOTIFY" => {
            c.sp()?;
            match c.atom()?.to_ascii_uppercase().as_str() {
                "NONE" => Command::Notify(None),
                "SET" => Command::Notify(Some(notify_set(c)?)),
                _ => return err("NOTIFY SET or NOTIFY NONE"),
            }
        }
        "CANCELUPDATE" => {
            let mut tags = Vec::new();
            while c.eat(b' ') {
                tags.push(String::from_utf8_lossy(&c.string()?).into_owned());
            }
            if tags.is_empty() {
                return err("CANCELUPDATE needs a tag");
            }
            Command::CancelUpdate(tags)
        }
        "THREAD" => {
            c.sp()?;
            let references = match c.atom()?.to_ascii_uppercase().as_str() {
                "REFERENCES" => true,
                "ORDEREDSUBJECT" => false,
                _ => return err("unknown THREAD algorithm; use REFERENCES or ORDEREDSUBJECT"),
            };
            c.sp()?;
            charset(c)?;
            c.sp()?;
            let (keys, _) = parse_search(c)?;
            Command::Thread { references, keys }
        }
        "FETCH" => {
            c.sp()?;
            let set = c.sequence_set()?;
            c.sp()?;
            let items = parse_fetch_items(c)?;
            let mut changed_since = None;
            let mut vanished = false;
            if c.eat(b' ') {
                c.expect(b'(')?;
                while !c.eat(b')') {
                    let _ = c.eat(b' ');
                    match c.atom()?.to_ascii_uppercase().as_str() {
                        "CHANGEDSINCE" => {
                            c.sp()?;
                            changed_since = Some(c.number64()?);
                        }
                        "VANISHED" => vanished = true,
                        _ => return err("unknown FETCH modifier"),
                    }
                }
                if vanished && (changed_since.is_none() || !uid) {
                    return err("VANISHED needs UID FETCH with CHANGEDSINCE");
                }
            }
            Command::Fetch { set, items, changed_since, vanished }
        }
        "STORE" => {
            c.sp()?;
            let set = c.sequence_set()?;
            c.sp()?;
            let mut unchanged_since = None;
            if c.eat(b'(') {
                let m = c.atom()?.to_ascii_uppercase();
                if m != "UNCHANGEDSINCE" {
                    return err("unknown STORE modifier");
                }
                c.sp()?;
                unchanged_since = Some(c.number64()?);
                c.expect(b')')?;
                c.sp()?;
            }
            let item = c.atom()?.to_ascii_uppercase();
            let (mode, rest) = match item.as_bytes().first() {
                Some(b'+') => (StoreMode::Add, &item[1..]),
                Some(b'-') => (StoreMode::Remove, &item[1..]),
                _ => (StoreMode::Replace, &item[..]),
            };
            let silent = match rest {
                "FLAGS" => false,
                "FLAGS.SILENT" => true,
                _ => return err("expected FLAGS or FLAGS.SILENT"),
            };
            c.sp()?;
            let flags = c.flag_list(true)?;
            Command::Store { set, mode, silent, flags, unchanged_since }
        }
        "COPY" | "MOVE" => {
            c.sp()?;
            let set = c.sequence_set()?;
            let mailbox = mailbox(c)?;
            if name == "COPY" {
                Command::Copy { set, mailbox }
            } else {
                Command::Move { set, mailbox }
            }
        }
        "GETQUOTAROOT" => Command::GetQuotaRoot { mailbox: mailbox(c)? },
        "GETQUOTA" => Command::GetQuota { root: mailbox(c)? },
        _ => return err("unknown command"),
    })
}

/// append-message (RFC 3502, RFC 4469 §5, RFC 6855 §4):
/// `[flag-list SP] [date-time SP] (literal / literal8 / CATENATE (...) / UTF8 (literal8))`.
fn append_message(c: &mut Cursor) -> PResult<AppendMessage> {
    let mut flags = Vec::new();
    if c.peek() == Some(b'(') {
        flags = c.flag_list(false)?;
        c.sp()?;
    }
    let mut date = None;
    if c.peek() == Some(b'"') {
        date = Some(c.date_time()?);
        c.sp()?;
    }
    let start = c.pos;
    let word = c.atom().map(|a| a.to_ascii_uppercase()).unwrap_or_default();
    let (data, utf8) = match word.as_str() {
        "CATENATE" => {
            c.sp()?;
            c.expect(b'(')?;
            let mut parts = Vec::new();
            while !c.eat(b')') {
                if !parts.is_empty() {
                    c.sp()?;
                }
                let kind = c.atom()?.to_ascii_uppercase();
                c.sp()?;
                parts.push(match kind.as_str() {
                    "TEXT" => CatPart::Text(c.string()?),
                    "URL" => CatPart::Url(c.astring_utf8()?),
                    _ => return err("CATENATE parts are TEXT or URL"),
                });
            }
            if parts.is_empty() {
                return err("CATENATE needs a part");
            }
            (AppendData::Catenate(parts), false)
        }
        "UTF8" => {
            c.sp()?;
            c.expect(b'(')?;
            let binary = c.peek() == Some(b'~');
            let bytes = c.string()?;
            c.expect(b')')?;
            (AppendData::Literal { bytes, binary }, true)
        }
        _ => {
            c.pos = start;
            let binary = c.peek() == Some(b'~');
            (AppendData::Literal { bytes: c.string()?, binary }, false)
        }
    };
    Ok(AppendMessage { flags, date, data, utf8 })
}

/// `NOTIFY SET [STATUS] 1*(SP event-group)` (RFC 5465 §8).
fn notify_set(c: &mut Cursor) -> PResult<NotifyRequest> {
    let mut status = false;
    let mut groups = Vec::new();
    while c.eat(b' ') {
        if groups.is_empty() && !status && c.peek() != Some(b'(') {
            if !c.atom()?.eq_ignore_ascii_case("STATUS") {
                return err("expected STATUS or an event group");
            }
            status = true;
            continue;
        }
        c.expect(b'(')?;
        let filter = c.atom()?.to_ascii_uppercase();
        let mut mailboxes = Vec::new();
        match filter.as_str() {
            "SELECTED" | "SELECTED-DELAYED" | "INBOXES" | "PERSONAL" | "SUBSCRIBED" => {}
            "SUBTREE" | "MAILBOXES" => {
                c.sp()?;
                if c.eat(b'(') {
                    while !c.eat(b')') {
                        let _ = c.eat(b' ');
                        mailboxes.push(c.astring_utf8()?);
                    }
                } else {
                    mailboxes.push(c.astring_utf8()?);
                }
                if mailboxes.is_empty() {
                    return err("SUBTREE and MAILBOXES need a mailbox");
                }
            }
            _ => return err("unknown NOTIFY filter"),
        }
        c.sp()?;
        let mut events = Vec::new();
        let mut fetch_attributes = false;
        if !c.eat(b'(') {
            if !c.atom()?.eq_ignore_ascii_case("NONE") {
                return err("events are a list or NONE");
            }
        } else {
            while !c.eat(b')') {
                let _ = c.eat(b' ');
                let event = c.atom()?.to_ascii_uppercase();
                if event == "MESSAGENEW" && c.b_peek2() == Some((b' ', b'(')) {
                    c.sp()?;
                    parse_fetch_items(c)?;
                    fetch_attributes = true;
                }
                events.push(event);
            }
            if events.is_empty() {
                return err("an empty event list; use NONE");
            }
        }
        c.expect(b')')?;
        groups.push(NotifyGroup { filter, mailboxes, events, fetch_attributes });
    }
    if groups.is_empty() {
        return err("NOTIFY SET needs an event group");
    }
    Ok(NotifyRequest { status, groups })
}

/// A URLFETCH argument: a URL, or `(url *(SP param))` (RFC 5524 §3.1).
fn url_fetch(c: &mut Cursor) -> PResult<UrlFetch> {
    if !c.eat(b'(') {
        return Ok(UrlFetch { url: c.astring_utf8()?, ..Default::default() });
    }
    let mut item = UrlFetch { url: c.astring_utf8()?, extended: true, ..Default::default() };
    while c.eat(b' ') {
        match c.atom()?.to_ascii_uppercase().as_str() {
            "BODYPARTSTRUCTURE" => item.body_part_structure = true,
            "BINARY" => item.binary = true,
            "BODY" => item.body = true,
            _ => return err("URLFETCH parameters are BODYPARTSTRUCTURE, BINARY and BODY"),
        }
    }
    c.expect(b')')?;
    if item.binary && item.body {
        return err("URLFETCH takes BINARY or BODY, not both");
    }
    Ok(item)
}

/// LIST with the LIST-EXTENDED selection and return options (RFC 5258,
/// RFC 6154 SPECIAL-USE, RFC 5819 LIST-STATUS).
fn list(c: &mut Cursor) -> PResult<Command> {
    c.sp()?;
    let mut options = ListOptions::default();
    if c.eat(b'(') {
        options.extended = true;
        let mut others = false;
        while !c.eat(b')') {
            let _ = c.eat(b' ');
            match c.atom()?.to_ascii_uppercase().as_str() {
                "SUBSCRIBED" => (options.subscribed, others) = (true, true),
                "SPECIAL-USE" => (options.special_use, others) = (true, true),
                "RECURSIVEMATCH" => options.recursive = true,
                "REMOTE" => {}
                _ => return err("unknown LIST selection option"),
            }
        }
        // RFC 5258 §3.1: RECURSIVEMATCH needs another selection option.
        if options.recursive && !others {
            return err("RECURSIVEMATCH needs another selection option");
        }
        c.sp()?;
    }
    let reference = c.astring_utf8()?;
    c.sp()?;
    let mut patterns = Vec::new();
    if c.eat(b'(') {
        options.extended = true;
        while !c.eat(b')') {
            let _ = c.eat(b' ');
            patterns.push(c.list_mailbox()?);
        }
    } else {
        patterns.push(c.list_mailbox()?);
    }
    if c.eat(b' ') {
        let r = c.atom()?.to_ascii_uppercase();
        if r != "RETURN" {
            return err("expected RETURN");
        }
        options.extended = true;
        c.sp()?;
        c.expect(b'(')?;
        while !c.eat(b')') {
            let _ = c.eat(b' ');
            match c.atom()?.to_ascii_uppercase().as_str() {
                "SUBSCRIBED" => options.return_subscribed = true,
                // Children and special-use attributes are always given.
                "CHILDREN" | "SPECIAL-USE" => {}
                "STATUS" => {
                    c.sp()?;
                    options.status = status_items(c)?;
                }
                _ => return err("unknown LIST return option"),
            }
        }
    }
    Ok(Command::List { reference, patterns, options })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Tagged {
        parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    #[test]
    fn commands_real_clients_send() {
        assert!(matches!(
            p("a1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5)\r\n").command,
            Command::Fetch { changed_since: Some(5), .. }
        ));
        assert!(matches!(p("a2 SELECT \"INBOX\" (CONDSTORE)\r\n").command, Command::Select { condstore: true, .. }));
        assert!(matches!(
            p("a3 FETCH 1 BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID PRIORITY X-PRIORITY REFERENCES NEWSGROUPS IN-REPLY-TO CONTENT-TYPE REPLY-TO)]\r\n").command,
            Command::Fetch { .. }
        ));
        assert!(matches!(
            p("a4 LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN STATUS (MESSAGES))\r\n").command,
            Command::List { options: ListOptions { subscribed: true, .. }, .. }
        ));
        assert!(parse(b"a9 LIST (RECURSIVEMATCH) \"\" %\r\n").is_err(), "RECURSIVEMATCH alone is BAD");
        assert!(matches!(
            p("b1 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (SUBSCRIBED)\r\n").command,
            Command::List { options: ListOptions { recursive: true, return_subscribed: true, .. }, .. }
        ));
        assert!(matches!(
            p("a5 STORE 1:3 +FLAGS.SILENT (\\Seen $Junk)\r\n").command,
            Command::Store { silent: true, .. }
        ));
        assert!(matches!(p("a6 ID (\"name\" \"Thunderbird\" \"version\" \"128\")\r\n").command, Command::Id));
        assert!(matches!(
            p("a7 APPEND Sent (\\Seen) {3}\r\nabc\r\n").command,
            Command::Append { ref messages, .. } if messages.len() == 1 && !messages[0].utf8
        ));
        let Command::Append { messages, .. } = p("b2 APPEND Sent UTF8 (~{3}\r\nabc)\r\n").command else { panic!() };
        assert!(messages[0].utf8 && messages[0].data == AppendData::Literal { bytes: b"abc".to_vec(), binary: true });
        let Command::Append { messages, .. } = p(
            "b3 APPEND Box (\\Seen) {1}\r\na \" 5-Nov-2024 10:00:00 +0100\" CATENATE (URL \"/INBOX/;UID=1\" TEXT {2}\r\nbc) ~{1}\r\nd\r\n",
        )
        .command
        else {
            panic!()
        };
        assert_eq!(messages.len(), 3, "MULTIAPPEND");
        assert_eq!(
            messages[1].data,
            AppendData::Catenate(vec![CatPart::Url("/INBOX/;UID=1".into()), CatPart::Text(b"bc".to_vec())])
        );
        assert!(messages[1].date.is_some() && messages[0].flags == ["\\Seen"]);
        assert!(parse(b"b4 APPEND Box\r\n").is_err() && parse(b"b5 APPEND Box CATENATE ()\r\n").is_err());
        assert!(matches!(
            p("b6 URLFETCH \"imap://a@b/INBOX/;UID=1;URLAUTH=anonymous:INTERNAL:00\" (\"x\" BINARY BODYPARTSTRUCTURE)\r\n").command,
            Command::UrlFetch(ref u) if u.len() == 2 && u[1].binary && u[1].body_part_structure && !u[0].extended
        ));
        assert!(matches!(p("b7 RESETKEY\r\n").command, Command::ResetKey { mailbox: None }));
        assert!(matches!(p("b8 GENURLAUTH \"u\" INTERNAL\r\n").command, Command::GenUrlAuth(ref v) if v.len() == 1));
        assert!(parse(b"a8 UID NOOP\r\n").is_err(), "UID only with some commands");
        assert_eq!(parse(b"\r\n").err().map(|e| e.tag), Some(None));
    }

    /// Mutated real commands never panic the parser (a stand-in for a fuzzer
    /// on stable Rust; the receiver is exercised the same way below).
    #[test]
    fn arbitrary_commands_never_panic() {
        let mut next = caravel_testkit::xorshift(0x9e37_79b9_7f4a_7c15);
        let seeds: &[&[u8]] = &[
            b"a UID FETCH 1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (A B)]<0.10>) (CHANGEDSINCE 5 VANISHED)\r\n",
            b"b SEARCH CHARSET UTF-8 OR (FROM \"x\" SUBJECT {3}\r\nabc) NOT SINCE 1-Jan-2020\r\n",
            b"c SELECT INBOX (QRESYNC (1 2 1:5 (1,2 3,4)))\r\n",
            b"d APPEND x (\\Seen) \"01-Jan-2020 10:00:00 +0100\" ~{3}\r\nabc\r\n",
            b"e SORT (REVERSE DATE SUBJECT) UTF-8 ALL\r\n",
            b"f APPEND x {1+}\r\na CATENATE (URL \"/INBOX/;UID=1/;SECTION=1\" TEXT {2+}\r\nbc) ~{1+}\r\nd\r\n",
            b"g NOTIFY SET STATUS (SELECTED (MessageNew (UID) MessageExpunge)) (SUBTREE (A B) NONE)\r\n",
            b"h URLFETCH (\"imap://a@b/X/;UID=1;URLAUTH=anonymous:INTERNAL:00\" BINARY) \"u\"\r\n",
            b"i SORT RETURN (PARTIAL -1:-5 UPDATE) (SUBJECT) UTF-8 ALL\r\n",
        ];
        for _ in 0..20_000 {
            let mut cmd = seeds[(next() % seeds.len() as u64) as usize].to_vec();
            for _ in 0..(1 + next() % 8) {
                let at = (next() as usize) % (cmd.len() + 1);
                match next() % 3 {
                    0 => cmd.insert(at, next() as u8),
                    1 if at < cmd.len() => {
                        cmd.remove(at);
                    }
                    _ => cmd.insert(at, b"(){}[]<>\"\\ *%$:.+-0123456789"[(next() % 28) as usize]),
                }
            }
            let _ = parse(&cmd);
            let mut r = crate::receiver::Receiver::new(256, 64);
            r.feed(&cmd);
            while r.next_event().is_some() {}
        }
    }
}
