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

async fn folder(st: &State, cur: &Current, name: &str) -> Result<Mailbox, ApiError> {
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

fn person(a: &caravel_store::mime::EnvelopeAddress) -> Value {
    let address = match (&a.mailbox, &a.host) {
        (Some(m), Some(h)) => format!("{m}@{h}"),
        (Some(m), None) => m.clone(),
        _ => String::new(),
    };
    let name = a.name.as_deref().map(|n| decoded("From", &format!("{n} <x@y>")));
    json!({ "name": name.filter(|n| !n.is_empty() && *n != address), "address": address })
}

/// A page of the folder's messages, newest first.
pub async fn messages(AxState(st): St, Full(cur): Full, Query(p): Query<Page>) -> ApiResult {
    let mailbox = folder(&st, &cur, &p.folder).await?;
    let newest_first = [SortCriterion { key: SortKey::Date, reverse: true }];
    let uids = st.store.sorted_uids(mailbox.id, &newest_first).await?;
    let limit = p.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let page: Vec<u32> = uids.iter().skip(p.offset).take(limit).copied().collect();
    let metas = st.store.messages_changed(mailbox.id, &page, None).await?;
    let envelopes = st.store.envelopes_of(mailbox.id, &page).await?;
    let list: Vec<Value> = page
        .iter()
        .filter_map(|uid| {
            let meta = metas.iter().find(|m| m.uid == *uid)?;
            let env = envelopes.get(uid);
            Some(json!({
                "uid": uid,
                "subject": env.and_then(|e| e.subject.as_deref()).map(|s| decoded("Subject", s)).unwrap_or_default(),
                "from": env.and_then(|e| e.from.first()).map(person),
                "date": meta.internal_date,
                "size": meta.size,
                "seen": meta.flags.contains(Flags::SEEN),
                "flagged": meta.flags.contains(Flags::FLAGGED),
            }))
        })
        .collect();
    Ok(Json(json!({ "folder": mailbox.name, "total": uids.len(), "offset": p.offset, "messages": list })))
}

#[derive(Deserialize)]
pub struct One {
    folder: String,
    uid: u32,
    /// Show remote images (the reader agreed).
    #[serde(default)]
    remote: bool,
}

async fn raw(st: &State, cur: &Current, folder_name: &str, uid: u32) -> Result<(Mailbox, Vec<u8>), ApiError> {
    let mailbox = folder(st, cur, folder_name).await?;
    let mut found = st.store.read_messages(mailbox.id, &[uid]).await?;
    let (_, bytes) = found.pop().ok_or_else(|| ApiError::not_found(format!("no message {uid} in {folder_name}")))?;
    Ok((mailbox, bytes))
}

/// One message, decoded: its header fields, its text, its HTML made safe
/// (remote images held back unless `remote`), and its attachments.
pub async fn message(AxState(st): St, Full(cur): Full, Query(q): Query<One>) -> ApiResult {
    let (mailbox, bytes) = raw(&st, &cur, &q.folder, q.uid).await?;
    let parsed =
        MessageParser::default().parse(&bytes).ok_or_else(|| ApiError::bad_request("This message cannot be read."))?;
    let addresses = |list: Option<&mail_parser::Address>| -> Vec<Value> {
        list.map(|a| a.iter().map(|x| json!({ "name": x.name(), "address": x.address() })).collect())
            .unwrap_or_default()
    };
    let text = parsed.body_text(0).map(|t| t.into_owned());
    let cid_base = format!("/api/v1/mail/inline?folder={}&uid={}&cid=", percent(&q.folder), q.uid);
    let html = parsed.body_html(0).map(|h| crate::safe_html::clean(&h, q.remote, Some(&cid_base)));
    let attachments: Vec<Value> = listed(&parsed)
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "index": i,
                "name": a.attachment_name().unwrap_or("attachment"),
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
        "date": parsed.date().map(|d| d.to_timestamp()).or(arrived),
        "message_id": parsed.message_id(),
        "text": text,
        "html": html.as_ref().map(|h| h.html.clone()),
        "remote_images_blocked": html.is_some_and(|h| h.remote_blocked),
        "attachments": attachments,
    })))
}

/// The attachments a reader sees: not the images the HTML shows in place
/// (a Content-ID and no `attachment` disposition).
fn listed<'a>(parsed: &'a mail_parser::Message<'a>) -> Vec<&'a mail_parser::MessagePart<'a>> {
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
    let parsed =
        MessageParser::default().parse(&bytes).ok_or_else(|| ApiError::bad_request("This message cannot be read."))?;
    let cid_base = format!("/api/v1/mail/inline?folder={}&uid={}&cid=", percent(&q.folder), q.uid);
    let body = match parsed.body_html(0) {
        Some(h) => crate::safe_html::clean(&h, q.remote, Some(&cid_base)).html,
        None => String::new(),
    };
    let images = if q.remote { "'self' data: https: http:" } else { "'self' data:" };
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
            (X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        page,
    )
        .into_response())
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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
        percent(name)
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
    let parsed =
        MessageParser::default().parse(&bytes).ok_or_else(|| ApiError::bad_request("This message cannot be read."))?;
    let index = q.index.ok_or_else(|| ApiError::bad_request("Give the attachment's index."))?;
    let part =
        listed(&parsed).into_iter().nth(index).ok_or_else(|| ApiError::not_found(format!("no attachment {index}")))?;
    Ok(download(part.attachment_name().unwrap_or("attachment"), part.contents().to_vec(), None))
}

/// An image the HTML refers to by `cid:`; only images are served this way.
pub async fn inline(AxState(st): St, Full(cur): Full, Query(q): Query<Part>) -> Result<Response, ApiError> {
    let (_, bytes) = raw(&st, &cur, &q.folder, q.uid).await?;
    let parsed =
        MessageParser::default().parse(&bytes).ok_or_else(|| ApiError::bad_request("This message cannot be read."))?;
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
