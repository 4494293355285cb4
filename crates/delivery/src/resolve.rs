//! MX routing over the shared resolver (RFC 5321 §5.1).

use caravel_dns::{MxAnswer, Resolver};

use crate::route::{from_mx, Mx, Route};

/// Where mail for `domain` goes. `Err` is a temporary DNS failure (try
/// later); a domain that does not exist is [`Route::NoMailHost`].
pub async fn route(dns: &Resolver, domain: &str) -> Result<Route, String> {
    let mx: Vec<Mx> = match dns.mx(domain).await? {
        MxAnswer::Records(mut records) => {
            // RFC 5321 §5.1: hosts of equal preference are tried in random
            // order (from_mx's sort keeps this order among equals).
            shuffle(&mut records);
            records.into_iter().map(|(preference, exchange)| Mx { preference, exchange }).collect()
        }
        MxAnswer::NoDomain => return Ok(Route::NoMailHost),
        MxAnswer::NoRecords => Vec::new(),
    };
    let has_address = mx.is_empty() && !dns.addresses(domain).await?.is_empty();
    Ok(from_mx(domain, &mx, has_address))
}

fn shuffle<T>(items: &mut [T]) {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    for i in (1..items.len()).rev() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        items.swap(i, (h.finish() % (i as u64 + 1)) as usize);
    }
}
