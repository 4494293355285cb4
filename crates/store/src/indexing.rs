//! What the store keeps about a message besides its bytes, computed once
//! when the message is stored, whatever the backend: the IMAP envelope and
//! body structure (FETCH), the decoded header text (SEARCH), the SORT and
//! THREAD keys (RFC 5256) and the Message-ID (the mail log). Both backends
//! keep these in the same columns and read them back the same way.

use crate::mime::{self, BodyPart, Envelope};
use crate::sort_keys::{SortCriterion, SortKey, SortKeys};
use crate::{stored_envelope, Result, StoreError};

/// A message analyzed for storing: parsed once per delivery, however many
/// copies are stored.
pub(crate) struct Indexed {
    /// Decoded header text for SEARCH (`messages.s_*`).
    pub search: mime::SearchText,
    /// `stored_envelope::encode` (`messages.envelope`).
    pub envelope: Vec<u8>,
    /// The MIME structure as JSON (`messages.structure`).
    pub structure: String,
    pub message_id: Option<String>,
    pub sort_keys: SortKeys,
}

impl Indexed {
    /// Parses `raw`. CPU work proportional to the message: run it off the
    /// async runtime (`spawn_blocking`).
    pub(crate) fn of(raw: &[u8]) -> Result<Indexed> {
        let (env, body) = mime::analyze(raw);
        Ok(Indexed {
            search: mime::search_text(raw),
            message_id: env.message_id.clone(),
            sort_keys: SortKeys::of(&env, raw),
            envelope: stored_envelope::encode(&env),
            structure: serde_json::to_string(&body).map_err(|e| StoreError::Backend(e.to_string()))?,
        })
    }
}

/// A message's stored envelope and structure, as [`Indexed`] wrote them; an
/// error for a stored form that cannot be read (written before the MIME
/// depth limit, or damaged), which the caller then analyzes again from the
/// message's bytes.
pub(crate) fn decode_stored(envelope: &[u8], structure: &str) -> std::result::Result<(Envelope, BodyPart), String> {
    let env = stored_envelope::decode(envelope)?;
    let body = serde_json::from_str::<BodyPart>(structure).map_err(|e| e.to_string())?;
    Ok((env, body))
}

/// The `sort_keys` column a key sorts by. Text columns hold case-mapped
/// strings, so byte order (SQLite's BINARY, PostgreSQL's "C" collation,
/// which the PostgreSQL schema gives these columns) is the
/// i;unicode-casemap order.
pub(crate) fn sort_column(key: SortKey) -> &'static str {
    match key {
        SortKey::Arrival => "arrival",
        SortKey::Cc => "cc_addr",
        SortKey::Date => "date",
        SortKey::From => "from_addr",
        SortKey::Size => "size",
        SortKey::Subject => "subject",
        SortKey::To => "to_addr",
        SortKey::DisplayFrom => "from_display",
        SortKey::DisplayTo => "to_display",
    }
}

/// `ORDER BY` over `sort_keys` for the criteria; ties are broken by UID,
/// which is the sequence number's order, never reversed (RFC 5256 §3).
pub(crate) fn sort_order_by(criteria: &[SortCriterion]) -> String {
    let mut out: Vec<String> =
        criteria.iter().map(|c| format!("{}{}", sort_column(c.key), if c.reverse { " DESC" } else { "" })).collect();
    out.push("uid".into());
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_by_reverses_only_its_criterion_and_ends_with_the_uid() {
        let c = |key, reverse| SortCriterion { key, reverse };
        assert_eq!(sort_order_by(&[c(SortKey::Date, false)]), "date, uid");
        assert_eq!(
            sort_order_by(&[c(SortKey::Subject, true), c(SortKey::Size, false), c(SortKey::DisplayTo, true)]),
            "subject DESC, size, to_display DESC, uid"
        );
    }

    #[test]
    fn what_is_stored_reads_back() {
        let raw = b"From: Ana <ana@far.test>\r\nSubject: Re: Quote\r\nMessage-ID: <q1@far.test>\r\n\r\nhi\r\n";
        let indexed = Indexed::of(raw).expect("index");
        assert_eq!(indexed.message_id.as_deref(), Some("<q1@far.test>"));
        assert!(indexed.search.subject.contains("re: quote"), "{:?}", indexed.search.subject);
        let (env, body) = decode_stored(&indexed.envelope, &indexed.structure).expect("decode");
        assert_eq!(env.subject.as_deref(), Some("Re: Quote"));
        assert_eq!(body.end, raw.len() as u64);
        assert!(decode_stored(&indexed.envelope, "{").is_err());
    }
}
