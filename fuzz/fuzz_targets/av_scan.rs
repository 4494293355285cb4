//! The virus scanner on any bytes: file typing, every container it opens
//! (zip, gzip, bzip2, tar, 7z, PDF streams, MIME, uuencode, data URIs, RTF
//! objects) within its limits, the signature matchers; and the signature
//! file parsers on the same bytes. No panic, bounded work and memory.
#![no_main]
use std::sync::{Arc, OnceLock};

use caravel_antivirus::{Builder, Limits, Scanner};
use libfuzzer_sys::fuzz_target;

fn scanner() -> &'static Scanner {
    static S: OnceLock<Scanner> = OnceLock::new();
    S.get_or_init(|| {
        let mut b = Builder::with_builtin();
        b.add_file(
            "t.ndb",
            "T.One:0:*:4d5a??00{2-8}50450000\nT.Two:0:0:504b0304*(00|01)ff\nT.Three:1:EOF-4:deadbeef\n",
        )
        .expect("signatures");
        // Small limits: the fuzzer explores structure, not size.
        let limits = Limits { max_files: 50, max_file_size: 1 << 20, max_total: 4 << 20, ..Limits::default() };
        Scanner::new(Arc::new(b.build()), limits)
    })
}

fuzz_target!(|input: &[u8]| {
    let report = scanner().scan_file("input", input.to_vec());
    assert!(report.unpacked <= 4 << 20, "over the total limit: {}", report.unpacked);
    if let Ok(text) = std::str::from_utf8(input) {
        for name in ["f.ndb", "f.hdb", "f.hsb"] {
            let mut b = Builder::new();
            if b.add_file(name, text).is_ok() {
                let _ = b.build().scan(input, caravel_antivirus::filetype::FileType::Other);
            }
        }
    }
    let _ = caravel_antivirus::cvd::read("f.cvd", input);
});
