//! Mail loops (RFC 5321 §6.3): each server adds a `Received:` field, so a
//! message going round between two servers that forward to each other
//! collects them; past a limit it is refused instead of circling for ever.

use crate::pipeline::{MessageContext, Stage, Verdict};
use async_trait::async_trait;

pub struct HopLimit {
    /// Most `Received:` fields accepted (`[smtp] max_hops`).
    pub max: usize,
}

#[async_trait]
impl Stage for HopLimit {
    fn name(&self) -> &'static str {
        "hops"
    }

    async fn check(&self, ctx: &mut MessageContext<'_>) -> Option<Verdict> {
        let hops = received_fields(ctx.message);
        (hops > self.max).then(|| Verdict::Reject {
            code: 554,
            enhanced: "5.4.6",
            text: format!("Too many hops ({hops} Received: fields): the message seems to be in a mail loop"),
        })
    }
}

/// `Received:` fields in the header (up to the first empty line).
fn received_fields(message: &[u8]) -> usize {
    let end = message.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(message.len());
    message[..end]
        .split(|&b| b == b'\n')
        .filter(|line| line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"Received:"))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_fields_are_counted_in_the_header_only() {
        let m = b"Received: a\r\nreceived: b\r\n\tcontinued\r\nSubject: x\r\n\r\nReceived: in the body\r\n";
        assert_eq!(received_fields(m), 2);
        assert_eq!(received_fields(b""), 0);
    }
}
