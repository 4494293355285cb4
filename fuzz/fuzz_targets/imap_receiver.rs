//! The IMAP receiver (line and literal framing, RFC 9051 §4.3) fed in
//! chunks, each complete command then parsed as the session would.
#![no_main]
use caravel_imap::receiver::{Event, Receiver};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&chunk, data)) = input.split_first() else { return };
    let chunk = (chunk as usize % 64) + 1;
    let mut receiver = Receiver::new(1024, 512);
    for piece in data.chunks(chunk) {
        receiver.feed(piece);
        while let Some(event) = receiver.next_event() {
            if let Event::Command(bytes) = event {
                assert!(bytes.len() <= 1024 + 512 * 4 + 64, "framing limits hold: {}", bytes.len());
                let _ = caravel_imap::command::parse(&bytes);
            }
        }
    }
});
