//! The scan of one message or file: every file in it, containers opened
//! depth-first within the [`Limits`], each file checked against the
//! signatures and the heuristics. The first signature match ends the scan
//! (the message is infected whatever else it holds).

use std::borrow::Cow;
use std::sync::Arc;

use crate::containers::{self, Budget, Child, Limits};
use crate::filetype::FileType;
use crate::heuristics::{self, Heuristic};
use crate::signatures::Database;

/// Something a scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A signature matched: the name of the threat, and the file.
    Virus { name: String, file: String },
    /// A heuristic fired.
    Suspicious { kind: Heuristic, detail: String },
}

impl Finding {
    pub fn name(&self) -> &str {
        match self {
            Finding::Virus { name, .. } => name,
            Finding::Suspicious { kind, .. } => kind.name(),
        }
    }

    /// In plain words, for replies, logs and the quarantine.
    pub fn describe(&self) -> String {
        match self {
            Finding::Virus { name, file } => format!("{name} in {file}"),
            Finding::Suspicious { detail, .. } => detail.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Files looked at (the message itself, its parts, archive members).
    pub files: usize,
    /// Bytes unpacked or decoded on top of the message.
    pub unpacked: usize,
}

impl Report {
    pub fn virus(&self) -> Option<&Finding> {
        self.findings.iter().find(|f| matches!(f, Finding::Virus { .. }))
    }

    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Bytes of a raw message scanned as a mail file (its parts are scanned
/// decoded, in full).
pub const RAW_MAIL_SCAN: usize = 1 << 20;

#[derive(Clone)]
pub struct Scanner {
    db: Arc<Database>,
    limits: Limits,
}

struct Item<'a> {
    name: String,
    data: Cow<'a, [u8]>,
    named: bool,
    depth: usize,
}

impl Scanner {
    pub fn new(db: Arc<Database>, limits: Limits) -> Scanner {
        Scanner { db, limits }
    }

    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }

    /// Scans a file (or a message file) from the outside: its type decides
    /// how it is opened.
    pub fn scan_file(&self, name: &str, data: Vec<u8>) -> Report {
        let mut budget = Budget::new(&self.limits);
        let items = vec![Item { name: name.to_string(), data: Cow::Owned(data), named: true, depth: 0 }];
        self.walk(items, &mut budget)
    }

    /// Scans a message whose parts are already decoded (the filter parses a
    /// message once for every stage): the raw message, then each part.
    /// `notes` are parts the decoding had to leave out.
    pub fn scan_message(&self, raw: &[u8], parts: &[Child], notes: &[(Heuristic, String)]) -> Report {
        let mut budget = Budget::new(&self.limits);
        budget.notes.extend(notes.iter().cloned());
        let mut report = Report { files: 1, ..Report::default() };
        // The parts are scanned decoded below; of the raw message, what
        // mail signatures look at (the header and the start of the body)
        // is enough: past it, a large message is its encoded attachments.
        let raw = &raw[..raw.len().min(RAW_MAIL_SCAN)];
        if let Some(name) = self.db.scan(raw, FileType::Mail) {
            report.findings.push(Finding::Virus { name, file: "the message".into() });
            return report;
        }
        for p in parts {
            budget.account(p.data.len());
        }
        let items = parts
            .iter()
            .map(|c| Item { name: c.name.clone(), data: Cow::Borrowed(&c.data[..]), named: c.named, depth: 1 })
            .collect();
        let mut rest = self.walk(items, &mut budget);
        rest.files += 1;
        rest
    }

    fn walk(&self, items: Vec<Item<'_>>, budget: &mut Budget) -> Report {
        let mut report = Report::default();
        // Depth first, in order: the stack holds the items reversed.
        let mut stack: Vec<Item> = items.into_iter().rev().collect();
        while let Some(item) = stack.pop() {
            report.files += 1;
            if item.named {
                if let Some((kind, detail)) = heuristics::check_name(&item.name) {
                    push_once(&mut report, Finding::Suspicious { kind, detail });
                }
            }
            let kind = FileType::detect(&item.data);
            let found = self.db.scan_checked(&item.data, kind).unwrap_or_else(|_| {
                budget.note(
                    Heuristic::Limits,
                    format!("{}: checking the signatures took too long; it was not fully scanned", item.name),
                );
                None
            });
            if let Some(name) = found {
                report.findings.retain(|f| matches!(f, Finding::Virus { .. }));
                report.findings.push(Finding::Virus { name, file: item.name.clone() });
                break;
            }
            match kind {
                FileType::Pe | FileType::Elf | FileType::MachO => push_once(
                    &mut report,
                    Finding::Suspicious {
                        kind: Heuristic::Executable,
                        detail: format!("{:?} is a program", item.name),
                    },
                ),
                FileType::Ole2 if heuristics::ole_has_macros(&item.data) => push_once(
                    &mut report,
                    Finding::Suspicious {
                        kind: Heuristic::Macro,
                        detail: format!("{} is an Office document with macros", item.name),
                    },
                ),
                FileType::Ole2 if heuristics::ole_is_encrypted(&item.data) => push_once(
                    &mut report,
                    Finding::Suspicious {
                        kind: Heuristic::Encrypted,
                        detail: format!("{} is a password-protected Office document and cannot be scanned", item.name),
                    },
                ),
                _ => {}
            }
            let container = matches!(
                kind,
                FileType::Zip
                    | FileType::Gzip
                    | FileType::Bzip2
                    | FileType::Tar
                    | FileType::SevenZip
                    | FileType::Pdf
                    | FileType::Pe
                    | FileType::Ole2
                    | FileType::Mail
            );
            if container && item.depth >= self.limits.max_depth {
                push_once(
                    &mut report,
                    Finding::Suspicious {
                        kind: Heuristic::Limits,
                        detail: format!("{} nests more than {} levels deep", item.name, self.limits.max_depth),
                    },
                );
                continue;
            }
            let children = self.open(&item, kind, budget);
            for c in children.into_iter().rev() {
                stack.push(Item { name: c.name, data: Cow::Owned(c.data), named: c.named, depth: item.depth + 1 });
            }
        }
        if report.virus().is_none() {
            for (kind, detail) in budget.notes.drain(..) {
                push_once(&mut report, Finding::Suspicious { kind, detail });
            }
        }
        report.unpacked = budget.total();
        report
    }

    fn open(&self, item: &Item<'_>, kind: FileType, budget: &mut Budget) -> Vec<Child> {
        let name = item.name.as_str();
        match kind {
            FileType::Zip => containers::zip(name, &item.data, budget),
            // A self-extracting archive: a program with a zip behind it.
            FileType::Pe if crate::filetype::has_zip_directory(&item.data) => containers::zip(name, &item.data, budget),
            FileType::Gzip => containers::gzip(name, &item.data, budget),
            FileType::Bzip2 => containers::bzip2(name, &item.data, budget),
            FileType::Tar => containers::tar(name, &item.data, budget),
            FileType::SevenZip => containers::sevenz(name, &item.data, budget),
            FileType::Rar => {
                budget.note(Heuristic::Unscannable, format!("{name} is a RAR archive, which this scanner cannot open"));
                Vec::new()
            }
            FileType::Pdf => containers::pdf(name, &item.data, budget),
            FileType::Ole2 => containers::ole_zlib(name, &item.data, budget),
            FileType::Mail => caravel_store::mime::with_parsed(&item.data, |m| containers::message_parts(m, budget))
                .unwrap_or_default(),
            FileType::Other => {
                let mut found = containers::uuencoded(name, &item.data, budget);
                found.extend(containers::embedded(name, &item.data, budget));
                found.extend(containers::binhex(name, &item.data, budget));
                found.extend(containers::szdd(name, &item.data, budget));
                found
            }
            _ => Vec::new(),
        }
    }
}

/// One finding per kind is enough to decide; more would only repeat.
fn push_once(report: &mut Report, f: Finding) {
    let same = |g: &Finding| match (g, &f) {
        (Finding::Suspicious { kind: a, .. }, Finding::Suspicious { kind: b, .. }) => a == b,
        _ => false,
    };
    if !report.findings.iter().any(same) {
        report.findings.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signatures::{Builder, EICAR, EICAR_NAME};
    use std::io::Write;

    fn scanner() -> Scanner {
        Scanner::new(Arc::new(Builder::with_builtin().build()), Limits::default())
    }

    fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file(name, zip::write::SimpleFileOptions::default()).expect("start");
        w.write_all(data).expect("write");
        w.finish().expect("finish").into_inner()
    }

    fn mail_with(name: &str, data: &[u8]) -> Vec<u8> {
        let b64 = base64(data);
        format!(
            "From: a@b.test\r\nTo: c@d.test\r\nSubject: order\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
        )
        .into_bytes()
    }

    fn base64(data: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in data.chunks(3) {
            let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                if i <= c.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn names(r: &Report) -> Vec<&str> {
        r.findings.iter().map(|f| f.name()).collect()
    }

    #[test]
    fn eicar_in_a_zip_in_a_zip_in_a_mail() {
        let inner = zip_of("eicar.com", EICAR);
        let outer = zip_of("inner.zip", &inner);
        let r = scanner().scan_file("mail.eml", mail_with("order.zip", &outer));
        assert_eq!(r.virus(), Some(&Finding::Virus { name: EICAR_NAME.into(), file: "eicar.com".into() }));
        assert_eq!(names(&r), [EICAR_NAME], "a virus is the only finding");
    }

    #[test]
    fn the_pipeline_entry_scans_given_parts() {
        let s = scanner();
        let parts = vec![Child { name: "a.zip".into(), data: zip_of("e.txt", EICAR), named: true }];
        assert!(s.scan_message(b"Subject: x\r\n\r\nhi", &parts, &[]).virus().is_some());
        let pdf = [Child { name: "a.pdf".into(), data: b"%PDF-1.4 fine".to_vec(), named: true }];
        let r = s.scan_message(b"Subject: x\r\n\r\nhi", &pdf, &[]);
        assert!(r.is_clean(), "{r:?}");
    }

    #[test]
    fn heuristics_fire_on_names_and_contents() {
        let s = scanner();
        let r = s.scan_file("m.eml", mail_with("invoice.pdf.exe", b"MZ\x90\x00 a program"));
        assert_eq!(names(&r), ["Heuristics.DoubleExtension", "Heuristics.Executable"]);
        let r = s.scan_file("m.eml", mail_with("photos.zip", &zip_of("IMG_0001.jpg.scr", b"xx")));
        assert_eq!(names(&r), ["Heuristics.DoubleExtension"]);
        let r = s.scan_file("m.eml", mail_with("report.doc", b"MZ disguised"));
        assert_eq!(names(&r), ["Heuristics.Executable"]);
        let r = s.scan_file("m.eml", mail_with("price list.pdf", b"%PDF-1.4 fine"));
        assert!(r.is_clean(), "{r:?}");
    }

    #[test]
    fn archives_that_cannot_be_opened_are_findings_and_prefixed_zips_are_opened() {
        let s = scanner();
        assert_eq!(names(&s.scan_file("a.rar", b"Rar!\x1a\x07\x00 whatever".to_vec())), ["Heuristics.Unscannable"]);
        assert_eq!(names(&s.scan_file("a.zip", b"PK\x03\x04 broken".to_vec())), ["Heuristics.Unscannable"]);
        let mut prefixed = b"GIF89a an image first ".to_vec();
        prefixed.extend(zip_of("e.com", EICAR));
        assert!(s.scan_file("photo.gif", prefixed).virus().is_some());
        let mut sfx = b"MZ\x90\x00 a self-extracting program ".to_vec();
        sfx.extend(zip_of("e.com", EICAR));
        assert!(s.scan_file("setup.bin", sfx).virus().is_some());
    }

    #[test]
    fn parts_are_scanned_as_sent_not_as_the_parser_converts_them() {
        let s = scanner();
        // A zip declared text/plain in Latin-1, sent 8bit: the bytes a mail
        // program saves, not a UTF-8 conversion of them.
        let zip = zip_of("e.com", EICAR);
        let mut raw = b"From: a@b.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1; name=\"a.zip\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".to_vec();
        raw.extend_from_slice(&zip);
        raw.extend_from_slice(b"\r\n--b--\r\n");
        assert!(s.scan_file("m.eml", raw).virus().is_some());
        // Base64 with a stray character in it (mail programs skip it).
        let b64 = base64(EICAR);
        let broken = format!("{}!{}", &b64[..20], &b64[20..]);
        let raw = format!("From: a@b.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream; name=\"e.com\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{broken}\r\n");
        assert!(s.scan_file("m.eml", raw.into_bytes()).virus().is_some());
    }

    #[test]
    fn a_file_that_exhausts_the_matcher_is_a_finding_not_clean() {
        // Every position starts the anchor "AAAA"; the gap then searches the
        // rest of the file for "ZZZZ" each time.
        let mut b = Builder::with_builtin();
        b.add_file("slow.ndb", "Slow.Test:0:*:41414141*5a5a5a5a\n").expect("signature");
        let s = Scanner::new(Arc::new(b.build()), Limits::default());
        let r = s.scan_file("data.bin", vec![b'A'; 1 << 20]);
        assert_eq!(names(&r), ["Heuristics.LimitsExceeded"], "{r:?}");
    }

    #[test]
    fn many_notes_of_one_kind_do_not_crowd_out_another() {
        let l = Limits::default();
        let mut budget = Budget::new(&l);
        for i in 0..40 {
            budget.note(Heuristic::Encrypted, format!("entry {i} is encrypted"));
        }
        budget.note(Heuristic::Limits, "too big".into());
        let kinds: Vec<Heuristic> = budget.notes.iter().map(|n| n.0).collect();
        assert_eq!(kinds, [Heuristic::Encrypted, Heuristic::Limits]);
    }

    #[test]
    fn a_uuencoded_file_over_the_limit_is_a_finding() {
        let mut text = String::from("begin 644 big.bin\n");
        for _ in 0..100 {
            text.push_str("M86%A86%A86%A86%A86%A86%A86%A86%A86%A86%A86%A86%A86%A86%A86%A\n");
        }
        text.push_str("`\nend\n");
        let s = Scanner::new(
            Arc::new(Builder::with_builtin().build()),
            Limits { max_file_size: 1000, ..Limits::default() },
        );
        assert_eq!(names(&s.scan_file("notes.txt", text.into_bytes())), ["Heuristics.LimitsExceeded"]);
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_a_finding() {
        let mut data = zip_of("x.txt", b"deep");
        for i in 0..5 {
            data = zip_of(&format!("l{i}.zip"), &data);
        }
        let s = Scanner::new(Arc::new(Builder::with_builtin().build()), Limits { max_depth: 3, ..Limits::default() });
        assert_eq!(names(&s.scan_file("top.zip", data)), ["Heuristics.LimitsExceeded"]);
    }

    #[test]
    fn uuencoded_eicar_in_a_text_body() {
        let mut uu = String::from("Subject: x\r\nFrom: a@b\r\n\r\nplease see\r\nbegin 644 eicar.com\r\n");
        for line in EICAR.chunks(45) {
            uu.push((b' ' + line.len() as u8) as char);
            for c in line.chunks(3) {
                let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
                for i in 0..4 {
                    let v = (n >> (18 - 6 * i) & 63) as u8;
                    uu.push(if v == 0 { '`' } else { (b' ' + v) as char });
                }
            }
            uu.push_str("\r\n");
        }
        uu.push_str("`\r\nend\r\n");
        // The raw message does not contain the EICAR text; the decoded file does.
        let r = scanner().scan_file("uu.eml", uu.into_bytes());
        assert!(r.virus().is_some(), "{r:?}");
    }
}
