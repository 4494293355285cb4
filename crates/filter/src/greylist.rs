//! Greylisting (off by default): the first message from an unknown
//! (client network, sender, recipient) triple is answered "try again
//! later" (451 4.7.1); a real mail server retries after the delay and is
//! then let through, and its triple remembered, while much spam software
//! never retries. Mail from signed-in users and allow-listed senders is
//! never greylisted.

use std::net::IpAddr;

/// The triple's key: the client's /24 (IPv4) or /64 (IPv6), because big
/// senders retry from another address of the same pool; addresses lowercase.
pub fn triple(peer: IpAddr, sender: &str, recipient: &str) -> String {
    let net = match peer.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}", s[0], s[1], s[2], s[3])
        }
    };
    format!("{net} {} {}", sender.to_lowercase(), recipient.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triples_group_a_pool() {
        let a = triple("192.0.2.10".parse().expect("ip"), "A@x.test", "b@y.test");
        let b = triple("192.0.2.99".parse().expect("ip"), "a@x.test", "B@y.test");
        assert_eq!(a, b);
        assert_ne!(a, triple("192.0.3.10".parse().expect("ip"), "a@x.test", "b@y.test"));
        assert_eq!(triple("2001:db8:1:2::5".parse().expect("ip"), "", "b@y.test"), "2001:db8:1:2  b@y.test");
    }
}
