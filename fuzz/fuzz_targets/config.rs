//! The configuration file: any text gives a configuration or a list of
//! errors, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Ok(text) = std::str::from_utf8(input) {
        let _ = caravel_config::Config::parse(text);
    }
});
