//! What kind of file a byte string is, by its first bytes: the signature
//! target types of ClamAV's `.ndb` format, and the containers the scanner
//! opens.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// Anything else (target type 0 applies to every type).
    Other,
    /// Windows executable (`MZ`), target 1.
    Pe,
    /// OLE2 compound file (old Office documents, MSI), target 2.
    Ole2,
    /// An e-mail message, target 4.
    Mail,
    /// PNG, JPEG, GIF, target 5.
    Graphics,
    /// ELF executable, target 6.
    Elf,
    /// Mach-O executable, target 9.
    MachO,
    /// PDF, target 10.
    Pdf,
    Zip,
    Gzip,
    Bzip2,
    Tar,
    SevenZip,
    /// Recognised but not opened (no decoder fits the licence).
    Rar,
}

/// Target types of `.ndb` lines that mean "any file": 0, and the types this
/// scanner knows. HTML and normalised text (3, 7) need ClamAV's
/// normaliser; they are skipped, not matched on raw bytes.
impl FileType {
    pub fn from_target(t: u8) -> Option<FileType> {
        Some(match t {
            0 => FileType::Other,
            1 => FileType::Pe,
            2 => FileType::Ole2,
            4 => FileType::Mail,
            5 => FileType::Graphics,
            6 => FileType::Elf,
            9 => FileType::MachO,
            10 => FileType::Pdf,
            _ => return None,
        })
    }

    /// Whether a signature for this target type applies to a file of `kind`
    /// (`self` is the signature's target).
    pub fn accepts(self, kind: FileType) -> bool {
        self == FileType::Other || self == kind
    }

    pub fn detect(data: &[u8]) -> FileType {
        let starts = |m: &[u8]| data.starts_with(m);
        // Archives first: a zip whose first entry is named "%PDF-1.txt" is
        // a zip, not a PDF.
        if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
            FileType::Zip
        } else if starts(&[0x1f, 0x8b]) {
            FileType::Gzip
        } else if starts(b"BZh") {
            FileType::Bzip2
        } else if starts(&[0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]) {
            FileType::SevenZip
        } else if starts(b"Rar!\x1a\x07") {
            FileType::Rar
        } else if data.get(257..262) == Some(b"ustar") {
            FileType::Tar
        } else if starts(b"MZ") {
            // A self-extracting archive is a program; it is opened as one
            // too if it carries a zip (below, by the caller).
            FileType::Pe
        } else if starts(&[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]) {
            FileType::Ole2
        } else if starts(b"\x7fELF") {
            FileType::Elf
        } else if starts(&[0xfe, 0xed, 0xfa, 0xce])
            || starts(&[0xfe, 0xed, 0xfa, 0xcf])
            || starts(&[0xce, 0xfa, 0xed, 0xfe])
            || starts(&[0xcf, 0xfa, 0xed, 0xfe])
        {
            FileType::MachO
        } else if data.get(..1024).unwrap_or(data).windows(5).any(|w| w == b"%PDF-") {
            // PDF readers accept the header anywhere in the first kilobyte.
            FileType::Pdf
        } else if starts(b"\x89PNG") || starts(&[0xff, 0xd8, 0xff]) || starts(b"GIF8") {
            // A zip appended to an image opens in 7-Zip and WinRAR.
            if has_zip_directory(data) {
                FileType::Zip
            } else {
                FileType::Graphics
            }
        } else if looks_like_mail(data) {
            FileType::Mail
        } else if has_zip_directory(data) {
            FileType::Zip
        } else {
            FileType::Other
        }
    }
}

/// A zip's end-of-central-directory record near the end (a zip with other
/// bytes in front of it: archive tools open those too).
pub fn has_zip_directory(data: &[u8]) -> bool {
    // The record is 22 bytes plus a comment of up to 64 KiB.
    let tail = &data[data.len().saturating_sub(22 + 65_535)..];
    memchr::memmem::rfind(tail, b"PK\x05\x06").is_some()
}

/// An RFC 5322 message (or an mbox of them): header fields up to the first
/// blank line, among them one a message has.
fn looks_like_mail(data: &[u8]) -> bool {
    let head = &data[..data.len().min(8192)];
    let mut lines = head.split(|&b| b == b'\n').peekable();
    if lines.peek().is_some_and(|l| l.starts_with(b"From ")) {
        lines.next();
    }
    let mut fields = 0;
    let mut known = false;
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return fields > 0 && known;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else { return false };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
            return false;
        }
        fields += 1;
        known |= [&b"from"[..], b"to", b"subject", b"received", b"mime-version", b"content-type", b"message-id"]
            .iter()
            .any(|k| name.eq_ignore_ascii_case(k));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers() {
        assert_eq!(FileType::detect(b"MZ\x90\x00"), FileType::Pe);
        assert_eq!(FileType::detect(b"PK\x03\x04...."), FileType::Zip);
        assert_eq!(FileType::detect(b"%PDF-1.4\n"), FileType::Pdf);
        assert_eq!(FileType::detect(b"\x1f\x8b\x08"), FileType::Gzip);
        assert_eq!(FileType::detect(b"hello"), FileType::Other);
        assert_eq!(FileType::detect(b"From a@b Mon\nSubject: x\nFrom: a@b\n\nbody"), FileType::Mail);
        assert_eq!(FileType::detect(b"Subject: x\r\nX-A: y\r\n\r\nbody"), FileType::Mail);
        assert_eq!(FileType::detect(b"Key: value\n\nnot mail"), FileType::Other);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(FileType::detect(&tar), FileType::Tar);
        // A zip whose first entry's name looks like a PDF header is a zip.
        assert_eq!(FileType::detect(b"PK\x03\x04\x14\x00%PDF-1.txt"), FileType::Zip);
        // A zip with other bytes in front.
        assert_eq!(FileType::detect(b"GIF89a....PK\x05\x06\x00\x00"), FileType::Zip);
        assert_eq!(FileType::detect(b"junk junk PK\x05\x06\x00\x00"), FileType::Zip);
    }
}
