//! Installing a new set of signature files, atomically: the files are
//! checked (they must load), written to a new directory and synced, and a
//! one-line `current` file is then replaced by rename to name it. A reader
//! sees the old set or the new one, never a mix; a failed update changes
//! nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::load::is_signature_file;
use crate::Builder;

/// The installed directory in use under `root`, if any.
pub fn active_dir(root: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(root.join("current")).ok()?;
    let name = name.trim();
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return None;
    }
    let dir = root.join(name);
    dir.is_dir().then_some(dir)
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub dir: PathBuf,
    pub files: Vec<String>,
    pub signatures: usize,
    pub skipped: usize,
}

/// Checks that `files` load and makes them the signature set in use.
pub fn install(root: &Path, files: &[(String, Vec<u8>)]) -> Result<Installed, String> {
    if files.is_empty() {
        return Err("no signature files (.hdb, .hsb, .ndb, .cvd, .cld) to install".into());
    }
    let mut b = Builder::new();
    let mut skipped_lines = 0;
    for (name, data) in files {
        if name.contains(['/', '\\']) || name.starts_with('.') || !is_signature_file(name) {
            return Err(format!("{name:?} is not a signature file name"));
        }
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".cvd") || lower.ends_with(".cld") {
            for (inner, d) in crate::cvd::read(name, data)?.1 {
                let text = String::from_utf8_lossy(&d);
                if !b.add_file(&inner, &text).map_err(|e| format!("{name}: {e}"))? {
                    skipped_lines += text.lines().count();
                }
            }
        } else {
            b.add_file(name, &String::from_utf8_lossy(data))?;
        }
    }
    let counts = b.counts().clone();
    std::fs::create_dir_all(root).map_err(|e| format!("{}: {e}", root.display()))?;
    // One install at a time (a scheduled update and an admin's may meet):
    // each would otherwise clean away the other's new set.
    let lock = std::fs::File::create(root.join(".install.lock")).map_err(|e| format!("{}: {e}", root.display()))?;
    lock.lock().map_err(|e| format!("{}: {e}", root.display()))?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let name = format!("db-{stamp}");
    let tmp = root.join(format!(".tmp-{name}"));
    let io = |e: std::io::Error| format!("{}: {e}", root.display());
    std::fs::create_dir(&tmp).map_err(io)?;
    for (n, data) in files {
        let mut f = std::fs::File::create(tmp.join(n)).map_err(io)?;
        f.write_all(data).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    sync_dir(&tmp)?;
    let dir = root.join(&name);
    std::fs::rename(&tmp, &dir).map_err(io)?;
    let previous = active_dir(root);
    let pointer = root.join(format!(".current.{stamp}.tmp"));
    {
        let mut f = std::fs::File::create(&pointer).map_err(io)?;
        f.write_all(name.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&pointer, root.join("current")).map_err(io)?;
    sync_dir(root)?;
    // Keep the set just replaced (a scan may still be reading it); older
    // ones go.
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let p = e.path();
            let n = e.file_name().to_string_lossy().into_owned();
            let stale = n.starts_with("db-") || n.starts_with(".tmp-db-") || n.starts_with(".current.");
            if stale && p != dir && Some(&p) != previous.as_ref() {
                let _ = std::fs::remove_dir_all(&p);
            }
        }
    }
    Ok(Installed {
        dir,
        files: files.iter().map(|(n, _)| n.clone()).collect(),
        signatures: counts.hashes + counts.patterns,
        skipped: counts.skipped + skipped_lines,
    })
}

fn sync_dir(dir: &Path) -> Result<(), String> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| format!("{}: {e}", dir.display()))
}

/// The signature files of a directory, read into memory.
pub fn read_dir_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    crate::load::signature_files(dir)?
        .into_iter()
        .map(|n| {
            let p = dir.join(&n);
            std::fs::read(&p).map(|d| (n, d)).map_err(|e| format!("{}: {e}", p.display()))
        })
        .collect()
}

/// Parses a `SHA256SUMS` file (`sha256sum` output: "HEX  NAME" per line).
pub fn parse_sums(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (hash, name) = line.split_once(char::is_whitespace).ok_or_else(|| format!("bad line {line:?}"))?;
        let name = name.trim().trim_start_matches('*');
        if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("bad SHA-256 in {line:?}"));
        }
        if is_signature_file(name) {
            out.push((hash.to_ascii_lowercase(), name.to_string()));
        }
    }
    Ok(out)
}

/// Checks a downloaded file against its listed SHA-256.
pub fn check_sum(name: &str, data: &[u8], expected: &str) -> Result<(), String> {
    use sha2::Digest;
    let got: String = sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect();
    if got == expected {
        Ok(())
    } else {
        Err(format!("{name}: SHA-256 {got} does not match the list's {expected}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::filetype::FileType;
    use crate::Limits;

    fn sig(name: &str, text: &str) -> (String, Vec<u8>) {
        let hexed: String = text.bytes().map(|c| format!("{c:02x}")).collect();
        (format!("{name}.ndb"), format!("{name}:0:*:{hexed}\n").into_bytes())
    }

    #[test]
    fn install_swaps_and_the_engine_reloads() {
        let root = tempfile::tempdir().expect("dir");
        let engine = Engine::open(root.path(), None, Limits::default()).expect("open");
        assert_eq!(engine.info().signatures, 2, "the built-in EICAR hash and pattern");
        assert!(!engine.reload_if_changed().expect("nothing changed"));
        install(root.path(), &[sig("First", "first-marker")]).expect("install");
        assert!(engine.reload_if_changed().expect("reload"));
        let scan = |t: &str| engine.scanner().database().scan(t.as_bytes(), FileType::Other);
        assert_eq!(scan("a first-marker").as_deref(), Some("First"));
        let second = install(root.path(), &[sig("Second", "second-marker")]).expect("install");

        assert!(engine.reload_if_changed().expect("reload"));
        assert_eq!(scan("a first-marker"), None, "the set is replaced, not added to");
        assert_eq!(scan("a second-marker").as_deref(), Some("Second"));
        assert_eq!(active_dir(root.path()), Some(second.dir.clone()));
        // A broken set is refused and changes nothing.
        assert!(install(root.path(), &[("bad.hdb".into(), b"zz:1:X\n".to_vec())]).is_err());
        assert!(install(root.path(), &[("../evil.ndb".into(), b"".to_vec())]).is_err());
        assert!(!engine.reload_if_changed().expect("unchanged"));
        assert_eq!(scan("a second-marker").as_deref(), Some("Second"));
        // A pointer to a missing set keeps the database in use.
        std::fs::write(root.path().join("current"), "db-missing").expect("w");
        assert!(engine.reload_if_changed().is_err());
        assert_eq!(scan("a second-marker").as_deref(), Some("Second"));
        std::fs::write(root.path().join("current"), second.dir.file_name().expect("name").to_string_lossy().as_bytes())
            .expect("w");
        let dbs = std::fs::read_dir(root.path())
            .expect("ls")
            .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().starts_with("db-")))
            .count();
        assert_eq!(dbs, 2, "the set in use and the one before");
    }

    #[test]
    fn sums_files() {
        let data = b"A:0:*:41424344\n";
        use sha2::Digest;
        let h: String = sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect();
        let list = parse_sums(&format!("{h}  a.ndb\n{h} *b.hdb\n{h}  README\n")).expect("parses");
        assert_eq!(list, [(h.clone(), "a.ndb".to_string()), (h.clone(), "b.hdb".to_string())]);
        assert!(check_sum("a.ndb", data, &h).is_ok());
        assert!(check_sum("a.ndb", b"other", &h).is_err());
        assert!(parse_sums("nothex  a.ndb").is_err());
    }
}
