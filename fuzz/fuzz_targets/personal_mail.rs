//! What a user's settings do with a message from the network: signature
//! insertion (MIME tree, charsets, transfer encodings), submission hygiene,
//! the auto-reply's reading of the message and the mail rules' view of it.
//! No panic; an inserted signature leaves a message that still parses with
//! the same number of leaf parts, and inserting again changes nothing.
#![no_main]
use caravel_personal::insert::{insert, Rendered};
use libfuzzer_sys::fuzz_target;

fn leaves(raw: &[u8]) -> usize {
    fn count(p: &caravel_store::mime::BodyPart) -> usize {
        if p.parts.is_empty() {
            1
        } else {
            p.parts.iter().map(count).sum()
        }
    }
    count(&caravel_store::mime::analyze(raw).1)
}

fuzz_target!(|input: &[u8]| {
    let signature = Rendered {
        text: "Li Na\n销售经理 · Sales\nTel +86 755 1234".into(),
        html: Some("<p><b>Li Na</b><br>销售经理</p>".into()),
        separator: true,
    };
    if let Ok(out) = insert(input, &signature) {
        assert_eq!(leaves(input), leaves(&out), "the parts stay the parts");
        assert!(insert(&out, &signature).is_err(), "not twice");
    }
    let _ = caravel_smtp::submission::prepare(input, "Sun, 6 Dec 2026 07:00:00 +0000", "x@y");
    let facts = caravel_personal::reply::facts(input);
    let _ = caravel_personal::reply::may_reply("a@b.test", &facts, &["c@d.test".into()], false);
    let _ = caravel_personal::rules::View::of(input, "a@b.test");
});
