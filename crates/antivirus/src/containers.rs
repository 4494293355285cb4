//! Opening containers: zip, gzip, bzip2, tar, the streams of a PDF, the
//! parts of a mail message and uuencoded files in text. Every unpacked byte
//! is counted against the scan's [`Budget`]; what does not fit becomes a
//! `Limits` finding instead of memory or time (zip bombs).

use std::io::{Cursor, Read};

use caravel_store::mime::{decode_base64, decode_quoted_printable};
use mail_parser::{Encoding, Message, MimeHeaders, PartType};

use crate::heuristics::{is_macro_entry, Heuristic};

/// How far a scan may unpack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Containers inside containers (a message is level 0).
    pub max_depth: usize,
    /// Files unpacked from one message.
    pub max_files: usize,
    /// Bytes one unpacked file may have.
    pub max_file_size: usize,
    /// Bytes unpacked from one message in all.
    pub max_total: usize,
    /// Unpacked size over packed size, for files over 1 MiB.
    pub max_ratio: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 16, max_files: 1000, max_file_size: 50 << 20, max_total: 200 << 20, max_ratio: 100 }
    }
}

/// A file found inside another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub name: String,
    pub data: Vec<u8>,
    /// The name came from the sender (an attachment or archive entry name),
    /// not made up here ("part 2"): name heuristics apply.
    pub named: bool,
}

/// What one scan may still unpack, and what it had to leave out.
pub struct Budget<'l> {
    pub limits: &'l Limits,
    files: usize,
    total: usize,
    pub notes: Vec<(Heuristic, String)>,
}

/// Files smaller than this are never called bombs, whatever their ratio.
const RATIO_FLOOR: usize = 1 << 20;

impl<'l> Budget<'l> {
    pub fn new(limits: &'l Limits) -> Budget<'l> {
        Budget { limits, files: 0, total: 0, notes: Vec::new() }
    }

    pub fn files(&self) -> usize {
        self.files
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// The first note of each kind is kept (each kind has its own action:
    /// many notes of one kind must not crowd out another).
    pub fn note(&mut self, h: Heuristic, detail: String) {
        if !self.notes.iter().any(|(k, _)| *k == h) {
            self.notes.push((h, detail));
        }
    }

    /// Room for one more file?
    fn another_file(&mut self, container: &str) -> bool {
        if self.files >= self.limits.max_files {
            self.note(Heuristic::Limits, format!("{container}: more than {} files", self.limits.max_files));
            return false;
        }
        self.files += 1;
        true
    }

    /// Counts bytes that are already in memory (decoded MIME parts).
    pub fn account(&mut self, len: usize) {
        self.files += 1;
        self.total = self.total.saturating_add(len);
    }

    /// Reads an unpacked file within the limits; `packed` is its size in
    /// the container when known (for the ratio).
    fn read(&mut self, name: &str, reader: impl Read, packed: Option<usize>) -> Option<Vec<u8>> {
        let l = self.limits;
        let mut cap = l.max_file_size.min(l.max_total.saturating_sub(self.total));
        let by_ratio = packed.map(|p| p.saturating_mul(l.max_ratio).max(RATIO_FLOOR));
        if let Some(r) = by_ratio {
            cap = cap.min(r);
        }
        let mut data = Vec::new();
        let read = reader.take(cap as u64 + 1).read_to_end(&mut data);
        if data.len() > cap {
            let why = if by_ratio == Some(cap) {
                format!("{name} unpacks to more than {} times its packed size", l.max_ratio)
            } else {
                format!("{name} unpacks to more than {} bytes", cap)
            };
            self.note(Heuristic::Limits, why);
            return None;
        }
        if read.is_err() && data.is_empty() {
            return None;
        }
        self.total += data.len();
        Some(data)
    }
}

/// Opens a zip archive (and notes encrypted entries and Office macros).
pub fn zip(name: &str, data: &[u8], budget: &mut Budget) -> Vec<Child> {
    let mut out = Vec::new();
    let mut archive = match zip::ZipArchive::new(Cursor::new(data)) {
        Ok(a) => a,
        Err(e) => {
            budget.note(Heuristic::Unscannable, format!("{name} is a zip archive that cannot be opened ({e})"));
            return out;
        }
    };
    for i in 0..archive.len() {
        let (entry, encrypted, is_dir, packed) = match archive.by_index_raw(i) {
            Ok(f) => (f.name().to_string(), f.encrypted(), f.is_dir(), f.compressed_size() as usize),
            Err(e) => {
                budget.note(Heuristic::Unscannable, format!("{name}: entry {i} cannot be read ({e})"));
                continue;
            }
        };
        if is_dir {
            continue;
        }
        if is_macro_entry(&entry) {
            budget.note(Heuristic::Macro, format!("{name} is an Office document with macros ({entry})"));
        }
        if encrypted {
            budget.note(Heuristic::Encrypted, format!("{name}: {entry} is encrypted and cannot be scanned"));
            continue;
        }
        if !budget.another_file(name) {
            break;
        }
        let f = match archive.by_index(i) {
            Ok(f) => f,
            Err(e) => {
                budget.note(Heuristic::Unscannable, format!("{name}: {entry} cannot be unpacked ({e})"));
                continue;
            }
        };
        if let Some(d) = budget.read(&format!("{name}/{entry}"), f, Some(packed)) {
            out.push(Child { name: entry, data: d, named: true });
        }
    }
    out
}

pub fn gzip(name: &str, data: &[u8], budget: &mut Budget) -> Vec<Child> {
    one(name, strip_ext(name, &[".gz", ".tgz", ".gzip"]), flate2::read::MultiGzDecoder::new(data), data.len(), budget)
}

pub fn bzip2(name: &str, data: &[u8], budget: &mut Budget) -> Vec<Child> {
    one(name, strip_ext(name, &[".bz2", ".tbz", ".bzip2"]), bzip2::read::MultiBzDecoder::new(data), data.len(), budget)
}

fn one(name: &str, inner: String, reader: impl Read, packed: usize, budget: &mut Budget) -> Vec<Child> {
    if !budget.another_file(name) {
        return vec![];
    }
    budget.read(name, reader, Some(packed)).map(|d| Child { name: inner, data: d, named: true }).into_iter().collect()
}

fn strip_ext(name: &str, exts: &[&str]) -> String {
    let lower = name.to_ascii_lowercase();
    for e in exts {
        if lower.ends_with(e) && name.is_char_boundary(name.len() - e.len()) {
            let base = &name[..name.len() - e.len()];
            return if *e == ".tgz" || *e == ".tbz" { format!("{base}.tar") } else { base.to_string() };
        }
    }
    format!("{name}.unpacked")
}

pub fn tar(name: &str, data: &[u8], budget: &mut Budget) -> Vec<Child> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(Cursor::new(data));
    let Ok(entries) = archive.entries() else { return out };
    for entry in entries {
        let e = match entry {
            Ok(e) => e,
            Err(err) => {
                budget.note(Heuristic::Unscannable, format!("{name} is a damaged tar archive ({err})"));
                break;
            }
        };
        if !e.header().entry_type().is_file() {
            continue;
        }
        let entry = e.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        if !budget.another_file(name) {
            break;
        }
        // A tar member is stored, not packed: no ratio.
        if let Some(d) = budget.read(&format!("{name}/{entry}"), e, None) {
            out.push(Child { name: entry, data: d, named: true });
        }
    }
    out
}

/// A 7z archive (LZMA, LZMA2 and the other methods the decoder has).
pub fn sevenz(name: &str, data: &[u8], budget: &mut Budget) -> Vec<Child> {
    let mut out = Vec::new();
    // The decoder's own allocations (dictionaries, headers) are bounded
    // too, not only what it writes out.
    let memory_kb = (budget.limits.max_file_size / 1024).max(64 * 1024);
    let reader = sevenz_rust2::ArchiveReader::new_with_memory_limit(
        Cursor::new(data),
        sevenz_rust2::Password::empty(),
        memory_kb,
    );
    let mut reader = match reader {
        Ok(r) => r,
        Err(e) => {
            sevenz_failed(name, &e, budget);
            return out;
        }
    };
    reader.set_thread_count(1);
    let packed = data.len();
    let result = reader.for_each_entries(|entry, r| {
        if entry.is_directory() {
            return Ok(true);
        }
        if !budget.another_file(name) {
            return Ok(false);
        }
        let entry_name = entry.name().to_string();
        match budget.read(&format!("{name}/{entry_name}"), r, Some(packed)) {
            Some(d) => {
                out.push(Child { name: entry_name, data: d, named: true });
                Ok(true)
            }
            None => Ok(false),
        }
    });
    if let Err(e) = result {
        sevenz_failed(name, &e, budget);
    }
    out
}

/// A 7z archive that could not be read: encrypted (AES, which this build
/// does not decode) or otherwise unreadable.
fn sevenz_failed(name: &str, e: &sevenz_rust2::Error, budget: &mut Budget) {
    let text = format!("{e:?}").to_ascii_lowercase();
    if text.contains("password") || text.contains("aes") || text.contains("06f10701") {
        budget.note(Heuristic::Encrypted, format!("{name} is an encrypted 7z archive and cannot be scanned"));
    } else {
        budget.note(Heuristic::Unscannable, format!("{name} is a 7z archive that cannot be opened ({e})"));
    }
}

/// zlib streams inside an OLE2 document (old PowerPoint keeps embedded
/// objects compressed in its own stream format): every position that holds
/// a valid zlib header is tried, at most 32 streams.
pub fn ole_zlib(name: &str, data: &[u8], budget: &mut Budget) -> Vec<Child> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(p) = memchr::memchr(0x78, &data[at..]) {
        let i = at + p;
        at = i + 1;
        let Some(&flg) = data.get(i + 1) else { break };
        // RFC 1950 §2.2: CMF*256 + FLG is a multiple of 31; no preset dictionary.
        if !(0x78u16 * 256 + flg as u16).is_multiple_of(31) || flg & 0x20 != 0 {
            continue;
        }
        let mut probe = [0u8; 64];
        let mut z = flate2::read::ZlibDecoder::new(&data[i..]);
        if !matches!(z.read(&mut probe), Ok(n) if n == probe.len()) {
            continue;
        }
        if out.len() >= 32 || !budget.another_file(name) {
            break;
        }
        let stream = format!("{name}/stream at {i}");
        if let Some(d) = budget.read(&stream, flate2::read::ZlibDecoder::new(&data[i..]), Some(data.len() - i)) {
            out.push(Child { name: stream, data: d, named: false });
        }
    }
    out
}

/// The deflated streams of a PDF (where embedded files and scripts live).
pub fn pdf(name: &str, data: &[u8], budget: &mut Budget) -> Vec<Child> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut n = 0;
    while let Some(p) = find(&data[at..], b"stream") {
        let mut start = at + p + 6;
        at = start;
        // "endstream" also contains "stream"; a stream keyword ends its line.
        match data.get(start..start + 2) {
            Some(b"\r\n") => start += 2,
            Some([b'\n', _]) => start += 1,
            _ => continue,
        }
        let Some(len) = find(&data[start..], b"endstream") else { break };
        at = start + len + 9;
        let body = &data[start..start + len];
        if !body.starts_with(&[0x78]) {
            continue; // not zlib (FlateDecode)
        }
        n += 1;
        if !budget.another_file(name) {
            break;
        }
        let stream = format!("{name}/stream {n}");
        if let Some(d) = budget.read(&stream, flate2::read::ZlibDecoder::new(body), Some(body.len())) {
            if !d.is_empty() {
                out.push(Child { name: stream, data: d, named: false });
            }
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// uuencoded files in text.
pub fn uuencoded(name: &str, data: &[u8], budget: &mut Budget) -> Vec<Child> {
    if find(data, b"begin ").is_none() {
        return vec![];
    }
    let room = budget.limits.max_file_size.min(budget.limits.max_total.saturating_sub(budget.total));
    let mut out = Vec::new();
    for (entry, d) in crate::uu::decode_all(data, 64, room) {
        if d.len() >= room {
            budget.note(Heuristic::Limits, format!("{name}: the uuencoded {entry} is larger than {room} bytes"));
        }
        if !budget.another_file(name) {
            break;
        }
        budget.total += d.len();
        out.push(Child { name: entry, data: d, named: true });
    }
    out
}

/// A BinHex 4.0 file (old Macintosh mailers): 6-bit text between colons,
/// run-length coded, a header with the name and fork lengths, then the
/// data fork (returned) and the resource fork.
pub fn binhex(name: &str, data: &[u8], budget: &mut Budget) -> Vec<Child> {
    const ALPHABET: &[u8] = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
    let Some(intro) = find(data, b"(This file must be converted with BinHex") else { return vec![] };
    let Some(start) = memchr::memchr(b':', &data[intro..]).map(|p| intro + p + 1) else { return vec![] };
    let cap = budget.limits.max_file_size.min(budget.limits.max_total.saturating_sub(budget.total));
    let (mut raw, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for &c in &data[start..] {
        if c == b':' {
            break;
        }
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else { continue };
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            raw.push((acc >> bits) as u8);
            if raw.len() > cap {
                budget.note(Heuristic::Limits, format!("{name}: the BinHex file is larger than {cap} bytes"));
                break;
            }
        }
    }
    // Run-length coding: 0x90 n repeats the previous byte n-1 more times;
    // 0x90 0 is a literal 0x90.
    let mut plain: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() && plain.len() <= cap {
        if raw[i] == 0x90 && i + 1 < raw.len() {
            match (raw[i + 1], plain.last().copied()) {
                (0, _) => plain.push(0x90),
                (n, Some(prev)) => plain.extend(std::iter::repeat_n(prev, (n as usize - 1).min(cap))),
                (_, None) => {}
            }
            i += 2;
        } else {
            plain.push(raw[i]);
            i += 1;
        }
    }
    let Some(&n) = plain.first() else { return vec![] };
    let n = n as usize;
    let header_end = 1 + n + 1 + 4 + 4 + 2 + 4 + 4 + 2;
    let Some(h) = plain.get(..header_end) else { return vec![] };
    let entry = String::from_utf8_lossy(&h[1..1 + n]).into_owned();
    let len = u32::from_be_bytes([h[n + 12], h[n + 13], h[n + 14], h[n + 15]]) as usize;
    let fork = &plain[header_end..plain.len().min(header_end.saturating_add(len))];
    if fork.is_empty() || !budget.another_file(name) {
        return vec![];
    }
    budget.total += fork.len();
    vec![Child { name: entry, data: fork.to_vec(), named: true }]
}

/// A file packed by Microsoft's COMPRESS.EXE (`SZDD`): LZSS with a
/// 4 KiB window that starts filled with spaces.
pub fn szdd(name: &str, data: &[u8], budget: &mut Budget) -> Vec<Child> {
    let Some(body) = data.strip_prefix(b"SZDD\x88\xf0\x27\x33").and_then(|d| d.get(6..)) else { return vec![] };
    let cap = budget.limits.max_file_size.min(budget.limits.max_total.saturating_sub(budget.total));
    let cap = cap.min(body.len().saturating_mul(budget.limits.max_ratio).max(RATIO_FLOOR));
    let mut window = [b' '; 4096];
    let mut pos = 4096 - 16;
    let mut out = Vec::new();
    let mut input = body.iter().copied();
    'outer: while let Some(flags) = input.next() {
        for bit in 0..8 {
            if out.len() > cap {
                budget.note(Heuristic::Limits, format!("{name} unpacks to more than {cap} bytes"));
                return vec![];
            }
            if flags >> bit & 1 == 1 {
                let Some(b) = input.next() else { break 'outer };
                out.push(b);
                window[pos] = b;
                pos = (pos + 1) & 4095;
            } else {
                let (Some(lo), Some(hi)) = (input.next(), input.next()) else { break 'outer };
                let from = lo as usize | ((hi as usize & 0xf0) << 4);
                for k in 0..(hi as usize & 0x0f) + 3 {
                    let b = window[(from + k) & 4095];
                    out.push(b);
                    window[pos] = b;
                    pos = (pos + 1) & 4095;
                }
            }
        }
    }
    if out.is_empty() || !budget.another_file(name) {
        return vec![];
    }
    budget.total += out.len();
    vec![Child { name: format!("{name}.unpacked"), data: out, named: false }]
}

/// Decodes a run of text into bytes: (bytes, input bytes used).
type Decoder = fn(&[u8]) -> (Vec<u8>, usize);

/// Files embedded as text: `data:...;base64,` URIs (HTML) and the
/// hex-encoded objects of an RTF document (`\objdata`).
pub fn embedded(name: &str, data: &[u8], budget: &mut Budget) -> Vec<Child> {
    let mut out = Vec::new();
    // Word opens "{\\rt" without the "f".
    let rtf = data.starts_with(b"{\\rt");
    let (marker, decode): (&[u8], Decoder) = if rtf { (b"\\objdata", hex_run) } else { (b";base64,", base64_run) };
    let mut at = 0;
    while let Some(p) = data.get(at..).and_then(|rest| find(rest, marker)) {
        let start = at + p + marker.len();
        let room = budget.limits.max_file_size.min(budget.limits.max_total.saturating_sub(budget.total));
        let window = &data[start..data.len().min(start + room.saturating_mul(2) + 16)];
        let (bytes, used) = decode(window);
        if used == window.len() && start + used < data.len() {
            budget.note(Heuristic::Limits, format!("{name}: an embedded file is larger than {room} bytes"));
        }
        at = start + used.max(1);
        if bytes.len() < 16 {
            continue;
        }
        if !budget.another_file(name) {
            break;
        }
        budget.total += bytes.len();
        out.push(Child { name: format!("{name}/embedded {}", out.len() + 1), data: bytes, named: false });
    }
    out
}

/// Hex digits (whitespace between them allowed) decoded, and how many
/// input bytes they took.
/// Control words (`\\par`, `\\*`) and braces inside the data are skipped, as
/// Word skips them (a known way to hide an object from scanners).
fn hex_run(s: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut high: Option<u8> = None;
    let mut i = 0;
    let mut depth = 0usize;
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        match c {
            b'\\' => {
                i += 1;
                while i < s.len() && (s[i].is_ascii_alphabetic() || s[i] == b'*') {
                    i += 1;
                }
                while i < s.len() && (s[i].is_ascii_digit() || s[i] == b'-') {
                    i += 1;
                }
                continue;
            }
            b'{' => {
                depth += 1;
                i += 1;
                continue;
            }
            // The object's own group closes: the data ends.
            b'}' if depth == 0 => break,
            b'}' => {
                depth -= 1;
                i += 1;
                continue;
            }
            _ => {}
        }
        let Some(v) = (c as char).to_digit(16) else { break };
        match high.take() {
            Some(h) => out.push(h << 4 | v as u8),
            None => high = Some(v as u8),
        }
        i += 1;
    }
    (out, i)
}

/// Base64 (line breaks allowed) decoded up to the first other byte.
fn base64_run(s: &[u8]) -> (Vec<u8>, usize) {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let (mut out, mut acc, mut bits, mut i) = (Vec::new(), 0u32, 0, 0);
    while i < s.len() {
        let c = s[i];
        if c == b'\r' || c == b'\n' {
            i += 1;
            continue;
        }
        let Some(v) = value(c) else { break };
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        i += 1;
    }
    (out, i)
}

/// The decoded parts of a parsed message (nested messages included), in
/// order; attachments keep their names.
///
/// Each part is decoded here from its raw bytes, not taken from the
/// parser: the parser converts text parts to UTF-8 (a zip sent as
/// `text/plain` would no longer be a zip) and gives up on base64 with one
/// stray character, where mail programs skip it (RFC 2045 §6.8) and save
/// the file. A part without a transfer encoding the parser knows, whose
/// body is base64 all the same, is scanned both ways.
pub fn message_parts(msg: &Message, budget: &mut Budget) -> Vec<Child> {
    let mut out = Vec::new();
    let mut stack: Vec<&Message> = vec![msg];
    let mut n = 0;
    while let Some(m) = stack.pop() {
        let raw = m.raw_message();
        for part in &m.parts {
            match &part.body {
                PartType::Message(inner) => {
                    stack.push(inner);
                    continue;
                }
                PartType::Multipart(_) => continue,
                _ => {}
            }
            n += 1;
            let body = raw.get(part.offset_body as usize..part.offset_end as usize).unwrap_or_default();
            if body.len() > budget.limits.max_file_size.saturating_mul(4) / 3 + 1024 {
                budget
                    .note(Heuristic::Limits, format!("part {n} is larger than {} bytes", budget.limits.max_file_size));
                continue;
            }
            let (name, named) = match part.attachment_name() {
                Some(a) => (a.to_string(), true),
                None => (format!("part {n}"), false),
            };
            // The header's word, not the parser's reading of it: the parser
            // drops the encoding of a body it could not decode.
            let cte = part.content_transfer_encoding().map(|e| e.trim().to_ascii_lowercase());
            let encoding = match cte.as_deref() {
                Some("base64") => Encoding::Base64,
                Some("quoted-printable") => Encoding::QuotedPrintable,
                _ => part.encoding,
            };
            let mut decoded = vec![match encoding {
                Encoding::Base64 => decode_base64(body),
                Encoding::QuotedPrintable => decode_quoted_printable(body),
                Encoding::None => body.to_vec(),
            }];
            if encoding == Encoding::None && looks_base64(body) {
                decoded.push(decode_base64(body));
            }
            for data in decoded {
                if !budget.another_file("the message") {
                    return out;
                }
                budget.total += data.len();
                out.push(Child { name: name.clone(), data, named });
            }
        }
    }
    out
}

/// A body that is base64 whatever its header says: lines of the alphabet
/// only, long enough to be a file.
fn looks_base64(s: &[u8]) -> bool {
    let text = s.iter().filter(|b| !matches!(b, b'\r' | b'\n')).count();
    text >= 64 && s.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (n, d) in files {
            w.start_file(*n, zip::write::SimpleFileOptions::default()).expect("start");
            w.write_all(d).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    #[test]
    fn zip_entries_come_out_named() {
        let z = zip_of(&[("a.txt", b"alpha"), ("dir/b.exe", b"MZ beta")]);
        let l = Limits::default();
        let mut b = Budget::new(&l);
        let kids = zip("x.zip", &z, &mut b);
        assert_eq!(kids.len(), 2);
        assert_eq!((kids[1].name.as_str(), kids[1].data.as_slice()), ("dir/b.exe", &b"MZ beta"[..]));
        assert!(b.notes.is_empty());
    }

    #[test]
    fn a_zip_bomb_is_a_limits_note_not_memory() {
        let z = zip_of(&[("zeros.bin", &vec![0u8; 8 << 20])]);
        let l = Limits::default();
        let mut b = Budget::new(&l);
        assert!(zip("bomb.zip", &z, &mut b).is_empty());
        assert_eq!(b.notes.len(), 1);
        assert!(b.notes[0].1.contains("times its packed size"), "{:?}", b.notes);
        assert!(b.total() < 2 << 20);
    }

    #[test]
    fn file_count_and_total_limits() {
        let files: Vec<(String, Vec<u8>)> = (0..20).map(|i| (format!("f{i}"), vec![b'x'; 100])).collect();
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        let z = zip_of(&refs);
        let l = Limits { max_files: 5, ..Limits::default() };
        let mut b = Budget::new(&l);
        assert_eq!(zip("many.zip", &z, &mut b).len(), 5);
        assert!(b.notes[0].1.contains("more than 5 files"));
        let l = Limits { max_total: 250, ..Limits::default() };
        let mut b = Budget::new(&l);
        assert_eq!(zip("many.zip", &z, &mut b).len(), 2);
        assert_eq!(b.notes[0].0, Heuristic::Limits);
    }

    #[test]
    fn gzip_bzip2_tar_and_pdf_streams() {
        let l = Limits::default();
        let mut b = Budget::new(&l);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"inside gzip").expect("gz");
        let gz = gz.finish().expect("gz");
        assert_eq!(
            gzip("a.txt.gz", &gz, &mut b)[0],
            Child { name: "a.txt".into(), data: b"inside gzip".to_vec(), named: true }
        );
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(b"inside bzip2").expect("bz");
        let bz = bz.finish().expect("bz");
        assert_eq!(bzip2("a.bz2", &bz, &mut b)[0].data, b"inside bzip2");
        let mut t = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(10);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, "in/tar.bin", &b"inside tar"[..]).expect("tar");
        let t = t.into_inner().expect("tar");
        assert_eq!(
            tar("a.tar", &t, &mut b)[0],
            Child { name: "in/tar.bin".into(), data: b"inside tar".to_vec(), named: true }
        );
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"inside a pdf stream").expect("z");
        let mut pdf_bytes = b"%PDF-1.4\n1 0 obj << /Filter /FlateDecode >>\nstream\r\n".to_vec();
        pdf_bytes.extend(z.finish().expect("z"));
        pdf_bytes.extend_from_slice(b"\r\nendstream\nendobj\n");
        assert_eq!(pdf("a.pdf", &pdf_bytes, &mut b)[0].data, b"inside a pdf stream");
    }

    #[test]
    fn data_uris_and_rtf_objects() {
        let l = Limits::default();
        let mut b = Budget::new(&l);
        let html = b"<a href=\"data:application/octet-stream;base64,TVqQAAMAAAAEAAAA//8AALgAAAAA\">x</a>";
        let kids = embedded("a.html", html, &mut b);
        assert_eq!(kids.len(), 1);
        assert!(kids[0].data.starts_with(b"MZ\x90\x00\x03"), "{:?}", kids[0].data);
        let rtf = b"{\\rtf1 {\\object{\\*\\objdata 01050000 02000000\n 4d5a9000 03000000 04000000 ffff0000}}}";
        let kids = embedded("a.rtf", rtf, &mut b);
        assert_eq!(kids.len(), 1);
        assert_eq!(&kids[0].data[8..12], b"MZ\x90\x00");
        // Control words and groups inside the data, and "{\\rt" for "{\\rtf".
        let rtf =
            b"{\\rt {\\object{\\*\\objdata 0105\\par 0000{\\*\\x} 02000000 4d5a9000 03000000 04000000 ffff0000}}}";
        let kids = embedded("b.rtf", rtf, &mut b);
        assert_eq!(kids.len(), 1);
        assert_eq!(&kids[0].data[8..12], b"MZ\x90\x00");
    }

    #[test]
    fn a_marker_at_the_very_end() {
        let l = Limits::default();
        let mut b = Budget::new(&l);
        assert!(embedded("x", b"text;base64,", &mut b).is_empty());
        assert!(embedded("x", b"{\\rtf1 \\objdata", &mut b).is_empty());
    }

    #[test]
    fn broken_containers_give_nothing() {
        let l = Limits::default();
        let mut b = Budget::new(&l);
        assert!(zip("x", b"PK\x03\x04garbage", &mut b).is_empty());
        assert!(gzip("x", b"\x1f\x8bgarbage", &mut b).is_empty());
        assert!(tar("x", &[0u8; 100], &mut b).is_empty());
        assert!(pdf("x", b"%PDF stream\nx", &mut b).is_empty());
    }
}
