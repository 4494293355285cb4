//! SORT and THREAD (RFC 5256): the sort criteria (§3) and the thread
//! response (§4); the ORDEREDSUBJECT and REFERENCES threading algorithms
//! (§3) are the store's ([`caravel_store::threads`]), shared with the
//! webmail.
//! The keys they compare (base subjects, sent dates, addresses, message ids)
//! are computed by the store when a message is stored
//! ([`caravel_store::sort_keys`]); the store sorts too.
//!
//! Every walk over a thread tree uses an explicit stack: a hostile mailbox
//! may hold reply chains a hundred thousand messages deep.

use std::fmt::Write as _;

pub use caravel_store::sort_keys::{SortCriterion, SortKey};

use crate::cursor::{err, Cursor, PResult};

/// `"(" sort-criterion *(SP sort-criterion) ")"`, where
/// `sort-criterion = ["REVERSE" SP] sort-key` (RFC 5256 §5, RFC 5957 §3).
pub fn parse_criteria(c: &mut Cursor) -> PResult<Vec<SortCriterion>> {
    c.expect(b'(')?;
    let mut out = Vec::new();
    let mut reverse = false;
    loop {
        if c.eat(b')') {
            break;
        }
        if !out.is_empty() || reverse {
            c.sp()?;
        }
        let word = c.atom()?;
        if !reverse && word.eq_ignore_ascii_case("REVERSE") {
            reverse = true;
            continue;
        }
        let Some(key) = SortKey::from_name(&word) else {
            return err("unknown SORT criterion");
        };
        out.push(SortCriterion { key, reverse });
        reverse = false;
    }
    if out.is_empty() || reverse {
        return err("SORT needs at least one criterion");
    }
    Ok(out)
}

pub use caravel_store::threads::{ordered_subject, references, SortItem, Thread};

/// The thread-list of a THREAD response (RFC 5256 §4): `(1 2 3)` is a chain,
/// `(1 (2)(3))` a message with two replies, `((2)(3))` two messages whose
/// common parent is missing. A missing parent with a single child stands
/// for that child (thread-nested needs two thread-lists).
pub fn render(threads: &[Thread]) -> String {
    enum Step<'a> {
        Text(&'static str),
        Members(&'a Thread),
    }
    fn is_empty(t: &Thread) -> bool {
        t.number.is_none() && t.children.is_empty()
    }
    let mut out = String::new();
    let mut stack: Vec<Step> = Vec::new();
    for t in threads.iter().filter(|t| !is_empty(t)) {
        stack.push(Step::Text(")"));
        stack.push(Step::Members(t));
        stack.push(Step::Text("("));
        while let Some(step) = stack.pop() {
            let mut t = match step {
                Step::Text(s) => {
                    out.push_str(s);
                    continue;
                }
                Step::Members(t) => t,
            };
            while t.number.is_none() && t.children.len() == 1 {
                t = &t.children[0];
            }
            if let Some(n) = t.number {
                let _ = write!(out, "{n}");
            }
            let children: Vec<&Thread> = t.children.iter().filter(|c| !is_empty(c)).collect();
            match children.as_slice() {
                [] => {}
                [only] => {
                    stack.push(Step::Members(only));
                    if t.number.is_some() {
                        stack.push(Step::Text(" "));
                    }
                }
                many => {
                    for c in many.iter().rev() {
                        stack.push(Step::Text(")"));
                        stack.push(Step::Members(c));
                        stack.push(Step::Text("("));
                    }
                    if t.number.is_some() {
                        stack.push(Step::Text(" "));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravel_store::mime::Envelope;
    use caravel_store::sort_keys::SortKeys;
    use caravel_store::sort_keys::ThreadKeys;

    // ----- SORT (§3) -----

    /// Message `i` has the id `<m{i}@x>` and the references `refs(i)`.
    fn chain_items(n: usize, refs: impl Fn(usize) -> Vec<String>) -> Vec<SortItem> {
        (0..n)
            .map(|i| SortItem {
                seq: i as u32 + 1,
                uid: i as u32 + 1,
                keys: ThreadKeys {
                    date: i as i64,
                    message_id: Some(format!("<m{i}@x>")),
                    references: refs(i),
                    ..Default::default()
                },
            })
            .collect()
    }

    #[test]
    fn criteria_parse() {
        let parse = |s: &str| parse_criteria(&mut Cursor::new(s.as_bytes()));
        assert_eq!(
            parse("(REVERSE date subject)").expect("ok"),
            [
                SortCriterion { key: SortKey::Date, reverse: true },
                SortCriterion { key: SortKey::Subject, reverse: false }
            ]
        );
        assert!(parse("()").is_err());
        assert!(parse("(REVERSE)").is_err());
        assert!(parse("(DATE REVERSE)").is_err());
        assert!(parse("(REVERSE REVERSE DATE)").is_err());
        assert!(parse("(COLOUR)").is_err());
    }

    // ----- thread rendering (§4) -----

    /// The RFC's thread-list syntax back into threads, for the tests.
    fn parse_threads(s: &str) -> Vec<Thread> {
        fn list(b: &[u8], pos: &mut usize) -> Thread {
            assert_eq!(b[*pos], b'(');
            *pos += 1;
            let mut numbers = Vec::new();
            let mut nested = Vec::new();
            loop {
                match b[*pos] {
                    b')' => {
                        *pos += 1;
                        break;
                    }
                    b' ' => *pos += 1,
                    b'(' => nested.push(list(b, pos)),
                    _ => {
                        let start = *pos;
                        while b[*pos].is_ascii_digit() {
                            *pos += 1;
                        }
                        numbers.push(std::str::from_utf8(&b[start..*pos]).expect("ascii").parse().expect("number"));
                    }
                }
            }
            let mut t = Thread { number: numbers.pop(), children: nested };
            while let Some(n) = numbers.pop() {
                t = Thread { number: Some(n), children: vec![t] };
            }
            t
        }
        let b = s.as_bytes();
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < b.len() {
            out.push(list(b, &mut pos));
        }
        out
    }

    #[test]
    fn rendering_matches_the_rfc_examples() {
        let leaf = Thread::leaf;
        // §4: "(2)(3 6 (4 23)(44 7 96))".
        let example = vec![
            leaf(2),
            Thread {
                number: Some(3),
                children: vec![Thread {
                    number: Some(6),
                    children: vec![
                        Thread { number: Some(4), children: vec![leaf(23)] },
                        Thread {
                            number: Some(44),
                            children: vec![Thread { number: Some(7), children: vec![leaf(96)] }],
                        },
                    ],
                }],
            },
        ];
        assert_eq!(render(&example), "(2)(3 6 (4 23)(44 7 96))");
        assert_eq!(parse_threads("(2)(3 6 (4 23)(44 7 96))"), example);
        // §4: "((3)(5))", a missing parent.
        assert_eq!(render(&[Thread { number: None, children: vec![leaf(3), leaf(5)] }]), "((3)(5))");
        // A missing parent with one child is that child; without, nothing.
        assert_eq!(render(&[Thread { number: None, children: vec![leaf(3)] }]), "(3)");
        assert_eq!(render(&[Thread { number: None, children: vec![] }, leaf(1)]), "(1)");
        assert_eq!(render(&[]), "");
        // The §6 examples round-trip.
        for example in [
            "(166)(167)(168)(169)(172)(170)(171)(173)(174 (175)(176)(178)(181)(180))(179)(177 (183)(182)(188)(184)\
             (185)(186)(187)(189))(190)(191)(192)(193)(194 195)(196 (197)(198))(199)(200 202)(201)(203)(204)(205)\
             (206 207)(208)",
            "(166)(167)(168)(169)(172)((170)(179))(171)(173)((174)(175)(176)(178)(181)(180))((177)(183)(182)(188 \
             (184)(189))(185 186)(187))(190)(191)(192)(193)((194)(195 196))(197 198)(199)(200 202)(201)(203)(204)\
             (205 206 207)(208)",
        ] {
            assert_eq!(render(&parse_threads(example)), example);
        }
    }

    // ----- THREAD -----

    struct Msg {
        seq: u32,
        date: i64,
        id: Option<&'static str>,
        refs: &'static [&'static str],
        subject: &'static str,
    }

    type Algorithm = fn(&[SortItem], fn(&SortItem) -> u32) -> Vec<Thread>;

    /// A message's thread keys as the store computes them, from a Subject,
    /// a Message-ID and a References field.
    fn keys(subject: &str, id: Option<&str>, refs: &[&str], date: i64) -> ThreadKeys {
        let envelope =
            Envelope { subject: Some(subject.to_string()), message_id: id.map(str::to_string), ..Default::default() };
        let header = format!("References: {}\r\n\r\n", refs.join(" "));
        SortKeys::of(&envelope, header.as_bytes()).into_thread_keys(date)
    }

    fn thread_with(algorithm: Algorithm, msgs: &[Msg]) -> String {
        let items: Vec<SortItem> = msgs
            .iter()
            .map(|m| SortItem { seq: m.seq, uid: m.seq + 100, keys: keys(m.subject, m.id, m.refs, m.date) })
            .collect();
        render(&algorithm(&items, |i| i.seq))
    }

    fn refs_threads(msgs: &[Msg]) -> String {
        thread_with(|items, number| references(items, number), msgs)
    }

    fn subject_threads(msgs: &[Msg]) -> String {
        thread_with(|items, number| ordered_subject(items, number), msgs)
    }

    fn m(seq: u32, date: i64, id: Option<&'static str>, refs: &'static [&'static str], subject: &'static str) -> Msg {
        Msg { seq, date, id, refs, subject }
    }

    #[test]
    fn ordered_subject_groups_by_base_subject() {
        let msgs = [
            m(1, 50, None, &[], "Re: apples"),
            m(2, 10, None, &[], "pears"),
            m(3, 30, None, &[], "Apples"),
            m(4, 40, None, &[], "[fruit] Fwd: APPLES"),
            m(5, 20, None, &[], "plums"),
            m(6, 60, None, &[], "re: pears"),
            m(7, 30, None, &[], "apples"),
        ];
        // apples: 3 (30) then 7 (30, later seq), 4 (40), 1 (50); threads by
        // the date of their first message: pears 10, plums 20, apples 30.
        assert_eq!(subject_threads(&msgs), "(2 6)(5)(3 (7)(4)(1))");
        assert_eq!(subject_threads(&[]), "");
    }

    #[test]
    fn references_reproduces_the_rfc_example() {
        let msgs = [
            m(2, 100, Some("<2@x>"), &[], "other"),
            m(3, 200, Some("<3@x>"), &[], "topic"),
            m(4, 400, Some("<4@x>"), &["<3@x>", "<6@x>"], "Re: topic"),
            m(6, 300, Some("<6@x>"), &["<3@x>"], "Re: topic"),
            m(7, 700, Some("<7@x>"), &["<3@x>", "<6@x>", "<44@x>"], "Re: topic"),
            m(23, 500, Some("<23@x>"), &["<3@x>", "<6@x>", "<4@x>"], "Re: topic"),
            m(44, 600, Some("<44@x>"), &["<3@x>", "<6@x>"], "Re: topic"),
            m(96, 800, Some("<96@x>"), &["<3@x>", "<6@x>", "<44@x>", "<7@x>"], "Re: topic"),
        ];
        assert_eq!(refs_threads(&msgs), "(2)(3 6 (4 23)(44 7 96))");
        assert_eq!(refs_threads(&[]), "");
    }

    #[test]
    fn references_links_chains_and_truncated_references() {
        let msgs = [
            m(1, 1, Some("<a@x>"), &[], "s1"),
            m(2, 2, Some("<b@x>"), &["<a@x>"], "s2"),
            // Only the parent named: the rest of the chain is known already.
            m(3, 3, Some("<c@x>"), &["<b@x>"], "s3"),
            // Places <d@x> (message 5) below <b@x>...
            m(4, 5, Some("<e@x>"), &["<a@x>", "<b@x>", "<d@x>"], "s4"),
            // ...but its own References say <c@x>: the link is replaced.
            m(5, 4, Some("<d@x>"), &["<a@x>", "<c@x>"], "s5"),
        ];
        assert_eq!(refs_threads(&msgs), "(1 2 3 5 4)");
        // References is authoritative for links it makes (1.A) only where
        // the child has no parent yet.
        let msgs = [
            m(1, 1, Some("<a@x>"), &[], "s1"),
            m(2, 2, Some("<b@x>"), &["<a@x>"], "s2"),
            m(3, 3, Some("<c@x>"), &["<z@x>", "<b@x>", "<c0@x>"], "s3"),
        ];
        assert_eq!(refs_threads(&msgs), "(1 2 3)");
    }

    #[test]
    fn references_refuses_loops() {
        // Each names the other as its parent: the second link would loop.
        let msgs = [m(1, 1, Some("<a@x>"), &["<b@x>"], "s1"), m(2, 2, Some("<b@x>"), &["<a@x>"], "s2")];
        assert_eq!(refs_threads(&msgs), "(2 1)");
        // Self references and a loop inside one References list.
        let msgs = [
            m(1, 1, Some("<a@x>"), &["<a@x>"], "s1"),
            m(2, 2, Some("<b@x>"), &["<a@x>", "<b@x>", "<a@x>"], "s2"),
            m(3, 3, Some("<c@x>"), &["<c@x>", "<b@x>", "<c@x>"], "s3"),
        ];
        assert_eq!(refs_threads(&msgs), "(1 2 3)");
    }

    #[test]
    fn references_prunes_dummies() {
        // A missing parent at the top with one child: the child.
        assert_eq!(refs_threads(&[m(1, 1, Some("<a@x>"), &["<gone@x>"], "s")]), "(1)");
        // With two children: kept, as a parenthesized list of children.
        let msgs = [m(1, 1, Some("<a@x>"), &["<gone@x>"], "s1"), m(2, 2, Some("<b@x>"), &["<gone@x>"], "s2")];
        assert_eq!(refs_threads(&msgs), "((1)(2))");
        // Below a message: replaced by its children.
        let msgs = [
            m(1, 1, Some("<a@x>"), &[], "s1"),
            m(2, 2, Some("<b@x>"), &["<a@x>", "<gone@x>"], "s2"),
            m(3, 3, Some("<c@x>"), &["<a@x>", "<gone@x>", "<gone2@x>"], "s3"),
        ];
        assert_eq!(refs_threads(&msgs), "(1 (2)(3))");
        // A dummy left without children (2 was moved away from <x>)
        // disappears, and <z> with one child gives way to it.
        let msgs = [m(1, 1, Some("<a@x>"), &["<x@x>", "<b@x>"], "s1"), m(2, 2, Some("<b@x>"), &["<z@x>"], "s2")];
        assert_eq!(refs_threads(&msgs), "(2 1)");
        // Two dummies at the top sharing children order by the first child.
        let msgs = [
            m(1, 5, Some("<a@x>"), &["<p@x>"], "one"),
            m(2, 1, Some("<b@x>"), &["<q@x>"], "two"),
            m(3, 6, Some("<c@x>"), &["<p@x>"], "one more"),
            m(4, 2, Some("<d@x>"), &["<q@x>"], "two more"),
        ];
        assert_eq!(refs_threads(&msgs), "((2)(4))((1)(3))");
    }

    #[test]
    fn references_ids_duplicates_and_missing_ids() {
        // A duplicate Message-ID stays with the first message.
        let msgs = [
            m(1, 1, Some("<a@x>"), &[], "s1"),
            m(2, 2, Some("<a@x>"), &[], "s2"),
            m(3, 3, Some("<c@x>"), &["<a@x>"], "s3"),
            m(4, 4, None, &[], "s4"),
            m(5, 5, Some("not an id"), &[], "s5"),
            m(6, 6, Some("<e@x>"), &["<\"a\"@x>"], "s6"),
            // Case sensitive.
            m(7, 7, Some("<f@x>"), &["<A@x>"], "s7"),
        ];
        assert_eq!(refs_threads(&msgs), "(1 (3)(6))(2)(4)(5)(7)");
    }

    #[test]
    fn references_groups_by_subject() {
        // Replies without References join the original.
        let msgs = [
            m(1, 1, Some("<a@x>"), &[], "Hello"),
            m(2, 2, Some("<b@x>"), &[], "Re: Hello"),
            m(3, 3, Some("<c@x>"), &[], "RE: hello (fwd)"),
            m(4, 4, Some("<d@x>"), &[], "Other"),
        ];
        assert_eq!(refs_threads(&msgs), "(1 (2)(3))(4)");
        // The original, sent after the reply, still becomes the parent.
        let msgs = [m(1, 1, Some("<a@x>"), &[], "Re: x"), m(2, 2, Some("<b@x>"), &[], "x")];
        assert_eq!(refs_threads(&msgs), "(2 1)");
        // Two originals, or two replies: siblings below a new dummy.
        let msgs = [m(1, 1, Some("<a@x>"), &[], "x"), m(2, 2, Some("<b@x>"), &[], "[list] x")];
        assert_eq!(refs_threads(&msgs), "((1)(2))");
        let msgs = [
            m(1, 1, Some("<a@x>"), &[], "Re: x"),
            m(2, 2, Some("<b@x>"), &[], "Fwd: x"),
            m(3, 3, Some("<c@x>"), &[], "re: x"),
        ];
        assert_eq!(refs_threads(&msgs), "((1)(2)(3))");
        // A dummy takes the others, a whole thread moves with its root.
        let msgs = [
            m(1, 1, Some("<a@x>"), &["<gone@x>"], "Subject"),
            m(2, 2, Some("<b@x>"), &["<gone@x>"], "Re: subject"),
            m(3, 3, Some("<c@x>"), &[], "subject"),
            m(4, 4, Some("<d@x>"), &["<c@x>"], "Re: subject"),
        ];
        assert_eq!(refs_threads(&msgs), "((1)(2)(3 4))");
        // Two dummies with one subject: the children become siblings.
        let msgs = [
            m(1, 1, Some("<a@x>"), &["<p@x>"], "t"),
            m(2, 2, Some("<b@x>"), &["<p@x>"], "t"),
            m(3, 3, Some("<c@x>"), &["<q@x>"], "t"),
            m(4, 4, Some("<d@x>"), &["<q@x>"], "t"),
        ];
        assert_eq!(refs_threads(&msgs), "((1)(2)(3)(4))");
        // Empty subjects are never grouped.
        let msgs = [m(1, 1, Some("<a@x>"), &[], ""), m(2, 2, Some("<b@x>"), &[], "Re:")];
        assert_eq!(refs_threads(&msgs), "(1)(2)");
    }

    #[test]
    fn references_sorts_siblings_by_sent_date_then_sequence() {
        let msgs = [
            m(1, 1, Some("<a@x>"), &[], "s"),
            m(2, 9, Some("<b@x>"), &["<a@x>"], "r1"),
            m(3, 5, Some("<c@x>"), &["<a@x>"], "r2"),
            m(4, 5, Some("<d@x>"), &["<a@x>"], "r3"),
            m(5, 0, Some("<e@x>"), &[], "t"),
        ];
        assert_eq!(refs_threads(&msgs), "(5)(1 (3)(4)(2))");
    }

    /// 100,000 messages, each replying to the one before, threaded and
    /// rendered on a small stack: nothing recurses once per level.
    #[test]
    fn a_hostile_reply_chain_is_threaded_without_recursion() {
        const STACK: usize = 256 << 10;
        let n = 100_000usize;
        let result = std::thread::Builder::new()
            .stack_size(STACK)
            .spawn(move || {
                let items = chain_items(n, |i| if i == 0 { vec![] } else { vec![format!("<m{}@x>", i - 1)] });
                let threads = references(&items, |i| i.seq);
                let rendered = render(&threads);
                (threads.len(), rendered.len(), rendered.starts_with("(1 2 3 "), rendered.ends_with(" 100000)"))
            })
            .expect("thread")
            .join()
            .expect("no stack overflow");
        assert_eq!(result.0, 1, "one thread");
        assert!(result.1 > 5 * n, "every message is listed");
        assert!(result.2 && result.3);
    }

    /// A deep chain, then many messages whose References would make its
    /// root a child of its deepest message: each loop check is a root look
    /// up in the link/cut forest, not a walk up 30,000 ancestors.
    #[test]
    fn loop_checks_on_a_deep_chain_are_not_quadratic() {
        let depth = 30_000usize;
        let extra = 30_000usize;
        let items = chain_items(depth + extra, |i| match i {
            0 => vec![],
            i if i < depth => vec![format!("<m{}@x>", i - 1)],
            _ => vec![format!("<m{}@x>", depth - 1), "<m0@x>".to_string()],
        });
        let threads = references(&items, |i| i.seq);
        assert_eq!(threads.len(), 1);
        let root = &threads[0];
        assert_eq!(root.number, Some(1));
        // m0 has m1 and every extra message as children.
        assert_eq!(root.children.len(), 1 + extra);
    }
}
