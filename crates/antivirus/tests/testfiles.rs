//! ClamAV's harmless test program packed in many containers (Debian's
//! clamav-testfiles, which scripts/test.sh installs), scanned with one body
//! signature of the program (tests/data/clam-testprog.ndb). The built-in
//! scanner must find it in every format it opens, and in the files that
//! store it unpacked. bench/av-testfiles.sh prints the whole table next to
//! clamscan's.

use std::path::Path;
use std::sync::Arc;

use caravel_antivirus::{Builder, Finding, Limits, Scanner};

const TESTFILES: &str = "/usr/share/clamav-testfiles";
const SIGNATURE: &str = include_str!("data/clam-testprog.ndb");

/// Formats the scanner opens: zip (deflate, deflate64, bzip2), gzip, bzip2,
/// tar, 7z, zlib streams in OLE2 documents, BinHex, SZDD, MIME (base64, uuencode), PDF streams, HTML data URIs, RTF objects.
const OPENED: &[&str] = &[
    "clam.exe",
    "clam.zip",
    "clam.bz2.zip",
    "clam.d64.zip",
    "clam.tar.gz",
    "clam.exe.bz2",
    "clam.exe.mbox.base64",
    "clam.exe.mbox.uu",
    "clam.mail",
    "clam.pdf",
    "clam.exe.html",
    "clam.exe.rtf",
    "clam.7z",
    "clam.ppt",
    "clam.exe.binhex",
    "clam.exe.szdd",
    // Archives in archives, twelve levels deep.
    "clam_cache_emax.tgz",
];

/// Containers that store the program as it is: found without opening them.
const STORED: &[&str] = &[
    "clam.bin-be.cpio",
    "clam.bin-le.cpio",
    "clam.newc.cpio",
    "clam.odc.cpio",
    "clam.ole.doc",
    "clam.tnef",
    "clam.cab",
    "clam-fsg.exe",
    "clam_IScab_ext.exe",
];

#[test]
fn the_test_program_is_found_in_every_format_opened() {
    assert!(
        Path::new(TESTFILES).is_dir(),
        "{TESTFILES} is missing: apt-get install clamav-testfiles (scripts/test.sh does)"
    );
    let mut b = Builder::with_builtin();
    b.add_file("clam-testprog.ndb", SIGNATURE).expect("signature");
    let scanner = Scanner::new(Arc::new(b.build()), Limits::default());
    let mut missed = Vec::new();
    for name in OPENED.iter().chain(STORED) {
        let data = std::fs::read(Path::new(TESTFILES).join(name)).expect("test file");
        match scanner.scan_file(name, data).virus() {
            Some(Finding::Virus { name: sig, .. }) if sig == "Caravel.Test.ClamTestProgram" => {}
            other => missed.push(format!("{name}: {other:?}")),
        }
    }
    assert!(missed.is_empty(), "not found in: {missed:#?}");
}
