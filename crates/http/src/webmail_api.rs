//! Webmail, reading: the signed-in account's folders with their counts, a
//! page of a folder's messages newest first (the store's SORT order, so a
//! 100,000-message folder costs one sorted read and one page of
//! envelopes), one message decoded (text, HTML made safe, attachments),
//! and an attachment's bytes as a download. Reading a message marks it
//! seen, as an IMAP client's FETCH of the body does; IMAP sessions see it
//! at once through the store's change notification.

use std::sync::Arc;

use axum::extract::{Query, State as AxState};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::response::{IntoResponse, Response};
use axum::Json;
use caravel_store::sort_keys::{SortCriterion, SortKey};
use caravel_store::threads::SortItem;
use caravel_store::{Flags, Mailbox};
use mail_parser::{MessageParser, MimeHeaders};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{Current, Full};
use crate::api_error::ApiError;
use crate::State;

type St = AxState<Arc<State>>;
type ApiResult = Result<Json<Value>, ApiError>;

/// The most messages one page lists.
const MAX_PAGE: usize = 200;

pub(crate) async fn folder(st: &State, cur: &Current, name: &str) -> Result<Mailbox, ApiError> {
    let boxes = st.store.mailboxes(cur.user.id).await?;
    boxes.into_iter().find(|b| b.name == name).ok_or_else(|| ApiError::not_found(format!("no folder {name}")))
}

/// Special-use folders first (Inbox, Drafts, Sent, Junk, Trash,
/// Archive), then the others by name; with their counts.
pub async fn folders(AxState(st): St, Full(cur): Full) -> ApiResult {
    let mut boxes = st.store.mailboxes(cur.user.id).await?;
    boxes.sort_by_key(|b| (b.special_use.map_or(u8::MAX, |s| s as u8), b.name.to_lowercase()));
    let list: Vec<Value> = boxes
        .iter()
        .map(|b| {
            json!({
                "name": b.name,
                "special_use": b.special_use.map(|s| format!("{s:?}").to_lowercase()),
                "messages": b.messages,
                "unseen": b.unseen,
                "size": b.size,
            })
        })
        .collect();
    Ok(Json(json!(list)))
}

#[derive(Deserialize)]
pub struct Page {
    folder: String,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
    /// date (the default), arrival, from, to, subject, size (RFC 5256 and
    /// RFC 5957 display-name order: what the reader sees sorted).
    sort: Option<String>,
    /// Largest first; the default for date, arrival and size.
    reverse: Option<bool>,
    /// One entry per conversation (RFC 5256 REFERENCES), newest activity
    /// first; the page counts conversations.
    #[serde(default)]
    thread: bool,
}

impl Page {
    fn criterion(&self) -> Result<SortCriterion, ApiError> {
        let word = self.sort.as_deref().unwrap_or("date").to_ascii_lowercase();
        let key = match word.as_str() {
            "date" => SortKey::Date,
            "arrival" => SortKey::Arrival,
            "from" => SortKey::DisplayFrom,
            "to" => SortKey::DisplayTo,
            "subject" => SortKey::Subject,
            "size" => SortKey::Size,
            _ => return Err(ApiError::bad_request("Sort by date, arrival, from, to, subject or size.")),
        };
        let biggest_first = matches!(key, SortKey::Date | SortKey::Arrival | SortKey::Size);
        Ok(SortCriterion { key, reverse: self.reverse.unwrap_or(biggest_first) })
    }
}

/// A header value as people read it (RFC 2047 encoded words decoded).
fn decoded(field: &str, raw: &str) -> String {
    let text = format!("{field}: {raw}\r\n\r\n");
    let parsed = MessageParser::default().parse_headers(text.as_bytes());
    let value = parsed.and_then(|m| match field {
        "Subject" => m.subject().map(str::to_string),
        _ => m.from().and_then(|a| a.first()).and_then(|a| a.name().map(str::to_string)),
    });
    value.unwrap_or_else(|| raw.to_string())
}

pub(crate) fn person(a: &caravel_store::mime::EnvelopeAddress) -> Value {
    let address = match (&a.mailbox, &a.host) {
        (Some(m), Some(h)) => format!("{m}@{h}"),
        (Some(m), None) => m.clone(),
        _ => String::new(),
    };
    let name = a.name.as_deref().map(|n| decoded("From", &format!("{n} <x@y>")));
    json!({ "name": name.filter(|n| !n.is_empty() && *n != address), "address": address })
}

/// A page of the folder's messages, newest first unless asked otherwise;
/// with `thread`, a page of conversations, each message with its depth.
pub async fn messages(AxState(st): St, Full(cur): Full, Query(p): Query<Page>) -> ApiResult {
    let mailbox = folder(&st, &cur, &p.folder).await?;
    let limit = p.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    if p.thread {
        return threaded(&st, &mailbox, p.offset, limit).await;
    }
    let uids = st.store.sorted_uids(mailbox.id, &[p.criterion()?]).await?;
    let page: Vec<u32> = uids.iter().skip(p.offset).take(limit).copied().collect();
    let list = summaries(&st, &mailbox, &page).await?;
    Ok(Json(json!({ "folder": mailbox.name, "total": uids.len(), "offset": p.offset, "messages": list })))
}

/// Conversations by RFC 5256 REFERENCES (what IMAP THREAD answers), the
/// one with the newest message first; each message in tree order with its
/// depth. A page holds `limit` conversations and at most `MAX_PAGE`
/// messages (a huge conversation is cut, and says how many it has).
async fn threaded(st: &State, mailbox: &Mailbox, offset: usize, limit: usize) -> ApiResult {
    let mut keys = st.store.thread_keys(mailbox.id).await?;
    keys.sort_by_key(|(uid, _)| *uid);
    let dates: std::collections::HashMap<u32, i64> = keys.iter().map(|(u, k)| (*u, k.date)).collect();
    let items: Vec<SortItem> =
        keys.into_iter().enumerate().map(|(i, (uid, keys))| SortItem { seq: i as u32 + 1, uid, keys }).collect();
    let threads = caravel_store::threads::references(&items, |i| i.uid);
    let mut conversations: Vec<(i64, Vec<(u32, usize)>)> = threads
        .iter()
        .map(|t| {
            let members = flatten(t);
            let newest = members.iter().filter_map(|(u, _)| dates.get(u)).max().copied().unwrap_or(0);
            (newest, members)
        })
        .filter(|(_, m)| !m.is_empty())
        .collect();
    conversations.sort_by_key(|(newest, members)| (std::cmp::Reverse(*newest), members[0].0));
    let members: Vec<&[(u32, usize)]> = conversations.iter().map(|(_, m)| m.as_slice()).collect();
    let (rows, next) = conversation_page(&members, offset, limit, MAX_PAGE);
    let page: Vec<u32> = rows.iter().map(|r| r.0).collect();
    let mut list = summaries(st, mailbox, &page).await?;
    for item in list.iter_mut() {
        let uid = item["uid"].as_u64().unwrap_or_default() as u32;
        if let Some((_, depth, n, size)) = rows.iter().find(|r| r.0 == uid) {
            item["depth"] = json!(depth);
            item["thread"] = json!(n);
            item["thread_size"] = json!(size);
        }
    }
    Ok(Json(json!({
        "folder": mailbox.name, "total": conversations.len(), "offset": offset, "messages": list, "threaded": true,
        "next_offset": next,
    })))
}

/// One page of conversations: whole ones only, up to `limit` of them and
/// `max_rows` rows; one that alone is longer than a page comes first on
/// its page, cut. Rows are (uid, depth, conversation, its size); the next
/// page starts at the returned index.
fn conversation_page(
    conversations: &[&[(u32, usize)]],
    offset: usize,
    limit: usize,
    max_rows: usize,
) -> (Vec<(u32, usize, usize, usize)>, usize) {
    let mut rows = Vec::new();
    let mut next = offset;
    for (n, members) in conversations.iter().enumerate().skip(offset).take(limit) {
        let room = max_rows - rows.len();
        if members.len() > room && !rows.is_empty() {
            break;
        }
        rows.extend(members.iter().take(room).map(|(uid, depth)| (*uid, *depth, n, members.len())));
        next = n + 1;
    }
    (rows, next)
}

/// A conversation's messages in tree order with their depth; a missing
/// parent (a message not in this folder) is skipped, its replies kept at
/// its depth. An explicit stack: a hostile chain may be 100,000 deep.
fn flatten(root: &caravel_store::threads::Thread) -> Vec<(u32, usize)> {
    let mut out = Vec::new();
    let mut stack = vec![(root, 0usize)];
    while let Some((t, depth)) = stack.pop() {
        let child_depth = match t.number {
            Some(uid) => {
                out.push((uid, depth));
                depth + 1
            }
            None => depth,
        };
        for c in t.children.iter().rev() {
            stack.push((c, child_depth));
        }
    }
    out
}

/// The list's line for each of `page`: decoded subject and sender, date,
/// size, seen and flagged.
async fn summaries(st: &State, mailbox: &Mailbox, page: &[u32]) -> Result<Vec<Value>, ApiError> {
    let metas = st.store.messages_changed(mailbox.id, page, None).await?;
    let envelopes = st.store.envelopes_of(mailbox.id, page).await?;
    Ok(page
        .iter()
        .filter_map(|uid| {
            let meta = metas.iter().find(|m| m.uid == *uid)?;
            let env = envelopes.get(uid);
            Some(json!({
                "uid": uid,
                "subject": env.and_then(|e| e.subject.as_deref()).map(|s| decoded("Subject", s)).unwrap_or_default(),
                "from": env.and_then(|e| e.from.first()).map(person),
                // The Date field (what sorting by date uses), else arrival.
                "date": env
                    .and_then(|e| e.date.as_deref())
                    .and_then(mail_parser::DateTime::parse_rfc822)
                    .map(|d| d.to_timestamp())
                    .unwrap_or(meta.internal_date),
                "size": meta.size,
                "seen": meta.flags.contains(Flags::SEEN),
                "flagged": meta.flags.contains(Flags::FLAGGED),
            }))
        })
        .collect())
}

#[derive(Deserialize)]
pub struct One {
    folder: String,
    uid: u32,
    /// Show remote images (the reader agreed).
    #[serde(default)]
    remote: bool,
    /// A message forwarded inside this one (its index in `nested`).
    nested: Option<usize>,
}

pub(crate) async fn raw(
    st: &State,
    cur: &Current,
    folder_name: &str,
    uid: u32,
) -> Result<(Mailbox, Vec<u8>), ApiError> {
    let mailbox = folder(st, cur, folder_name).await?;
    let mut found = st.store.read_messages(mailbox.id, &[uid]).await?;
    let (_, bytes) = found.pop().ok_or_else(|| ApiError::not_found(format!("no message {uid} in {folder_name}")))?;
    Ok((mailbox, bytes))
}

pub(crate) fn parse(bytes: &[u8]) -> Result<mail_parser::Message<'_>, ApiError> {
    MessageParser::default().parse(bytes).ok_or_else(|| ApiError::bad_request("This message cannot be read."))
}

/// The message's HTML made safe; its cid: images point at `/mail/inline`.
fn safe_html(m: &mail_parser::Message<'_>, q: &One, remote: bool) -> Option<crate::safe_html::Cleaned> {
    let base = format!("/api/v1/mail/inline?folder={}&uid={}&cid=", crate::safe_html::percent(&q.folder), q.uid);
    real_html(m).map(|h| crate::safe_html::clean(&h, remote, Some(&base)))
}

/// The message's own HTML, if it has a text/html part (mail-parser's
/// `body_html` also turns a plain-text body into HTML, which the reader
/// shows better as text).
fn real_html<'a>(m: &'a mail_parser::Message<'a>) -> Option<std::borrow::Cow<'a, str>> {
    let first = *m.html_body.first()?;
    match m.parts.get(first as usize).map(|p| &p.body) {
        Some(mail_parser::PartType::Html(_)) => m.body_html(0),
        _ => None,
    }
}

/// The settings kind of the senders whose pictures a user always loads
/// (named by lowercase address).
const IMAGE_SENDERS: &str = "image_sender";
/// Most such senders per account.
const MAX_IMAGE_SENDERS: usize = 1000;

/// The message's first From address, lowercase.
fn sender_of(m: &mail_parser::Message<'_>) -> Option<String> {
    m.from().and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_lowercase)
}

/// Whether the From address is proved: this server's own
/// Authentication-Results (RFC 8601; forged ones are stripped on arrival)
/// say DMARC passed for its domain. Nothing else proves it — not the
/// absence of results (mail put in by IMAP), not a sender's own words. A
/// forged From never loads a trusted sender's pictures (a tracker could
/// otherwise claim a trusted address to learn who reads).
fn sender_proved(raw: &[u8], hostname: &str, sender: &str) -> bool {
    let Some((_, domain)) = sender.rsplit_once('@') else { return false };
    let head = &raw[..caravel_store::fields::header_end(raw)];
    caravel_store::fields::fields(head).any(|f| {
        use caravel_filter::auth_results::{dmarc_passed, names_us};
        names_us(f, hostname) && dmarc_passed(f, domain)
    })
}

/// Remote pictures: whether the reader always loads them for this sender,
/// whether the sender is proved, and whether they load now (the reader
/// agreed for this message, or trusts this proved sender).
struct Pictures {
    trusted: bool,
    proved: bool,
    load: bool,
}

async fn remote_allowed(st: &State, cur: &Current, q: &One, m: &mail_parser::Message<'_>, raw: &[u8]) -> Pictures {
    let Some(sender) = sender_of(m) else { return Pictures { trusted: false, proved: false, load: q.remote } };
    let scope = caravel_store::settings::account_scope(cur.user.id);
    let trusted = match st.store.settings(&scope, IMAGE_SENDERS).await {
        Ok(list) => list.iter().any(|(name, _)| *name == sender),
        Err(e) => {
            tracing::warn!(error = %e, "trusted picture senders unreadable");
            false
        }
    };
    let proved = sender_proved(raw, &st.hostname, &sender);
    Pictures { trusted, proved, load: q.remote || (trusted && proved) }
}

#[derive(Deserialize)]
pub struct TrustImages {
    address: String,
    trust: bool,
}

/// Always (or no longer) load remote pictures in mail from this sender.
pub async fn trust_images(
    AxState(st): St,
    Full(cur): Full,
    crate::api::JsonBody(t): crate::api::JsonBody<TrustImages>,
) -> ApiResult {
    let address = t.address.trim().to_lowercase();
    if caravel_store::Address::parse(&address).is_err() {
        return Err(ApiError::bad_request(format!("\"{address}\" is not an email address.")));
    }
    let scope = caravel_store::settings::account_scope(cur.user.id);
    if t.trust {
        if st.store.settings(&scope, IMAGE_SENDERS).await?.len() >= MAX_IMAGE_SENDERS {
            return Err(ApiError::bad_request(format!("At most {MAX_IMAGE_SENDERS} senders.")));
        }
        st.store.put_setting(&scope, IMAGE_SENDERS, &address, "true").await?;
    } else {
        st.store.del_setting(&scope, IMAGE_SENDERS, &address).await?;
    }
    Ok(Json(json!({ "address": address, "trusted": t.trust })))
}

/// One message, decoded: its header fields, its text, its HTML made safe
/// (remote images held back unless `remote`), and its attachments.
pub async fn message(AxState(st): St, Full(cur): Full, Query(q): Query<One>) -> ApiResult {
    let (mailbox, bytes) = raw(&st, &cur, &q.folder, q.uid).await?;
    let parsed = parse(&bytes)?;
    let addresses = |list: Option<&mail_parser::Address>| -> Vec<Value> {
        list.map(|a| a.iter().map(|x| json!({ "name": x.name(), "address": x.address() })).collect())
            .unwrap_or_default()
    };
    let text = parsed.body_text(0).map(|t| t.into_owned());
    let pictures = remote_allowed(&st, &cur, &q, &parsed, &bytes).await;
    let html = safe_html(&parsed, &q, pictures.load);
    let attachments: Vec<Value> = listed(&parsed)
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "index": i,
                "name": part_name(a),
                "type": a.content_type().map(|c| match c.subtype() {
                    Some(s) => format!("{}/{s}", c.ctype()),
                    None => c.ctype().to_string(),
                }),
                "size": a.contents().len(),
            })
        })
        .collect();
    st.store.set_flags(mailbox.id, &[q.uid], Flags::SEEN, &[], caravel_store::FlagMode::Add).await?;
    // Without a Date: field, when it arrived.
    let arrived = st.store.messages_changed(mailbox.id, &[q.uid], None).await?.first().map(|m| m.internal_date);
    Ok(Json(json!({
        "uid": q.uid,
        "subject": parsed.subject(),
        "from": addresses(parsed.from()),
        "to": addresses(parsed.to()),
        "cc": addresses(parsed.cc()),
        // In the sender's own copies (Sent, Drafts): whom they copied blindly.
        "bcc": addresses(parsed.bcc()),
        "date": parsed.date().map(|d| d.to_timestamp()).or(arrived),
        "message_id": parsed.message_id(),
        "reply_to": addresses(parsed.reply_to()),
        "references": parsed.references().as_text_list().map(|ids| ids.iter().map(|id| format!("<{id}>")).collect::<Vec<_>>().join(" ")),
        "bounce": bounce(&parsed),
        "nested": nested(&parsed).iter().enumerate().map(|(i, m)| json!({
            "index": i,
            "subject": m.subject(),
            "from": addresses(m.from()),
            "to": addresses(m.to()),
            "date": m.date().map(|d| d.to_timestamp()),
            "text": m.body_text(0),
            "has_html": real_html(m).is_some(),
            "attachments": m.attachments().map(part_name).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "text": text,
        "html": html.as_ref().map(|h| h.html.clone()),
        "remote_images_blocked": html.is_some_and(|h| h.remote_blocked),
        "remote_images_shown": pictures.load,
        "sender": sender_of(&parsed),
        "sender_trusted_for_images": pictures.trusted,
        "sender_proved": pictures.proved,
        "attachments": attachments,
    })))
}

/// Most messages forwarded inside one that the reader shows.
const MAX_NESTED: usize = 20;

/// The messages forwarded whole inside this one (message/rfc822 parts,
/// RFC 2046 §5.2.1), first level only, in order.
fn nested<'a>(m: &'a mail_parser::Message<'a>) -> Vec<&'a mail_parser::Message<'a>> {
    m.parts
        .iter()
        .filter_map(|p| match &p.body {
            mail_parser::PartType::Message(inner) => Some(inner),
            _ => None,
        })
        .take(MAX_NESTED)
        .collect()
}

/// The most of a delivery-status part read, and recipients listed.
const MAX_REPORT: usize = 64 << 10;
const MAX_REPORTED: usize = 100;

/// A delivery report's recipients (RFC 3464 §2.3), each with what
/// happened in plain words: the reader of a bounce learns why at a glance.
fn bounce(m: &mail_parser::Message<'_>) -> Option<Value> {
    use caravel_delivery::dsn::{explain, Action};
    // Only a report: the message itself is multipart/report (RFC 6522).
    let report = m.content_type().is_some_and(|c| {
        c.ctype().eq_ignore_ascii_case("multipart") && c.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
    });
    if !report {
        return None;
    }
    let part = m.parts.iter().find(|p| {
        p.content_type().is_some_and(|c| {
            c.ctype().eq_ignore_ascii_case("message")
                && c.subtype().is_some_and(|s| {
                    s.eq_ignore_ascii_case("delivery-status") || s.eq_ignore_ascii_case("global-delivery-status")
                })
        })
    })?;
    let contents = part.contents();
    let text = String::from_utf8_lossy(&contents[..contents.len().min(MAX_REPORT)]).replace("\r\n", "\n");
    let mut recipients = Vec::new();
    // The first block is about the message; each further one a recipient.
    for block in text.split("\n\n").skip(1).take(MAX_REPORTED) {
        let field = |name: &str| {
            block.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let Some(recipient) = field("Final-Recipient").or_else(|| field("Original-Recipient")) else { continue };
        let address = recipient.split_once(';').map_or(recipient.as_str(), |(_, a)| a.trim()).to_string();
        let action = match field("Action").unwrap_or_default().to_ascii_lowercase().as_str() {
            "delayed" => Action::Delayed,
            "delivered" => Action::Delivered,
            "relayed" | "expanded" => Action::Relayed,
            _ => Action::Failed,
        };
        let status = field("Status").unwrap_or_default();
        recipients.push(json!({
            "address": address,
            "status": status,
            "failed": action == Action::Failed,
            "explanation": explain(&status, action),
            "diagnostic": field("Diagnostic-Code"),
        }));
    }
    Some(json!({ "recipients": recipients }))
}

/// An attachment's name as shown and downloaded: its own, or for a
/// message forwarded whole without one, its subject (`Subject.eml`).
pub(crate) fn part_name(p: &mail_parser::MessagePart<'_>) -> String {
    if let Some(name) = p.attachment_name() {
        return name.to_string();
    }
    match &p.body {
        mail_parser::PartType::Message(m) => eml_name(m.subject().unwrap_or_default()),
        _ => "attachment".to_string(),
    }
}

/// A file name for a whole message: its subject without what file
/// systems refuse, `.eml`.
pub(crate) fn eml_name(subject: &str) -> String {
    // No path characters, and no bidi controls that would disguise the name.
    let bidi = |c: char| ('\u{202A}'..='\u{202E}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c);
    let clean: String =
        subject.chars().filter(|c| !c.is_control() && !bidi(*c) && !"/\\:*?\"<>|".contains(*c)).take(80).collect();
    format!("{}.eml", if clean.trim().is_empty() { "message" } else { clean.trim() })
}

/// The attachments a reader sees: not the images the HTML shows in place
/// (a Content-ID and no `attachment` disposition).
pub(crate) fn listed<'a>(parsed: &'a mail_parser::Message<'a>) -> Vec<&'a mail_parser::MessagePart<'a>> {
    parsed
        .attachments()
        .filter(|p| {
            let attached = p.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
            attached || p.content_id().is_none()
        })
        .collect()
}

/// A message's HTML as a page of its own, for the webmail's frame: made
/// safe as in [`message`], under a policy that lets nothing run and
/// nothing load but the message's own images (and, when the reader
/// allowed them, remote ones), sandboxed, framed only by this site.
pub async fn render(AxState(st): St, Full(cur): Full, Query(q): Query<One>) -> Result<Response, ApiError> {
    let (_, bytes) = raw(&st, &cur, &q.folder, q.uid).await?;
    let parsed = parse(&bytes)?;
    // A message forwarded inside is someone else's: only the reader's
    // consent for this message loads its pictures, never the trust in
    // whoever forwarded it.
    let remote = match q.nested {
        Some(_) => q.remote,
        None => remote_allowed(&st, &cur, &q, &parsed, &bytes).await.load,
    };
    let body = match q.nested {
        // A forwarded message's own cid: images are not served: dropped.
        Some(i) => nested(&parsed)
            .get(i)
            .and_then(|m| real_html(m))
            .map(|h| crate::safe_html::clean(&h, remote, None).html)
            .unwrap_or_default(),
        None => safe_html(&parsed, &q, remote).map(|h| h.html).unwrap_or_default(),
    };
    let images = if remote { "'self' data: https: http:" } else { "'self' data:" };
    let policy = format!(
        "default-src 'none'; img-src {images}; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; \
         form-action 'none'; sandbox allow-popups allow-popups-to-escape-sandbox"
    );
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><base target=\"_blank\"><style>body{{font-family:system-ui,sans-serif;margin:8px;word-wrap:break-word}}img{{max-width:100%}}</style></head><body>{body}</body></html>"
    );
    Ok((
        [
            (CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (axum::http::header::CONTENT_SECURITY_POLICY, policy),
            // Pictures that load do not learn where they were read.
            (axum::http::header::REFERRER_POLICY, "no-referrer".to_string()),
            (X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        page,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct Part {
    folder: String,
    uid: u32,
    index: Option<usize>,
    cid: Option<String>,
}

/// A download, never shown in the page: `attachment`, its declared type
/// not trusted (`nosniff`), its name in RFC 6266 form.
fn download(name: &str, bytes: Vec<u8>, image: Option<&str>) -> Response {
    let inline_image = image.is_some();
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_ ".contains(c) { c } else { '_' }).collect();
    let disposition = format!(
        "{}; filename=\"{ascii}\"; filename*=UTF-8''{}",
        if inline_image { "inline" } else { "attachment" },
        crate::safe_html::percent(name)
    );
    let ctype = image.unwrap_or("application/octet-stream");
    (
        [
            (CONTENT_TYPE, ctype.to_string()),
            (CONTENT_DISPOSITION, disposition),
            (X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
        ],
        bytes,
    )
        .into_response()
}

/// An attachment's bytes, by its index among the message's attachments.
pub async fn attachment(AxState(st): St, Full(cur): Full, Query(q): Query<Part>) -> Result<Response, ApiError> {
    let (_, bytes) = raw(&st, &cur, &q.folder, q.uid).await?;
    let parsed = parse(&bytes)?;
    let index = q.index.ok_or_else(|| ApiError::bad_request("Give the attachment's index."))?;
    let part =
        listed(&parsed).into_iter().nth(index).ok_or_else(|| ApiError::not_found(format!("no attachment {index}")))?;
    Ok(download(&part_name(part), part.contents().to_vec(), None))
}

/// An image the HTML refers to by `cid:`; only images are served this way.
pub async fn inline(AxState(st): St, Full(cur): Full, Query(q): Query<Part>) -> Result<Response, ApiError> {
    let (_, bytes) = raw(&st, &cur, &q.folder, q.uid).await?;
    let parsed = parse(&bytes)?;
    let cid = q.cid.as_deref().unwrap_or_default().trim_matches(['<', '>']);
    let part = parsed
        .parts
        .iter()
        .find(|p| p.content_id().is_some_and(|c| c.trim_matches(['<', '>']) == cid))
        .filter(|p| p.content_type().is_some_and(|c| c.ctype().eq_ignore_ascii_case("image")))
        .ok_or_else(|| ApiError::not_found("no such image in this message"))?;
    // Raster images only, by their declared type (never SVG: it can carry script).
    let kind = part.content_type().and_then(|c| c.subtype()).map(str::to_ascii_lowercase);
    let image = match kind.as_deref() {
        Some("png") => "image/png",
        Some("jpeg" | "jpg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => return Err(ApiError::not_found("no such image in this message")),
    };
    Ok(download(part.attachment_name().unwrap_or("image"), part.contents().to_vec(), Some(image)))
}

// ---- actions: flags, moves, deletes, folders ----

#[derive(Deserialize)]
pub struct Marks {
    folder: String,
    uids: Vec<u32>,
    seen: Option<bool>,
    flagged: Option<bool>,
}

/// The most messages one action takes.
const MAX_ACTION: usize = 1000;

fn uids_ok(uids: &[u32]) -> Result<(), ApiError> {
    match uids.len() {
        0 => Err(ApiError::bad_request("Choose at least one message.")),
        n if n > MAX_ACTION => Err(ApiError::bad_request(format!("At most {MAX_ACTION} messages at once."))),
        _ => Ok(()),
    }
}

/// Read or unread, flagged or not; IMAP clients see it at once.
pub async fn flags(
    AxState(st): St,
    Full(cur): Full,
    crate::api::JsonBody(m): crate::api::JsonBody<Marks>,
) -> ApiResult {
    uids_ok(&m.uids)?;
    let mailbox = folder(&st, &cur, &m.folder).await?;
    for (flag, on) in [(Flags::SEEN, m.seen), (Flags::FLAGGED, m.flagged)] {
        if let Some(on) = on {
            let mode = if on { caravel_store::FlagMode::Add } else { caravel_store::FlagMode::Remove };
            st.store.set_flags(mailbox.id, &m.uids, flag, &[], mode).await?;
        }
    }
    Ok(Json(json!({ "changed": m.uids.len() })))
}

#[derive(Deserialize)]
pub struct Move {
    folder: String,
    uids: Vec<u32>,
    to: String,
}

pub(crate) async fn special(st: &State, cur: &Current, use_: caravel_store::SpecialUse) -> Result<Mailbox, ApiError> {
    let boxes = st.store.mailboxes(cur.user.id).await?;
    boxes
        .into_iter()
        .find(|b| b.special_use == Some(use_))
        .ok_or_else(|| ApiError::not_found(format!("this account has no {use_:?} folder")))
}

/// Moves messages (as IMAP MOVE: one transaction). Into Junk it teaches
/// the classifier "spam", out of Junk "not spam" (the store queues both).
pub async fn move_messages(
    AxState(st): St,
    Full(cur): Full,
    crate::api::JsonBody(m): crate::api::JsonBody<Move>,
) -> ApiResult {
    uids_ok(&m.uids)?;
    let from = folder(&st, &cur, &m.folder).await?;
    let to = folder(&st, &cur, &m.to).await?;
    if from.id == to.id {
        return Err(ApiError::bad_request("The messages are in that folder already."));
    }
    let moved = st.store.copy_messages(from.id, &m.uids, to.id, true).await?;
    Ok(Json(json!({ "moved": moved.len(), "to": to.name })))
}

#[derive(Deserialize)]
pub struct Delete {
    folder: String,
    uids: Vec<u32>,
}

/// To Trash; in Trash (or Junk) for good.
pub async fn delete(
    AxState(st): St,
    Full(cur): Full,
    crate::api::JsonBody(d): crate::api::JsonBody<Delete>,
) -> ApiResult {
    uids_ok(&d.uids)?;
    let from = folder(&st, &cur, &d.folder).await?;
    use caravel_store::SpecialUse::{Junk, Trash};
    if matches!(from.special_use, Some(Trash | Junk)) {
        let gone = st.store.expunge(from.id, &d.uids).await?;
        return Ok(Json(json!({ "deleted": gone.len() })));
    }
    let trash = special(&st, &cur, Trash).await?;
    let moved = st.store.copy_messages(from.id, &d.uids, trash.id, true).await?;
    Ok(Json(json!({ "moved": moved.len(), "to": trash.name })))
}

#[derive(Deserialize)]
pub struct FolderName {
    name: String,
}

/// Empties Trash or Junk.
pub async fn empty(
    AxState(st): St,
    Full(cur): Full,
    crate::api::JsonBody(f): crate::api::JsonBody<FolderName>,
) -> ApiResult {
    let mailbox = folder(&st, &cur, &f.name).await?;
    use caravel_store::SpecialUse::{Junk, Trash};
    if !matches!(mailbox.special_use, Some(Trash | Junk)) {
        return Err(ApiError::bad_request("Only Trash and Junk are emptied this way."));
    }
    let uids: Vec<u32> = st.store.messages(mailbox.id).await?.iter().map(|m| m.uid).collect();
    let gone = st.store.expunge(mailbox.id, &uids).await?;
    Ok(Json(json!({ "deleted": gone.len() })))
}

/// A folder name as IMAP keeps it: "/" between levels, no empty level,
/// no control characters, not too long.
fn folder_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim().trim_matches('/').to_string();
    let bad = name.is_empty()
        || name.len() > 200
        || name.split('/').any(|l| l.trim().is_empty())
        || name.chars().any(|c| c.is_control() || c == '*' || c == '%');
    if bad {
        return Err(ApiError::bad_request("A folder name needs letters; \"/\" separates levels."));
    }
    Ok(name)
}

pub async fn create_folder(
    AxState(st): St,
    Full(cur): Full,
    crate::api::JsonBody(f): crate::api::JsonBody<FolderName>,
) -> ApiResult {
    let name = folder_name(&f.name)?;
    let created = st.store.create_mailbox(cur.user.id, &name).await?;
    Ok(Json(json!({ "created": created.name })))
}

#[derive(Deserialize)]
pub struct Rename {
    from: String,
    to: String,
}

pub async fn rename_folder(
    AxState(st): St,
    Full(cur): Full,
    crate::api::JsonBody(r): crate::api::JsonBody<Rename>,
) -> ApiResult {
    let source = folder(&st, &cur, &r.from).await?;
    if source.special_use.is_some() {
        return Err(ApiError::bad_request(format!("{} is a standard folder; it keeps its name.", source.name)));
    }
    let to = folder_name(&r.to)?;
    st.store.rename_mailbox(cur.user.id, &source.name, &to).await?;
    Ok(Json(json!({ "renamed": to })))
}

pub async fn delete_folder(
    AxState(st): St,
    Full(cur): Full,
    crate::api::JsonBody(f): crate::api::JsonBody<FolderName>,
) -> ApiResult {
    let mailbox = folder(&st, &cur, &f.name).await?;
    if mailbox.special_use.is_some() {
        return Err(ApiError::bad_request(format!("{} is a standard folder; it stays.", mailbox.name)));
    }
    st.store.delete_mailbox(cur.user.id, &mailbox.name).await?;
    Ok(Json(json!({ "deleted": mailbox.name })))
}

// ---- search ----

#[derive(Deserialize)]
pub struct Search {
    folder: String,
    /// Words anywhere: subject, sender, recipients, text.
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    subject: Option<String>,
    /// Unix seconds.
    since: Option<i64>,
    before: Option<i64>,
    #[serde(default)]
    attachment: bool,
}

/// Messages read for a text search, the newest first: beyond, the search
/// says it stopped (IMAP SEARCH has no such limit; a page must answer).
const SEARCH_SCAN: usize = 5000;

/// The folder's messages that match every filter given, newest first:
/// header filters through the store's decoded header index, words also in
/// the decoded text (Chinese included: matched as text, no word breaks).
pub async fn search(AxState(st): St, Full(cur): Full, Query(s): Query<Search>) -> ApiResult {
    let mailbox = folder(&st, &cur, &s.folder).await?;
    let newest_first = [SortCriterion { key: SortKey::Date, reverse: true }];
    let mut uids = st.store.sorted_uids(mailbox.id, &newest_first).await?;
    for (field, value) in [("from", &s.from), ("to", &s.to), ("subject", &s.subject)] {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            let found = header_matches(&st, &mailbox, field, v).await?;
            uids.retain(|u| found.contains(u));
        }
    }
    if s.since.is_some() || s.before.is_some() {
        let metas = st.store.messages(mailbox.id).await?;
        uids.retain(|u| {
            metas.iter().find(|m| m.uid == *u).is_some_and(|m| {
                s.since.is_none_or(|t| m.internal_date >= t) && s.before.is_none_or(|t| m.internal_date < t)
            })
        });
    }
    let words = s.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_lowercase);
    let mut truncated = false;
    if words.is_some() || s.attachment {
        if uids.len() > SEARCH_SCAN {
            uids.truncate(SEARCH_SCAN);
            truncated = true;
        }
        let mut kept = Vec::new();
        for chunk in uids.chunks(100) {
            for (uid, raw) in st.store.read_messages(mailbox.id, chunk).await? {
                let Some(m) = MessageParser::default().parse(&raw) else { continue };
                let text_ok = words.as_deref().is_none_or(|w| matches_text(&m, w));
                let attached_ok = !s.attachment || !listed(&m).is_empty();
                if text_ok && attached_ok {
                    kept.push(uid);
                }
            }
        }
        uids.retain(|u| kept.contains(u));
    }
    let page: Vec<u32> = uids.iter().take(MAX_PAGE).copied().collect();
    let found = summaries(&st, &mailbox, &page).await?;
    Ok(Json(json!({ "folder": mailbox.name, "total": uids.len(), "messages": found, "truncated": truncated })))
}

async fn header_matches(st: &State, mailbox: &Mailbox, field: &str, needle: &str) -> Result<Vec<u32>, ApiError> {
    if let Some(found) = st.store.header_search(mailbox.id, field, needle).await? {
        return Ok(found);
    }
    // Messages stored before the index: read them.
    let needle = needle.to_lowercase();
    let all: Vec<u32> = st.store.messages(mailbox.id).await?.iter().map(|m| m.uid).collect();
    let mut out = Vec::new();
    for chunk in all.chunks(100) {
        for (uid, raw) in st.store.read_messages(mailbox.id, chunk).await? {
            let Some(m) = MessageParser::default().parse_headers(&raw) else { continue };
            let value = match field {
                "subject" => m.subject().unwrap_or_default().to_string(),
                "from" => addresses_text(m.from()),
                _ => addresses_text(m.to()),
            };
            if value.to_lowercase().contains(&needle) {
                out.push(uid);
            }
        }
    }
    Ok(out)
}

fn addresses_text(a: Option<&mail_parser::Address>) -> String {
    a.map(|a| {
        a.iter()
            .map(|x| format!("{} {}", x.name().unwrap_or_default(), x.address().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(" ")
    })
    .unwrap_or_default()
}

/// `words` (lowercase) in the subject, the people, or the text.
fn matches_text(m: &mail_parser::Message<'_>, words: &str) -> bool {
    let mut hay = String::new();
    hay.push_str(m.subject().unwrap_or_default());
    hay.push(' ');
    hay.push_str(&addresses_text(m.from()));
    hay.push(' ');
    hay.push_str(&addresses_text(m.to()));
    for i in 0.. {
        match m.body_text(i) {
            Some(t) => {
                hay.push(' ');
                hay.push_str(&t);
            }
            None => break,
        }
    }
    let hay = hay.to_lowercase();
    words.split_whitespace().all(|w| hay.contains(w))
}

// ---- live updates ----

#[derive(Deserialize)]
pub struct Watch {
    folder: String,
}

/// Server-sent events for an open folder: `change` each time its messages
/// change (new mail, flags, moves — from IMAP clients, delivery or another
/// page, through the same notification IDLE uses) and `folders` when the
/// folder list changes. The page reloads what it shows.
pub async fn events(
    AxState(st): St,
    Full(cur): Full,
    Query(w): Query<Watch>,
) -> Result<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    ApiError,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let mailbox = folder(&st, &cur, &w.folder).await?;
    let changes = st.store.watch(mailbox.id);
    let folders = st.store.watch_account(cur.user.id);
    let stream = futures_util::stream::unfold((changes, folders), |(mut changes, mut folders)| async move {
        let event = tokio::select! {
            r = changes.recv() => match r {
                Ok(_) | Err(RecvError::Lagged(_)) => Event::default().event("change").data("{}"),
                Err(RecvError::Closed) => return None,
            },
            r = folders.recv() => match r {
                Ok(()) | Err(RecvError::Lagged(_)) => Event::default().event("folders").data("{}"),
                Err(RecvError::Closed) => return None,
            },
        };
        Some((Ok(event), (changes, folders)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(20))))
}

#[cfg(test)]
mod tests {
    use super::conversation_page;

    #[test]
    fn conversation_pages_never_skip_a_conversation() {
        let long: Vec<(u32, usize)> = (1..=7).map(|u| (u, 1)).collect();
        let (a, b, c) = ([(10, 0)], [(20, 0), (21, 1)], [(30, 0)]);
        let all: Vec<&[(u32, usize)]> = vec![&a, &long, &b, &c];
        // Rows for 5: the first alone, then the long one cut, then the rest.
        let (rows, next) = conversation_page(&all, 0, 50, 5);
        assert_eq!((rows.iter().map(|r| r.0).collect::<Vec<_>>(), next), (vec![10], 1));
        let (rows, next) = conversation_page(&all, 1, 50, 5);
        assert_eq!((rows.len(), rows[0].3, next), (5, 7, 2));
        let (rows, next) = conversation_page(&all, 2, 50, 5);
        assert_eq!((rows.iter().map(|r| r.0).collect::<Vec<_>>(), next), (vec![20, 21, 30], 4));
        // `limit` counts conversations.
        assert_eq!(conversation_page(&all, 2, 1, 5).1, 3);
    }
}
