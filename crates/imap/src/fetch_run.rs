//! FETCH execution (RFC 9051 §6.4.5): \Seen is set first, then the answer is
//! built a chunk at a time. The driver sends each chunk before asking for the
//! next ([`Next::Resume`]), so a FETCH 1:* of a large mailbox never holds more
//! than about [`CHUNK`] of responses (plus one message) in memory.

use std::collections::{HashMap, HashSet};

use caravel_store::mime::{BodyPart, Envelope};
use caravel_store::{FlagMode, Flags, StoreError};

use crate::fetch::{self, FetchItem};
use crate::selected::{flags_text, internal_date, Selected};
use crate::session::{tagged, Context, Next, Step};

/// Responses gathered before they are handed to the driver.
pub const CHUNK: usize = 1 << 20;
/// Messages whose structures are read in one query.
const BATCH: usize = 256;

/// A FETCH in progress: what was asked, and how far it got.
pub struct FetchJob {
    tag: String,
    indexes: Vec<usize>,
    items: Vec<FetchItem>,
    changed_since: Option<u64>,
    /// \Seen was set by this FETCH: FLAGS go with every message (RFC 9051 §6.4.5).
    sets_seen: bool,
    /// CONDSTORE on: a FETCH that sets \Seen also reports UID and MODSEQ
    /// (RFC 7162 §3.1.4.1, §3.2.4).
    condstore: bool,
    done: usize,
}

impl FetchJob {
    pub fn new(
        tag: String,
        indexes: Vec<usize>,
        items: Vec<FetchItem>,
        changed_since: Option<u64>,
        read_only: bool,
        condstore: bool,
    ) -> FetchJob {
        let sets_seen = !read_only && items.iter().any(FetchItem::sets_seen);
        FetchJob { tag, indexes, items, changed_since, sets_seen, condstore, done: 0 }
    }
}

/// Marks the messages read before any is answered, so the FLAGS returned are
/// the new ones.
pub async fn mark_seen(ctx: &Context, sel: &mut Selected, indexes: &[usize]) -> Result<(), StoreError> {
    let unseen: Vec<u32> =
        indexes.iter().map(|&i| &sel.messages[i]).filter(|m| !m.flags.contains(Flags::SEEN)).map(|m| m.uid).collect();
    if unseen.is_empty() {
        return Ok(());
    }
    let modseq = ctx.store.set_flags(sel.mailbox.id, &unseen, Flags::SEEN, &[], FlagMode::Add).await?;
    // The view is updated in place, not read again from the store: a change
    // made meanwhile by another session still shows at the next sync.
    let unseen: HashSet<u32> = unseen.into_iter().collect();
    for m in sel.messages.iter_mut().filter(|m| unseen.contains(&m.uid)) {
        m.flags = m.flags.union(Flags::SEEN);
        m.modseq = modseq;
    }
    Ok(())
}

/// Answers the next chunk of `job` after `out`: the tagged OK when it is the
/// last, otherwise [`Next::Resume`] with the job kept in `sel`.
pub async fn run(ctx: &Context, sel: &mut Selected, mut job: FetchJob, mut out: Vec<u8>) -> Step {
    match fetch_chunk(ctx, sel, &mut job, &mut out).await {
        Ok(()) if job.done < job.indexes.len() => {
            sel.fetching = Some(job);
            Step { out, next: Next::Resume, auth_failed: false }
        }
        Ok(()) => {
            out.extend(tagged(&job.tag, "OK", "FETCH completed"));
            Step { out, next: Next::Command, auth_failed: false }
        }
        Err(FetchError::Store(e)) => {
            out.extend(tagged(&job.tag, "NO", &crate::errors::store_failure(&e)));
            Step { out, next: Next::Command, auth_failed: false }
        }
        Err(FetchError::UnknownCte) => {
            out.extend(tagged(&job.tag, "NO", "[UNKNOWN-CTE] Cannot decode the part's transfer encoding"));
            Step { out, next: Next::Command, auth_failed: false }
        }
    }
}

/// The bodies of the first of `indexes` (into the view) and of those after
/// it, up to `budget` bytes in all (what is left of the response chunk, so
/// that none is read for nothing): one store round trip for the last 50
/// messages of a mailbox, not 50. Returns how many were asked for, and the
/// bodies (none if the read failed).
async fn read_bodies(
    ctx: &Context,
    sel: &Selected,
    indexes: impl Iterator<Item = usize>,
    budget: u64,
) -> (usize, HashMap<u32, Vec<u8>>) {
    let mut total = 0;
    let uids: Vec<u32> = indexes
        .map(|i| &sel.messages[i])
        .take_while(|m| {
            let first = total == 0;
            total += m.size.max(1);
            first || total <= budget
        })
        .map(|m| m.uid)
        .collect();
    match ctx.store.read_messages(sel.mailbox.id, &uids).await {
        Ok(bodies) => (uids.len(), bodies.into_iter().collect()),
        Err(_) => (uids.len(), HashMap::new()),
    }
}

async fn fetch_chunk(ctx: &Context, sel: &Selected, job: &mut FetchJob, out: &mut Vec<u8>) -> Result<(), FetchError> {
    let items = &job.items;
    // BODY[] (what most clients download) is the message as stored: no
    // structure to read and decode for it.
    let needs_body = items.iter().any(|i| match i {
        FetchItem::Section { section, .. } => !section.is_whole(),
        _ => matches!(
            i,
            FetchItem::Body | FetchItem::BodyStructure | FetchItem::Binary { .. } | FetchItem::BinarySize { .. }
        ),
    });
    let needs_structure = needs_body || items.contains(&FetchItem::Envelope);
    let needs_raw = items.iter().any(|i| {
        matches!(
            i,
            FetchItem::Rfc822
                | FetchItem::Rfc822Header
                | FetchItem::Rfc822Text
                | FetchItem::Section { .. }
                | FetchItem::Binary { .. }
                | FetchItem::BinarySize { .. }
        )
    });
    let batch: Vec<usize> = job.indexes[job.done..].iter().take(BATCH).copied().collect();
    // One allocation for the chunk rather than doubling as it grows.
    out.reserve(CHUNK.min(batch.len() * 512));
    // One query for the batch's structures, not one per message; for
    // ENVELOPE alone, the batch's envelopes only (no structure to decode).
    let uids: Vec<u32> = batch.iter().map(|&i| sel.messages[i].uid).collect();
    let mut structures: HashMap<u32, (Envelope, BodyPart)> = if needs_body {
        ctx.store.structures(sel.mailbox.id, &uids).await?
    } else if needs_structure {
        let envelopes = ctx.store.envelopes_of(sel.mailbox.id, &uids).await?;
        envelopes.into_iter().map(|(uid, e)| (uid, (e, BodyPart::default()))).collect()
    } else {
        HashMap::new()
    };
    let sets_seen = job.sets_seen;
    let items = &job.items;
    let wanted = |i: usize| job.changed_since.is_none_or(|n| sel.messages[i].modseq > n);
    let mut bodies: HashMap<u32, Vec<u8>> = HashMap::new();
    // The messages (of those wanted) the last group read covered: one that
    // is missing from it is read alone, not with a new group.
    let mut covered = 0usize;
    for (k, &i) in batch.iter().enumerate() {
        job.done += 1;
        let m = &sel.messages[i];
        if !wanted(i) {
            continue;
        }
        let structure = structures.remove(&m.uid);
        let raw = if needs_raw {
            if covered == 0 {
                let budget = CHUNK.saturating_sub(out.len()) as u64;
                (covered, bodies) =
                    read_bodies(ctx, sel, batch[k..].iter().copied().filter(|&j| wanted(j)), budget).await;
            }
            covered -= 1;
            match bodies.remove(&m.uid) {
                Some(raw) => Some(raw),
                // Not in the group (its read failed, or it was expunged):
                // this message alone, as before.
                None => ctx.store.read_message(m).await.ok(),
            }
        } else {
            None
        };
        if (needs_structure && structure.is_none()) || (needs_raw && raw.is_none()) {
            // Expunged by another session meanwhile: nothing to show.
            continue;
        }
        let mut line = format!("* {} FETCH (", i + 1).into_bytes();
        let mut first = true;
        let mut flags_sent = false;
        for item in items {
            if !first {
                line.push(b' ');
            }
            first = false;
            match item {
                FetchItem::Flags => {
                    flags_sent = true;
                    line.extend(format!("FLAGS ({})", flags_text(m, sel.is_recent(m.uid))).into_bytes());
                }
                FetchItem::Uid => line.extend(format!("UID {}", m.uid).into_bytes()),
                FetchItem::InternalDate => line.extend(
                    format!("INTERNALDATE \"{}\"", internal_date(m.internal_date, m.internal_zone)).into_bytes(),
                ),
                FetchItem::Rfc822Size => line.extend(format!("RFC822.SIZE {}", m.size).into_bytes()),
                FetchItem::ModSeq => line.extend(format!("MODSEQ ({})", m.modseq).into_bytes()),
                FetchItem::Envelope => {
                    line.extend_from_slice(b"ENVELOPE ");
                    if let Some((env, _)) = &structure {
                        fetch::envelope(&mut line, env);
                    }
                }
                FetchItem::Body | FetchItem::BodyStructure => {
                    let ext = matches!(item, FetchItem::BodyStructure);
                    line.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
                    if let Some((_, body)) = &structure {
                        fetch::body_structure(&mut line, body, ext);
                    }
                }
                FetchItem::Rfc822 | FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
                    let raw = raw.as_deref().unwrap_or_default();
                    let body_start =
                        structure.as_ref().map(|s| s.1.body_start as usize).unwrap_or_else(|| header_end(raw));
                    let (name, data) = match item {
                        FetchItem::Rfc822 => ("RFC822", raw),
                        FetchItem::Rfc822Header => ("RFC822.HEADER", &raw[..body_start.min(raw.len())]),
                        _ => ("RFC822.TEXT", &raw[body_start.min(raw.len())..]),
                    };
                    line.extend(format!("{name} ").into_bytes());
                    fetch::string(&mut line, data);
                }
                FetchItem::Section { section, partial, .. } => {
                    let raw = raw.as_deref().unwrap_or_default();
                    let data = if section.is_whole() {
                        raw.to_vec()
                    } else {
                        structure.as_ref().and_then(|(_, b)| fetch::section_bytes(raw, b, section)).unwrap_or_default()
                    };
                    let data = fetch::apply_partial(data, *partial);
                    let origin = partial.map(|(o, _)| format!("<{o}>")).unwrap_or_default();
                    line.extend(format!("BODY[{}]{origin} ", fetch::section_name(section)).into_bytes());
                    fetch::string(&mut line, &data);
                }
                FetchItem::Binary { section, partial, .. } => {
                    let raw = raw.as_deref().unwrap_or_default();
                    let decoded = binary_section(raw, structure.as_ref().map(|s| &s.1), section)?;
                    let data = fetch::apply_partial(decoded, *partial);
                    let origin = partial.map(|(o, _)| format!("<{o}>")).unwrap_or_default();
                    let name = fetch::section_name(section);
                    line.extend(format!("BINARY[{name}]{origin} ~{{{}}}\r\n", data.len()).into_bytes());
                    line.extend_from_slice(&data);
                }
                FetchItem::BinarySize { section } => {
                    let raw = raw.as_deref().unwrap_or_default();
                    let decoded = binary_section(raw, structure.as_ref().map(|s| &s.1), section)?;
                    let name = fetch::section_name(section);
                    line.extend(format!("BINARY.SIZE[{name}] {}", decoded.len()).into_bytes());
                }
            }
        }
        if sets_seen && !flags_sent {
            line.extend(format!(" FLAGS ({})", flags_text(m, sel.is_recent(m.uid))).into_bytes());
        }
        if sets_seen && job.condstore {
            if !items.contains(&FetchItem::Uid) {
                line.extend(format!(" UID {}", m.uid).into_bytes());
            }
            if !items.contains(&FetchItem::ModSeq) {
                line.extend(format!(" MODSEQ ({})", m.modseq).into_bytes());
            }
        }
        line.extend_from_slice(b")\r\n");
        out.extend(line);
        if out.len() >= CHUNK {
            break;
        }
    }
    Ok(())
}

fn header_end(raw: &[u8]) -> usize {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4).unwrap_or(raw.len())
}

/// BINARY of any section: a part (or the whole message) decoded; HEADER,
/// TEXT, MIME and HEADER.FIELDS are not content with an encoding, and come
/// as they are, as BODY[] would give them (Dovecot does the same).
fn binary_section(raw: &[u8], root: Option<&BodyPart>, section: &fetch::Section) -> Result<Vec<u8>, FetchError> {
    match (&section.text, root) {
        (fetch::SectionText::All, _) => binary(raw, root, &section.part),
        (_, Some(root)) => Ok(fetch::section_bytes(raw, root, section).unwrap_or_default()),
        (_, None) => Ok(Vec::new()),
    }
}

/// BINARY[part] (RFC 3516 §4.2): the part with its transfer encoding removed;
/// an empty section is the whole message, as with BODY[]. A part that does
/// not exist is empty.
pub(crate) fn binary(raw: &[u8], root: Option<&BodyPart>, part: &[u32]) -> Result<Vec<u8>, FetchError> {
    if part.is_empty() {
        return Ok(raw.to_vec());
    }
    let Some(p) = root.and_then(|r| fetch::find_part(r, part)) else { return Ok(Vec::new()) };
    let data = raw.get(p.body_start as usize..p.end as usize).unwrap_or_default();
    match p.encoding.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("base64") => Ok(caravel_store::mime::decode_base64(data)),
        Some("quoted-printable") => Ok(caravel_store::mime::decode_quoted_printable(data)),
        None | Some("7bit" | "8bit" | "binary") => Ok(data.to_vec()),
        // RFC 3516 §4.3: an encoding the server cannot undo fails the FETCH.
        Some(_) => Err(FetchError::UnknownCte),
    }
}

/// Why a FETCH stopped.
pub enum FetchError {
    Store(StoreError),
    /// A BINARY part's transfer encoding cannot be decoded (RFC 3516 §4.3).
    UnknownCte,
}

impl From<StoreError> for FetchError {
    fn from(e: StoreError) -> Self {
        FetchError::Store(e)
    }
}
