//! POP3 command lines (RFC 1939, RFC 2449).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    let _ = caravel_pop3::command::parse(line);
});
