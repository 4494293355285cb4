//! An IP network (`192.0.2.0/24`, `2001:db8::/32`, or one address), for the
//! places that let some addresses in: `[metrics] allow`, and the filter's
//! allow and block lists.

use std::fmt;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Network {
    /// `ADDRESS` or `ADDRESS/PREFIX`.
    pub fn parse(text: &str) -> Result<Network, String> {
        let t = text.trim();
        let (addr, prefix) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        };
        let written: IpAddr = addr.parse().map_err(|_| format!("`{text}` is not an IP address or network"))?;
        let max = if written.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or(format!("bad prefix length in `{text}`"))?,
            None => max,
        };
        // One form for one network: an IPv4-mapped IPv6 network (within
        // ::ffff:0:0/96) is the IPv4 one, and the host bits are zero
        // (192.0.2.77/24 is 192.0.2.0/24), so that a list shows and
        // deletes it by the name it matches by.
        let (addr, prefix) = match written.to_canonical() {
            IpAddr::V4(v4) if written.is_ipv6() && prefix >= 96 => (IpAddr::V4(v4), prefix - 96),
            _ => (written, prefix),
        };
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0)).into()),
            IpAddr::V6(a) => {
                IpAddr::V6((u128::from(a) & u128::MAX.checked_shl(128 - prefix as u32).unwrap_or(0)).into())
            }
        };
        Ok(Network { addr, prefix })
    }

    /// One address alone (a /32 or /128).
    pub fn is_single(&self) -> bool {
        self.prefix == if self.addr.is_ipv4() { 32 } else { 128 }
    }

    /// Whether `ip` is in the network (an IPv4-mapped IPv6 address counts
    /// as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, b, bits) = match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        let shift = bits - self.prefix as u32;
        shift >= bits || (a >> shift) == (b >> shift)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// `[metrics]`: who may read `/metrics` (the counts tell an outsider how
/// busy the server is and how sign-ins fail: this machine only, unless
/// the monitoring server's address is added).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    pub allow: Vec<Network>,
}

impl Default for Metrics {
    fn default() -> Self {
        let loopback = |s: &str| Network::parse(s).expect("a loopback network");
        Metrics { allow: vec![loopback("127.0.0.0/8"), loopback("::1")] }
    }
}

pub(crate) fn read_metrics(r: &mut crate::reader::Reader, t: &toml_edit::Table, m: &mut Metrics) {
    r.check_keys(t, "metrics", &["allow"]);
    if let Some(v) = r.parsed(t, "metrics", "allow", |item| {
        let array = item.as_array().ok_or("expected a list of networks, e.g. [\"10.0.0.5\", \"192.0.2.0/24\"]")?;
        array
            .iter()
            .map(|v| Network::parse(v.as_str().ok_or("each entry must be a string, an IP address or network")?))
            .collect::<Result<Vec<_>, String>>()
    }) {
        m.allow = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_addresses() {
        let n = |s: &str| Network::parse(s).expect(s);
        assert!(n("192.0.2.0/24").contains("192.0.2.77".parse().expect("ip")));
        assert!(!n("192.0.2.0/24").contains("192.0.3.1".parse().expect("ip")));
        assert!(n("127.0.0.1").contains("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(n("2001:db8::/32").contains("2001:db8:1::5".parse().expect("ip")));
        assert!(n("0.0.0.0/0").contains("203.0.113.1".parse().expect("ip")));
        assert!(!n("::/0").contains("203.0.113.1".parse().expect("ip")));
        assert_eq!(n("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(n("10.1.2.3").to_string(), "10.1.2.3");
        assert!(Network::parse("10.0.0.0/33").is_err() && Network::parse("mail.example.com").is_err());
    }
}
