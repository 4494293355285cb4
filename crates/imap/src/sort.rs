//! SORT and THREAD (RFC 5256): the sort criteria (§3), the ORDEREDSUBJECT
//! and REFERENCES threading algorithms (§3) and the thread response (§4).
//! The keys they compare (base subjects, sent dates, addresses, message ids)
//! are computed by the store when a message is stored
//! ([`caravel_store::sort_keys`]); the store sorts too.
//!
//! Every walk over a thread tree uses an explicit stack: a hostile mailbox
//! may hold reply chains a hundred thousand messages deep.

use std::collections::HashMap;
use std::fmt::Write as _;

use caravel_store::sort_keys::ThreadKeys;
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

/// What threading needs to know about one message.
pub struct SortItem {
    pub seq: u32,
    pub uid: u32,
    pub keys: ThreadKeys,
}

// ---------------------------------------------------------------------------
// Threads.

/// A thread: a message (or, for `number: None`, a missing one) and its
/// replies. Dropping it does not recurse, however deep it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub number: Option<u32>,
    pub children: Vec<Thread>,
}

impl Thread {
    pub fn leaf(number: u32) -> Thread {
        Thread { number: Some(number), children: Vec::new() }
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        let mut stack = std::mem::take(&mut self.children);
        while let Some(mut t) = stack.pop() {
            stack.append(&mut t.children);
        }
    }
}

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

/// THREAD=ORDEREDSUBJECT (RFC 5256 §3): messages sorted by base subject,
/// then sent date (then sequence number), split into one thread per base
/// subject, threads sorted by the sent date of their first message. The
/// first message is the parent of all the others, which are siblings.
pub fn ordered_subject(items: &[SortItem], number: impl Fn(&SortItem) -> u32) -> Vec<Thread> {
    let keys: Vec<(String, i64, u32)> = items.iter().map(|i| (i.keys.subject.clone(), i.keys.date, i.seq)).collect();
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    let mut threads: Vec<((i64, u32), Thread)> = Vec::new();
    let mut subject: Option<&str> = None;
    for i in order {
        let leaf = Thread::leaf(number(&items[i]));
        match threads.last_mut() {
            Some((_, thread)) if subject == Some(keys[i].0.as_str()) => thread.children.push(leaf),
            _ => {
                threads.push(((keys[i].1, keys[i].2), leaf));
                subject = Some(keys[i].0.as_str());
            }
        }
    }
    threads.sort_by_key(|(first, _)| *first);
    threads.into_iter().map(|(_, t)| t).collect()
}

const NIL: u32 = u32::MAX;

/// A link/cut forest (Sleator and Tarjan) over the thread containers: finds
/// the root of a container's tree in amortized logarithmic time, so that
/// the loop checks of REFERENCES step 1 never walk a long chain of
/// ancestors. Splay trees over preferred paths; a node's `up` is its splay
/// parent, or the path parent when the node is the root of its splay tree.
#[derive(Default)]
struct LinkCut {
    child: Vec<[u32; 2]>,
    up: Vec<u32>,
}

impl LinkCut {
    fn add(&mut self) {
        self.child.push([NIL, NIL]);
        self.up.push(NIL);
    }

    fn is_splay_root(&self, x: u32) -> bool {
        let p = self.up[x as usize];
        p == NIL || (self.child[p as usize][0] != x && self.child[p as usize][1] != x)
    }

    fn rotate(&mut self, x: u32) {
        let y = self.up[x as usize];
        let z = self.up[y as usize];
        let side = usize::from(self.child[y as usize][1] == x);
        if !self.is_splay_root(y) {
            let y_side = usize::from(self.child[z as usize][1] == y);
            self.child[z as usize][y_side] = x;
        }
        self.up[x as usize] = z;
        let moved = self.child[x as usize][side ^ 1];
        self.child[y as usize][side] = moved;
        if moved != NIL {
            self.up[moved as usize] = y;
        }
        self.child[x as usize][side ^ 1] = y;
        self.up[y as usize] = x;
    }

    fn splay(&mut self, x: u32) {
        while !self.is_splay_root(x) {
            let y = self.up[x as usize];
            if !self.is_splay_root(y) {
                let z = self.up[y as usize];
                let zig_zig = (self.child[y as usize][0] == x) == (self.child[z as usize][0] == y);
                self.rotate(if zig_zig { y } else { x });
            }
            self.rotate(x);
        }
    }

    /// Makes the path from the root of `x`'s tree to `x` preferred, with `x`
    /// at the root of its splay tree.
    fn access(&mut self, x: u32) {
        let mut last = NIL;
        let mut y = x;
        while y != NIL {
            self.splay(y);
            self.child[y as usize][1] = last;
            last = y;
            y = self.up[y as usize];
        }
        self.splay(x);
    }

    fn find_root(&mut self, x: u32) -> u32 {
        self.access(x);
        let mut r = x;
        while self.child[r as usize][0] != NIL {
            r = self.child[r as usize][0];
        }
        self.splay(r);
        r
    }

    /// `child` must be the root of its tree.
    fn link(&mut self, child: u32, parent: u32) {
        self.access(child);
        self.up[child as usize] = parent;
    }

    fn cut(&mut self, x: u32) {
        self.access(x);
        let left = self.child[x as usize][0];
        if left != NIL {
            self.up[left as usize] = NIL;
            self.child[x as usize][0] = NIL;
        }
    }
}

/// The containers of REFERENCES step 1: messages first (index = item
/// index), then dummies. Parent links are kept in `parent` and mirrored in
/// the link/cut forest for the loop checks.
#[derive(Default)]
struct Containers {
    parent: Vec<Option<usize>>,
    child_count: Vec<u32>,
    forest: LinkCut,
}

impl Containers {
    fn add(&mut self) -> usize {
        self.parent.push(None);
        self.child_count.push(0);
        self.forest.add();
        self.parent.len() - 1
    }

    /// Whether making `parent` the parent of `child`, the root of its tree,
    /// would close a loop: `parent` is `child` or one of its descendants.
    fn closes_loop(&mut self, parent: usize, child: usize) -> bool {
        parent == child || (self.child_count[child] > 0 && self.forest.find_root(parent as u32) == child as u32)
    }

    fn link(&mut self, child: usize, parent: usize) {
        self.forest.link(child as u32, parent as u32);
        self.parent[child] = Some(parent);
        self.child_count[parent] += 1;
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.parent[child].take() {
            self.forest.cut(child as u32);
            self.child_count[p] -= 1;
        }
    }

    /// Step 1.B: `parent` replaces the current parent of `child`, unless
    /// that would close a loop (then the existing link stays).
    fn reparent(&mut self, child: usize, parent: usize) {
        let old = self.parent[child];
        if old == Some(parent) {
            return;
        }
        self.unlink(child);
        let new = if self.closes_loop(parent, child) { old } else { Some(parent) };
        if let Some(p) = new {
            self.link(child, p);
        }
    }
}

/// THREAD=REFERENCES (RFC 5256 §3), steps (1) to (6).
pub fn references(items: &[SortItem], number: impl Fn(&SortItem) -> u32) -> Vec<Thread> {
    let n = items.len();
    let date: Vec<(i64, u32)> = items.iter().map(|i| (i.keys.date, i.seq)).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| items[i].seq);

    // (1) Containers: one per message; a Message-ID belongs to the first
    // message (lowest sequence number) that has it, a later duplicate or a
    // message without a valid one stays anonymous, which is a unique id.
    let mut containers = Containers::default();
    for _ in 0..n {
        containers.add();
    }
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for &i in &order {
        if let Some(id) = &items[i].keys.message_id {
            by_id.entry(id.clone()).or_insert(i);
        }
    }
    for &i in &order {
        // Unknown ids get a dummy, shared by every later reference to them.
        let refs: Vec<usize> = items[i]
            .keys
            .references
            .iter()
            .map(|id| *by_id.entry(id.clone()).or_insert_with(|| containers.add()))
            .collect();
        // (1.A) Each reference is the parent of the next, unless that one
        // already has a parent or the link would close a loop.
        for pair in refs.windows(2) {
            let (parent, child) = (pair[0], pair[1]);
            if containers.parent[child].is_none() && !containers.closes_loop(parent, child) {
                containers.link(child, parent);
            }
        }
        // (1.B) The last reference is the message's parent, replacing an
        // earlier one; no references, no parent.
        match refs.last() {
            Some(&parent) => containers.reparent(i, parent),
            None => containers.unlink(i),
        }
    }
    let total = containers.parent.len();
    let mut kids: Vec<Vec<usize>> = vec![Vec::new(); total];
    for (c, p) in containers.parent.iter().enumerate() {
        if let Some(p) = p {
            kids[*p].push(c);
        }
    }
    let is_dummy = |x: usize| x >= n;

    // (2) The root set: every container without a parent.
    let roots: Vec<usize> = (0..total).filter(|&x| containers.parent[x].is_none()).collect();
    drop(containers);

    // (3) Prune dummies, bottom up: below the root a dummy is replaced by its
    // children (none: it is deleted). Afterwards every child is a message.
    for &root in &roots {
        let mut stack = vec![(root, false)];
        while let Some((x, visited)) = stack.pop() {
            if !visited {
                stack.push((x, true));
                stack.extend(kids[x].iter().map(|&c| (c, false)));
                continue;
            }
            if kids[x].iter().any(|&c| is_dummy(c)) {
                let mut spliced = Vec::with_capacity(kids[x].len());
                for c in std::mem::take(&mut kids[x]) {
                    if is_dummy(c) {
                        // Smaller into larger: each container moves O(log n) times.
                        let mut grandchildren = std::mem::take(&mut kids[c]);
                        if grandchildren.len() > spliced.len() {
                            std::mem::swap(&mut grandchildren, &mut spliced);
                        }
                        spliced.append(&mut grandchildren);
                    } else {
                        spliced.push(c);
                    }
                }
                kids[x] = spliced;
            }
        }
    }
    // At the top, a dummy is deleted without children, replaced by its only
    // child, and kept with several.
    let mut top: Vec<usize> = Vec::with_capacity(roots.len());
    for r in roots {
        match (is_dummy(r), kids[r].len()) {
            (false, _) => top.push(r),
            (true, 0) => {}
            (true, 1) => top.push(kids[r][0]),
            (true, _) => top.push(r),
        }
    }

    // (4) Sort the top level by sent date; a dummy by its first child's.
    for &r in &top {
        if is_dummy(r) {
            kids[r].sort_by_key(|&c| date[c]);
        }
    }
    let first_date = |x: usize, kids: &[Vec<usize>]| if is_dummy(x) { date[kids[x][0]] } else { date[x] };
    top.sort_by_key(|&r| first_date(r, &kids));

    // (5) Gather threads whose subjects match. The thread subject is the base
    // subject of the message, or of a dummy's first child.
    let mut is_reply = vec![false; total];
    let subjects: Vec<Option<String>> = top
        .iter()
        .map(|&r| {
            let m = if is_dummy(r) { kids[r][0] } else { r };
            let ThreadKeys { subject, reply, .. } = &items[m].keys;
            if !is_dummy(r) {
                is_reply[r] = *reply;
            }
            (!subject.is_empty()).then(|| subject.clone())
        })
        .collect();
    // (5.B) One container per subject: a dummy is preferred to a message, a
    // message that is not a reply or forward to one that is.
    let mut table: HashMap<&str, usize> = HashMap::new();
    for (&r, subject) in top.iter().zip(&subjects) {
        let Some(subject) = subject.as_deref() else {
            continue;
        };
        match table.get(subject) {
            None => {
                table.insert(subject, r);
            }
            Some(&t) => {
                if !is_dummy(t) && (is_dummy(r) || (is_reply[t] && !is_reply[r])) {
                    table.insert(subject, r);
                }
            }
        }
    }
    // (5.C) Merge every other thread with that subject into it.
    let mut removed = vec![false; total];
    let mut merged: Vec<usize> = Vec::new();
    for (&r, subject) in top.iter().zip(&subjects) {
        let Some(subject) = subject.as_deref() else {
            continue;
        };
        let Some(&t) = table.get(subject) else {
            continue;
        };
        if t == r {
            continue;
        }
        removed[r] = true;
        if is_dummy(t) && is_dummy(r) {
            let children = std::mem::take(&mut kids[r]);
            kids[t].extend(children);
        } else if is_dummy(t) || (is_reply[r] && !is_reply[t]) {
            kids[t].push(r);
        } else {
            // A new dummy holds both; it takes the table's place.
            let dummy = kids.len();
            kids.push(vec![t, r]);
            removed[t] = true;
            merged.push(dummy);
            table.insert(subject, dummy);
        }
    }
    top.retain(|&r| !removed[r]);
    top.extend(merged);

    // (6) Sort every set of siblings by sent date, a dummy (at the top
    // only) by its first child once its children are sorted.
    for k in kids.iter_mut() {
        k.sort_by_key(|&c| date[c]);
    }
    top.sort_by_key(|&r| first_date(r, &kids));

    top.into_iter().map(|r| build_thread(r, &kids, &|x| (!is_dummy(x)).then(|| number(&items[x])))).collect()
}

/// The thread below container `root`, built without recursion.
fn build_thread(root: usize, kids: &[Vec<usize>], number: &dyn Fn(usize) -> Option<u32>) -> Thread {
    // (container, next child to visit, children built so far)
    let mut stack: Vec<(usize, usize, Vec<Thread>)> = vec![(root, 0, Vec::with_capacity(kids[root].len()))];
    loop {
        let Some(frame) = stack.last_mut() else {
            return Thread { number: None, children: Vec::new() };
        };
        if let Some(&c) = kids[frame.0].get(frame.1) {
            frame.1 += 1;
            stack.push((c, 0, Vec::with_capacity(kids[c].len())));
            continue;
        }
        let Some((x, _, children)) = stack.pop() else {
            continue;
        };
        let thread = Thread { number: number(x), children };
        match stack.last_mut() {
            Some(parent) => parent.2.push(thread),
            None => return thread,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravel_store::mime::Envelope;
    use caravel_store::sort_keys::SortKeys;

    // ----- SORT (§3) -----

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

    #[test]
    fn link_cut_forest_finds_roots() {
        // Random links and cuts against a plain parent array.
        let size = 60;
        let mut forest = LinkCut::default();
        for _ in 0..size {
            forest.add();
        }
        let mut parent: Vec<Option<usize>> = vec![None; size];
        let root = |parent: &[Option<usize>], mut x: usize| {
            while let Some(p) = parent[x] {
                x = p;
            }
            x
        };
        let mut state = 0x2545_f491_u64;
        let mut random = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..20_000 {
            let (a, b) = (random(size), random(size));
            match random(3) {
                0 => {
                    if parent[a].is_some() {
                        forest.cut(a as u32);
                        parent[a] = None;
                    }
                }
                1 => {
                    if parent[a].is_none() && root(&parent, b) != a {
                        forest.link(a as u32, b as u32);
                        parent[a] = Some(b);
                    }
                }
                _ => assert_eq!(forest.find_root(a as u32) as usize, root(&parent, a)),
            }
        }
    }

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
