//! IMAP URLs (RFC 5092) as CATENATE (RFC 4469) and URLAUTH (RFC 4467) use
//! them: one message or part of a message, absolute
//! (`imap://user@host/Box;UIDVALIDITY=n/;UID=n/;SECTION=s/;PARTIAL=a.b`) or
//! relative to this server (`/Box/;UID=n`), with the URLAUTH parameters.

/// A parsed IMAP message URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    /// The user of an absolute URL's authority (the mailbox owner).
    pub user: Option<String>,
    pub absolute: bool,
    /// The mailbox name, percent-decoded (UTF-8, RFC 5092 §9).
    pub mailbox: String,
    pub uidvalidity: Option<u32>,
    pub uid: u32,
    /// The section text (`1.2`, `HEADER`, `1.TEXT` ...), percent-decoded.
    pub section: Option<String>,
    /// `;PARTIAL=origin[.length]`.
    pub partial: Option<(u32, Option<u32>)>,
    /// `;EXPIRE=` as Unix seconds (RFC 4467 §3).
    pub expire: Option<i64>,
    /// `;URLAUTH=access[:mechanism:token]`: the access identifier.
    pub access: Option<String>,
    /// The mechanism and the token (hex), once authorized.
    pub auth: Option<(String, String)>,
    /// The URL up to the end of the access identifier: what the token signs
    /// (RFC 4467 §2.2 "rump URL").
    pub rump: String,
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// An RFC 3339 date-time (`2026-12-05T10:00:00Z`, `...+01:00`, fractions
/// allowed) as Unix seconds.
fn rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    if !s.is_ascii() || s.len() < 20 || &s[4..5] != "-" || &s[7..8] != "-" || !matches!(&s[10..11], "T" | "t") {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = crate::cursor::days_from_civil(year, month, day);
    Some(days * 86400 + hour * 3600 + minute * 60 + second - offset)
}

/// Parses an IMAP URL naming a message (a UID is required); `None` when it
/// is not one.
pub fn parse(url: &str) -> Option<ImapUrl> {
    let (absolute, user, path, path_start) = if url.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("imap://")) {
        let rest = &url[7..];
        let slash = rest.find('/')?;
        let authority = &rest[..slash];
        let user = match authority.rfind('@') {
            // `user;AUTH=mech@host`: the user is before any `;AUTH=`.
            Some(at) => Some(percent_decode(authority[..at].split(';').next()?)?),
            None => None,
        };
        (true, user, &rest[slash..], 7 + slash)
    } else if url.starts_with('/') {
        (false, None, url, 0)
    } else {
        return None;
    };
    let mut pieces = path[1..].split(';');
    let mailbox = percent_decode(pieces.next()?.trim_end_matches('/'))?;
    if mailbox.is_empty() {
        return None;
    }
    let mut parsed = ImapUrl {
        user,
        absolute,
        mailbox,
        uidvalidity: None,
        uid: 0,
        section: None,
        partial: None,
        expire: None,
        access: None,
        auth: None,
        rump: url.to_string(),
    };
    let mut offset = path_start + 1 + path[1..].find(';').unwrap_or(path.len() - 1);
    for piece in pieces {
        // RFC 4467 §2.2: ;URLAUTH= ends the URL. Anything after it would not
        // be covered by the token, and could point a valid token elsewhere.
        if parsed.access.is_some() {
            return None;
        }
        let start = offset + 1;
        offset = start + piece.len();
        let value_of = |p: &str| p.trim_end_matches('/').to_string();
        let (key, value) = piece.split_once('=')?;
        match key.to_ascii_uppercase().as_str() {
            "UIDVALIDITY" => parsed.uidvalidity = Some(value_of(value).parse().ok().filter(|&n| n > 0)?),
            "UID" => parsed.uid = value_of(value).parse().ok().filter(|&n| n > 0)?,
            "SECTION" => parsed.section = Some(percent_decode(&value_of(value))?),
            "PARTIAL" => {
                let v = value_of(value);
                parsed.partial = Some(match v.split_once('.') {
                    Some((a, b)) => (a.parse().ok()?, Some(b.parse().ok().filter(|&n| n > 0)?)),
                    None => (v.parse().ok()?, None),
                });
            }
            "EXPIRE" => parsed.expire = Some(rfc3339(&percent_decode(&value_of(value))?)?),
            "URLAUTH" => {
                let mut parts = value.splitn(3, ':');
                let access = parts.next()?.to_string();
                if access.is_empty() {
                    return None;
                }
                parsed.rump = url[..start + key.len() + 1 + access.len()].to_string();
                parsed.access = Some(percent_decode(&access)?);
                match (parts.next(), parts.next()) {
                    (None, None) => {}
                    // `:mechanism:token`, the token hex and nothing after it.
                    (Some(mech), Some(token))
                        if !mech.is_empty() && !token.is_empty() && token.bytes().all(|b| b.is_ascii_hexdigit()) =>
                    {
                        parsed.auth = Some((mech.to_string(), token.to_string()));
                    }
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    (parsed.uid > 0).then_some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_urls() {
        let u = parse("/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2.HEADER/;PARTIAL=0.1024").expect("url");
        assert_eq!((u.mailbox.as_str(), u.uidvalidity, u.uid), ("INBOX", Some(385759045), 20));
        assert_eq!((u.section.as_deref(), u.partial, u.absolute), (Some("1.2.HEADER"), Some((0, Some(1024))), false));
        let u = parse("/Sales%2FAsia/;uid=3/;section=header").expect("url");
        assert_eq!((u.mailbox.as_str(), u.uid, u.section.as_deref()), ("Sales/Asia", 3, Some("header")));
        let u = parse("/Sales/Asia/;UID=3").expect("a hierarchy name with its separator");
        assert_eq!(u.mailbox, "Sales/Asia");
        let url = "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038";
        let u = parse(url).expect("url");
        assert_eq!((u.user.as_deref(), u.absolute, u.access.as_deref()), (Some("joe"), true, Some("submit+fred")));
        assert_eq!(u.rump, "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred");
        assert_eq!(u.auth, Some(("internal".into(), "91354a473744909de610943775f92038".into())));
        let text = "imap://joe;AUTH=*@example.com/INBOX/;UID=1;EXPIRE=2026-12-05T10:00:00Z;URLAUTH=anonymous";
        let u = parse(text).expect("url");
        assert_eq!((u.user.as_deref(), u.expire), (Some("joe"), Some(1_796_464_800)));
        assert_eq!((u.rump.as_str(), u.auth.as_ref()), (text, None), "no token: the rump is the whole URL");
        // Nothing may follow ;URLAUTH=: the token would not cover it.
        let signed = "imap://joe@h/INBOX/;UID=20/;SECTION=1.2;URLAUTH=anonymous:INTERNAL:00ff";
        assert!(parse(signed).is_some());
        for tail in [";UID=1", "/;SECTION=TEXT", ";PARTIAL=0.5", ";UIDVALIDITY=9"] {
            assert!(parse(&format!("{signed}{tail}")).is_none(), "{tail}");
        }
        assert!(parse("imap://joe@h/INBOX/;URLAUTH=anonymous;UID=5").is_none(), "the UID after URLAUTH");
        assert!(parse("imap://joe@h/INBOX/;UID=1;URLAUTH=anonymous:INTERNAL:zz").is_none(), "a token is hex");
        assert!(parse("imap://joe@h/INBOX/;UID=1;URLAUTH=anonymous:INTERNAL").is_none());
        assert!(parse("/%+1/;UID=1").is_none(), "percent escapes are two hex digits");
        for bad in
            ["", "INBOX/;UID=1", "/INBOX", "/INBOX/;UID=0", "/INBOX/;UID=x", "/;UID=1", "/INBOX/;FOO=1", "/%ZZ/;UID=1"]
        {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert_eq!(rfc3339("2026-12-05T11:00:00.5+01:00"), Some(1_796_464_800));
        // Multi-byte text where a prefix or a field is cut never panics.
        assert!(parse("imap:/é/INBOX/;UID=1").is_none() && rfc3339("2026-12-05Té0:00:00Z").is_none());
        assert!(parse("/INBOX/;UID=1;EXPIRE=2026é12-05T10:00:00Z").is_none());
    }
}
