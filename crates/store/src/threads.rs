//! Threading (RFC 5256 §3): the ORDEREDSUBJECT and REFERENCES algorithms
//! over the keys computed when a message is stored ([`crate::sort_keys`]).
//! IMAP THREAD renders the result as its response; the webmail shows the
//! same threads in its message list.
//!
//! Every walk over a thread tree uses an explicit stack: a hostile mailbox
//! may hold reply chains a hundred thousand messages deep.

use std::collections::HashMap;

use crate::sort_keys::ThreadKeys;

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
}
