//! Where a message for a domain goes (RFC 5321 §5.1): a configured relay
//! (smarthost or per-domain route), or the domain's MX hosts in preference
//! order, the domain itself when it has no MX, and nowhere for a null MX
//! (RFC 7505).

use std::collections::BTreeMap;

/// One MX record as the resolver returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    pub preference: u16,
    /// The exchange host name (a trailing dot allowed).
    pub exchange: String,
}

/// Where to connect for one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// These hosts, in this order; try the next when one fails.
    Hosts(Vec<String>),
    /// The domain says it accepts no mail (RFC 7505): bounce at once.
    NullMx,
    /// Neither MX nor an address: the domain does not take mail.
    NoMailHost,
}

/// The route from the MX lookup: `mx` as found (empty: none), and whether
/// the domain itself has an address (the implicit MX, RFC 5321 §5.1).
/// Equal preferences keep the order given (`resolve` shuffles it first).
pub fn from_mx(domain: &str, mx: &[Mx], domain_has_address: bool) -> Route {
    let dotless = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
    // RFC 7505 §3: a single MX of "." is a null MX.
    if mx.len() == 1 && dotless(&mx[0].exchange).is_empty() {
        return Route::NullMx;
    }
    if mx.is_empty() {
        return if domain_has_address { Route::Hosts(vec![dotless(domain)]) } else { Route::NoMailHost };
    }
    let mut sorted: Vec<&Mx> = mx.iter().filter(|m| !dotless(&m.exchange).is_empty()).collect();
    sorted.sort_by_key(|m| m.preference);
    let mut hosts: Vec<String> = Vec::new();
    for m in sorted {
        let h = dotless(&m.exchange);
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    if hosts.is_empty() {
        Route::NoMailHost
    } else {
        Route::Hosts(hosts)
    }
}

/// A relay host to hand mail to instead of the MX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    /// SMTP AUTH at the relay (user, password), over TLS only.
    pub credentials: Option<(String, String)>,
}

/// Per-domain routes, then a smarthost for everything else, then MX.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Routes {
    pub per_domain: BTreeMap<String, Relay>,
    pub smarthost: Option<Relay>,
}

impl Routes {
    /// The relay for `domain`, or None: look up its MX.
    pub fn relay_for(&self, domain: &str) -> Option<&Relay> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        self.per_domain.get(&domain).or(self.smarthost.as_ref())
    }
}

/// Recipients grouped by domain, so that each domain gets one transaction
/// with all of its recipients (RFC 5321 §3.3 allows many RCPT per message).
pub fn by_domain<'a>(recipients: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in recipients {
        let domain = r.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
        out.entry(domain).or_default().push(r.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(p: u16, e: &str) -> Mx {
        Mx { preference: p, exchange: e.into() }
    }

    #[test]
    fn mx_hosts_by_preference_without_duplicates() {
        let r = from_mx(
            "buyer.test",
            &[mx(20, "b.buyer.test."), mx(10, "A.buyer.test."), mx(20, "c.buyer.test"), mx(30, "a.buyer.test")],
            true,
        );
        assert_eq!(r, Route::Hosts(vec!["a.buyer.test".into(), "b.buyer.test".into(), "c.buyer.test".into()]));
    }

    #[test]
    fn no_mx_means_the_domain_itself_if_it_has_an_address() {
        assert_eq!(from_mx("Buyer.test.", &[], true), Route::Hosts(vec!["buyer.test".into()]));
        assert_eq!(from_mx("buyer.test", &[], false), Route::NoMailHost);
    }

    #[test]
    fn null_mx_takes_no_mail() {
        assert_eq!(from_mx("nomail.test", &[mx(0, ".")], true), Route::NullMx);
        // "." among real exchanges is ignored (RFC 7505 §3: a domain with a
        // null MX has no other MX).
        assert_eq!(
            from_mx("odd.test", &[mx(0, "."), mx(10, "mx.odd.test")], true),
            Route::Hosts(vec!["mx.odd.test".into()])
        );
    }

    #[test]
    fn per_domain_routes_then_smarthost() {
        let relay = |h: &str| Relay { host: h.into(), port: 587, credentials: None };
        let mut routes = Routes::default();
        assert_eq!(routes.relay_for("buyer.test"), None, "MX by default");
        routes.smarthost = Some(relay("smtp.provider.test"));
        routes.per_domain.insert("partner.test".into(), relay("gw.partner.test"));
        assert_eq!(routes.relay_for("PARTNER.test.").map(|r| r.host.as_str()), Some("gw.partner.test"));
        assert_eq!(routes.relay_for("buyer.test").map(|r| r.host.as_str()), Some("smtp.provider.test"));
    }

    #[test]
    fn recipients_grouped_per_domain() {
        let g = by_domain(["a@x.test", "b@Y.test", "c@x.test"]);
        assert_eq!(g["x.test"], vec!["a@x.test", "c@x.test"]);
        assert_eq!(g["y.test"], vec!["b@Y.test"]);
    }
}
