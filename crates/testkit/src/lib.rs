//! What the tests of several crates share.

/// The deterministic generator (xorshift64) of the randomized robustness
/// tests, a stand-in for a fuzzer on stable Rust: the same seed gives the
/// same inputs, so a failure can be replayed.
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed.max(1);
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_seed_same_numbers_and_never_stuck_at_zero() {
        let (mut a, mut b) = (super::xorshift(7), super::xorshift(7));
        assert!((0..100).all(|_| a() == b()));
        let mut z = super::xorshift(0);
        assert_ne!(z(), 0);
    }
}
