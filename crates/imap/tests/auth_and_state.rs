//! CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE, LOGOUT and the state rules.

mod common;

use caravel_imap::session::Next;
use common::*;

#[tokio::test]
async fn nothing_but_starttls_before_tls() {
    let h = Harness::new().await;
    let mut s = h.session(false);
    let caps = run(&mut s, "c CAPABILITY").await;
    assert!(caps.contains("STARTTLS") && caps.contains("LOGINDISABLED") && !caps.contains("AUTH=PLAIN"), "{caps}");
    assert!(run(&mut s, &format!("l LOGIN {USER} {PASSWORD}")).await.starts_with("l NO [PRIVACYREQUIRED]"));
    assert!(run(&mut s, "a AUTHENTICATE PLAIN AGFsaWNl").await.starts_with("a NO [PRIVACYREQUIRED]"));
    assert!(run(&mut s, "s SELECT INBOX").await.starts_with("s BAD"));
    let step = s.command(b"t STARTTLS\r\n").await;
    assert_eq!(step.next, Next::StartTls);
    s.tls_started();
    let caps = run(&mut s, "c CAPABILITY").await;
    assert!(caps.contains("AUTH=PLAIN") && !caps.contains("LOGINDISABLED") && !caps.contains("STARTTLS"), "{caps}");
}

#[tokio::test]
async fn login_and_authenticate() {
    let h = Harness::new().await;
    let mut s = h.session(true);
    let bad = s.command(format!("l LOGIN {USER} wrong\r\n").as_bytes()).await;
    assert!(bad.auth_failed && String::from_utf8_lossy(&bad.out).starts_with("l NO [AUTHENTICATIONFAILED]"));
    let token = caravel_auth::sasl::encode(format!("\0{USER}\0{PASSWORD}").as_bytes());
    let ok = run(&mut s, &format!("a AUTHENTICATE PLAIN {token}")).await;
    assert!(ok.starts_with("a OK [CAPABILITY"), "{ok}");
    assert!(run(&mut s, &format!("l LOGIN {USER} {PASSWORD}")).await.starts_with("l BAD"), "already signed in");

    let mut s = h.session(true);
    let step = s.command(b"a AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(step.next, Next::AuthResponse("a".into()));
    assert!(s.sasl_response("a", &token).await.out.starts_with(b"a OK"));
    // A quoted password with spaces, and a literal user name.
    let mut s = h.session(true);
    let out = run_raw(&mut s, format!("q LOGIN {{{}}}\r\n{USER} \"{PASSWORD}\"\r\n", USER.len()).as_bytes()).await;
    assert!(out.starts_with("q OK"), "{out}");
}

#[tokio::test]
async fn repeated_bad_commands_end_the_session() {
    let h = Harness::new().await;
    let mut s = h.session(true);
    for i in 0..4 {
        assert_eq!(s.command(format!("x{i} FROB\r\n").as_bytes()).await.next, Next::Command);
    }
    let last = s.command(b"x5 FROB\r\n").await;
    assert_eq!(last.next, Next::Close);
    assert!(String::from_utf8_lossy(&last.out).contains("* BYE"));
}

#[tokio::test]
async fn logout_says_bye() {
    let h = Harness::new().await;
    let mut s = h.signed_in().await;
    let step = s.command(b"z LOGOUT\r\n").await;
    assert_eq!(step.next, Next::Close);
    assert_eq!(String::from_utf8_lossy(&step.out), "* BYE Logging out\r\nz OK LOGOUT completed\r\n");
}

#[tokio::test]
async fn sessions_per_account_are_limited() {
    let h = Harness::new().await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(h.signed_in().await);
    }
    let mut fourth = h.session(true);
    let out = run(&mut fourth, &format!("l LOGIN {USER} {PASSWORD}")).await;
    assert!(out.starts_with("l NO [LIMIT]"), "{out}");
    held.pop();
    let mut again = h.session(true);
    assert!(run(&mut again, &format!("l LOGIN {USER} {PASSWORD}")).await.starts_with("l OK"), "a slot freed");
}

#[tokio::test]
async fn imap4rev2_once_enabled() {
    let h = Harness::new().await;
    h.deliver(SIMPLE).await;
    let mut s = h.signed_in().await;
    assert!(run(&mut s, "c CAPABILITY").await.contains("IMAP4rev1 IMAP4rev2"));
    let before = run(&mut s, "a SELECT INBOX").await;
    assert!(before.contains("* 1 RECENT") && before.contains("[UNSEEN 1]"), "rev1 by default: {before}");
    assert!(run(&mut s, "b SEARCH ALL").await.starts_with("* SEARCH 1\r\n"));
    assert_eq!(run(&mut s, "e ENABLE IMAP4rev2").await, "* ENABLED IMAP4rev2\r\ne OK ENABLE completed\r\n");
    let after = run(&mut s, "a SELECT INBOX").await;
    assert!(!after.contains("RECENT") && !after.contains("[UNSEEN"), "{after}");
    assert!(run(&mut s, "b SEARCH ALL").await.starts_with("* ESEARCH (TAG \"b\") ALL 1\r\n"));
    assert!(run(&mut s, "b UID SEARCH DELETED").await.starts_with("* ESEARCH (TAG \"b\") UID\r\n"));
    assert_eq!(run(&mut s, "e ENABLE IMAP4rev2").await, "* ENABLED\r\ne OK ENABLE completed\r\n", "only once");
}

/// RFC 9051 §6.3.2: a SELECT that fails still leaves the selected mailbox;
/// IMAP4rev2 gets an untagged LIST of the mailbox it selects.
#[tokio::test]
async fn failed_select_deselects_and_rev2_select_lists_the_mailbox() {
    let h = Harness::new().await;
    let mut s = h.signed_in().await;
    run(&mut s, "s SELECT INBOX").await;
    let out = run(&mut s, "s SELECT \"bad&name\"").await;
    assert!(out.contains("* OK [CLOSED]") && out.contains("s NO"), "{out}");
    assert!(run(&mut s, "f FETCH 1 FLAGS").await.starts_with("f BAD"), "nothing selected any more");
    run(&mut s, "e ENABLE IMAP4rev2").await;
    let out = run(&mut s, "s SELECT INBOX").await;
    assert!(out.contains("* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"\r\n"), "{out}");
}
