//! What delivery computes from a message: its MIME nesting, envelope and
//! structure (bounded depth, offsets inside the message, readable back from
//! its stored form), and the header text SEARCH uses.
#![no_main]
use caravel_store::mime::{self, BodyPart};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let _ = mime::nesting_depth(raw);
    let (env, body) = mime::analyze(raw);
    let mut stack = vec![(&body, 0usize)];
    while let Some((p, depth)) = stack.pop() {
        assert!(depth <= mime::MAX_MIME_DEPTH);
        assert!(p.header_start <= p.body_start && p.body_start <= p.end && p.end <= raw.len() as u64);
        stack.extend(p.parts.iter().map(|c| (c, depth + 1)));
        if let Some(inner) = &p.message {
            stack.push((&inner.1, depth + 1));
        }
    }
    let json = serde_json::to_string(&body).expect("serializes");
    let back: BodyPart = serde_json::from_str(&json).expect("the stored structure reads back");
    assert_eq!(back, body);
    let _ = serde_json::to_string(&env).expect("serializes");
    let _ = mime::search_text(raw);
    let _ = mime::with_parsed(raw, |m| m.parts.len());
});
