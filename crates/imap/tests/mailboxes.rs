//! CREATE, DELETE, RENAME, SUBSCRIBE, LIST, LSUB, STATUS, NAMESPACE and names.

mod common;

use common::*;

#[tokio::test]
async fn create_list_rename_delete_with_chinese_names() {
    let h = Harness::new().await;
    let mut s = h.signed_in().await;
    assert!(run(&mut s, "c CREATE &W6JiNw-/&YqVO9w-").await.starts_with("c OK"));
    let list = run(&mut s, "l LIST \"\" *").await;
    assert!(list.contains("* LIST (\\HasChildren) \"/\" \"&W6JiNw-\""), "parent created: {list}");
    assert!(list.contains("* LIST (\\HasNoChildren) \"/\" \"&W6JiNw-/&YqVO9w-\""), "{list}");
    assert!(list.contains("\\Sent) \"/\" \"Sent\""), "special-use: {list}");
    assert!(run(&mut s, "c CREATE Sent").await.starts_with("c NO [ALREADYEXISTS]"));
    assert!(run(&mut s, "c CREATE inbox").await.starts_with("c NO [ALREADYEXISTS]"));
    assert!(run(&mut s, "c CREATE Work/").await.starts_with("c OK"), "a trailing separator is allowed");
    assert!(run(&mut s, "l LIST \"\" Work").await.contains("\"Work\""));
    for bad in ["a/../b", "/lead", "a//b", "\"x*y\"", "trail//"] {
        assert!(run(&mut s, &format!("c CREATE {bad}")).await.starts_with("c NO"), "{bad}");
    }
    assert!(run(&mut s, "r RENAME &W6JiNw- Clients").await.starts_with("r OK"));
    let list = run(&mut s, "l LIST \"\" Clients/%").await;
    assert!(list.contains("\"Clients/&YqVO9w-\""), "children renamed: {list}");
    assert!(run(&mut s, "d DELETE Clients/&YqVO9w-").await.starts_with("d OK"));
    assert!(run(&mut s, "d DELETE Nope").await.starts_with("d NO [NONEXISTENT]"));
    assert!(run(&mut s, "d DELETE INBOX").await.starts_with("d NO"));
}

#[tokio::test]
async fn utf8_accept_names_are_sent_as_utf8() {
    let h = Harness::new().await;
    let mut s = h.signed_in().await;
    assert!(run(&mut s, "e ENABLE UTF8=ACCEPT").await.starts_with("* ENABLED UTF8=ACCEPT"));
    assert!(run_raw(&mut s, "c CREATE \"报价\"\r\n".as_bytes()).await.starts_with("c OK"));
    let list = run(&mut s, "l LIST \"\" %").await;
    assert!(list.contains("{6}\r\n报价"), "{list}");
}

#[tokio::test]
async fn list_variants_lsub_status_namespace() {
    let h = Harness::new().await;
    h.deliver(SIMPLE).await;
    let mut s = h.signed_in().await;
    assert_eq!(run(&mut s, "l LIST \"\" \"\"").await, "* LIST (\\Noselect) \"/\" \"\"\r\nl OK LIST completed\r\n");
    let special = run(&mut s, "l LIST (SPECIAL-USE) \"\" *").await;
    assert!(!special.contains("\"INBOX\"") && special.contains("\\Junk"), "{special}");
    let with_status = run(&mut s, "l LIST \"\" INBOX RETURN (STATUS (MESSAGES UNSEEN))").await;
    assert!(with_status.contains("* STATUS \"INBOX\" (MESSAGES 1 UNSEEN 1)"), "{with_status}");
    assert!(run(&mut s, "u UNSUBSCRIBE Junk").await.starts_with("u OK"));
    let lsub = run(&mut s, "s LSUB \"\" *").await;
    assert!(!lsub.contains("Junk") && lsub.contains("\"Trash\""), "{lsub}");
    let subscribed = run(&mut s, "l LIST (SUBSCRIBED) \"\" *").await;
    assert!(!subscribed.contains("Junk") && subscribed.contains("\\Subscribed"), "{subscribed}");
    let status = run(&mut s, "s STATUS inbox (MESSAGES UIDNEXT UNSEEN DELETED SIZE HIGHESTMODSEQ)").await;
    assert!(status.starts_with("* STATUS \"INBOX\" (MESSAGES 1 UIDNEXT 2 UNSEEN 1 DELETED 0 SIZE "), "{status}");
    assert!(run(&mut s, "s STATUS Nope (MESSAGES)").await.starts_with("s NO [NONEXISTENT]"));
    assert!(run(&mut s, "n NAMESPACE").await.starts_with("* NAMESPACE ((\"\" \"/\")) NIL NIL"));
    let quota = run(&mut s, "q GETQUOTAROOT INBOX").await;
    assert!(quota.contains("* QUOTA \"\" (STORAGE 1 10240)"), "{quota}");
}

/// RFC 5258 and RFC 3501 §6.3.8/§6.3.9: missing parents, subscriptions that
/// outlive their mailbox, RETURN (SUBSCRIBED), RECURSIVEMATCH with CHILDINFO,
/// LSUB's \Noselect parents, and RENAME's corner cases.
#[tokio::test]
async fn list_extended_subscriptions_and_missing_parents() {
    let h = Harness::new().await;
    let mut s = h.signed_in().await;
    assert!(run(&mut s, "c CREATE Trade/Asia/Quotes").await.starts_with("c OK"));
    // CREATE does not subscribe (as in Dovecot); the client does.
    let none = run(&mut s, "l LIST (SUBSCRIBED) \"\" \"Trade*\"").await;
    assert_eq!(none, "l OK LIST completed\r\n");
    for name in ["Trade", "Trade/Asia", "Trade/Asia/Quotes"] {
        assert!(run(&mut s, &format!("s SUBSCRIBE {name}")).await.starts_with("s OK"));
    }
    assert!(run(&mut s, "d DELETE Trade/Asia").await.starts_with("d OK"));
    // A parent with no mailbox: \Noselect in RFC 3501 LIST, \NonExistent in LIST-EXTENDED.
    let plain = run(&mut s, "l LIST \"\" Trade/%").await;
    assert!(plain.contains("* LIST (\\Noselect \\HasChildren) \"/\" \"Trade/Asia\""), "{plain}");
    let ext = run(&mut s, "l LIST () \"\" Trade/%").await;
    assert!(ext.contains("* LIST (\\NonExistent \\HasChildren) \"/\" \"Trade/Asia\""), "{ext}");
    // The deleted mailbox is still subscribed; LIST (SUBSCRIBED) shows it.
    let subs = run(&mut s, "l LIST (SUBSCRIBED) \"\" \"Trade/*\"").await;
    assert!(subs.contains("* LIST (\\NonExistent \\HasChildren \\Subscribed) \"/\" \"Trade/Asia\""), "{subs}");
    assert!(subs.contains("* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Trade/Asia/Quotes\""), "{subs}");
    assert!(run(&mut s, "u UNSUBSCRIBE Trade/Asia").await.starts_with("u OK"));
    assert!(run(&mut s, "u UNSUBSCRIBE Trade").await.starts_with("u OK"));
    let ret = run(&mut s, "l LIST \"\" Trade RETURN (SUBSCRIBED)").await;
    assert!(ret.contains("* LIST (\\HasChildren) \"/\" \"Trade\""), "unsubscribed: {ret}");
    let ret = run(&mut s, "l LIST \"\" Trade/Asia/Quotes RETURN (SUBSCRIBED CHILDREN)").await;
    assert!(ret.contains("(\\HasNoChildren \\Subscribed)"), "{ret}");
    // RECURSIVEMATCH: Trade is not subscribed, but a child % cannot reach is.
    let rec = run(&mut s, "l LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %").await;
    assert!(rec.contains("* LIST (\\HasChildren) \"/\" \"Trade\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"), "{rec}");
    assert!(run(&mut s, "l LIST (RECURSIVEMATCH) \"\" %").await.starts_with("l BAD"));
    let lsub = run(&mut s, "l LSUB \"\" %").await;
    assert!(lsub.contains("* LSUB (\\Noselect) \"/\" \"Trade\""), "{lsub}");
    assert!(lsub.contains("* LSUB () \"/\" \"INBOX\""), "{lsub}");
    // RENAME makes missing parents and never moves a mailbox into itself.
    assert!(run(&mut s, "r RENAME Trade Trade/Old").await.starts_with("r NO [CANNOT]"));
    assert!(run(&mut s, "r RENAME Trade/Asia/Quotes Offers/2026/Quotes").await.starts_with("r OK"));
    let list = run(&mut s, "l LIST \"\" Offers/%").await;
    assert!(list.contains("* LIST (\\HasChildren) \"/\" \"Offers/2026\""), "parent created: {list}");
    // STATUS needs at least one item (RFC 9051 §9).
    assert!(run(&mut s, "s STATUS INBOX ()").await.starts_with("s BAD"));
}
