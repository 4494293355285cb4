//! What signatures miss in trade mail: programs and scripts sent as
//! attachments (also inside archives), `invoice.pdf.exe`, names that use
//! Unicode direction overrides to read backwards, Office documents with
//! macros, and archives that cannot be opened. Each is a named finding with
//! its own configured action.

use std::fmt;

/// A heuristic finding's kind; `name()` is what the logs, headers and
/// configuration call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Heuristic {
    /// A program or script (by its name or by its content).
    Executable,
    /// A document-looking name that ends in a program's extension.
    DoubleExtension,
    /// A right-to-left override (or another direction control) in a name.
    Rtlo,
    /// An Office document with macros.
    Macro,
    /// An encrypted archive or document: nothing inside can be scanned.
    Encrypted,
    /// The file nests too deep, unpacks too large or too far, or has too
    /// many parts (zip bombs): not scanned to the end.
    Limits,
    /// An archive that cannot be opened (RAR, a broken or unsupported zip
    /// or 7z): what it holds was not scanned.
    Unscannable,
}

impl Heuristic {
    pub const ALL: [Heuristic; 7] = [
        Heuristic::Executable,
        Heuristic::DoubleExtension,
        Heuristic::Rtlo,
        Heuristic::Macro,
        Heuristic::Encrypted,
        Heuristic::Limits,
        Heuristic::Unscannable,
    ];

    /// The configuration key.
    pub fn key(self) -> &'static str {
        match self {
            Heuristic::Executable => "executable",
            Heuristic::DoubleExtension => "double_extension",
            Heuristic::Rtlo => "rtlo",
            Heuristic::Macro => "macro",
            Heuristic::Encrypted => "encrypted",
            Heuristic::Limits => "limits",
            Heuristic::Unscannable => "unscannable",
        }
    }

    /// The name in logs and `X-Virus-Status`, ClamAV style.
    pub fn name(self) -> &'static str {
        match self {
            Heuristic::Executable => "Heuristics.Executable",
            Heuristic::DoubleExtension => "Heuristics.DoubleExtension",
            Heuristic::Rtlo => "Heuristics.RTLO",
            Heuristic::Macro => "Heuristics.OfficeMacro",
            Heuristic::Encrypted => "Heuristics.Encrypted",
            Heuristic::Limits => "Heuristics.LimitsExceeded",
            Heuristic::Unscannable => "Heuristics.Unscannable",
        }
    }
}

impl fmt::Display for Heuristic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Extensions Windows runs (or mounts, for disk images) when opened.
const EXECUTABLE: &[&str] = &[
    "exe", "scr", "com", "bat", "cmd", "js", "jse", "vbs", "vbe", "wsf", "wsh", "jar", "lnk", "iso", "img", "hta",
    "pif", "msi", "ps1", "cpl", "vhd", "vhdx", "reg",
];

/// Extensions of things people expect to be harmless.
const DOCUMENT: &[&str] = &[
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "txt", "rtf", "csv", "jpg", "jpeg", "png", "gif", "bmp", "tif",
    "tiff", "zip", "rar", "7z", "htm", "html", "odt", "ods", "mp3", "mp4", "avi", "wav",
];

/// Unicode direction controls: U+202A..U+202E and U+2066..U+2069
/// ("invoice\u{202E}fdp.exe" shows as "invoiceexe.pdf").
fn has_direction_control(name: &str) -> bool {
    name.chars().any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
}

/// The lowercase extensions of a name, last first, spaces and dots that
/// pad them ignored ("invoice.pdf     .exe").
fn extensions(name: &str) -> Vec<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut parts: Vec<String> =
        base.split('.').skip(1).map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()).collect();
    parts.reverse();
    parts
}

/// What a file's name alone says.
pub fn check_name(name: &str) -> Option<(Heuristic, String)> {
    if has_direction_control(name) {
        let shown: String = name.chars().filter(|c| !has_direction_control(&c.to_string())).collect();
        return Some((
            Heuristic::Rtlo,
            format!("the name {shown:?} hides its real extension with a direction control"),
        ));
    }
    let ext = extensions(name);
    let last = ext.first()?;
    if !EXECUTABLE.contains(&last.as_str()) {
        return None;
    }
    if let Some(before) = ext.get(1).filter(|e| DOCUMENT.contains(&e.as_str())) {
        return Some((Heuristic::DoubleExtension, format!("{name:?} looks like a .{before} but is a .{last} program")));
    }
    Some((Heuristic::Executable, format!("{name:?} is a program or script (.{last})")))
}

/// An OLE2 document (Word/Excel 97-2003) whose directory has a VBA
/// project: the stream names are UTF-16 in the directory sectors.
pub fn ole_has_macros(data: &[u8]) -> bool {
    const VBA_PROJECT: &[u8] = b"_\0V\0B\0A\0_\0P\0R\0O\0J\0E\0C\0T\0";
    data.windows(VBA_PROJECT.len()).any(|w| w == VBA_PROJECT)
}

/// An OLE2 container holding an encrypted Office document (a password-
/// protected .docx/.xlsx is stored as an `EncryptedPackage` stream).
pub fn ole_is_encrypted(data: &[u8]) -> bool {
    const ENCRYPTED: &[u8] = b"E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0a\0g\0e\0";
    data.windows(ENCRYPTED.len()).any(|w| w == ENCRYPTED)
}

/// An OOXML/ODF archive entry that holds macros.
pub fn is_macro_entry(entry: &str) -> bool {
    let e = entry.to_ascii_lowercase();
    e.ends_with("vbaproject.bin") || e.starts_with("basic/") && e.ends_with(".xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(check_name("invoice.pdf").map(|h| h.0), None);
        assert_eq!(check_name("setup.EXE").map(|h| h.0), Some(Heuristic::Executable));
        assert_eq!(check_name("payment.js").map(|h| h.0), Some(Heuristic::Executable));
        assert_eq!(check_name("invoice.pdf.exe").map(|h| h.0), Some(Heuristic::DoubleExtension));
        assert_eq!(check_name("invoice.PDF      .scr").map(|h| h.0), Some(Heuristic::DoubleExtension));
        assert_eq!(check_name("order\u{202E}fdp.exe").map(|h| h.0), Some(Heuristic::Rtlo));
        assert_eq!(check_name("folder/payment copy.iso").map(|h| h.0), Some(Heuristic::Executable));
        assert_eq!(check_name("no extension").map(|h| h.0), None);
        assert_eq!(check_name("report.v2.docx").map(|h| h.0), None);
    }

    #[test]
    fn macros() {
        let mut ole = vec![0u8; 100];
        ole.extend_from_slice(
            "_VBA_PROJECT".encode_utf16().flat_map(|u| u.to_le_bytes()).collect::<Vec<_>>().as_slice(),
        );
        assert!(ole_has_macros(&ole));
        assert!(!ole_has_macros(b"_VBA_PROJECT in ASCII only"));
        let enc: Vec<u8> = "EncryptedPackage".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        assert!(ole_is_encrypted(&[&[0u8; 64][..], &enc].concat()));
        assert!(!ole_is_encrypted(&ole));
        assert!(is_macro_entry("word/vbaProject.bin"));
        assert!(!is_macro_entry("word/document.xml"));
    }
}
