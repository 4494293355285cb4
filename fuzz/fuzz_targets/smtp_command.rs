//! SMTP command lines (RFC 5321 §4.1) as the server reads them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    let _ = caravel_smtp::command::parse(line);
});
