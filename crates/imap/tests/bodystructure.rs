//! Golden files: BODYSTRUCTURE of tricky MIME (nested multipart,
//! message/rfc822, encoded-word and RFC 2231 filenames, GBK and Big5). A
//! mismatch writes the actual output beside the expected one (`.actual`);
//! `UPDATE_GOLDEN=1` rewrites the expected files.

mod common;

use std::path::Path;

use common::*;

#[tokio::test]
async fn bodystructure_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("golden dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 4);
    let mut failures = Vec::new();
    for eml in names {
        let h = Harness::new().await;
        let raw = std::fs::read(&eml).expect("eml");
        // Big5/GBK bytes must arrive untouched: deliver the bytes themselves.
        h.deliver_bytes(raw).await;
        let mut s = h.signed_in().await;
        run(&mut s, "s SELECT INBOX").await;
        let out = run(&mut s, "f FETCH 1 (BODYSTRUCTURE ENVELOPE)").await;
        let expected_path = eml.with_extension("bodystructure");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&expected_path, &out).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if out != expected {
            std::fs::write(eml.with_extension("actual"), &out).expect("write actual");
            failures.push(eml.display().to_string());
        }
    }
    assert!(failures.is_empty(), "BODYSTRUCTURE differs for {failures:?}; see the .actual files");
}
