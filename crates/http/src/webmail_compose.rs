//! Webmail, writing: what the composer offers (the addresses one may send
//! as, the size limit), address suggestions, uploads, the signature the
//! server will add, drafts kept in Drafts, and sending through the same
//! submission as port 587 (the binary's [`crate::Submission`]) with a copy
//! in Sent. Answers are threaded (In-Reply-To, References) and mark the
//! original \Answered; forwards mark it `$Forwarded` (RFC 5788 registry).

use std::sync::Arc;

use axum::extract::{Extension, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use caravel_store::{Delivery, Flags, MailboxTarget, SpecialUse, Target};
use mail_parser::MimeHeaders;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{Current, Full, JsonBody};
use crate::api_error::ApiError;
use crate::compose_message::{self as cm, Attachment, Composed, Person};
use crate::webmail_api::{folder, listed, parse, person, raw, special};
use crate::webmail_uploads::{read_upload, uploads_dir};
use crate::{Client, State};

type St = AxState<Arc<State>>;
type ApiResult = Result<Json<Value>, ApiError>;

/// The largest message when no submission is wired (tests of reading).
const DEFAULT_MAX_MESSAGE: u64 = 25 << 20;
/// Correspondents read for suggestions: the newest of Sent and Inbox.
const CONTACT_SCAN: usize = 300;
const MAX_SUGGESTIONS: usize = 10;

pub(crate) fn max_message(st: &State) -> u64 {
    st.submission.as_ref().map_or(DEFAULT_MAX_MESSAGE, |s| s.max_message_size())
}

/// The addresses the user may send as: their own, then the aliases that
/// deliver to them (what the submission's sender check allows).
async fn identities(st: &State, cur: &Current) -> Result<Vec<Person>, ApiError> {
    let own = caravel_store::Address::parse(&cur.user.address).map(|a| a.key()).unwrap_or_default();
    let name = cur.user.name.clone().filter(|n| !n.trim().is_empty());
    let mut out = vec![Person { name: name.clone(), address: cur.user.address.clone() }];
    for alias in st.store.list_aliases().await? {
        let mine = alias.targets.iter().any(|t| caravel_store::Address::parse(t).is_ok_and(|t| t.key() == own));
        if mine {
            out.push(Person { name: name.clone(), address: alias.address });
        }
    }
    Ok(out)
}

pub async fn compose_info(AxState(st): St, Full(cur): Full) -> ApiResult {
    let people: Vec<Value> =
        identities(&st, &cur).await?.into_iter().map(|p| json!({ "address": p.address, "name": p.name })).collect();
    let boxes = st.store.mailboxes(cur.user.id).await?;
    let named = |u: SpecialUse| boxes.iter().find(|b| b.special_use == Some(u)).map(|b| b.name.clone());
    Ok(Json(json!({
        "identities": people,
        "max_message_size": max_message(&st),
        "drafts": named(SpecialUse::Drafts),
        "sent": named(SpecialUse::Sent),
        "can_send": st.submission.is_some(),
    })))
}

// ---- address suggestions ----

#[derive(Deserialize)]
pub struct ContactQuery {
    #[serde(default)]
    q: String,
}

/// One more sighting of `address` (its name kept from the first that had one).
fn add(seen: &mut Vec<(String, Option<String>, usize)>, address: String, name: Option<String>, weight: usize) {
    if address.is_empty() || !address.contains('@') {
        return;
    }
    match seen.iter_mut().find(|(a, _, _)| a.eq_ignore_ascii_case(&address)) {
        Some(entry) => {
            entry.2 += weight;
            if entry.1.is_none() {
                entry.1 = name;
            }
        }
        None => seen.push((address, name, weight)),
    }
}

/// Recent correspondents (whom the user wrote to, who wrote to them), the
/// most frequent and newest first, then the users of the user's domain.
pub async fn contacts(AxState(st): St, Full(cur): Full, Query(c): Query<ContactQuery>) -> ApiResult {
    let needle = c.q.trim().to_lowercase();
    let mut seen: Vec<(String, Option<String>, usize)> = Vec::new();
    let newest_first =
        [caravel_store::sort_keys::SortCriterion { key: caravel_store::sort_keys::SortKey::Date, reverse: true }];
    for (use_, wrote_to) in [(SpecialUse::Sent, true), (SpecialUse::Inbox, false)] {
        let Ok(mailbox) = special(&st, &cur, use_).await else { continue };
        let uids: Vec<u32> =
            st.store.sorted_uids(mailbox.id, &newest_first).await?.into_iter().take(CONTACT_SCAN).collect();
        let envelopes = st.store.envelopes_of(mailbox.id, &uids).await?;
        for (rank, uid) in uids.iter().enumerate() {
            let Some(env) = envelopes.get(uid) else { continue };
            let people: Vec<&caravel_store::mime::EnvelopeAddress> = match wrote_to {
                true => env.to.iter().chain(&env.cc).collect(),
                false => env.from.iter().collect(),
            };
            // Newer and written-to count more.
            let weight = (CONTACT_SCAN - rank) * if wrote_to { 3 } else { 1 };
            for p in people {
                let v = person(p);
                let address = v["address"].as_str().unwrap_or_default().to_string();
                add(&mut seen, address, v["name"].as_str().map(str::to_string), weight);
            }
        }
    }
    seen.sort_by_key(|s| std::cmp::Reverse(s.2));
    let domain = cur.user.address.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
    for u in st.store.list_users().await? {
        if u.address.to_ascii_lowercase().ends_with(&format!("@{domain}")) {
            add(&mut seen, u.address, u.name, 0);
        }
    }
    let own = cur.user.address.to_ascii_lowercase();
    let found: Vec<Value> = seen
        .into_iter()
        .filter(|(a, _, _)| a.to_ascii_lowercase() != own)
        .filter(|(a, n, _)| {
            needle.is_empty()
                || a.to_lowercase().contains(&needle)
                || n.as_deref().is_some_and(|n| n.to_lowercase().contains(&needle))
        })
        .take(MAX_SUGGESTIONS)
        .map(|(address, name, _)| json!({ "address": address, "name": name }))
        .collect();
    Ok(Json(json!({ "contacts": found })))
}

pub(crate) fn too_large(what: &str, max: u64) -> ApiError {
    let mb = max as f64 / (1 << 20) as f64;
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("{what} larger than the largest message the server accepts ({mb:.1} MB)."),
    )
}

// ---- drafts and sending ----

#[derive(Deserialize)]
#[serde(untagged)]
pub enum AttachmentRef {
    Upload { upload: String },
    Stored { folder: String, uid: u32, index: usize },
}

#[derive(Deserialize)]
pub struct MessageRef {
    folder: String,
    uid: u32,
}

#[derive(Deserialize)]
pub struct ForwardRef {
    folder: String,
    uid: u32,
    #[serde(default)]
    as_attachment: bool,
}

/// The recipients and subject, as typed: in a draft and in the signature
/// preview's question (the signature depends on them).
#[derive(Deserialize)]
pub struct Heading {
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    cc: Vec<String>,
    #[serde(default)]
    bcc: Vec<String>,
    #[serde(default)]
    subject: String,
}

#[derive(Deserialize)]
pub struct Draft {
    from: Option<String>,
    #[serde(flatten)]
    heading: Heading,
    #[serde(default)]
    text: String,
    html: Option<String>,
    #[serde(default)]
    attachments: Vec<AttachmentRef>,
    reply_to: Option<MessageRef>,
    forward: Option<ForwardRef>,
    draft_uid: Option<u32>,
}

/// The ids an answer to `raw` threads under: its Message-ID, and its
/// References (or In-Reply-To when it has none).
fn thread_of(raw: &[u8]) -> (Option<String>, Vec<String>) {
    let Some(m) = mail_parser::MessageParser::default().parse_headers(raw) else { return (None, Vec::new()) };
    // Ids as they may be written again: visible ASCII only (a hostile
    // original cannot put a line end into our header).
    let ids = |h: &mail_parser::HeaderValue| -> Vec<String> {
        h.as_text_list()
            .unwrap_or_default()
            .iter()
            .filter(|id| {
                !id.is_empty() && id.len() < 500 && id.bytes().all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
            })
            .map(|id| format!("<{id}>"))
            .collect()
    };
    let mut refs = ids(m.references());
    if refs.is_empty() {
        refs = ids(m.in_reply_to());
    }
    let id =
        m.message_id().map(|id| ids(&mail_parser::HeaderValue::Text(id.into()))).and_then(|v| v.into_iter().next());
    (id, refs)
}

/// Most attachments one message takes (references to stored ones and
/// uploads together).
const MAX_ATTACHMENTS: usize = 100;

/// Reads the draft's attachments into `c`, each stored message once,
/// stopping as soon as they pass the largest message: a draft naming one
/// big attachment a thousand times costs one read, not a thousand.
async fn attach(st: &State, cur: &Current, d: &Draft, c: &mut Composed) -> Result<(), ApiError> {
    if d.attachments.len() > MAX_ATTACHMENTS {
        return Err(ApiError::bad_request(format!("At most {MAX_ATTACHMENTS} attachments in one message.")));
    }
    let max = max_message(st);
    let mut used: u64 = 0;
    let mut read: std::collections::HashMap<(String, u32), Vec<u8>> = std::collections::HashMap::new();
    let uploads = uploads_dir(st, cur);
    for a in &d.attachments {
        match a {
            AttachmentRef::Upload { upload } => {
                let dir = uploads.as_ref().map_err(Clone::clone)?;
                let file = read_upload(dir, upload).await?;
                used += file.bytes.len() as u64;
                c.attachments.push(file);
            }
            AttachmentRef::Stored { folder: f, uid, index } => {
                let key = (f.clone(), *uid);
                if !read.contains_key(&key) {
                    let (_, bytes) = raw(st, cur, f, *uid).await?;
                    read.insert(key.clone(), bytes);
                }
                let bytes = read.get(&key).map(Vec::as_slice).unwrap_or_default();
                let parsed = parse(bytes)?;
                let part = listed(&parsed)
                    .into_iter()
                    .nth(*index)
                    .ok_or_else(|| ApiError::not_found(format!("message {uid} in {f} has no attachment {index}")))?;
                let name: String = crate::webmail_api::part_name(part).chars().filter(|c| !c.is_control()).collect();
                let content_type = part
                    .content_type()
                    .map(|t| format!("{}/{}", t.ctype(), t.subtype().unwrap_or("octet-stream")))
                    .filter(|t| t.bytes().all(|b| b.is_ascii_graphic()))
                    .unwrap_or_else(|| "application/octet-stream".into());
                let (size, entry) = match &part.body {
                    mail_parser::PartType::Message(m) => (m.raw_message().len(), Err((name, m.raw_message().to_vec()))),
                    _ => {
                        (part.contents().len(), Ok(Attachment { name, content_type, bytes: part.contents().to_vec() }))
                    }
                };
                used += size as u64;
                match entry {
                    Ok(file) => c.attachments.push(file),
                    Err(whole) => c.forwarded.push(whole),
                }
            }
        }
        if used > max {
            return Err(too_large("With its attachments, this message is", max));
        }
    }
    Ok(())
}

/// The draft resolved: people parsed, the HTML made safe, attachments
/// read, the answered message's thread found.
async fn resolve(st: &State, cur: &Current, d: &Draft) -> Result<Composed, ApiError> {
    // The user's name on whichever address they send from (the
    // submission checks they may); by default their own address.
    let name = cur.user.name.clone().filter(|n| !n.trim().is_empty());
    let from = match d.from.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        None => Person { name, address: cur.user.address.clone() },
        Some(f) => {
            let typed = cm::parse_person(f).map_err(ApiError::bad_request)?;
            Person { name: typed.name.or(name), ..typed }
        }
    };
    let (to, cc, bcc) = (
        cm::parse_people(&d.heading.to).map_err(ApiError::bad_request)?,
        cm::parse_people(&d.heading.cc).map_err(ApiError::bad_request)?,
        cm::parse_people(&d.heading.bcc).map_err(ApiError::bad_request)?,
    );
    if to.len() + cc.len() + bcc.len() > cm::MAX_RECIPIENTS {
        return Err(ApiError::bad_request(format!("At most {} recipients in one message.", cm::MAX_RECIPIENTS)));
    }
    let subject: String = d.heading.subject.chars().filter(|c| !c.is_control()).take(1000).collect();
    let html = d.html.as_deref().map(|h| crate::safe_html::clean(h, true, None).html);
    let mut c = Composed {
        from: Some(from),
        to,
        cc,
        bcc,
        subject,
        text: d.text.clone(),
        html,
        message_id: format!("{}@{}", hex::encode(rand::random::<[u8; 12]>()), st.hostname),
        date: caravel_store::now_secs(),
        ..Composed::default()
    };
    attach(st, cur, d, &mut c).await?;
    if let Some(r) = &d.reply_to {
        let (_, bytes) = raw(st, cur, &r.folder, r.uid).await?;
        let (id, refs) = thread_of(&bytes);
        c.references = cm::references(&refs, id.as_deref());
        c.in_reply_to = id;
    } else if let (Some(uid), Ok(drafts)) = (d.draft_uid, special(st, cur, SpecialUse::Drafts).await) {
        // A draft reopened keeps the thread it was started in.
        if let Some((_, bytes)) = st.store.read_messages(drafts.id, &[uid]).await?.pop() {
            let m = mail_parser::MessageParser::default().parse_headers(&bytes);
            let answers = m.as_ref().is_some_and(|m| m.in_reply_to().as_text().is_some());
            let (_, refs) = thread_of(&bytes);
            // Our own draft: its In-Reply-To is the last of its References.
            c.in_reply_to = answers.then(|| refs.last().cloned()).flatten();
            c.references = refs;
        }
    }
    if let Some(f) = d.forward.as_ref().filter(|f| f.as_attachment) {
        let (_, bytes) = raw(st, cur, &f.folder, f.uid).await?;
        let subject = parse(&bytes)?.subject().unwrap_or_default().to_string();
        c.forwarded.push((crate::webmail_api::eml_name(&subject), bytes));
    }
    Ok(c)
}

/// The built message, refused when over the server's limit.
fn built(st: &State, c: &Composed) -> Result<Vec<u8>, ApiError> {
    let bytes = cm::build(c).map_err(ApiError::unavailable)?;
    let max = max_message(st);
    if bytes.len() as u64 > max {
        return Err(too_large("With its attachments, this message is", max));
    }
    Ok(bytes)
}

/// Stores `raw` in the account's folder with the role `use_`.
async fn keep(st: &State, cur: &Current, use_: SpecialUse, raw: Vec<u8>, flags: Flags) -> Result<u32, ApiError> {
    let delivery = Delivery {
        raw: Arc::new(raw),
        internal_date: caravel_store::now_secs(),
        targets: vec![Target { flags, user_filed: true, ..Target::new(cur.user.id, MailboxTarget::Special(use_)) }],
        sender: cur.user.address.clone(),
        session: "webmail".into(),
        ..Default::default()
    };
    let stored = st.store.deliver_all(vec![delivery]).await?;
    stored.first().map(|s| s.uid).ok_or_else(|| ApiError::unavailable("the copy was not stored"))
}

/// Removes the draft a saved or sent message replaces.
async fn drop_draft(st: &State, cur: &Current, uid: Option<u32>) -> Result<(), ApiError> {
    if let (Some(uid), Ok(drafts)) = (uid, special(st, cur, SpecialUse::Drafts).await) {
        st.store.expunge(drafts.id, &[uid]).await?;
    }
    Ok(())
}

/// Saves the message being written to Drafts (flagged \Draft, RFC 9051
/// §2.3.2), in place of the draft it replaces.
pub async fn save_draft(AxState(st): St, Full(cur): Full, JsonBody(d): JsonBody<Draft>) -> ApiResult {
    let c = resolve(&st, &cur, &d).await?;
    let bytes = built(&st, &c)?;
    let uid = keep(&st, &cur, SpecialUse::Drafts, bytes, Flags::DRAFT.union(Flags::SEEN)).await?;
    drop_draft(&st, &cur, d.draft_uid).await?;
    let drafts = special(&st, &cur, SpecialUse::Drafts).await?;
    Ok(Json(json!({ "uid": uid, "folder": drafts.name })))
}

/// Sends as port 587 would; a refusal comes back in plain words (status
/// 422) with the SMTP reply, and the draft stays.
pub async fn send(
    AxState(st): St,
    Full(cur): Full,
    Extension(client): Extension<Client>,
    JsonBody(d): JsonBody<Draft>,
) -> Result<Response, ApiError> {
    // Its own task: a browser that goes away mid-send (a closed tab, a lost
    // connection) does not stop it between queueing and keeping the copy
    // in Sent, which would leave the draft to be sent twice.
    tokio::spawn(send_draft(st, cur, client, d)).await.map_err(ApiError::unavailable)?
}

async fn send_draft(st: Arc<State>, cur: Current, client: Client, d: Draft) -> Result<Response, ApiError> {
    let submission = st
        .submission
        .clone()
        .ok_or_else(|| ApiError::unavailable("sending from the web is not wired on this server"))?;
    // The account's switch for sending holds here as on port 587.
    if !cur.user.protocols.allows(caravel_store::Protocol::Smtp) {
        let why = caravel_auth::protocol_off_text(caravel_store::Protocol::Smtp, &cur.user.address);
        return Err(ApiError::forbidden(format!("Not sent: {why}")));
    }
    let c = resolve(&st, &cur, &d).await?;
    let from = c.from.clone().ok_or_else(|| ApiError::bad_request("Choose a From address."))?;
    let mut recipients: Vec<String> = Vec::new();
    for p in c.to.iter().chain(&c.cc).chain(&c.bcc) {
        if !recipients.iter().any(|r| r.eq_ignore_ascii_case(&p.address)) {
            recipients.push(p.address.clone());
        }
    }
    if recipients.is_empty() {
        return Err(ApiError::bad_request("Add at least one recipient."));
    }
    let bytes = built(&st, &c)?;
    let user = caravel_auth::SignedIn { account: cur.user.id, address: cur.user.address.clone() };
    let envelope = crate::Envelope { from: from.address.clone(), recipients };
    let sent = match submission.submit(user, client.ip, envelope, bytes).await {
        Ok(s) => s,
        Err(r) => {
            let body = json!({
                "error": cm::refusal_words(r.code, &r.text, r.recipient.as_deref()),
                "reply": format!("{} {}", r.code, r.text),
                "recipient": r.recipient,
            });
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response());
        }
    };
    // Queued: what follows must not turn the answer into a failure (the
    // message is on its way); a copy that cannot be kept is logged.
    let copy = cm::with_bcc(sent.message, &c.bcc);
    let sent_uid = match keep(&st, &cur, SpecialUse::Sent, copy, Flags::SEEN).await {
        Ok(uid) => Some(uid),
        Err(e) => {
            tracing::warn!(error = %e.message, "webmail: the Sent copy was not stored");
            None
        }
    };
    if let Err(e) = drop_draft(&st, &cur, d.draft_uid).await {
        tracing::warn!(error = %e.message, "webmail: the sent draft was not removed");
    }
    mark_original(&st, &cur, &d).await;
    if let Ok(dir) = uploads_dir(&st, &cur) {
        let used = d.attachments.iter().filter_map(|a| match a {
            AttachmentRef::Upload { upload } => Some(upload),
            AttachmentRef::Stored { .. } => None,
        });
        crate::webmail_uploads::forget(&dir, used).await;
    }
    Ok(Json(json!({
        "sent": true,
        "message_id": format!("<{}>", c.message_id),
        "queue_id": sent.queue_id,
        "sent_uid": sent_uid,
    }))
    .into_response())
}

/// \Answered on what was answered, `$Forwarded` on what was forwarded
/// (what Thunderbird and Apple Mail set and show).
async fn mark_original(st: &State, cur: &Current, d: &Draft) {
    let (target, flag, keyword) = match (&d.reply_to, &d.forward) {
        (Some(r), _) => ((r.folder.as_str(), r.uid), Flags::ANSWERED, None),
        (None, Some(f)) => ((f.folder.as_str(), f.uid), Flags::default(), Some("$Forwarded".to_string())),
        (None, None) => return,
    };
    let Ok(mailbox) = folder(st, cur, target.0).await else { return };
    let keywords: Vec<String> = keyword.into_iter().collect();
    let set = st.store.set_flags(mailbox.id, &[target.1], flag, &keywords, caravel_store::FlagMode::Add).await;
    if let Err(e) = set {
        tracing::warn!(error = %e, "webmail: the original was not marked");
    }
}

// ---- the signature preview ----

#[derive(Deserialize)]
pub struct SignatureQuery {
    #[serde(flatten)]
    heading: Heading,
    #[serde(default)]
    reply: bool,
}

/// What the submission will add to this message (the user's signature for
/// its scenario, the domain's footer): the same code, run on an empty one.
pub async fn signature(AxState(st): St, Full(cur): Full, JsonBody(q): JsonBody<SignatureQuery>) -> ApiResult {
    let people = |f: &[String]| cm::parse_people(f).unwrap_or_default();
    let h = &q.heading;
    let (to, cc, bcc) = (people(&h.to), people(&h.cc), people(&h.bcc));
    let recipients: Vec<String> = to.iter().chain(&cc).chain(&bcc).map(|p| p.address.clone()).collect();
    let empty = Composed {
        from: Some(Person { name: None, address: cur.user.address.clone() }),
        to,
        cc,
        subject: h.subject.chars().filter(|c| !c.is_control()).take(1000).collect(),
        html: Some(String::new()),
        in_reply_to: q.reply.then(|| "<preview@caravel.invalid>".to_string()),
        message_id: "preview@caravel.invalid".into(),
        ..Composed::default()
    };
    let bytes = cm::build(&empty).map_err(ApiError::unavailable)?;
    let sender =
        caravel_personal::compose::Sender { account: cur.user.id, address: &cur.user.address, recipients: &recipients };
    let signed = caravel_personal::compose::add_signatures(st.store.as_ref(), &sender, bytes).await;
    let parsed = parse(&signed)?;
    let text = parsed.body_text(0).map(|t| t.trim_start_matches(['\r', '\n']).trim_end().to_string());
    let html = parsed.body_html(0).map(|h| h.trim().to_string()).filter(|h| !h.is_empty());
    Ok(Json(json!({ "text": text.unwrap_or_default(), "html": html })))
}
