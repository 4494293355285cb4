//! The lexical elements of IMAP commands (RFC 9051 §9, formal syntax): atoms,
//! quoted strings, literals, lists, numbers, sequence sets and dates.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError(pub String);

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type PResult<T> = Result<T, SyntaxError>;

pub fn err<T>(what: &str) -> PResult<T> {
    Err(SyntaxError(what.to_string()))
}

/// One range of a sequence set; `u32::MAX` stands for `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    pub from: u64,
    pub to: u64,
}

/// `*`: kept apart from every number, so `4294967295` is a number and not
/// the last message (RFC 9051 §9 seq-number).
pub const STAR: u64 = u64::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceSet {
    Ranges(Vec<SeqRange>),
    /// `$`: the saved search result (RFC 5182).
    Saved,
}

impl SequenceSet {
    /// The set as ascending, disjoint, closed intervals, `*` being
    /// `largest` and each range's ends in either order (RFC 9051 §9
    /// seq-range). However many ranges overlap, the result has at most one
    /// interval per range, so resolving a set costs per range, not per
    /// number in it.
    pub fn intervals(&self, largest: u32) -> Vec<(u64, u64)> {
        let SequenceSet::Ranges(rs) = self else { return Vec::new() };
        let mut out: Vec<(u64, u64)> = rs
            .iter()
            .map(|r| {
                let a = if r.from == STAR { largest as u64 } else { r.from };
                let b = if r.to == STAR { largest as u64 } else { r.to };
                if a <= b {
                    (a, b)
                } else {
                    (b, a)
                }
            })
            .collect();
        out.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(out.len());
        for (lo, hi) in out {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        merged
    }

    /// Whether `n` is in the set, `*` being `largest`.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        match self {
            SequenceSet::Saved => false,
            SequenceSet::Ranges(rs) => rs.iter().any(|r| {
                let a = if r.from == STAR { largest as u64 } else { r.from };
                let b = if r.to == STAR { largest as u64 } else { r.to };
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                (n as u64) >= lo && (n as u64) <= hi
            }),
        }
    }
}

pub struct Cursor<'a> {
    b: &'a [u8],
    pub pos: usize,
}

fn is_atom_char(c: u8) -> bool {
    // RFC 9051: ATOM-CHAR = any CHAR except atom-specials.
    c > 0x20 && c < 0x7f && !b"(){ %*\"\\]".contains(&c)
}

/// Also 8-bit bytes: clients such as Python's imaplib send UTF-8 search
/// strings unquoted after CHARSET UTF-8, and Dovecot takes them too.
fn is_astring_char(c: u8) -> bool {
    is_atom_char(c) || c == b']' || c >= 0x80
}

impl<'a> Cursor<'a> {
    pub fn new(b: &'a [u8]) -> Cursor<'a> {
        Cursor { b, pos: 0 }
    }

    /// The bytes from `start` to the current position.
    pub fn b_slice(&self, start: usize) -> Vec<u8> {
        self.b[start..self.pos].to_vec()
    }

    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// The next two bytes, if there are two.
    pub fn b_peek2(&self) -> Option<(u8, u8)> {
        Some((*self.b.get(self.pos)?, *self.b.get(self.pos + 1)?))
    }

    pub fn at_end(&self) -> bool {
        matches!(&self.b[self.pos.min(self.b.len())..], b"" | b"\r\n" | b"\n")
    }

    pub fn expect(&mut self, c: u8) -> PResult<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            err(&format!("expected '{}'", c as char))
        }
    }

    pub fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn sp(&mut self) -> PResult<()> {
        self.expect(b' ')
    }

    pub fn end(&mut self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            err("unexpected characters at the end of the command")
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.pos < self.b.len() && f(self.b[self.pos]) {
            self.pos += 1;
        }
        &self.b[start..self.pos]
    }

    pub fn atom(&mut self) -> PResult<String> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return err("expected an atom");
        }
        Ok(String::from_utf8_lossy(a).into_owned())
    }

    /// A tag: astring characters except '+'.
    pub fn tag(&mut self) -> PResult<String> {
        let t = self.take_while(|c| is_astring_char(c) && c != b'+' && c < 0x80);
        if t.is_empty() {
            return err("expected a tag");
        }
        Ok(String::from_utf8_lossy(t).into_owned())
    }

    pub fn number(&mut self) -> PResult<u32> {
        let d = self.take_while(|c| c.is_ascii_digit());
        if d.is_empty() || d.len() > 10 {
            return err("expected a number");
        }
        std::str::from_utf8(d).ok().and_then(|s| s.parse().ok()).ok_or_else(|| SyntaxError("number too large".into()))
    }

    pub fn number64(&mut self) -> PResult<u64> {
        let d = self.take_while(|c| c.is_ascii_digit());
        if d.is_empty() || d.len() > 20 {
            return err("expected a number");
        }
        std::str::from_utf8(d).ok().and_then(|s| s.parse().ok()).ok_or_else(|| SyntaxError("number too large".into()))
    }

    /// A quoted string or a literal, as bytes.
    pub fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            Some(b'~') if self.b.get(self.pos + 1) == Some(&b'{') => {
                // literal8 (RFC 3516 BINARY) in APPEND.
                self.pos += 1;
                self.literal()
            }
            _ => err("expected a string"),
        }
    }

    fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => return err("unterminated quoted string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return err("bad escape in quoted string"),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'{')?;
        let n = self.number()? as usize;
        let _ = self.eat(b'+') || self.eat(b'-');
        self.expect(b'}')?;
        let _ = self.eat(b'\r');
        self.expect(b'\n')?;
        if self.pos + n > self.b.len() {
            return err("literal shorter than announced");
        }
        let out = self.b[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(out)
    }

    /// atom (with ']') | string.
    pub fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    return err("expected a string or atom");
                }
                Ok(a.to_vec())
            }
        }
    }

    pub fn astring_utf8(&mut self) -> PResult<String> {
        String::from_utf8(self.astring()?).map_err(|_| SyntaxError("invalid UTF-8".into()))
    }

    /// A mailbox name or pattern: astring, plus `%` and `*` for LIST patterns.
    pub fn list_mailbox(&mut self) -> PResult<String> {
        match self.peek() {
            Some(b'"') | Some(b'{') => {
                String::from_utf8(self.string()?).map_err(|_| SyntaxError("invalid UTF-8".into()))
            }
            _ => {
                let a = self.take_while(|c| is_astring_char(c) || c == b'%' || c == b'*');
                if a.is_empty() {
                    return err("expected a mailbox pattern");
                }
                Ok(String::from_utf8_lossy(a).into_owned())
            }
        }
    }

    pub fn sequence_set(&mut self) -> PResult<SequenceSet> {
        // SEARCHRES (RFC 5182): `$` is the result a SEARCH ... RETURN (SAVE) kept.
        if self.eat(b'$') {
            return Ok(SequenceSet::Saved);
        }
        let mut ranges = Vec::new();
        loop {
            let from = self.seq_number()?;
            let to = if self.eat(b':') { self.seq_number()? } else { from };
            ranges.push(SeqRange { from, to });
            if !self.eat(b',') {
                break;
            }
        }
        Ok(SequenceSet::Ranges(ranges))
    }

    fn seq_number(&mut self) -> PResult<u64> {
        if self.eat(b'*') {
            return Ok(STAR);
        }
        let n = self.number()?;
        if n == 0 {
            return err("0 is not a valid sequence number");
        }
        Ok(n as u64)
    }

    /// `( item SP item ... )`, possibly empty.
    pub fn paren_list<T>(&mut self, mut item: impl FnMut(&mut Self) -> PResult<T>) -> PResult<Vec<T>> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        while !self.eat(b')') {
            if !out.is_empty() {
                self.sp()?;
            }
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// A parenthesised list of flags (or a single flag when `bare` allows it).
    pub fn flag_list(&mut self, bare: bool) -> PResult<Vec<String>> {
        let paren = self.eat(b'(');
        if !paren && !bare {
            return err("expected a flag list");
        }
        let mut flags = Vec::new();
        loop {
            if paren && self.eat(b')') {
                break;
            }
            if !flags.is_empty() {
                if paren {
                    self.sp()?;
                } else if !self.eat(b' ') {
                    break;
                }
            }
            let backslash = self.eat(b'\\');
            let name = self.atom()?;
            flags.push(if backslash { format!("\\{name}") } else { name });
            if !paren && self.peek() != Some(b' ') {
                break;
            }
        }
        Ok(flags)
    }

    /// `dd-Mon-yyyy` (RFC 9051 date), as days since the Unix epoch.
    pub fn date(&mut self) -> PResult<i64> {
        let quoted = self.eat(b'"');
        let day = self.number()?;
        self.expect(b'-')?;
        let mon = self.take_while(|c| c.is_ascii_alphabetic());
        self.expect(b'-')?;
        let year = self.number()?;
        if quoted {
            self.expect(b'"')?;
        }
        let month = month_number(mon).ok_or_else(|| SyntaxError("bad month".into()))?;
        if !(1..=31).contains(&day) || !(1..=9999).contains(&year) {
            return err("bad date");
        }
        Ok(days_from_civil(year as i64, month, day as i64))
    }

    /// `"dd-Mon-yyyy hh:mm:ss +zzzz"`, as Unix seconds and the zone in
    /// minutes east of UTC.
    pub fn date_time(&mut self) -> PResult<(i64, i32)> {
        self.expect(b'"')?;
        let _ = self.eat(b' ');
        let day = self.number()?;
        self.expect(b'-')?;
        let mon = self.take_while(|c| c.is_ascii_alphabetic());
        self.expect(b'-')?;
        let year = self.number()?;
        self.sp()?;
        let h = self.number()?;
        self.expect(b':')?;
        let m = self.number()?;
        self.expect(b':')?;
        let s = self.number()?;
        self.sp()?;
        let sign = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return err("bad zone"),
        };
        self.pos += 1;
        let zone = self.number()? as i64;
        self.expect(b'"')?;
        let month = month_number(mon).ok_or_else(|| SyntaxError("bad month".into()))?;
        if h > 23 || m > 59 || s > 60 || !(1..=31).contains(&day) || zone % 100 > 59 || zone > 2359 {
            return err("bad date-time");
        }
        let days = days_from_civil(year as i64, month, day as i64);
        let minutes = sign * ((zone / 100) * 60 + zone % 100);
        Ok((days * 86400 + h as i64 * 3600 + m as i64 * 60 + s as i64 - minutes * 60, minutes as i32))
    }
}

fn month_number(m: &[u8]) -> Option<i64> {
    const M: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let m = String::from_utf8_lossy(m).to_ascii_lowercase();
    M.iter().position(|x| *x == m).map(|i| i as i64 + 1)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        let mut c = Cursor::new(b"\"a \\\"q\\\\\" {3}\r\nx\"y atom]x");
        assert_eq!(c.astring().expect("q"), b"a \"q\\");
        c.sp().expect("sp");
        assert_eq!(c.astring().expect("lit"), b"x\"y");
        c.sp().expect("sp");
        assert_eq!(c.astring().expect("atom"), b"atom]x");
        assert!(c.at_end());
    }

    #[test]
    fn sequence_set_intervals_are_sorted_merged_and_star_is_the_largest() {
        let set = |text: &[u8]| Cursor::new(text).sequence_set().expect("set");
        assert_eq!(set(b"9:7,1,3:5,4,2,20:*").intervals(12), [(1, 5), (7, 9), (12, 20)]);
        assert_eq!(set(b"3:5,6,7:8").intervals(8), [(3, 8)], "adjacent ranges merge");
        assert_eq!(set(b"*").intervals(0), [(0, 0)]);
        // `559:*` includes the largest even below 559 (RFC 3501 §6.4.8).
        assert_eq!(set(b"559:*").intervals(40), [(40, 559)]);
        assert_eq!(set(b"1:*,1:*,1:*").intervals(100_000), [(1, 100_000)]);
        assert_eq!(set(b"4294967295,1").intervals(3), [(1, 1), (4_294_967_295, 4_294_967_295)]);
        assert!(SequenceSet::Saved.intervals(5).is_empty());
    }

    #[test]
    fn sequence_sets() {
        let mut c = Cursor::new(b"1,3:5,7:*");
        let s = c.sequence_set().expect("set");
        assert!(
            s.contains(1, 10) && s.contains(4, 10) && s.contains(10, 10) && !s.contains(2, 10) && !s.contains(6, 10)
        );
        assert!(Cursor::new(b"0").sequence_set().is_err());
        let s = Cursor::new(b"*:4").sequence_set().expect("reversed");
        assert!(s.contains(3, 3) && s.contains(5, 10) && !s.contains(3, 10));
    }

    #[test]
    fn dates() {
        assert_eq!(Cursor::new(b"1-Jan-1970").date().expect("d"), 0);
        assert_eq!(Cursor::new(b"\"17-Jul-1996 02:44:25 -0700\"").date_time().expect("dt"), (837_596_665, -420));
        assert!(Cursor::new(b"32-Jan-2020").date().is_err());
    }

    #[test]
    fn flags() {
        let mut c = Cursor::new(b"(\\Seen $Forwarded)");
        assert_eq!(c.flag_list(false).expect("flags"), vec!["\\Seen".to_string(), "$Forwarded".to_string()]);
        let mut c = Cursor::new(b"\\Deleted \\Seen");
        assert_eq!(c.flag_list(true).expect("bare"), vec!["\\Deleted".to_string(), "\\Seen".to_string()]);
        assert_eq!(Cursor::new(b"()").flag_list(false).expect("empty"), Vec::<String>::new());
    }
}
