//! IMAP command parsing (tags, atoms, strings, literals, sequence sets,
//! FETCH items, SEARCH keys nested up to the parser's limit).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let _ = caravel_imap::command::parse(input);
});
