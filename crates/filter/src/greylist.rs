//! Greylisting (off by default): the first message from an unknown
//! (client network, sender, recipient) triple is answered "try again
//! later" (451 4.7.1); a real mail server retries after the delay and is
//! then let through, and its triple remembered, while much spam software
//! never retries. Mail from signed-in users and allow-listed senders is
//! never greylisted.

use std::net::IpAddr;

/// The client and the triple's key. The triple has the client's /24
/// (IPv4) or /64 (IPv6), because big senders retry from another address of
/// the same pool; the sender as [`stable_sender`] gives it; addresses
/// lowercase. The client, whose passes may auto-allow it, is its own IPv4
/// address (as postgrey keys it: one host that retries does not vouch for
/// its neighbours) or its IPv6 /64 (one host's usual share).
pub fn triple(peer: IpAddr, sender: &str, recipient: &str) -> (String, String) {
    let (net, client) = match peer.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            (format!("{a}.{b}.{c}"), v4.to_string())
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = format!("{:x}:{:x}:{:x}:{:x}", s[0], s[1], s[2], s[3]);
            (net.clone(), net)
        }
    };
    let key = format!("{net} {} {}", stable_sender(sender), recipient.to_lowercase());
    (client, key)
}

/// The part of an envelope sender that stays the same from one message to
/// the next. Mailing lists and bulk senders put a message number in it
/// (VERP: `bounce-4711-bob=example.com@list.test`), BATV signs it per
/// message (`prvs=0123abcdef=news@shop.test`, RFC-less but common), and
/// SRS adds a hash and a day (`SRS0=HHHH=TT=orig.test=user@fwd.test`):
/// left as they come, every message of a newsletter would be a new triple
/// and wait again. Digits become `#`, the BATV tag and the SRS hash and
/// day are dropped.
pub fn stable_sender(sender: &str) -> String {
    let sender = sender.to_lowercase();
    let Some((local, domain)) = sender.rsplit_once('@') else { return sender };
    let mut local = local;
    for batv in ["prvs=", "msprvs1=", "btv1=="] {
        if let Some(rest) = local.strip_prefix(batv) {
            // The tag, then the address's own local part.
            local = rest.split_once('=').map_or(rest, |(_, own)| own.trim_start_matches('='));
        }
    }
    // SRS1 (forwarded twice): hash=first forwarder==, then an SRS0 tail.
    let srs0 = match local.strip_prefix("srs1=") {
        Some(rest) => rest.split_once("==").map(|(_, tail)| tail),
        None => local.strip_prefix("srs0="),
    };
    let srs;
    if let Some(rest) = srs0 {
        // hash=day=domain=local: the hash and the day change.
        let parts: Vec<&str> = rest.splitn(3, '=').collect();
        if parts.len() == 3 {
            srs = format!("srs={}", parts[2]);
            local = &srs;
        }
    }
    // Numbers standing alone (not part of a word such as `user2`) become `#`.
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let chars: Vec<char> = local.chars().collect();
    let mut out = String::with_capacity(sender.len());
    let mut i = 0;
    while i < chars.len() {
        let end = chars[i..].iter().position(|c| !c.is_ascii_digit()).map_or(chars.len(), |n| i + n);
        if end > i && !word(i.checked_sub(1).map(|p| chars[p])) && !word(chars.get(end).copied()) {
            out.push('#');
            i = end;
            continue;
        }
        out.extend(&chars[i..end.max(i + 1)]);
        i = end.max(i + 1);
    }
    format!("{out}@{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triples_group_a_pool() {
        let a = triple("192.0.2.10".parse().expect("ip"), "A@x.test", "b@y.test");
        let b = triple("192.0.2.99".parse().expect("ip"), "a@x.test", "B@y.test");
        assert_eq!(a.1, b.1, "one triple");
        assert_eq!((a.0.as_str(), b.0.as_str()), ("192.0.2.10", "192.0.2.99"), "two clients");
        assert_ne!(a.1, triple("192.0.3.10".parse().expect("ip"), "a@x.test", "b@y.test").1);
        let mapped = triple("::ffff:192.0.2.10".parse().expect("ip"), "a@x.test", "b@y.test");
        assert_eq!(mapped, a, "an IPv4-mapped address is the IPv4 client");
        let v6 = triple("2001:db8:1:2::5".parse().expect("ip"), "", "b@y.test");
        assert_eq!(v6, ("2001:db8:1:2".to_string(), "2001:db8:1:2  b@y.test".to_string()));
    }

    #[test]
    fn per_message_parts_of_a_sender_do_not_make_a_new_triple() {
        let same = |a: &str, b: &str| assert_eq!(stable_sender(a), stable_sender(b), "{a} vs {b}");
        same("bounce-4711-bob=example.com@list.test", "Bounce-4712-bob=example.com@list.test");
        same("prvs=0123abcdef=news@shop.test", "prvs=9f8e7d6c5b=news@shop.test");
        same("prvs=0123abcdef=news@shop.test", "news@shop.test");
        same("SRS0=HhJk=2T=orig.test=user@fwd.test", "srs0=xYz1=3a=orig.test=user@fwd.test");
        assert_eq!(stable_sender("msgid-20261207-889@bulk.test"), "msgid-#-#@bulk.test");
        same(
            "SRS1=Ab12=fwd.test==HhJk=2T=orig.test=user@fwd2.test",
            "srs1=Zz99=fwd.test==xYz1=3a=orig.test=user@fwd2.test",
        );
        assert_ne!(stable_sender("user1@x.test"), stable_sender("user2@x.test"), "a digit inside a word stays");
        assert_eq!(stable_sender("ab12cd-345@x.test"), "ab12cd-#@x.test");
        assert_ne!(stable_sender("alice@x.test"), stable_sender("bob@x.test"));
        assert_ne!(
            stable_sender("bounce-1-bob=example.com@list.test"),
            stable_sender("bounce-1-ann=example.com@list.test")
        );
        assert_eq!(stable_sender(""), "");
        assert_eq!(stable_sender("prvs=@x.test"), "@x.test", "a tag with nothing after it");
    }
}
