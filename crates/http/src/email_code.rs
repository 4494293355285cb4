//! The emailed sign-in code: six digits sent to the account's recovery
//! address through Caravel's own delivery (a local mailbox at once, another
//! domain through the outbound queue).

use std::sync::Arc;

use caravel_store::{now_secs, Address, Store};

/// How long a code works.
pub const VALID_SECS: i64 = 600;
/// Time between two codes for one sign-in.
pub const RESEND_SECS: i64 = 60;
/// Codes one sign-in may ask for.
pub const MAX_SENT: u32 = 5;
/// Wrong tries before a code stops working.
pub const MAX_FAILURES: u32 = 5;

pub fn new_code() -> String {
    format!("{:06}", rand::random_range(0..1_000_000u32))
}

/// The sign-in code message.
pub fn code_message(account_address: &str, code: &str) -> (String, String) {
    (
        format!("Your sign-in code: {code}"),
        format!(
            "Someone (we hope you) is signing in to {account_address} and asked for a code.\r\n\r\n\
             Your code is: {code}\r\n\r\nIt works once, for the next 10 minutes. If this was not you, change your\r\n\
             password and tell your administrator.\r\n"
        ),
    )
}

/// The password-reset message.
pub fn reset_message(account_address: &str, token: &str) -> (String, String) {
    (
        format!("Reset the password of {account_address}"),
        format!(
            "Someone (we hope you) asked to reset the password of {account_address}.\r\n\r\n\
             Your reset code is: {token}\r\n\r\nIt works once, for the next 15 minutes. If this was not you, ignore this\r\n\
             message: the password stays as it is.\r\n"
        ),
    )
}

/// Sends a plain-text notice to `recovery` through Caravel's own delivery.
pub async fn send(
    store: &Arc<dyn Store>,
    hostname: &str,
    recovery: &str,
    (subject, body): (String, String),
) -> Result<(), String> {
    let to = Address::parse(recovery).map_err(|e| format!("the recovery address is not valid: {e}"))?;
    let date = caravel_store::rfc5322_date(now_secs());
    let message = format!(
        "From: Caravel <postmaster@{hostname}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: <{}@{hostname}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Auto-Submitted: auto-generated\r\n\r\n{body}",
        crate::cookie::new_token()
    );
    let sender = format!("postmaster@{hostname}");
    caravel_store::send_system_mail(store.as_ref(), &to.to_string(), &sender, message.into_bytes(), "web-sign-in").await
}
