//! A signature database in ClamAV's public text formats:
//!
//! - `.hdb` (MD5) and `.hsb` (SHA-1, SHA-256) whole-file hashes:
//!   `HASH:SIZE:NAME[:MINFL]`, SIZE may be `*`;
//! - `.ndb` body patterns: `NAME:TARGET:OFFSET:HEXSIG[:MINFL[:MAXFL]]`.
//!
//! Lines of other formats, target types and offsets this scanner does not
//! implement are skipped and counted (`Database::skipped`), never matched
//! half-right. All patterns' anchors are found in one pass over a file
//! ([`crate::anchors`]), so thousands of signatures cost one pass.

use std::collections::HashMap;

use md5::Digest;

use crate::anchors::Anchors;
use crate::filetype::FileType;
use crate::hexsig::{hex_decode, Pattern, VERIFY_BUDGET};

/// The EICAR test file (eicar.org): every scanner must find it, so users can
/// check theirs without real malware. Built in, as ClamAV ships it.
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
pub const EICAR_NAME: &str = "Eicar-Test-Signature";

/// Where in a file a body pattern must start (`.ndb` field 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offset {
    Any,
    /// From `start` up to `start + shift`.
    At {
        start: usize,
        shift: usize,
    },
    /// `EOF-n`.
    FromEnd(usize),
}

impl Offset {
    fn parse(s: &str) -> Option<Offset> {
        if s == "*" {
            return Some(Offset::Any);
        }
        if let Some(n) = s.strip_prefix("EOF-") {
            return n.parse().ok().map(Offset::FromEnd);
        }
        let (start, shift) = match s.split_once(',') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => (s.parse().ok()?, 0),
        };
        Some(Offset::At { start, shift })
    }

    fn allows(&self, start: usize, len: usize) -> bool {
        match *self {
            Offset::Any => true,
            Offset::At { start: s, shift } => start >= s && start <= s.saturating_add(shift),
            Offset::FromEnd(n) => len.checked_sub(n) == Some(start),
        }
    }
}

struct BodySig {
    name: Box<str>,
    target: FileType,
    offset: Offset,
    pattern: Pattern,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum HashKind {
    Md5,
    Sha1,
    Sha256,
}

/// Counts of what a database holds, for `caravel doctor` and updates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub hashes: usize,
    pub patterns: usize,
    /// Lines of a known format this scanner cannot use (other target types,
    /// offsets relative to PE entry points, multi-byte alternatives ...).
    pub skipped: usize,
}

#[derive(Default)]
pub struct Builder {
    body: Vec<BodySig>,
    hashes: Vec<HashSig>,
    counts: Counts,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// With the built-in EICAR signatures (a hash and a body pattern).
    pub fn with_builtin() -> Builder {
        let mut b = Builder::new();
        let eicar_md5 = hex(&md5::Md5::digest(EICAR));
        let hex_body: String = EICAR.iter().map(|c| format!("{c:02x}")).collect();
        b.add_file("builtin.hdb", &format!("{eicar_md5}:{}:{EICAR_NAME}\n", EICAR.len()))
            .and_then(|_| b.add_file("builtin.ndb", &format!("{EICAR_NAME}:0:*:{hex_body}\n")))
            .expect("the built-in signatures parse");
        b
    }

    /// Adds a signature file by its name's extension; a line that is
    /// malformed fails the whole file (an update must not half-load).
    /// Files of other extensions are ignored (`Ok(false)`).
    pub fn add_file(&mut self, name: &str, text: &str) -> Result<bool, String> {
        let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
        let parse: fn(&mut Builder, &str) -> Result<(), String> = match ext.as_str() {
            "hdb" | "hsb" => Builder::hash_line,
            "ndb" => Builder::body_line,
            _ => return Ok(false),
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            parse(self, line).map_err(|e| format!("{name} line {}: {e}", n + 1))?;
        }
        Ok(true)
    }

    fn hash_line(&mut self, line: &str) -> Result<(), String> {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 3 {
            return Err("expected HASH:SIZE:NAME".into());
        }
        let hash = hex_decode(&f[0].to_ascii_lowercase()).ok_or("the hash is not hex")?;
        let kind = match hash.len() {
            16 => HashKind::Md5,
            20 => HashKind::Sha1,
            32 => HashKind::Sha256,
            _ => return Err("the hash is not MD5, SHA-1 or SHA-256".into()),
        };
        let size = match f[1] {
            "*" => None,
            s => Some(s.parse::<u64>().map_err(|_| "the size is not a number")?),
        };
        let mut digest = [0u8; 32];
        digest[..hash.len()].copy_from_slice(&hash);
        self.hashes.push(HashSig { kind, digest, size, name: f[2].into() });
        self.counts.hashes += 1;
        Ok(())
    }

    fn body_line(&mut self, line: &str) -> Result<(), String> {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            return Err("expected NAME:TARGET:OFFSET:HEXSIG".into());
        }
        let target: u8 = f[1].parse().map_err(|_| "the target type is not a number")?;
        let (Some(target), Some(offset)) = (FileType::from_target(target), Offset::parse(f[2])) else {
            self.counts.skipped += 1;
            return Ok(());
        };
        match Pattern::parse(f[3]) {
            Ok(pattern) => {
                self.body.push(BodySig { name: f[0].into(), target, offset, pattern });
                self.counts.patterns += 1;
            }
            Err(e) => {
                tracing::debug!(signature = f[0], error = %e, "body signature skipped");
                self.counts.skipped += 1;
            }
        }
        Ok(())
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn build(mut self) -> Database {
        // Signatures sharing an anchor share one entry of the anchor finder.
        let mut anchors: Vec<Vec<u8>> = Vec::new();
        let mut by_anchor: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut sigs_of: Vec<Vec<u32>> = Vec::new();
        for (i, s) in self.body.iter().enumerate() {
            let a = s.pattern.anchor();
            let id = *by_anchor.entry(a.clone()).or_insert_with(|| {
                anchors.push(a);
                sigs_of.push(Vec::new());
                anchors.len() - 1
            });
            sigs_of[id].push(i as u32);
        }
        self.hashes.sort_by_key(|h| (h.kind as u8, h.digest));
        let mut sizes: Vec<u64> = self.hashes.iter().filter_map(|h| h.size).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let mut any_size: Vec<HashKind> = self.hashes.iter().filter(|h| h.size.is_none()).map(|h| h.kind).collect();
        any_size.dedup();
        let mut kinds: Vec<HashKind> = self.hashes.iter().map(|h| h.kind).collect();
        kinds.dedup();
        Database {
            body: self.body.into_boxed_slice(),
            sigs_of: sigs_of.into_iter().map(Vec::into_boxed_slice).collect(),
            anchors: Anchors::new(anchors),
            hashes: self.hashes.into_boxed_slice(),
            sizes: sizes.into_boxed_slice(),
            any_size,
            kinds,
            counts: self.counts,
        }
    }
}

/// A file's signature checks stopped before the end (see
/// [`Database::scan_checked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted;

/// A whole-file hash signature.
struct HashSig {
    kind: HashKind,
    /// The digest, zero-padded to 32 bytes.
    digest: [u8; 32],
    /// `None`: any size.
    size: Option<u64>,
    name: Box<str>,
}

/// Loaded signatures, shared by every scan (immutable; an update builds a
/// new one and swaps it in).
pub struct Database {
    body: Box<[BodySig]>,
    sigs_of: Box<[Box<[u32]>]>,
    anchors: Anchors,
    /// Sorted by (kind, digest).
    hashes: Box<[HashSig]>,
    /// Every size a hash signature names: a file of another size is hashed
    /// only if some signature takes any size.
    sizes: Box<[u64]>,
    any_size: Vec<HashKind>,
    kinds: Vec<HashKind>,
    counts: Counts,
}

impl Database {
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The first signature that matches `data` (of type `kind`), by name.
    pub fn scan(&self, data: &[u8], kind: FileType) -> Option<String> {
        self.scan_checked(data, kind).unwrap_or(None)
    }

    /// [`Database::scan`], with `Err` when the file's verification budget
    /// ran out before every candidate was checked (data built to make the
    /// matcher backtrack): the file was not fully scanned.
    pub fn scan_checked(&self, data: &[u8], kind: FileType) -> Result<Option<String>, Exhausted> {
        match self.scan_hashes(data) {
            Some(name) => Ok(Some(name)),
            None => self.scan_body(data, kind),
        }
    }

    fn scan_hashes(&self, data: &[u8]) -> Option<String> {
        let size = data.len() as u64;
        let sized = self.sizes.binary_search(&size).is_ok();
        for &kind in &self.kinds {
            if !sized && !self.any_size.contains(&kind) {
                continue;
            }
            let mut digest = [0u8; 32];
            match kind {
                HashKind::Md5 => digest[..16].copy_from_slice(&md5::Md5::digest(data)),
                HashKind::Sha1 => digest[..20].copy_from_slice(&sha1::Sha1::digest(data)),
                HashKind::Sha256 => digest.copy_from_slice(&sha2::Sha256::digest(data)),
            }
            let first = self.hashes.partition_point(|h| (h.kind as u8, h.digest) < (kind as u8, digest));
            let found = self.hashes[first..]
                .iter()
                .take_while(|h| h.kind == kind && h.digest == digest)
                .find(|h| h.size.is_none_or(|s| s == size));
            if let Some(h) = found {
                return Some(h.name.to_string());
            }
        }
        None
    }

    fn scan_body(&self, data: &[u8], kind: FileType) -> Result<Option<String>, Exhausted> {
        // Every candidate gets a budget of its own; the file's total grows
        // with its size, so long files are not cut short by honest work.
        let mut budget = VERIFY_BUDGET.saturating_mul(16).max(data.len().saturating_mul(8));
        let mut exhausted = false;
        let len = data.len();
        let mut found = None;
        self.anchors.each(data, |anchor, at| {
            for &i in self.sigs_of[anchor].iter() {
                let s = &self.body[i as usize];
                if !s.target.accepts(kind) {
                    continue;
                }
                let mut one = VERIFY_BUDGET.min(budget);
                let before = one;
                let hit = s.pattern.verify(data, at, &|start| s.offset.allows(start, len), &mut one);
                budget -= before - one;
                if hit {
                    found = Some(s.name.to_string());
                    return true;
                }
            }
            if budget == 0 {
                exhausted = true;
                return true;
            }
            false
        });
        match found {
            Some(name) => Ok(Some(name)),
            None if exhausted => Err(Exhausted),
            None => Ok(None),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(files: &[(&str, &str)]) -> Database {
        let mut b = Builder::with_builtin();
        for (n, t) in files {
            b.add_file(n, t).expect("parses");
        }
        b.build()
    }

    #[test]
    fn eicar_is_built_in_alone_and_inside_other_bytes() {
        let d = db(&[]);
        assert_eq!(d.scan(EICAR, FileType::Other).as_deref(), Some(EICAR_NAME));
        let mut padded = b"some text before\n".to_vec();
        padded.extend_from_slice(EICAR);
        padded.extend_from_slice(b"\nand after");
        assert_eq!(d.scan(&padded, FileType::Other).as_deref(), Some(EICAR_NAME));
        assert_eq!(d.scan(b"X5O!P%@AP harmless", FileType::Other), None);
    }

    #[test]
    fn hashes_of_each_kind_with_and_without_size() {
        let data = b"a harmless file that a test calls malware";
        let md5 = hex(&md5::Md5::digest(data));
        let sha1 = hex(&sha1::Sha1::digest(data));
        let sha256 = hex(&sha2::Sha256::digest(data));
        let n = data.len();
        for (file, line, name) in [
            ("a.hdb", format!("{md5}:{n}:Test.Md5"), "Test.Md5"),
            ("a.hsb", format!("{sha1}:{n}:Test.Sha1"), "Test.Sha1"),
            ("a.hsb", format!("{}:*:Test.Sha256:73", sha256.to_uppercase()), "Test.Sha256"),
        ] {
            let d = db(&[(file, &line)]);
            assert_eq!(d.scan(data, FileType::Other).as_deref(), Some(name), "{line}");
            assert_eq!(d.scan(b"another file", FileType::Other), None);
        }
        // The size is part of the signature.
        let d = db(&[("a.hdb", &format!("{md5}:{}:Test.Md5", n + 1))]);
        assert_eq!(d.scan(data, FileType::Other), None);
    }

    #[test]
    fn body_patterns_respect_target_type_and_offset() {
        let d = db(&[(
            "t.ndb",
            "Test.Any:0:*:68656c6c6f*776f726c64\nTest.Pe:1:*:6576696c\nTest.Start:0:0:5354415254\nTest.End:0:EOF-3:454e44\n",
        )]);
        assert_eq!(d.scan(b"say hello to the world", FileType::Other).as_deref(), Some("Test.Any"));
        assert_eq!(d.scan(b"evil text", FileType::Other), None);
        assert_eq!(d.scan(b"MZ evil program", FileType::Pe).as_deref(), Some("Test.Pe"));
        assert_eq!(d.scan(b"START here", FileType::Other).as_deref(), Some("Test.Start"));
        assert_eq!(d.scan(b"not START here", FileType::Other), None);
        assert_eq!(d.scan(b"the END", FileType::Other).as_deref(), Some("Test.End"));
        assert_eq!(d.scan(b"the END.", FileType::Other), None);
    }

    #[test]
    fn unusable_lines_are_counted_and_broken_files_refused() {
        let mut b = Builder::new();
        b.add_file("x.ndb", "A:1:EP+10:41424344\nB:0:*:41(4243|4445)\nC:0:*:4142\nD:3:*:41424344\n").expect("ok");
        assert_eq!(b.counts(), &Counts { hashes: 0, patterns: 1, skipped: 3 });
        assert!(b.add_file("y.hdb", "nothex:12:Name\n").is_err());
        assert!(b.add_file("y.ndb", "OnlyName\n").is_err());
        assert_eq!(b.add_file("notes.txt", "anything"), Ok(false));
    }

    #[test]
    fn thousands_of_signatures_share_one_pass() {
        let mut text = String::new();
        for i in 0..5000u32 {
            let bytes = format!("sig-{i:05}-pattern");
            let hexed: String = bytes.bytes().map(|c| format!("{c:02x}")).collect();
            text.push_str(&format!("Gen.{i}:0:*:{hexed}\n"));
        }
        let d = db(&[("gen.ndb", &text)]);
        assert_eq!(d.counts().patterns, 5001);
        assert_eq!(d.scan(b"... sig-04321-pattern ...", FileType::Other).as_deref(), Some("Gen.4321"));
        assert_eq!(d.scan(b"... sig-99999-pattern ...", FileType::Other), None);
    }
}
