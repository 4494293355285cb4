//! URLAUTH (RFC 4467) and URLAUTH=BINARY (RFC 5524): GENURLAUTH, URLFETCH
//! and RESETKEY; and the resolution of an IMAP URL to the bytes it names,
//! which CATENATE (RFC 4469) shares.
//!
//! A token is HMAC-SHA-256, under the mailbox's random access key, of the
//! "rump" URL (everything up to the access identifier), in hex. RESETKEY
//! replaces the key, so every URL made with it stops working.

use caravel_auth::token;
use caravel_auth::SignedIn;
use caravel_store::mime::{BodyPart, Envelope};
use caravel_store::{AccountId, Address, Mailbox};

use crate::command::UrlFetch;
use crate::fetch;
use crate::session::{tagged, Session, Step};
use crate::url::{self, ImapUrl};

/// The one mechanism (RFC 4467 §7: INTERNAL is the server's own).
const MECHANISM: &str = "INTERNAL";

/// URLs one URLFETCH or GENURLAUTH may name; more is refused with [LIMIT].
pub const MAX_URLS: usize = 100;

/// What a URL names: the whole message and its structure, and the bytes
/// of the section (with any partial applied).
pub struct Resolved {
    pub raw: Vec<u8>,
    pub structure: (Envelope, BodyPart),
    pub section: Option<fetch::Section>,
    pub url_partial: Option<(u32, Option<u32>)>,
    pub data: Vec<u8>,
}

/// The account a URL's user names, when it is on this server.
async fn owner(session: &Session, user: &SignedIn, url: &ImapUrl) -> Option<AccountId> {
    let Some(name) = &url.user else { return Some(user.account) };
    if name.eq_ignore_ascii_case(&user.address) {
        return Some(user.account);
    }
    let address = Address::parse(name).ok()?;
    session.ctx.store.get_user(&address).await.ok().flatten().map(|u| u.id)
}

/// A URL's mailbox name (UTF-8 once decoded, RFC 5092 §9), checked and
/// INBOX-folded as a command's would be.
async fn mailbox_of(session: &Session, account: AccountId, name: &str) -> Option<Mailbox> {
    let name = crate::session::mailbox_name(name, true).ok()?;
    session.find_mailbox(account, &name).await.ok().flatten()
}

/// The bytes `url` names in `account`'s mail, or `None` when it names
/// nothing (no such mailbox, UIDVALIDITY, UID or section).
pub async fn resolve(session: &Session, account: AccountId, url: &ImapUrl) -> Option<Resolved> {
    let mailbox = mailbox_of(session, account, &url.mailbox).await?;
    if url.uidvalidity.is_some_and(|v| v != mailbox.uidvalidity) {
        return None;
    }
    let store = &session.ctx.store;
    // By UID alone: no listing of the mailbox per URL.
    let (_, raw) = store.read_messages(mailbox.id, &[url.uid]).await.ok()?.into_iter().next()?;
    let structure = store.structure(mailbox.id, url.uid).await.ok()?;
    let section = match &url.section {
        Some(text) => Some(fetch::parse_section(text)?),
        None => None,
    };
    let data = match &section {
        Some(s) => fetch::section_bytes(&raw, &structure.1, s)?,
        None => raw.clone(),
    };
    let data = match url.partial {
        Some((origin, len)) => fetch::apply_partial(data, Some((origin, len.unwrap_or(u32::MAX)))),
        None => data,
    };
    Some(Resolved { raw, structure, section, url_partial: url.partial, data })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the access identifier lets this session fetch (RFC 4467 §3):
/// anyone, any signed-in user, or the one user named. `submit+` is for a
/// submission server acting for that user, which an IMAP session is not.
fn access_allows(access: &str, user: &SignedIn) -> bool {
    let lower = access.to_ascii_lowercase();
    match lower.split_once('+') {
        None => lower == "anonymous" || lower == "authuser",
        Some(("user", who)) => who.eq_ignore_ascii_case(&user.address),
        _ => false,
    }
}

fn valid_access(access: &str) -> bool {
    let lower = access.to_ascii_lowercase();
    match lower.split_once('+') {
        None => lower == "anonymous" || lower == "authuser",
        Some(("user" | "submit", who)) => !who.is_empty(),
        _ => false,
    }
}

/// GENURLAUTH (RFC 4467 §4.2): the URL with its token, for each pair.
pub async fn genurlauth(session: &Session, user: &SignedIn, tag: &str, pairs: &[(String, String)]) -> Step {
    if pairs.len() > MAX_URLS {
        return Step::new(tagged(tag, "NO", &format!("[LIMIT] At most {MAX_URLS} URLs at once")));
    }
    let mut out = Vec::new();
    for (text, mechanism) in pairs {
        if mechanism != MECHANISM {
            return Step::new(tagged(tag, "NO", "Unknown URLAUTH mechanism; INTERNAL is supported"));
        }
        let bad = |why: &str| Step::new(tagged(tag, "NO", &format!("[BADURL {}] {why}", quoted(text))));
        let Some(url) = url::parse(text) else { return bad("Not an IMAP URL naming a message") };
        if !url.access.as_deref().is_some_and(valid_access) {
            return bad("The URL needs ;URLAUTH= with anonymous, authuser, user+name or submit+name");
        }
        if !url.absolute || url.auth.is_some() {
            return bad("The URL must be absolute and not yet authorized");
        }
        if !url.user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(&user.address)) {
            return bad("The URL must name your own mailbox");
        }
        let Some(mailbox) = mailbox_of(session, user.account, &url.mailbox).await else {
            return bad("No such mailbox");
        };
        if url.uidvalidity.is_some_and(|v| v != mailbox.uidvalidity) {
            return bad("UIDVALIDITY does not match");
        }
        let key = match session.ctx.store.urlauth_key(mailbox.id, Some(token::random_key())).await {
            Ok(Some(k)) => k,
            Ok(None) => return Step::new(tagged(tag, "NO", "No access key")),
            Err(e) => return Step::new(tagged(tag, "NO", &crate::errors::store_failure(&e))),
        };
        let signed = format!("{}:{MECHANISM}:{}", url.rump, hex(&token::hmac_sha256(&key, url.rump.as_bytes())));
        out.extend_from_slice(b"* GENURLAUTH ");
        fetch::string(&mut out, signed.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend(tagged(tag, "OK", "GENURLAUTH completed"));
    Step::new(out)
}

fn quoted(s: &str) -> String {
    let mut out = Vec::new();
    fetch::string(&mut out, s.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// An authorized URL checked as URLFETCH checks it: its token, access,
/// expiry and mechanism; then what it names.
pub async fn fetch_authorized(session: &Session, user: &SignedIn, url: &ImapUrl) -> Option<Resolved> {
    let (mechanism, token_hex) = url.auth.as_ref()?;
    if !mechanism.eq_ignore_ascii_case(MECHANISM) || !url.absolute {
        return None;
    }
    if !access_allows(url.access.as_deref()?, user) {
        return None;
    }
    if url.expire.is_some_and(|t| t <= caravel_store::now_secs()) {
        return None;
    }
    let account = owner(session, user, url).await?;
    let mailbox = mailbox_of(session, account, &url.mailbox).await?;
    let key = session.ctx.store.urlauth_key(mailbox.id, None).await.ok().flatten()?;
    let expected = hex(&token::hmac_sha256(&key, url.rump.as_bytes()));
    if !token::same(expected.as_bytes(), token_hex.to_ascii_lowercase().as_bytes()) {
        return None;
    }
    resolve(session, account, url).await
}

/// URLFETCH (RFC 4467 §4.3, RFC 5524 §3): one untagged URLFETCH per URL,
/// NIL for any URL that is not valid now.
pub async fn urlfetch(session: &Session, user: &SignedIn, tag: &str, items: &[UrlFetch]) -> Step {
    if items.len() > MAX_URLS {
        return Step::new(tagged(tag, "NO", &format!("[LIMIT] At most {MAX_URLS} URLs at once")));
    }
    // One answer holds at most about two messages of the largest size.
    let budget = session.ctx.config.max_message_size.saturating_mul(2).max(1 << 20) as usize;
    let mut out = Vec::new();
    for item in items {
        if out.len() > budget {
            return Step::new(tagged(tag, "NO", "[LIMIT] The answer would be too large; fetch fewer URLs at once"));
        }
        let found = match url::parse(&item.url) {
            Some(u) => fetch_authorized(session, user, &u).await,
            None => None,
        };
        out.extend_from_slice(b"* URLFETCH ");
        fetch::string(&mut out, item.url.as_bytes());
        if !item.extended {
            out.push(b' ');
            match &found {
                Some(r) => fetch::string(&mut out, &r.data),
                None => out.extend_from_slice(b"NIL"),
            }
            out.extend_from_slice(b"\r\n");
            continue;
        }
        let Some(r) = found else {
            out.extend_from_slice(b" NIL\r\n");
            continue;
        };
        let part = match &r.section {
            Some(s) if !s.part.is_empty() && s.text == fetch::SectionText::All => {
                fetch::find_part(&r.structure.1, &s.part)
            }
            _ => None,
        };
        if item.body_part_structure {
            out.extend_from_slice(b" (BODYPARTSTRUCTURE ");
            fetch::body_structure(&mut out, part.unwrap_or(&r.structure.1), true);
            out.push(b')');
        }
        if item.binary {
            out.extend_from_slice(b" (BINARY ");
            let part_numbers = r.section.as_ref().map(|s| s.part.clone()).unwrap_or_default();
            let partial = r.url_partial.map(|(origin, len)| (origin, len.unwrap_or(u32::MAX)));
            match crate::fetch_run::binary(&r.raw, Some(&r.structure.1), &part_numbers) {
                Ok(decoded) if part.is_some() || r.section.is_none() => {
                    // ;PARTIAL= applies to the decoded content (RFC 5524 §3.1).
                    let decoded = fetch::apply_partial(decoded, partial);
                    out.extend_from_slice(format!("~{{{}}}\r\n", decoded.len()).as_bytes());
                    out.extend_from_slice(&decoded);
                }
                // Not a part that can be decoded (RFC 5524 §3.1: NIL).
                _ => out.extend_from_slice(b"NIL"),
            }
            out.push(b')');
        }
        if item.body {
            out.extend_from_slice(b" (BODY ");
            fetch::string(&mut out, &r.data);
            out.push(b')');
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend(tagged(tag, "OK", "URLFETCH completed"));
    Step::new(out)
}

/// RESETKEY (RFC 4467 §4.1): new keys for one mailbox, or for all.
pub async fn resetkey(session: &Session, user: &SignedIn, tag: &str, mailbox: Option<&str>) -> Step {
    let target = match mailbox {
        Some(name) => match mailbox_of(session, user.account, name).await {
            Some(m) => Some(m.id),
            None => return Step::new(tagged(tag, "NO", "[NONEXISTENT] No such mailbox")),
        },
        None => None,
    };
    match session.ctx.store.reset_urlauth_keys(user.account, target).await {
        Ok(()) => Step::new(tagged(tag, "OK", "RESETKEY completed")),
        Err(e) => Step::new(tagged(tag, "NO", &crate::errors::store_failure(&e))),
    }
}
