//! ClamAV body patterns (the fourth field of an `.ndb` line): hex bytes with
//! wildcards, as ClamAV's "Creating signatures" document describes them.
//!
//! Supported: `aa` (a byte), `??` (any byte), `a?` / `?a` (one nibble),
//! `*` (any number of bytes), `{n}`, `{n-m}`, `{-m}`, `{n-}` and `[n-m]`
//! (a gap of that many bytes), `(aa|bb|cc)` and `!(aa|bb)` (one byte out of,
//! or not out of, a set). Anything else (multi-byte alternatives, `(B)`/`(L)`
//! boundary anchors) makes the pattern unsupported: the loader skips and
//! counts it rather than matching it wrongly.
//!
//! A pattern is a list of segments (runs of byte tests) separated by gaps.
//! Its longest run of fixed bytes is its *anchor*: the database finds every
//! anchor in one pass ([`crate::anchors`]), and only where one occurs does
//! [`Pattern::verify`] check the rest.

/// One byte position of a segment, in two bytes (a signature database
/// holds millions of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteTest {
    kind: Kind,
    /// The byte, the nibble, or the index of the set in `Pattern::sets`.
    value: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    Any,
    /// `a?`: the high nibble is `value`.
    High,
    /// `?a`: the low nibble is `value`.
    Low,
    OneOf,
    NoneOf,
}

impl ByteTest {
    const fn new(kind: Kind, value: u8) -> ByteTest {
        ByteTest { kind, value }
    }

    fn matches(&self, b: u8, sets: &[Box<[u8]>]) -> bool {
        match self.kind {
            Kind::Exact => b == self.value,
            Kind::Any => true,
            Kind::High => b >> 4 == self.value,
            Kind::Low => b & 0x0f == self.value,
            Kind::OneOf => sets[self.value as usize].contains(&b),
            Kind::NoneOf => !sets[self.value as usize].contains(&b),
        }
    }
}

/// Bytes allowed between two segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub min: u32,
    /// `None`: unbounded (`*`).
    pub max: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tests: Box<[ByteTest]>,
    /// (start, length) of each segment in `tests`.
    segments: Box<[(u32, u32)]>,
    /// `gaps[i]` lies between segment `i` and segment `i + 1`.
    gaps: Box<[Gap]>,
    /// The byte sets of `(aa|bb)` and `!(aa|bb)` tests.
    sets: Box<[Box<[u8]>]>,
    /// (segment, start, length) of the anchor.
    anchor: (usize, usize, usize),
}

/// Patterns longer than this (in source characters) are refused: a
/// signature file is input too.
const MAX_SOURCE: usize = 64 * 1024;
/// Segments per pattern.
const MAX_SEGMENTS: usize = 64;
/// The anchor is cut to this many bytes (a longer one makes candidates no
/// rarer, only the comparison longer).
const MAX_ANCHOR: usize = 16;
/// ClamAV needs two fixed bytes in a row too: shorter anchors would match
/// almost everywhere.
const MIN_ANCHOR: usize = 2;

/// Work (byte tests) one verification may spend; patterns with several
/// `*` could otherwise backtrack for a long time on hostile data.
pub const VERIFY_BUDGET: usize = 200_000;

impl Pattern {
    pub fn parse(src: &str) -> Result<Pattern, String> {
        if src.len() > MAX_SOURCE {
            return Err("pattern too long".into());
        }
        let s = src.as_bytes();
        let mut segments: Vec<Vec<ByteTest>> = vec![Vec::new()];
        let mut gaps: Vec<Gap> = Vec::new();
        let mut sets: Vec<Box<[u8]>> = Vec::new();
        let mut i = 0;
        let add_gap = |segments: &mut Vec<Vec<ByteTest>>, gaps: &mut Vec<Gap>, g: Gap| -> Result<(), String> {
            if segments.last().is_some_and(|s| s.is_empty()) {
                if segments.len() == 1 {
                    return Err("a pattern cannot start with a gap".into());
                }
                // Two gaps in a row add up.
                let last = gaps.last_mut().ok_or("gap")?;
                last.min = last.min.saturating_add(g.min);
                last.max = last.max.zip(g.max).map(|(a, b)| a.saturating_add(b));
                return Ok(());
            }
            if segments.len() >= MAX_SEGMENTS {
                return Err("too many segments".into());
            }
            gaps.push(g);
            segments.push(Vec::new());
            Ok(())
        };
        while i < s.len() {
            let seg = segments.last_mut().ok_or("segment")?;
            match s[i] {
                b'*' => {
                    add_gap(&mut segments, &mut gaps, Gap { min: 0, max: None })?;
                    i += 1;
                }
                b'{' | b'[' => {
                    let close = if s[i] == b'{' { b'}' } else { b']' };
                    let end = s[i..].iter().position(|&c| c == close).ok_or("unclosed gap")? + i;
                    let g = parse_gap(&src[i + 1..end], close == b']')?;
                    add_gap(&mut segments, &mut gaps, g)?;
                    i = end + 1;
                }
                b'(' | b'!' => {
                    let negate = s[i] == b'!';
                    let open = if negate { i + 1 } else { i };
                    if s.get(open) != Some(&b'(') {
                        return Err("expected ( after !".into());
                    }
                    let end = s[open..].iter().position(|&c| c == b')').ok_or("unclosed (")? + open;
                    let mut set = Vec::new();
                    for alt in src[open + 1..end].split('|') {
                        if alt.len() != 2 {
                            return Err(format!("unsupported alternative {alt:?}"));
                        }
                        set.push(hex_byte(alt.as_bytes()).ok_or("bad hex in alternative")?);
                    }
                    if sets.len() > u8::MAX as usize {
                        return Err("too many alternatives".into());
                    }
                    seg.push(ByteTest::new(if negate { Kind::NoneOf } else { Kind::OneOf }, sets.len() as u8));
                    sets.push(set.into_boxed_slice());
                    i = end + 1;
                }
                _ => {
                    let pair = s.get(i..i + 2).ok_or("odd number of hex digits")?;
                    let test = match pair {
                        b"??" => ByteTest::new(Kind::Any, 0),
                        [b'?', l] => ByteTest::new(Kind::Low, nibble(*l).ok_or("bad hex digit")?),
                        [h, b'?'] => ByteTest::new(Kind::High, nibble(*h).ok_or("bad hex digit")?),
                        _ => ByteTest::new(
                            Kind::Exact,
                            hex_byte(pair).ok_or_else(|| format!("bad hex {:?}", String::from_utf8_lossy(pair)))?,
                        ),
                    };
                    seg.push(test);
                    i += 2;
                }
            }
        }
        if segments.last().is_some_and(|s| s.is_empty()) {
            return Err("a pattern cannot end with a gap".into());
        }
        let anchor = longest_fixed_run(&segments).ok_or("no run of two fixed bytes to anchor on")?;
        let mut bounds = Vec::with_capacity(segments.len());
        let mut tests = Vec::new();
        for seg in segments {
            bounds.push((tests.len() as u32, seg.len() as u32));
            tests.extend(seg);
        }
        Ok(Pattern {
            tests: tests.into_boxed_slice(),
            segments: bounds.into_boxed_slice(),
            gaps: gaps.into_boxed_slice(),
            sets: sets.into_boxed_slice(),
            anchor,
        })
    }

    /// The fixed bytes the anchor finder looks for.
    pub fn anchor(&self) -> Vec<u8> {
        let (seg, start, len) = self.anchor;
        self.segment(seg)[start..start + len].iter().map(|t| t.value).collect()
    }

    /// Whether the pattern matches `data` with its anchor found at `at`;
    /// `start_ok` says whether a match starting at a position is allowed
    /// (the signature's offset). `budget` is shared by one file's checks.
    pub fn verify(&self, data: &[u8], at: usize, start_ok: &dyn Fn(usize) -> bool, budget: &mut usize) -> bool {
        let (seg, start, _) = self.anchor;
        let Some(seg_start) = at.checked_sub(start) else { return false };
        if !self.segment_at(seg, data, seg_start, budget) {
            return false;
        }
        let after = seg_start + self.segment(seg).len();
        if !self.forward(seg + 1, data, after, budget) {
            return false;
        }
        self.backward(seg, data, seg_start, start_ok, budget)
    }

    fn segment(&self, i: usize) -> &[ByteTest] {
        let (start, len) = self.segments[i];
        &self.tests[start as usize..(start + len) as usize]
    }

    fn segment_at(&self, i: usize, data: &[u8], pos: usize, budget: &mut usize) -> bool {
        let seg = self.segment(i);
        let Some(window) = data.get(pos..pos + seg.len()) else { return false };
        *budget = budget.saturating_sub(seg.len());
        seg.iter().zip(window).all(|(t, &b)| t.matches(b, &self.sets))
    }

    /// Segments `i..` placed after `pos`, each within its gap.
    fn forward(&self, i: usize, data: &[u8], pos: usize, budget: &mut usize) -> bool {
        if i == self.segments.len() {
            return true;
        }
        let gap = self.gaps[i - 1];
        let len = self.segment(i).len();
        let last_start = data.len().saturating_sub(len);
        let hi = gap.max.map_or(last_start, |m| (pos + m as usize).min(last_start));
        let mut p = pos + gap.min as usize;
        while p <= hi && *budget > 0 {
            if self.segment_at(i, data, p, budget) && self.forward(i + 1, data, p + len, budget) {
                return true;
            }
            p += 1;
        }
        false
    }

    /// Segments `..i` placed before `end` (where segment `i` starts); the
    /// start of segment 0 must satisfy `start_ok`.
    fn backward(
        &self,
        i: usize,
        data: &[u8],
        end: usize,
        start_ok: &dyn Fn(usize) -> bool,
        budget: &mut usize,
    ) -> bool {
        if i == 0 {
            return start_ok(end);
        }
        let gap = self.gaps[i - 1];
        let len = self.segment(i - 1).len();
        let Some(latest) = end.checked_sub(gap.min as usize + len) else { return false };
        let earliest = gap.max.map_or(0, |m| end.saturating_sub(m as usize + len));
        let mut p = latest;
        while p >= earliest && *budget > 0 {
            if self.segment_at(i - 1, data, p, budget) && self.backward(i - 1, data, p, start_ok, budget) {
                return true;
            }
            if p == 0 {
                break;
            }
            p -= 1;
        }
        false
    }
}

fn parse_gap(s: &str, bracket: bool) -> Result<Gap, String> {
    let num = |t: &str| t.trim().parse::<u32>().map_err(|_| format!("bad gap {s:?}"));
    let g = match s.split_once('-') {
        None => {
            let n = num(s)?;
            Gap { min: n, max: Some(n) }
        }
        Some(("", m)) => Gap { min: 0, max: Some(num(m)?) },
        Some((n, "")) if !bracket => Gap { min: num(n)?, max: None },
        Some((n, m)) => Gap { min: num(n)?, max: Some(num(m)?) },
    };
    if g.max.is_some_and(|m| m < g.min) {
        return Err(format!("gap {s:?} ends before it starts"));
    }
    Ok(g)
}

fn longest_fixed_run(segments: &[Vec<ByteTest>]) -> Option<(usize, usize, usize)> {
    let mut best: Option<(usize, usize, usize)> = None;
    for (si, seg) in segments.iter().enumerate() {
        let mut run_start = 0;
        for j in 0..=seg.len() {
            let fixed = seg.get(j).is_some_and(|t| t.kind == Kind::Exact);
            if fixed {
                continue;
            }
            let len = j - run_start;
            if len >= MIN_ANCHOR && best.is_none_or(|b| len > b.2) {
                best = Some((si, run_start, len));
            }
            run_start = j + 1;
        }
    }
    // A long run is cut; its middle is as good as its start.
    best.map(|(s, st, len)| (s, st, len.min(MAX_ANCHOR)))
}

fn nibble(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn hex_byte(p: &[u8]) -> Option<u8> {
    Some(nibble(*p.first()?)? << 4 | nibble(*p.get(1)?)?)
}

/// Decodes plain hex (no wildcards), as `.hdb` names and tests use it.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes().chunks(2).map(hex_byte).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(p: &str, data: &[u8]) -> bool {
        find_with(p, data, &|_| true)
    }

    fn find_with(p: &str, data: &[u8], ok: &dyn Fn(usize) -> bool) -> bool {
        let pat = Pattern::parse(p).expect("pattern");
        let anchor = pat.anchor();
        let mut budget = VERIFY_BUDGET;
        (0..data.len()).filter(|&i| data[i..].starts_with(&anchor)).any(|i| pat.verify(data, i, ok, &mut budget))
    }

    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn fixed_bytes_match_anywhere() {
        assert!(find(&hex("virus"), b"a virus here"));
        assert!(!find(&hex("virus"), b"a viruz here"));
    }

    #[test]
    fn wildcards_and_nibbles() {
        // "ab" ?? "de": any byte between.
        assert!(find("6162??6465", b"xxabcdeyy"));
        assert!(!find("6162??6465", b"xxabcdyy"));
        // 6? : high nibble 6 (a-o); ?4 : low nibble 4.
        assert!(!find("61626?6465", b"abzde"));
        assert!(find("61626?6465", b"abode"));
        assert!(find("6162?46465", b"abdde"));
    }

    #[test]
    fn gaps_bounded_and_unbounded() {
        assert!(find("6162{2}6364", b"abXXcd"));
        assert!(!find("6162{2}6364", b"abXcd"));
        assert!(find("6162{1-3}6364", b"abXXXcd"));
        assert!(!find("6162{1-3}6364", b"abXXXXcd"));
        assert!(find("6162{-2}6364", b"abcd"));
        assert!(find("6162{2-}6364", b"ab12345cd"));
        assert!(!find("6162{2-}6364", b"abXcd"));
        assert!(find("6162*6364", b"ab................cd"));
        assert!(find("6162[1-2]6364", b"abXcd"));
        // The anchor can be in the last segment: earlier ones are checked backward.
        assert!(find("61*636465666768", b"a--cdefgh"));
        assert!(!find("61*636465666768", b"--cdefgh"));
    }

    #[test]
    fn alternatives() {
        assert!(find("6162(63|64)6566", b"abdef"));
        assert!(!find("6162(63|64)6566", b"abxef"));
        assert!(find("6162!(63|64)6566", b"abxef"));
        assert!(!find("6162!(63|64)6566", b"abcef"));
    }

    #[test]
    fn the_start_offset_is_checked() {
        assert!(find_with(&hex("abc"), b"abc...", &|s| s == 0));
        assert!(!find_with(&hex("abc"), b".abc..", &|s| s == 0));
        assert!(find_with("61*6364", b"xa..cd", &|s| s == 1));
    }

    #[test]
    fn unsupported_or_broken_patterns_are_refused() {
        for p in ["", "6", "zz", "*6162", "6162*", "61??", "(6162|6364)6566", "6162(B)6364", "6162{3-1}6364", "6162{"] {
            assert!(Pattern::parse(p).is_err(), "{p}");
        }
        assert!(Pattern::parse(&"61".repeat(40_000)).is_err());
        // Not hex, and not even ASCII (found by fuzzing: no panic on the message).
        assert!(Pattern::parse("0ÿdf").is_err());
    }

    #[test]
    fn backtracking_is_bounded() {
        // Many '*' over data full of near-misses: the budget ends it.
        let pat = Pattern::parse(&format!("6161*{}*6262*6363*6464", "61".repeat(3))).expect("p");
        let data = vec![b'a'; 200_000];
        let mut budget = VERIFY_BUDGET;
        let mut calls = 0;
        for i in 0..1000 {
            calls += 1;
            let _ = pat.verify(&data, i, &|_| true, &mut budget);
            if budget == 0 {
                break;
            }
        }
        assert!(budget == 0 && calls < 1000, "budget {budget} after {calls}");
    }
}
