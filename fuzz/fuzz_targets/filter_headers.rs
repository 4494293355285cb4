//! What the filter parses itself from received headers: the organizational
//! domain of a From: domain, and the values it writes into
//! Authentication-Results (which must stay one safe header value).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Ok(text) = std::str::from_utf8(input) {
        let org = caravel_filter::org_domain::org_domain(text);
        assert!(text.trim_end_matches('.').ends_with(org), "a suffix of the domain, less a final dot");
        let v = caravel_filter::auth_results::value(text);
        assert!(!v.contains('\r') && !v.contains('\n'), "{v:?}");
    }
});
