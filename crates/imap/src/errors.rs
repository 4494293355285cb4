//! Store errors as the text of a `NO` reply, in one place. A backend failure
//! is logged and answered in general words: its text (SQL, paths) is for
//! the operator, never for the client.

use caravel_store::StoreError;

/// The response code and text for a command the store could not carry out.
pub fn store_failure(e: &StoreError) -> String {
    match e {
        StoreError::Backend(detail) => {
            tracing::error!(error = %detail, "storage failure");
            "[UNAVAILABLE] Storage failure, try again later".to_string()
        }
        StoreError::Full(detail) => {
            tracing::error!(error = %detail, "mail storage full");
            "[OVERQUOTA] The mail server's storage is full; try again later".to_string()
        }
        // RFC 5530 §3: the account is over its limit.
        StoreError::OverQuota(_) => format!("[OVERQUOTA] {e}"),
        StoreError::Conflict(_) => format!("[ALREADYEXISTS] {e}"),
        StoreError::NotFound(_) => format!("[NONEXISTENT] {e}"),
        StoreError::Invalid(_) => format!("[CANNOT] {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_text_never_reaches_the_client() {
        let e = StoreError::Backend("UNIQUE constraint failed: mailboxes.account_id, mailboxes.name".into());
        let text = store_failure(&e);
        assert!(text.starts_with("[UNAVAILABLE]") && !text.contains("UNIQUE"), "{text}");
        assert!(store_failure(&StoreError::Conflict("x exists".into())).starts_with("[ALREADYEXISTS]"));
    }
}
