//! Decoded header text for SEARCH (`messages.s_*`, see `mime::SearchText`)
//! for messages stored without it: before migration 4, or forgotten by
//! migration 17. Computed from each message's bytes, a chunk per write
//! transaction, the first time a SEARCH of its mailbox needs it; until then
//! (and for a message whose bytes cannot be read) SEARCH reads the
//! envelopes instead, exactly but slowly.

use rusqlite::{params, Connection};

use super::mail::{message_bytes, MESSAGE_BYTES};
use super::{SqliteStore, CHUNK};
use crate::blobs::BlobStore;
use crate::mime;
use crate::model::MailboxId;
use crate::Result;

impl SqliteStore {
    /// Fills in the header text the mailbox's messages lack. Returns how
    /// many got theirs.
    pub(crate) async fn fill_search_text(&self, mailbox: MailboxId) -> Result<usize> {
        let blobs = self.blobs.clone();
        let mut filled = 0;
        self.write_in_chunks(move |c, after| fill_chunk(c, &blobs, mailbox, after), |n| filled += n).await?;
        if filled > 0 {
            tracing::info!(mailbox, messages = filled, "SEARCH header text computed for messages stored without it");
        }
        Ok(filled)
    }
}

/// The header text of up to `CHUNK` messages without it, UIDs above
/// `after`. Returns the last UID looked at (None when there are no more)
/// and how many were filled.
fn fill_chunk(c: &Connection, blobs: &BlobStore, mailbox: MailboxId, after: i64) -> Result<(Option<i64>, usize)> {
    let mut st = c.prepare_cached(&format!(
        "SELECT m.uid, {MESSAGE_BYTES} FROM messages m LEFT JOIN blobs b ON b.hash = m.blob
             WHERE m.mailbox_id = ?1 AND m.uid > ?2 AND m.s_subject IS NULL ORDER BY m.uid LIMIT ?3"
    ))?;
    let mut rows = st.query(params![mailbox, after, CHUNK])?;
    let (mut last, mut filled) = (None, 0);
    while let Some(r) = rows.next()? {
        let uid: i64 = r.get(0)?;
        last = Some(uid);
        let raw = match message_bytes(blobs, r, 1)? {
            Ok(raw) => raw,
            Err(e) => {
                tracing::warn!(mailbox, uid, error = %e, "message unreadable; SEARCH reads its envelope instead");
                continue;
            }
        };
        let text = mime::search_text(&raw);
        c.prepare_cached(
            "UPDATE messages SET s_subject = ?3, s_from = ?4, s_to = ?5, s_cc = ?6, s_bcc = ?7
             WHERE mailbox_id = ?1 AND uid = ?2",
        )?
        .execute(params![mailbox, uid, text.subject, text.from, text.to, text.cc, text.bcc])?;
        filled += 1;
    }
    Ok((last, filled))
}
