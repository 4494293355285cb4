//! The DATA reader: the message in chunks of the sizes the input's first
//! byte picks, with small limits so that every refusal path is reached. An
//! accepted message never holds a bare CR or LF, a NUL, or an over-long line.
#![no_main]
use caravel_smtp::data::{DataReceiver, Feed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&chunk, data)) = input.split_first() else { return };
    let chunk = (chunk as usize % 64) + 1;
    let mut receiver = DataReceiver::new(4096, 200);
    for piece in data.chunks(chunk) {
        if let Feed::Done { consumed, result } = receiver.feed(piece) {
            assert!(consumed <= piece.len());
            if let Ok(message) = result {
                assert!(message.len() <= 4096);
                assert!(!message.contains(&0));
                for line in message.split(|&b| b == b'\n') {
                    assert!(line.len() <= 200);
                }
            }
            return;
        }
    }
});
