//! Loading every signature file of a directory into one [`Database`].

use std::path::Path;

use crate::signatures::{Builder, Database};

/// A database and what went into it.
pub struct Loaded {
    pub db: Database,
    /// The files read, by name.
    pub files: Vec<String>,
    /// Lines of files in formats this scanner does not read (e.g. `.ldb`
    /// logical signatures inside a `.cvd`).
    pub skipped_lines: usize,
    /// The highest `.cvd`/`.cld` version, if any.
    pub version: Option<u64>,
    /// When the newest signature file was made (seconds since the epoch):
    /// a container's build time, else the file's modification time.
    pub newest: u64,
}

/// The extensions a signature directory may hold.
pub fn is_signature_file(name: &str) -> bool {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    matches!(ext.as_str(), "hdb" | "hsb" | "ndb" | "cvd" | "cld")
}

/// The signature files in `dir`, sorted by name.
pub fn signature_files(dir: &Path) -> Result<Vec<String>, String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_signature_file(n))
        .collect();
    names.sort();
    Ok(names)
}

/// Reads `dir`'s signature files (plus the built-in EICAR signatures). Any
/// broken file fails the whole load: an update must not half-apply.
pub fn load_dir(dir: &Path) -> Result<Loaded, String> {
    load_dirs(&[dir])
}

/// Reads the signature files of several directories into one database.
pub fn load_dirs(dirs: &[&Path]) -> Result<Loaded, String> {
    let mut b = Builder::with_builtin();
    let mut paths = Vec::new();
    for dir in dirs {
        paths.extend(signature_files(dir)?.into_iter().map(|n| (n.clone(), dir.join(n))));
    }
    let names: Vec<String> = paths.iter().map(|(n, _)| n.clone()).collect();
    let (mut skipped_lines, mut version, mut newest) = (0, None, 0u64);
    for (name, path) in &paths {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".cvd") || lower.ends_with(".cld") {
            let (h, files) = crate::cvd::read(name, &data)?;
            version = version.max(Some(h.version));
            newest = newest.max(h.build_time);
            for (inner, d) in files {
                let text = String::from_utf8_lossy(&d);
                if !b.add_file(&inner, &text).map_err(|e| format!("{name}: {e}"))? {
                    skipped_lines += text.lines().filter(|l| !l.trim().is_empty()).count();
                }
            }
        } else {
            b.add_file(name, &String::from_utf8_lossy(&data))?;
            let mtime = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            newest = newest.max(mtime);
        }
    }
    Ok(Loaded { db: b.build(), files: names, skipped_lines, version, newest })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_directory_of_text_files_and_containers() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("local.ndb"), "Local.Test:0:*:6c6f63616c2d74657374\n").expect("w");
        let cvd = crate::cvd::build(
            7,
            1_700_000_000,
            &[("daily.ndb", b"Daily.Test:0:*:6461696c792d74657374\n"), ("daily.ldb", b"a\nb\n")],
        );
        std::fs::write(dir.path().join("daily.cvd"), cvd).expect("w");
        std::fs::write(dir.path().join("README"), "ignored").expect("w");
        let l = super::load_dir(dir.path()).expect("loads");
        assert_eq!(l.files, ["daily.cvd", "local.ndb"]);
        assert_eq!((l.version, l.skipped_lines), (Some(7), 2));
        assert_eq!(l.db.scan(b"x daily-test x", crate::filetype::FileType::Other).as_deref(), Some("Daily.Test"));
        assert_eq!(l.db.scan(b"x local-test x", crate::filetype::FileType::Other).as_deref(), Some("Local.Test"));
        std::fs::write(dir.path().join("broken.hdb"), "zz:1:Broken\n").expect("w");
        assert!(matches!(super::load_dir(dir.path()), Err(m) if m.contains("broken.hdb line 1")));
    }
}
